// server/namespace_store.cc — routing store keys to their namespace's store.

#include "namespace_store.h"

#include <algorithm>
#include <utility>

namespace memokeyd {

using memokey::Status;
using memokey::Store;
using memokey::StoreStats;

NamespacedStore::NamespacedStore(std::unique_ptr<Store> shared, std::vector<Namespace> own)
    : shared_(std::move(shared)), own_(std::move(own)) {
  std::sort(own_.begin(), own_.end(),
            [](const Namespace& a, const Namespace& b) { return a.name < b.name; });
}

Store& NamespacedStore::For(std::string_view key) const {
  const std::string_view ns = key.substr(0, key.find('/'));
  // A handful of quota'd namespaces at most: a binary search of a sorted vector.
  const auto it = std::lower_bound(
      own_.begin(), own_.end(), ns,
      [](const Namespace& n, std::string_view name) { return std::string_view(n.name) < name; });
  if (it != own_.end() && it->name == ns && key.size() > ns.size()) return *it->store;
  return *shared_;
}

Status NamespacedStore::Get(std::string_view key, std::string* value) {
  return For(key).Get(key, value);
}

Status NamespacedStore::GetWithTtl(std::string_view key, std::string* value,
                                   std::chrono::milliseconds* ttl_left) {
  return For(key).GetWithTtl(key, value, ttl_left);
}

namespace {

// Splits a batch by store: one GetMany per store (so a Redis-backed shared
// store still gets one round trip), results put back in the callers' order.
template <typename Call>
Status Split(std::span<const std::string_view> keys, const std::vector<Store*>& owners,
             std::vector<std::optional<std::string>>* values,
             std::vector<std::chrono::milliseconds>* ttls, Call call) {
  values->assign(keys.size(), std::nullopt);
  if (ttls != nullptr) ttls->assign(keys.size(), std::chrono::milliseconds{0});
  std::vector<bool> done(keys.size(), false);
  Status result;
  std::vector<std::string_view> part;
  std::vector<std::size_t> where;
  std::vector<std::optional<std::string>> part_values;
  std::vector<std::chrono::milliseconds> part_ttls;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (done[i]) continue;
    Store* store = owners[i];
    part.clear();
    where.clear();
    for (std::size_t j = i; j < keys.size(); ++j) {
      if (done[j] || owners[j] != store) continue;
      part.push_back(keys[j]);
      where.push_back(j);
      done[j] = true;
    }
    const Status s = call(*store, std::span<const std::string_view>(part), &part_values,
                          ttls != nullptr ? &part_ttls : nullptr);
    if (!s.ok() && result.ok()) result = s;
    for (std::size_t k = 0; k < where.size() && k < part_values.size(); ++k) {
      (*values)[where[k]] = std::move(part_values[k]);
      if (ttls != nullptr && k < part_ttls.size()) (*ttls)[where[k]] = part_ttls[k];
    }
  }
  return result;
}

}  // namespace

Status NamespacedStore::GetMany(std::span<const std::string_view> keys,
                                std::vector<std::optional<std::string>>* values) {
  std::vector<Store*> owners;
  owners.reserve(keys.size());
  for (std::string_view key : keys) owners.push_back(&For(key));
  if (std::all_of(owners.begin(), owners.end(), [&](Store* s) { return s == owners.front(); })) {
    return keys.empty() ? shared_->GetMany(keys, values) : owners.front()->GetMany(keys, values);
  }
  return Split(keys, owners, values, nullptr,
               [](Store& store, std::span<const std::string_view> part,
                  std::vector<std::optional<std::string>>* out,
                  std::vector<std::chrono::milliseconds>*) { return store.GetMany(part, out); });
}

Status NamespacedStore::GetManyWithTtl(std::span<const std::string_view> keys,
                                       std::vector<std::optional<std::string>>* values,
                                       std::vector<std::chrono::milliseconds>* ttls_left) {
  std::vector<Store*> owners;
  owners.reserve(keys.size());
  for (std::string_view key : keys) owners.push_back(&For(key));
  if (std::all_of(owners.begin(), owners.end(), [&](Store* s) { return s == owners.front(); })) {
    Store& store = keys.empty() ? *shared_ : *owners.front();
    return store.GetManyWithTtl(keys, values, ttls_left);
  }
  return Split(keys, owners, values, ttls_left,
               [](Store& store, std::span<const std::string_view> part,
                  std::vector<std::optional<std::string>>* out,
                  std::vector<std::chrono::milliseconds>* ttls) {
                 return store.GetManyWithTtl(part, out, ttls);
               });
}

Status NamespacedStore::Put(std::string_view key, std::string_view value,
                            std::chrono::milliseconds ttl) {
  return For(key).Put(key, value, ttl);
}

Status NamespacedStore::Delete(std::string_view key) { return For(key).Delete(key); }

Status NamespacedStore::Contains(std::string_view key, bool* present) {
  return For(key).Contains(key, present);
}

StoreStats NamespacedStore::Stats() const {
  StoreStats total = shared_->Stats();
  for (const Namespace& n : own_) {
    const StoreStats s = n.store->Stats();
    total.hits += s.hits;
    total.misses += s.misses;
    total.puts += s.puts;
    total.deletes += s.deletes;
    memokey::AddBackendStats(&total, s);
  }
  return total;
}

Status NamespacedStore::AcquireLease(std::string_view key, const memokey::LeaseOptions& options,
                                     memokey::LeaseResult* out) {
  return For(key).AcquireLease(key, options, out);
}

Status NamespacedStore::ReleaseLease(std::string_view key, std::string_view token) {
  return For(key).ReleaseLease(key, token);
}

std::string NamespacedStore::Describe() const {
  std::string out = shared_->Describe();
  for (const Namespace& n : own_) out += " + " + n.name + ": " + n.store->Describe();
  return out;
}

std::vector<NamespacedStore::Usage> NamespacedStore::Quotas() const {
  std::vector<Usage> out;
  out.reserve(own_.size());
  for (const Namespace& n : own_) out.push_back(Usage{n.name, n.max_bytes, n.store->Stats()});
  return out;
}

}  // namespace memokeyd
