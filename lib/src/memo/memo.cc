// memokey::memoize: the blocking C++ driver over the memoization engine
// (memo_engine.h). The engine decides; this file computes and waits.

#include "memokey/memo.h"

#include <exception>
#include <functional>
#include <thread>
#include <utility>

namespace memokey {

namespace {

EngineOptions ToEngineOptions(const std::string& name, const MemoOptions& options) {
  EngineOptions out;
  out.name = name;
  out.label = FunctionLabel(options.key_namespace, name);
  out.ttl = options.ttl;
  out.secret = options.secret;
  out.compress_threshold = options.compress_threshold;
  out.lease = options.lease;
  out.lease_ttl = options.lease_ttl;
  out.lease_wait = options.lease_wait;
  out.stale_while_revalidate = options.stale_while_revalidate;
  out.strict = options.strict;
  out.on_store_error = options.on_store_error;
  return out;
}

// The engine's owner of a flight: this thread (re-entry computes directly).
std::uint64_t ThisThread() { return std::hash<std::thread::id>()(std::this_thread::get_id()); }

std::vector<std::uint8_t> Bytes(const std::string& payload) {
  const auto* data = reinterpret_cast<const std::uint8_t*>(payload.data());
  return std::vector<std::uint8_t>(data, data + payload.size());
}

std::string_view View(const std::vector<std::uint8_t>& bytes) {
  return std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

MemoCore::MemoCore(std::shared_ptr<Store> store, std::string name, MemoOptions options)
    : key_namespace_(options.key_namespace),
      version_(options.version),
      engine_(std::move(store), ToEngineOptions(name, options)) {}

MemoCore::~MemoCore() = default;

void MemoCore::BeginKey(KeyEncoder* k) const {
  k->reset(key_namespace_);
  Encoder& e = k->encoder();
  e.array(4);
  e.text_unchecked("memokey.memo");
  e.text(engine_.name());
  e.text(version_);
  // The caller writes the arguments' tuple: the fourth element.
}

std::vector<std::uint8_t> MemoCore::Run(std::unique_ptr<MemoEngine::Ticket> ticket,
                                        const std::function<std::vector<std::uint8_t>()>& compute) {
  std::vector<std::uint8_t> result;
  try {
    result = compute();
  } catch (...) {
    engine_.Abandon(std::move(ticket), std::current_exception());
    throw;
  }
  engine_.Complete(std::move(ticket), View(result));
  return result;
}

std::vector<std::uint8_t> MemoCore::GetOrCompute(
    const Key& key, const std::function<std::vector<std::uint8_t>()>& compute,
    const std::function<bool(ByteSpan)>& decodes) {
  const std::string store_key = key.hex();
  MemoEngine::Found found = engine_.Lookup(store_key, decodes);
  switch (found.state) {
    case MemoEngine::Found::State::kHit:
      return Bytes(found.payload);
    case MemoEngine::Found::State::kStale: {
      // One caller (the one that gets the lease, without waiting) recomputes
      // and stores; everyone else gets the old value meanwhile.
      std::unique_ptr<MemoEngine::Ticket> ticket = engine_.ClaimRefresh(store_key);
      if (!ticket) return Bytes(found.payload);
      return Run(std::move(ticket), compute);
    }
    case MemoEngine::Found::State::kMiss:
      break;
  }
  MemoEngine::Claimed claimed = engine_.Claim(store_key, ThisThread(), found.rejected, decodes);
  switch (claimed.state) {
    case MemoEngine::Claimed::State::kValue:
      return Bytes(claimed.payload);
    case MemoEngine::Claimed::State::kReentrant:
      return compute();
    case MemoEngine::Claimed::State::kGranted:
      return Run(std::move(claimed.ticket), compute);
    case MemoEngine::Claimed::State::kWait:
      break;
  }
  MemoEngine::Wait::Outcome outcome = claimed.wait->Get();
  switch (outcome.state) {
    case MemoEngine::Wait::Outcome::State::kValue:
      return Bytes(outcome.payload);
    case MemoEngine::Wait::Outcome::State::kError:
      std::rethrow_exception(outcome.error);
    case MemoEngine::Wait::Outcome::State::kGranted:
      break;
  }
  if (!outcome.ticket) return compute();
  return Run(std::move(outcome.ticket), compute);
}

}  // namespace memokey
