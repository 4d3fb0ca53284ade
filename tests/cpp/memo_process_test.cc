// memokey::memoize across processes on one host, through the disk store's
// leases (MemoOptions::lease, the default; lock_dir, the file locks that did
// the same, is gone). Concurrent processes compute a cold key once through
// a disk store; a holder killed with SIGKILL or whose function throws
// releases at once; a hung holder delays others only up to the wait bound.
//
// Children are forked before they create any thread, open their own store and
// leave with _exit (no gtest teardown, no atexit handlers in the child).

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "memokey/memo.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"

namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "memokey-memo-process-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Dirs {
  TempDir root;
  std::string store_url = "disk://" + root.path() + "/store?sync=none&max_bytes=16M";
  std::string counter = root.path() + "/executions";
  std::string started = root.path() + "/started";
};

enum class Mode { kLease };

// The counters and the directory of the mechanism the tests run.
struct Mechanism {
  Mode mode;
  std::uint64_t Waits(const memokey::MemoStats& s) const { return s.lease_waits; }
  std::uint64_t Timeouts(const memokey::MemoStats& s) const { return s.lease_timeouts; }
  std::uint64_t Errors(const memokey::MemoStats& s) const { return s.store_errors; }
  std::string LockFiles(const Dirs& dirs) const { return dirs.root.path() + "/store/leases"; }
  // No lease is held any more: leases are byte ranges of one permanent file,
  // leases.lock, and none of its bytes is locked by anyone.
  bool NothingHeld(const Dirs& dirs) const {
    for (const auto& entry : fs::directory_iterator(LockFiles(dirs))) {
      if (entry.path().filename() != "leases.lock") return false;
    }
    const int fd = ::open((LockFiles(dirs) + "/leases.lock").c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return false;
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;  // l_start = l_len = 0: the whole file
    const bool unlocked = ::fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type == F_UNLCK;
    ::close(fd);
    return unlocked;
  }
};

class MemoProcess : public ::testing::TestWithParam<Mode> {
 protected:
  Mechanism mechanism{GetParam()};

  memokey::MemoOptions Options(const Dirs& /*dirs*/, std::chrono::milliseconds wait = 30s) const {
    memokey::MemoOptions options;
    options.secret = "memo-process-test-secret-0123456789";
    options.lease_wait = wait;
    return options;
  }
};

std::shared_ptr<memokey::Store> OpenDisk(const Dirs& dirs) {
  std::unique_ptr<memokey::Store> store;
  if (const memokey::Status s = memokey::OpenStore(dirs.store_url, &store); !s.ok()) {
    std::fprintf(stderr, "pid %d: %s\n", static_cast<int>(::getpid()), s.ToString().c_str());
    return nullptr;
  }
  return std::shared_ptr<memokey::Store>(std::move(store));
}

void AppendLine(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string text = line + "\n";
  [[maybe_unused]] const ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
}

int CountLines(const std::string& path) {
  std::ifstream in(path);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

std::int64_t Expected(std::int64_t x) { return x * x + 7; }

// Forks a child that runs `body` and _exits with its result (0: success).
pid_t Spawn(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    int code = 3;
    try {
      code = body();
    } catch (...) {
      code = 4;
    }
    ::_exit(code);
  }
  return pid;
}

// The child's exit code, or -1 if it did not exit normally.
int Wait(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool WaitForFile(const std::string& path, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fs::exists(path)) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

TEST_P(MemoProcess, ConcurrentProcessesComputeAColdKeyOnce) {
  Dirs dirs;
  constexpr int kProcesses = 8;
  constexpr int kThreads = 4;
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    children.push_back(Spawn([&]() -> int {
      auto store = OpenDisk(dirs);
      if (!store) return 10;
      auto slow = memokey::memoize(
          store, "test.process.slow",
          [&](std::int64_t x) {
            std::this_thread::sleep_for(300ms);
            AppendLine(dirs.counter, std::to_string(::getpid()));
            return Expected(x);
          },
          Options(dirs));
      std::atomic<int> wrong{0};
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
          if (slow(12) != Expected(12)) wrong.fetch_add(1);
        });
      }
      for (auto& thread : threads) thread.join();
      if (wrong.load() != 0) return 11;
      if (mechanism.Errors(slow.stats()) != 0 || mechanism.Timeouts(slow.stats()) != 0) return 12;
      return 0;
    }));
  }
  for (const pid_t pid : children) EXPECT_EQ(Wait(pid), 0);
  EXPECT_EQ(CountLines(dirs.counter), 1);
  EXPECT_TRUE(mechanism.NothingHeld(dirs));
  EXPECT_EQ(fs::status(mechanism.LockFiles(dirs)).permissions() & fs::perms::all,
            fs::perms::owner_all);
}

TEST_P(MemoProcess, AKilledHolderIsTakenOverPromptly) {
  Dirs dirs;
  // The holder signals that it computes (it holds the lock), then hangs.
  const pid_t holder = Spawn([&]() -> int {
    auto store = OpenDisk(dirs);
    if (!store) return 10;
    auto hang = memokey::memoize(
        store, "test.process.killed",
        [&](std::int64_t x) {
          AppendLine(dirs.started, "holder");
          std::this_thread::sleep_for(60s);
          return Expected(x) + 1;  // never returned: killed first
        },
        Options(dirs));
    hang(5);
    return 0;
  });
  ASSERT_TRUE(WaitForFile(dirs.started, 10s));

  const auto start = std::chrono::steady_clock::now();
  const pid_t taker = Spawn([&]() -> int {
    auto store = OpenDisk(dirs);
    if (!store) return 10;
    auto fn = memokey::memoize(
        store, "test.process.killed",
        [&](std::int64_t x) {
          AppendLine(dirs.counter, "taker");
          return Expected(x);
        },
        Options(dirs));
    if (fn(5) != Expected(5)) return 11;
    // It found the lock held and waited for it rather than timing out.
    if (mechanism.Waits(fn.stats()) != 1 || mechanism.Timeouts(fn.stats()) != 0) return 12;
    return 0;
  });
  std::this_thread::sleep_for(300ms);  // the taker is now waiting for the lock
  ASSERT_EQ(::kill(holder, SIGKILL), 0);
  EXPECT_EQ(Wait(holder), -1);
  EXPECT_EQ(Wait(taker), 0);
  // Well under the 30 s lease_wait: the OS released the dead holder's lock.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  EXPECT_EQ(CountLines(dirs.counter), 1);
  EXPECT_TRUE(mechanism.NothingHeld(dirs));
}

TEST_P(MemoProcess, AnExceptionReleasesTheLockAtOnce) {
  Dirs dirs;
  // The thrower fails after 300 ms, then stays alive for 30 s: the lock must
  // be released when the function throws, not when the process exits.
  const pid_t thrower = Spawn([&]() -> int {
    auto store = OpenDisk(dirs);
    if (!store) return 10;
    auto fails = memokey::memoize(
        store, "test.process.throws",
        [&](std::int64_t) -> std::int64_t {
          AppendLine(dirs.started, "thrower");
          std::this_thread::sleep_for(300ms);
          throw std::runtime_error("boom");
        },
        Options(dirs));
    try {
      fails(9);
    } catch (const std::runtime_error&) {
      std::this_thread::sleep_for(30s);
      return 0;
    }
    return 11;
  });
  ASSERT_TRUE(WaitForFile(dirs.started, 10s));

  const pid_t next = Spawn([&]() -> int {
    auto store = OpenDisk(dirs);
    if (!store) return 10;
    auto fn = memokey::memoize(
        store, "test.process.throws",
        [&](std::int64_t x) {
          AppendLine(dirs.counter, "next");
          return Expected(x);
        },
        Options(dirs));
    return fn(9) == Expected(9) ? 0 : 11;
  });
  EXPECT_EQ(Wait(next), 0);
  int status = 0;
  EXPECT_EQ(::waitpid(thrower, &status, WNOHANG), 0);  // still alive, lock released
  ::kill(thrower, SIGKILL);
  Wait(thrower);
  EXPECT_EQ(CountLines(dirs.counter), 1);
}

TEST_P(MemoProcess, AHungHolderDelaysOthersOnlyUpToTheWaitBound) {
  Dirs dirs;
  const pid_t holder = Spawn([&]() -> int {
    auto store = OpenDisk(dirs);
    if (!store) return 10;
    auto hang = memokey::memoize(
        store, "test.process.hung",
        [&](std::int64_t x) {
          AppendLine(dirs.started, "holder");
          std::this_thread::sleep_for(60s);
          return x;
        },
        Options(dirs));
    hang(3);
    return 0;
  });
  ASSERT_TRUE(WaitForFile(dirs.started, 10s));

  auto store = OpenDisk(dirs);
  ASSERT_TRUE(store);
  auto fn = memokey::memoize(
      store, "test.process.hung", [](std::int64_t x) { return Expected(x); }, Options(dirs, 200ms));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(fn(3), Expected(3));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, 200ms);
  EXPECT_LT(elapsed, 20s);
  EXPECT_EQ(mechanism.Timeouts(fn.stats()), 1u);
  EXPECT_EQ(fn.stats().computed, 1u);
  ::kill(holder, SIGKILL);
  Wait(holder);
}

TEST_P(MemoProcess, RecursionDoesNotDeadlock) {
  Dirs dirs;
  auto store = OpenDisk(dirs);
  ASSERT_TRUE(store);
  std::function<std::int64_t(std::int64_t)> fib;
  auto memo = memokey::memoize(
      store, "test.process.fib",
      [&](std::int64_t n) -> std::int64_t { return n < 2 ? n : fib(n - 1) + fib(n - 2); },
      Options(dirs));
  fib = [&](std::int64_t n) { return memo(n); };
  EXPECT_EQ(fib(30), 832040);
  EXPECT_EQ(mechanism.Errors(memo.stats()), 0u);
  EXPECT_TRUE(mechanism.NothingHeld(dirs));
}

INSTANTIATE_TEST_SUITE_P(Both, MemoProcess, ::testing::Values(Mode::kLease),
                         [](const ::testing::TestParamInfo<Mode>&) { return "Lease"; });

}  // namespace
