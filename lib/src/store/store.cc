// Store defaults, PruneStore and ClearLabelled (store_manage.h), and the
// helpers of store_internal.h. URLs are store_spec.cc.

#include "memokey/store.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "memokey/envelope.h"
#include "memokey/hex.h"
#include "memokey/store_manage.h"
#include "memokey/tiered_store.h"
#include "store_internal.h"

namespace memokey {

Status Store::GetWithTtl(std::string_view key, std::string* value,
                         std::chrono::milliseconds* ttl_left) {
  *ttl_left = std::chrono::milliseconds{0};
  return Get(key, value);
}

Status Store::GetMany(std::span<const std::string_view> keys,
                      std::vector<std::optional<std::string>>* values) {
  values->clear();
  values->resize(keys.size());
  std::string value;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Status s = Get(keys[i], &value);
    if (s.ok()) {
      (*values)[i] = std::move(value);
      value = std::string();
    } else if (!s.IsNotFound()) {
      return s;
    }
  }
  return Status::Ok();
}

Status Store::GetManyWithTtl(std::span<const std::string_view> keys,
                             std::vector<std::optional<std::string>>* values,
                             std::vector<std::chrono::milliseconds>* ttls_left) {
  values->clear();
  values->resize(keys.size());
  ttls_left->assign(keys.size(), std::chrono::milliseconds{0});
  std::string value;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Status s = GetWithTtl(keys[i], &value, &(*ttls_left)[i]);
    if (s.ok()) {
      (*values)[i] = std::move(value);
      value = std::string();
    } else if (!s.IsNotFound()) {
      return s;
    }
  }
  return Status::Ok();
}

Status Store::AcquireLease(std::string_view key, const LeaseOptions& /*options*/,
                           LeaseResult* out) {
  *out = LeaseResult{};
  return store_internal::CheckKey(key);
}

Status Store::ReleaseLease(std::string_view key, std::string_view /*token*/) {
  return store_internal::CheckKey(key);
}

Status Store::Scan(const ScanOptions& /*options*/,
                   const std::function<bool(const StoreEntry&)>& /*visit*/) {
  return Status::Error(Describe() + ": this store cannot list its entries");
}

// How many deletions a generic Clear or PruneStore does between progress calls.
constexpr std::uint64_t kProgressEvery = 256;

namespace {

// Deletes `keys` one by one, calling progress every kProgressEvery; *done
// counts the deletions. False when progress asked to stop.
Status DeleteAll(Store& store, const std::vector<std::string>& keys, std::uint64_t* done,
                 const StoreProgress& progress, bool* stopped) {
  *stopped = false;
  for (const std::string& key : keys) {
    if (Status s = store.Delete(key); !s.ok()) return s;
    ++*done;
    if (progress && *done % kProgressEvery == 0 && !progress(*done)) {
      *stopped = true;
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace

Status Store::Clear(std::uint64_t* removed, const StoreProgress& progress) {
  *removed = 0;
  // Collected first: deleting while scanning would disturb the scan.
  std::vector<std::string> keys;
  if (Status s = Scan([&](const StoreEntry& e) {
        keys.push_back(e.key);
        return true;
      });
      !s.ok()) {
    return s;
  }
  bool stopped = false;
  return DeleteAll(*this, keys, removed, progress, &stopped);
}

Status PruneStore(Store& store, std::optional<std::uint64_t> max_bytes, PruneResult* out,
                  const StoreProgress& progress) {
  *out = PruneResult{};
  std::vector<std::string> expired;
  std::vector<StoreEntry> live;
  std::uint64_t live_bytes = 0;
  if (Status s = store.Scan([&](const StoreEntry& e) {
        if (e.ttl_left && e.ttl_left->count() <= 0) {
          expired.push_back(e.key);
        } else {
          live_bytes += e.key.size() + e.value_bytes;
          // Only what eviction needs: the value size and the idle time.
          StoreEntry kept;
          kept.key = e.key;
          kept.value_bytes = e.value_bytes;
          kept.idle = e.idle;
          live.push_back(std::move(kept));
        }
        return true;
      });
      !s.ok()) {
    return s;
  }
  std::uint64_t done = 0;
  bool stopped = false;
  if (Status s = DeleteAll(store, expired, &done, progress, &stopped); !s.ok() || stopped) {
    out->expired = done;
    return s;
  }
  out->expired = done;
  std::vector<std::string> evict;
  if (max_bytes && live_bytes > *max_bytes) {
    // Least recently used first; entries of unknown age keep their scan order.
    std::stable_sort(live.begin(), live.end(), [](const StoreEntry& a, const StoreEntry& b) {
      return a.idle.value_or(std::chrono::milliseconds{-1}) >
             b.idle.value_or(std::chrono::milliseconds{-1});
    });
    std::size_t i = 0;
    for (; i < live.size() && live_bytes > *max_bytes; ++i) {
      live_bytes -= live[i].key.size() + live[i].value_bytes;
      evict.push_back(std::move(live[i].key));
    }
  }
  const Status s = DeleteAll(store, evict, &done, progress, &stopped);
  out->evicted = done - out->expired;
  out->entries_left = live.size() - out->evicted;
  out->bytes_left = live_bytes;
  return s;
}

Status ClearLabelled(Store& store, const std::function<bool(std::string_view label)>& match,
                     ClearLabelledResult* out, const StoreProgress& progress) {
  *out = ClearLabelledResult{};
  ScanOptions options;
  options.head_bytes = kEnvelopePeekBytes;
  // Collected first (deleting while scanning would disturb the scan), each
  // key once however many tiers hold it.
  std::vector<std::string> keys;
  std::unordered_set<std::string> seen;
  auto collect = [&](const StoreEntry& e) {
    std::string label;
    if (PeekEnvelopeLabel(e.head, &label) && !label.empty() && match(label) &&
        seen.insert(e.key).second) {
      keys.push_back(e.key);
    }
    return true;
  };
  if (auto* tiered = dynamic_cast<TieredStore*>(&store); tiered != nullptr) {
    Status cannot;
    for (std::size_t i = 0; i < tiered->tier_count(); ++i) {
      Store& tier = tiered->tier(i);
      Status s = tier.Scan(options, collect);
      if (s.code() == Status::Code::kInvalidArgument) {  // this tier cannot list
        out->unlisted.push_back(tier.Describe());
        if (cannot.ok()) cannot = s;
      } else if (!s.ok()) {
        return s;
      }
    }
    if (out->unlisted.size() == tiered->tier_count()) return cannot;
  } else if (Status s = store.Scan(options, collect); !s.ok()) {
    return s;
  }
  bool stopped = false;
  return DeleteAll(store, keys, &out->removed, progress, &stopped);
}

namespace store_internal {

namespace {
// Process-wide by nature: fork() is. Incremented only in the child.
std::atomic<std::uint64_t> g_fork_generation{0};
void OnForkInChild() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

std::uint64_t ForkGeneration() {
  [[maybe_unused]] static const int registered = pthread_atfork(nullptr, nullptr, OnForkInChild);
  return g_fork_generation.load(std::memory_order_relaxed);
}

namespace {
// "'text'", shortened so that a long or binary parameter cannot flood a message.
std::string Quote(std::string_view text) {
  constexpr std::size_t kMax = 80;
  std::string out = "'";
  for (char c : text.substr(0, kMax)) {
    out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  }
  if (text.size() > kMax) out += "...";
  return out + "'";
}
}  // namespace

std::optional<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    if (i + 2 >= text.size()) return std::nullopt;
    const int hi = HexValue(text[i + 1]);
    const int lo = HexValue(text[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string PercentEncode(std::string_view text, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || keep.find(c) != std::string_view::npos) {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

Status QueryParams::Parse(std::string_view query, std::string what, QueryParams* out) {
  out->params_.clear();
  out->what_ = std::move(what);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Status::Error(out->what_ + ": parameter " + Quote(item) + " has no '=value'");
    }
    std::optional<std::string> name = PercentDecode(item.substr(0, eq));
    std::optional<std::string> value = PercentDecode(item.substr(eq + 1));
    if (!name || !value) {
      return Status::Error(out->what_ + ": bad percent-escape in parameter " + Quote(item));
    }
    for (const auto& [seen, unused] : out->params_) {
      if (seen == *name) {
        return Status::Error(out->what_ + ": parameter " + Quote(*name) + " given twice");
      }
    }
    out->params_.emplace_back(std::move(*name), std::move(*value));
  }
  return Status::Ok();
}

std::optional<std::string> QueryParams::Take(std::string_view name) {
  for (auto it = params_.begin(); it != params_.end(); ++it) {
    if (it->first == name) {
      std::string value = std::move(it->second);
      params_.erase(it);
      return value;
    }
  }
  return std::nullopt;
}

Status QueryParams::Finish(std::string_view known) const {
  if (params_.empty()) return Status::Ok();
  return Status::Error(what_ + ": unknown parameter " + Quote(params_.front().first) +
                       " (known: " + std::string(known) + ")");
}

}  // namespace store_internal

}  // namespace memokey
