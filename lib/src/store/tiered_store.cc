// tiered: — N stores, fastest first: read-through with backfill, write-through.

#include "memokey/tiered_store.h"

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "store_internal.h"

namespace memokey {

using store_internal::Counters;

struct TieredStore::Impl {
  std::vector<std::unique_ptr<Store>> tiers;
  Counters counters;

  // A hit in tier `from` is copied into the faster tiers with the TTL it has
  // left there, so a backfilled copy never outlives the original. Backfill
  // failures are counted by the tier and otherwise ignored: the caller has
  // its value.
  void Backfill(std::size_t from, std::string_view key, std::string_view value,
                std::chrono::milliseconds ttl_left) {
    for (std::size_t j = 0; j < from; ++j) static_cast<void>(tiers[j]->Put(key, value, ttl_left));
  }

  Status Get(std::string_view key, std::string* value, std::chrono::milliseconds* ttl_left,
             int* tier_index) {
    *tier_index = -1;
    for (std::size_t i = 0; i < tiers.size(); ++i) {
      Status s = tiers[i]->GetWithTtl(key, value, ttl_left);
      if (s.ok()) {
        Backfill(i, key, *value, *ttl_left);
        *tier_index = static_cast<int>(i);
        Counters::Add(counters.hits);
        return s;
      }
      // A bad key or a strict tier that is unavailable: stop and say so.
      if (!s.IsNotFound()) return s;
    }
    Counters::Add(counters.misses);
    return Status::NotFound();
  }
};

TieredStore::TieredStore(std::vector<std::unique_ptr<Store>> tiers)
    : impl_(std::make_unique<Impl>()) {
  impl_->tiers = std::move(tiers);
}

TieredStore::~TieredStore() = default;

Status TieredStore::Get(std::string_view key, std::string* value, int* tier_index) {
  std::chrono::milliseconds ttl_left;
  return impl_->Get(key, value, &ttl_left, tier_index);
}

Status TieredStore::Get(std::string_view key, std::string* value) {
  int tier_index = -1;
  std::chrono::milliseconds ttl_left;
  return impl_->Get(key, value, &ttl_left, &tier_index);
}

Status TieredStore::GetWithTtl(std::string_view key, std::string* value,
                               std::chrono::milliseconds* ttl_left) {
  int tier_index = -1;
  return impl_->Get(key, value, ttl_left, &tier_index);
}

// The lease lives in the slowest tier that has leases: the most shared one
// (disk or Redis behind a memory tier), so that every process sharing that
// tier takes turns. The token says which tier: "<index>:<tier's token>".
Status TieredStore::AcquireLease(std::string_view key, const LeaseOptions& options,
                                 LeaseResult* out) {
  *out = LeaseResult{};
  for (std::size_t i = impl_->tiers.size(); i-- > 0;) {
    if (Status s = impl_->tiers[i]->AcquireLease(key, options, out); !s.ok()) return s;
    switch (out->state) {
      case LeaseResult::State::kUnsupported:
        continue;
      case LeaseResult::State::kGranted:
        out->token = std::to_string(i) + ":" + out->token;
        break;
      case LeaseResult::State::kValue:
        impl_->Backfill(i, key, out->value, out->ttl_left);
        break;
      case LeaseResult::State::kTimedOut:
        break;
    }
    return Status::Ok();
  }
  return store_internal::CheckKey(key);
}

Status TieredStore::ReleaseLease(std::string_view key, std::string_view token) {
  const std::size_t colon = token.find(':');
  const std::optional<std::uint64_t> index =
      colon == std::string_view::npos ? std::nullopt
                                      : store_internal::ParseUint(token.substr(0, colon));
  // A token we did not hand out holds nothing: a no-op, as for any stale token.
  if (!index || *index >= impl_->tiers.size()) return store_internal::CheckKey(key);
  return impl_->tiers[*index]->ReleaseLease(key, token.substr(colon + 1));
}

Status TieredStore::GetMany(std::span<const std::string_view> keys,
                            std::vector<std::optional<std::string>>* values) {
  std::vector<std::chrono::milliseconds> ttls;
  return GetManyWithTtl(keys, values, &ttls);
}

Status TieredStore::GetManyWithTtl(std::span<const std::string_view> keys,
                                   std::vector<std::optional<std::string>>* values,
                                   std::vector<std::chrono::milliseconds>* ttls_left) {
  values->clear();
  values->resize(keys.size());
  ttls_left->assign(keys.size(), std::chrono::milliseconds{0});
  std::vector<std::size_t> missing(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) missing[i] = i;
  std::vector<std::string_view> ask;
  std::vector<std::optional<std::string>> got;
  std::vector<std::chrono::milliseconds> got_ttls;
  std::uint64_t hits = 0;
  for (std::size_t tier = 0; tier < impl_->tiers.size() && !missing.empty(); ++tier) {
    ask.clear();
    for (std::size_t i : missing) ask.push_back(keys[i]);
    if (Status s = impl_->tiers[tier]->GetManyWithTtl(ask, &got, &got_ttls); !s.ok()) return s;
    std::vector<std::size_t> still_missing;
    for (std::size_t j = 0; j < missing.size(); ++j) {
      const std::size_t i = missing[j];
      if (!got[j]) {
        still_missing.push_back(i);
        continue;
      }
      impl_->Backfill(tier, keys[i], *got[j], got_ttls[j]);
      (*values)[i] = std::move(got[j]);
      (*ttls_left)[i] = got_ttls[j];
      ++hits;
    }
    missing = std::move(still_missing);
  }
  Counters::Add(impl_->counters.hits, hits);
  Counters::Add(impl_->counters.misses, keys.size() - hits);
  return Status::Ok();
}

Status TieredStore::Put(std::string_view key, std::string_view value,
                        std::chrono::milliseconds ttl) {
  // Every tier is written even when one fails (Redis down must not keep the
  // value out of memory); the first failure is reported.
  Status first;
  for (auto& tier : impl_->tiers) {
    Status s = tier->Put(key, value, ttl);
    if (!s.ok() && first.ok()) first = std::move(s);
  }
  if (first.ok()) Counters::Add(impl_->counters.puts);
  return first;
}

Status TieredStore::Delete(std::string_view key) {
  Status first;
  for (auto& tier : impl_->tiers) {
    Status s = tier->Delete(key);
    if (!s.ok() && first.ok()) first = std::move(s);
  }
  if (first.ok()) Counters::Add(impl_->counters.deletes);
  return first;
}

Status TieredStore::Contains(std::string_view key, bool* present) {
  *present = false;
  for (auto& tier : impl_->tiers) {
    if (Status s = tier->Contains(key, present); !s.ok()) return s;
    if (*present) return Status::Ok();
  }
  return Status::Ok();
}

StoreStats TieredStore::Stats() const {
  StoreStats stats = impl_->counters.Snapshot();
  for (const auto& tier : impl_->tiers) AddBackendStats(&stats, tier->Stats());
  return stats;
}

bool TieredStore::strict() const {
  for (const auto& tier : impl_->tiers) {
    if (tier->strict()) return true;
  }
  return false;
}

std::string TieredStore::Describe() const {
  std::string out = "tiered:";
  for (std::size_t i = 0; i < impl_->tiers.size(); ++i) {
    if (i > 0) out += '|';
    out += impl_->tiers[i]->Describe();
  }
  return out;
}

Status TieredStore::Scan(const ScanOptions& options,
                         const std::function<bool(const StoreEntry&)>& visit) {
  std::unordered_set<std::string> seen;
  bool stop = false;
  for (auto& tier : impl_->tiers) {
    Status s = tier->Scan(options, [&](const StoreEntry& e) {
      if (seen.insert(e.key).second && !visit(e)) stop = true;
      return !stop;
    });
    if (!s.ok()) return s;
    if (stop) break;
  }
  return Status::Ok();
}

Status TieredStore::Clear(std::uint64_t* removed, const StoreProgress& progress) {
  *removed = 0;
  for (auto& tier : impl_->tiers) {
    std::uint64_t base = *removed, n = 0;
    bool stop = false;
    Status s = tier->Clear(&n, [&](std::uint64_t done) {
      stop = progress && !progress(base + done);
      return !stop;
    });
    *removed += n;
    if (!s.ok() || stop) return s;
  }
  return Status::Ok();
}

std::size_t TieredStore::tier_count() const { return impl_->tiers.size(); }

Store& TieredStore::tier(std::size_t index) { return *impl_->tiers.at(index); }

std::vector<StoreStats> TieredStore::TierStats() const {
  std::vector<StoreStats> out;
  out.reserve(impl_->tiers.size());
  for (const auto& tier : impl_->tiers) out.push_back(tier->Stats());
  return out;
}

}  // namespace memokey
