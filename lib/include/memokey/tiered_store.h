// memokey/tiered_store.h — a store made of stores, fastest first.
//
// URL: tiered:URL1|URL2|... (store_spec.h)
// Tiers fastest first, e.g. tiered:memory://?max_bytes=64M|disk:///var/cache/x|redis://h:6379
// Read-through (a hit in tier i is copied into tiers 0..i-1 with its
// remaining TTL), write-through to every tier. A '|' inside a tier URL
// must be written %7C. Tiers cannot themselves be tiered.
//
// Contract: that of store.h, over the tiers together. A tier that cannot
// answer (a lenient store's counted miss) is passed over; a bad key or a
// strict tier that is unavailable stops the call with its status.

#ifndef MEMOKEY_TIERED_STORE_H_
#define MEMOKEY_TIERED_STORE_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"

namespace memokey {

// Tiers fastest first. Get reports which tier answered.
class TieredStore final : public Store {
 public:
  explicit TieredStore(std::vector<std::unique_ptr<Store>> tiers);
  ~TieredStore() override;

  // *tier_index: the tier that answered, or -1 on a miss.
  Status Get(std::string_view key, std::string* value, int* tier_index);
  Status Get(std::string_view key, std::string* value) override;
  Status GetWithTtl(std::string_view key, std::string* value,
                    std::chrono::milliseconds* ttl_left) override;
  Status GetMany(std::span<const std::string_view> keys,
                 std::vector<std::optional<std::string>>* values) override;
  Status GetManyWithTtl(std::span<const std::string_view> keys,
                        std::vector<std::optional<std::string>>* values,
                        std::vector<std::chrono::milliseconds>* ttls_left) override;
  Status Put(std::string_view key, std::string_view value,
             std::chrono::milliseconds ttl = std::chrono::milliseconds{0}) override;
  Status Delete(std::string_view key) override;
  Status Contains(std::string_view key, bool* present) override;
  // On the slowest tier that has leases; a value found there is backfilled.
  Status AcquireLease(std::string_view key, const LeaseOptions& options, LeaseResult* out) override;
  Status ReleaseLease(std::string_view key, std::string_view token) override;
  // hits/misses/puts/deletes: calls of the tiered store; errors, evictions,
  // expired, bytes and entries: sums over the tiers.
  StoreStats Stats() const override;
  std::string Describe() const override;
  // Any tier strict.
  bool strict() const override;
  // Every tier's entries, each key once (the fastest tier's view of it).
  using Store::Scan;
  Status Scan(const ScanOptions& options,
              const std::function<bool(const StoreEntry&)>& visit) override;
  // Clears every tier; *removed: the sum over the tiers.
  Status Clear(std::uint64_t* removed, const StoreProgress& progress = {}) override;

  std::size_t tier_count() const;
  Store& tier(std::size_t index);
  std::vector<StoreStats> TierStats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace memokey

#endif  // MEMOKEY_TIERED_STORE_H_
