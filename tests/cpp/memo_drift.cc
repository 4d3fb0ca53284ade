// memo_drift DIR: runs the scenarios of issue 13's three drifts between the
// C++ and the Python memoizers through memokey::memoize and prints what each
// ended with as one JSON object. tests/python/test_memo_drift.py runs the
// same scenarios through @memokey.memoize and compares (this tool asserts
// nothing itself).
//
//   tampered_first_tier  tiered:disk://DIR/t0|disk://DIR/t1; f(1) computed and
//                        stored; the value in tier 0 replaced by a tampered copy;
//                        f(1) twice more.
//   unreachable_store    redis://127.0.0.1:1 (nothing listens); f(5) twice.
//   lease_value          disk://DIR/lease: another holder takes f(7)'s lease,
//                        puts the value a donor (same function name, another
//                        body) sealed, and releases; f(7) meanwhile.
//   lease_value_tampered the same with a tampered copy of the donor's value.
//
// Environment: MEMOKEY_SECRET (the same secret the Python side uses).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "memokey/memo.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"

namespace {

using namespace std::chrono_literals;

std::shared_ptr<memokey::Store> Open(const std::string& url) {
  std::unique_ptr<memokey::Store> store;
  const memokey::Status s = memokey::OpenStore(url, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "memo_drift: %s: %s\n", url.c_str(), s.ToString().c_str());
    std::exit(2);
  }
  return std::shared_ptr<memokey::Store>(std::move(store));
}

memokey::MemoOptions Options() {
  memokey::MemoOptions options;
  options.on_store_error = [](const std::string&) {};
  return options;
}

std::string Tampered(std::string sealed) {
  sealed[sealed.size() / 2] = static_cast<char>(sealed[sealed.size() / 2] ^ 0x01);
  return sealed;
}

std::string Json(const std::vector<std::int64_t>& results, int calls,
                 const memokey::MemoStats& stats) {
  std::string out = "{\"results\": [";
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(results[i]);
  }
  out += "], \"calls\": " + std::to_string(calls) +
         ", \"rejected\": " + std::to_string(stats.rejected) +
         ", \"store_errors\": " + std::to_string(stats.store_errors) + "}";
  return out;
}

std::string TamperedFirstTier(const std::string& dir) {
  auto store = Open("tiered:disk://" + dir + "/t0|disk://" + dir + "/t1");
  int calls = 0;
  auto f = memokey::memoize(
      store, "drift.tier",
      [&](std::int64_t x) {
        ++calls;
        return x * 10;
      },
      Options());
  std::vector<std::int64_t> results{f(1)};
  auto first = Open("disk://" + dir + "/t0");
  const std::string key = f.key(1).hex();
  std::string sealed;
  if (first->Get(key, &sealed).ok()) static_cast<void>(first->Put(key, Tampered(sealed)));
  results.push_back(f(1));
  results.push_back(f(1));
  return Json(results, calls, f.stats());
}

std::string UnreachableStore() {
  auto store = Open("redis://127.0.0.1:1?connect_timeout_ms=100");
  int calls = 0;
  auto f = memokey::memoize(
      store, "drift.down",
      [&](std::int64_t x) {
        ++calls;
        return x - 1;
      },
      Options());
  std::vector<std::int64_t> results{f(5)};
  results.push_back(f(5));
  return Json(results, calls, f.stats());
}

std::string LeaseValue(const std::string& dir, bool tamper) {
  const std::string url = "disk://" + dir + (tamper ? "/lease-tampered" : "/lease");
  // The donor: the same function (name, version) with another body, on a
  // store of its own; its sealed value is what the holder publishes.
  auto donor_store = Open("memory://");
  auto donor = memokey::memoize(
      donor_store, "drift.lease", [](std::int64_t x) { return x * 100; }, Options());
  donor(7);
  const std::string key = donor.key(7).hex();
  std::string sealed;
  if (!donor_store->Get(key, &sealed).ok()) return "null";
  if (tamper) sealed = Tampered(sealed);

  auto holder = Open(url);
  memokey::LeaseResult lease;
  if (!holder->AcquireLease(key, memokey::LeaseOptions{60s, 0ms, true}, &lease).ok() ||
      lease.state != memokey::LeaseResult::State::kGranted) {
    return "null";
  }
  auto store = Open(url);
  int calls = 0;
  auto f = memokey::memoize(
      store, "drift.lease",
      [&](std::int64_t x) {
        ++calls;
        return x * 10;
      },
      Options());
  std::int64_t result = 0;
  std::thread caller([&] { result = f(7); });
  std::this_thread::sleep_for(200ms);  // the caller is (most likely) waiting for the lease
  static_cast<void>(holder->Put(key, sealed));
  static_cast<void>(holder->ReleaseLease(key, lease.token));
  caller.join();
  return Json({result}, calls, f.stats());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: memo_drift DIR\n");
    return 2;
  }
  const std::string dir = argv[1];
  std::printf(
      "{\"tampered_first_tier\": %s,\n \"unreachable_store\": %s,\n \"lease_value\": %s,\n "
      "\"lease_value_tampered\": %s}\n",
      TamperedFirstTier(dir).c_str(), UnreachableStore().c_str(), LeaseValue(dir, false).c_str(),
      LeaseValue(dir, true).c_str());
  return 0;
}
