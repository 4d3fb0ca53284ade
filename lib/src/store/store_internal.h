// Shared helpers of the store implementations (not installed).

#ifndef MEMOKEY_SRC_STORE_STORE_INTERNAL_H_
#define MEMOKEY_SRC_STORE_STORE_INTERNAL_H_

#include <atomic>
#include <chrono>
#include <climits>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memokey/parse.h"
#include "memokey/status.h"
#include "memokey/store.h"

namespace memokey::store_internal {

inline Status CheckKey(std::string_view key) {
  if (key.empty()) return Status::Error("store key is empty");
  if (key.size() > kMaxStoreKeyBytes) {
    return Status::Error("store key of " + std::to_string(key.size()) +
                         " bytes exceeds the limit of " + std::to_string(kMaxStoreKeyBytes));
  }
  return Status::Ok();
}

inline Status CheckTtl(std::chrono::milliseconds ttl) {
  if (ttl.count() < 0) return Status::Error("negative ttl");
  return Status::Ok();
}

// Milliseconds since the Unix epoch: expiry times that other processes (disk)
// and machines (Redis) agree on.
inline std::int64_t WallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// now + ttl without overflow; 0 stands for "no expiry".
inline std::int64_t ExpiryFrom(std::int64_t now, std::chrono::milliseconds ttl) {
  if (ttl.count() == 0) return 0;
  const std::int64_t max = INT64_MAX;
  return ttl.count() > max - now ? max : now + ttl.count();
}

// Little-endian u64 in stored formats (the envelope, the Redis frame).
inline void PutLe64(char* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
inline std::uint64_t GetLe64(const char* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}

// The per-object counters behind StoreStats (relaxed: they are statistics, not
// synchronization).
struct Counters {
  std::atomic<std::uint64_t> hits{0}, misses{0}, puts{0}, deletes{0}, errors{0}, evictions{0},
      expired{0}, damaged{0};

  static void Add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
  StoreStats Snapshot() const {
    StoreStats s;
    s.hits = hits.load(std::memory_order_relaxed);
    s.misses = misses.load(std::memory_order_relaxed);
    s.puts = puts.load(std::memory_order_relaxed);
    s.deletes = deletes.load(std::memory_order_relaxed);
    s.errors = errors.load(std::memory_order_relaxed);
    s.evictions = evictions.load(std::memory_order_relaxed);
    s.expired = expired.load(std::memory_order_relaxed);
    s.damaged = damaged.load(std::memory_order_relaxed);
    return s;
  }
};

// How many fork()s led to this process (0 in the original one). Stores that
// hold per-process resources (Redis sockets) compare it
// with the value they opened them under and reopen in a forked child instead
// of sharing the parent's: two processes reading replies from one socket
// would take each other's answers.
std::uint64_t ForkGeneration();

// --- URL pieces ----------------------------------------------------------------

// "%41" -> "A"; nullopt on a malformed escape.
std::optional<std::string> PercentDecode(std::string_view text);
// Percent-encodes everything but letters, digits and `keep` (by default the
// characters a URL's path and query may hold as they are: for Describe()).
std::string PercentEncode(std::string_view text, std::string_view keep = "-._~:/@!$'()*,;");
// Sizes, counts and flags in URLs: memokey/parse.h.
using memokey::ParseBool;
using memokey::ParseSize;
using memokey::ParseUint;

// The decoded parameters of a query string, in order. Duplicates and unknown
// names are errors reported by the caller's Take/Finish.
class QueryParams {
 public:
  QueryParams() = default;
  // Parameters parsed before (a StoreSpec's), to Take from.
  QueryParams(std::vector<std::pair<std::string, std::string>> params, std::string what)
      : params_(std::move(params)), what_(std::move(what)) {}

  // `what` names the URL kind in messages ("memory:// URL").
  static Status Parse(std::string_view query, std::string what, QueryParams* out);

  // Removes and returns the parameter `name` if present.
  std::optional<std::string> Take(std::string_view name);
  // Error naming the first parameter nobody took.
  Status Finish(std::string_view known) const;
  const std::string& what() const { return what_; }
  // The parameters not taken yet, in order.
  const std::vector<std::pair<std::string, std::string>>& items() const { return params_; }

 private:
  std::vector<std::pair<std::string, std::string>> params_;
  std::string what_;
};

}  // namespace memokey::store_internal

#endif  // MEMOKEY_SRC_STORE_STORE_INTERNAL_H_
