#include "leases.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#define XXH_INLINE_ALL  // header-only use: lock offsets, not cache keys
#include <xxhash.h>

#include "memokey/hex.h"
#include "private_dir.h"
#include "store_internal.h"

namespace memokey::store_internal {

std::string NewLeaseToken() {
  std::array<std::uint8_t, 16> bits{};
  std::size_t have = 0;
  while (have < bits.size()) {
    const ssize_t n = ::getrandom(bits.data() + have, bits.size() - have, 0);
    if (n > 0) {
      have += static_cast<std::size_t>(n);
    } else if (errno != EINTR) {
      // No getrandom (a very old kernel): std::random_device, slower but fine.
      std::random_device device;
      for (std::size_t i = have; i < bits.size(); ++i)
        bits[i] = static_cast<std::uint8_t>(device());
      break;
    }
  }
  return ToHex(bits);
}

// --- LocalLeases -------------------------------------------------------------------

class LocalLeases::Backend {
 public:
  using Ticket = std::uint64_t;  // LocalLeases::releases_ when the lease was found taken

  Backend(LocalLeases& table, std::string_view key, const LeaseOptions& options,
          const ValueLookup& lookup)
      : table_(table), key_(key), options_(options), lookup_(lookup) {}

  bool TryGrab(std::string* token, Ticket* ticket) {
    std::lock_guard lock(table_.mu_);
    if (const std::uint64_t generation = ForkGeneration(); generation != table_.generation_) {
      // A forked child: the parent's holders are not ours to wait for.
      table_.held_.clear();
      table_.generation_ = generation;
    }
    const LeaseClock::time_point now = LeaseClock::now();
    auto [it, inserted] = table_.held_.try_emplace(std::string(key_));
    if (!inserted && it->second.expires > now) {
      *ticket = table_.releases_;
      expires_ = it->second.expires;
      return false;
    }
    *token = NewLeaseToken();
    it->second = Held{*token, now + options_.ttl};
    return true;
  }

  void Release(std::string_view token) { table_.Release(key_, token); }

  bool Lookup(std::string* value, std::chrono::milliseconds* ttl_left) {
    return lookup_(value, ttl_left);
  }

  // Until a release (any key: releases are rare and the waiter re-checks), the
  // holder's expiry, or the deadline.
  Status Failure() const { return Status::Ok(); }

  void Wait(const Ticket& ticket, LeaseClock::time_point deadline) {
    std::unique_lock lock(table_.mu_);
    table_.released_.wait_until(lock, std::min(deadline, expires_),
                                [&] { return table_.releases_ != ticket; });
  }

 private:
  LocalLeases& table_;
  std::string_view key_;
  const LeaseOptions& options_;
  const ValueLookup& lookup_;
  LeaseClock::time_point expires_{};
};

Status LocalLeases::Acquire(std::string_view key, const LeaseOptions& options,
                            const ValueLookup& lookup, LeaseResult* out) {
  Backend backend(*this, key, options, lookup);
  return RunLease(backend, options, out);
}

void LocalLeases::Release(std::string_view key, std::string_view token) {
  {
    std::lock_guard lock(mu_);
    auto it = held_.find(std::string(key));
    if (it == held_.end() || it->second.token != token) return;
    held_.erase(it);
    ++releases_;
  }
  released_.notify_all();
}

// --- FileLock ------------------------------------------------------------------------

FileLock::~FileLock() {
  if (fd_ >= 0) {
    ::unlink(path_.c_str());  // while still holding the lock: see TryAcquire
    Close();
  }
}

void FileLock::Close() {
  ::close(fd_);  // releases the flock
  fd_ = -1;
}

FileLock::Result FileLock::TryAcquire(const std::string& path) {
  path_ = path;
  for (;;) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ < 0) return Result::kError;
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EINTR) continue;
      const bool busy = errno == EWOULDBLOCK;
      Close();
      return busy ? Result::kBusy : Result::kError;
    }
    struct stat held, named;
    if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 &&
        held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
      return Result::kAcquired;
    }
    // Unlinked by the previous holder after we opened it: try the new file.
    Close();
  }
}

FileLock::Result FileLock::Acquire(const std::string& path, std::chrono::milliseconds timeout,
                                   bool* waited) {
  *waited = false;
  const auto deadline = LeaseClock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    const Result result = TryAcquire(path);
    if (result != Result::kBusy) return result;
    *waited = true;
    if (LeaseClock::now() >= deadline) return Result::kBusy;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
}

// --- FileLeases ----------------------------------------------------------------------

// --- RangeLock -----------------------------------------------------------------------

RangeLock::~RangeLock() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

RangeLock::Result RangeLock::TryAcquire(const std::string& path, std::uint64_t offset) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd_ < 0) return Result::kError;
  struct flock range {};
  range.l_type = F_WRLCK;
  range.l_whence = SEEK_SET;
  range.l_start = static_cast<off_t>(offset);
  range.l_len = 1;
  while (::fcntl(fd_, F_OFD_SETLK, &range) != 0) {
    if (errno == EINTR) continue;
    const bool busy = errno == EAGAIN || errno == EACCES;
    ::close(fd_);
    fd_ = -1;
    return busy ? Result::kBusy : Result::kError;
  }
  return Result::kAcquired;
}

// --- FileLeases ----------------------------------------------------------------------

class FileLeases::Backend {
 public:
  using Ticket = int;  // nothing to compare: waiting is polling

  Backend(FileLeases& leases, std::uint64_t offset, const ValueLookup& lookup)
      : leases_(leases), offset_(offset), lookup_(lookup) {}

  bool TryGrab(std::string* token, Ticket* /*ticket*/) {
    if (!leases_.dir_checked_.load(std::memory_order_acquire)) {
      // Once per store: a directory others can write is refused like the
      // store's own (they could hold or free our leases).
      if (Status made = MakePrivateDirs(leases_.dir_, "lease directory"); !made.ok()) {
        failure_ = std::move(made);
        return false;
      }
      leases_.dir_checked_.store(true, std::memory_order_release);
    }
    auto lock = std::make_unique<RangeLock>();
    RangeLock::Result result = lock->TryAcquire(leases_.file_, offset_);
    if (result == RangeLock::Result::kError && errno == ENOENT) {
      // The directory is made on first use (or again, after an rm -rf of the
      // cache) rather than checked on every lease: a lease follows every miss.
      if (Status made = MakePrivateDirs(leases_.dir_, "lease directory"); !made.ok()) {
        failure_ = std::move(made);
        return false;
      }
      result = lock->TryAcquire(leases_.file_, offset_);
    }
    switch (result) {
      case RangeLock::Result::kAcquired:
        break;
      case RangeLock::Result::kBusy:
        return false;
      case RangeLock::Result::kError:
        failure_ = Status::IOError("lease file " + leases_.file_ +
                                   " cannot be locked: " + std::strerror(errno));
        return false;
    }
    *token = NewLeaseToken();
    std::lock_guard guard(leases_.mu_);
    leases_.held_.emplace(*token, std::move(lock));
    return true;
  }

  void Release(std::string_view token) { leases_.Release(token); }

  bool Lookup(std::string* value, std::chrono::milliseconds* ttl_left) {
    return lookup_(value, ttl_left);
  }

  void Wait(const Ticket& /*ticket*/, LeaseClock::time_point deadline) {
    std::this_thread::sleep_until(std::min(deadline, LeaseClock::now() + pause_));
    pause_ = std::min(pause_ * 2, std::chrono::milliseconds(20));
  }

  Status Failure() const { return failure_; }

 private:
  FileLeases& leases_;
  const std::uint64_t offset_;
  const ValueLookup& lookup_;
  std::chrono::milliseconds pause_{1};
  Status failure_;
};

std::uint64_t FileLeases::OffsetOf(std::string_view key) {
  // 62 bits: a lock range must fit in off_t with room for its length.
  return XXH3_64bits(key.data(), key.size()) >> 2;
}

Status FileLeases::Acquire(std::string_view key, const LeaseOptions& options,
                           const ValueLookup& lookup, LeaseResult* out) {
  Backend backend(*this, OffsetOf(key), lookup);
  return RunLease(backend, options, out);
}

void FileLeases::Release(std::string_view token) {
  std::unique_ptr<RangeLock> lock;
  {
    std::lock_guard guard(mu_);
    auto it = held_.find(token);
    if (it == held_.end()) return;
    lock = std::move(it->second);
    held_.erase(it);
  }
  // ~RangeLock unlocks, outside the mutex.
}

}  // namespace memokey::store_internal
