// server/log.h — JSON-lines logging.
//
// Every log line is one JSON object: {"ts":"2024-05-01T12:00:00.123Z",
// "level":"info","msg":"listening", ...fields}. Fields are flattened into
// the object so that `jq 'select(.status >= 500)'` works directly. Lines go to
// stdout (one write per line, flushed) so that systemd's journal, `docker
// logs` and a terminal all see them as they happen.
//
// Requests are logged at debug level only: at info level the request path
// never formats a log line. Authorization headers and token secrets are never
// passed to the logger (auth.cc keeps only a token's configured name).

#ifndef MEMOKEY_SERVER_LOG_H_
#define MEMOKEY_SERVER_LOG_H_

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "config.h"

namespace memokeyd {

struct LogField {
  enum class Kind : std::uint8_t { kString, kInt, kUint, kDouble, kBool };
  LogField(std::string_view k, std::string_view v) : key(k), kind(Kind::kString), s(v) {}
  LogField(std::string_view k, const char* v) : key(k), kind(Kind::kString), s(v) {}
  LogField(std::string_view k, const std::string& v) : key(k), kind(Kind::kString), s(v) {}
  LogField(std::string_view k, int v) : key(k), kind(Kind::kInt), i(v) {}
  LogField(std::string_view k, long v) : key(k), kind(Kind::kInt), i(v) {}
  LogField(std::string_view k, long long v) : key(k), kind(Kind::kInt), i(v) {}
  LogField(std::string_view k, unsigned v) : key(k), kind(Kind::kUint), u(v) {}
  LogField(std::string_view k, unsigned long v) : key(k), kind(Kind::kUint), u(v) {}
  LogField(std::string_view k, unsigned long long v) : key(k), kind(Kind::kUint), u(v) {}
  LogField(std::string_view k, double v) : key(k), kind(Kind::kDouble), d(v) {}
  LogField(std::string_view k, bool v) : key(k), kind(Kind::kBool), b(v) {}

  std::string_view key;
  Kind kind;
  std::string_view s;
  std::int64_t i = 0;
  std::uint64_t u = 0;
  double d = 0;
  bool b = false;
};

void SetLogLevel(LogLevel level);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields = {});

// Appends `text` as a JSON string literal (quotes included). Bytes that are
// not printable ASCII are escaped as \u00XX, so the output is always valid
// JSON and ASCII whatever a client sent.
void AppendJsonString(std::string* out, std::string_view text);

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_LOG_H_
