// disk_engines: the disk tier's candidate storage engines, measured side by side in one run.
//
//   build/release/bench/cpp/disk_engines [--quick] [--out bench/disk-engines.md] [--dir /tmp]
//                                        [--seed N] [--only perf,mix,kill,damage]
//
// The full run takes about 80 s on 2 cores, --quick about 30 s; `scripts/dev bench` runs the
// quick one into bench/disk-engines.md.
//
// Issue 12 asks for a disk:// tier that no file content can crash, hang or turn into an
// exception. This program is the evidence behind the engine chosen for it (docs/STORAGE.md).
// Three minimal engines sit behind one interface (open on a directory, put, get), each written
// the way a careful store would be:
//
//   lmdb    as the old disk:// store: MDB_NOTLS, one environment per process, a write
//           transaction per put with MDB_NOMETASYNC (one fdatasync per commit), the value stored
//           raw behind a 16-byte header (expiry, sequence) and nothing that checks its bytes;
//   sqlite  WAL mode, synchronous=NORMAL (no fsync per commit), mmap_size=0, busy_timeout 5000,
//           one connection per thread with prepared statements, INSERT OR REPLACE in autocommit,
//           an XXH3-64 of (key, value) per row checked on every read;
//   files   one file per entry as ccache and bazel-remote do: 2-hex-digit fan-out directories,
//           a temp file renamed over the entry, no fsync, a trailing XXH3-64 of (key, value)
//           checked on read (a read is open + fstat + read + close).
//
// Measured for each, in the same run: hit latency, put throughput, 8 processes x 4 threads of
// mixed traffic on one directory, writers killed with SIGKILL, and a battery of damaged files.
// Everything that can crash (a reader of damaged files, a writer killed mid-put) runs in a
// forked child, so a SIGSEGV or SIGBUS is a counted outcome instead of the end of the run.
// The table goes to stdout and to --out.

#include <fcntl.h>
#include <lmdb.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Log(const std::string& msg) { std::fprintf(stderr, "==> %s\n", msg.c_str()); }

void PutLe(char* out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
std::uint64_t GetLe(const char* in, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes.size());
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

// --- keys and self-describing values -------------------------------------------------------

// 16 bytes, like a memokey key (an XXH3-128): spread over the key space, so B-tree inserts and
// fan-out directories see the random order real keys have.
std::string Key(std::uint64_t id) {
  const XXH128_hash_t h = XXH3_128bits_withSeed(&id, sizeof id, 0x6d656d6f6b6579ULL);
  std::string k(16, '\0');
  PutLe(k.data(), h.low64, 8);
  PutLe(k.data() + 8, h.high64, 8);
  return k;
}

std::uint64_t SplitMix(std::uint64_t& s) {
  std::uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// A value says what it is: [id u64][generation u32][size u32] then bytes derived from (id,
// generation). A reader can thus tell, with no record of what was written, whether the bytes it
// got are exactly some value a writer put under that key: a torn, shifted, truncated or
// misdirected value fails the check.
constexpr std::size_t kValueHeader = 16;

std::uint64_t FillSeed(std::uint64_t id, std::uint32_t gen) { return id * 0x100000001b3ULL ^ gen; }

std::string MakeValue(std::uint64_t id, std::uint32_t gen, std::size_t size) {
  size = std::max(size, kValueHeader);
  std::string v(size, '\0');
  PutLe(v.data(), id, 8);
  PutLe(v.data() + 8, gen, 4);
  PutLe(v.data() + 12, size, 4);
  std::uint64_t s = FillSeed(id, gen);
  for (std::size_t i = kValueHeader; i < size; i += 8) {
    const std::uint64_t x = SplitMix(s);
    std::memcpy(v.data() + i, &x, std::min<std::size_t>(8, size - i));
  }
  return v;
}

bool Intact(std::string_view v, std::uint64_t id, std::uint32_t* gen = nullptr) {
  if (v.size() < kValueHeader || GetLe(v.data(), 8) != id || GetLe(v.data() + 12, 4) != v.size()) {
    return false;
  }
  const auto g = static_cast<std::uint32_t>(GetLe(v.data() + 8, 4));
  std::uint64_t s = FillSeed(id, g);
  for (std::size_t i = kValueHeader; i < v.size(); i += 8) {
    const std::uint64_t x = SplitMix(s);
    if (std::memcmp(v.data() + i, &x, std::min<std::size_t>(8, v.size() - i)) != 0) return false;
  }
  if (gen) *gen = g;
  return true;
}

// The per-entry check of the sqlite and files engines. Seeded with the key's hash, so a value
// that is intact but filed under another key (a misdirected page or file) fails it too.
std::uint64_t Checksum(std::string_view key, std::string_view value) {
  return XXH3_64bits_withSeed(value.data(), value.size(), XXH3_64bits(key.data(), key.size()));
}

// --- the engine interface ------------------------------------------------------------------

enum class Got { kHit, kMiss, kCorrupt, kError };  // kCorrupt: the engine's own check refused

// One per thread: an SQLite connection, an LMDB read transaction to renew, a temp-name counter.
class Session {
 public:
  virtual ~Session() = default;
  virtual bool Put(std::string_view key, std::string_view value) = 0;
  virtual Got Get(std::string_view key, std::string* value) = 0;
  const std::string& error() const { return error_; }

 protected:
  std::string error_;  // the last failure, for the report
};

using Entries = std::vector<std::pair<std::string, std::string>>;

class Engine {
 public:
  virtual ~Engine() = default;
  virtual std::unique_ptr<Session> NewSession(std::string* error) = 0;
  // Setup only, never timed: many entries in as few commits as the engine allows, so that
  // populating 10,000 entries does not cost 10,000 fdatasyncs on LMDB.
  virtual bool Load(const Entries& entries, std::string* error) {
    auto s = NewSession(error);
    if (!s) return false;
    for (const auto& [k, v] : entries) {
      if (!s->Put(k, v)) return *error = s->error(), false;
    }
    return true;
  }
};

enum class Kind { kLmdb, kSqlite, kFiles };
constexpr Kind kKinds[] = {Kind::kLmdb, Kind::kSqlite, Kind::kFiles};

const char* Name(Kind k) {
  switch (k) {
    case Kind::kLmdb:
      return "lmdb";
    case Kind::kSqlite:
      return "sqlite";
    case Kind::kFiles:
      return "files";
  }
  return "?";
}
const char* Title(Kind k) {
  switch (k) {
    case Kind::kLmdb:
      return "LMDB";
    case Kind::kSqlite:
      return "SQLite WAL";
    case Kind::kFiles:
      return "file per entry";
  }
  return "?";
}

bool MakeDir(const std::string& dir, std::string* error) {
  if (::mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST) return true;
  *error = "mkdir " + dir + ": " + std::strerror(errno);
  return false;
}

// --- (a) LMDB ------------------------------------------------------------------------------

// Address space only: the file grows with its contents. Large enough that no run fills it.
constexpr std::size_t kLmdbMapSize = std::size_t{8} << 30;
constexpr std::size_t kLmdbHeader = 16;  // expires (u64) + sequence (u64), as the old store

MDB_val Val(std::string_view s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

class LmdbEngine;

class LmdbSession final : public Session {
 public:
  LmdbSession(MDB_env* env, MDB_dbi dbi) : env_(env), dbi_(dbi) {}
  ~LmdbSession() override {
    if (read_) mdb_txn_abort(read_);
  }

  Got Get(std::string_view key, std::string* value) override {
    // A reset read transaction renewed per get, as the old store's pool: no reader-slot lookup
    // and no allocation on the hit path.
    const int rc0 = read_ ? mdb_txn_renew(read_) : mdb_txn_begin(env_, nullptr, MDB_RDONLY, &read_);
    if (rc0 != 0) {
      if (read_) mdb_txn_abort(read_);
      read_ = nullptr;
      return Fail("read txn", rc0), Got::kError;
    }
    MDB_val k = Val(key), v{};
    const int rc = mdb_get(read_, dbi_, &k, &v);
    Got got = Got::kHit;
    if (rc == MDB_NOTFOUND) {
      got = Got::kMiss;
    } else if (rc != 0) {
      Fail("mdb_get", rc);
      got = Got::kError;
    } else if (v.mv_size < kLmdbHeader) {
      got = Got::kCorrupt;  // the header is all LMDB's layout lets a reader check
    } else {
      value->assign(static_cast<const char*>(v.mv_data) + kLmdbHeader, v.mv_size - kLmdbHeader);
    }
    mdb_txn_reset(read_);
    return got;
  }

  bool Put(std::string_view key, std::string_view value) override {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) return Fail("write txn", rc);
    if (!Write(txn, key, value)) return mdb_txn_abort(txn), false;
    if (int rc = mdb_txn_commit(txn); rc != 0) return Fail("mdb_txn_commit", rc);
    return true;
  }

  // In the caller's write transaction; MDB_RESERVE: the value is copied once, into the page.
  bool Write(MDB_txn* txn, std::string_view key, std::string_view value) {
    MDB_val k = Val(key), v{kLmdbHeader + value.size(), nullptr};
    if (int rc = mdb_put(txn, dbi_, &k, &v, MDB_RESERVE); rc != 0) return Fail("mdb_put", rc);
    char* out = static_cast<char*>(v.mv_data);
    PutLe(out, 0, 8);  // expires: never
    PutLe(out + 8, ++seq_, 8);
    std::memcpy(out + kLmdbHeader, value.data(), value.size());
    return true;
  }

 private:
  bool Fail(const char* what, int rc) {
    error_ = std::string(what) + ": " + mdb_strerror(rc);
    return false;
  }

  MDB_env* env_;
  MDB_dbi dbi_;
  MDB_txn* read_ = nullptr;
  std::uint64_t seq_ = 0;
};

class LmdbEngine final : public Engine {
 public:
  static std::unique_ptr<Engine> Open(const std::string& dir, std::string* error) {
    if (!MakeDir(dir, error)) return nullptr;
    MDB_env* raw = nullptr;
    if (int rc = mdb_env_create(&raw); rc != 0) return Fail(error, "mdb_env_create", rc);
    std::unique_ptr<LmdbEngine> e(new LmdbEngine(raw));  // closes the env on every failure below
    mdb_env_set_maxreaders(raw, 1024);
    if (int rc = mdb_env_set_mapsize(raw, kLmdbMapSize); rc != 0) {
      return Fail(error, "mdb_env_set_mapsize", rc);
    }
    const unsigned flags = MDB_NOTLS | MDB_NORDAHEAD | MDB_NOMETASYNC;
    if (int rc = mdb_env_open(raw, dir.c_str(), flags, 0600); rc != 0) {
      return Fail(error, "mdb_env_open", rc);
    }
    int dead = 0;
    mdb_reader_check(raw, &dead);  // free the reader slots of killed processes
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(raw, nullptr, 0, &txn); rc != 0) return Fail(error, "txn", rc);
    if (int rc = mdb_dbi_open(txn, nullptr, 0, &e->dbi_); rc != 0) {
      mdb_txn_abort(txn);
      return Fail(error, "mdb_dbi_open", rc);
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return Fail(error, "mdb_txn_commit", rc);
    return e;
  }
  ~LmdbEngine() override { mdb_env_close(env_); }

  std::unique_ptr<Session> NewSession(std::string*) override {
    return std::make_unique<LmdbSession>(env_, dbi_);
  }

  bool Load(const Entries& entries, std::string* error) override {
    LmdbSession s(env_, dbi_);
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) {
      return *error = mdb_strerror(rc), false;
    }
    for (const auto& [k, v] : entries) {
      if (!s.Write(txn, k, v)) return mdb_txn_abort(txn), *error = s.error(), false;
    }
    if (int rc = mdb_txn_commit(txn); rc != 0) return *error = mdb_strerror(rc), false;
    return true;
  }

 private:
  explicit LmdbEngine(MDB_env* env) : env_(env) {}
  static std::unique_ptr<Engine> Fail(std::string* error, const char* what, int rc) {
    *error = std::string(what) + ": " + mdb_strerror(rc);
    return nullptr;
  }

  MDB_env* env_;
  MDB_dbi dbi_ = 0;
};

// --- (b) SQLite in WAL mode ----------------------------------------------------------------

constexpr const char* kSqliteFile = "cache.sqlite";

class SqliteSession final : public Session {
 public:
  static std::unique_ptr<SqliteSession> Open(const std::string& path, std::string* error) {
    sqlite3* db = nullptr;
    const int rc =
        sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    std::unique_ptr<SqliteSession> s(new SqliteSession(db));  // a failed open still needs close
    if (rc != SQLITE_OK) return *error = s->Message("open"), nullptr;
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    // The hardening SQLite's "defense against the dark arts" page lists for files that may be
    // damaged: no mmap (a read error is an error code, not a SIGBUS), cell size checks on every
    // b-tree page read, defensive mode, untrusted schema.
    sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
    if (!s->JournalWal(error)) return nullptr;
    const char* setup =
        "PRAGMA synchronous=NORMAL; PRAGMA mmap_size=0; PRAGMA cell_size_check=ON;"
        "PRAGMA trusted_schema=OFF; PRAGMA journal_size_limit=67108864;"
        "CREATE TABLE IF NOT EXISTS entries(key BLOB PRIMARY KEY NOT NULL, value BLOB NOT NULL,"
        " expires INTEGER NOT NULL, checksum INTEGER NOT NULL, atime INTEGER NOT NULL);";
    if (sqlite3_exec(db, setup, nullptr, nullptr, nullptr) != SQLITE_OK) {
      return *error = s->Message("setup"), nullptr;
    }
    if (!s->Prepare("SELECT value, checksum FROM entries WHERE key=?1", &s->get_, error) ||
        !s->Prepare("BEGIN", &s->begin_, error) || !s->Prepare("COMMIT", &s->commit_, error) ||
        !s->Prepare("INSERT OR REPLACE INTO entries(key, value, expires, checksum, atime)"
                    " VALUES(?1, ?2, 0, ?3, ?4)",
                    &s->put_, error)) {
      return nullptr;
    }
    return s;
  }
  ~SqliteSession() override {
    EndSnapshot();
    sqlite3_finalize(get_);
    sqlite3_finalize(put_);
    sqlite3_finalize(begin_);
    sqlite3_finalize(commit_);
    sqlite3_close_v2(db_);
  }

  // An option measured beside the default: keep one read transaction (one snapshot) for up to
  // `gets` gets or 1 ms, instead of one per get. Beginning and ending a WAL read transaction
  // costs two fcntl calls on the -shm file (its read-mark lock) and an fstat of the database;
  // sharing it divides those by up to `gets`. The price: a get may miss a value another process
  // wrote under 1 ms ago, and checkpoints wait for the snapshot to end.
  void ReuseSnapshots(int gets) { snapshot_gets_ = gets; }

  Got Get(std::string_view key, std::string* value) override {
    if (snapshot_gets_ > 0 && !in_snapshot_ && Step(begin_) == SQLITE_DONE) {
      in_snapshot_ = true;
      snapshot_used_ = 0;
      snapshot_start_ = Clock::now();
    }
    sqlite3_bind_blob(get_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(get_);
    Got got = Got::kMiss;
    if (rc == SQLITE_ROW) {
      const void* p = sqlite3_column_blob(get_, 0);
      const int n = sqlite3_column_bytes(get_, 0);
      const auto stored = static_cast<std::uint64_t>(sqlite3_column_int64(get_, 1));
      const std::string_view v(p ? static_cast<const char*>(p) : "", p ? std::size_t(n) : 0);
      if (Checksum(key, v) != stored) {
        got = Got::kCorrupt;
      } else {
        value->assign(v);
        got = Got::kHit;
      }
    } else if (rc != SQLITE_DONE) {
      error_ = Message("get");
      got = Got::kError;
    }
    // Reset at once: a statement left stepping holds its read transaction, which pins the WAL
    // and keeps checkpoints from reclaiming it.
    sqlite3_reset(get_);
    if (in_snapshot_ && (got == Got::kError || ++snapshot_used_ >= snapshot_gets_ ||
                         Clock::now() - snapshot_start_ > std::chrono::milliseconds(1))) {
      EndSnapshot();
    }
    return got;
  }

  bool Put(std::string_view key, std::string_view value) override {
    EndSnapshot();
    sqlite3_bind_blob(put_, 1, key.data(), static_cast<int>(key.size()), SQLITE_STATIC);
    sqlite3_bind_blob(put_, 2, value.data(), static_cast<int>(value.size()), SQLITE_STATIC);
    sqlite3_bind_int64(put_, 3, static_cast<sqlite3_int64>(Checksum(key, value)));
    sqlite3_bind_int64(put_, 4, static_cast<sqlite3_int64>(std::time(nullptr)));
    const int rc = sqlite3_step(put_);
    if (rc != SQLITE_DONE) error_ = Message("put");
    sqlite3_reset(put_);
    return rc == SQLITE_DONE;
  }

  bool Exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK) return true;
    error_ = Message(sql);
    return false;
  }

 private:
  explicit SqliteSession(sqlite3* db) : db_(db) {}

  std::string Message(const char* what) const {
    return std::string(what) + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory");
  }

  bool Prepare(const char* sql, sqlite3_stmt** stmt, std::string* error) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr) == SQLITE_OK) {
      return true;
    }
    *error = Message("prepare");
    return false;
  }

  int Step(sqlite3_stmt* st) {
    const int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc;
  }
  void EndSnapshot() {
    if (in_snapshot_) Step(commit_);
    in_snapshot_ = false;
  }

  // journal_mode answers with the mode in force: anything but "wal" is a failure.
  bool JournalWal(std::string* error) {
    sqlite3_stmt* st = nullptr;
    if (!Prepare("PRAGMA journal_mode=WAL", &st, error)) return false;
    const int rc = sqlite3_step(st);
    const unsigned char* mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : nullptr;
    const bool wal = mode && std::strcmp(reinterpret_cast<const char*>(mode), "wal") == 0;
    if (!wal) *error = rc == SQLITE_ROW ? "journal_mode is not wal" : Message("journal_mode");
    sqlite3_finalize(st);
    return wal;
  }

  sqlite3* db_;
  sqlite3_stmt* get_ = nullptr;
  sqlite3_stmt* put_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
  int snapshot_gets_ = 0;  // 0: a read transaction per get (autocommit)
  bool in_snapshot_ = false;
  int snapshot_used_ = 0;
  Clock::time_point snapshot_start_;
};

class SqliteEngine final : public Engine {
 public:
  static std::unique_ptr<Engine> Open(const std::string& dir, std::string* error) {
    if (!MakeDir(dir, error)) return nullptr;
    std::unique_ptr<SqliteEngine> e(new SqliteEngine(dir + "/" + kSqliteFile));
    // One connection up front: the schema and WAL mode exist, or opening fails here.
    if (!SqliteSession::Open(e->path_, error)) return nullptr;
    return e;
  }

  std::unique_ptr<Session> NewSession(std::string* error) override {
    return SqliteSession::Open(path_, error);
  }

  bool Load(const Entries& entries, std::string* error) override {
    auto s = SqliteSession::Open(path_, error);
    if (!s) return false;
    // Commits of 500 entries: few commits, and a WAL that checkpoints keep small.
    for (std::size_t i = 0; i < entries.size(); i += 500) {
      if (!s->Exec("BEGIN IMMEDIATE")) return *error = s->error(), false;
      for (std::size_t j = i; j < std::min(entries.size(), i + 500); ++j) {
        if (!s->Put(entries[j].first, entries[j].second)) return *error = s->error(), false;
      }
      if (!s->Exec("COMMIT")) return *error = s->error(), false;
    }
    return true;
  }

 private:
  explicit SqliteEngine(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// --- (c) one file per entry ----------------------------------------------------------------

// Past this size a file is not an entry this store wrote (and reading it would be a memory bomb).
constexpr off_t kMaxEntryFile = off_t{1} << 30;
constexpr std::size_t kTrailer = 8;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset(int fd) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

bool WriteAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

class FilesSession final : public Session {
 public:
  explicit FilesSession(std::string dir) : dir_(std::move(dir)) {}

  bool Put(std::string_view key, std::string_view value) override {
    const std::string hex = Hex(key);
    const std::string sub = dir_ + "/" + hex.substr(0, 2);
    const std::string path = sub + "/" + hex;
    // pid + session address + counter: unique across the processes and threads sharing the
    // directory, so no writer ever opens another's temp file.
    const std::string tmp = sub + "/.tmp-" + hex + "." + std::to_string(::getpid()) + "." +
                            std::to_string(reinterpret_cast<std::uintptr_t>(this)) + "." +
                            std::to_string(++counter_);
    Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd && errno == ENOENT) {  // first entry of this fan-out directory
      if (!MakeDir(sub, &error_)) return false;
      fd.reset(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    }
    if (!fd) return Fail("open " + tmp);
    char trailer[kTrailer];
    PutLe(trailer, Checksum(key, value), 8);
    const bool written = WriteAll(fd.get(), value.data(), value.size()) &&
                         WriteAll(fd.get(), trailer, sizeof trailer) && ::close(fd.release()) == 0;
    // No fsync: a cache needs no power-loss durability, and rename(2) already makes the entry
    // appear whole or not at all to every other process.
    if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
      Fail("write " + tmp);
      ::unlink(tmp.c_str());
      return false;
    }
    return true;
  }

  Got Get(std::string_view key, std::string* value) override {
    const std::string hex = Hex(key);
    const std::string path = dir_ + "/" + hex.substr(0, 2) + "/" + hex;
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno == ENOENT ? Got::kMiss : (Fail("open " + path), Got::kError);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return Fail("fstat " + path), Got::kError;
    if (!S_ISREG(st.st_mode) || st.st_size < off_t{kTrailer} || st.st_size > kMaxEntryFile) {
      return Got::kCorrupt;
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    value->resize(size);
    std::size_t got = 0;
    while (got < size) {
      const ssize_t r = ::read(fd.get(), value->data() + got, size - got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return Fail("read " + path), Got::kError;
      if (r == 0) return Got::kCorrupt;  // shorter than fstat said: truncated under us
      got += static_cast<std::size_t>(r);
    }
    const std::uint64_t stored = GetLe(value->data() + size - kTrailer, 8);
    value->resize(size - kTrailer);
    return Checksum(key, *value) == stored ? Got::kHit : Got::kCorrupt;
  }

 private:
  bool Fail(const std::string& what) {
    error_ = what + ": " + std::strerror(errno);
    return false;
  }

  std::string dir_;
  std::uint64_t counter_ = 0;
};

class FilesEngine final : public Engine {
 public:
  static std::unique_ptr<Engine> Open(const std::string& dir, std::string* error) {
    if (!MakeDir(dir, error)) return nullptr;
    return std::unique_ptr<Engine>(new FilesEngine(dir));
  }
  std::unique_ptr<Session> NewSession(std::string*) override {
    return std::make_unique<FilesSession>(dir_);
  }

 private:
  explicit FilesEngine(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

std::unique_ptr<Engine> OpenEngine(Kind kind, const std::string& dir, std::string* error) {
  switch (kind) {
    case Kind::kLmdb:
      return LmdbEngine::Open(dir, error);
    case Kind::kSqlite:
      return SqliteEngine::Open(dir, error);
    case Kind::kFiles:
      return FilesEngine::Open(dir, error);
  }
  return nullptr;
}

// --- child processes -----------------------------------------------------------------------

struct ChildEnd {
  bool timed_out = false;
  int signal = 0;     // the signal that ended it, 0 if it exited
  int exit_code = 0;  // when it exited
};

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// Runs body(fd) in a forked child and collects what it writes to fd; a child still running after
// timeout_s is killed and reported as a hang. The parent holds no open engine when it forks: an
// LMDB environment or SQLite connection must not cross a fork.
ChildEnd RunChild(const std::function<void(int)>& body, std::string* out, double timeout_s) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::perror("pipe2");
    std::exit(2);
  }
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(2);
  }
  if (pid == 0) {
    ::close(fds[0]);
    int code = 0;
    try {
      body(fds[1]);
    } catch (...) {
      code = 3;
    }
    ::_exit(code);  // no atexit handlers, no flushing of the parent's stdio buffers
  }
  ::close(fds[1]);
  ChildEnd end;
  const auto t0 = Clock::now();
  char buf[4096];
  for (;;) {
    const double left = timeout_s - Since(t0);
    if (left <= 0) {
      end.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left * 1000) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    const ssize_t r = ::read(fds[0], buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // EOF: the child exited (or died)
    out->append(buf, static_cast<std::size_t>(r));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status) && !end.timed_out) end.signal = WTERMSIG(status);
  if (WIFEXITED(status)) end.exit_code = WEXITSTATUS(status);
  return end;
}

// Writes a POD report to the parent; each write is one atomic pipe write (< PIPE_BUF), so the
// parent's last whole record is the child's last word before any crash.
template <class T>
void Send(int fd, const T& report) {
  static_assert(sizeof(T) <= 4096);
  [[maybe_unused]] const ssize_t w = ::write(fd, &report, sizeof report);
}
template <class T>
bool Last(const std::string& bytes, T* report) {
  if (bytes.size() < sizeof(T)) return false;
  std::memcpy(report, bytes.data() + (bytes.size() / sizeof(T) - 1) * sizeof(T), sizeof(T));
  return true;
}

void CopyError(char (&dst)[160], const std::string& src) {
  if (dst[0] == '\0') std::snprintf(dst, sizeof dst, "%s", src.c_str());
}

// Anonymous shared memory for counters that must survive a child's SIGKILL.
template <class T>
class Shared {
 public:
  Shared() {
    void* p = ::mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("mmap");
      std::exit(2);
    }
    ptr_ = new (p) T();
  }
  Shared(const Shared&) = delete;
  Shared& operator=(const Shared&) = delete;
  ~Shared() {
    ptr_->~T();
    ::munmap(ptr_, sizeof(T));
  }
  T* operator->() const { return ptr_; }
  T& operator*() const { return *ptr_; }

 private:
  T* ptr_;
};

// --- options and results -------------------------------------------------------------------

struct Options {
  bool quick = false;
  std::string out;
  std::string base = "/tmp";
  std::uint64_t seed = 12;
  std::string only = "perf,mix,kill,damage";  // the measurements to run
  std::string command = "disk_engines";       // as run, for the report
  // derived from quick
  int latency_gets = 100000;  // per timed pass (5 passes, --quick 3)
  double put_seconds = 1.5;   // per engine and value size, over all rounds
  double mix_seconds = 4.0;   // per engine, over all rounds
  int kill_rounds = 30;       // per engine
};

struct PerfResult {
  double hit_us[2] = {0, 0};  // 100 B, 4 KB
  double puts_per_s[2] = {0, 0};
  double disk_bytes[2] = {0, 0};  // on disk after 10,000 entries
  std::uint64_t hit_misses = 0;   // gets that did not hit during the timed passes: must be 0
  std::string error;
};

struct MixResult {
  double seconds = 0;  // timed, over all rounds
  std::uint64_t gets = 0, puts = 0, errors = 0, wrong = 0;
  int crashed = 0;
  std::string first_error;
};

struct KillResult {
  int rounds = 0;
  std::uint64_t acked_puts = 0, put_errors = 0, reads = 0, ok = 0, torn = 0, lost = 0, detected = 0,
                errors = 0;
  int verify_crashes = 0, stray_temp = 0;
  std::string first_error;
};

struct DamageCell {
  ChildEnd end;
  bool reported = false;
  std::uint32_t phase = 0;  // how far the reader got: 0 open, 1 reads, 2 put after, 3 done
  std::uint32_t opened = 0, ok = 0, miss = 0, corrupt = 0, error = 0, wrong = 0, exception = 0;
  std::uint32_t put_after_ok = 0;
  std::string first_error;
};

struct Results {
  std::set<std::string> ran;  // the phases run (--only)
  PerfResult perf[3];
  double sqlite_snapshot_hit_us[2] = {0, 0};  // SQLite, read snapshot reused for 64 gets
  MixResult mix[3];
  KillResult kill[3];
  std::vector<DamageCell> damage[3];
};

// --- 1 + 2: hit latency, put throughput, disk use ------------------------------------------

constexpr int kLatencyEntries = 10000;
constexpr std::size_t kSizes[2] = {100, 4096};

double DiskBytes(const std::string& dir) {
  double total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) == 0 && (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
      total += 512.0 * double(st.st_blocks);
  }
  return total;
}

// All three engines are set up side by side and measured in rotating rounds (lmdb, sqlite,
// files; then sqlite, files, lmdb; ...): on a shared machine the load drifts within seconds,
// and back-to-back phases per engine would hand that drift to one engine.
void MeasurePerf(const Options& o, const std::string& base, Results* r) {
  const int rounds = o.quick ? 3 : 5;
  for (int si = 0; si < 2; ++si) {
    const std::size_t size = kSizes[si];
    Log("hit latency + put throughput, " + std::to_string(size) + " B values");
    std::unique_ptr<Engine> engines[3];
    std::unique_ptr<Session> sessions[3];
    std::unique_ptr<SqliteSession> snapshot;  // SQLite with ReuseSnapshots(64), same file
    for (Kind kind : kKinds) {
      const int e = int(kind);
      const std::string dir = base + "/perf-" + Name(kind) + "-" + std::to_string(size);
      std::string error;
      {
        auto engine = OpenEngine(kind, dir, &error);
        Entries batch;
        for (int i = 0; engine && i < kLatencyEntries; ++i) {
          batch.emplace_back(Key(std::uint64_t(i)), MakeValue(std::uint64_t(i), 1, size));
          if (batch.size() == 1000 || i + 1 == kLatencyEntries) {
            if (!engine->Load(batch, &error)) engine.reset();
            batch.clear();
          }
        }
      }  // closed: SQLite checkpoints its WAL into the file, so the disk use is the steady one
      r->perf[e].disk_bytes[si] = DiskBytes(dir);
      engines[e] = OpenEngine(kind, dir, &error);
      if (engines[e]) sessions[e] = engines[e]->NewSession(&error);
      if (!sessions[e]) {
        r->perf[e].error = error;
        continue;
      }
      if (kind == Kind::kSqlite) {
        snapshot = SqliteSession::Open(dir + "/" + kSqliteFile, &error);
        if (snapshot) snapshot->ReuseSnapshots(64);
      }
    }
    std::vector<std::string> keys;
    for (int i = 0; i < kLatencyEntries; ++i) keys.push_back(Key(std::uint64_t(i)));
    std::mt19937_64 rng(o.seed + std::uint64_t(si));
    std::vector<std::uint32_t> order(static_cast<std::size_t>(o.latency_gets));
    for (auto& x : order) x = static_cast<std::uint32_t>(rng() % kLatencyEntries);
    std::string v;
    // slot 3: the SQLite snapshot-reuse variant, timed in the same rotation
    Session* timed[4] = {sessions[0].get(), sessions[1].get(), sessions[2].get(), snapshot.get()};
    std::vector<double> passes[4];
    for (Session* s : timed) {
      for (std::size_t i = 0; s && i < keys.size(); ++i) s->Get(keys[i], &v);  // warm caches
    }
    for (int round = 0; round < rounds; ++round) {
      for (int j = 0; j < 4; ++j) {
        const int e = (round + j) % 4;
        if (!timed[e]) continue;
        const auto t0 = Clock::now();
        std::uint64_t missed = 0;
        for (std::uint32_t i : order) missed += timed[e]->Get(keys[i], &v) != Got::kHit;
        passes[e].push_back(Since(t0) * 1e6 / double(order.size()));
        if (e < 3) r->perf[e].hit_misses += missed;
      }
    }
    for (int e = 0; e < 4; ++e) {
      std::sort(passes[e].begin(), passes[e].end());
      const double median = passes[e].empty() ? 0 : passes[e][passes[e].size() / 2];
      if (e < 3)
        r->perf[e].hit_us[si] = median;
      else
        r->sqlite_snapshot_hit_us[si] = median;
    }
    snapshot.reset();

    // Fresh keys into the populated stores, one put (one commit) each; the same rotation, in
    // slices, so each engine gets put_seconds in total.
    const std::string value = MakeValue(7, 1, size);
    std::uint64_t next = 1000000, done[3] = {0, 0, 0};
    double spent[3] = {0, 0, 0};
    const double slice = o.put_seconds / rounds;
    for (int round = 0; round < rounds; ++round) {
      for (int j = 0; j < 3; ++j) {
        const int e = (round + j) % 3;
        if (!sessions[e]) continue;
        const auto t0 = Clock::now();
        double elapsed = 0;
        while ((elapsed = Since(t0)) < slice && done[e] < 200000) {
          for (int k = 0; k < 16; ++k, ++done[e]) {
            if (!sessions[e]->Put(Key(next++), value) && r->perf[e].error.empty()) {
              r->perf[e].error = sessions[e]->error();
            }
          }
        }
        spent[e] += elapsed;
      }
    }
    for (int e = 0; e < 3; ++e) {
      r->perf[e].puts_per_s[si] = spent[e] > 0 ? double(done[e]) / spent[e] : 0;
      sessions[e].reset();  // before its engine: an LMDB read transaction needs the env
      engines[e].reset();
      fs::remove_all(base + "/perf-" + Name(Kind(e)) + "-" + std::to_string(size));
    }
  }
}

// --- 3: 8 processes x 4 threads, 90% get / 10% put -----------------------------------------

constexpr int kMixProcs = 8, kMixThreads = 4, kMixKeys = 5000;
constexpr std::size_t kMixValue = 1024;

struct MixShared {
  std::atomic<int> ready{0}, start{0}, stop{0};
  struct Proc {
    std::atomic<std::uint64_t> gets{0}, puts{0}, errors{0}, wrong{0};
    std::atomic<int> error_set{0};
    char first_error[160] = {};
  } procs[kMixProcs];
};

void MixChild(Kind kind, const std::string& dir, int proc, MixShared* sh) {
  auto& me = sh->procs[proc];
  auto note = [&me](const std::string& e) {
    if (me.error_set.exchange(1) == 0) CopyError(me.first_error, e);
  };
  std::string error;
  auto engine = OpenEngine(kind, dir, &error);  // one environment per process
  if (!engine) {
    note(error);
    me.errors += 1;
    sh->ready += kMixThreads;
    return;
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < kMixThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string err;
      auto s = engine->NewSession(&err);  // one connection / read transaction per thread
      sh->ready += 1;
      if (!s) {
        note(err);
        me.errors += 1;
        return;
      }
      while (sh->start.load() == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
      std::mt19937_64 rng(std::uint64_t(proc * 100 + t));
      std::uint64_t gets = 0, puts = 0, errors = 0, wrong = 0;
      auto gen = static_cast<std::uint32_t>((proc * kMixThreads + t) << 20);
      std::string v;
      while (sh->stop.load(std::memory_order_relaxed) == 0) {
        const std::uint64_t id = rng() % kMixKeys;
        const std::string k = Key(id);
        if (rng() % 10 == 0) {
          ++puts;
          if (!s->Put(k, MakeValue(id, ++gen, kMixValue))) ++errors, note(s->error());
          continue;
        }
        ++gets;
        switch (s->Get(k, &v)) {
          case Got::kHit:
            if (!Intact(v, id)) ++wrong;
            break;
          case Got::kMiss:
            break;
          case Got::kCorrupt:
            ++wrong;
            break;  // a torn read the check caught: still a failure
          case Got::kError:
            ++errors, note(s->error());
            break;
        }
      }
      me.gets += gets;
      me.puts += puts;
      me.errors += errors;
      me.wrong += wrong;
    });
  }
  for (auto& th : threads) th.join();
}

// One timed round of the mixed load on a populated directory, added to *r.
void MixRound(Kind kind, const std::string& dir, double seconds, MixResult* r) {
  Shared<MixShared> sh;
  std::vector<pid_t> pids;
  std::fflush(nullptr);
  for (int p = 0; p < kMixProcs; ++p) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      try {
        MixChild(kind, dir, p, &*sh);
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    if (pid > 0) pids.push_back(pid);
  }
  const auto wait0 = Clock::now();
  while (sh->ready.load() < kMixProcs * kMixThreads && Since(wait0) < 30) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const auto t0 = Clock::now();
  sh->start = 1;
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  sh->stop = 1;
  r->seconds += Since(t0);
  for (pid_t pid : pids) {
    int status = 0;
    const auto w0 = Clock::now();
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (Since(w0) > 30) ::kill(pid, SIGKILL);  // a hung child: counted as a crash below
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++r->crashed;
  }
  for (auto& p : sh->procs) {
    r->gets += p.gets;
    r->puts += p.puts;
    r->errors += p.errors;
    r->wrong += p.wrong;
    if (r->first_error.empty() && p.first_error[0]) r->first_error = p.first_error;
  }
}

// Rounds alternate the engines' order (lmdb, sqlite, files; files, sqlite, lmdb), for the same
// reason as MeasurePerf's rotation.
void MeasureMix(const Options& o, const std::string& base, Results* r) {
  const int rounds = o.quick ? 1 : 2;
  bool ready[3] = {false, false, false};
  for (Kind kind : kKinds) {
    const std::string dir = base + "/mix-" + Name(kind);
    std::string error;
    auto engine = OpenEngine(kind, dir, &error);
    Entries all;
    for (int i = 0; i < kMixKeys; ++i) {
      all.emplace_back(Key(std::uint64_t(i)), MakeValue(std::uint64_t(i), 1, kMixValue));
    }
    ready[int(kind)] = engine && engine->Load(all, &error);
    if (!ready[int(kind)]) r->mix[int(kind)].first_error = error;
  }  // every engine closed before the children fork
  for (int round = 0; round < rounds; ++round) {
    for (int j = 0; j < 3; ++j) {
      const int e = round % 2 == 0 ? j : 2 - j;
      if (!ready[e]) continue;
      Log(std::string("8 processes x 4 threads, 90% get / 10% put: ") + Name(Kind(e)));
      MixRound(Kind(e), base + "/mix-" + Name(Kind(e)), o.mix_seconds / rounds, &r->mix[e]);
    }
  }
  for (Kind kind : kKinds) fs::remove_all(base + "/mix-" + Name(kind));
}

// --- 4: kill -9 during writes --------------------------------------------------------------

constexpr int kKillKeys = 64;

struct KillShared {
  std::atomic<int> ready{0};
  std::atomic<std::uint32_t> acked[kKillKeys] = {};  // the newest generation whose put returned
  std::atomic<std::uint64_t> puts{0}, put_errors{0};
  std::atomic<int> error_set{0};
  char first_error[160] = {};
};

struct KillReport {
  std::uint32_t reads = 0, ok = 0, torn = 0, lost = 0, detected = 0, errors = 0;
  char first_error[160] = {};
};

[[noreturn]] void KillWriter(Kind kind, const std::string& dir, int round, KillShared* sh,
                             std::uint64_t seed) {
  auto note = [sh](const std::string& e) {
    if (sh->error_set.exchange(1) == 0) CopyError(sh->first_error, e);
  };
  std::string error;
  auto engine = OpenEngine(kind, dir, &error);
  auto s = engine ? engine->NewSession(&error) : nullptr;
  if (!s) {
    note(error);
    sh->put_errors += 1;
    sh->ready = 1;
    ::_exit(1);
  }
  sh->ready = 1;
  std::mt19937_64 rng(seed);
  auto gen = static_cast<std::uint32_t>((round + 1) << 20);
  const auto t0 = Clock::now();
  while (Since(t0) < 30) {  // the parent kills it long before
    const std::uint64_t id = rng() % kKillKeys;
    // Mostly small values, one in four up to 48 KiB: values that span several pages.
    const std::size_t size = rng() % 4 == 0 ? 16 + rng() % 49152 : 16 + rng() % 2000;
    ++gen;
    if (s->Put(Key(id), MakeValue(id, gen, size))) {
      sh->acked[id].store(gen);
      sh->puts += 1;
    } else {
      note(s->error());
      sh->put_errors += 1;
    }
  }
  ::_exit(0);
}

void KillVerify(Kind kind, const std::string& dir, KillShared* sh, int fd) {
  KillReport rep;
  std::string error;
  auto engine = OpenEngine(kind, dir, &error);
  auto s = engine ? engine->NewSession(&error) : nullptr;
  if (!s) {
    rep.errors = kKillKeys;
    CopyError(rep.first_error, error);
    return Send(fd, rep);
  }
  std::string v;
  for (std::uint64_t id = 0; id < kKillKeys; ++id) {
    ++rep.reads;
    const std::uint32_t acked = sh->acked[id].load();
    std::uint32_t gen = 0;
    switch (s->Get(Key(id), &v)) {
      case Got::kHit:
        if (!Intact(v, id, &gen)) {
          ++rep.torn;
        } else if (gen < acked) {
          ++rep.lost;  // an older value than one whose put had returned
        } else {
          ++rep.ok;
        }
        break;
      case Got::kMiss:
        if (acked)
          ++rep.lost;
        else
          ++rep.ok;
        break;
      case Got::kCorrupt:
        ++rep.detected;
        if (acked) ++rep.lost;
        break;
      case Got::kError:
        ++rep.errors;
        CopyError(rep.first_error, s->error());
        break;
    }
  }
  Send(fd, rep);
}

void MeasureKill(Kind kind, const Options& o, const std::string& base, KillResult* r) {
  Log(std::string("kill -9 during writes: ") + Name(kind));
  const std::string dir = base + "/kill-" + Name(kind);
  Shared<KillShared> sh;
  std::mt19937_64 rng(o.seed * 31 + std::uint64_t(kind));
  for (int round = 0; round < o.kill_rounds; ++round) {
    sh->ready = 0;
    std::fflush(nullptr);
    const std::uint64_t child_seed = rng();
    const pid_t pid = ::fork();
    if (pid == 0) KillWriter(kind, dir, round, &*sh, child_seed);
    const auto w0 = Clock::now();
    while (sh->ready.load() == 0 && Since(w0) < 10) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    // A random moment in the first 40 ms of writing: mid-commit, mid-page, mid-rename.
    std::this_thread::sleep_for(std::chrono::microseconds(1000 + rng() % 39000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ++r->rounds;

    std::string out;
    const ChildEnd end = RunChild([&](int fd) { KillVerify(kind, dir, &*sh, fd); }, &out, 20);
    KillReport rep;
    if (end.signal || end.timed_out || !Last(out, &rep)) {
      ++r->verify_crashes;
      continue;
    }
    r->reads += rep.reads;
    r->ok += rep.ok;
    r->torn += rep.torn;
    r->lost += rep.lost;
    r->detected += rep.detected;
    r->errors += rep.errors;
    if (r->first_error.empty() && rep.first_error[0]) r->first_error = rep.first_error;
  }
  r->acked_puts = sh->puts;
  r->put_errors = sh->put_errors;
  if (r->first_error.empty() && sh->first_error[0]) r->first_error = sh->first_error;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->path().filename().string().rfind(".tmp-", 0) == 0) ++r->stray_temp;
  }
  fs::remove_all(dir);
}

// --- 5: the damage battery -----------------------------------------------------------------

constexpr int kDamageEntries = 300;
constexpr std::size_t kDamageSizes[4] = {100, 1000, 4000, 12000};  // 12000: overflow pages
constexpr int kDamagedEntryFiles = 30;  // files engine: damage lands on 10% of the entries
constexpr std::uint64_t kPage = 4096;

enum class Damage {
  kFlipBytes,
  kFlipEveryPage,
  kRandomBlock,
  kZeroBlock,
  kRandomHeader,
  kZeroHeader,
  kTruncateHalf,
  kTruncateTail,
  kTruncateZero,
  kAppendGarbage,
  kSwapPages,
  kSidecar,
};
constexpr Damage kDamages[] = {
    Damage::kFlipBytes,    Damage::kFlipEveryPage, Damage::kRandomBlock,  Damage::kZeroBlock,
    Damage::kRandomHeader, Damage::kZeroHeader,    Damage::kTruncateHalf, Damage::kTruncateTail,
    Damage::kTruncateZero, Damage::kAppendGarbage, Damage::kSwapPages,    Damage::kSidecar,
};

const char* DamageName(Damage d) {
  switch (d) {
    case Damage::kFlipBytes:
      return "flip 200 random bytes (entry files: 4 each)";
    case Damage::kFlipEveryPage:
      return "flip one byte in every 4 KiB page";
    case Damage::kRandomBlock:
      return "overwrite a 4 KiB block with random bytes";
    case Damage::kZeroBlock:
      return "overwrite a 4 KiB block with zeros";
    case Damage::kRandomHeader:
      return "overwrite the first 4 KiB (header) with random bytes";
    case Damage::kZeroHeader:
      return "overwrite the first 4 KiB (header) with zeros";
    case Damage::kTruncateHalf:
      return "truncate to half";
    case Damage::kTruncateTail:
      return "truncate mid-page (cut 5,000 B; entry files: 3 B)";
    case Damage::kTruncateZero:
      return "truncate to 0 bytes";
    case Damage::kAppendGarbage:
      return "append 64 KiB of garbage (entry files: 100 B)";
    case Damage::kSwapPages:
      return "swap two 4 KiB pages (entry files: swap contents)";
    case Damage::kSidecar:
      return "side files: LMDB lock.mdb random; SQLite -wal of a dead writer flipped + -shm "
             "random; files: entries replaced by directories + stray temp files";
  }
  return "?";
}

std::uint64_t FileSize(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? std::uint64_t(st.st_size) : 0;
}

// Damage is best effort: a failed write leaves a milder damage, which the table still reports.
void Overwrite(const std::string& path, std::uint64_t off, std::string_view bytes) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (fd && ::pwrite(fd.get(), bytes.data(), bytes.size(), off_t(off)) < 0) {
    std::perror(("damaging " + path).c_str());
  }
}

void Truncate(const std::string& path, std::uint64_t size) {
  if (::truncate(path.c_str(), off_t(size)) != 0) std::perror(("truncating " + path).c_str());
}

std::string ReadAt(const std::string& path, std::uint64_t off, std::size_t n) {
  std::string out(n, '\0');
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const ssize_t r = fd ? ::pread(fd.get(), out.data(), n, off_t(off)) : -1;
  out.resize(r > 0 ? std::size_t(r) : 0);
  return out;
}

std::string RandomBytes(std::mt19937_64& rng, std::size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void FlipByte(const std::string& path, std::uint64_t off, std::mt19937_64& rng) {
  std::string b = ReadAt(path, off, 1);
  if (b.size() != 1) return;
  b[0] = static_cast<char>(b[0] ^ static_cast<char>(1 + rng() % 255));  // always a change
  Overwrite(path, off, b);
}

// One damage on one file. `entry`: the file is a single small entry (files engine), so the
// damage is scaled to it.
void DamageFile(const std::string& path, Damage d, std::mt19937_64& rng, bool entry) {
  const std::uint64_t size = FileSize(path);
  if (size == 0) return;
  const std::uint64_t pages = (size + kPage - 1) / kPage;
  // A block away from the header pages (LMDB's two meta pages, SQLite's page 1): the header has
  // its own kinds.
  auto block = [&]() -> std::uint64_t {
    if (entry) return (rng() % pages) * kPage;
    return pages > 3 ? (2 + rng() % (pages - 2)) * kPage : 0;
  };
  switch (d) {
    case Damage::kFlipBytes:
      for (int i = 0; i < (entry ? 4 : 200); ++i) FlipByte(path, rng() % size, rng);
      break;
    case Damage::kFlipEveryPage:
      for (std::uint64_t p = 0; p < size; p += kPage) {
        FlipByte(path, p + rng() % std::min(kPage, size - p), rng);
      }
      break;
    case Damage::kRandomBlock:
    case Damage::kZeroBlock: {
      const std::uint64_t off = block();
      const std::size_t n = std::min(kPage, size - off);
      Overwrite(path, off, d == Damage::kZeroBlock ? std::string(n, '\0') : RandomBytes(rng, n));
      break;
    }
    case Damage::kRandomHeader:
    case Damage::kZeroHeader: {
      const std::size_t n = std::min(kPage, size);
      Overwrite(path, 0, d == Damage::kZeroHeader ? std::string(n, '\0') : RandomBytes(rng, n));
      break;
    }
    case Damage::kTruncateHalf:
      Truncate(path, size / 2);
      break;
    case Damage::kTruncateTail: {
      const std::uint64_t cut = entry ? 3 : 5000;
      Truncate(path, size > cut ? size - cut : 0);
      break;
    }
    case Damage::kTruncateZero:
      Truncate(path, 0);
      break;
    case Damage::kAppendGarbage:
      Overwrite(path, size, RandomBytes(rng, entry ? 100 : 65536));
      break;
    case Damage::kSwapPages: {
      if (pages < 4) break;
      const std::uint64_t a = block();
      std::uint64_t b = block();
      for (int i = 0; i < 8 && b == a; ++i) b = block();
      const std::string pa = ReadAt(path, a, kPage), pb = ReadAt(path, b, kPage);
      Overwrite(path, a, pb);
      Overwrite(path, b, pa);
      break;
    }
    case Damage::kSidecar:
      break;  // engine-specific: DamageEngine
  }
}

std::vector<std::string> EntryFiles(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (it->is_regular_file() && it->path().filename().string()[0] != '.') {
      files.push_back(it->path().string());
    }
  }
  std::sort(files.begin(), files.end());  // directory order is not reproducible; the seed is
  return files;
}

void DamageEngine(Kind kind, Damage d, const std::string& dir, std::mt19937_64& rng) {
  if (kind == Kind::kFiles) {
    std::vector<std::string> files = EntryFiles(dir);
    std::shuffle(files.begin(), files.end(), rng);
    files.resize(std::min<std::size_t>(files.size(), kDamagedEntryFiles));
    if (d == Damage::kSwapPages) {  // misdirected entries: each file holds another key's entry
      for (std::size_t i = 0; i + 1 < files.size(); i += 2) {
        const std::string tmp = files[i] + ".swap";
        fs::rename(files[i], tmp);
        fs::rename(files[i + 1], files[i]);
        fs::rename(tmp, files[i + 1]);
      }
    } else if (d == Damage::kSidecar) {
      for (std::size_t i = 0; i < files.size(); ++i) {
        fs::remove(files[i]);
        fs::create_directory(files[i]);  // an entry path that is a directory
        const std::string stray =
            fs::path(files[i]).parent_path().string() + "/.tmp-garbage." + std::to_string(i);
        std::ofstream(stray) << RandomBytes(rng, 1000);
      }
    } else {
      for (const auto& f : files) DamageFile(f, d, rng, true);
    }
    return;
  }
  const std::string main = dir + "/" + (kind == Kind::kLmdb ? "data.mdb" : kSqliteFile);
  if (d != Damage::kSidecar) return DamageFile(main, d, rng, false);
  if (kind == Kind::kLmdb) {
    const std::string lock = dir + "/lock.mdb";
    Overwrite(lock, 0, RandomBytes(rng, std::max<std::uint64_t>(FileSize(lock), 8192)));
  } else {
    const std::string wal = main + "-wal", shm = main + "-shm";
    for (int i = 0; i < 50 && FileSize(wal) > 0; ++i) FlipByte(wal, rng() % FileSize(wal), rng);
    Overwrite(shm, 0, RandomBytes(rng, std::max<std::uint64_t>(FileSize(shm), 32768)));
  }
}

std::size_t DamageSize(int i) { return kDamageSizes[i % 4]; }

// Populates a store in a child. `abandon`: exit without closing anything, as a killed process
// would: SQLite then leaves its -wal and -shm behind for the side-file damage.
bool Populate(Kind kind, const std::string& dir, bool abandon, std::string* error) {
  struct Rep {
    std::uint32_t ok = 0;
    char error[160] = {};
  };
  std::string out;
  const ChildEnd end = RunChild(
      [&](int fd) {
        Rep rep;
        std::string err;
        auto engine = OpenEngine(kind, dir, &err);
        auto s = engine ? engine->NewSession(&err) : nullptr;
        for (int i = 0; s && i < kDamageEntries; ++i) {
          const auto id = std::uint64_t(i);
          if (!s->Put(Key(id), MakeValue(id, 1, DamageSize(i)))) err = s->error();
        }
        if (err.empty()) rep.ok = 1;
        CopyError(rep.error, err);
        Send(fd, rep);
        if (abandon) ::_exit(0);
      },
      &out, 120);
  Rep rep;
  if (end.signal || end.timed_out || !Last(out, &rep) || !rep.ok) {
    *error = rep.error[0] ? rep.error : "populate failed";
    return false;
  }
  return true;
}

struct DamageReport {
  std::uint32_t phase = 0, opened = 0, ok = 0, miss = 0, corrupt = 0, error = 0, wrong = 0,
                exception = 0, put_after_ok = 0;
  char first_error[160] = {};
};

void DamageReader(Kind kind, const std::string& dir, int fd) {
  DamageReport rep;
  Send(fd, rep);
  std::string error;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Session> s;
  try {
    engine = OpenEngine(kind, dir, &error);
    s = engine ? engine->NewSession(&error) : nullptr;
  } catch (const std::exception& e) {
    ++rep.exception;
    error = e.what();
  }
  rep.phase = 1;
  if (!s) {
    CopyError(rep.first_error, error);
    rep.phase = 3;
    return Send(fd, rep);
  }
  rep.opened = 1;
  Send(fd, rep);
  std::string v;
  for (int i = 0; i < kDamageEntries; ++i) {
    const auto id = std::uint64_t(i);
    try {
      switch (s->Get(Key(id), &v)) {
        case Got::kHit:
          if (v == MakeValue(id, 1, DamageSize(i)))
            ++rep.ok;
          else
            ++rep.wrong;
          break;
        case Got::kMiss:
          ++rep.miss;
          break;
        case Got::kCorrupt:
          ++rep.corrupt;
          break;  // refused by the engine's check: a miss
        case Got::kError:
          ++rep.error;
          CopyError(rep.first_error, s->error());
          break;
      }
    } catch (const std::exception& e) {
      ++rep.exception;
      CopyError(rep.first_error, std::string("exception: ") + e.what());
    }
  }
  rep.phase = 2;
  Send(fd, rep);
  // Still writable? One fresh entry, put and read back.
  try {
    const std::string k = Key(999999), val = MakeValue(999999, 1, 500);
    rep.put_after_ok = s->Put(k, val) && s->Get(k, &v) == Got::kHit && v == val;
  } catch (const std::exception&) {
    ++rep.exception;
  }
  rep.phase = 3;
  Send(fd, rep);
}

void MeasureDamage(Kind kind, const Options& o, const std::string& base,
                   std::vector<DamageCell>* cells) {
  Log(std::string("damage battery: ") + Name(kind));
  const std::string clean = base + "/dmg-" + Name(kind) + "-clean";
  const std::string dead = base + "/dmg-" + Name(kind) + "-dead";
  std::string error;
  const bool populated = Populate(kind, clean, false, &error) && Populate(kind, dead, true, &error);
  std::mt19937_64 rng(o.seed * 1000 + std::uint64_t(kind));
  for (Damage d : kDamages) {
    DamageCell cell;
    if (!populated) {
      cell.first_error = "populate: " + error;
      cells->push_back(cell);
      continue;
    }
    const std::string dir = base + "/dmg-" + Name(kind) + "-victim";
    fs::remove_all(dir);
    fs::copy(d == Damage::kSidecar ? dead : clean, dir, fs::copy_options::recursive);
    DamageEngine(kind, d, dir, rng);
    std::string out;
    cell.end = RunChild([&](int fd) { DamageReader(kind, dir, fd); }, &out, o.quick ? 10 : 20);
    DamageReport rep;
    if (Last(out, &rep)) {
      cell.reported = true;
      cell.phase = rep.phase;
      cell.opened = rep.opened;
      cell.ok = rep.ok;
      cell.miss = rep.miss;
      cell.corrupt = rep.corrupt;
      cell.error = rep.error;
      cell.wrong = rep.wrong;
      cell.exception = rep.exception;
      cell.put_after_ok = rep.put_after_ok;
      cell.first_error = rep.first_error;
    }
    if (cell.end.exit_code != 0 && !cell.end.signal) ++cell.exception;  // escaped the catches
    cells->push_back(cell);
    fs::remove_all(dir);
  }
  fs::remove_all(clean);
  fs::remove_all(dead);
}

enum class Verdict { kCrash, kHang, kWrong, kError, kClean };

Verdict Judge(const DamageCell& c) {
  if (c.end.timed_out) return Verdict::kHang;
  if (c.end.signal) return Verdict::kCrash;
  if (c.wrong) return Verdict::kWrong;
  if (c.exception || c.error || !c.opened) return Verdict::kError;
  return Verdict::kClean;
}

std::string CellText(const DamageCell& c) {
  static const char* kPhase[] = {"at open", "while reading", "in the put after the reads",
                                 "at exit"};
  const std::string where = kPhase[std::min<std::uint32_t>(c.phase, 3)];
  if (c.end.timed_out) return "**hang** " + where;
  std::vector<std::string> parts;
  if (c.wrong) parts.push_back("**" + std::to_string(c.wrong) + " wrong**");
  if (c.exception) parts.push_back("**" + std::to_string(c.exception) + " exception**");
  if (c.reported && !c.opened && !c.end.signal) parts.push_back("error at open");
  if (c.error) parts.push_back(std::to_string(c.error) + " error");
  if (c.opened && c.phase >= 2) parts.push_back(std::to_string(c.ok) + " ok");
  if (c.miss) parts.push_back(std::to_string(c.miss) + " miss");
  if (c.corrupt) parts.push_back(std::to_string(c.corrupt) + " caught");
  std::string reads;
  for (const auto& p : parts) reads += (reads.empty() ? "" : ", ") + p;
  if (c.end.signal) {
    // Read counts reach the parent once all reads are done: a crash while reading has none.
    const std::string t = "**crash: " + SignalName(c.end.signal) + "** " + where;
    return reads.empty() ? t : t + " (reads: " + reads + ")";
  }
  if (c.opened && c.phase >= 3) reads += c.put_after_ok ? "; put ok" : "; put fails";
  return reads;
}

// --- the report ----------------------------------------------------------------------------

std::string FsType(const std::string& path) {
  struct statfs s {};
  if (::statfs(path.c_str(), &s) != 0) return "?";
  switch (static_cast<unsigned long>(s.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x01021994:
      return "tmpfs";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x794c7630:
      return "overlayfs";
    case 0x6969:
      return "nfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(s.f_type));
      return buf;
    }
  }
}

std::string Fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string Thousands(double v) {
  const std::string digits = std::to_string(static_cast<long long>(v + 0.5));
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string MiB(double bytes) { return Fixed(bytes / (1 << 20), 1) + " MiB"; }

using Row = std::function<void(const std::string&, const std::function<std::string(int)>&)>;
void KillRows(const Results& r, const Row& row);
void DamageRows(const Results& r, const Row& row);
void Notes(const Results& r, std::ostringstream& md);
void DamageTable(const Results& r, std::ostringstream& md);

std::string Report(const Options& o, const Results& r, double elapsed) {
  std::ostringstream md;
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::localtime(&now));
  md << "# Disk-tier storage engines, side by side\n\n"
     << "Generated by `" << o.command << "` (bench/cpp/disk_engines.cc) on " << date << " in "
     << Fixed(elapsed, 0) << " s: " << std::thread::hardware_concurrency()
     << " cores, directories on " << FsType(o.base) << " (" << o.base << "), LMDB "
     << MDB_VERSION_MAJOR << "." << MDB_VERSION_MINOR << "." << MDB_VERSION_PATCH << ", SQLite "
     << sqlite3_libversion() << ", xxHash " << XXH_versionNumber() / 10000 << "."
     << XXH_versionNumber() / 100 % 100 << "." << XXH_versionNumber() % 100 << ", seed " << o.seed
     << ". Why these engines and what the figures decide: docs/STORAGE.md.\n\n";
  md << "Engines: **LMDB** as the old disk:// store (MDB_NOTLS, write transaction per put, "
        "MDB_NOMETASYNC: one fdatasync per commit; value raw behind a 16-byte header); **SQLite "
        "WAL** (synchronous=NORMAL: no fsync per commit, mmap_size=0, busy_timeout 5000, a "
        "connection per thread, INSERT OR REPLACE in autocommit, XXH3-64 per row checked on "
        "read); **file per entry** (ccache / bazel-remote layout: 2-hex fan-out, temp file + "
        "rename, no fsync, trailing XXH3-64 checked on read).\n\n";

  md << "| measure | " << Title(Kind::kLmdb) << " | " << Title(Kind::kSqlite) << " | "
     << Title(Kind::kFiles) << " |\n|---|---:|---:|---:|\n";
  const Row row = [&](const std::string& name, const std::function<std::string(int)>& f) {
    md << "| " << name;
    for (int e = 0; e < 3; ++e) md << " | " << f(e);
    md << " |\n";
  };
  const int rounds = o.quick ? 3 : 5;
  for (int si = 0; si < 2 && r.ran.count("perf"); ++si) {
    const std::string sz = si == 0 ? "100 B" : "4 KB";
    row("hit, " + sz + " values: µs per get (1 thread, 10,000 entries, warm; median of " +
            std::to_string(rounds) + " passes of " + Thousands(o.latency_gets) + ")",
        [&](int e) { return Fixed(r.perf[e].hit_us[si], 2); });
  }
  for (int si = 0; si < 2 && r.ran.count("perf"); ++si) {
    const std::string sz = si == 0 ? "100 B" : "4 KB";
    row("… " + sz + ", SQLite with a read snapshot reused for up to 64 gets / 1 ms", [&](int e) {
      return e == int(Kind::kSqlite) ? Fixed(r.sqlite_snapshot_hit_us[si], 2) : std::string("—");
    });
  }
  for (int si = 0; si < 2 && r.ran.count("perf"); ++si) {
    const std::string sz = si == 0 ? "100 B" : "4 KB";
    row("put, " + sz + " values: puts/s (1 thread, fresh keys, one commit each; " +
            Fixed(o.put_seconds, 1) + " s)",
        [&](int e) { return Thousands(r.perf[e].puts_per_s[si]); });
  }
  for (int si = 0; si < 2 && r.ran.count("perf"); ++si) {
    const std::string sz = si == 0 ? "100 B" : "4 KB";
    row("disk use, 10,000 × " + sz, [&](int e) { return MiB(r.perf[e].disk_bytes[si]); });
  }
  if (r.ran.count("mix")) {
    row("8 processes × 4 threads, 90% get / 10% put, 1 KB values: ops/s (" +
            Fixed(o.mix_seconds, 1) + " s)",
        [&](int e) {
          const MixResult& m = r.mix[e];
          const double t = m.seconds > 0 ? m.seconds : 1;
          return Thousands(double(m.gets + m.puts) / t) + " (" + Thousands(double(m.puts) / t) +
                 " puts/s)";
        });
    row("… errors / wrong values / crashed processes", [&](int e) {
      return std::to_string(r.mix[e].errors) + " / " + std::to_string(r.mix[e].wrong) + " / " +
             std::to_string(r.mix[e].crashed);
    });
  }
  if (r.ran.count("kill")) KillRows(r, row);
  if (r.ran.count("damage")) DamageRows(r, row);
  Notes(r, md);
  if (r.ran.count("damage")) DamageTable(r, md);
  return md.str();
}

void KillRows(const Results& r, const Row& row) {
  row("kill -9 of a writer: rounds, puts acknowledged", [&](int e) {
    return std::to_string(r.kill[e].rounds) + ", " + Thousands(double(r.kill[e].acked_puts));
  });
  row("… torn or wrong values read back (of reads)", [&](int e) {
    return "**" + std::to_string(r.kill[e].torn) + "** (of " + Thousands(double(r.kill[e].reads)) +
           ")";
  });
  row("… acknowledged puts lost / read errors / reader crashes", [&](int e) {
    return std::to_string(r.kill[e].lost) + " / " + std::to_string(r.kill[e].errors) + " / " +
           std::to_string(r.kill[e].verify_crashes);
  });
  row("… stray temp files left by the kills", [&](int e) {
    return e == int(Kind::kFiles) ? std::to_string(r.kill[e].stray_temp) : std::string("—");
  });
}

void DamageRows(const Results& r, const Row& row) {
  auto count = [&](int e, Verdict v) {
    return static_cast<int>(std::count_if(r.damage[e].begin(), r.damage[e].end(),
                                          [v](const DamageCell& c) { return Judge(c) == v; }));
  };
  const int kinds = static_cast<int>(std::size(kDamages));
  row("damage battery (" + std::to_string(kinds) + " kinds): **crash** / hang", [&](int e) {
    return "**" + std::to_string(count(e, Verdict::kCrash)) + "** / " +
           std::to_string(count(e, Verdict::kHang));
  });
  row("… **wrong bytes served**",
      [&](int e) { return "**" + std::to_string(count(e, Verdict::kWrong)) + "**"; });
  row("… an error returned (store would quarantine)",
      [&](int e) { return std::to_string(count(e, Verdict::kError)); });
  row("… clean: every read the right bytes or a miss",
      [&](int e) { return std::to_string(count(e, Verdict::kClean)); });
}

void Notes(const Results& r, std::ostringstream& md) {
  for (int e = 0; e < 3; ++e) {
    if (!r.perf[e].error.empty())
      md << "\n" << Title(Kind(e)) << " error: `" << r.perf[e].error << "`";
    if (r.perf[e].hit_misses)
      md << "\n" << Title(Kind(e)) << ": " << r.perf[e].hit_misses << " timed gets missed";
    if (!r.mix[e].first_error.empty()) {
      md << "\n" << Title(Kind(e)) << ", mixed load, first error: `" << r.mix[e].first_error << "`";
    }
    if (!r.kill[e].first_error.empty()) {
      md << "\n" << Title(Kind(e)) << ", kill -9, first error: `" << r.kill[e].first_error << "`";
    }
  }
  md << "\n";
}

void DamageTable(const Results& r, std::ostringstream& md) {
  const int kinds = static_cast<int>(std::size(kDamages));
  md << "\n## Damage battery\n\n"
     << "A child process puts " << kDamageEntries
     << " entries (100 B, 1 KB, 4 KB, 12 KB in turn) and exits; the engine's file is damaged "
        "(the file per entry engine: the same damage on "
     << kDamagedEntryFiles
     << " of its entry files); a fresh child opens the store, reads every key and compares the "
        "bytes, then puts and reads back one new entry. *ok*: the right bytes; *miss*: not found; "
        "*caught*: the engine's checksum refused the bytes (a miss to the caller); *wrong*: "
        "other bytes served as the value; *crash*: the reader died of a signal.\n\n"
     << "| damage | " << Title(Kind::kLmdb) << " | " << Title(Kind::kSqlite) << " | "
     << Title(Kind::kFiles) << " |\n|---|---|---|---|\n";
  for (int d = 0; d < kinds; ++d) {
    md << "| " << DamageName(kDamages[d]);
    for (int e = 0; e < 3; ++e) {
      md << " | "
         << (std::size_t(d) < r.damage[e].size() ? CellText(r.damage[e][std::size_t(d)]) : "");
    }
    md << " |\n";
  }
  md << "\nFirst error message of each engine's damaged reads (the distinct ones):\n\n";
  for (int e = 0; e < 3; ++e) {
    std::set<std::string> seen;
    for (const auto& c : r.damage[e]) {
      if (!c.first_error.empty()) seen.insert(c.first_error);
    }
    md << "- " << Title(Kind(e)) << ": ";
    if (seen.empty()) md << "none";
    std::string sep;
    for (const auto& m : seen) md << sep << "`" << m << "`", sep = "; ";
    md << "\n";
  }
}

int Usage(const char* argv0, int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: %s [--quick] [--out PATH] [--dir BASE] [--seed N] [--only LIST]\n"
               "  --quick     shorter runs (< 45 s on 2 cores; the full run takes < 3 minutes)\n"
               "  --out PATH  also write the markdown report to PATH\n"
               "  --dir BASE  where the stores are created (default $TMPDIR or /tmp); the\n"
               "              filesystem matters: put figures include its fsync costs\n"
               "  --seed N    seed of the random choices (damage offsets, kill moments)\n"
               "  --only LIST comma-separated subset of perf,mix,kill,damage (default: all)\n",
               argv0);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (const char* t = std::getenv("TMPDIR"); t && *t) o.base = t;
  for (int i = 1; i < argc; ++i) o.command += std::string(" ") + argv[i];
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      o.quick = true;
    } else if (a == "--out" && i + 1 < argc) {
      o.out = argv[++i];
    } else if (a == "--dir" && i + 1 < argc) {
      o.base = argv[++i];
    } else if (a == "--seed" && i + 1 < argc) {
      o.seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--only" && i + 1 < argc) {
      o.only = argv[++i];
    } else if (a == "--help" || a == "-h") {
      return Usage(argv[0], 0);
    } else {
      return Usage(argv[0], 2);
    }
  }
  if (o.quick) {
    o.latency_gets = 20000;
    o.put_seconds = 0.4;
    o.mix_seconds = 1.5;
    o.kill_rounds = 10;
  }
  std::string tmpl = o.base + "/memokey-disk-engines-XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror(("mkdtemp in " + o.base).c_str());
    return 2;
  }
  const std::string base = tmpl;
  // A reader dying of SIGBUS must not take the bench with it; nor must SIGPIPE from a dead child.
  ::signal(SIGPIPE, SIG_IGN);

  const auto t0 = Clock::now();
  Results r;
  auto phase = [&](const char* name, const std::function<void()>& run) {
    if (("," + o.only + ",").find(std::string(",") + name + ",") == std::string::npos) return;
    r.ran.insert(name);
    const auto p0 = Clock::now();
    run();
    Log(std::string(name) + ": " + Fixed(Since(p0), 1) + " s");
  };
  phase("perf", [&] { MeasurePerf(o, base, &r); });
  phase("mix", [&] { MeasureMix(o, base, &r); });
  phase("kill", [&] {
    for (Kind k : kKinds) MeasureKill(k, o, base, &r.kill[int(k)]);
  });
  phase("damage", [&] {
    for (Kind k : kKinds) MeasureDamage(k, o, base, &r.damage[int(k)]);
  });
  fs::remove_all(base);

  const std::string md = Report(o, r, Since(t0));
  std::fputs(md.c_str(), stdout);
  if (!o.out.empty()) {
    std::ofstream f(o.out);
    f << md;
    if (!f) {
      std::perror(("writing " + o.out).c_str());
      return 1;
    }
    Log("written to " + o.out);
  }
  return 0;
}
