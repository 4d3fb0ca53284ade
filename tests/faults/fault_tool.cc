// fault_tool — the C++ side of the fault-injection tests (tests/faults/*.py).
// The Python tests start servers, kill processes and mount filesystems; this
// program does the store work in between and reports on stdout.
//
//   fault_tool disk-writer DIR SEED
//       Writes forever (until killed) into the disk store at DIR: keys
//       "k<0..199>", each value a signed envelope (fixed secret) over a payload
//       of 100 B .. 256 KiB derived from (key, generation). Prints "ready" once
//       the store is open.
//   fault_tool disk-verify DIR
//       Reads every key; each present value must open (MAC) and its payload
//       must be exactly the one its generation number implies. Prints
//       "present=N torn=T wrong=W" and exits 1 when T+W > 0.
//   fault_tool redis-load URL SECONDS THREADS
//       Get/Put load on a Redis store (non-strict, as a library user opens it)
//       for SECONDS. Every hit must be the value its key implies. Prints one
//       line per state change: "state ok|down T" (T: CLOCK_MONOTONIC seconds),
//       then "ops=N hits=H errors=E wrong=W" and exits 1 when W > 0.
//   fault_tool full-disk DIR
//       DIR is on a tiny filesystem: fills it through the disk store until Put
//       fails, checks the failure is a Status (no crash), then runs a memoized
//       function over a tiered memory|disk store and over the disk store alone
//       and checks it still returns its result. Prints what happened.
//   fault_tool store-fill DIR SEED COUNT [hold]
//       Puts COUNT keys "d<SEED>-<i>" into the disk store at DIR, each value of
//       0 B .. 70 KiB whose bytes follow from (SEED, i) (StoreValue). Prints
//       "filled N"; with "hold" then prints "ready" and keeps the store open
//       until stdin closes, so that the caller can copy the files of a live
//       store (a crash image: WAL and lock files included).
//   fault_tool store-check DIR SEED COUNT
//       After the test damaged DIR's files: opens the store and reads every
//       key with Get, Contains and GetMany. Each answer must be the exact bytes
//       of StoreValue or a miss: never other bytes, never an error status.
//       Then Puts every key again and reads it back: all must be served (the
//       store caches again). Prints "open=ok present=P miss=M wrong=W
//       errors=E reput=R/COUNT leases=L damaged=D store_errors=S" (R: re-put
//       values served back at once; L: lease calls that answered OK, of 5)
//       and exits 1 when the store did not open, served wrong bytes or
//       answered a lookup with an error.

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "memokey/envelope.h"
#include "memokey/memo.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"

namespace {

const memokey::Secret& FixedSecret() {
  static const memokey::Secret secret("fault-tool-secret-0123456789abcdef");
  return secret;
}

double Now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// The payload of (key, generation): its length and bytes follow from both.
std::string Payload(const std::string& key, std::uint64_t generation) {
  std::uint64_t state = std::hash<std::string>{}(key) ^ (generation * 0x9e3779b97f4a7c15ULL);
  std::mt19937_64 rng(state);
  const std::size_t sizes[] = {100, 1000, 5000, 40'000, 262'144};
  const std::size_t size = sizes[rng() % 5] + rng() % 97;
  std::string out = "gen=" + std::to_string(generation) + ";";
  out.reserve(size);
  while (out.size() < size) out.push_back(static_cast<char>('a' + rng() % 26));
  return out;
}

std::uint64_t GenerationOf(const std::string& payload) {
  if (payload.rfind("gen=", 0) != 0) return UINT64_MAX;
  return std::strtoull(payload.c_str() + 4, nullptr, 10);
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "fault_tool: %s\n", what.c_str());
  return 2;
}

int DiskWriter(const std::string& dir, unsigned seed) {
  std::unique_ptr<memokey::Store> store;
  const memokey::Status st = memokey::OpenStore("disk://" + dir + "?max_bytes=64M", &store);
  if (!st.ok()) return Fail("open: " + st.ToString());
  std::printf("ready\n");
  std::fflush(stdout);
  std::mt19937_64 rng(seed);
  for (std::uint64_t n = 0;; ++n) {
    const std::string key = "k" + std::to_string(rng() % 200);
    const std::uint64_t generation = (static_cast<std::uint64_t>(seed) << 32) | n;
    std::string sealed;
    if (!memokey::SealEnvelope(key, memokey::Codec::kRaw, Payload(key, generation), FixedSecret(),
                               &sealed)
             .ok()) {
      return Fail("seal");
    }
    const memokey::Status put = store->Put(key, sealed);
    if (!put.ok()) return Fail("put: " + put.ToString());
  }
}

int DiskVerify(const std::string& dir) {
  std::unique_ptr<memokey::Store> store;
  const memokey::Status st = memokey::OpenStore("disk://" + dir + "?max_bytes=64M", &store);
  if (!st.ok()) return Fail("open: " + st.ToString());
  int present = 0, torn = 0, wrong = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    std::string sealed;
    const memokey::Status got = store->Get(key, &sealed);
    if (got.IsNotFound()) continue;
    if (!got.ok()) return Fail("get: " + got.ToString());
    ++present;
    memokey::Codec codec{};
    std::string payload;
    if (!memokey::OpenEnvelope(key, sealed, FixedSecret(), &codec, &payload).ok()) {
      ++torn;
      continue;
    }
    const std::uint64_t generation = GenerationOf(payload);
    if (generation == UINT64_MAX || payload != Payload(key, generation)) ++wrong;
  }
  std::printf("present=%d torn=%d wrong=%d\n", present, torn, wrong);
  return torn + wrong > 0 ? 1 : 0;
}

int RedisLoad(const std::string& url, double seconds, int threads) {
  std::unique_ptr<memokey::Store> owned;
  const memokey::Status st = memokey::OpenStore(url, &owned);
  if (!st.ok()) return Fail("open: " + st.ToString());
  memokey::Store& store = *owned;
  std::atomic<std::uint64_t> ops{0}, hits{0}, errors{0}, wrong{0};
  std::mutex state_mutex;
  bool up = true;
  const double start = Now();
  std::printf("state ok %.6f\n", start);
  auto report = [&](bool ok) {
    std::lock_guard<std::mutex> lock(state_mutex);
    if (ok != up) {
      up = ok;
      std::printf("state %s %.6f\n", ok ? "ok" : "down", Now());
      std::fflush(stdout);
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) + 1);
      while (Now() - start < seconds) {
        const std::string key = "r" + std::to_string(rng() % 500);
        const std::uint64_t errors_before = store.Stats().errors;
        std::string value;
        const memokey::Status got = store.Get(key, &value);
        if (got.ok()) {
          ++hits;
          if (value != Payload(key, 7)) ++wrong;
        }
        const memokey::Status put = store.Put(key, Payload(key, 7));
        ++ops;
        // A non-strict store reports a failed Get as a miss and counts an error.
        const bool failed = !put.ok() || store.Stats().errors != errors_before;
        if (failed) ++errors;
        report(!failed);
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    });
  }
  for (auto& th : pool) th.join();
  std::printf(
      "ops=%llu hits=%llu errors=%llu wrong=%llu\n", static_cast<unsigned long long>(ops.load()),
      static_cast<unsigned long long>(hits.load()), static_cast<unsigned long long>(errors.load()),
      static_cast<unsigned long long>(wrong.load()));
  return wrong.load() > 0 ? 1 : 0;
}

int FullDisk(const std::string& dir) {
  setenv("MEMOKEY_SECRET", "fault-tool-secret-0123456789abcdef", 1);
  const std::string store_dir = dir + "/store";
  std::unique_ptr<memokey::Store> disk;
  // max_bytes far above the filesystem's size: the disk fills before eviction starts.
  memokey::Status st = memokey::OpenStore("disk://" + store_dir + "?max_bytes=64M", &disk);
  if (!st.ok()) {
    // Even opening may fail on a full disk; that too must be a Status.
    std::printf("open failed cleanly: %s\n", st.ToString().c_str());
  } else {
    std::string big(64 * 1024, 'x');
    int admitted = 0;
    memokey::Status put;
    for (int i = 0; i < 400; ++i) {
      put = disk->Put("fill" + std::to_string(i), big);
      if (!put.ok()) break;
      ++admitted;
    }
    std::printf("puts before failure: %d; status: %s\n", admitted, put.ToString().c_str());
    if (put.ok()) {
      // Admitted everything (evicting to fit is also a clean outcome).
      std::printf("note: the store never failed (evicted to fit)\n");
    }
    std::string value;
    const memokey::Status got = disk->Get("fill0", &value);
    std::printf("get after full: %s\n", got.ToString().c_str());
  }

  // The user's function still returns its result, over the disk store alone
  // and over a tiered memory|disk store.
  int calls = 0;
  // Results of 300 KB that zstd cannot shrink much: more than the full disk has left.
  auto fn = [&calls](const std::string& s) {
    ++calls;
    std::mt19937_64 rng(std::hash<std::string>{}(s));
    std::vector<std::uint8_t> out(300'000);
    out[0] = static_cast<std::uint8_t>(s.empty() ? '?' : s[0]);
    for (std::size_t i = 1; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>(rng());
    return out;
  };
  for (const std::string& url :
       {"disk://" + store_dir + "?max_bytes=64M",
        "tiered:memory://?max_bytes=16M|disk://" + store_dir + "?max_bytes=64M"}) {
    std::unique_ptr<memokey::Store> s;
    st = memokey::OpenStore(url, &s);
    if (!st.ok()) {
      std::printf("store %s did not open (%s): memoizing over memory instead\n", url.c_str(),
                  st.ToString().c_str());
      continue;
    }
    std::shared_ptr<memokey::Store> shared(std::move(s));
    auto memo = memokey::memoize(shared, "faults.full_disk." + url.substr(0, 4), fn);
    for (int i = 0; i < 3; ++i) {
      const std::vector<std::uint8_t> r = memo(std::string("abc") + std::to_string(i));
      if (r != fn(std::string("abc") + std::to_string(i))) {
        return Fail("memoized function returned a wrong result");
      }
    }
    const memokey::MemoStats stats = memo.stats();
    std::printf("memo over %s: 3 results correct, computed=%llu store_errors=%llu\n",
                url.substr(0, url.find('?')).c_str(),
                static_cast<unsigned long long>(stats.computed),
                static_cast<unsigned long long>(stats.store_errors));
  }
  std::printf("full-disk: ok\n");
  return 0;
}

// The value of key i of a store-fill run: mostly small (the common case of a
// cache), sometimes tens of KiB (values that span several database pages).
// The first bytes name (seed, i), so a value served under another key is
// caught even where two random tails could collide.
std::string StoreKey(unsigned seed, int i) {
  return "d" + std::to_string(seed) + "-" + std::to_string(i);
}
std::string StoreValue(unsigned seed, int i) {
  std::mt19937_64 rng((static_cast<std::uint64_t>(seed) << 32) ^ static_cast<std::uint64_t>(i));
  const std::size_t size =
      rng() % 10 == 0 ? 20'000 + rng() % 52'000 : (rng() % 4 == 0 ? rng() % 64 : rng() % 4097);
  std::string out = StoreKey(seed, i) + ":";
  out.resize(std::max(size, out.size()));
  for (std::size_t j = StoreKey(seed, i).size() + 1; j < out.size(); ++j) {
    out[j] = static_cast<char>(rng());
  }
  return out;
}

int StoreFill(const std::string& dir, unsigned seed, int count, bool hold) {
  std::unique_ptr<memokey::Store> store;
  const memokey::Status st = memokey::OpenStore("disk://" + dir, &store);
  if (!st.ok()) return Fail("open: " + st.ToString());
  for (int i = 0; i < count; ++i) {
    const memokey::Status put = store->Put(StoreKey(seed, i), StoreValue(seed, i));
    if (!put.ok()) return Fail("put: " + put.ToString());
  }
  std::printf("filled %d\n", count);
  if (hold) {
    // Leases held while the caller copies the live store: lease files in the
    // crash image, damaged like every other file.
    memokey::LeaseOptions lease_options;
    lease_options.wait = std::chrono::milliseconds{0};
    lease_options.check_value = false;
    for (int i = 0; i < std::min(count, 3); ++i) {
      memokey::LeaseResult lease;
      (void)store->AcquireLease(StoreKey(seed, i), lease_options, &lease);
    }
    std::printf("ready\n");
    std::fflush(stdout);
    // Blocks until the caller closes our stdin (it copies the files meanwhile).
    while (std::fgetc(stdin) != EOF) {
    }
  }
  return 0;
}

int StoreCheck(const std::string& dir, unsigned seed, int count) {
  std::unique_ptr<memokey::Store> store;
  const memokey::Status st = memokey::OpenStore("disk://" + dir, &store);
  if (!st.ok()) {
    // A cache that cannot even open its (damaged) directory has broken.
    std::printf(
        "open=failed present=0 miss=0 wrong=0 errors=1 reput=0/%d damaged=0 "
        "store_errors=0 (%s)\n",
        count, st.ToString().c_str());
    return 1;
  }
  int present = 0, miss = 0, wrong = 0, errors = 0;
  std::string first_problem;
  auto problem = [&](const std::string& what) {
    if (first_problem.empty()) first_problem = what;
  };
  for (int i = 0; i < count; ++i) {
    const std::string key = StoreKey(seed, i);
    std::string value;
    const memokey::Status got = store->Get(key, &value);
    if (got.IsNotFound()) {
      ++miss;
    } else if (!got.ok()) {
      ++errors;
      problem("Get(" + key + "): " + got.ToString());
    } else if (value != StoreValue(seed, i)) {
      ++wrong;
      problem("Get(" + key + ") served " + std::to_string(value.size()) + " wrong bytes");
    } else {
      ++present;
    }
    bool there = false;
    const memokey::Status contains = store->Contains(key, &there);
    if (!contains.ok()) {
      ++errors;
      problem("Contains(" + key + "): " + contains.ToString());
    }
  }
  std::vector<std::string> keys;
  for (int i = 0; i < count; ++i) keys.push_back(StoreKey(seed, i));
  const std::vector<std::string_view> views(keys.begin(), keys.end());
  std::vector<std::optional<std::string>> many;
  const memokey::Status got_many = store->GetMany(views, &many);
  if (!got_many.ok() || many.size() != keys.size()) {
    ++errors;
    problem("GetMany: " + got_many.ToString());
  } else {
    for (int i = 0; i < count; ++i) {
      if (many[static_cast<std::size_t>(i)] &&
          *many[static_cast<std::size_t>(i)] != StoreValue(seed, i)) {
        ++wrong;
        problem("GetMany served wrong bytes for " + keys[static_cast<std::size_t>(i)]);
      }
    }
  }
  // Leases on a damaged lease directory: any answer but a crash will do.
  int leases = 0;
  for (int i = 0; i < std::min(count, 5); ++i) {
    memokey::LeaseOptions lease_options;
    lease_options.wait = std::chrono::milliseconds{0};
    memokey::LeaseResult lease;
    if (store->AcquireLease(keys[static_cast<std::size_t>(i)], lease_options, &lease).ok()) {
      ++leases;
      if (lease.state == memokey::LeaseResult::State::kGranted) {
        (void)store->ReleaseLease(keys[static_cast<std::size_t>(i)], lease.token);
      }
    }
  }
  // The store must cache again: everything put now is served back.
  int reput = 0;
  for (int i = 0; i < count; ++i) {
    const memokey::Status put = store->Put(keys[static_cast<std::size_t>(i)], StoreValue(seed, i));
    if (!put.ok()) {
      problem("re-Put(" + keys[static_cast<std::size_t>(i)] + "): " + put.ToString());
      continue;
    }
    std::string value;
    if (store->Get(keys[static_cast<std::size_t>(i)], &value).ok() &&
        value == StoreValue(seed, i)) {
      ++reput;
    }
  }
  const memokey::StoreStats stats = store->Stats();
  std::printf(
      "open=ok present=%d miss=%d wrong=%d errors=%d reput=%d/%d leases=%d damaged=%llu "
      "store_errors=%llu%s%s\n",
      present, miss, wrong, errors, reput, count, leases,
      static_cast<unsigned long long>(stats.damaged), static_cast<unsigned long long>(stats.errors),
      first_problem.empty() ? "" : " first: ", first_problem.c_str());
  // A re-put value missing at once is no lie: the store may have met damage
  // with that write and quarantined the database (stats.damaged); the caller
  // judges caching again from the next process.
  return wrong + errors > 0 ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "disk-writer") {
    return DiskWriter(args[1], static_cast<unsigned>(std::stoul(args[2])));
  }
  if (args.size() == 2 && args[0] == "disk-verify") return DiskVerify(args[1]);
  if (args.size() == 4 && args[0] == "redis-load") {
    return RedisLoad(args[1], std::stod(args[2]), std::stoi(args[3]));
  }
  if (args.size() == 2 && args[0] == "full-disk") return FullDisk(args[1]);
  if ((args.size() == 4 || (args.size() == 5 && args[4] == "hold")) && args[0] == "store-fill") {
    return StoreFill(args[1], static_cast<unsigned>(std::stoul(args[2])), std::stoi(args[3]),
                     args.size() == 5);
  }
  if (args.size() == 4 && args[0] == "store-check") {
    return StoreCheck(args[1], static_cast<unsigned>(std::stoul(args[2])), std::stoi(args[3]));
  }
  std::fprintf(stderr,
               "usage: fault_tool disk-writer DIR SEED | disk-verify DIR | redis-load URL SECONDS "
               "THREADS | full-disk DIR | store-fill DIR SEED COUNT [hold] | store-check DIR SEED "
               "COUNT\n");
  return 2;
}
