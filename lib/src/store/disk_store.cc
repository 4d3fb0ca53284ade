// disk:// — a store in one SQLite database (WAL mode) shared by threads and
// processes. docs/STORAGE.md has the measured comparison behind this choice.
//
// Why SQLite: no file content can crash it or make it serve other bytes than
// it was given. SQLite reads its file with pread (mmap_size=0: a truncated
// file cannot raise SIGBUS), answers SQLITE_CORRUPT for a malformed one, and
// its test suite fuzzes database files. WAL gives many readers and one
// writer across processes, and a process killed in a write leaves the last
// committed state. What SQLite does not check is the content of a row, so
// each row carries a checksum (integrity.h) verified before a byte is
// returned.
//
// Layout: <dir>/store.db (+ -wal, -shm), <dir>/leases/ (leases.h), and
// <dir>/damaged/ where a database that SQLite reports malformed is moved.
//   entries(key PRIMARY KEY, value, expires ms since epoch or 0, atime ms of
//           last use: the LRU order, checksum of (key, value, expires)),
//           WITHOUT ROWID: a lookup is one B-tree search, a write one less page
//   totals(bytes, entries): what is charged against max_bytes, one row kept
//           in the same transactions as the entries.
//
// Damage: a row whose checksum fails is deleted and answered as a miss
// (StoreStats::damaged). A database SQLite calls malformed is quarantined —
// renamed into <dir>/damaged/ under a lock, so concurrent detectors agree —
// and a fresh one created: the store caches again at once. The directory or
// file removed under a running process (rm -rf of the cache) is noticed by
// comparing the open file's inode with the path's, at every write and at most
// once a second on reads, and the store re-creates it.
//
// LRU by access with cheap reads: a hit does not write. It records the key in
// a small in-process table, written to the rows with the next write
// transaction of this store (or when the table fills or ages). Eviction takes
// the least recently used rows first, expired ones before all.
//
// fork(): SQLite connections must not cross fork() (SQLite's process-wide
// lock bookkeeping would be wrong in the child). A pthread_atfork handler
// therefore waits for the connections in use and closes every connection of
// every disk store before the fork; both processes then open new ones on
// their next call.

#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "integrity.h"
#include "leases.h"
#include "memokey/store_backends.h"
#include "private_dir.h"
#include "store_internal.h"

namespace memokey {
namespace {

using store_internal::CheckKey;
using store_internal::CheckTtl;
using store_internal::Counters;
using store_internal::EntryChecksum;
using store_internal::MakePrivateDirs;
using store_internal::WallMs;

constexpr const char* kDbName = "store.db";
// PRAGMA application_id: tells our database from any other SQLite file.
constexpr int kApplicationId = 0x6d6b6431;  // "mkd1"
constexpr int kBusyTimeoutMs = 5000;
// Beyond key and value: the row header, the unique index's copy of the key,
// the atime index entry.
constexpr std::uint64_t kEntryOverhead = 64;
constexpr std::size_t kPoolMax = 8;
// Expired rows removed per write, so that one write never pays for a backlog.
constexpr int kSweepPerPut = 64;
// Pending access times: written when this many are waiting, or the oldest
// has waited this long, even if no write comes.
constexpr std::size_t kTouchFlushCount = 512;
constexpr std::int64_t kTouchFlushMs = 5000;
// How often a read checks that the database file is still the one at its path.
constexpr std::int64_t kPathCheckMs = 1000;
constexpr int kQuarantineKeep = 3;
// Rows per transaction of Scan and Clear: short enough not to hold up the
// writers of other processes, long enough that a million rows go fast.
constexpr int kScanBatch = 1000;

std::uint64_t Charge(std::size_t key_size, std::size_t value_size) {
  return std::uint64_t{key_size} + value_size + kEntryOverhead;
}

bool IsDamage(int rc) {
  const int primary = rc & 0xff;
  return primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB;
}

// Whether a failure to open and set up the database says nothing about the
// file: a busy or locked database, no memory, a full disk. Every other
// failure at open means the files at the path are not a store we can use (a
// malformed or foreign database, an -shm that is a directory, a format or
// write version from elsewhere, a schema that is not ours): moved aside.
bool IsTransient(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_NOMEM:
    case SQLITE_FULL:
    case SQLITE_INTERRUPT:
      return true;
    default:
      return false;
  }
}

struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};

bool IdOf(const std::string& path, FileId* id) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  *id = FileId{st.st_dev, st.st_ino};
  return true;
}

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// Resets a statement (and clears its bindings) when the scope ends, so that it
// holds no read snapshot between calls.
class Use {
 public:
  explicit Use(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Use() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;
  sqlite3_stmt* operator->() const { return stmt_; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_;
};

void BindBlob(sqlite3_stmt* stmt, int index, std::string_view bytes) {
  // SQLITE_STATIC: the caller's bytes outlive the statement's use.
  sqlite3_bind_blob64(stmt, index, bytes.empty() ? "" : bytes.data(), bytes.size(), SQLITE_STATIC);
}

std::string_view ColumnBlob(sqlite3_stmt* stmt, int column) {
  const void* data = sqlite3_column_blob(stmt, column);
  const int size = sqlite3_column_bytes(stmt, column);
  return data == nullptr
             ? std::string_view()
             : std::string_view(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

// sqlite3_exec, retried while the database is busy. Switching a new database
// to WAL needs an exclusive lock that SQLite does not wait for through the
// busy handler, so processes opening a new store at once must take turns.
int ExecRetrying(sqlite3* db, const char* sql, int (*row)(void*, int, char**, char**) = nullptr,
                 void* row_arg = nullptr) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (int attempt = 0;; ++attempt) {
    const int rc = sqlite3_exec(db, sql, row, row_arg, nullptr);
    const int primary = rc & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) ||
        std::chrono::steady_clock::now() >= deadline) {
      return rc;
    }
    if (sqlite3_get_autocommit(db) == 0) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_sleep(std::min(1 + attempt, 20));
  }
}

// One connection with its prepared statements. Used by one thread at a time.
class Connection {
 public:
  enum Statement {
    kSelect,        // value, expires, checksum, atime by key
    kInsert,        // key, value, expires, atime, checksum
    kSizeOf,        // key, size by key
    kDelete,        // by key
    kFirstExpired,  // key, size of the row that expired first (as of ?1)
    kLeastRecent,   // key, size of the least recently used row
    kTouch,         // atime = ?2 where key = ?1 and atime < ?2
    kReadTotals,    // bytes, entries
    kAddTotals,     // bytes += ?1, entries += ?2 (clamped at 0)
    kBegin,         // BEGIN IMMEDIATE
    kCommit,
    kRollback,
    kStatementCount
  };

  Connection() = default;  // then Open
  ~Connection() {
    for (StmtPtr& s : stmts_) s.reset();  // before the database closes
    if (db_ != nullptr) sqlite3_close_v2(db_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Opens (creating if needed) the database at `file`. *damaged: the failure
  // is a malformed file, to be quarantined.
  static Status Open(const std::string& file, int synchronous, std::unique_ptr<Connection>* out,
                     bool* damaged);

  sqlite3* db() const { return db_; }
  sqlite3_stmt* stmt(Statement s) const { return stmts_[s].get(); }
  const FileId& file_id() const { return file_id_; }
  std::uint64_t epoch = 0;  // the pool's epoch it was opened in

  // Runs a statement that returns no rows; SQLite's result code.
  int Exec(Statement s) {
    Use use(stmt(s));
    const int rc = sqlite3_step(use.get());
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
  }

  std::string Error(int rc) const {
    std::string text = sqlite3_errstr(rc);
    const char* detail = sqlite3_errmsg(db_);
    if (detail != nullptr && text != detail) text += std::string(" (") + detail + ")";
    return text;
  }

 private:
  sqlite3* db_ = nullptr;
  FileId file_id_;
  StmtPtr stmts_[kStatementCount];
};

Status Connection::Open(const std::string& file, int synchronous, std::unique_ptr<Connection>* out,
                        bool* damaged) {
  *damaged = false;
  auto c = std::make_unique<Connection>();
  const int open_rc = sqlite3_open_v2(
      file.c_str(), &c->db_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE,
      nullptr);
  auto fail = [&](std::string_view what, int rc) {
    *damaged = !IsTransient(rc);
    return Status::IOError("disk store: " + std::string(what) + " " + file + ": " +
                           (c->db_ != nullptr ? c->Error(rc) : std::string(sqlite3_errstr(rc))));
  };
  if (open_rc != SQLITE_OK) return fail("opening", open_rc);
  ::chmod(file.c_str(), 0600);
  IdOf(file, &c->file_id_);
  sqlite3_extended_result_codes(c->db_, 1);
  sqlite3_busy_timeout(c->db_, kBusyTimeoutMs);

  // mmap_size=0: reads through pread only, so a file truncated by someone
  // else cannot SIGBUS us. cell_size_check: finer detection of damaged pages.
  // trusted_schema=OFF: a planted schema cannot run functions.
  const std::string setup = std::string(
                                "PRAGMA mmap_size=0;"
                                "PRAGMA cell_size_check=ON;"
                                "PRAGMA trusted_schema=OFF;"
                                "PRAGMA journal_mode=WAL;"
                                "PRAGMA synchronous=") +
                            std::to_string(synchronous) + ";";
  if (int rc = ExecRetrying(c->db_, setup.c_str()); rc != SQLITE_OK) {
    return fail("setting up", rc);
  }
  // The schema, created by the first connection ever (IMMEDIATE: two
  // processes creating it at once take turns).
  const char* schema =
      "BEGIN IMMEDIATE;"
      "CREATE TABLE IF NOT EXISTS entries("
      "  key BLOB PRIMARY KEY NOT NULL,"
      "  value BLOB NOT NULL,"
      "  expires INTEGER NOT NULL,"
      "  atime INTEGER NOT NULL,"
      "  checksum INTEGER NOT NULL) WITHOUT ROWID;"
      "CREATE INDEX IF NOT EXISTS entries_by_atime ON entries(atime);"
      "CREATE INDEX IF NOT EXISTS entries_by_expiry ON entries(expires) WHERE expires != 0;"
      "CREATE TABLE IF NOT EXISTS totals("
      "  id INTEGER PRIMARY KEY CHECK (id = 0),"
      "  bytes INTEGER NOT NULL,"
      "  entries INTEGER NOT NULL);"
      "INSERT OR IGNORE INTO totals VALUES(0, 0, 0);"
      "COMMIT;";
  long long app_id = 0;
  int rc = ExecRetrying(
      c->db_, "PRAGMA application_id",
      [](void* app_id_out, int columns, char** values, char**) {
        if (columns == 1 && values[0] != nullptr)
          *static_cast<long long*>(app_id_out) = std::atoll(values[0]);
        return 0;
      },
      &app_id);
  if (rc != SQLITE_OK) return fail("reading", rc);
  if (app_id != kApplicationId) {
    if (app_id != 0) {
      *damaged = true;
      return Status::IOError("disk store: " + file + " is not a memokey store (application_id " +
                             std::to_string(app_id) + ")");
    }
    const std::string stamp = "PRAGMA application_id=" + std::to_string(kApplicationId) + ";";
    if (rc = ExecRetrying(c->db_, stamp.c_str()); rc != SQLITE_OK) {
      return fail("creating", rc);
    }
  }
  if (rc = ExecRetrying(c->db_, schema); rc != SQLITE_OK) {
    sqlite3_exec(c->db_, "ROLLBACK", nullptr, nullptr, nullptr);
    return fail("creating the tables of", rc);
  }

  static constexpr const char* kSql[kStatementCount] = {
      "SELECT value, expires, checksum, atime FROM entries WHERE key = ?1",
      "INSERT INTO entries(key, value, expires, atime, checksum) VALUES(?1, ?2, ?3, ?4, ?5)",
      "SELECT key, length(key) + length(value) FROM entries WHERE key = ?1",
      "DELETE FROM entries WHERE key = ?1",
      ("SELECT key, length(key) + length(value) FROM entries WHERE expires != 0 AND "
       "expires <= ?1 ORDER BY expires LIMIT 1"),
      "SELECT key, length(key) + length(value) FROM entries ORDER BY atime LIMIT 1",
      "UPDATE entries SET atime = ?2 WHERE key = ?1 AND atime < ?2",
      "SELECT bytes, entries FROM totals WHERE id = 0",
      "UPDATE totals SET bytes = max(0, bytes + ?1), entries = max(0, entries + ?2) WHERE id = 0",
      "BEGIN IMMEDIATE",
      "COMMIT",
      "ROLLBACK",
  };
  for (int i = 0; i < kStatementCount; ++i) {
    sqlite3_stmt* raw = nullptr;
    rc = sqlite3_prepare_v3(c->db_, kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    c->stmts_[i].reset(raw);
    if (rc != SQLITE_OK) {
      // e.g. a table of ours with other columns: a layout we cannot read
      return fail("preparing statements on", rc);
    }
  }
  *out = std::move(c);
  return Status::Ok();
}

class DiskStore;

// Every open disk store, for the fork handler (see the top of the file).
// Process-wide by necessity: pthread_atfork handlers take no argument.
struct ForkRegistry {
  std::mutex mu;
  std::set<DiskStore*> stores;
};
ForkRegistry& TheForkRegistry() {
  static ForkRegistry registry;
  return registry;
}
void RegisterForFork(DiskStore* store);
void UnregisterForFork(DiskStore* store);

class DiskStore final : public Store {
 public:
  explicit DiskStore(const DiskStoreOptions& options)
      : options_(options), file_(options.path + "/" + kDbName), leases_(options.path + "/leases") {
    describe_ = "disk://" + store_internal::PercentEncode(options.path) +
                "?max_bytes=" + std::to_string(options.max_bytes);
    if (options.sync == DiskStoreOptions::Sync::kFull) describe_ += "&sync=full";
    if (options.sync == DiskStoreOptions::Sync::kMeta) describe_ += "&sync=meta";
    if (options.strict) describe_ += "&strict=1";
    RegisterForFork(this);
  }

  ~DiskStore() override {
    UnregisterForFork(this);
    std::unique_ptr<Connection> c;
    if (Acquire(&c).ok()) {
      FlushTouches(*c);
      Release(std::move(c));
    }
  }

  // Opens the first connection, so that OpenStore reports a directory it
  // cannot use; a damaged database is quarantined here already.
  Status Init() {
    // The files of the LMDB engine this store replaced (layout memokey-disk-1):
    // a cache's old content, only taking space now.
    for (const char* old : {"/data.mdb", "/lock.mdb"}) ::unlink((options_.path + old).c_str());
    std::unique_ptr<Connection> c;
    if (Status s = Acquire(&c); !s.ok()) return s;
    Release(std::move(c));
    return Status::Ok();
  }

  Status Get(std::string_view key, std::string* value) override {
    std::chrono::milliseconds ttl_left;
    return GetWithTtl(key, value, &ttl_left);
  }

  Status GetWithTtl(std::string_view key, std::string* value,
                    std::chrono::milliseconds* ttl_left) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    *ttl_left = std::chrono::milliseconds{0};
    const std::int64_t now = WallMs();
    CheckPathNow(now);
    std::unique_ptr<Connection> c;
    std::string repaired;
    if (Status s = Acquire(&c, &repaired); !s.ok()) return Missed(s);
    if (!repaired.empty()) {  // the database was just replaced: an empty one
      Release(std::move(c));
      Counters::Add(counters_.misses);
      return Status::NotFound(repaired);
    }
    bool hit = false, damaged = false;
    std::int64_t atime = 0;
    int rc;
    {
      Use select(c->stmt(Connection::kSelect));
      BindBlob(select.get(), 1, key);
      rc = sqlite3_step(select.get());
      if (rc == SQLITE_ROW) {
        const std::string_view stored = ColumnBlob(select.get(), 0);
        const std::int64_t expires = sqlite3_column_int64(select.get(), 1);
        const auto checksum = static_cast<std::uint64_t>(sqlite3_column_int64(select.get(), 2));
        atime = sqlite3_column_int64(select.get(), 3);
        if (EntryChecksum(key, stored, expires) != checksum) {
          damaged = true;
        } else if (expires == 0 || expires > now) {
          value->assign(stored);
          if (expires != 0) *ttl_left = std::chrono::milliseconds(expires - now);
          hit = true;
        }
        rc = SQLITE_OK;
      } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
      }
    }
    if (rc != SQLITE_OK) return Missed(Failure(std::move(c), "reading", rc));
    if (damaged) {
      DropDamaged(*c, key);
      Release(std::move(c));
      Counters::Add(counters_.misses);
      return Status::NotFound("disk store: " + file_ +
                              ": a damaged entry (checksum mismatch) was dropped; it is "
                              "recomputed, nothing to do unless this recurs (then check the disk)");
    }
    if (hit && atime < now) Touch(*c, key, now);
    Release(std::move(c));
    Counters::Add(hit ? counters_.hits : counters_.misses);
    return hit ? Status::Ok() : Status::NotFound();
  }

  Status Put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    if (Status s = CheckTtl(ttl); !s.ok()) return s;
    const std::int64_t now = WallMs();
    CheckPath();
    const std::int64_t expires = store_internal::ExpiryFrom(now, ttl);
    const std::uint64_t charge = Charge(key.size(), value.size());
    const bool admit = charge <= options_.max_bytes;
    const auto checksum = static_cast<std::int64_t>(EntryChecksum(key, value, expires));
    Status result;
    // A second attempt only after the first found the database damaged and
    // replaced it.
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<Connection> c;
      if (Status s = Acquire(&c); !s.ok()) return Fail(s);
      std::uint64_t evicted = 0, expired = 0;
      bool too_big = !admit;
      const int rc = WriteTxn(*c, [&](Connection& w) {
        if (int r = RemoveKey(w, key); r != SQLITE_OK) return r;
        if (int r = Sweep(w, now, kSweepPerPut, &expired); r != SQLITE_OK) return r;
        if (!admit) return SQLITE_OK;
        if (int r = EvictTo(w, options_.max_bytes - charge, &evicted); r != SQLITE_OK) return r;
        Use insert(w.stmt(Connection::kInsert));
        BindBlob(insert.get(), 1, key);
        BindBlob(insert.get(), 2, value);
        sqlite3_bind_int64(insert.get(), 3, expires);
        sqlite3_bind_int64(insert.get(), 4, now);
        sqlite3_bind_int64(insert.get(), 5, checksum);
        int r = sqlite3_step(insert.get());
        if (r == SQLITE_TOOBIG) {
          too_big = true;  // larger than SQLite's blob limit: not admitted
          return SQLITE_OK;
        }
        if (r != SQLITE_DONE) return r;
        return AddTotals(w, static_cast<std::int64_t>(charge), 1);
      });
      if (rc == SQLITE_OK) {
        Release(std::move(c));
        Counters::Add(counters_.puts);
        Counters::Add(counters_.evictions, evicted + (too_big ? 1 : 0));
        Counters::Add(counters_.expired, expired);
        return Status::Ok();
      }
      // Damaged (now replaced), or the file was moved or removed under us:
      // once more on a fresh connection.
      const bool retry = IsDamage(rc) || rc == SQLITE_READONLY_DBMOVED;
      result = Failure(std::move(c), "writing", rc);
      if (!retry) break;
    }
    return Fail(result);
  }

  // Leases are lock files in <path>/leases (leases.h, FileLeases): the OS
  // ends a lease when its holder dies; LeaseOptions::ttl does not apply.
  Status AcquireLease(std::string_view key, const LeaseOptions& options,
                      LeaseResult* out) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    return leases_.Acquire(key, options, store_internal::LookupIn(*this, key), out);
  }

  Status ReleaseLease(std::string_view key, std::string_view token) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    leases_.Release(token);
    return Status::Ok();
  }

  Status Delete(std::string_view key) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    CheckPath();
    std::unique_ptr<Connection> c;
    if (Status s = Acquire(&c); !s.ok()) return Fail(s);
    const int rc = WriteTxn(*c, [&](Connection& w) { return RemoveKey(w, key); });
    if (rc != SQLITE_OK) return Fail(Failure(std::move(c), "deleting", rc));
    Release(std::move(c));
    Counters::Add(counters_.deletes);
    return Status::Ok();
  }

  Status Contains(std::string_view key, bool* present) override {
    *present = false;
    std::string value;
    std::chrono::milliseconds ttl_left;
    // Verified like a read: an entry that could not be served is not present.
    const Status s = GetWithTtl(key, &value, &ttl_left);
    if (s.ok()) {
      *present = true;
      return s;
    }
    return s.IsNotFound() ? Status::Ok() : s;
  }

  StoreStats Stats() const override {
    StoreStats stats = counters_.Snapshot();
    auto* self = const_cast<DiskStore*>(this);  // the pool is not part of the value
    std::unique_ptr<Connection> c;
    if (!self->Acquire(&c).ok()) return stats;
    Totals totals;
    if (ReadTotals(*c, &totals) == SQLITE_OK) {
      stats.bytes = static_cast<std::uint64_t>(std::max<std::int64_t>(0, totals.bytes));
      stats.entries = static_cast<std::uint64_t>(std::max<std::int64_t>(0, totals.entries));
    }
    self->Release(std::move(c));
    return stats;
  }

  std::string Describe() const override { return describe_; }
  bool strict() const override { return options_.strict; }

  // In key order, kScanBatch rows per read transaction (a reader holds no
  // snapshot between batches, so writers and checkpoints are not held up).
  using Store::Scan;
  Status Scan(const ScanOptions& options,
              const std::function<bool(const StoreEntry&)>& visit) override {
    std::string after;
    bool first = true;
    std::vector<StoreEntry> batch;
    for (;;) {
      batch.clear();
      const std::int64_t now = WallMs();
      std::unique_ptr<Connection> c;
      if (Status s = Acquire(&c); !s.ok()) return Fail(s);
      StmtPtr query;
      int rc = Prepare(*c,
                       first ? "SELECT key, length(value), expires, atime, substr(value, 1, ?3) "
                               "FROM entries ORDER BY key LIMIT ?2"
                             : "SELECT key, length(value), expires, atime, substr(value, 1, ?3) "
                               "FROM entries WHERE key > ?1 ORDER BY key LIMIT ?2",
                       &query);
      if (rc == SQLITE_OK) {
        if (!first) BindBlob(query.get(), 1, after);
        sqlite3_bind_int64(query.get(), 2, kScanBatch);
        // substr(value, 1, 0) is empty: without heads nothing is copied.
        sqlite3_bind_int64(query.get(), 3,
                           static_cast<std::int64_t>(std::min<std::size_t>(
                               options.head_bytes, std::numeric_limits<std::int32_t>::max())));
        while ((rc = sqlite3_step(query.get())) == SQLITE_ROW) {
          StoreEntry e;
          e.key.assign(ColumnBlob(query.get(), 0));
          e.value_bytes = static_cast<std::uint64_t>(sqlite3_column_int64(query.get(), 1));
          const std::int64_t expires = sqlite3_column_int64(query.get(), 2);
          if (expires != 0) e.ttl_left = std::chrono::milliseconds(expires - now);
          e.idle = std::chrono::milliseconds(
              std::max<std::int64_t>(0, now - sqlite3_column_int64(query.get(), 3)));
          if (options.head_bytes > 0) e.head.assign(ColumnBlob(query.get(), 4));
          batch.push_back(std::move(e));
        }
        if (rc == SQLITE_DONE) rc = SQLITE_OK;
      }
      query.reset();
      if (rc != SQLITE_OK) return Fail(Failure(std::move(c), "listing", rc));
      Release(std::move(c));
      for (const StoreEntry& e : batch) {
        if (!visit(e)) return Status::Ok();
      }
      if (batch.size() < static_cast<std::size_t>(kScanBatch)) return Status::Ok();
      after = batch.back().key;
      first = false;
    }
  }

  // kScanBatch rows per write transaction, through DeleteRow (the totals
  // stay right), until none is left.
  Status Clear(std::uint64_t* removed, const StoreProgress& progress) override {
    *removed = 0;
    CheckPath();
    for (;;) {
      std::unique_ptr<Connection> c;
      if (Status s = Acquire(&c); !s.ok()) return Fail(s);
      std::uint64_t batch = 0;
      const int rc = WriteTxn(*c, [&](Connection& w) {
        StmtPtr query;
        int r = Prepare(w, "SELECT key, length(key) + length(value) FROM entries LIMIT ?1", &query);
        if (r != SQLITE_OK) return r;
        sqlite3_bind_int64(query.get(), 1, kScanBatch);
        std::vector<std::pair<std::string, std::int64_t>> rows;
        while ((r = sqlite3_step(query.get())) == SQLITE_ROW) {
          rows.emplace_back(
              std::string(ColumnBlob(query.get(), 0)),
              sqlite3_column_int64(query.get(), 1) + static_cast<std::int64_t>(kEntryOverhead));
        }
        if (r != SQLITE_DONE) return r;
        query.reset();
        for (const auto& [key, charge] : rows) {
          if (r = DeleteRow(w, key, charge); r != SQLITE_OK) return r;
        }
        batch = rows.size();
        return SQLITE_OK;
      });
      if (rc != SQLITE_OK) return Fail(Failure(std::move(c), "clearing", rc));
      Release(std::move(c));
      *removed += batch;
      Counters::Add(counters_.deletes, batch);
      if (batch == 0 || (progress && !progress(*removed))) return Status::Ok();
    }
  }

  // --- fork (see the top of the file) -----------------------------------------

  // Called before fork() with the registry lock held: waits (bounded) for the
  // connections in use, closes every idle one, and keeps the pool locked
  // until AfterFork, so that no connection is opened meanwhile.
  void BeforeFork() {
    std::unique_lock lock(pool_mu_);
    returned_.wait_for(lock, std::chrono::seconds(2), [&] { return in_use_ == 0; });
    idle_.clear();
    ++epoch_;  // connections still out are closed when they come back
    lock.release();
  }
  void AfterFork() { pool_mu_.unlock(); }

 private:
  // --- connections ---------------------------------------------------------------

  int Synchronous() const {
    switch (options_.sync) {
      case DiskStoreOptions::Sync::kFull:
        return 2;  // FULL: an fsync per commit
      case DiskStoreOptions::Sync::kMeta:
        return 1;  // NORMAL: in WAL mode, fsync at checkpoints only, never a corrupt file
      case DiskStoreOptions::Sync::kNone:
        break;
    }
    // OFF: no fsync. A cache needs no durability, only never a torn or wrong
    // value: a process killed at any moment loses nothing the OS has, and a
    // file damaged by a machine crash is detected (row checksums, SQLITE_CORRUPT)
    // and replaced. Twice as fast as NORMAL on a write (docs/STORAGE.md).
    return 0;
  }

  // A connection from the pool, or a new one. *repaired: set when opening found
  // the database damaged and replaced it (what happened, for the caller).
  Status Acquire(std::unique_ptr<Connection>* out, std::string* repaired = nullptr) {
    std::uint64_t epoch;
    {
      std::lock_guard lock(pool_mu_);
      if (!idle_.empty()) {
        *out = std::move(idle_.back());
        idle_.pop_back();
        ++in_use_;
        return Status::Ok();
      }
      epoch = epoch_;
      ++in_use_;
    }
    Status s = OpenConnection(out, repaired);
    if (!s.ok()) {
      std::lock_guard lock(pool_mu_);
      --in_use_;
      returned_.notify_all();
      return s;
    }
    (*out)->epoch = epoch;
    return s;
  }

  void Release(std::unique_ptr<Connection> c) {
    std::lock_guard lock(pool_mu_);
    --in_use_;
    if (c->epoch == epoch_ && idle_.size() < kPoolMax) idle_.push_back(std::move(c));
    returned_.notify_all();
    // else: c closes here (an older epoch: a replaced database, or a fork)
  }

  // A new connection; a damaged database is quarantined and a fresh one made.
  Status OpenConnection(std::unique_ptr<Connection>* out, std::string* repaired) {
    if (Status s = MakePrivateDirs(options_.path, "disk store"); !s.ok()) return s;
    bool damaged = false;
    Status s = Connection::Open(file_, Synchronous(), out, &damaged);
    if (s.ok() || !damaged) return s;
    Counters::Add(counters_.damaged);
    FileId id{};
    if (IdOf(file_, &id)) Quarantine(id);
    if (Status again = Connection::Open(file_, Synchronous(), out, &damaged); !again.ok()) {
      return again;
    }
    if (repaired != nullptr) *repaired = QuarantineNote(s.message());
    return Status::Ok();
  }

  std::string QuarantineNote(std::string_view what) const {
    return std::string(what) + "; moved to " + options_.path +
           "/damaged/ and replaced by an empty store: nothing to do unless it recurs (then "
           "check the disk)";
  }

  // Moves the database files at file_ into <dir>/damaged/ if they still are
  // the file `damaged` (another process may have replaced them already), and
  // closes this store's connections to them.
  void Quarantine(const FileId& damaged) {
    {
      std::lock_guard lock(pool_mu_);
      idle_.clear();
      ++epoch_;
    }
    const std::string dir = options_.path + "/damaged";
    ::mkdir(dir.c_str(), 0700);
    const std::string lock_path = dir + "/.lock";
    const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::flock(fd, LOCK_EX);
    FileId now{};
    if (IdOf(file_, &now) && now == damaged) {
      const std::string stamp = std::to_string(WallMs()) + "-" + std::to_string(::getpid());
      for (const char* suffix : {"", "-wal", "-shm"}) {
        const std::string from = file_ + suffix;
        const std::string to = dir + "/" + kDbName + suffix + "." + stamp;
        if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) {
          // Cannot move it (e.g. a directory in the way): remove it instead.
          std::error_code ec;
          std::filesystem::remove_all(from, ec);
        }
      }
      PruneQuarantine(dir);
    }
    if (fd >= 0) ::close(fd);  // also releases the flock
  }

  // Keeps the newest kQuarantineKeep damaged databases (for inspection).
  static void PruneQuarantine(const std::string& dir) {
    std::error_code ec;
    std::vector<std::filesystem::path> dbs;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with(std::string(kDbName) + ".")) dbs.push_back(entry.path());
    }
    std::sort(dbs.begin(), dbs.end());
    for (std::size_t i = 0; i + kQuarantineKeep < dbs.size(); ++i) {
      const std::string stamp = dbs[i].filename().string().substr(std::strlen(kDbName) + 1);
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::filesystem::remove(dir + "/" + kDbName + suffix + "." + stamp, ec);
      }
    }
  }

  // A failed statement: damage quarantines the database (the next call
  // starts afresh), anything else is reported. The connection is released.
  Status Failure(std::unique_ptr<Connection> c, std::string_view what, int rc) {
    const std::string text = c->Error(rc);
    if (IsDamage(rc)) {
      Counters::Add(counters_.damaged);
      const FileId id = c->file_id();
      Release(std::move(c));
      Quarantine(id);
      return Status::IOError(
          QuarantineNote("disk store: " + file_ + " was damaged (" + text + ")"));
    }
    if (rc == SQLITE_READONLY_DBMOVED) {
      std::lock_guard lock(pool_mu_);
      ++epoch_;  // c and its siblings close; the next call opens the path again
    }
    Release(std::move(c));
    return Status::IOError("disk store: " + std::string(what) + " " + file_ + ": " + text);
  }

  // Removed under us (rm -rf of the cache directory) or replaced? Then the
  // connections write into a file nobody will read: start on a new one.
  void CheckPath() {
    FileId open{};
    {
      std::lock_guard lock(pool_mu_);
      if (idle_.empty()) return;  // a new connection opens the path anyway
      open = idle_.back()->file_id();
    }
    FileId now{};
    if (IdOf(file_, &now) && now == open) return;
    std::lock_guard lock(pool_mu_);
    idle_.clear();
    ++epoch_;
  }
  void CheckPathNow(std::int64_t now) {
    std::int64_t last = last_path_check_.load(std::memory_order_relaxed);
    if (now - last < kPathCheckMs) return;
    if (last_path_check_.compare_exchange_strong(last, now, std::memory_order_relaxed)) CheckPath();
  }

  // --- statements -------------------------------------------------------------

  // A statement outside the prepared set (management: Scan, Clear).
  static int Prepare(Connection& c, const char* sql, StmtPtr* out) {
    sqlite3_stmt* raw = nullptr;
    const int rc = sqlite3_prepare_v2(c.db(), sql, -1, &raw, nullptr);
    out->reset(raw);
    return rc;
  }

  // Runs fn(connection) inside BEGIN IMMEDIATE ... COMMIT, with this store's
  // pending access times; rolls back when fn fails.
  template <typename Fn>
  int WriteTxn(Connection& c, Fn&& fn) {
    if (int rc = c.Exec(Connection::kBegin); rc != SQLITE_OK) return rc;
    int rc = WriteTouches(c);
    if (rc == SQLITE_OK) rc = fn(c);
    if (rc == SQLITE_OK) rc = c.Exec(Connection::kCommit);
    if (rc != SQLITE_OK) c.Exec(Connection::kRollback);
    return rc;
  }

  struct Totals {
    std::int64_t bytes = 0;
    std::int64_t entries = 0;
  };

  static int ReadTotals(Connection& c, Totals* totals) {
    Use read(c.stmt(Connection::kReadTotals));
    const int rc = sqlite3_step(read.get());
    *totals = Totals{};
    if (rc == SQLITE_ROW) {
      totals->bytes = sqlite3_column_int64(read.get(), 0);
      totals->entries = sqlite3_column_int64(read.get(), 1);
      return SQLITE_OK;
    }
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  static int AddTotals(Connection& c, std::int64_t bytes, std::int64_t entries) {
    Use add(c.stmt(Connection::kAddTotals));
    sqlite3_bind_int64(add.get(), 1, bytes);
    sqlite3_bind_int64(add.get(), 2, entries);
    const int rc = sqlite3_step(add.get());
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
  }

  // The key and charge of the first row a (key, size) query finds; *found
  // false when there is none. `bind` binds the query's parameters.
  template <typename Bind>
  static int FirstRow(Connection& c, Connection::Statement query, Bind&& bind, std::string* key,
                      std::int64_t* charge, bool* found) {
    Use q(c.stmt(query));
    bind(q.get());
    const int rc = sqlite3_step(q.get());
    *found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_OK : rc;
    key->assign(ColumnBlob(q.get(), 0));
    *charge = sqlite3_column_int64(q.get(), 1) + static_cast<std::int64_t>(kEntryOverhead);
    return SQLITE_OK;
  }

  static int DeleteRow(Connection& c, std::string_view key, std::int64_t charge) {
    Use del(c.stmt(Connection::kDelete));
    BindBlob(del.get(), 1, key);
    if (int rc = sqlite3_step(del.get()); rc != SQLITE_DONE) return rc;
    return AddTotals(c, -charge, -1);
  }

  // Removes `key` if present. A lookup first: most writes are of new keys,
  // which then cost no delete.
  static int RemoveKey(Connection& c, std::string_view key) {
    std::string found_key;
    std::int64_t charge = 0;
    bool found = false;
    const auto bind = [&](sqlite3_stmt* q) { BindBlob(q, 1, key); };
    if (int rc = FirstRow(c, Connection::kSizeOf, bind, &found_key, &charge, &found);
        rc != SQLITE_OK || !found) {
      return rc;
    }
    return DeleteRow(c, key, charge);
  }

  // Removes expired rows, the earliest expiry first, at most `limit`.
  static int Sweep(Connection& c, std::int64_t now, int limit, std::uint64_t* expired) {
    const auto bind = [&](sqlite3_stmt* q) { sqlite3_bind_int64(q, 1, now); };
    std::string key;
    for (int i = 0; i < limit; ++i) {
      std::int64_t charge = 0;
      bool found = false;
      if (int rc = FirstRow(c, Connection::kFirstExpired, bind, &key, &charge, &found);
          rc != SQLITE_OK || !found) {
        return rc;
      }
      if (int rc = DeleteRow(c, key, charge); rc != SQLITE_OK) return rc;
      ++*expired;
    }
    return SQLITE_OK;
  }

  // Evicts the least recently used rows until the charged total <= target.
  static int EvictTo(Connection& c, std::uint64_t target, std::uint64_t* evicted) {
    const auto bind = [](sqlite3_stmt*) {};
    std::string key;
    for (;;) {
      Totals totals;
      if (int rc = ReadTotals(c, &totals); rc != SQLITE_OK) return rc;
      if (totals.bytes <= static_cast<std::int64_t>(std::min<std::uint64_t>(target, INT64_MAX))) {
        return SQLITE_OK;
      }
      std::int64_t charge = 0;
      bool found = false;
      if (int rc = FirstRow(c, Connection::kLeastRecent, bind, &key, &charge, &found);
          rc != SQLITE_OK) {
        return rc;
      }
      if (!found) return AddTotals(c, -totals.bytes, -totals.entries);  // empty: zero it is
      if (int rc = DeleteRow(c, key, charge); rc != SQLITE_OK) return rc;
      ++*evicted;
    }
  }

  // Deletes a row that failed its checksum (best effort: a failure leaves it
  // to eviction, and it is never served meanwhile).
  void DropDamaged(Connection& c, std::string_view key) {
    Counters::Add(counters_.damaged);
    WriteTxn(c, [&](Connection& w) { return RemoveKey(w, key); });
  }

  // --- access times (LRU) -------------------------------------------------------

  void Touch(Connection& c, std::string_view key, std::int64_t now) {
    bool flush = false;
    {
      std::lock_guard lock(touch_mu_);
      if (touches_.empty()) touches_since_ = now;
      if (touches_.size() < 4 * kTouchFlushCount) touches_[std::string(key)] = now;
      flush = touches_.size() >= kTouchFlushCount || now - touches_since_ >= kTouchFlushMs;
    }
    if (flush) FlushTouches(c);
  }

  void FlushTouches(Connection& c) {
    {
      std::lock_guard lock(touch_mu_);
      if (touches_.empty()) return;
    }
    WriteTxn(c, [](Connection&) { return SQLITE_OK; });
  }

  // Inside a write transaction: the pending access times. Lost if the
  // transaction fails: they only order eviction.
  int WriteTouches(Connection& c) {
    std::unordered_map<std::string, std::int64_t> pending;
    {
      std::lock_guard lock(touch_mu_);
      pending.swap(touches_);
    }
    for (const auto& [key, when] : pending) {
      Use touch(c.stmt(Connection::kTouch));
      BindBlob(touch.get(), 1, key);
      sqlite3_bind_int64(touch.get(), 2, when);
      if (int rc = sqlite3_step(touch.get()); rc != SQLITE_DONE) return rc;
    }
    return SQLITE_OK;
  }

  // --- counting -------------------------------------------------------------------

  // A lookup that could not be answered: a counted miss (the contract: a
  // store that cannot answer reports a miss), with the reason.
  Status Missed(const Status& error) {
    Counters::Add(counters_.errors);
    Counters::Add(counters_.misses);
    return Status::NotFound(error.message());
  }
  Status Fail(Status error) {
    Counters::Add(counters_.errors);
    return error;
  }

  const DiskStoreOptions options_;
  const std::string file_;
  store_internal::FileLeases leases_;
  std::string describe_;

  std::mutex pool_mu_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by pool_mu_
  std::size_t in_use_ = 0;                         // guarded by pool_mu_
  std::uint64_t epoch_ = 0;                        // guarded by pool_mu_

  std::mutex touch_mu_;
  std::unordered_map<std::string, std::int64_t> touches_;  // key -> last use, ms
  std::int64_t touches_since_ = 0;

  std::atomic<std::int64_t> last_path_check_{0};
  Counters counters_;
};

void ForkPrepare() {
  ForkRegistry& registry = TheForkRegistry();
  registry.mu.lock();  // held across fork(), released by ForkDone
  for (DiskStore* store : registry.stores) store->BeforeFork();
}
void ForkDone() {
  ForkRegistry& registry = TheForkRegistry();
  for (DiskStore* store : registry.stores) store->AfterFork();
  registry.mu.unlock();
}

void RegisterForFork(DiskStore* store) {
  [[maybe_unused]] static const int registered = pthread_atfork(ForkPrepare, ForkDone, ForkDone);
  ForkRegistry& registry = TheForkRegistry();
  std::lock_guard lock(registry.mu);
  registry.stores.insert(store);
}
void UnregisterForFork(DiskStore* store) {
  ForkRegistry& registry = TheForkRegistry();
  std::lock_guard lock(registry.mu);
  registry.stores.erase(store);
}

}  // namespace

Status OpenDiskStore(const DiskStoreOptions& options, std::unique_ptr<Store>* out) {
  if (options.path.empty() || options.path.front() != '/') {
    return Status::Error("disk store: path must be absolute, got '" + options.path + "'");
  }
  if (options.max_bytes == 0) return Status::Error("disk store: max_bytes must be positive");
  auto store = std::make_unique<DiskStore>(options);
  if (Status s = store->Init(); !s.ok()) return s;
  *out = std::move(store);
  return Status::Ok();
}

}  // namespace memokey
