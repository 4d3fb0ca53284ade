// server/log.cc — JSON-lines logging (see log.h).

#include "log.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <mutex>

#include "memokey/hex.h"

namespace memokeyd {

namespace {

std::atomic<LogLevel> g_level{LogLevel::kInfo};
std::mutex g_write_mutex;

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

void AppendTimestamp(std::string* out) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  out->append(buf, n);
  const int m = std::snprintf(buf, sizeof buf, ".%03dZ", static_cast<int>(ms));
  out->append(buf, static_cast<std::size_t>(m));
}

}  // namespace

void SetLogLevel(LogLevel level) { g_level.store(level, std::memory_order_relaxed); }

bool LogEnabled(LogLevel level) { return level >= g_level.load(std::memory_order_relaxed); }

void AppendJsonString(std::string* out, std::string_view text) {
  out->push_back('"');
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(ch);
    } else if (c >= 0x20 && c < 0x7f) {
      out->push_back(ch);
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '\t') {
      out->append("\\t");
    } else {
      out->append("\\u00");
      memokey::AppendHexByte(*out, c);
    }
  }
  out->push_back('"');
}

void Log(LogLevel level, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  std::string line;
  line.reserve(256);
  line.append("{\"ts\":\"");
  AppendTimestamp(&line);
  line.append("\",\"level\":\"").append(LevelName(level)).append("\",\"msg\":");
  AppendJsonString(&line, msg);
  char buf[48];
  for (const LogField& f : fields) {
    line.push_back(',');
    AppendJsonString(&line, f.key);
    line.push_back(':');
    switch (f.kind) {
      case LogField::Kind::kString:
        AppendJsonString(&line, f.s);
        break;
      case LogField::Kind::kInt:
        line.append(buf, static_cast<std::size_t>(
                             std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(f.i))));
        break;
      case LogField::Kind::kUint:
        line.append(buf, static_cast<std::size_t>(std::snprintf(
                             buf, sizeof buf, "%llu", static_cast<unsigned long long>(f.u))));
        break;
      case LogField::Kind::kDouble:
        if (std::isfinite(f.d)) {
          line.append(buf, static_cast<std::size_t>(std::snprintf(buf, sizeof buf, "%.6g", f.d)));
        } else {
          line.append("null");
        }
        break;
      case LogField::Kind::kBool:
        line.append(f.b ? "true" : "false");
        break;
    }
  }
  line.append("}\n");
  // One write(2) per line: lines from different threads never interleave, and
  // nothing sits in a stdio buffer when the process is killed.
  std::lock_guard lock(g_write_mutex);
  std::string_view rest = line;
  while (!rest.empty()) {
    const ssize_t n = ::write(STDOUT_FILENO, rest.data(), rest.size());
    if (n <= 0) break;
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

}  // namespace memokeyd
