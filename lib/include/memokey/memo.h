// memokey/memo.h — memoizing C++ functions over a Store: the blocking C++
// front end of the memoization engine (memo_engine.h), which owns the store
// side -- lookup, single flight, leases, stale-while-revalidate, the failure
// policy and MemoStats -- for C++ and Python alike.
//
//   std::shared_ptr<memokey::Store> store = ...;            // store_spec.h: OpenStore(url)
//   auto slow_square = [](int x) { return x * x; };
//   auto square = memokey::memoize(store, "demo.square", slow_square);
//   int y = square(12);                                     // computed once, then a hit
//
// Semantics (the same as the Python decorator's):
//   * The key is KeyOf(["memokey.memo", name, version, (args...)]) in the
//     namespace of MemoOptions::key_namespace: the arguments' canonical form,
//     so equal arguments share an entry in every process and machine.
//     Changing `version` retires old entries (C++ has no bytecode to hash).
//   * The result is stored as canonical CBOR (Encode) inside a signed value
//     envelope (envelope.h); a value whose MAC does not verify is a miss,
//     counted in MemoStats::rejected — never decoded. The envelope carries
//     the function's label (FunctionLabel(key_namespace, name)), so tools
//     can find and clear one function's entries in a shared store (the
//     Python `memokey cache clear --function NAME`).
//   * Single flight in this process: concurrent callers of one cold key run
//     the function once; the others wait and get its result. If it throws,
//     every waiter gets the exception and nothing is cached. A call that
//     re-enters its own key on the same thread (recursion) computes directly
//     instead of waiting for itself.
//   * Single flight across processes and machines (MemoOptions::lease, on by
//     default): the caller that wins the in-process flight takes the store's
//     lease on the key (store.h, "Leases") — lock files for disk://, SET NX
//     PX + pub/sub for redis://, POST .../lease for memokeyd — and computes
//     only if granted; otherwise it waits for the holder's value (verified
//     like any stored value). A holder releases after storing, or at once if
//     the function throws; a holder that dies is outlived (the OS drops its
//     lock file; Redis/memokeyd expire the lease after lease_ttl).
//   * A tiered store is walked tier by tier, each tier's value verified on its
//     own: a tampered value in a fast tier is counted (MemoStats::rejected)
//     and the next tier's good value is used and copied over it.
//   * No store failure reaches the caller: a store that cannot answer (Redis
//     or memokeyd down, an I/O error, a damaged or unwritable disk
//     directory) is a miss on lookup, and a failed write, lease or release
//     is ignored -- the function's own result (or its own exception) is
//     returned either way. Each failure counts in MemoStats::store_errors,
//     and the first one of a memoized function is reported once (what
//     failed, on which store, and what to do) through
//     MemoOptions::on_store_error, by default one line on stderr.
//     MemoOptions::strict (or a store URL with strict=1) turns store
//     failures into StoreError exceptions instead, for callers that would
//     rather fail than run uncached.
//   * Result and argument types: whatever encode_cpp.h can Encode and decode_cpp.h
//     can decode (std types, user types with memokey_encode/memokey_decode).

#ifndef MEMOKEY_MEMO_H_
#define MEMOKEY_MEMO_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "memokey/cbor_reader.h"
#include "memokey/decode_cpp.h"
#include "memokey/encode_cpp.h"
#include "memokey/envelope.h"
#include "memokey/key.h"
#include "memokey/memo_engine.h"
#include "memokey/store.h"

namespace memokey {

struct MemoOptions {
  std::optional<std::string> key_namespace;  // none by default
  std::string version;                       // part of every key
  std::chrono::milliseconds ttl{0};          // 0: no expiry
  std::optional<std::string> secret;         // default: LoadSecret (MEMOKEY_SECRET or key file)
  // zstd from this many payload bytes (envelope.h)
  std::size_t compress_threshold = kDefaultCompressThreshold;
  // Single flight across processes and machines through the store's leases
  // (store.h, "Leases"): disk:// (lock files), redis://, http:// (memokeyd),
  // memory:// (this process). A holder slower than lease_ttl may see a
  // second computation (never a wrong value); a waiter gives up waiting
  // after lease_wait and computes.
  bool lease = true;
  std::chrono::milliseconds lease_ttl{60000};
  std::chrono::milliseconds lease_wait{60000};
  // Serve a value this long past `ttl` while one caller refreshes it: entries
  // are stored for ttl + stale_while_revalidate; a hit in that last stretch
  // returns the old value at once, except to the one caller that takes the
  // key's lease (without waiting), which recomputes, stores and returns the
  // new one (an exception it raises reaches that caller only). Needs ttl > 0.
  std::chrono::milliseconds stale_while_revalidate{0};
  // Store failures throw StoreError from the call instead of being counted
  // and ignored. Also on when the store's URL says strict=1 (Describe()).
  bool strict = false;
  // Called once, with the first store failure of this memoized function (a
  // sentence naming the store, the failure and what to do). Empty: written
  // to stderr. Called on the calling thread; it must not throw.
  std::function<void(const std::string&)> on_store_error;
};

// StoreError (what a strict memoized function throws) and MemoStats are in
// memo_engine.h.

// The type-independent part of a memoized function: lookup, envelope, single
// flight. Thread-safe.
class MemoCore {
 public:
  // Throws std::runtime_error when no secret can be loaded.
  MemoCore(std::shared_ptr<Store> store, std::string name, MemoOptions options);
  ~MemoCore();
  MemoCore(const MemoCore&) = delete;
  MemoCore& operator=(const MemoCore&) = delete;

  // Starts a key for one call: the caller writes the arguments' tuple.
  void BeginKey(KeyEncoder* k) const;

  // The canonical bytes of the result for `key`: from the store, or from
  // `compute` (run once per key across this process's threads, its result
  // stored). `decodes` tells whether stored bytes decode as the result type;
  // stored bytes that do not are rejected and recomputed.
  std::vector<std::uint8_t> GetOrCompute(const Key& key,
                                         const std::function<std::vector<std::uint8_t>()>& compute,
                                         const std::function<bool(ByteSpan)>& decodes);

  MemoStats Stats() const { return engine_.Stats(); }
  const std::string& name() const { return engine_.name(); }

 private:
  std::vector<std::uint8_t> Run(std::unique_ptr<MemoEngine::Ticket> ticket,
                                const std::function<std::vector<std::uint8_t>()>& compute);

  std::optional<std::string> key_namespace_;
  std::string version_;
  MemoEngine engine_;
};

template <class R, class... Args>
class Memoized {
 public:
  Memoized(std::shared_ptr<Store> store, std::string name, std::function<R(Args...)> fn,
           MemoOptions options)
      : core_(std::make_shared<MemoCore>(std::move(store), std::move(name), std::move(options))),
        fn_(std::move(fn)) {}

  R operator()(const std::remove_cvref_t<Args>&... args) const { return Call(args...); }

  // The key a call with these arguments uses.
  Key key(const std::remove_cvref_t<Args>&... args) const { return KeyFor(args...); }
  MemoStats stats() const { return core_->Stats(); }

 private:
  Key KeyFor(const std::remove_cvref_t<Args>&... args) const {
    KeyEncoder k;
    core_->BeginKey(&k);
    Encoder& e = k.encoder();
    e.tag(tag::kTuple);
    e.array(sizeof...(Args));
    (Encode(e, args), ...);
    return k.finish();
  }

  R Call(const std::remove_cvref_t<Args>&... args) const {
    std::optional<R> computed;
    auto compute = [&]() {
      computed.emplace(fn_(args...));
      return Canonical(*computed);
    };
    auto decodes = [](ByteSpan bytes) {
      Value value;
      R probe{};
      return Decode(bytes, &value).ok() && FromValue(value, &probe).ok();
    };
    const std::vector<std::uint8_t> bytes = core_->GetOrCompute(KeyFor(args...), compute, decodes);
    if (computed) return std::move(*computed);
    Value value;
    R result{};
    // GetOrCompute only returns bytes that `decodes` accepted, or our own.
    Decode(ByteSpan(bytes.data(), bytes.size()), &value);
    FromValue(value, &result);
    return result;
  }

  std::shared_ptr<MemoCore> core_;
  std::function<R(Args...)> fn_;
};

// memoize(store, "name", fn[, options]): a callable with fn's signature.
template <class F>
auto memoize(std::shared_ptr<Store> store, std::string name, F fn, MemoOptions options = {}) {
  using Signature = decltype(std::function{fn});
  return [&]<class R, class... Args>(std::function<R(Args...)>*) {
    return Memoized<R, Args...>(std::move(store), std::move(name),
                                std::function<R(Args...)>(std::move(fn)), std::move(options));
  }(static_cast<Signature*>(nullptr));
}

}  // namespace memokey

#endif  // MEMOKEY_MEMO_H_
