// Redis command routing (not installed): which server runs a command.
//
// The store logic (redis_store.cc) hands every command group to one Exec
// path together with a routing key (a Redis key the group addresses); the
// Router sends it to the right server. One Router serves both deployments:
//
//   * a single server (redis://, redis+unix://): every slot is that server;
//   * Redis Cluster (redis+cluster://): the slot of the routing key — CRC16
//     (XMODEM) of its hash tag mod 16384, as the Cluster spec defines — picks
//     the master from a slot map read with CLUSTER SLOTS (seeds tried in
//     turn). MOVED updates that slot, refreshes the map (at most every
//     kMinRefreshInterval) and retries on the named node; ASK retries once on
//     the target behind ASKING, leaving the map alone; TRYAGAIN, CLUSTERDOWN
//     and unreachable nodes get a few retries, with a map refresh, within the
//     command timeout. A refresh happens on each such sign of a topology
//     change, not periodically.
//
// Each node has its own connection pool (redis_conn.h), so backoff, fork
// safety and stale-connection retries are per node.

#ifndef MEMOKEY_SRC_STORE_REDIS_ROUTER_H_
#define MEMOKEY_SRC_STORE_REDIS_ROUTER_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "memokey/status.h"
#include "memokey/store_backends.h"
#include "redis_conn.h"

namespace memokey::redis_internal {

inline constexpr std::size_t kClusterSlots = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), Redis Cluster's
// key hash. Crc16("123456789") == 0x31C3.
std::uint16_t Crc16(std::string_view data);
// The Cluster slot of a key: the hash of the text between the first '{' and
// the next '}' when that is non-empty, else of the whole key.
std::uint16_t KeySlot(std::string_view key);

// A connection subscribed to one pub/sub channel, outside any pool.
class Subscription {
 public:
  Subscription() = default;
  explicit Subscription(ContextPtr ctx) : ctx_(std::move(ctx)) {}

  bool active() const { return ctx_ != nullptr; }
  // Waits up to `timeout` for a message on the channel. OK with *message
  // false on timeout; an error (and the subscription inactive) when the
  // connection broke.
  Status Wait(std::chrono::milliseconds timeout, bool* message);

 private:
  ContextPtr ctx_;
};

class Router {
 public:
  explicit Router(const RedisStoreOptions& options);
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  bool cluster() const { return cluster_; }
  // Whether one command may name keys of different slots (MGET of unrelated
  // keys): only on a single server.
  bool cross_slot_ok() const { return !cluster_; }
  // The server or seed list, for messages.
  std::string Where() const;

  // Runs `commands` pipelined on the server for `routing_key`'s slot; every
  // key they name must share that slot, and each must be safe to repeat (a
  // redirect or a stale connection resends them). On success *replies holds
  // one reply per command (error replies included).
  Status Exec(std::string_view routing_key, std::span<const Command> commands,
              std::vector<ReplyPtr>* replies);

  // Independent groups, each as Exec would run it, but with one pipeline per
  // server: every server is written to before any is read, so a GetMany
  // over N nodes costs about one round trip. Groups that met a redirect or a
  // broken connection are rerun one by one through Exec.
  struct Batch {
    std::string_view routing_key;
    std::span<const Command> commands;
    std::vector<ReplyPtr> replies;
    Status status;
  };
  void ExecBatches(std::span<Batch> batches);

  // Subscribes to `channel` on a dedicated connection to the server of
  // `routing_key`'s slot.
  Status Subscribe(std::string_view routing_key, std::string_view channel, Subscription* out);

 private:
  struct Node {
    Node(Endpoint endpoint, const RedisStoreOptions& options)
        : pool(std::move(endpoint), options) {}
    Pool pool;
  };
  using NodePtr = std::shared_ptr<Node>;
  static constexpr std::uint16_t kNoNode = 0xFFFF;
  static constexpr std::chrono::milliseconds kMinRefreshInterval{100};

  // The node serving `slot`, or null (cluster without a map for it yet: a
  // refresh is attempted first).
  NodePtr NodeFor(std::uint16_t slot);
  NodePtr NodeForLocked(std::uint16_t slot) const;
  NodePtr NodeAt(const Endpoint& endpoint);
  // Re-reads the slot map. Rate-limited; with `wait` false, returns at once
  // when another thread is already refreshing.
  void Refresh(bool wait);
  Status LoadSlots(const NodePtr& node, std::string* error);
  // Acts on a MOVED / ASK / TRYAGAIN / CLUSTERDOWN reply: *next and *asking
  // say where the retry goes.
  Status Redirected(std::uint16_t slot, const NodePtr& node, const redisReply* reply, int attempt,
                    SteadyClock::time_point deadline, NodePtr* next, bool* asking);
  Status NoNode(std::uint16_t slot);

  const RedisStoreOptions& options_;
  const bool cluster_;
  NodePtr single_;               // !cluster_
  std::vector<Endpoint> seeds_;  // cluster_

  mutable std::shared_mutex map_mu_;      // guards slots_, owners_, nodes_
  std::vector<std::uint16_t> slots_;      // slot -> index in owners_, kNoNode
  std::vector<NodePtr> owners_;           // the masters of the map
  std::map<std::string, NodePtr> nodes_;  // by Endpoint::Name(): pools outlive map changes

  std::mutex refresh_mu_;
  SteadyClock::time_point last_refresh_{};  // guarded by refresh_mu_
  std::string refresh_error_;               // guarded by refresh_mu_: why the last refresh failed
};

}  // namespace memokey::redis_internal

#endif  // MEMOKEY_SRC_STORE_REDIS_ROUTER_H_
