// A throwaway Redis Cluster for tests: N masters with R replicas each, on free
// loopback ports, in a temporary directory, created with
// `redis-cli --cluster create` and killed (SIGKILL) on destruction.
// tests/cluster/redis_cluster.py is the same launcher for Python tests.
//
// Needs MEMOKEY_REDIS_SERVER and MEMOKEY_REDIS_CLI (paths) defined by the
// build, and store_test_util.h (TempDir, FreePort, hiredis helpers).

#ifndef MEMOKEY_TESTS_CLUSTER_REDIS_CLUSTER_H_
#define MEMOKEY_TESTS_CLUSTER_REDIS_CLUSTER_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store_test_util.h"

namespace memokey_store_test {

class RedisCluster {
 public:
  // With a password, every node requires it (requirepass) and replicas use
  // it to sync (masterauth).
  explicit RedisCluster(int masters = 3, int replicas = 1, std::string password = {})
      : masters_(masters), replicas_(replicas), password_(std::move(password)) {}
  ~RedisCluster() { Stop(); }
  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // Starts the nodes, creates the cluster and waits until every node reports
  // cluster_state:ok, all 16384 slots are served and every master has its
  // replicas in sync (so that a failover can happen at once). A start that
  // fails (a port taken between our check and redis-server's bind, a cluster
  // that does not settle on a loaded machine) is retried from scratch on new
  // ports; the failure names what each attempt saw.
  ::testing::AssertionResult Start() {
    for (const char* tool : {MEMOKEY_REDIS_SERVER, MEMOKEY_REDIS_CLI}) {
      if (::access(tool, X_OK) != 0) {
        return ::testing::AssertionFailure()
               << tool << " not found: run scripts/setup, which installs Redis";
      }
    }
    std::string failures;
    for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
      const std::string failure = StartOnce();
      if (failure.empty()) return ::testing::AssertionSuccess();
      failures += "attempt " + std::to_string(attempt) + ": " + failure + "\n";
      Stop();
    }
    return ::testing::AssertionFailure() << failures;
  }

  void Stop() {
    for (Node& node : nodes_) KillNode(&node);
    nodes_.clear();
  }

  std::vector<std::string> seeds() const {
    std::vector<std::string> out;
    for (const Node& node : nodes_) out.push_back("127.0.0.1:" + std::to_string(node.port));
    return out;
  }

  // redis+cluster://127.0.0.1:p1,...?prefix=...[&query]
  std::string url(std::string_view prefix = "memokey:", std::string_view query = {}) const {
    std::string out = "redis+cluster://";
    const std::vector<std::string> all = seeds();
    for (std::size_t i = 0; i < all.size(); ++i) out += (i > 0 ? "," : "") + all[i];
    out += "?prefix=" + std::string(prefix);
    if (!query.empty()) out += "&" + std::string(query);
    return out;
  }

  std::vector<int> ports() const {
    std::vector<int> out;
    for (const Node& node : nodes_) out.push_back(node.port);
    return out;
  }

  // Ports of the live nodes that are masters with slots, by CLUSTER NODES
  // of a live node.
  std::vector<int> MasterPorts() const {
    std::vector<int> out;
    for (const auto& [port, slots] : SlotOwners()) {
      if (!slots.empty() && IsAlive(port)) out.push_back(port);
    }
    return out;
  }

  // The port of the master serving `slot` (as a live node sees it), or 0.
  int MasterOfSlot(int slot) const {
    for (const auto& [port, ranges] : SlotOwners()) {
      for (const auto& [first, last] : ranges) {
        if (slot >= first && slot <= last) return port;
      }
    }
    return 0;
  }

  // SIGKILLs a master (the first one when port is 0); returns its port.
  int KillMaster(int port = 0) {
    if (port == 0) {
      const std::vector<int> masters = MasterPorts();
      if (masters.empty()) return 0;
      port = masters.front();
    }
    for (Node& node : nodes_) {
      if (node.port == port) KillNode(&node);
    }
    return port;
  }

  // Waits until the live nodes agree the cluster is ok with every slot
  // served by a live master; returns the seconds waited, or a negative
  // number on timeout.
  double WaitFailover(std::chrono::seconds timeout) const {
    const auto start = std::chrono::steady_clock::now();
    if (!WaitHealthy(timeout, /*require_replicas=*/false)) return -1;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }

  // A direct connection to one node, and a command on it.
  RawContext Connect(int port) const {
    timeval tv{2, 0};
    RawContext c(redisConnectWithTimeout("127.0.0.1", port, tv));
    if (c && c->err == 0 && !password_.empty()) CommandOn(c.get(), {"AUTH", password_});
    return c;
  }
  RawReply Command(int port, const std::vector<std::string>& args) const {
    RawContext c = Connect(port);
    if (!c || c->err != 0) return nullptr;
    return CommandOn(c.get(), args);
  }
  static RawReply CommandOn(redisContext* c, const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    return RawReply(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
  }
  std::string StringReply(int port, const std::vector<std::string>& args) const {
    RawReply reply = Command(port, args);
    if (!reply || (reply->type != REDIS_REPLY_STRING && reply->type != REDIS_REPLY_STATUS &&
                   reply->type != REDIS_REPLY_ERROR)) {
      return {};
    }
    return std::string(reply->str, reply->len);
  }
  std::string NodeId(int port) const { return StringReply(port, {"CLUSTER", "MYID"}); }

  bool IsAlive(int port) const {
    for (const Node& node : nodes_) {
      if (node.port == port) return node.pid > 0;
    }
    return false;
  }

 private:
  struct Node {
    int port = 0;
    pid_t pid = 0;
  };

  static constexpr int kStartAttempts = 3;
  static constexpr int kBusOffset = 10000;  // redis: cluster bus port = port + 10000

  // "" on success, else what went wrong.
  std::string StartOnce() {
    const int total = masters_ * (1 + replicas_);
    std::set<int> taken;
    for (int i = 0; i < total; ++i) {
      Node node;
      node.port = ClusterPort(&taken);
      if (node.port == 0) return "no free port pair";
      if (!Spawn(&node)) return "cannot start redis-server";
      nodes_.push_back(node);
    }
    for (const Node& node : nodes_) {
      if (!WaitForPing(node.port)) {
        return "node " + std::to_string(node.port) + " did not answer: " + Tail(LogOf(node.port));
      }
    }
    std::vector<std::string> args = {MEMOKEY_REDIS_CLI, "--cluster", "create"};
    for (const std::string& seed : seeds()) args.push_back(seed);
    args.insert(args.end(), {"--cluster-replicas", std::to_string(replicas_), "--cluster-yes"});
    if (!password_.empty()) args.insert(args.end(), {"--no-auth-warning", "-a", password_});
    const std::string log = dir_ / "create.log";
    if (Run(args, log) != 0) return "redis-cli --cluster create failed: " + Slurp(log);
    if (!WaitHealthy(std::chrono::seconds(30))) {
      return "cluster did not become healthy within 30 s\n" + Describe();
    }
    return {};
  }

  // A port p with p and p + 10000 (its cluster bus) both free and neither in
  // `taken`, which gets both. Drawn at random from below the kernel's
  // ephemeral range, so that no bind(0) and no outgoing connection elsewhere
  // in the test run can take either port before redis-server binds it; other
  // clusters started concurrently draw from the same range, and a collision
  // with them fails one start, which Start() retries.
  static int ClusterPort(std::set<int>* taken) {
    // Ports below `top` have their bus port below the ephemeral range too.
    const int top = EphemeralLow() - kBusOffset;
    std::mt19937 random{std::random_device{}()};
    std::uniform_int_distribution<int> below(top - 2048, top - 1);
    for (int attempt = 0; attempt < 200; ++attempt) {
      const int port = top > 2048 ? below(random) : FreePort();
      if (port <= 0 || port + kBusOffset > 65535) continue;
      if (taken->count(port) || taken->count(port + kBusOffset)) continue;
      if (PortFree(port) && PortFree(port + kBusOffset)) {
        taken->insert({port, port + kBusOffset});
        return port;
      }
    }
    return 0;
  }
  static int EphemeralLow() {
    std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
    int low = 0;
    return (range >> low) ? low : 0;
  }

  // One line per node for a failure message: port, pid, what it says about
  // the cluster and its replication (the INFO fields below), and the end of
  // its log.
  static constexpr std::string_view kDescribed[] = {
      "cluster_state",    "cluster_known_nodes", "role",
      "connected_slaves", "master_link_status",  "slave"};
  std::string Describe() const {
    std::string out;
    for (const Node& node : nodes_) {
      out += "  node " + std::to_string(node.port) + (node.pid > 0 ? "" : " (killed)") + ": ";
      for (const std::string& info : {StringReply(node.port, {"CLUSTER", "INFO"}),
                                      StringReply(node.port, {"INFO", "replication"})}) {
        std::istringstream lines(info);
        for (std::string line; std::getline(lines, line);) {
          const auto starts = [&line](std::string_view prefix) { return line.starts_with(prefix); };
          if (std::none_of(std::begin(kDescribed), std::end(kDescribed), starts)) continue;
          if (line.back() == '\r') line.pop_back();
          out += line + " ";
        }
      }
      out += "| log: " + Tail(LogOf(node.port)) + "\n";
    }
    return out;
  }
  // The last few lines of a file, joined by " / ".
  static std::string Tail(const std::string& path, std::size_t lines = 4) {
    std::istringstream in(Slurp(path));
    std::vector<std::string> all;
    for (std::string line; std::getline(in, line);) all.push_back(line);
    std::string out;
    for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
      out += (out.empty() ? "" : " / ") + all[i];
    }
    return out;
  }
  static bool PortFree(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
  }

  std::string LogOf(int port) const { return dir_ / ("node-" + std::to_string(port) + ".log"); }

  bool Spawn(Node* node) {
    const std::string port = std::to_string(node->port);
    std::vector<std::string> args = {
        MEMOKEY_REDIS_SERVER, "--port", port, "--bind", "127.0.0.1", "--cluster-enabled", "yes",
        "--cluster-config-file", dir_ / ("nodes-" + port + ".conf"), "--cluster-node-timeout",
        "1000", "--appendonly", "no",
        // Replicas sync at once, not after
        // the default 5 s of waiting for more.
        "--repl-diskless-sync-delay", "0", "--save", "", "--daemonize", "no", "--dir", dir_.path(),
        "--dbfilename", "dump-" + port + ".rdb", "--logfile", LogOf(node->port)};
    if (!password_.empty()) {
      args.insert(args.end(), {"--requirepass", password_, "--masterauth", password_});
    }
    node->pid = SpawnProcess(args, "/dev/null");
    return node->pid > 0;
  }

  static int Run(const std::vector<std::string>& args, const std::string& output) {
    const pid_t pid = SpawnProcess(args, output);
    if (pid <= 0) return -1;
    int status = 0;
    if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }

  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

  static void KillNode(Node* node) {
    if (node->pid <= 0) return;
    ::kill(node->pid, SIGKILL);
    int status = 0;
    ::waitpid(node->pid, &status, 0);
    node->pid = 0;
  }

  bool WaitForPing(int port) const {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      if (StringReply(port, {"PING"}) == "PONG") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  // master port -> its slot ranges, from CLUSTER SLOTS of the first live node
  // that answers.
  std::map<int, std::vector<std::pair<int, int>>> SlotOwners() const {
    std::map<int, std::vector<std::pair<int, int>>> out;
    for (const Node& node : nodes_) {
      if (node.pid <= 0) continue;
      RawReply reply = Command(node.port, {"CLUSTER", "SLOTS"});
      if (!reply || reply->type != REDIS_REPLY_ARRAY) continue;
      for (std::size_t i = 0; i < reply->elements; ++i) {
        const redisReply* range = reply->element[i];
        if (range->elements < 3) continue;
        const redisReply* master = range->element[2];
        out[static_cast<int>(master->element[1]->integer)].emplace_back(
            static_cast<int>(range->element[0]->integer),
            static_cast<int>(range->element[1]->integer));
      }
      return out;
    }
    return out;
  }

  // Every live node says cluster_state:ok and all slots are served by live
  // masters; with require_replicas, every master also has its replicas
  // online.
  bool WaitHealthy(std::chrono::seconds timeout, bool require_replicas = true) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (Healthy(require_replicas)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  bool Healthy(bool require_replicas) const {
    for (const Node& node : nodes_) {
      if (node.pid <= 0) continue;
      const std::string info = StringReply(node.port, {"CLUSTER", "INFO"});
      if (info.find("cluster_state:ok") == std::string::npos) return false;
      RawReply reply = Command(node.port, {"CLUSTER", "SLOTS"});
      if (!reply || reply->type != REDIS_REPLY_ARRAY) return false;
      long long covered = 0;
      for (std::size_t i = 0; i < reply->elements; ++i) {
        const redisReply* range = reply->element[i];
        if (range->elements < 3) return false;
        if (!IsAlive(static_cast<int>(range->element[2]->element[1]->integer))) return false;
        covered += range->element[1]->integer - range->element[0]->integer + 1;
      }
      if (covered != 16384) return false;
    }
    if (require_replicas) {
      for (int port : MasterPorts()) {
        const std::string info = StringReply(port, {"INFO", "replication"});
        const std::string want = "connected_slaves:" + std::to_string(replicas_);
        if (info.find(want) == std::string::npos) return false;
        // Every replica must be online (synced), not just connected.
        std::size_t online = 0;
        for (std::size_t at = 0; (at = info.find("state=online", at)) != std::string::npos; ++at) {
          ++online;
        }
        if (online < static_cast<std::size_t>(replicas_)) return false;
      }
    }
    return true;
  }

  const int masters_;
  const int replicas_;
  const std::string password_;
  TempDir dir_;
  std::vector<Node> nodes_;
};

}  // namespace memokey_store_test

#endif  // MEMOKEY_TESTS_CLUSTER_REDIS_CLUSTER_H_
