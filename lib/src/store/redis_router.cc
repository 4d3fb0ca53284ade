// Redis command routing: see redis_router.h.

#include "redis_router.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <optional>
#include <thread>
#include <utility>

namespace memokey::redis_internal {

namespace {

constexpr std::array<std::uint16_t, 256> MakeCrc16Table() {
  std::array<std::uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    auto crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<std::uint16_t>((crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    table[i] = crc;
  }
  return table;
}
constexpr std::array<std::uint16_t, 256> kCrc16Table = MakeCrc16Table();

// More attempts than any sane redirect chain needs (a MOVED, then an ASK
// during a migration), few enough that a confused cluster cannot keep a
// caller spinning.
constexpr int kMaxAttempts = 6;

// The pause before retrying TRYAGAIN / CLUSTERDOWN: short, doubling, and
// never past the command's deadline.
std::chrono::milliseconds RetryPause(int attempt, SteadyClock::time_point deadline) {
  const auto pause = std::min(std::chrono::milliseconds(20) * (1 << std::min(attempt, 4)),
                              std::chrono::milliseconds(200));
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return std::max(std::chrono::milliseconds(0), std::min(pause, left));
}

// The first reply that asks for routing work, if any.
const redisReply* FindRedirect(const std::vector<ReplyPtr>& replies) {
  for (const ReplyPtr& reply : replies) {
    if (reply->type != REDIS_REPLY_ERROR) continue;
    if (IsErrorCode(reply.get(), "MOVED") || IsErrorCode(reply.get(), "ASK") ||
        IsErrorCode(reply.get(), "TRYAGAIN") || IsErrorCode(reply.get(), "CLUSTERDOWN")) {
      return reply.get();
    }
  }
  return nullptr;
}

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 :6381" -> slot and endpoint. An
// empty host means "the host you just asked" (Redis 7, unknown endpoints).
std::optional<std::pair<std::uint16_t, Endpoint>> ParseRedirect(std::string_view text,
                                                                const Endpoint& asked) {
  const std::size_t first = text.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = text.find(' ', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  const std::string_view slot_text = text.substr(first + 1, second - first - 1);
  std::string_view where = text.substr(second + 1);
  unsigned slot = 0;
  if (std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot).ec !=
          std::errc() ||
      slot >= kClusterSlots) {
    return std::nullopt;
  }
  const std::size_t colon = where.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  int port = 0;
  const std::string_view port_text = where.substr(colon + 1);
  if (std::from_chars(port_text.data(), port_text.data() + port_text.size(), port).ec !=
          std::errc() ||
      port <= 0 || port > 65535) {
    return std::nullopt;
  }
  std::string_view host = where.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  Endpoint endpoint;
  endpoint.host = host.empty() ? asked.host : std::string(host);
  endpoint.port = port;
  return std::make_pair(static_cast<std::uint16_t>(slot), std::move(endpoint));
}

}  // namespace

std::uint16_t Crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (char c : data) {
    crc = static_cast<std::uint16_t>(
        (crc << 8) ^ kCrc16Table[((crc >> 8) ^ static_cast<unsigned char>(c)) & 0xFF]);
  }
  return crc;
}

std::uint16_t KeySlot(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close != open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return static_cast<std::uint16_t>(Crc16(key) & (kClusterSlots - 1));
}

// --- Subscription -------------------------------------------------------------

Status Subscription::Wait(std::chrono::milliseconds timeout, bool* message) {
  *message = false;
  if (!ctx_) return Status::Unavailable("redis subscription: not connected");
  const auto deadline = SteadyClock::now() + timeout;
  auto broken = [this](const char* what) {
    const std::string error = std::string("redis subscription: ") + what + ": " + ctx_->errstr;
    ctx_.reset();
    return Status::Unavailable(error);
  };
  while (true) {
    // Replies already read from the socket come first: poll() cannot see them.
    void* raw = nullptr;
    if (redisGetReplyFromReader(ctx_.get(), &raw) != REDIS_OK) return broken("bad reply");
    if (raw != nullptr) {
      ReplyPtr reply(static_cast<redisReply*>(raw));
      if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3 &&
          reply->element[0]->type == REDIS_REPLY_STRING &&
          std::string_view(reply->element[0]->str, reply->element[0]->len) == "message") {
        *message = true;
        return Status::Ok();
      }
      continue;  // not a message (a late subscribe confirmation): keep waiting
    }
    const auto left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now()).count();
    if (left <= 0) return Status::Ok();
    pollfd pfd{};
    pfd.fd = ctx_->fd;
    pfd.events = POLLIN;
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::min<long long>(left, 60000)));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return broken("poll");
    }
    if (ready == 0) continue;  // the deadline check above ends the wait
    SigpipeGuard guard;
    if (redisBufferRead(ctx_.get()) != REDIS_OK) return broken("read");
  }
}

// --- Router ------------------------------------------------------------------

Router::Router(const RedisStoreOptions& options)
    : options_(options), cluster_(!options.cluster_seeds.empty()) {
  if (!cluster_) {
    Endpoint endpoint;
    endpoint.host = options.host;
    endpoint.port = options.port;
    endpoint.unix_socket = options.unix_socket;
    single_ = std::make_shared<Node>(std::move(endpoint), options_);
    return;
  }
  for (const RedisStoreOptions::Seed& seed : options.cluster_seeds) {
    Endpoint endpoint;
    endpoint.host = seed.host;
    endpoint.port = seed.port;
    seeds_.push_back(std::move(endpoint));
  }
  slots_.assign(kClusterSlots, kNoNode);
}

std::string Router::Where() const {
  if (!cluster_) return single_->pool.endpoint().Name();
  std::string out = "cluster ";
  for (std::size_t i = 0; i < seeds_.size(); ++i) {
    if (i > 0) out += ',';
    out += seeds_[i].Name();
  }
  return out;
}

Router::NodePtr Router::NodeForLocked(std::uint16_t slot) const {
  const std::uint16_t index = slots_[slot];
  return index == kNoNode ? nullptr : owners_[index];
}

Router::NodePtr Router::NodeFor(std::uint16_t slot) {
  if (!cluster_) return single_;
  {
    std::shared_lock lock(map_mu_);
    if (NodePtr node = NodeForLocked(slot)) return node;
  }
  Refresh(true);
  std::shared_lock lock(map_mu_);
  return NodeForLocked(slot);
}

Router::NodePtr Router::NodeAt(const Endpoint& endpoint) {
  const std::string name = endpoint.Name();
  std::lock_guard lock(map_mu_);
  NodePtr& node = nodes_[name];
  if (!node) node = std::make_shared<Node>(endpoint, options_);
  return node;
}

void Router::Refresh(bool wait) {
  std::unique_lock lock(refresh_mu_, std::defer_lock);
  if (wait) {
    lock.lock();
  } else if (!lock.try_lock()) {
    return;  // another thread is at it; its map serves us too
  }
  const auto now = SteadyClock::now();
  if (last_refresh_ != SteadyClock::time_point{} && now - last_refresh_ < kMinRefreshInterval) {
    return;
  }
  last_refresh_ = now;
  // The current masters first (the likeliest to know), then every other node
  // seen, then the seeds. A node in backoff fails at once.
  std::vector<NodePtr> candidates;
  {
    std::shared_lock map_lock(map_mu_);
    candidates = owners_;
    for (const auto& [name, node] : nodes_) {
      if (std::find(candidates.begin(), candidates.end(), node) == candidates.end()) {
        candidates.push_back(node);
      }
    }
  }
  for (const Endpoint& seed : seeds_) {
    NodePtr node = NodeAt(seed);
    if (std::find(candidates.begin(), candidates.end(), node) == candidates.end()) {
      candidates.push_back(std::move(node));
    }
  }
  std::string errors;
  for (const NodePtr& node : candidates) {
    std::string error;
    if (LoadSlots(node, &error).ok()) {
      refresh_error_.clear();
      return;
    }
    if (!errors.empty()) errors += "; ";
    errors += node->pool.endpoint().Name() + ": " + error;
  }
  refresh_error_ = std::move(errors);
}

Status Router::LoadSlots(const NodePtr& node, std::string* error) {
  const Command command = {"CLUSTER", "SLOTS"};
  std::vector<ReplyPtr> replies;
  if (Status s = node->pool.Run(std::span(&command, 1), false, &replies); !s.ok()) {
    *error = s.message();
    return s;
  }
  const redisReply* reply = replies[0].get();
  if (reply->type == REDIS_REPLY_ERROR) {
    *error = "CLUSTER SLOTS refused: " + ReplyError(reply);
    return Status::IOError(*error);
  }
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
    *error = "CLUSTER SLOTS: no slots assigned";
    return Status::IOError(*error);
  }
  const Endpoint& asked = node->pool.endpoint();
  std::vector<std::uint16_t> slots(kClusterSlots, kNoNode);
  std::vector<Endpoint> owners;
  for (std::size_t i = 0; i < reply->elements; ++i) {
    const redisReply* range = reply->element[i];
    if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
        range->element[0]->type != REDIS_REPLY_INTEGER ||
        range->element[1]->type != REDIS_REPLY_INTEGER ||
        range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2 ||
        range->element[2]->element[1]->type != REDIS_REPLY_INTEGER) {
      *error = "CLUSTER SLOTS: unexpected reply";
      return Status::IOError(*error);
    }
    const redisReply* master = range->element[2];
    Endpoint endpoint;
    // NULL or "" is "the host you asked" (unknown endpoint); "?" is a node
    // that cannot tell where it is: unusable.
    if (master->element[0]->type == REDIS_REPLY_STRING) {
      endpoint.host.assign(master->element[0]->str, master->element[0]->len);
    }
    if (endpoint.host == "?") continue;
    if (endpoint.host.empty()) endpoint.host = asked.host;
    endpoint.port = static_cast<int>(master->element[1]->integer);
    auto it = std::find(owners.begin(), owners.end(), endpoint);
    const auto index = static_cast<std::uint16_t>(it - owners.begin());
    if (it == owners.end()) owners.push_back(std::move(endpoint));
    const long long first = std::max<long long>(range->element[0]->integer, 0);
    const long long last = std::min<long long>(range->element[1]->integer, kClusterSlots - 1);
    for (long long slot = first; slot <= last; ++slot)
      slots[static_cast<std::size_t>(slot)] = index;
  }
  std::lock_guard lock(map_mu_);
  std::map<std::string, NodePtr> nodes;
  std::vector<NodePtr> owner_nodes;
  for (const Endpoint& endpoint : owners) {
    const std::string name = endpoint.Name();
    auto it = nodes_.find(name);
    NodePtr owner = it != nodes_.end() ? it->second : std::make_shared<Node>(endpoint, options_);
    nodes.emplace(name, owner);
    owner_nodes.push_back(std::move(owner));
  }
  // Nodes no longer serving slots are forgotten; their pools close once the
  // last command using them returns.
  nodes_ = std::move(nodes);
  owners_ = std::move(owner_nodes);
  slots_ = std::move(slots);
  return Status::Ok();
}

Status Router::Redirected(std::uint16_t slot, const NodePtr& node, const redisReply* reply,
                          int attempt, SteadyClock::time_point deadline, NodePtr* next,
                          bool* asking) {
  const bool moved = IsErrorCode(reply, "MOVED");
  if (moved || IsErrorCode(reply, "ASK")) {
    auto target = ParseRedirect(ReplyError(reply), node->pool.endpoint());
    if (!target) return Status::IOError("redis cluster: bad redirect '" + ReplyError(reply) + "'");
    *next = NodeAt(target->second);
    *asking = !moved;
    if (moved) {
      // Fix the one slot now (the retry needs it), then re-read the whole
      // map: a slot seldom moves alone.
      {
        std::lock_guard lock(map_mu_);
        auto it = std::find(owners_.begin(), owners_.end(), *next);
        if (it == owners_.end()) it = owners_.insert(owners_.end(), *next);
        slots_[target->first] = static_cast<std::uint16_t>(it - owners_.begin());
      }
      Refresh(false);
    }
    return Status::Ok();
  }
  // TRYAGAIN (a multi-key command during a migration) and CLUSTERDOWN (a
  // failover in progress): the same slot, a little later.
  if (IsErrorCode(reply, "CLUSTERDOWN")) Refresh(false);
  std::this_thread::sleep_for(RetryPause(attempt, deadline));
  if (IsErrorCode(reply, "CLUSTERDOWN")) {
    if (NodePtr fresh = NodeFor(slot)) {
      *next = std::move(fresh);
      *asking = false;
    }
  }
  return Status::Ok();
}

Status Router::NoNode(std::uint16_t slot) {
  std::lock_guard lock(refresh_mu_);
  return Status::Unavailable(
      "redis " + Where() + ": no node serves slot " + std::to_string(slot) +
      (refresh_error_.empty() ? std::string(" (cluster down?)") : " (" + refresh_error_ + ")"));
}

Status Router::Exec(std::string_view routing_key, std::span<const Command> commands,
                    std::vector<ReplyPtr>* replies) {
  const std::uint16_t slot = cluster_ ? KeySlot(routing_key) : 0;
  NodePtr node = NodeFor(slot);
  if (!node) return NoNode(slot);
  const auto deadline = SteadyClock::now() + options_.timeout;
  bool asking = false;
  int unreachable = 0;
  Status last;
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    if (Status s = node->pool.Run(commands, asking, replies); !s.ok()) {
      if (!cluster_) return s;
      // An unreachable master may have failed over: a fresh map names its
      // successor. While it still names this node, fail fast.
      Refresh(false);
      NodePtr next = NodeFor(slot);
      if (!next || next == node || ++unreachable > 1) return s;
      node = std::move(next);
      asking = false;
      continue;
    }
    const redisReply* redirect = FindRedirect(*replies);
    if (redirect == nullptr) return Status::Ok();
    if (!cluster_) {
      return Status::IOError("redis " + Where() + " is a Redis Cluster node (" +
                             ReplyError(redirect) + "): use a redis+cluster:// URL");
    }
    last = Status::Unavailable("redis cluster, slot " + std::to_string(slot) + ": " +
                               ReplyError(redirect));
    if (SteadyClock::now() >= deadline) break;
    NodePtr next = node;
    if (Status s = Redirected(slot, node, redirect, attempt, deadline, &next, &asking); !s.ok()) {
      return s;
    }
    node = std::move(next);
  }
  return last;
}

void Router::ExecBatches(std::span<Batch> batches) {
  if (batches.empty()) return;
  if (batches.size() == 1) {
    batches[0].status = Exec(batches[0].routing_key, batches[0].commands, &batches[0].replies);
    return;
  }
  struct Group {
    NodePtr node;
    std::vector<std::size_t> members;
    std::size_t commands = 0;
    ContextPtr ctx;
    bool fresh = false;
    Status status;  // the connection's failure
  };
  // By node name: every caller takes the connections of several pools in
  // the same order, so two GetManys cannot each hold what the other waits for.
  std::map<std::string, Group> groups;
  std::vector<std::uint16_t> slots(batches.size(), 0);
  std::vector<NodePtr> sent_to(batches.size());
  std::vector<bool> rerun(batches.size(), false);
  // A group's connection failed mid-pipeline: drop it, and rerun its
  // batches one by one if the pool says a fresh connection may do better.
  auto fail = [&rerun](const std::string& name, Group& group) {
    const int saved_errno = errno;
    const std::string error = group.ctx->errstr;
    bool retry = false;
    group.node->pool.Failed(std::move(group.ctx), group.fresh, saved_errno, &retry);
    group.status = Status::Unavailable("redis " + name + ": " + error);
    if (retry) {
      for (std::size_t i : group.members) rerun[i] = true;
    }
  };
  for (std::size_t i = 0; i < batches.size(); ++i) {
    batches[i].replies.clear();
    slots[i] = cluster_ ? KeySlot(batches[i].routing_key) : 0;
    NodePtr node = NodeFor(slots[i]);
    if (!node) {
      batches[i].status = NoNode(slots[i]);
      continue;
    }
    Group& group = groups[node->pool.endpoint().Name()];
    group.node = node;
    group.members.push_back(i);
    group.commands += batches[i].commands.size();
    sent_to[i] = std::move(node);
  }
  {
    SigpipeGuard guard;
    for (auto& [name, group] : groups) {
      if (Status s = group.node->pool.Acquire(&group.ctx, &group.fresh); !s.ok()) {
        group.status = std::move(s);
        continue;
      }
      std::vector<Command> all;  // one write for the whole group
      all.reserve(group.commands);
      for (std::size_t i : group.members) {
        all.insert(all.end(), batches[i].commands.begin(), batches[i].commands.end());
      }
      if (!Pipeline::Send(group.ctx.get(), all, false)) fail(name, group);
    }
    for (auto& [name, group] : groups) {
      if (!group.ctx) continue;
      std::vector<ReplyPtr> replies;
      if (!Pipeline::Receive(group.ctx.get(), group.commands, false, &replies)) {
        fail(name, group);
        continue;
      }
      group.node->pool.Release(std::move(group.ctx));
      std::size_t next = 0;
      for (std::size_t i : group.members) {
        for (std::size_t c = 0; c < batches[i].commands.size(); ++c) {
          batches[i].replies.push_back(std::move(replies[next++]));
        }
        batches[i].status = Status::Ok();
        if (FindRedirect(batches[i].replies) != nullptr) rerun[i] = true;
      }
    }
  }
  bool unreachable = false;
  for (auto& [name, group] : groups) {
    if (group.status.ok()) continue;
    unreachable = true;
    for (std::size_t i : group.members) batches[i].status = group.status;
  }
  // Unreachable nodes: if a fresh map moved their slots elsewhere, the
  // batches follow; otherwise they fail now rather than wait once more each.
  if (unreachable && cluster_) Refresh(false);
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (!rerun[i] && batches[i].status.ok()) continue;
    if (!rerun[i]) {
      if (!cluster_ || !sent_to[i]) continue;
      std::shared_lock lock(map_mu_);
      if (NodeForLocked(slots[i]) == sent_to[i]) continue;
    }
    batches[i].status = Exec(batches[i].routing_key, batches[i].commands, &batches[i].replies);
  }
}

Status Router::Subscribe(std::string_view routing_key, std::string_view channel,
                         Subscription* out) {
  const std::uint16_t slot = cluster_ ? KeySlot(routing_key) : 0;
  NodePtr node = NodeFor(slot);
  if (!node) return NoNode(slot);
  ContextPtr ctx;
  if (Status s = node->pool.ConnectDedicated(&ctx); !s.ok()) return s;
  SigpipeGuard guard;
  const Command subscribe = {"SUBSCRIBE", channel};
  void* raw = nullptr;
  if (!AppendCommand(ctx.get(), subscribe) || redisGetReply(ctx.get(), &raw) != REDIS_OK) {
    return Status::Unavailable("redis " + node->pool.endpoint().Name() +
                               ": SUBSCRIBE: " + ctx->errstr);
  }
  ReplyPtr reply(static_cast<redisReply*>(raw));
  if (reply->type != REDIS_REPLY_ARRAY) {
    return Status::IOError("redis SUBSCRIBE: " + (reply->type == REDIS_REPLY_ERROR
                                                      ? ReplyError(reply.get())
                                                      : std::string("unexpected reply")));
  }
  *out = Subscription(std::move(ctx));
  return Status::Ok();
}

}  // namespace memokey::redis_internal
