// Leases without a server (not installed): the in-process table behind
// memory://, the flock(2) lock files behind disk://, and the loop both run.
//
// The loop (RunLease) is the whole protocol of store.h's "Leases" section:
// try to take the lease; if taken, look for the value once more (a previous
// holder may have stored it just before releasing) and hand it over instead
// of a lease; if not, look for the value, and sleep until the backend says
// something changed or the deadline passes. A backend supplies four steps:
//
//   bool TryGrab(std::string* token, Ticket* ticket)
//       take the lease now or fail; on failure *ticket records what was seen,
//       so that Wait can tell whether anything changed since (no lost wake-up)
//   void Release(std::string_view token)
//   bool Lookup(std::string* value, std::chrono::milliseconds* ttl_left)
//   void Wait(const Ticket& ticket, Clock::time_point deadline)
//   Status Failure()   non-OK when TryGrab failed for good (ends the loop)

#ifndef MEMOKEY_SRC_STORE_LEASES_H_
#define MEMOKEY_SRC_STORE_LEASES_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "memokey/status.h"
#include "memokey/store.h"

namespace memokey::store_internal {

using LeaseClock = std::chrono::steady_clock;

// 128 random bits as 32 hex digits: unguessable, so only the holder can
// release. One getrandom(2) per call: a lease follows every miss, and
// std::random_device costs ~30 us a call on our VMs (RDSEED).
std::string NewLeaseToken();

template <class Backend>
Status RunLease(Backend& backend, const LeaseOptions& options, LeaseResult* out) {
  *out = LeaseResult{};
  const LeaseClock::time_point deadline = LeaseClock::now() + options.wait;
  for (;;) {
    typename Backend::Ticket ticket{};
    std::string token;
    if (backend.TryGrab(&token, &ticket)) {
      if (options.check_value && backend.Lookup(&out->value, &out->ttl_left)) {
        backend.Release(token);
        out->state = LeaseResult::State::kValue;
        return Status::Ok();
      }
      out->token = std::move(token);
      out->state = LeaseResult::State::kGranted;
      return Status::Ok();
    }
    if (Status failure = backend.Failure(); !failure.ok()) {
      *out = LeaseResult{};
      return failure;
    }
    out->waited = true;
    if (options.check_value && backend.Lookup(&out->value, &out->ttl_left)) {
      out->state = LeaseResult::State::kValue;
      return Status::Ok();
    }
    if (LeaseClock::now() >= deadline) {
      out->state = LeaseResult::State::kTimedOut;
      return Status::Ok();
    }
    backend.Wait(ticket, deadline);
  }
}

// The value lookup a lease table needs, through the store's own GetWithTtl.
inline std::function<bool(std::string*, std::chrono::milliseconds*)> LookupIn(
    Store& store, std::string_view key) {
  return [&store, key](std::string* value, std::chrono::milliseconds* ttl_left) {
    return store.GetWithTtl(key, value, ttl_left).ok();
  };
}

// memory:// — leases in a table of this process. A lease ends when released
// or when its ttl passes; waiters sleep on a condition variable that every
// release signals.
class LocalLeases {
 public:
  using ValueLookup = std::function<bool(std::string*, std::chrono::milliseconds*)>;
  Status Acquire(std::string_view key, const LeaseOptions& options, const ValueLookup& lookup,
                 LeaseResult* out);
  void Release(std::string_view key, std::string_view token);

 private:
  struct Held {
    std::string token;
    LeaseClock::time_point expires;
  };
  class Backend;

  std::mutex mu_;
  std::condition_variable released_;
  std::uint64_t releases_ = 0;  // bumped on every release: what a waiter's ticket compares
  std::unordered_map<std::string, Held> held_;
  std::uint64_t generation_ = 0;  // ForkGeneration() the table belongs to
};

// An exclusive flock(2) on one file, held until destruction. The holder
// unlinks the file before unlocking; an acquirer whose fd no longer names the
// path (unlinked or replaced meanwhile) reopens and retries, so removing lock
// files is race-free. The OS releases the lock when its holder dies, kill -9
// included. Lock fds are close-on-exec; a child forked while a lock is held
// shares it until the child exits (the unlink keeps newcomers unaffected).
class FileLock {
 public:
  enum class Result { kAcquired, kBusy, kError };
  FileLock() = default;
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // One attempt, never blocks. `path`'s directory must exist.
  Result TryAcquire(const std::string& path);
  // Attempts until `timeout`, sleeping 1 ms doubling to 20 ms in between.
  // *waited: someone else held it at least once.
  Result Acquire(const std::string& path, std::chrono::milliseconds timeout, bool* waited);

 private:
  void Close();
  std::string path_;
  int fd_ = -1;
};

// An exclusive lock on one byte of a shared lock file, held until
// destruction: an open file description lock (fcntl F_OFD_SETLK), which the
// OS releases when its holder closes it or dies, kill -9 included. Each lock
// opens its own description, so threads of one process exclude each other
// too. The file is created once and never removed: taking a lock is an open
// and one fcntl, with no file created or unlinked (which costs a journal
// write on most filesystems). Lock fds are close-on-exec; a child forked
// while a lock is held shares it until the child exits.
class RangeLock {
 public:
  enum class Result { kAcquired, kBusy, kError };
  RangeLock() = default;
  ~RangeLock();
  RangeLock(const RangeLock&) = delete;
  RangeLock& operator=(const RangeLock&) = delete;

  // One attempt, never blocks. `path`'s directory must exist.
  Result TryAcquire(const std::string& path, std::uint64_t offset);

 private:
  int fd_ = -1;
};

// disk:// — a lease is a RangeLock on the byte of dir/leases.lock at an offset
// given by the key's XXH3 hash, so processes sharing the directory exclude
// each other, and so do threads of one process. LeaseOptions::ttl does not
// apply: the lease lasts until released or until its holder dies; a holder
// that hangs is outwaited (kTimedOut after `wait`). Waiting is polling (1 ms
// doubling to 20 ms): a lock file has no wake-up to offer.
class FileLeases {
 public:
  using ValueLookup = LocalLeases::ValueLookup;
  explicit FileLeases(std::string dir) : dir_(dir), file_(std::move(dir) + "/leases.lock") {}
  Status Acquire(std::string_view key, const LeaseOptions& options, const ValueLookup& lookup,
                 LeaseResult* out);
  void Release(std::string_view token);

 private:
  class Backend;
  static std::uint64_t OffsetOf(std::string_view key);

  const std::string dir_;
  const std::string file_;
  std::atomic<bool> dir_checked_{false};  // MakePrivateDirs passed once
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<RangeLock>, std::less<>> held_;  // by token
};

}  // namespace memokey::store_internal

#endif  // MEMOKEY_SRC_STORE_LEASES_H_
