// redis://, redis+unix:// and redis+cluster:// — a store on Redis (a single
// server or a Redis Cluster) through hiredis.
//
// This file is the store logic: key layout, replies to results, counters,
// leases. Which server runs a command, connection pools, backoff, redirects
// and the slot map are the Router's (redis_router.h): every call hands it a
// group of commands on one entry's keys plus a routing key, through one Exec
// path shared by both deployments.
//
// Keys of store key K: the value prefix{K}, the lease prefix{K}:lease and the
// lease's wake-up channel prefix{K}:done. The braces make K the Cluster hash
// tag, so an entry's keys share a slot and can be pipelined (and scripted)
// together. (Only a K starting with '}' has no tag — Cluster then hashes the
// whole key — and its value and lease are looked up in two round trips.)
//
// Values are stored framed (integrity.h): a checksum of the store key and
// the value ahead of it. Every read verifies it, so a value damaged in Redis
// (a bad restore, a stray SETRANGE, an entry renamed onto another key) or
// written by a version without frames is a counted miss and deleted, never
// returned.

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include "integrity.h"
#include "leases.h"
#include "memokey/hex.h"
#include "memokey/store_backends.h"
#include "redis_conn.h"
#include "redis_router.h"
#include "store_internal.h"

namespace memokey {
namespace {

using redis_internal::Command;
using redis_internal::ReplyError;
using redis_internal::ReplyPtr;
using redis_internal::Router;
using redis_internal::Subscription;
using store_internal::CheckKey;
using store_internal::CheckTtl;
using store_internal::Counters;
using SteadyClock = std::chrono::steady_clock;

constexpr std::size_t kMgetBatch = 256;

// A waiter sleeps at most this long between checks even when the holder's
// lease has longer to live: the fallback for a wake-up lost with a broken
// subscription or a failover, not the normal path (the release publishes).
constexpr std::chrono::milliseconds kLeasePollCap{250};

// Deletes the lease only if the caller's token still holds it, then wakes the
// waiters. A script, so that the check and the delete are one step: a
// GET-then-DEL could delete a lease that expired and was taken by someone
// else in between. PUBLISH (not the sharded SPUBLISH of Redis 7): see
// AcquireLease.
constexpr std::string_view kReleaseScript =
    "if redis.call('get', KEYS[1]) == ARGV[1] then\n"
    "  redis.call('del', KEYS[1])\n"
    "  redis.call('publish', ARGV[2], '1')\n"
    "  return 1\n"
    "end\n"
    "return 0\n";

// Deletes a damaged value only if it is still the bytes we read (ARGV[1] is
// their SHA-1): a good value that another client stored since our GET must
// survive. Not EVALSHA: it runs only when damage is found.
constexpr std::string_view kDropDamagedScript =
    "local v = redis.call('get', KEYS[1])\n"
    "if v and redis.sha1hex(v) == ARGV[1] then\n"
    "  return redis.call('del', KEYS[1])\n"
    "end\n"
    "return 0\n";

std::string Sha1Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha1(), nullptr);
  return ToHex(std::span<const std::uint8_t>(digest, size));
}

const std::string& ReleaseScriptSha() {
  static const std::string sha = Sha1Hex(kReleaseScript);
  return sha;
}

// A value read from Redis that failed verification: its Redis key and the
// SHA-1 of the bytes read (what kDropDamagedScript compares).
struct Damaged {
  std::string_view rkey;
  std::string sha1;
};

// A PTTL reply as a remaining time to live: 0 for "none" (-1), missing (-2)
// or anything unexpected; an entry with under 1 ms left gets 1 ms, since 0
// would read as "no expiry".
std::chrono::milliseconds TtlFrom(const redisReply* pttl) {
  if (pttl == nullptr || pttl->type != REDIS_REPLY_INTEGER || pttl->integer < 0) {
    return std::chrono::milliseconds{0};
  }
  return std::chrono::milliseconds(std::max<long long>(pttl->integer, 1));
}

class RedisStore final : public Store {
 public:
  explicit RedisStore(RedisStoreOptions options) : options_(std::move(options)), router_(options_) {
    using store_internal::PercentEncode;
    std::string auth;
    if (!options_.password.empty()) auth = PercentEncode(options_.user) + ":***@";
    if (router_.cluster()) {
      describe_ = "redis+cluster://" + auth;
      for (std::size_t i = 0; i < options_.cluster_seeds.size(); ++i) {
        redis_internal::Endpoint seed;
        seed.host = options_.cluster_seeds[i].host;
        seed.port = options_.cluster_seeds[i].port;
        if (i > 0) describe_ += ',';
        describe_ += seed.Name();
      }
      describe_ += "?";
    } else if (options_.unix_socket.empty()) {
      describe_ = "redis://" + auth + router_.Where() + "/" + std::to_string(options_.db) + "?";
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
    if (Status s = router_.Exec(rkey, commands, &replies); !s.ok()) {
      return FailedLookup(std::move(s), 1);
    }
    return TakeString(key, rkey, replies[0].get(), value);
  }

  Status GetWithTtl(std::string_view key, std::string* value,
                    std::chrono::milliseconds* ttl_left) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    *ttl_left = std::chrono::milliseconds{0};
    const std::string rkey = RedisKey(key);
    const Command commands[] = {{"GET", rkey}, {"PTTL", rkey}};
    std::vector<ReplyPtr> replies;
    if (Status s = router_.Exec(rkey, commands, &replies); !s.ok()) {
      return FailedLookup(std::move(s), 1);
    }
    Status s = TakeString(key, rkey, replies[0].get(), value);
    if (s.ok()) *ttl_left = TtlFrom(replies[1].get());
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
    std::string framed;
    store_internal::FrameValue(key, value, &framed);
    const std::string px = std::to_string(ttl.count());
    const Command set =
        ttl.count() > 0 ? Command{"SET", rkey, framed, "PX", px} : Command{"SET", rkey, framed};
    return Write(rkey, set, "SET", counters_.puts);
  }

  Status Delete(std::string_view key) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    const std::string rkey = RedisKey(key);
    return Write(rkey, Command{"DEL", rkey}, "DEL", counters_.deletes);
  }

  Status Contains(std::string_view key, bool* present) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    *present = false;
    const std::string rkey = RedisKey(key);
    const Command commands[] = {{"EXISTS", rkey}};
    std::vector<ReplyPtr> replies;
    if (Status s = router_.Exec(rkey, commands, &replies); !s.ok()) {
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

  // SCAN MATCH prefix{*} (the prefix's glob characters escaped): lease keys
  // (prefix{K}:lease) do not match. Per batch of keys, one pipeline of
  // STRLEN, PTTL and OBJECT IDLETIME each (and GETRANGE for heads); a key
  // gone meanwhile is skipped.
  using Store::Scan;
  Status Scan(const ScanOptions& options,
              const std::function<bool(const StoreEntry&)>& visit) override {
    if (router_.cluster()) return ClusterCannot("list its entries");
    std::unordered_set<std::string> seen;  // SCAN may report a key twice
    std::string cursor = "0";
    do {
      std::vector<std::string> rkeys;
      if (Status s = ScanStep(&cursor, &rkeys); !s.ok()) return s;
      if (rkeys.empty()) continue;
      const bool heads = options.head_bytes > 0;
      const std::size_t per_key = heads ? 4 : 3;
      // The head of the value is behind its frame ("mk1" + checksum).
      const std::string last_byte =
          heads ? std::to_string(store_internal::kFrameBytes + options.head_bytes - 1) : "";
      std::vector<Command> commands;
      commands.reserve(per_key * rkeys.size());
      for (const std::string& rkey : rkeys) {
        commands.push_back({"STRLEN", rkey});
        commands.push_back({"PTTL", rkey});
        commands.push_back({"OBJECT", "IDLETIME", rkey});
        if (heads) commands.push_back({"GETRANGE", rkey, "0", last_byte});
      }
      std::vector<ReplyPtr> replies;
      if (Status s = router_.Exec(rkeys[0], commands, &replies); !s.ok()) {
        Counters::Add(counters_.errors);
        return s;
      }
      for (std::size_t i = 0; i < rkeys.size(); ++i) {
        const redisReply* len = replies[per_key * i].get();
        const redisReply* pttl = replies[per_key * i + 1].get();
        const redisReply* idle = replies[per_key * i + 2].get();
        if (len->type != REDIS_REPLY_INTEGER || pttl->type != REDIS_REPLY_INTEGER ||
            pttl->integer == -2 || !seen.insert(rkeys[i]).second) {
          continue;  // gone since SCAN saw it, not a string, or seen already
        }
        StoreEntry e;
        e.key = rkeys[i].substr(options_.prefix.size() + 1,
                                rkeys[i].size() - options_.prefix.size() - 2);
        const auto framed = static_cast<std::uint64_t>(std::max<long long>(0, len->integer));
        e.value_bytes =
            framed > store_internal::kFrameBytes ? framed - store_internal::kFrameBytes : 0;
        if (pttl->integer >= 0) e.ttl_left = std::chrono::milliseconds(pttl->integer);
        if (idle->type == REDIS_REPLY_INTEGER && idle->integer >= 0) {
          e.idle = std::chrono::seconds(idle->integer);
        }
        if (heads) {
          // Unframed like Get does, minus the checksum (which needs the whole
          // value): a value without the frame's magic gets no head.
          const redisReply* range = replies[per_key * i + 3].get();
          if (range->type == REDIS_REPLY_STRING) {
            const std::string_view got(range->str, range->len);
            if (got.size() >= store_internal::kFrameBytes &&
                got.substr(0, store_internal::kFrameMagic.size()) == store_internal::kFrameMagic) {
              e.head.assign(got.substr(store_internal::kFrameBytes));
            }
          }
        }
        if (!visit(e)) return Status::Ok();
      }
    } while (cursor != "0");
    return Status::Ok();
  }

  // SCAN and UNLINK, a batch at a time: never FLUSHDB (others may share the
  // database), never KEYS (it blocks the server).
  Status Clear(std::uint64_t* removed, const StoreProgress& progress) override {
    *removed = 0;
    if (router_.cluster()) return ClusterCannot("be cleared");
    std::string cursor = "0";
    do {
      std::vector<std::string> rkeys;
      if (Status s = ScanStep(&cursor, &rkeys); !s.ok()) return s;
      if (rkeys.empty()) continue;
      Command unlink{"UNLINK"};
      for (const std::string& rkey : rkeys) unlink.push_back(rkey);
      std::vector<ReplyPtr> replies;
      if (Status s = router_.Exec(rkeys[0], std::span(&unlink, 1), &replies); !s.ok()) {
        Counters::Add(counters_.errors);
        return s;
      }
      if (replies[0]->type != REDIS_REPLY_INTEGER) {
        Counters::Add(counters_.errors);
        return Status::IOError("redis UNLINK: " + ReplyError(replies[0].get()));
      }
      const auto n = static_cast<std::uint64_t>(std::max<long long>(0, replies[0]->integer));
      *removed += n;
      Counters::Add(counters_.deletes, n);
      if (progress && !progress(*removed)) return Status::Ok();
    } while (cursor != "0");
    return Status::Ok();
  }

  // Leases (store.h): SET prefix{K}:lease <token> NX PX <ttl>, pipelined with
  // the value lookup. A waiter subscribes to prefix{K}:done, which the
  // holder's release publishes, and re-checks after subscribing, so a release
  // between its first check and its subscription is not missed; it sleeps at
  // most until the lease's own expiry (a holder that died never publishes)
  // and kLeasePollCap.
  //
  // Cluster: classic SUBSCRIBE/PUBLISH rather than Redis 7's sharded
  // SSUBSCRIBE/SPUBLISH. A PUBLISH reaches subscribers on every node, so a
  // waiter's subscription stays valid across a failover or a slot migration
  // (a sharded one is dropped by the node that loses the slot) and Redis 6
  // clusters work too. The price is that each release is broadcast over the
  // cluster bus — one small message per computed value, next to the
  // computation negligible. Waiters still subscribe on the slot's master, the
  // node that runs the release, so the message does not depend on the bus.
  //
  // Backend failures are Status::Unavailable whether or not the store is
  // strict: the contract's "compute anyway", which is what a miss leads to.
  Status AcquireLease(std::string_view key, const LeaseOptions& options,
                      LeaseResult* out) override {
    *out = LeaseResult{};
    if (Status s = CheckKey(key); !s.ok()) return s;
    if (options.ttl.count() <= 0) return Status::Error("lease ttl must be positive");
    if (options.wait.count() < 0) return Status::Error("lease wait must not be negative");
    const std::string vkey = RedisKey(key);
    const std::string lkey = vkey + ":lease";
    const std::string channel = vkey + ":done";
    const std::string token = store_internal::NewLeaseToken();
    const std::string px = std::to_string(options.ttl.count());
    const auto deadline = SteadyClock::now() + options.wait;
    Subscription subscription;
    bool subscribe_tried = false;
    while (true) {
      LeaseRound round;
      if (Status s = TryLease(key, vkey, lkey, token, px, options.check_value, &round); !s.ok()) {
        Counters::Add(counters_.errors);
        *out = LeaseResult{};
        return s;
      }
      if (round.has_value) {
        // A value stored before the previous holder released: hand it over,
        // and give back the lease we may just have taken.
        if (round.granted) (void)RunReleaseScript(lkey, token, channel);
        Counters::Add(counters_.hits);
        out->state = LeaseResult::State::kValue;
        out->value = std::move(round.value);
        out->ttl_left = round.ttl_left;
        return Status::Ok();
      }
      if (round.granted) {
        out->state = LeaseResult::State::kGranted;
        out->token = token;
        return Status::Ok();
      }
      out->waited = true;
      const auto now = SteadyClock::now();
      if (now >= deadline) {
        out->state = LeaseResult::State::kTimedOut;
        return Status::Ok();
      }
      if (!subscribe_tried) {
        // Once: without a subscription (pub/sub refused, say) waiting is
        // polling at kLeasePollCap.
        subscribe_tried = true;
        if (router_.Subscribe(lkey, channel, &subscription).ok()) continue;  // re-check first
      }
      auto block =
          std::min(std::chrono::ceil<std::chrono::milliseconds>(deadline - now), kLeasePollCap);
      if (round.lease_pttl >= 0) {
        // The holder's lease ends by itself then (it may have died).
        block = std::min(block, std::chrono::milliseconds(round.lease_pttl + 1));
      } else if (round.lease_pttl == -2) {
        continue;  // expired between our SET NX and PTTL: try again at once
      }
      if (subscription.active()) {
        bool message = false;
        (void)subscription.Wait(block, &message);  // broken: polling from now on
      } else {
        std::this_thread::sleep_for(block);
      }
    }
  }

  Status ReleaseLease(std::string_view key, std::string_view token) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    if (token.empty()) return Status::Error("empty lease token");
    const std::string vkey = RedisKey(key);
    if (Status s = RunReleaseScript(vkey + ":lease", token, vkey + ":done"); !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    return Status::Ok();
  }

  StoreStats Stats() const override { return counters_.Snapshot(); }
  std::string Describe() const override { return describe_; }
  bool strict() const override { return options_.strict; }

 private:
  struct LeaseRound {
    bool granted = false;
    bool has_value = false;
    std::string value;
    std::chrono::milliseconds ttl_left{0};
    long long lease_pttl = -1;  // the lease's remaining ms; -1 none or unknown, -2 gone
  };

  // Keys per SCAN step (a hint to the server) and so per pipeline.
  static constexpr std::string_view kScanCount = "1000";

  // One SCAN step over this store's keys: *cursor in and out, *rkeys the
  // Redis keys of entries (prefix{K}) it returned.
  Status ScanStep(std::string* cursor, std::vector<std::string>* rkeys) {
    std::string pattern;
    for (char ch : options_.prefix) {  // the prefix taken literally
      if (ch == '*' || ch == '?' || ch == '[' || ch == ']' || ch == '\\') pattern += '\\';
      pattern += ch;
    }
    pattern += "{*}";
    const Command scan{"SCAN", *cursor, "MATCH", pattern, "COUNT", kScanCount};
    std::vector<ReplyPtr> replies;
    if (Status s = router_.Exec(options_.prefix, std::span(&scan, 1), &replies); !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    const redisReply* r = replies[0].get();
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
      Counters::Add(counters_.errors);
      return Status::IOError("redis SCAN: unexpected reply" +
                             (r->type == REDIS_REPLY_ERROR ? ": " + ReplyError(r) : ""));
    }
    cursor->assign(r->element[0]->str, r->element[0]->len);
    for (std::size_t i = 0; i < r->element[1]->elements; ++i) {
      const redisReply* k = r->element[1]->element[i];
      if (k->type != REDIS_REPLY_STRING) continue;
      std::string rkey(k->str, k->len);
      // MATCH's * also spans '}': keep only prefix{K} with K non-empty.
      if (rkey.size() >= options_.prefix.size() + 3 && rkey.starts_with(options_.prefix) &&
          rkey[options_.prefix.size()] == '{' && rkey.back() == '}') {
        rkeys->push_back(std::move(rkey));
      }
    }
    return Status::Ok();
  }

  Status ClusterCannot(std::string_view what) const {
    return Status::Error(
        describe_ + ": a Redis Cluster store cannot " + std::string(what) +
        " (SCAN runs per node; use each node's redis:// URL with the same prefix)");
  }

  std::string RedisKey(std::string_view key) const {
    std::string out;
    out.reserve(options_.prefix.size() + key.size() + 2);
    out += options_.prefix;
    out += '{';
    out += key;
    out += '}';
    return out;
  }

  // One attempt: SET NX the lease and (check_value) look the value up after
  // it in the same round trip. After, not before: a previous holder stores
  // the value before releasing, so a lease granted after its release comes
  // with its value, and we do not compute it twice.
  Status TryLease(std::string_view key, const std::string& vkey, const std::string& lkey,
                  const std::string& token, const std::string& px, bool check_value,
                  LeaseRound* round) {
    const Command commands[] = {
        {"SET", lkey, token, "NX", "PX", px}, {"PTTL", lkey}, {"GET", vkey}, {"PTTL", vkey}};
    std::vector<ReplyPtr> replies;
    const std::size_t count = check_value ? 4 : 2;
    if (!check_value || !router_.cluster() ||
        redis_internal::KeySlot(vkey) == redis_internal::KeySlot(lkey)) {
      if (Status s = router_.Exec(lkey, std::span(commands, count), &replies); !s.ok()) return s;
    } else {
      std::vector<ReplyPtr> value_replies;
      if (Status s = router_.Exec(lkey, std::span(commands, 2), &replies); !s.ok()) return s;
      if (Status s = router_.Exec(vkey, std::span(commands + 2, 2), &value_replies); !s.ok()) {
        return s;
      }
      for (ReplyPtr& reply : value_replies) replies.push_back(std::move(reply));
    }
    const redisReply* set = replies[0].get();
    if (set->type == REDIS_REPLY_ERROR) return Status::IOError("redis SET NX: " + ReplyError(set));
    round->granted = set->type == REDIS_REPLY_STATUS;
    if (replies[1]->type == REDIS_REPLY_INTEGER) round->lease_pttl = replies[1]->integer;
    if (check_value) {
      const redisReply* get = replies[2].get();
      if (get->type == REDIS_REPLY_STRING) {
        round->value.assign(get->str, get->len);
        if (store_internal::UnframeValue(key, &round->value)) {
          round->has_value = true;
          round->ttl_left = TtlFrom(replies[3].get());
        } else {
          // No value, then: the lease (if granted) is for recomputing it.
          DropDamaged(vkey, &round->value);
          Counters::Add(counters_.misses);
        }
      } else if (get->type != REDIS_REPLY_NIL) {
        if (round->granted) (void)RunReleaseScript(lkey, token, vkey + ":done");
        return Status::IOError("redis GET: " + (get->type == REDIS_REPLY_ERROR
                                                    ? ReplyError(get)
                                                    : std::string("unexpected reply")));
      }
    }
    return Status::Ok();
  }

  // EVALSHA, or EVAL when this server has not cached the script yet (a
  // restart, a new node).
  Status RunReleaseScript(const std::string& lkey, std::string_view token,
                          const std::string& channel) {
    const std::string& sha = ReleaseScriptSha();
    std::vector<ReplyPtr> replies;
    const Command evalsha = {"EVALSHA", sha, "1", lkey, token, channel};
    if (Status s = router_.Exec(lkey, std::span(&evalsha, 1), &replies); !s.ok()) return s;
    if (redis_internal::IsErrorCode(replies[0].get(), "NOSCRIPT")) {
      const Command eval = {"EVAL", kReleaseScript, "1", lkey, token, channel};
      if (Status s = router_.Exec(lkey, std::span(&eval, 1), &replies); !s.ok()) return s;
    }
    if (replies[0]->type == REDIS_REPLY_ERROR) {
      return Status::IOError("redis lease release: " + ReplyError(replies[0].get()));
    }
    return Status::Ok();
  }

  Status Write(const std::string& rkey, const Command& command, const char* what,
               std::atomic<std::uint64_t>& success) {
    std::vector<ReplyPtr> replies;
    if (Status s = router_.Exec(rkey, std::span(&command, 1), &replies); !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    if (replies[0]->type == REDIS_REPLY_ERROR) {
      Counters::Add(counters_.errors);
      return Status::IOError(std::string("redis ") + what + ": " + ReplyError(replies[0].get()));
    }
    Counters::Add(success);
    return Status::Ok();
  }

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
    return router_.cross_slot_ok() ? GetManyMget(keys, rkeys, values, ttls_left)
                                   : GetManyPerKey(keys, rkeys, values, ttls_left);
  }

  // A single server: MGET in batches, pipelined; with ttls_left, one PTTL per
  // key after them.
  Status GetManyMget(std::span<const std::string_view> keys, const std::vector<std::string>& rkeys,
                     std::vector<std::optional<std::string>>* values,
                     std::vector<std::chrono::milliseconds>* ttls_left) {
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
    if (Status s = router_.Exec(rkeys[0], commands, &replies); !s.ok()) {
      s = FailedLookup(std::move(s), rkeys.size());
      return s.IsNotFound() ? Status::Ok() : s;
    }
    std::uint64_t hits = 0;
    std::vector<Damaged> damaged;
    for (std::size_t batch = 0; batch < batches; ++batch) {
      const redisReply* reply = replies[batch].get();
      const std::size_t begin = batch * kMgetBatch;
      const std::size_t count = std::min(rkeys.size() - begin, kMgetBatch);
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != count) {
        Counters::Add(counters_.errors);
        if (options_.strict) {
          DropDamaged(damaged);
          return Status::IOError("redis MGET: " + (reply->type == REDIS_REPLY_ERROR
                                                       ? ReplyError(reply)
                                                       : std::string("unexpected reply")));
        }
        continue;
      }
      for (std::size_t i = 0; i < count; ++i) {
        const redisReply* element = reply->element[i];
        if (element->type != REDIS_REPLY_STRING) continue;
        std::optional<std::string>& value = (*values)[begin + i];
        value.emplace(element->str, element->len);
        if (!store_internal::UnframeValue(keys[begin + i], &*value)) {
          damaged.push_back({rkeys[begin + i], Sha1Hex(*value)});
          value.reset();
          continue;
        }
        ++hits;
        if (ttls_left != nullptr) {
          (*ttls_left)[begin + i] = TtlFrom(replies[batches + begin + i].get());
        }
      }
    }
    Counters::Add(counters_.hits, hits);
    Counters::Add(counters_.misses, rkeys.size() - hits);
    DropDamaged(damaged);
    return Status::Ok();
  }

  // Cluster: keys of different slots cannot share an MGET, so one GET (and
  // PTTL) per key, pipelined per node by the router.
  Status GetManyPerKey(std::span<const std::string_view> keys,
                       const std::vector<std::string>& rkeys,
                       std::vector<std::optional<std::string>>* values,
                       std::vector<std::chrono::milliseconds>* ttls_left) {
    const std::size_t per_key = ttls_left != nullptr ? 2 : 1;
    std::vector<Command> commands;
    commands.reserve(rkeys.size() * per_key);
    std::vector<Router::Batch> batches(rkeys.size());
    for (std::size_t i = 0; i < rkeys.size(); ++i) {
      commands.push_back(Command{"GET", rkeys[i]});
      if (ttls_left != nullptr) commands.push_back(Command{"PTTL", rkeys[i]});
    }
    for (std::size_t i = 0; i < rkeys.size(); ++i) {
      batches[i].routing_key = rkeys[i];
      batches[i].commands = std::span(commands).subspan(i * per_key, per_key);
    }
    router_.ExecBatches(batches);
    std::uint64_t hits = 0;
    std::size_t failed = 0;
    std::vector<Damaged> damaged;
    Status first_error;
    for (std::size_t i = 0; i < rkeys.size(); ++i) {
      Status s = batches[i].status;
      const redisReply* get = s.ok() ? batches[i].replies[0].get() : nullptr;
      if (s.ok() && get->type != REDIS_REPLY_STRING && get->type != REDIS_REPLY_NIL) {
        s = Status::IOError("redis GET: " + (get->type == REDIS_REPLY_ERROR
                                                 ? ReplyError(get)
                                                 : std::string("unexpected reply")));
      }
      if (!s.ok()) {
        ++failed;
        if (first_error.ok()) first_error = std::move(s);
        continue;
      }
      if (get->type != REDIS_REPLY_STRING) continue;
      std::optional<std::string>& value = (*values)[i];
      value.emplace(get->str, get->len);
      if (!store_internal::UnframeValue(keys[i], &*value)) {
        damaged.push_back({rkeys[i], Sha1Hex(*value)});
        value.reset();
        continue;
      }
      ++hits;
      if (ttls_left != nullptr) (*ttls_left)[i] = TtlFrom(batches[i].replies[1].get());
    }
    Counters::Add(counters_.hits, hits);
    Counters::Add(counters_.misses, rkeys.size() - hits);
    DropDamaged(damaged);
    if (failed > 0) {
      Counters::Add(counters_.errors);
      if (options_.strict) return first_error;
    }
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

  Status TakeString(std::string_view key, const std::string& rkey, const redisReply* reply,
                    std::string* value) {
    if (reply->type == REDIS_REPLY_STRING) {
      value->assign(reply->str, reply->len);
      if (!store_internal::UnframeValue(key, value)) {
        DropDamaged(rkey, value);
        Counters::Add(counters_.misses);
        return Status::NotFound("damaged value (checksum mismatch): deleted");
      }
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

  // A value that failed verification (read into *stored, cleared here):
  // counted and deleted. The caller counts the miss.
  void DropDamaged(const std::string& rkey, std::string* stored) {
    Damaged one{rkey, Sha1Hex(*stored)};
    stored->clear();
    DropDamaged(std::span(&one, 1));
  }

  // Best effort: a delete that fails leaves the entry to fail verification
  // again on its next read, and is not a failure of the lookup.
  void DropDamaged(std::span<const Damaged> damaged) {
    if (damaged.empty()) return;
    Counters::Add(counters_.damaged, damaged.size());
    std::vector<Command> commands;
    commands.reserve(damaged.size());
    for (const Damaged& d : damaged) {
      commands.push_back(Command{"EVAL", kDropDamagedScript, "1", d.rkey, d.sha1});
    }
    std::vector<Router::Batch> batches(damaged.size());
    for (std::size_t i = 0; i < damaged.size(); ++i) {
      batches[i].routing_key = damaged[i].rkey;
      batches[i].commands = std::span(&commands[i], 1);
    }
    router_.ExecBatches(batches);
  }

  const RedisStoreOptions options_;
  Router router_;
  std::string describe_;
  Counters counters_;
};

Status CheckPort(int port, std::string_view what) {
  if (port <= 0 || port > 65535) {
    return Status::Error("redis store: " + std::string(what) + " port " + std::to_string(port) +
                         " is not in 1..65535");
  }
  return Status::Ok();
}

}  // namespace

Status OpenRedisStore(const RedisStoreOptions& options, std::unique_ptr<Store>* out) {
  if (!options.cluster_seeds.empty()) {
    if (!options.unix_socket.empty()) {
      return Status::Error(
          "redis store: Redis Cluster nodes are reached over TCP, not a unix socket");
    }
    if (options.db != 0) {
      return Status::Error("redis store: Redis Cluster has only database 0 (got db " +
                           std::to_string(options.db) + ")");
    }
    for (const RedisStoreOptions::Seed& seed : options.cluster_seeds) {
      if (seed.host.empty()) return Status::Error("redis store: a cluster seed has no host");
      if (Status s = CheckPort(seed.port, "cluster seed"); !s.ok()) return s;
    }
  } else if (options.unix_socket.empty() && options.host.empty()) {
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
