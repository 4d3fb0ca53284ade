// memory:// — an in-process store: shards of S3-FIFO queues bounded by bytes.
//
// S3-FIFO (Yang et al., SOSP 2023): new entries enter a small FIFO (10% of the
// bytes); an entry read while there moves to the main FIFO when it reaches the
// tail, otherwise it is evicted and its key hash remembered in a ghost FIFO, so
// that a key that comes back soon goes straight to main. Main is a FIFO with
// reinsertion (CLOCK-like, 2-bit frequency). Against LRU it keeps one-hit
// wonders (scans) from flushing the hot set, and a hit only bumps a counter
// instead of relinking a list.
//
// Each shard has its own mutex; a key's shard is chosen by its hash.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "leases.h"
#include "memokey/store_backends.h"
#include "store_internal.h"

namespace memokey {
namespace {

using store_internal::CheckKey;
using store_internal::CheckTtl;
using store_internal::Counters;

// A rough count of what an entry costs beyond its key and value (list node,
// index slot, strings' headers), so that many tiny entries are bounded too.
constexpr std::uint64_t kEntryOverhead = 128;
constexpr std::uint64_t kDefaultBytesPerShard = std::uint64_t{4} << 20;
constexpr unsigned kMaxDefaultShards = 16;
constexpr std::uint8_t kMaxFreq = 3;

std::int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Entry {
  std::string key;
  std::string value;
  std::int64_t expires = 0;  // steady-clock ms; 0: never
  std::uint64_t charge = 0;
  std::uint8_t freq = 0;
  bool in_main = false;
  std::multimap<std::int64_t, Entry*>::iterator expiry_it;  // valid when expires != 0
};

struct alignas(64) Shard {
  using List = std::list<Entry>;

  std::mutex mu;
  List small;  // front: newest
  List main;
  std::unordered_map<std::string_view, List::iterator> index;  // views into Entry::key
  std::multimap<std::int64_t, Entry*> expiry;
  std::uint64_t bytes = 0;
  std::uint64_t small_bytes = 0;
  std::uint64_t budget = 0;
  std::deque<std::size_t> ghost;  // hashes of keys evicted from small, oldest first
  std::unordered_map<std::size_t, std::uint32_t> ghost_count;
};

class MemoryStore final : public Store {
 public:
  MemoryStore(std::uint64_t max_bytes, unsigned shards, bool strict)
      : max_bytes_(max_bytes), strict_(strict) {
    shards_.reserve(shards);
    for (unsigned i = 0; i < shards; ++i) {
      shards_.push_back(std::make_unique<Shard>());
      shards_.back()->budget = std::max<std::uint64_t>(1, max_bytes / shards);
    }
  }

  Status Get(std::string_view key, std::string* value) override {
    std::chrono::milliseconds ttl_left;
    return GetWithTtl(key, value, &ttl_left);
  }

  Status GetWithTtl(std::string_view key, std::string* value,
                    std::chrono::milliseconds* ttl_left) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    const std::size_t hash = Hash(key);
    Shard& shard = ShardOf(hash);
    std::lock_guard lock(shard.mu);
    auto found = shard.index.find(key);
    if (found == shard.index.end()) {
      Counters::Add(counters_.misses);
      return Status::NotFound();
    }
    Entry& entry = *found->second;
    *ttl_left = std::chrono::milliseconds{0};
    if (entry.expires != 0) {
      const std::int64_t now = SteadyMs();
      if (entry.expires <= now) {
        Remove(shard, found->second);
        Counters::Add(counters_.expired);
        Counters::Add(counters_.misses);
        return Status::NotFound();
      }
      *ttl_left = std::chrono::milliseconds(entry.expires - now);
    }
    if (entry.freq < kMaxFreq) ++entry.freq;
    value->assign(entry.value);
    Counters::Add(counters_.hits);
    return Status::Ok();
  }

  Status Put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    if (Status s = CheckTtl(ttl); !s.ok()) return s;
    const std::size_t hash = Hash(key);
    Shard& shard = ShardOf(hash);
    const std::uint64_t charge = key.size() + value.size() + kEntryOverhead;
    const std::int64_t now = SteadyMs();
    const std::int64_t expires = store_internal::ExpiryFrom(now, ttl);
    std::lock_guard lock(shard.mu);
    Counters::Add(counters_.puts);
    auto found = shard.index.find(key);
    if (charge > shard.budget) {
      // Not admitted; an older value must not outlive this write.
      if (found != shard.index.end()) Remove(shard, found->second);
      Counters::Add(counters_.evictions);
      return Status::Ok();
    }
    if (found != shard.index.end()) {
      Entry& entry = *found->second;
      shard.bytes = shard.bytes - entry.charge + charge;
      if (!entry.in_main) shard.small_bytes = shard.small_bytes - entry.charge + charge;
      entry.charge = charge;
      entry.value.assign(value);
      if (entry.expires != 0) shard.expiry.erase(entry.expiry_it);
      SetExpiry(shard, entry, expires);
      if (entry.freq < kMaxFreq) ++entry.freq;
    } else {
      const bool seen_recently = shard.ghost_count.contains(hash);
      Shard::List& list = seen_recently ? shard.main : shard.small;
      list.emplace_front();
      Entry& entry = list.front();
      entry.key.assign(key);
      entry.value.assign(value);
      entry.charge = charge;
      entry.in_main = seen_recently;
      SetExpiry(shard, entry, expires);
      shard.index.emplace(entry.key, list.begin());
      shard.bytes += charge;
      if (!seen_recently) shard.small_bytes += charge;
    }
    EvictIfNeeded(shard, now);
    return Status::Ok();
  }

  Status AcquireLease(std::string_view key, const LeaseOptions& options,
                      LeaseResult* out) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    return leases_.Acquire(key, options, store_internal::LookupIn(*this, key), out);
  }

  Status ReleaseLease(std::string_view key, std::string_view token) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    leases_.Release(key, token);
    return Status::Ok();
  }

  Status Delete(std::string_view key) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    Shard& shard = ShardOf(Hash(key));
    std::lock_guard lock(shard.mu);
    if (auto found = shard.index.find(key); found != shard.index.end()) {
      Remove(shard, found->second);
    }
    Counters::Add(counters_.deletes);
    return Status::Ok();
  }

  Status Contains(std::string_view key, bool* present) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    Shard& shard = ShardOf(Hash(key));
    std::lock_guard lock(shard.mu);
    auto found = shard.index.find(key);
    *present = found != shard.index.end() &&
               (found->second->expires == 0 || found->second->expires > SteadyMs());
    return Status::Ok();
  }

  StoreStats Stats() const override {
    StoreStats stats = counters_.Snapshot();
    for (const auto& shard : shards_) {
      std::lock_guard lock(shard->mu);
      stats.bytes += shard->bytes;
      stats.entries += shard->index.size();
    }
    return stats;
  }

  // A snapshot shard by shard (each locked only while it is copied), so
  // that visit may call back into the store.
  using Store::Scan;
  Status Scan(const ScanOptions& options,
              const std::function<bool(const StoreEntry&)>& visit) override {
    const std::int64_t now = SteadyMs();
    std::vector<StoreEntry> entries;
    for (const auto& shard : shards_) {
      entries.clear();
      {
        std::lock_guard lock(shard->mu);
        entries.reserve(shard->index.size());
        for (const auto& [key, it] : shard->index) {
          StoreEntry e;
          e.key.assign(key);
          e.value_bytes = it->value.size();
          e.head.assign(std::string_view(it->value).substr(0, options.head_bytes));
          if (it->expires != 0) e.ttl_left = std::chrono::milliseconds(it->expires - now);
          entries.push_back(std::move(e));
        }
      }
      for (const StoreEntry& e : entries) {
        if (!visit(e)) return Status::Ok();
      }
    }
    return Status::Ok();
  }

  std::string Describe() const override {
    return "memory://?max_bytes=" + std::to_string(max_bytes_) +
           "&shards=" + std::to_string(shards_.size()) + (strict_ ? "&strict=1" : "");
  }

  bool strict() const override { return strict_; }

 private:
  static std::size_t Hash(std::string_view key) { return std::hash<std::string_view>{}(key); }

  Shard& ShardOf(std::size_t hash) {
    // The low bits pick the unordered_map bucket inside the shard; use the
    // high ones here so that a shard's keys still spread over its buckets.
    return *shards_[((hash >> 32) ^ (hash >> 16)) % shards_.size()];
  }

  static void SetExpiry(Shard& shard, Entry& entry, std::int64_t expires) {
    entry.expires = expires;
    if (expires != 0) entry.expiry_it = shard.expiry.emplace(expires, &entry);
  }

  static void Remove(Shard& shard, Shard::List::iterator it) {
    Entry& entry = *it;
    if (entry.expires != 0) shard.expiry.erase(entry.expiry_it);
    shard.index.erase(std::string_view(entry.key));
    shard.bytes -= entry.charge;
    if (entry.in_main) {
      shard.main.erase(it);
    } else {
      shard.small_bytes -= entry.charge;
      shard.small.erase(it);
    }
  }

  void RememberGhost(Shard& shard, std::size_t hash) {
    shard.ghost.push_back(hash);
    ++shard.ghost_count[hash];
    // As many ghosts as live entries: enough to recognize a key evicted about
    // one cache-turnover ago.
    const std::size_t capacity = std::max<std::size_t>(shard.index.size(), 64);
    while (shard.ghost.size() > capacity) {
      auto old = shard.ghost_count.find(shard.ghost.front());
      if (--old->second == 0) shard.ghost_count.erase(old);
      shard.ghost.pop_front();
    }
  }

  void EvictIfNeeded(Shard& shard, std::int64_t now) {
    if (shard.bytes <= shard.budget) return;
    // Expired entries go first: they are dead weight whatever their frequency.
    while (!shard.expiry.empty() && shard.expiry.begin()->first <= now) {
      Entry* entry = shard.expiry.begin()->second;
      Remove(shard, shard.index.find(std::string_view(entry->key))->second);
      Counters::Add(counters_.expired);
    }
    while (shard.bytes > shard.budget) {
      if (!shard.small.empty() && (shard.small_bytes > shard.budget / 10 || shard.main.empty())) {
        auto tail = std::prev(shard.small.end());
        if (tail->freq > 0) {
          tail->freq = 0;
          tail->in_main = true;
          shard.small_bytes -= tail->charge;
          shard.main.splice(shard.main.begin(), shard.small, tail);
        } else {
          const std::size_t hash = Hash(tail->key);
          Remove(shard, tail);
          RememberGhost(shard, hash);
          Counters::Add(counters_.evictions);
        }
      } else {
        auto tail = std::prev(shard.main.end());
        if (tail->freq > 0) {
          --tail->freq;
          shard.main.splice(shard.main.begin(), shard.main, tail);
        } else {
          Remove(shard, tail);
          Counters::Add(counters_.evictions);
        }
      }
    }
  }

  const std::uint64_t max_bytes_;
  const bool strict_;
  std::vector<std::unique_ptr<Shard>> shards_;
  Counters counters_;
  store_internal::LocalLeases leases_;
};

}  // namespace

Status OpenMemoryStore(const MemoryStoreOptions& options, std::unique_ptr<Store>* out) {
  if (options.max_bytes == 0) return Status::Error("memory store: max_bytes must be positive");
  unsigned shards = options.shards;
  if (shards == 0) {
    shards = static_cast<unsigned>(
        std::clamp<std::uint64_t>(options.max_bytes / kDefaultBytesPerShard, 1, kMaxDefaultShards));
  }
  *out = std::make_unique<MemoryStore>(options.max_bytes, shards, options.strict);
  return Status::Ok();
}

}  // namespace memokey
