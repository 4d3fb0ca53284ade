// Redis connections: see redis_conn.h.

#include "redis_conn.h"

#include <pthread.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "store_internal.h"

namespace memokey::redis_internal {

timeval ToTimeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>(ms.count() % 1000 * 1000);
  return tv;
}

SigpipeGuard::SigpipeGuard() {
  sigemptyset(&pipe_);
  sigaddset(&pipe_, SIGPIPE);
  sigset_t pending;
  sigpending(&pending);
  was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
}

SigpipeGuard::~SigpipeGuard() {
  const int saved_errno = errno;  // callers read errno after a failed command
  if (!was_pending_) {
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGPIPE) == 1) {
      const timespec zero{};
      sigtimedwait(&pipe_, nullptr, &zero);
    }
  }
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  errno = saved_errno;
}

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

bool IsErrorCode(const redisReply* reply, std::string_view code) {
  if (reply == nullptr || reply->type != REDIS_REPLY_ERROR) return false;
  const std::string_view text(reply->str, reply->len);
  return text.starts_with(code) && (text.size() == code.size() || text[code.size()] == ' ');
}

std::string Endpoint::Name() const {
  if (!unix_socket.empty()) return unix_socket;
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool Pipeline::Send(redisContext* c, std::span<const Command> commands, bool asking) {
  static const Command kAsking = {"ASKING"};
  for (const Command& command : commands) {
    if (asking && !AppendCommand(c, kAsking)) return false;
    if (!AppendCommand(c, command)) return false;
  }
  // Flush now rather than in the first redisGetReply: a caller talking to
  // several servers writes to all of them before reading from any.
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(c, &done) != REDIS_OK) return false;
  }
  return true;
}

bool Pipeline::Receive(redisContext* c, std::size_t commands, bool asking,
                       std::vector<ReplyPtr>* replies) {
  const std::size_t total = asking ? 2 * commands : commands;
  for (std::size_t i = 0; i < total; ++i) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) return false;
    ReplyPtr reply(static_cast<redisReply*>(raw));
    if (asking && i % 2 == 0) continue;  // ASKING's +OK
    replies->push_back(std::move(reply));
  }
  return true;
}

bool TimedOut(const redisContext* c, int saved_errno) {
  return c->err == REDIS_ERR_IO &&
         (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT);
}

Pool::Pool(Endpoint endpoint, const RedisStoreOptions& options)
    : endpoint_(std::move(endpoint)),
      options_(options),
      generation_(store_internal::ForkGeneration()),
      rng_(std::random_device{}()) {}

Status Pool::Acquire(ContextPtr* ctx, bool* fresh) {
  std::unique_lock lock(mu_);
  if (const std::uint64_t generation = store_internal::ForkGeneration(); generation != generation_)
      [[unlikely]] {
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
        return Status::Unavailable("redis " + endpoint_.Name() + " unreachable, next attempt in " +
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
        return Status::Unavailable("redis " + endpoint_.Name() + ": " + error);
      }
      delay_ = std::chrono::milliseconds{0};
      retry_at_ = {};
      *ctx = std::move(connected);
      *fresh = true;
      return Status::Ok();
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        live_ >= options_.pool) {
      return Status::Unavailable("redis " + endpoint_.Name() + ": all " +
                                 std::to_string(options_.pool) + " connections busy for " +
                                 std::to_string(options_.timeout.count()) + " ms");
    }
  }
}

void Pool::Release(ContextPtr ctx) {
  std::lock_guard lock(mu_);
  if (ctx) {
    idle_.push_back(std::move(ctx));
  } else {
    --live_;
  }
  cv_.notify_one();
}

void Pool::Failed(ContextPtr ctx, bool fresh, int saved_errno, bool* retry) {
  const std::string error = ctx->errstr;
  const bool timed_out = TimedOut(ctx.get(), saved_errno);
  ctx.reset();
  std::lock_guard lock(mu_);
  --live_;
  cv_.notify_one();
  *retry = !timed_out && !fresh;
  if (*retry) {
    DropIdleLocked();
  } else {
    NoteFailureLocked(error);
  }
}

void Pool::NoteFailure(const std::string& error) {
  std::lock_guard lock(mu_);
  NoteFailureLocked(error);
}

Status Pool::Run(std::span<const Command> commands, bool asking, std::vector<ReplyPtr>* replies) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    ContextPtr ctx;
    bool fresh = false;
    if (Status s = Acquire(&ctx, &fresh); !s.ok()) return s;
    replies->clear();
    bool ok = false;
    int saved_errno = 0;
    {
      SigpipeGuard guard;
      ok = Pipeline::Send(ctx.get(), commands, asking) &&
           Pipeline::Receive(ctx.get(), commands.size(), asking, replies);
      if (!ok) saved_errno = errno;
    }
    if (ok) {
      Release(std::move(ctx));
      return Status::Ok();
    }
    const std::string error = ctx->errstr;
    bool retry = false;
    // A second failure is not a stale connection any more: back off.
    Failed(std::move(ctx), fresh || attempt > 0, saved_errno, &retry);
    if (retry) continue;
    return Status::Unavailable("redis " + endpoint_.Name() + ": " + error);
  }
  return Status::Unavailable("redis " + endpoint_.Name() + ": unreachable");  // not reached
}

Status Pool::ConnectDedicated(ContextPtr* ctx) {
  {
    std::lock_guard lock(mu_);
    if (const auto now = SteadyClock::now(); now < retry_at_) {
      return Status::Unavailable("redis " + endpoint_.Name() + " unreachable (" + last_error_ +
                                 ")");
    }
  }
  std::string error;
  *ctx = Connect(&error);
  if (!*ctx) {
    NoteFailure(error);
    return Status::Unavailable("redis " + endpoint_.Name() + ": " + error);
  }
  return Status::Ok();
}

void Pool::NoteFailureLocked(const std::string& error) {
  delay_ = delay_.count() == 0 ? options_.backoff : std::min(2 * delay_, options_.max_backoff);
  // Jitter (75..100% of the delay) keeps many clients from reconnecting in step.
  std::uniform_int_distribution<std::int64_t> jitter(delay_.count() * 3 / 4, delay_.count());
  retry_at_ = SteadyClock::now() + std::chrono::milliseconds(jitter(rng_));
  last_error_ = error;
}

void Pool::DropIdleLocked() {
  live_ -= static_cast<unsigned>(idle_.size());
  idle_.clear();
  cv_.notify_all();
}

ContextPtr Pool::Connect(std::string* error) const {
  const timeval connect_tv = ToTimeval(options_.connect_timeout);
  ContextPtr ctx(endpoint_.unix_socket.empty()
                     ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, connect_tv)
                     : redisConnectUnixWithTimeout(endpoint_.unix_socket.c_str(), connect_tv));
  if (!ctx) {
    *error = "cannot allocate a connection";
    return nullptr;
  }
  if (ctx->err != 0) {
    *error = std::string("connect: ") + ctx->errstr;
    return nullptr;
  }
  redisSetTimeout(ctx.get(), ToTimeval(options_.timeout));
  if (endpoint_.unix_socket.empty()) redisEnableKeepAlive(ctx.get());
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
    const Command auth = options_.user.empty() ? Command{"AUTH", options_.password}
                                               : Command{"AUTH", options_.user, options_.password};
    if (!run(auth, "AUTH")) return nullptr;
  }
  if (options_.db != 0) {
    const std::string db = std::to_string(options_.db);
    if (!run(Command{"SELECT", db}, "SELECT")) return nullptr;
  }
  return ctx;
}

}  // namespace memokey::redis_internal
