// Helpers for the store tests: temporary directories, self-verifying values,
// and a redis-server started (and killed) by the test itself.

#ifndef MEMOKEY_TESTS_CPP_STORE_STORE_TEST_UTIL_H_
#define MEMOKEY_TESTS_CPP_STORE_STORE_TEST_UTIL_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"

extern char** environ;

namespace memokey_store_test {

// A fresh directory under $TMPDIR (or /tmp), removed with its content.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && base[0] == '/' ? base : "/tmp") +
                          "/memokey-store-test-XXXXXX";
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr) std::abort();
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// OpenStore(url), EXPECTing success (nullptr otherwise).
inline std::unique_ptr<memokey::Store> OpenUrl(const std::string& url) {
  std::unique_ptr<memokey::Store> store;
  const memokey::Status s = memokey::OpenStore(url, &store);
  EXPECT_TRUE(s.ok()) << url << ": " << s.ToString();
  return store;
}

inline std::uint64_t SplitMix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A value whose whole content follows from its first 16 bytes (seed, size): a
// reader can tell a complete value from a torn or mixed one.
inline std::string MakeValue(std::uint64_t seed, std::size_t size) {
  if (size < 16) size = 16;
  std::string out(size, '\0');
  std::memcpy(out.data(), &seed, 8);
  const std::uint64_t size64 = size;
  std::memcpy(out.data() + 8, &size64, 8);
  std::uint64_t state = seed;
  for (std::size_t i = 16; i < size; i += 8) {
    const std::uint64_t r = SplitMix(state);
    std::memcpy(out.data() + i, &r, std::min<std::size_t>(8, size - i));
  }
  return out;
}

inline bool ValueIsIntact(std::string_view value) {
  if (value.size() < 16) return false;
  std::uint64_t seed = 0, size = 0;
  std::memcpy(&seed, value.data(), 8);
  std::memcpy(&size, value.data() + 8, 8);
  return size == value.size() && MakeValue(seed, size) == value;
}

inline std::uint64_t SeedOf(std::string_view value) {
  std::uint64_t seed = 0;
  std::memcpy(&seed, value.data(), 8);
  return seed;
}

// Starts args[0] with `args`, stdin from /dev/null, stdout and stderr to
// `output` (created or truncated); the child's pid, or 0.
inline pid_t SpawnProcess(std::vector<std::string> args, const std::string& output = "/dev/null") {
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : 0;
}

// A TCP port that was free a moment ago (the kernel's pick for port 0).
inline int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

struct RedisReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
struct RedisContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using RawReply = std::unique_ptr<redisReply, RedisReplyFree>;
using RawContext = std::unique_ptr<redisContext, RedisContextFree>;

// A redis-server child process on 127.0.0.1 and a unix socket, no persistence.
class RedisServer {
 public:
  RedisServer() = default;
  ~RedisServer() { Kill(); }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts the server (again on the same port after Kill()). `extra` are more
  // redis-server arguments, e.g. {"--requirepass", "pw"}.
  ::testing::AssertionResult Start(std::vector<std::string> extra = {}) {
    if (::access(MEMOKEY_REDIS_SERVER, X_OK) != 0) {
      return ::testing::AssertionFailure() << "redis-server not found (" << MEMOKEY_REDIS_SERVER
                                           << "): run scripts/setup, which installs it";
    }
    extra_ = std::move(extra);
    const bool fixed_port = port_ != 0;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (!fixed_port) port_ = FreePort();
      if (Spawn() && WaitForPing()) return ::testing::AssertionSuccess();
      Kill();
    }
    return ::testing::AssertionFailure() << "redis-server did not answer PING on port " << port_
                                         << " (log: " << dir_.path() << "/redis.log)";
  }

  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
  }

  // SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing.
  void Pause() const { ::kill(pid_, SIGSTOP); }
  void Resume() const { ::kill(pid_, SIGCONT); }

  int port() const { return port_; }
  std::string socket_path() const { return dir_ / "redis.sock"; }
  std::string url(std::string_view query = {}) const {
    std::string out = "redis://127.0.0.1:" + std::to_string(port_) + "/0";
    if (!query.empty()) out += "?" + std::string(query);
    return out;
  }

  // A direct connection for checking what the store wrote.
  RawContext Connect() const {
    timeval tv{2, 0};
    return RawContext(redisConnectWithTimeout("127.0.0.1", port_, tv));
  }
  template <typename... Args>
  RawReply Command(redisContext* c, const char* format, Args... args) const {
    return RawReply(static_cast<redisReply*>(redisCommand(c, format, args...)));
  }

 private:
  bool Spawn() {
    std::vector<std::string> args = {MEMOKEY_REDIS_SERVER,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--daemonize",
                                     "no",
                                     "--unixsocket",
                                     socket_path(),
                                     "--unixsocketperm",
                                     "700",
                                     "--dir",
                                     dir_.path(),
                                     "--logfile",
                                     dir_ / "redis.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = SpawnProcess(std::move(args));
    return pid_ > 0;
  }

  bool WaitForPing() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken?
        pid_ = 0;
        return false;
      }
      timeval tv{0, 200000};
      RawContext c(redisConnectWithTimeout("127.0.0.1", port_, tv));
      if (c && c->err == 0) {
        RawReply reply(static_cast<redisReply*>(redisCommand(c.get(), "PING")));
        if (reply &&
            ((reply->type == REDIS_REPLY_STATUS && std::string_view(reply->str) == "PONG") ||
             reply->type == REDIS_REPLY_ERROR)) {  // NOAUTH still means "up"
          return true;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  TempDir dir_;
  int port_ = 0;
  pid_t pid_ = 0;
  std::vector<std::string> extra_;
};

// Waits for a forked child; true when it exited with status 0.
inline bool ChildSucceeded(pid_t pid) {
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) return false;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Runs work(0) here and work(1..children) in forked children at the same
// time; expects every one to return 0 (the number of failures it saw).
template <class Work>
void RunInProcesses(int children, const Work& work) {
  std::vector<pid_t> pids;
  for (int c = 1; c <= children; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ::_exit(work(c) == 0 ? 0 : 1);
    pids.push_back(pid);
  }
  EXPECT_EQ(work(0), 0);
  for (pid_t pid : pids) EXPECT_TRUE(ChildSucceeded(pid));
}

inline mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

}  // namespace memokey_store_test

#endif  // MEMOKEY_TESTS_CPP_STORE_STORE_TEST_UTIL_H_
