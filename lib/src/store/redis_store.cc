// redis:// and redis+unix:// — a store on a Redis server through hiredis.
//
// A pool of blocking connections, opened lazily. A connection that fails is
// dropped; a command that failed on a pooled (possibly stale: server restarted,
// idle-closed) connection is retried once on a fresh one, which is safe as
// every command used here is idempotent. A failed connect or a timeout starts
// an exponential backoff during which new connections are not attempted and
// calls fail fast, so a dead Redis costs a caller microseconds, not a timeout.
//
// Cluster readiness: keys are prefix{key}, so the key is the hash tag; GetMany
// sends MGET batches that a cluster client will split per node.

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "memokey/store.h"
#include "store_internal.h"

namespace memokey {
namespace {

using store_internal::CheckKey;
using store_internal::CheckTtl;
using store_internal::Counters;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kMgetBatch = 256;

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(ms.count() % 1000 * 1000);
  return tv;
}

// hiredis writes with write(2): a peer that closed the socket raises SIGPIPE,
// whose default action kills the process. A library must not install signal
// handlers, so SIGPIPE is blocked in this thread for the duration of a command
// and one that we caused is consumed before unblocking.
class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      sigset_t pending;
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{};
        sigtimedwait(&pipe_, nullptr, &zero);
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

// One command's arguments (views into the caller's strings).
using Command = std::vector<std::string_view>;

bool AppendCommand(redisContext* c, const Command& command) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lens;
  argv.reserve(command.size());
  lens.reserve(command.size());
  for (std::string_view arg : command) {
    argv.push_back(arg.data());
    lens.push_back(arg.size());
  }
  return redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()) ==
         REDIS_OK;
}

std::string ReplyError(const redisReply* reply) { return std::string(reply->str, reply->len); }

class Pool {
 public:
  explicit Pool(const RedisStoreOptions& options)
      : options_(options),
        generation_(store_internal::ForkGeneration()),
        rng_(std::random_device{}()) {}

  // A connection: pooled (*fresh false) or newly connected (*fresh true).
  Status Acquire(ContextPtr* ctx, bool* fresh) {
    std::unique_lock lock(mu_);
    if (const std::uint64_t generation = store_internal::ForkGeneration();
        generation != generation_) [[unlikely]] {
      // A forked child: the sockets are the parent's. Closing our copies
      // leaves the parent's connections intact; those in use by threads that
      // do not exist here are forgotten.
      idle_.clear();
      live_ = 0;
      generation_ = generation;
      rng_.seed(std::random_device{}());  // or parent and children back off in step
    }
    const auto deadline = SteadyClock::now() + options_.timeout;
    while (true) {
      if (!idle_.empty()) {
        *ctx = std::move(idle_.back());
        idle_.pop_back();
        *fresh = false;
        return Status::Ok();
      }
      if (live_ < options_.pool) {
        const auto now = SteadyClock::now();
        if (now < retry_at_) {
          const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
          return Status::Unavailable("redis " + Where() + " unreachable, next attempt in " +
                                     std::to_string(wait.count()) + " ms (" + last_error_ + ")");
        }
        ++live_;
        lock.unlock();
        std::string error;
        ContextPtr connected = Connect(&error);
        lock.lock();
        if (!connected) {
          --live_;
          NoteFailureLocked(error);
          cv_.notify_one();
          return Status::Unavailable("redis " + Where() + ": " + error);
        }
        delay_ = std::chrono::milliseconds{0};
        retry_at_ = {};
        *ctx = std::move(connected);
        *fresh = true;
        return Status::Ok();
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
          live_ >= options_.pool) {
        return Status::Unavailable("redis " + Where() + ": all " + std::to_string(options_.pool) +
                                   " connections busy for " +
                                   std::to_string(options_.timeout.count()) + " ms");
      }
    }
  }

  // Returns a healthy connection to the pool, or frees the slot of a broken
  // one (ctx null).
  void Release(ContextPtr ctx) {
    std::lock_guard lock(mu_);
    if (ctx) {
      idle_.push_back(std::move(ctx));
    } else {
      --live_;
    }
    cv_.notify_one();
  }

  // After a pooled connection turned out broken, the others most likely are
  // too (server restarted): drop them rather than fail on each in turn.
  void DropIdle() {
    std::lock_guard lock(mu_);
    live_ -= static_cast<unsigned>(idle_.size());
    idle_.clear();
    cv_.notify_all();
  }

  void NoteFailure(const std::string& error) {
    std::lock_guard lock(mu_);
    NoteFailureLocked(error);
  }

  std::string Where() const {
    if (!options_.unix_socket.empty()) return options_.unix_socket;
    const bool v6 = options_.host.find(':') != std::string::npos;
    return (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(options_.port);
  }

 private:
  void NoteFailureLocked(const std::string& error) {
    delay_ = delay_.count() == 0 ? options_.backoff : std::min(2 * delay_, options_.max_backoff);
    // Jitter (75..100% of the delay) keeps many clients from reconnecting in step.
    std::uniform_int_distribution<std::int64_t> jitter(delay_.count() * 3 / 4, delay_.count());
    retry_at_ = SteadyClock::now() + std::chrono::milliseconds(jitter(rng_));
    last_error_ = error;
  }

  ContextPtr Connect(std::string* error) const {
    const timeval connect_tv = ToTimeval(options_.connect_timeout);
    ContextPtr ctx(options_.unix_socket.empty()
                       ? redisConnectWithTimeout(options_.host.c_str(), options_.port, connect_tv)
                       : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), connect_tv));
    if (!ctx) {
      *error = "cannot allocate a connection";
      return nullptr;
    }
    if (ctx->err != 0) {
      *error = std::string("connect: ") + ctx->errstr;
      return nullptr;
    }
    redisSetTimeout(ctx.get(), ToTimeval(options_.timeout));
    if (options_.unix_socket.empty()) redisEnableKeepAlive(ctx.get());
    SigpipeGuard guard;
    auto run = [&](const Command& command, const char* what) {
      if (!AppendCommand(ctx.get(), command)) {
        *error = std::string(what) + ": " + ctx->errstr;
        return false;
      }
      void* raw = nullptr;
      if (redisGetReply(ctx.get(), &raw) != REDIS_OK) {
        *error = std::string(what) + ": " + ctx->errstr;
        return false;
      }
      ReplyPtr reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ERROR) {
        *error = std::string(what) + " refused: " + ReplyError(reply.get());
        return false;
      }
      return true;
    };
    if (!options_.password.empty()) {
      const Command auth = options_.user.empty()
                               ? Command{"AUTH", options_.password}
                               : Command{"AUTH", options_.user, options_.password};
      if (!run(auth, "AUTH")) return nullptr;
    }
    if (options_.db != 0) {
      const std::string db = std::to_string(options_.db);
      if (!run(Command{"SELECT", db}, "SELECT")) return nullptr;
    }
    return ctx;
  }

  const RedisStoreOptions& options_;
  std::uint64_t generation_;  // ForkGeneration() the connections belong to
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ContextPtr> idle_;
  unsigned live_ = 0;  // idle + in use + being connected
  SteadyClock::time_point retry_at_{};
  std::chrono::milliseconds delay_{0};
  std::string last_error_;
  std::minstd_rand rng_;
};

class RedisStore final : public Store {
 public:
  explicit RedisStore(RedisStoreOptions options) : options_(std::move(options)), pool_(options_) {
    using store_internal::PercentEncode;
    std::string auth;
    if (!options_.password.empty()) auth = PercentEncode(options_.user) + ":***@";
    if (options_.unix_socket.empty()) {
      describe_ = "redis://" + auth + pool_.Where() + "/" + std::to_string(options_.db) + "?";
    } else {
      describe_ = "redis+unix://" + auth + PercentEncode(options_.unix_socket) +
                  "?db=" + std::to_string(options_.db) + "&";
    }
    describe_ += "prefix=" + PercentEncode(options_.prefix);
    if (options_.strict) describe_ += "&strict=1";
  }

  Status Get(std::string_view key, std::string* value) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    const std::string rkey = RedisKey(key);
    const Command commands[] = {{"GET", rkey}};
    std::vector<ReplyPtr> replies;
    if (Status s = Exec(commands, &replies); !s.ok()) return FailedLookup(std::move(s), 1);
    return TakeString(replies[0].get(), value);
  }

  Status GetWithTtl(std::string_view key, std::string* value,
                    std::chrono::milliseconds* ttl_left) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    *ttl_left = std::chrono::milliseconds{0};
    const std::string rkey = RedisKey(key);
    const Command commands[] = {{"GET", rkey}, {"PTTL", rkey}};
    std::vector<ReplyPtr> replies;
    if (Status s = Exec(commands, &replies); !s.ok()) return FailedLookup(std::move(s), 1);
    Status s = TakeString(replies[0].get(), value);
    if (s.ok() && replies[1]->type == REDIS_REPLY_INTEGER && replies[1]->integer >= 0) {
      // 0 would read as "no expiry": an entry with under 1 ms left gets 1 ms.
      *ttl_left = std::chrono::milliseconds(std::max<long long>(replies[1]->integer, 1));
    }
    return s;
  }

  Status GetMany(std::span<const std::string_view> keys,
                 std::vector<std::optional<std::string>>* values) override {
    return GetManyImpl(keys, values, nullptr);
  }

  Status GetManyWithTtl(std::span<const std::string_view> keys,
                        std::vector<std::optional<std::string>>* values,
                        std::vector<std::chrono::milliseconds>* ttls_left) override {
    return GetManyImpl(keys, values, ttls_left);
  }

  Status Put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    if (Status s = CheckTtl(ttl); !s.ok()) return s;
    const std::string rkey = RedisKey(key);
    const std::string px = std::to_string(ttl.count());
    const Command set =
        ttl.count() > 0 ? Command{"SET", rkey, value, "PX", px} : Command{"SET", rkey, value};
    std::vector<ReplyPtr> replies;
    if (Status s = Exec(std::span(&set, 1), &replies); !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    if (replies[0]->type == REDIS_REPLY_ERROR) {
      Counters::Add(counters_.errors);
      return Status::IOError("redis SET: " + ReplyError(replies[0].get()));
    }
    Counters::Add(counters_.puts);
    return Status::Ok();
  }

  Status Delete(std::string_view key) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    const std::string rkey = RedisKey(key);
    const Command commands[] = {{"DEL", rkey}};
    std::vector<ReplyPtr> replies;
    if (Status s = Exec(commands, &replies); !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    if (replies[0]->type == REDIS_REPLY_ERROR) {
      Counters::Add(counters_.errors);
      return Status::IOError("redis DEL: " + ReplyError(replies[0].get()));
    }
    Counters::Add(counters_.deletes);
    return Status::Ok();
  }

  Status Contains(std::string_view key, bool* present) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    *present = false;
    const std::string rkey = RedisKey(key);
    const Command commands[] = {{"EXISTS", rkey}};
    std::vector<ReplyPtr> replies;
    if (Status s = Exec(commands, &replies); !s.ok()) {
      Counters::Add(counters_.errors);
      return options_.strict ? s : Status::Ok();
    }
    if (replies[0]->type != REDIS_REPLY_INTEGER) {
      Counters::Add(counters_.errors);
      return options_.strict ? Status::IOError("redis EXISTS: unexpected reply") : Status::Ok();
    }
    *present = replies[0]->integer > 0;
    return Status::Ok();
  }

  StoreStats Stats() const override { return counters_.Snapshot(); }
  std::string Describe() const override { return describe_; }

 private:
  std::string RedisKey(std::string_view key) const {
    std::string out;
    out.reserve(options_.prefix.size() + key.size() + 2);
    out += options_.prefix;
    out += '{';
    out += key;
    out += '}';
    return out;
  }

  // MGET in batches, pipelined; with ttls_left, one PTTL per key after them.
  Status GetManyImpl(std::span<const std::string_view> keys,
                     std::vector<std::optional<std::string>>* values,
                     std::vector<std::chrono::milliseconds>* ttls_left) {
    values->clear();
    values->resize(keys.size());
    if (ttls_left != nullptr) ttls_left->assign(keys.size(), std::chrono::milliseconds{0});
    if (keys.empty()) return Status::Ok();
    std::vector<std::string> rkeys;
    rkeys.reserve(keys.size());
    for (std::string_view key : keys) {
      if (Status s = CheckKey(key); !s.ok()) return s;
      rkeys.push_back(RedisKey(key));
    }
    std::vector<Command> commands;
    for (std::size_t begin = 0; begin < rkeys.size(); begin += kMgetBatch) {
      Command& mget = commands.emplace_back();
      mget.push_back("MGET");
      for (std::size_t i = begin; i < std::min(rkeys.size(), begin + kMgetBatch); ++i) {
        mget.push_back(rkeys[i]);
      }
    }
    const std::size_t batches = commands.size();
    if (ttls_left != nullptr) {
      for (const std::string& rkey : rkeys) commands.push_back(Command{"PTTL", rkey});
    }
    std::vector<ReplyPtr> replies;
    if (Status s = Exec(commands, &replies); !s.ok()) {
      s = FailedLookup(std::move(s), keys.size());
      return s.IsNotFound() ? Status::Ok() : s;
    }
    std::uint64_t hits = 0;
    for (std::size_t batch = 0; batch < batches; ++batch) {
      const redisReply* reply = replies[batch].get();
      const std::size_t begin = batch * kMgetBatch;
      const std::size_t count = std::min(keys.size() - begin, kMgetBatch);
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != count) {
        Counters::Add(counters_.errors);
        if (options_.strict) {
          return Status::IOError("redis MGET: " + (reply->type == REDIS_REPLY_ERROR
                                                       ? ReplyError(reply)
                                                       : std::string("unexpected reply")));
        }
        continue;
      }
      for (std::size_t i = 0; i < count; ++i) {
        const redisReply* element = reply->element[i];
        if (element->type != REDIS_REPLY_STRING) continue;
        (*values)[begin + i].emplace(element->str, element->len);
        ++hits;
        const redisReply* pttl =
            ttls_left != nullptr ? replies[batches + begin + i].get() : nullptr;
        if (pttl != nullptr && pttl->type == REDIS_REPLY_INTEGER && pttl->integer >= 0) {
          (*ttls_left)[begin + i] =
              std::chrono::milliseconds(std::max<long long>(pttl->integer, 1));
        }
      }
    }
    Counters::Add(counters_.hits, hits);
    Counters::Add(counters_.misses, keys.size() - hits);
    return Status::Ok();
  }

  // A lookup that could not be answered: a counted miss, or the error itself
  // when strict.
  Status FailedLookup(Status error, std::size_t keys) {
    Counters::Add(counters_.errors);
    Counters::Add(counters_.misses, keys);
    if (options_.strict) return error;
    return Status::NotFound(error.message());
  }

  Status TakeString(const redisReply* reply, std::string* value) {
    if (reply->type == REDIS_REPLY_STRING) {
      value->assign(reply->str, reply->len);
      Counters::Add(counters_.hits);
      return Status::Ok();
    }
    if (reply->type == REDIS_REPLY_NIL) {
      Counters::Add(counters_.misses);
      return Status::NotFound();
    }
    const std::string what = reply->type == REDIS_REPLY_ERROR
                                 ? ReplyError(reply)
                                 : "unexpected reply type " + std::to_string(reply->type);
    return FailedLookup(Status::IOError("redis GET: " + what), 1);
  }

  // Sends `commands` pipelined on one connection; on success `replies` has one
  // reply per command (error replies included).
  Status Exec(std::span<const Command> commands, std::vector<ReplyPtr>* replies) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      ContextPtr ctx;
      bool fresh = false;
      if (Status s = pool_.Acquire(&ctx, &fresh); !s.ok()) return s;
      replies->clear();
      bool sent = true;
      int saved_errno = 0;
      {
        SigpipeGuard guard;
        for (const Command& command : commands) {
          if (!AppendCommand(ctx.get(), command)) {
            sent = false;
            break;
          }
        }
        while (sent && replies->size() < commands.size()) {
          void* raw = nullptr;
          if (redisGetReply(ctx.get(), &raw) != REDIS_OK) {
            saved_errno = errno;
            sent = false;
            break;
          }
          replies->emplace_back(static_cast<redisReply*>(raw));
        }
      }
      if (sent) {
        pool_.Release(std::move(ctx));
        return Status::Ok();
      }
      const std::string error = ctx->errstr;
      const bool timed_out =
          ctx->err == REDIS_ERR_IO &&
          (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT);
      pool_.Release(nullptr);
      if (!timed_out && !fresh && attempt == 0) {  // a stale pooled connection
        pool_.DropIdle();
        continue;
      }
      pool_.NoteFailure(error);
      return Status::Unavailable("redis " + pool_.Where() + ": " + error);
    }
    return Status::Unavailable("redis " + pool_.Where() + ": unreachable");  // not reached
  }

  const RedisStoreOptions options_;
  Pool pool_;
  std::string describe_;
  Counters counters_;
};

}  // namespace

Status OpenRedisStore(const RedisStoreOptions& options, std::unique_ptr<Store>* out) {
  if (options.unix_socket.empty() && options.host.empty()) {
    return Status::Error("redis store: no host and no unix socket");
  }
  if (options.prefix.find_first_of("{}") != std::string::npos) {
    return Status::Error("redis store: prefix must not contain '{' or '}'");
  }
  if (options.pool == 0) return Status::Error("redis store: pool must be at least 1");
  if (options.timeout.count() <= 0 || options.connect_timeout.count() <= 0) {
    return Status::Error("redis store: timeouts must be positive");
  }
  RedisStoreOptions copy = options;
  if (copy.backoff.count() <= 0) copy.backoff = std::chrono::milliseconds{1};
  copy.max_backoff = std::max(copy.max_backoff, copy.backoff);
  *out = std::make_unique<RedisStore>(std::move(copy));
  return Status::Ok();
}

}  // namespace memokey
