#include "memokey/memo.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace memokey {
namespace {

// mkdir -p with mode 0700 for the directories it creates.
bool MakeDirs(const std::string& dir) {
  if (dir.empty()) return false;
  for (std::size_t pos = 1;; ++pos) {
    pos = dir.find('/', pos);
    const std::string part = dir.substr(0, pos);
    if (!part.empty() && ::mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) return false;
    if (pos == std::string::npos) break;
  }
  struct stat st;
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// An exclusive flock on lock_dir/<key>.lock, held until destruction. The
// holder unlinks the file before unlocking; an acquirer whose fd no longer
// names the path (unlinked or replaced meanwhile) reopens and retries.
class FileLock {
 public:
  enum class Result { kAcquired, kTimeout, kError };

  Result Acquire(const std::string& dir, const std::string& name, std::chrono::milliseconds timeout,
                 bool* waited) {
    *waited = false;
    if (!MakeDirs(dir)) return Result::kError;
    path_ = dir + "/" + name + ".lock";
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::milliseconds(1);
    for (;;) {
      fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
      if (fd_ < 0) return Result::kError;
      for (;;) {
        if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) break;
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) {
          Close();
          return Result::kError;
        }
        *waited = true;
        if (std::chrono::steady_clock::now() >= deadline) {
          Close();
          return Result::kTimeout;
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(20));
      }
      struct stat held, named;
      if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 &&
          held.st_dev == named.st_dev && held.st_ino == named.st_ino) {
        return Result::kAcquired;
      }
      // Unlinked by the previous holder after we opened it: try the new file.
      Close();
      if (std::chrono::steady_clock::now() >= deadline) return Result::kTimeout;
    }
  }

  ~FileLock() {
    if (fd_ >= 0) {
      ::unlink(path_.c_str());  // while still holding the lock: see Acquire
      Close();
    }
  }

 private:
  void Close() {
    ::close(fd_);  // releases the flock
    fd_ = -1;
  }

  std::string path_;
  int fd_ = -1;
};

}  // namespace

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
      flights_(std::make_unique<Flights>()) {
  if (!store_) throw std::invalid_argument("memokey::memoize: store is null");
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
                      std::vector<std::uint8_t>* out) {
  const std::string store_key = key.hex();
  std::string sealed;
  const Status got = store_->Get(store_key, &sealed);
  if (!got.ok()) {
    if (!got.IsNotFound()) counters_.store_errors.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
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
  const std::string_view payload(reinterpret_cast<const char*>(canonical.data()),
                                 canonical.size());
  if (!SealEnvelope(store_key, Codec::kCbor, payload, secret_, &sealed,
                    options_.compress_threshold)
           .ok() ||
      !store_->Put(store_key, sealed, options_.ttl).ok()) {
    counters_.store_errors.fetch_add(1, std::memory_order_relaxed);
  }
}

std::vector<std::uint8_t> MemoCore::GetOrCompute(
    const Key& key, const std::function<std::vector<std::uint8_t>()>& compute,
    const std::function<bool(ByteSpan)>& decodes) {
  std::vector<std::uint8_t> result;
  if (Lookup(key, decodes, &result)) {
    counters_.hits.fetch_add(1, std::memory_order_relaxed);
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
  try {
    if (!options_.lock_dir.empty()) {
      file_lock.emplace();
      bool waited = false;
      switch (file_lock->Acquire(options_.lock_dir, key.hex(), options_.lock_timeout, &waited)) {
        case FileLock::Result::kAcquired:
          break;
        case FileLock::Result::kTimeout:
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
    counters_.computed.fetch_add(1, std::memory_order_relaxed);
    result = compute();
  } catch (...) {
    file_lock.reset();  // the next caller computes at once
    finish(std::current_exception());
    throw;
  }
  Save(key, result);
  file_lock.reset();  // after Save: a waiter that gets the lock finds the value
  flight->result = result;  // read by waiters only after `done` is set under the mutex
  finish(nullptr);
  return result;
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
  return s;
}

}  // namespace memokey
