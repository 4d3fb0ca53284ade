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

#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "memokey/envelope.h"
#include "memokey/memo.h"
#include "memokey/store.h"

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
  std::printf("ops=%llu hits=%llu errors=%llu wrong=%llu\n",
              static_cast<unsigned long long>(ops.load()),
              static_cast<unsigned long long>(hits.load()),
              static_cast<unsigned long long>(errors.load()),
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
  std::fprintf(stderr,
               "usage: fault_tool disk-writer DIR SEED | disk-verify DIR | redis-load URL SECONDS "
               "THREADS | full-disk DIR\n");
  return 2;
}
