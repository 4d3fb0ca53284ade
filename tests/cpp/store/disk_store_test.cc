// disk:// (SQLite) — the Store contract (store_contract.h), and what is the
// disk's own: persistence, many processes, kill -9 in the middle of
// writes, LRU eviction by bytes, TTL, directory permissions, and damage:
// rows changed behind the store's back, malformed and truncated database
// files, the directory removed under a running store.

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "memokey/status.h"
#include "memokey/store.h"
#include "memokey/store_backends.h"
#include "store_contract.h"
#include "store_test_util.h"

namespace {

using memokey::DiskStoreOptions;
using memokey::OpenDiskStore;
using memokey::Status;
using memokey::Store;
using memokey_store_test::ChildSucceeded;
using memokey_store_test::MakeValue;
using memokey_store_test::ModeOf;
using memokey_store_test::SeedOf;
using memokey_store_test::TempDir;
using memokey_store_test::ValueIsIntact;
using namespace std::chrono_literals;

constexpr std::uint64_t kMiB = 1 << 20;

std::unique_ptr<Store> Open(const std::string& path, std::uint64_t max_bytes = 64 * kMiB,
                            DiskStoreOptions::Sync sync = DiskStoreOptions::Sync::kNone) {
  DiskStoreOptions options;
  options.path = path;
  options.max_bytes = max_bytes;
  options.sync = sync;
  std::unique_ptr<Store> store;
  Status s = OpenDiskStore(options, &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return store;
}

class DiskHome : public memokey_store_test::StoreHome {
 public:
  std::unique_ptr<Store> Open(std::uint64_t max_bytes, unsigned /*shards*/) override {
    return ::Open(dir_ / "db", max_bytes != 0 ? max_bytes : 64 * kMiB);
  }

 private:
  TempDir dir_;
};

memokey_store_test::StoreBackend DiskBackend() {
  memokey_store_test::StoreBackend disk;
  disk.name = "disk";
  disk.start = [] { return std::make_unique<DiskHome>(); };
  disk.counts_entries = true;
  disk.counts_contains = true;
  disk.threads = {
      .ops = 2000, .keys = 32, .value_spread = 30000, .max_bytes = 2 * kMiB, .shards = 0};
  disk.fork = {.children = 4, .iterations = 300, .keys = 50, .value_base = 100};
  disk.expiry = {.entries = 8, .max_bytes = 20 * 1200, .shards = 0};
  return disk;
}

using memokey_store_test::ForkedStoreContract;
using memokey_store_test::LocalStoreContract;
using memokey_store_test::StoreContract;
INSTANTIATE_TEST_SUITE_P(Disk, StoreContract, ::testing::Values(DiskBackend()),
                         memokey_store_test::BackendName);
INSTANTIATE_TEST_SUITE_P(Disk, ForkedStoreContract, ::testing::Values(DiskBackend()),
                         memokey_store_test::BackendName);
INSTANTIATE_TEST_SUITE_P(Disk, LocalStoreContract, ::testing::Values(DiskBackend()),
                         memokey_store_test::BackendName);

TEST(DiskStore, DescribeNamesPathAndBudget) {
  TempDir dir;
  auto store = Open(dir / "db");
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Describe(), "disk://" + dir.path() + "/db?max_bytes=67108864");
}

TEST(DiskStore, PersistsAcrossReopen) {
  TempDir dir;
  {
    auto store = Open(dir / "db");
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(store->Put("k" + std::to_string(i), MakeValue(i, 100 + i)).ok());
    }
  }
  auto store = Open(dir / "db");
  std::string value;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store->Get("k" + std::to_string(i), &value).ok());
    EXPECT_EQ(value, MakeValue(i, 100 + i));
  }
  EXPECT_EQ(store->Stats().entries, 100u);
}

TEST(DiskStore, TwoStoresOfOneDirectorySeeEachOther) {
  TempDir dir;
  auto a = Open(dir / "db");
  auto b = Open(dir / "db/");
  ASSERT_TRUE(a->Put("k", "v").ok());
  std::string value;
  ASSERT_TRUE(b->Get("k", &value).ok());
  EXPECT_EQ(value, "v");
  a.reset();
  ASSERT_TRUE(b->Put("k2", "v2").ok());
  ASSERT_TRUE(b->Get("k", &value).ok());
}

TEST(DiskStore, DirectoryIsPrivate) {
  TempDir dir;
  const mode_t old_umask = ::umask(022);
  auto store = Open(dir / "a/b/c");
  ::umask(old_umask);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ModeOf(dir / "a/b/c"), 0700u);
  EXPECT_EQ(ModeOf(dir / "a"), 0700u);
  EXPECT_EQ(ModeOf(dir / "a/b/c/store.db") & 077, 0u);
  store.reset();

  // A directory others can write to is refused: they could plant entries.
  ASSERT_EQ(::mkdir((dir / "open").c_str(), 0700), 0);
  ASSERT_EQ(::chmod((dir / "open").c_str(), 0777), 0);
  DiskStoreOptions options;
  options.path = dir / "open";
  Status s = OpenDiskStore(options, &store);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find("writable by group or others"), std::string::npos) << s.message();
}

// Another user's directory is refused too: its owner could plant entries. As
// root the test hands a directory to another uid; as anyone else "/" (root's)
// plays that part.
TEST(DiskStore, DirectoryOfAnotherUserIsRefused) {
  TempDir dir;
  std::string path = "/";
  if (::geteuid() == 0) {
    path = dir / "theirs";
    ASSERT_EQ(::mkdir(path.c_str(), 0700), 0);
    ASSERT_EQ(::chown(path.c_str(), 4242, 4242), 0);
  }
  DiskStoreOptions options;
  options.path = path;
  std::unique_ptr<Store> store;
  const Status s = OpenDiskStore(options, &store);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find(path + " belongs to another user"), std::string::npos) << s.message();
}

// The lease directory (<dir>/leases) gets the same checks as the store's own
// directory, made or found: others who can write there could take or free the
// store's leases.
TEST(DiskStore, LeaseDirectoryOthersCanWriteIsRefused) {
  TempDir dir;
  auto store = Open(dir / "db");
  ASSERT_NE(store, nullptr);
  const std::string leases = dir / "db/leases";
  ASSERT_TRUE(::mkdir(leases.c_str(), 0700) == 0 || errno == EEXIST);
  ASSERT_EQ(::chmod(leases.c_str(), 0777), 0);
  memokey::LeaseOptions options;
  options.wait = 0ms;
  memokey::LeaseResult lease;
  Status s = store->AcquireLease("k", options, &lease);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find(leases + " is writable by group or others"), std::string::npos)
      << s.message();
  EXPECT_NE(lease.state, memokey::LeaseResult::State::kGranted);

  if (::geteuid() == 0) {  // another owner, mode 0700: refused as well
    auto fresh = Open(dir / "db2");
    ASSERT_NE(fresh, nullptr);
    const std::string theirs = dir / "db2/leases";
    ASSERT_TRUE(::mkdir(theirs.c_str(), 0700) == 0 || errno == EEXIST);
    ASSERT_EQ(::chown(theirs.c_str(), 4242, 4242), 0);
    s = fresh->AcquireLease("k", options, &lease);
    EXPECT_EQ(s.code(), Status::Code::kIOError);
    EXPECT_NE(s.message().find(theirs + " belongs to another user"), std::string::npos)
        << s.message();
  }
}

TEST(DiskStore, EvictsOldestWritesByBytes) {
  TempDir dir;
  auto store = Open(dir / "db", kMiB);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store->Put("k" + std::to_string(i), MakeValue(i, 64 * 1024)).ok());
    ASSERT_LE(store->Stats().bytes, kMiB);
  }
  const memokey::StoreStats stats = store->Stats();
  EXPECT_GT(stats.evictions, 80u);
  EXPECT_GE(stats.entries, 10u);
  EXPECT_EQ(stats.entries + stats.evictions, 100u);
  std::string value;
  EXPECT_TRUE(store->Get("k0", &value).IsNotFound());
  ASSERT_TRUE(store->Get("k99", &value).ok());
  EXPECT_EQ(value, MakeValue(99, 64 * 1024));
}

// Least recently *used* goes first: an entry read since it was written
// outlives entries written after it.
TEST(DiskStore, EvictsLeastRecentlyUsed) {
  TempDir dir;
  auto store = Open(dir / "db", kMiB);
  std::string value;
  ASSERT_TRUE(store->Put("hot", MakeValue(1, 64 * 1024)).ok());
  for (int i = 0; i < 100; ++i) {
    // The clock must move for an access to count as newer than the write.
    std::this_thread::sleep_for(2ms);
    ASSERT_TRUE(store->Get("hot", &value).ok()) << "evicted at " << i;
    ASSERT_TRUE(store->Put("k" + std::to_string(i), MakeValue(i + 2, 64 * 1024)).ok());
  }
  EXPECT_TRUE(store->Get("k0", &value).IsNotFound());
  ASSERT_TRUE(store->Get("hot", &value).ok());
  EXPECT_EQ(value, MakeValue(1, 64 * 1024));
  EXPECT_GT(store->Stats().evictions, 80u);
}

TEST(DiskStore, ValueLargerThanTheBudgetIsNotAdmitted) {
  TempDir dir;
  auto store = Open(dir / "db", kMiB);
  ASSERT_TRUE(store->Put("k", "old").ok());
  ASSERT_TRUE(store->Put("k", std::string(2 * kMiB, 'x')).ok());
  std::string value;
  EXPECT_TRUE(store->Get("k", &value).IsNotFound());
  EXPECT_EQ(store->Stats().evictions, 1u);
  EXPECT_EQ(store->Stats().bytes, 0u);
}

TEST(DiskStore, LargeValues) {
  TempDir dir;
  auto store = Open(dir / "db", 256 * kMiB);
  const std::string big = MakeValue(7, 24 * kMiB + 3);
  ASSERT_TRUE(store->Put("big", big).ok());
  std::string value;
  ASSERT_TRUE(store->Get("big", &value).ok());
  EXPECT_TRUE(value == big);
}

// Random sizes near the budget: every write makes room by evicting, never
// fails, and the budget holds.
TEST(DiskStore, RandomSizesNearTheBudget) {
  TempDir dir;
  auto store = Open(dir / "db", 4 * kMiB, DiskStoreOptions::Sync::kNone);
  std::mt19937_64 rng(42);
  for (int i = 0; i < 300; ++i) {
    const std::size_t size = 1024 + rng() % kMiB;
    Status s = store->Put("k" + std::to_string(i % 40), MakeValue(i, size));
    ASSERT_TRUE(s.ok()) << i << ": " << s.ToString();
  }
  std::string value;
  ASSERT_TRUE(store->Get("k" + std::to_string(299 % 40), &value).ok());
  EXPECT_TRUE(ValueIsIntact(value));
  EXPECT_LE(store->Stats().bytes, 4 * kMiB);
  EXPECT_EQ(store->Stats().errors, 0u);
}

// Eight processes write and read one directory at once. Each owns 400 keys,
// and all of them overwrite 16 shared keys.
TEST(DiskStore, ManyProcesses) {
  TempDir dir;
  const std::string path = dir / "db";
  constexpr int kChildren = 8;
  constexpr int kOwn = 400;
  std::vector<pid_t> children;
  for (int c = 0; c < kChildren; ++c) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int failures = 0;
      {
        DiskStoreOptions options;
        options.path = path;
        options.max_bytes = 256 * kMiB;
        options.sync = DiskStoreOptions::Sync::kNone;
        std::unique_ptr<Store> store;
        if (!OpenDiskStore(options, &store).ok()) ::_exit(2);
        std::mt19937_64 rng(static_cast<std::uint64_t>(c));
        std::string value;
        for (int i = 0; i < kOwn; ++i) {
          const std::uint64_t seed = static_cast<std::uint64_t>(c) * 1000 + i;
          if (!store
                   ->Put("c" + std::to_string(c) + "/" + std::to_string(i),
                         MakeValue(seed, 32 + rng() % 20000))
                   .ok()) {
            ++failures;
          }
          if (!store->Put("shared/" + std::to_string(i % 16), MakeValue(rng(), 32 + rng() % 5000))
                   .ok()) {
            ++failures;
          }
          const std::string other =
              "c" + std::to_string(rng() % kChildren) + "/" + std::to_string(rng() % kOwn);
          if (store->Get(other, &value).ok() && !ValueIsIntact(value)) ++failures;
          if (store->Get("shared/" + std::to_string(rng() % 16), &value).ok() &&
              !ValueIsIntact(value)) {
            ++failures;
          }
        }
      }
      ::_exit(failures == 0 ? 0 : 1);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) EXPECT_TRUE(ChildSucceeded(pid));

  auto store = Open(path, 256 * kMiB);
  std::string value;
  for (int c = 0; c < kChildren; ++c) {
    for (int i = 0; i < kOwn; ++i) {
      ASSERT_TRUE(store->Get("c" + std::to_string(c) + "/" + std::to_string(i), &value).ok());
      ASSERT_TRUE(ValueIsIntact(value));
      EXPECT_EQ(SeedOf(value), static_cast<std::uint64_t>(c) * 1000 + i);
    }
  }
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(store->Get("shared/" + std::to_string(i), &value).ok());
    EXPECT_TRUE(ValueIsIntact(value));
  }
  EXPECT_EQ(store->Stats().entries, static_cast<std::uint64_t>(kChildren * kOwn + 16));
}

// A child overwrites 12 keys with large values in a loop and is killed with
// SIGKILL at a random moment, 50 times. After every kill the store opens and
// every value in it is complete; writes go on in later rounds (a writer that
// died holding SQLite's write lock does not block the next one).
TEST(DiskStore, KillNineMidWriteNeverLeavesATornValue) {
  TempDir dir;
  const std::string path = dir / "db";
  std::mt19937_64 rng(2024);
  int verified = 0;
  int progressed_rounds = 0;
#ifdef NDEBUG
  constexpr int kRounds = 50;
#else
  constexpr int kRounds = 25;  // sanitizer builds
#endif
  for (int round = 0; round < kRounds; ++round) {
    // The writer says "committed" after each Put: the kill then lands at a
    // random moment after its first commit (so every round shows that writes
    // go on after the previous kill) and in the middle of later writes.
    int committed[2];
    ASSERT_EQ(::pipe(committed), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(committed[0]);
      DiskStoreOptions options;
      options.path = path;
      options.max_bytes = 32 * kMiB;
      std::unique_ptr<Store> store;
      if (!OpenDiskStore(options, &store).ok()) ::_exit(2);
      std::mt19937_64 child_rng(static_cast<std::uint64_t>(round));
      for (std::uint64_t i = 0;; ++i) {
        const std::uint64_t seed = static_cast<std::uint64_t>(round + 1) << 32 | i;
        const std::size_t size = 1024 + child_rng() % (3 * kMiB);
        if (!store->Put("k" + std::to_string(i % 12), MakeValue(seed, size)).ok()) ::_exit(3);
        if (i == 0 && ::write(committed[1], "c", 1) != 1) ::_exit(4);
      }
    }
    ::close(committed[1]);
    pollfd first{committed[0], POLLIN, 0};
    ASSERT_EQ(::poll(&first, 1, 60000), 1) << "round " << round << ": the writer never committed";
    ::close(committed[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 40));
    ::kill(pid, SIGKILL);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer exited by itself: status " << status;

    auto store = Open(path, 32 * kMiB);
    ASSERT_NE(store, nullptr);
    std::string value;
    bool progressed = false;
    for (int k = 0; k < 12; ++k) {
      Status s = store->Get("k" + std::to_string(k), &value);
      if (s.IsNotFound()) continue;
      ASSERT_TRUE(s.ok()) << s.ToString();
      ASSERT_TRUE(ValueIsIntact(value)) << "round " << round << " key k" << k;
      ++verified;
      if (SeedOf(value) >> 32 == static_cast<std::uint64_t>(round + 1)) progressed = true;
    }
    progressed_rounds += progressed;
  }
  EXPECT_GT(verified, 0);
  EXPECT_EQ(progressed_rounds, kRounds) << "a round's committed write was not visible";
  // Writes still work after all those kills.
  auto store = Open(path, 32 * kMiB);
  ASSERT_TRUE(store->Put("after", "ok").ok());
}

// --- damage ------------------------------------------------------------------

// Runs one SQL statement on the store's database behind its back.
void ExecOn(const std::string& db_file, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_file.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error != nullptr ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

void Overwrite(const std::string& file, std::uintmax_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open()) << file;
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::size_t QuarantinedFiles(const std::string& dir) {
  std::error_code ec;
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir + "/damaged", ec)) {
    n += entry.path().filename().string().starts_with("store.db.");
  }
  return n;
}

// Every way a row can change behind the store's back: the value, the expiry,
// the checksum, the key. None is served; each is dropped and counted, and the
// key caches again.
TEST(DiskStore, DamagedRowsAreDroppedNeverServed) {
  TempDir dir;
  const std::string path = dir / "db";
  {
    auto store = Open(path);
    for (const char* key : {"value", "expiry", "checksum", "moved", "intact"}) {
      ASSERT_TRUE(store->Put(key, MakeValue(7, 5000)).ok());
    }
  }
  const std::string db = path + "/store.db";
  ExecOn(db,
         "UPDATE entries SET value = substr(value, 1, 100) || x'00' || substr(value, 102) "
         "WHERE key = CAST('value' AS BLOB)");
  ExecOn(db, "UPDATE entries SET expires = 4102444800000 WHERE key = CAST('expiry' AS BLOB)");
  ExecOn(db, "UPDATE entries SET checksum = checksum + 1 WHERE key = CAST('checksum' AS BLOB)");
  ExecOn(db,
         "UPDATE entries SET key = CAST('elsewhere' AS BLOB) WHERE key = CAST('moved' AS BLOB)");
  auto store = Open(path);
  std::string value;
  for (const char* key : {"value", "expiry", "checksum", "elsewhere"}) {
    const Status s = store->Get(key, &value);
    EXPECT_TRUE(s.IsNotFound()) << key << ": " << s.ToString();
    EXPECT_NE(s.message().find("damaged entry"), std::string::npos) << key << ": " << s.message();
  }
  EXPECT_EQ(store->Stats().damaged, 4u);
  EXPECT_EQ(store->Stats().entries, 1u);  // the damaged rows are gone
  ASSERT_TRUE(store->Get("intact", &value).ok());
  EXPECT_EQ(value, MakeValue(7, 5000));
  ASSERT_TRUE(store->Put("value", "again").ok());
  ASSERT_TRUE(store->Get("value", &value).ok());
  EXPECT_EQ(value, "again");
}

// The database file itself damaged in the ways disks, crashes and people
// damage files. Opening never fails and never crashes; what cannot be read
// is moved to <dir>/damaged/ and the store caches again at once.
TEST(DiskStore, MalformedDatabaseIsQuarantinedAndReplaced) {
  struct Damage {
    const char* name;
    void (*apply)(const std::string& db);
  };
  const Damage damages[] = {
      {"header overwritten",
       [](const std::string& db) { Overwrite(db, 0, std::string(100, 'Z')); }},
      {"truncated to 1000 bytes",
       [](const std::string& db) { std::filesystem::resize_file(db, 1000); }},
      {"schema page zeroed",
       [](const std::string& db) { Overwrite(db, 100, std::string(3996, '\0')); }},
      {"every page's first bytes changed",
       [](const std::string& db) {
         const auto size = std::filesystem::file_size(db);
         for (std::uintmax_t at = 4096; at < size; at += 4096) Overwrite(db, at, "ÿÿÿÿ");
       }},
      {"replaced by a directory",
       [](const std::string& db) {
         std::filesystem::remove(db);
         std::filesystem::create_directory(db);
       }},
  };
  for (const Damage& damage : damages) {
    SCOPED_TRACE(damage.name);
    TempDir dir;
    const std::string path = dir / "db";
    {
      auto store = Open(path, 64 * kMiB, DiskStoreOptions::Sync::kNone);
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(store->Put("k" + std::to_string(i), MakeValue(i, 100 + i * 37)).ok());
      }
    }
    // Checkpoint the WAL into the main file, so the damage reaches the rows.
    ExecOn(path + "/store.db", "PRAGMA wal_checkpoint(TRUNCATE)");
    damage.apply(path + "/store.db");

    auto store = Open(path);
    ASSERT_NE(store, nullptr);
    std::string value;
    int served = 0;
    for (int i = 0; i < 200; ++i) {
      const Status s = store->Get("k" + std::to_string(i), &value);
      if (s.ok()) {
        ASSERT_EQ(value, MakeValue(i, 100 + i * 37)) << "k" << i;
        ++served;
      }
    }
    ASSERT_TRUE(store->Put("fresh", "value").ok());
    ASSERT_TRUE(store->Get("fresh", &value).ok());
    EXPECT_EQ(value, "value");
    if (served < 200) {
      EXPECT_GE(store->Stats().damaged, 1u);
      EXPECT_GE(QuarantinedFiles(path), 1u);
    }
  }
}

// rm -rf of the cache directory under a running store: its next write makes
// the directory again, and a store opened afterwards sees that write.
TEST(DiskStore, DirectoryRemovedUnderARunningStoreIsRecreated) {
  TempDir dir;
  const std::string path = dir / "db";
  auto store = Open(path);
  ASSERT_TRUE(store->Put("before", "x").ok());
  std::filesystem::remove_all(path);
  ASSERT_TRUE(store->Put("after", "y").ok());
  auto other = Open(path);
  std::string value;
  ASSERT_TRUE(other->Get("after", &value).ok());
  EXPECT_EQ(value, "y");
  EXPECT_TRUE(other->Get("before", &value).IsNotFound());
  ASSERT_TRUE(other->Put("from-other", "z").ok());
  ASSERT_TRUE(store->Get("from-other", &value).ok());
  EXPECT_EQ(store->Stats().errors, 0u);
}

// A file where the directory should be: a clear error naming the path, not a
// crash; nothing of the user's is moved or removed.
TEST(DiskStore, DirectoryReplacedByAFileIsReported) {
  TempDir dir;
  const std::string path = dir / "db";
  { std::ofstream(path) << "not a directory"; }
  DiskStoreOptions options;
  options.path = path;
  std::unique_ptr<Store> store;
  const Status s = OpenDiskStore(options, &store);
  EXPECT_EQ(s.code(), Status::Code::kIOError);
  EXPECT_NE(s.message().find(path + " is not a directory"), std::string::npos) << s.message();
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  EXPECT_EQ(text, "not a directory");
}

}  // namespace
