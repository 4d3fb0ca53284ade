// Redis connections (not installed): hiredis handles, pipelines, and a pool of
// blocking connections to one server with reconnect backoff. Used by the
// command router (redis_router.h), never by the store logic directly.

#ifndef MEMOKEY_SRC_STORE_REDIS_CONN_H_
#define MEMOKEY_SRC_STORE_REDIS_CONN_H_

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/time.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/status.h"
#include "memokey/store_backends.h"

namespace memokey::redis_internal {

using SteadyClock = std::chrono::steady_clock;

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextFree>;
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyFree>;

// One command's arguments (views into the caller's strings).
using Command = std::vector<std::string_view>;

timeval ToTimeval(std::chrono::milliseconds ms);

// hiredis writes with write(2): a peer that closed the socket raises SIGPIPE,
// whose default action kills the process. A library must not install signal
// handlers, so SIGPIPE is blocked in this thread for the duration of a command
// and one that we caused is consumed before unblocking.
class SigpipeGuard {
 public:
  SigpipeGuard();
  ~SigpipeGuard();
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
};

bool AppendCommand(redisContext* c, const Command& command);
std::string ReplyError(const redisReply* reply);
// True for an error reply whose text starts with `code` followed by a space
// or the end ("MOVED 12 h:1", "TRYAGAIN").
bool IsErrorCode(const redisReply* reply, std::string_view code);

// Where one Redis server listens: host:port, or a unix socket.
struct Endpoint {
  std::string host;
  int port = 0;
  std::string unix_socket;

  // "host:port", "[v6]:port" or the socket path: for messages and as a map key.
  std::string Name() const;
  bool operator==(const Endpoint&) const = default;
};

// A batch of commands written to one connection before any reply is read.
// Separate steps so that a caller can write to several servers first and only
// then wait for them all (cluster GetMany).
struct Pipeline {
  // With `asking`, every command is preceded by ASKING (which Redis Cluster
  // honours for one command only) and those replies are dropped.
  static bool Send(redisContext* c, std::span<const Command> commands, bool asking);
  // Reads one reply per command (error replies included) into *replies.
  static bool Receive(redisContext* c, std::size_t commands, bool asking,
                      std::vector<ReplyPtr>* replies);
};

// How a failed connection failed: a timeout (the server is slow or hung: do
// not retry at once) or anything else (closed, refused, reset).
bool TimedOut(const redisContext* c, int saved_errno);

// A pool of `options.pool` blocking connections to one server, opened lazily,
// with AUTH (and SELECT unless `select_db` is false) on connect. A failed
// connect starts an exponential backoff (options.backoff doubling to
// options.max_backoff, with jitter) during which Acquire fails fast instead of
// waiting for timeouts. Safe across fork(): a child drops the parent's sockets.
class Pool {
 public:
  Pool(Endpoint endpoint, const RedisStoreOptions& options);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  const Endpoint& endpoint() const { return endpoint_; }

  // A connection: pooled (*fresh false) or newly connected (*fresh true).
  Status Acquire(ContextPtr* ctx, bool* fresh);
  // Returns a healthy connection to the pool, or frees the slot of a broken
  // one (ctx null).
  void Release(ContextPtr ctx);
  // Handles a connection on which a command failed: frees its slot, and
  // either drops the idle ones (a stale pooled connection: the server
  // restarted, so the others are most likely stale too; *retry set) or starts
  // the backoff.
  void Failed(ContextPtr ctx, bool fresh, int saved_errno, bool* retry);
  void NoteFailure(const std::string& error);

  // Runs `commands` pipelined on one pooled connection, retrying once on a
  // fresh connection when a pooled one turned out stale (every command sent
  // through here is safe to repeat). On success one reply per command.
  Status Run(std::span<const Command> commands, bool asking, std::vector<ReplyPtr>* replies);

  // A connection outside the pool (a pub/sub subscriber), subject to the same
  // backoff; its failures count towards it.
  Status ConnectDedicated(ContextPtr* ctx);

 private:
  void NoteFailureLocked(const std::string& error);
  void DropIdleLocked();
  ContextPtr Connect(std::string* error) const;

  const Endpoint endpoint_;
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

}  // namespace memokey::redis_internal

#endif  // MEMOKEY_SRC_STORE_REDIS_CONN_H_
