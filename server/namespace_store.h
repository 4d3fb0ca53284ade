// server/namespace_store.h — namespaces with a byte quota, each in a store of
// its own, behind one memokey::Store.
//
// Every store key memokeyd uses is "NAMESPACE/..." (handler.h), so routing by
// the text before the first '/' sends each key of a quota'd namespace to that
// namespace's store and everything else to the server's shared store. The
// quota is then simply the namespace store's max_bytes: the disk store evicts
// least recently *used* rows inside the write transaction that would exceed
// it (SQLite serializes writers), so the bound holds exactly however many PUTs
// race — docs/SERVER.md#quotas has the reasons for this design.
//
// The handler and the network code see one Store, so batching (GetMany),
// leases and /readyz work unchanged; /metrics and the dashboard ask Usage()
// for each quota'd namespace's bytes, entries and evictions.

#ifndef MEMOKEY_SERVER_NAMESPACE_STORE_H_
#define MEMOKEY_SERVER_NAMESPACE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/store.h"

namespace memokeyd {

class NamespacedStore final : public memokey::Store {
 public:
  struct Namespace {
    std::string name;
    std::uint64_t max_bytes = 0;
    std::unique_ptr<memokey::Store> store;
  };
  // `own` sorted or not; names are unique (they come from a map).
  NamespacedStore(std::unique_ptr<memokey::Store> shared, std::vector<Namespace> own);

  memokey::Status Get(std::string_view key, std::string* value) override;
  memokey::Status GetWithTtl(std::string_view key, std::string* value,
                             std::chrono::milliseconds* ttl_left) override;
  memokey::Status GetMany(std::span<const std::string_view> keys,
                          std::vector<std::optional<std::string>>* values) override;
  memokey::Status GetManyWithTtl(std::span<const std::string_view> keys,
                                 std::vector<std::optional<std::string>>* values,
                                 std::vector<std::chrono::milliseconds>* ttls_left) override;
  memokey::Status Put(std::string_view key, std::string_view value,
                      std::chrono::milliseconds ttl) override;
  memokey::Status Delete(std::string_view key) override;
  memokey::Status Contains(std::string_view key, bool* present) override;
  // The sum over every store (so memokeyd_store_* stay server-wide).
  memokey::StoreStats Stats() const override;
  memokey::Status AcquireLease(std::string_view key, const memokey::LeaseOptions& options,
                               memokey::LeaseResult* out) override;
  memokey::Status ReleaseLease(std::string_view key, std::string_view token) override;
  std::string Describe() const override;

  // One quota'd namespace's store, as /metrics and the dashboard show it.
  struct Usage {
    std::string_view name;
    std::uint64_t max_bytes = 0;
    memokey::StoreStats stats;
  };
  std::vector<Usage> Quotas() const;

 private:
  memokey::Store& For(std::string_view key) const;

  std::unique_ptr<memokey::Store> shared_;
  std::vector<Namespace> own_;  // sorted by name
};

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_NAMESPACE_STORE_H_
