#include "memokey/memo.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

#include "../store/leases.h"
#include "../store/private_dir.h"

namespace memokey {
using store_internal::FileLock;

// One computation in progress. Waiters block on `done` under Flights::mutex.
struct MemoCore::Flight {
  std::thread::id owner;
  bool done = false;
  std::exception_ptr error;
  std::vector<std::uint8_t> result;
};

struct MemoCore::Flights {
  std::mutex mutex;
  std::condition_variable done;
  std::map<Key, std::shared_ptr<Flight>> in_progress;
};

MemoCore::MemoCore(std::shared_ptr<Store> store, std::string name, MemoOptions options)
    : store_(std::move(store)),
      name_(std::move(name)),
      options_(std::move(options)),
      label_(FunctionLabel(options_.key_namespace, name_)),
      flights_(std::make_unique<Flights>()) {
  if (!store_) throw std::invalid_argument("memokey::memoize: store is null");
  strict_ = options_.strict || store_->Describe().find("strict=1") != std::string::npos;
  if (options_.stale_while_revalidate.count() < 0 ||
      (options_.stale_while_revalidate.count() > 0 && options_.ttl.count() <= 0)) {
    throw std::invalid_argument(
        "memokey::memoize: stale_while_revalidate needs a positive ttl (and is not negative)");
  }
  const Status status = LoadSecret(options_.secret, &secret_);
  if (!status.ok()) throw std::runtime_error("memokey::memoize: " + status.ToString());
}

MemoCore::~MemoCore() = default;

void MemoCore::BeginKey(KeyEncoder* k) const {
  k->reset(options_.key_namespace);
  Encoder& e = k->encoder();
  e.array(4);
  e.text_unchecked("memokey.memo");
  e.text(name_);
  e.text(options_.version);
  // The caller writes the arguments' tuple: the fourth element.
}

bool MemoCore::Lookup(const Key& key, const std::function<bool(ByteSpan)>& decodes,
                      std::vector<std::uint8_t>* out, LookupNote* note) {
  const std::string store_key = key.hex();
  std::string sealed;
  std::chrono::milliseconds ttl_left{0};
  const Status got = store_->GetWithTtl(store_key, &sealed, &ttl_left);
  // Within the last stale_while_revalidate of its stored life, an entry is
  // past the ttl the user asked for (Save adds the window to it).
  if (note != nullptr) {
    note->stale = got.ok() && options_.stale_while_revalidate.count() > 0 && ttl_left.count() > 0 &&
                  ttl_left <= options_.stale_while_revalidate;
  }
  if (!got.ok()) {
    if (!got.IsNotFound()) {
      StoreFailed("lookup", got, /*may_throw=*/true);
    } else if (got.message() != Status::NotFound().message()) {
      // A store that could not answer (or dropped a damaged entry) and said
      // so in its miss: the store chose the miss, so even strict goes on.
      StoreFailed("lookup", got, /*may_throw=*/false);
    }
    return false;
  }
  const bool verified = Verify(store_key, sealed, decodes, out);
  if (note != nullptr) note->rejected = !verified;
  return verified;
}

bool MemoCore::Verify(const std::string& store_key, const std::string& sealed,
                      const std::function<bool(ByteSpan)>& decodes,
                      std::vector<std::uint8_t>* out) {
  Codec codec;
  std::string payload;
  const Status opened = OpenEnvelope(store_key, sealed, secret_, &codec, &payload);
  const auto* data = reinterpret_cast<const std::uint8_t*>(payload.data());
  if (!opened.ok() || codec != Codec::kCbor || !decodes(ByteSpan(data, payload.size()))) {
    // Never trust it, never decode it further: a miss that gets recomputed
    // and overwritten.
    counters_.rejected.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  out->assign(data, data + payload.size());
  return true;
}

void MemoCore::Save(const Key& key, const std::vector<std::uint8_t>& canonical) {
  const std::string store_key = key.hex();
  std::string sealed;
  const std::string_view payload(reinterpret_cast<const char*>(canonical.data()), canonical.size());
  Status s = SealEnvelope(store_key, Codec::kCbor, payload, secret_, &sealed,
                          options_.compress_threshold, label_);
  if (s.ok()) {
    s = store_->Put(
        store_key, sealed,
        options_.ttl.count() > 0 ? options_.ttl + options_.stale_while_revalidate : options_.ttl);
  }
  if (!s.ok()) StoreFailed("write", s, /*may_throw=*/true);
}

void MemoCore::StoreFailed(const char* operation, const Status& status, bool may_throw) {
  counters_.store_errors.fetch_add(1, std::memory_order_relaxed);
  auto what = [&] {
    return "memokey::memoize(" + name_ + "): store " + operation + " failed on " +
           store_->Describe() + ": " + status.ToString();
  };
  if (strict_) {
    // Strict callers learn of failures from the exception; one during
    // cleanup is only counted (the exception already on its way says more).
    if (!may_throw) return;
    throw StoreError(what(), status);
  }
  std::call_once(reported_, [&] {
    const std::string message =
        what() +
        "; calls compute and return their results without the cache (counted in "
        "MemoStats::store_errors; reported once). Check that the store is reachable and "
        "writable (a disk:// directory: exists, belongs to this user, not on a full disk), "
        "or give memoize another store; MemoOptions::strict raises instead.";
    if (options_.on_store_error) {
      options_.on_store_error(message);
    } else {
      std::cerr << message << '\n';
    }
  });
}

std::vector<std::uint8_t> MemoCore::GetOrCompute(
    const Key& key, const std::function<std::vector<std::uint8_t>()>& compute,
    const std::function<bool(ByteSpan)>& decodes) {
  std::vector<std::uint8_t> result;
  LookupNote note;
  if (Lookup(key, decodes, &result, &note)) {
    counters_.hits.fetch_add(1, std::memory_order_relaxed);
    if (note.stale) return Revalidate(key, compute, std::move(result));
    return result;
  }
  counters_.misses.fetch_add(1, std::memory_order_relaxed);

  std::shared_ptr<Flight> flight;
  {
    std::unique_lock lock(flights_->mutex);
    auto it = flights_->in_progress.find(key);
    if (it != flights_->in_progress.end()) {
      if (it->second->owner == std::this_thread::get_id()) {
        // Re-entry on the computing thread: waiting would wait for ourselves.
        lock.unlock();
        counters_.computed.fetch_add(1, std::memory_order_relaxed);
        return compute();
      }
      std::shared_ptr<Flight> other = it->second;
      counters_.waited.fetch_add(1, std::memory_order_relaxed);
      flights_->done.wait(lock, [&] { return other->done; });
      if (other->error) std::rethrow_exception(other->error);
      return other->result;
    }
    flight = std::make_shared<Flight>();
    flight->owner = std::this_thread::get_id();
    flights_->in_progress.emplace(key, flight);
  }

  auto finish = [&](std::exception_ptr error) {
    std::lock_guard lock(flights_->mutex);
    flight->error = std::move(error);
    flight->done = true;
    flights_->in_progress.erase(key);
    flights_->done.notify_all();
  };
  std::optional<FileLock> file_lock;
  std::string lease_token;
  // may_throw false: cleanup after another exception, which must reach the
  // caller (and the waiters) as it is.
  auto release_lease = [&](bool may_throw) {
    const std::string token = std::exchange(lease_token, std::string());
    if (token.empty()) return;
    const Status released = store_->ReleaseLease(key.hex(), token);
    if (!released.ok()) StoreFailed("lease release", released, may_throw);
  };
  try {
    if (!options_.lock_dir.empty()) {
      file_lock.emplace();
      bool waited = false;
      const FileLock::Result locked =
          store_internal::MakePrivateDirs(options_.lock_dir, "memo lock_dir").ok()
              ? file_lock->Acquire(options_.lock_dir + "/" + key.hex() + ".lock",
                                   options_.lock_timeout, &waited)
              : FileLock::Result::kError;
      switch (locked) {
        case FileLock::Result::kAcquired:
          break;
        case FileLock::Result::kBusy:
          counters_.lock_timeouts.fetch_add(1, std::memory_order_relaxed);
          break;
        case FileLock::Result::kError:
          counters_.lock_errors.fetch_add(1, std::memory_order_relaxed);
          break;
      }
      if (waited) counters_.cross_process_waits.fetch_add(1, std::memory_order_relaxed);
      // Another process may have stored it while we waited, or between our
      // first lookup and the lock.
      if (Lookup(key, decodes, &result)) {
        file_lock.reset();
        flight->result = result;
        finish(nullptr);
        return result;
      }
    }
    if (options_.lease) {
      const std::string store_key = key.hex();
      LeaseResult lease;
      // A stored value we rejected (tampered, another secret) is still
      // there: the lease must not hand it back to us as "the value".
      const Status leased = store_->AcquireLease(
          store_key, LeaseOptions{options_.lease_ttl, options_.lease_wait, !note.rejected}, &lease);
      if (!leased.ok()) {
        StoreFailed("lease", leased, /*may_throw=*/true);  // not strict: compute without it
      } else {
        if (lease.waited) counters_.lease_waits.fetch_add(1, std::memory_order_relaxed);
        switch (lease.state) {
          case LeaseResult::State::kGranted:
            lease_token = std::move(lease.token);
            break;
          case LeaseResult::State::kValue:
            if (Verify(store_key, lease.value, decodes, &result)) {
              counters_.lease_hits.fetch_add(1, std::memory_order_relaxed);
              file_lock.reset();
              flight->result = result;
              finish(nullptr);
              return result;
            }
            break;  // rejected (counted): compute it ourselves
          case LeaseResult::State::kTimedOut:
            counters_.lease_timeouts.fetch_add(1, std::memory_order_relaxed);
            break;
          case LeaseResult::State::kUnsupported:
            break;
        }
      }
    }
    counters_.computed.fetch_add(1, std::memory_order_relaxed);
    result = compute();
  } catch (...) {
    release_lease(false);  // the next caller computes at once
    file_lock.reset();
    finish(std::current_exception());
    throw;
  }
  try {
    Save(key, result);
    release_lease(true);  // after Save: a woken waiter finds the value
  } catch (...) {         // a strict store failed: its error goes to every caller
    release_lease(false);
    file_lock.reset();
    finish(std::current_exception());
    throw;
  }
  file_lock.reset();        // after Save too
  flight->result = result;  // read by waiters only after `done` is set under the mutex
  finish(nullptr);
  return result;
}

// A stale hit: one caller (the one that gets the lease, without waiting)
// recomputes and stores; everyone else gets the old value meanwhile.
std::vector<std::uint8_t> MemoCore::Revalidate(
    const Key& key, const std::function<std::vector<std::uint8_t>()>& compute,
    std::vector<std::uint8_t> stale_value) {
  const std::string store_key = key.hex();
  LeaseResult lease;
  const Status leased =
      store_->AcquireLease(store_key,
                           LeaseOptions{options_.lease_ttl, std::chrono::milliseconds{0},
                                        /*check_value=*/false},
                           &lease);
  // A failed lease (not strict) serves the stale value: a later call tries again.
  if (!leased.ok()) StoreFailed("lease", leased, /*may_throw=*/true);
  const bool refresh = leased.ok() && (lease.state == LeaseResult::State::kGranted ||
                                       lease.state == LeaseResult::State::kUnsupported);
  if (!refresh) {
    counters_.stale_served.fetch_add(1, std::memory_order_relaxed);
    return stale_value;
  }
  auto release = [&](bool may_throw) {
    if (lease.state != LeaseResult::State::kGranted) return;
    lease.state = LeaseResult::State::kUnsupported;  // released (or tried): once only
    const Status released = store_->ReleaseLease(store_key, lease.token);
    if (!released.ok()) StoreFailed("lease release", released, may_throw);
  };
  std::vector<std::uint8_t> fresh;
  try {
    counters_.computed.fetch_add(1, std::memory_order_relaxed);
    fresh = compute();
    Save(key, fresh);  // throws only for a strict store
  } catch (...) {
    release(false);
    throw;
  }
  release(true);
  counters_.revalidated.fetch_add(1, std::memory_order_relaxed);
  return fresh;
}

MemoStats MemoCore::Stats() const {
  MemoStats s;
  s.hits = counters_.hits.load();
  s.misses = counters_.misses.load();
  s.computed = counters_.computed.load();
  s.waited = counters_.waited.load();
  s.rejected = counters_.rejected.load();
  s.store_errors = counters_.store_errors.load();
  s.cross_process_waits = counters_.cross_process_waits.load();
  s.lock_timeouts = counters_.lock_timeouts.load();
  s.lock_errors = counters_.lock_errors.load();
  s.lease_waits = counters_.lease_waits.load();
  s.lease_hits = counters_.lease_hits.load();
  s.lease_timeouts = counters_.lease_timeouts.load();
  s.stale_served = counters_.stale_served.load();
  s.revalidated = counters_.revalidated.load();
  return s;
}

}  // namespace memokey
