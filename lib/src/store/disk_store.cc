// disk:// — a store in an LMDB environment shared by threads and processes.
//
// Why LMDB: readers never block and never take a lock file round trip after
// their first transaction (MDB_NOTLS + a pool of reset read transactions), a
// write is one ACID transaction (copy-on-write B+tree: a process killed in the
// middle of a write leaves the previous committed state, never a torn value),
// and processes coordinate through LMDB's own robust mutexes, which the next
// writer recovers when a holder died.
//
// Layout (four named databases):
//   data    key -> [expires ms since epoch, u64 LE; 0 = never][seq, u64 LE][value]
//   order   seq (u64 BE) -> key          oldest write first: the eviction order
//   expiry  expires (BE) + seq (BE) -> key, for entries with a TTL: expired first
//   meta    "layout" -> "memokey-disk-1";  "bytes" -> u64 LE, the charged total
// All four change in the same write transaction, so they always agree.

#include <fcntl.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "leases.h"
#include "memokey/store.h"
#include "store_internal.h"

namespace memokey {
namespace {

using store_internal::CheckKey;
using store_internal::CheckTtl;
using store_internal::Counters;
using store_internal::WallMs;

constexpr std::string_view kLayout = "memokey-disk-1";
constexpr std::size_t kHeaderBytes = 16;
// Beyond key and value: the order record (a second copy of the key plus a seq)
// and B-tree node headers.
constexpr std::uint64_t kEntryOverhead = 64;
constexpr std::uint64_t kMapSlack = std::uint64_t{64} << 20;
constexpr unsigned kMaxReaders = 1024;
constexpr std::size_t kReaderPoolMax = 8;
// Expired entries removed per Put, so that one write never pays for a backlog.
constexpr int kSweepPerPut = 256;
constexpr int kPutAttempts = 4;

std::uint64_t Charge(std::size_t key_size, std::size_t value_size) {
  return 2 * std::uint64_t{key_size} + value_size + kHeaderBytes + 8 + kEntryOverhead;
}

std::uint64_t MapSizeFor(std::uint64_t max_bytes) {
  constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
  const std::uint64_t limit = std::uint64_t{1} << 46;  // 64 TiB of address space
  std::uint64_t size = max_bytes > (limit - kMapSlack) / 2 ? limit : 2 * max_bytes + kMapSlack;
  return (size + kMiB - 1) / kMiB * kMiB;
}

void PutLe64(char* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
std::uint64_t GetLe64(const char* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return v;
}
void PutBe64(char* out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (56 - 8 * i));
}
std::uint64_t GetBe64(const char* in) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<unsigned char>(in[i]);
  return v;
}

MDB_val Val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};  // LMDB does not write through it
}
std::string_view View(const MDB_val& v) {
  return std::string_view(static_cast<const char*>(v.mv_data), v.mv_size);
}

Status LmdbStatus(std::string_view what, int rc) {
  return Status::IOError("disk store: " + std::string(what) + ": " + mdb_strerror(rc));
}

struct Header {
  std::int64_t expires = 0;
  std::uint64_t seq = 0;
};
bool ParseHeader(const MDB_val& v, Header* h) {
  if (v.mv_size < kHeaderBytes) return false;
  const char* p = static_cast<const char*>(v.mv_data);
  h->expires = static_cast<std::int64_t>(GetLe64(p));
  h->seq = GetLe64(p + 8);
  return true;
}

struct EnvCloser {
  void operator()(MDB_env* env) const { mdb_env_close(env); }
};
struct TxnAborter {
  void operator()(MDB_txn* txn) const { mdb_txn_abort(txn); }
};
struct CursorCloser {
  void operator()(MDB_cursor* cursor) const { mdb_cursor_close(cursor); }
};
using EnvPtr = std::unique_ptr<MDB_env, EnvCloser>;
using TxnPtr = std::unique_ptr<MDB_txn, TxnAborter>;
using CursorPtr = std::unique_ptr<MDB_cursor, CursorCloser>;

// Creates `path` and missing parents with mode 0700; an existing final
// directory must be ours and closed to others, since whoever can write there
// can plant values (the envelope's MAC is the second line of defence).
Status PrepareDirectory(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string prefix = path.substr(0, slash);
    if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IOError("disk store: cannot create directory " + prefix + ": " +
                             std::strerror(errno));
    }
    if (slash == std::string::npos) break;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::IOError("disk store: cannot stat " + path + ": " + std::strerror(errno));
  }
  if (!S_ISDIR(st.st_mode)) return Status::IOError("disk store: " + path + " is not a directory");
  if (st.st_uid != ::geteuid()) {
    return Status::IOError("disk store: " + path + " belongs to another user (uid " +
                           std::to_string(st.st_uid) + ")");
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Status::IOError("disk store: " + path + " is writable by group or others; chmod 700 it");
  }
  return Status::Ok();
}

// One LMDB environment. LMDB forbids opening an environment twice in one
// process (closing either copy would drop the other's fcntl locks), so every
// DiskStore of a directory shares one Env through the registry below.
class Env {
 public:
  ~Env() {
    if (::getpid() != pid_) {
      // A forked child inherited this object. Closing would release the
      // parent's reader slots in the shared lock file, so leave it all be.
      for (TxnPtr& txn : idle_readers_) static_cast<void>(txn.release());
      static_cast<void>(env_.release());
      return;
    }
    idle_readers_.clear();  // before the environment closes
  }

  struct Passkey {
   private:
    friend class Env;
    Passkey() = default;
  };
  explicit Env(Passkey) : pid_(::getpid()) {}

  static Status Open(const DiskStoreOptions& options, std::shared_ptr<Env>* out);

  MDB_env* env() const { return env_.get(); }
  MDB_dbi data = 0, order = 0, expiry = 0, meta = 0;

  // Every transaction holds this shared; adopting a map grown by another
  // process (MDB_MAP_RESIZED) needs it exclusive, as no transaction of this
  // process may be active then.
  std::shared_mutex& resize_mutex() { return resize_mu_; }

  // A read-only transaction, renewed from the pool when possible.
  int BeginRead(TxnPtr* txn) {
    {
      std::lock_guard lock(pool_mu_);
      if (!idle_readers_.empty()) {
        *txn = std::move(idle_readers_.back());
        idle_readers_.pop_back();
      }
    }
    if (*txn) {
      const int rc = mdb_txn_renew(txn->get());
      if (rc != 0) txn->reset();
      return rc;
    }
    MDB_txn* raw = nullptr;
    const int rc = mdb_txn_begin(env_.get(), nullptr, MDB_RDONLY, &raw);
    txn->reset(raw);
    return rc;
  }
  void EndRead(TxnPtr txn) {
    mdb_txn_reset(txn.get());
    std::lock_guard lock(pool_mu_);
    if (idle_readers_.size() < kReaderPoolMax) idle_readers_.push_back(std::move(txn));
  }
  // Called with resize_mutex() held exclusively.
  int AdoptMapSize(std::uint64_t at_least) {
    {
      std::lock_guard lock(pool_mu_);
      idle_readers_.clear();
    }
    MDB_envinfo info{};
    mdb_env_info(env_.get(), &info);
    // 0 adopts the size another process set; a larger value grows the map.
    return mdb_env_set_mapsize(env_.get(), at_least > info.me_mapsize ? at_least : 0);
  }

 private:
  EnvPtr env_;
  pid_t pid_;
  std::shared_mutex resize_mu_;
  std::mutex pool_mu_;
  std::vector<TxnPtr> idle_readers_;
};

struct Registry {
  std::mutex mu;
  std::map<std::pair<dev_t, ino_t>, std::pair<pid_t, std::weak_ptr<Env>>> envs;
};
// Process-wide by necessity: the LMDB rule above is per process.
Registry& TheRegistry() {
  static Registry registry;
  return registry;
}

Status Env::Open(const DiskStoreOptions& options, std::shared_ptr<Env>* out) {
  if (Status s = PrepareDirectory(options.path); !s.ok()) return s;
  struct stat st {};
  if (::stat(options.path.c_str(), &st) != 0) {
    return Status::IOError("disk store: cannot stat " + options.path + ": " + std::strerror(errno));
  }
  const std::uint64_t map_size =
      options.map_size != 0 ? options.map_size : MapSizeFor(options.max_bytes);
  Registry& registry = TheRegistry();
  std::lock_guard registry_lock(registry.mu);
  const auto id = std::make_pair(st.st_dev, st.st_ino);
  if (auto found = registry.envs.find(id); found != registry.envs.end()) {
    if (found->second.first == ::getpid()) {
      if (std::shared_ptr<Env> existing = found->second.second.lock()) {
        MDB_envinfo info{};
        mdb_env_info(existing->env(), &info);
        if (map_size > info.me_mapsize) {
          std::unique_lock resize(existing->resize_mutex());
          if (int rc = existing->AdoptMapSize(map_size); rc != 0) {
            return LmdbStatus("growing the map", rc);
          }
        }
        *out = std::move(existing);
        return Status::Ok();
      }
    }
    registry.envs.erase(found);
  }

  auto env = std::make_unique<Env>(Passkey());
  MDB_env* raw = nullptr;
  if (int rc = mdb_env_create(&raw); rc != 0) return LmdbStatus("mdb_env_create", rc);
  env->env_.reset(raw);
  mdb_env_set_maxdbs(raw, 4);
  mdb_env_set_maxreaders(raw, kMaxReaders);
  if (int rc = mdb_env_set_mapsize(raw, map_size); rc != 0) {
    return LmdbStatus("mdb_env_set_mapsize", rc);
  }
  unsigned flags = MDB_NOTLS | MDB_NORDAHEAD;
  if (options.sync == DiskStoreOptions::Sync::kMeta) flags |= MDB_NOMETASYNC;
  if (options.sync == DiskStoreOptions::Sync::kNone) flags |= MDB_NOSYNC;
  if (int rc = mdb_env_open(raw, options.path.c_str(), flags, 0600); rc != 0) {
    return LmdbStatus("opening " + options.path, rc);
  }
  int dead = 0;
  mdb_reader_check(raw, &dead);  // slots of processes that were killed

  MDB_txn* txn_raw = nullptr;
  if (int rc = mdb_txn_begin(raw, nullptr, 0, &txn_raw); rc != 0) {
    return LmdbStatus("mdb_txn_begin", rc);
  }
  TxnPtr txn(txn_raw);
  struct Named {
    const char* name;
    MDB_dbi* dbi;
  };
  for (Named named : {Named{"data", &env->data}, Named{"order", &env->order},
                      Named{"expiry", &env->expiry}, Named{"meta", &env->meta}}) {
    if (int rc = mdb_dbi_open(txn.get(), named.name, MDB_CREATE, named.dbi); rc != 0) {
      return LmdbStatus(std::string("opening database ") + named.name, rc);
    }
  }
  MDB_val layout_key = Val("layout");
  MDB_val layout{};
  int rc = mdb_get(txn.get(), env->meta, &layout_key, &layout);
  if (rc == MDB_NOTFOUND) {
    layout = Val(kLayout);
    rc = mdb_put(txn.get(), env->meta, &layout_key, &layout, 0);
  } else if (rc == 0 && View(layout) != kLayout) {
    return Status::IOError("disk store: " + options.path + " holds layout '" +
                           std::string(View(layout)) + "', expected '" + std::string(kLayout) +
                           "'");
  }
  if (rc != 0) return LmdbStatus("reading the layout", rc);
  if (rc = mdb_txn_commit(txn.release()); rc != 0) return LmdbStatus("mdb_txn_commit", rc);

  // Closing must happen under the registry lock, or a concurrent Open of the
  // same directory could open a second MDB_env while this one is closing.
  std::shared_ptr<Env> shared(env.release(), [](Env* e) {
    std::lock_guard lock(TheRegistry().mu);
    std::default_delete<Env>()(e);
  });
  registry.envs[id] = {::getpid(), shared};
  *out = std::move(shared);
  return Status::Ok();
}

// Shared-locks the environment and holds a read transaction.
class ReadTxn {
 public:
  explicit ReadTxn(Env& env) : env_(env), lock_(env.resize_mutex()) {
    rc_ = env_.BeginRead(&txn_);
    if (rc_ == MDB_MAP_RESIZED) {
      lock_.unlock();
      {
        std::unique_lock resize(env_.resize_mutex());
        rc_ = env_.AdoptMapSize(0);
      }
      lock_.lock();
      if (rc_ == 0) rc_ = env_.BeginRead(&txn_);
    }
  }
  ~ReadTxn() {
    if (txn_) env_.EndRead(std::move(txn_));
  }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;

  int rc() const { return rc_; }
  MDB_txn* get() const { return txn_.get(); }

 private:
  Env& env_;
  std::shared_lock<std::shared_mutex> lock_;
  TxnPtr txn_;
  int rc_ = 0;
};

// Write-side operations on memokey's layout, inside one write transaction.
// They return LMDB codes (0 = success) so that MDB_MAP_FULL can be told apart.
class Writer {
 public:
  Writer(Env& env, MDB_txn* txn) : env_(env), txn_(txn) {}

  struct Counts {
    std::uint64_t evicted = 0;
    std::uint64_t expired = 0;
  };

  int ReadTotal(std::uint64_t* total) const {
    MDB_val k = Val("bytes");
    MDB_val v{};
    const int rc = mdb_get(txn_, env_.meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
      *total = 0;
      return 0;
    }
    if (rc != 0) return rc;
    if (v.mv_size != 8) return MDB_CORRUPTED;
    *total = GetLe64(static_cast<const char*>(v.mv_data));
    return 0;
  }

  int WriteTotal(std::uint64_t total) const {
    char buf[8];
    PutLe64(buf, total);
    MDB_val k = Val("bytes");
    MDB_val v = Val(std::string_view(buf, sizeof buf));
    return mdb_put(txn_, env_.meta, &k, &v, 0);
  }

  // Removes `key` (if present) with its order and expiry records.
  int Remove(std::string_view key, std::uint64_t* total) const {
    MDB_val k = Val(key);
    MDB_val v{};
    const int rc = mdb_get(txn_, env_.data, &k, &v);
    if (rc == MDB_NOTFOUND) return 0;
    if (rc != 0) return rc;
    return RemoveEntry(key, v, total);
  }

  // Removes expired entries, oldest expiry first, at most `limit`.
  int SweepExpired(std::int64_t now, int limit, std::uint64_t* total, Counts* counts) const {
    std::string index_key, data_key;
    for (int i = 0; i < limit; ++i) {
      int rc = First(env_.expiry, &index_key, &data_key);
      if (rc == MDB_NOTFOUND) return 0;
      if (rc != 0) return rc;
      if (index_key.size() != 16 || static_cast<std::int64_t>(GetBe64(index_key.data())) > now) {
        return 0;
      }
      if (rc = RemoveVia(env_.expiry, index_key, data_key, total); rc != 0) return rc;
      ++counts->expired;
    }
    return 0;
  }

  // Evicts the oldest writes until *total <= target.
  int EvictTo(std::uint64_t target, std::uint64_t* total, Counts* counts) const {
    std::string index_key, data_key;
    while (*total > target) {
      int rc = First(env_.order, &index_key, &data_key);
      if (rc == MDB_NOTFOUND) {
        *total = 0;  // nothing left: the accounting can only be zero
        return 0;
      }
      if (rc != 0) return rc;
      if (rc = RemoveVia(env_.order, index_key, data_key, total); rc != 0) return rc;
      ++counts->evicted;
    }
    return 0;
  }

  // Inserts a new entry (the key must be absent) with the next sequence number.
  int Insert(std::string_view key, std::string_view value, std::int64_t expires) const {
    std::uint64_t seq = 1;
    {
      MDB_cursor* raw = nullptr;
      if (int rc = mdb_cursor_open(txn_, env_.order, &raw); rc != 0) return rc;
      CursorPtr cursor(raw);
      MDB_val lk{}, lv{};
      const int rc = mdb_cursor_get(cursor.get(), &lk, &lv, MDB_LAST);
      if (rc == 0 && lk.mv_size == 8) seq = GetBe64(static_cast<const char*>(lk.mv_data)) + 1;
      if (rc != 0 && rc != MDB_NOTFOUND) return rc;
    }
    MDB_val k = Val(key);
    // MDB_RESERVE: the value is copied once, straight into the map.
    MDB_val reserved{kHeaderBytes + value.size(), nullptr};
    if (int rc = mdb_put(txn_, env_.data, &k, &reserved, MDB_RESERVE); rc != 0) return rc;
    char* out = static_cast<char*>(reserved.mv_data);
    PutLe64(out, static_cast<std::uint64_t>(expires));
    PutLe64(out + 8, seq);
    if (!value.empty()) std::memcpy(out + kHeaderBytes, value.data(), value.size());
    char seq_be[8];
    PutBe64(seq_be, seq);
    MDB_val sk = Val(std::string_view(seq_be, 8));
    if (int rc = mdb_put(txn_, env_.order, &sk, &k, 0); rc != 0) return rc;
    if (expires != 0) {
      char ek_buf[16];
      PutBe64(ek_buf, static_cast<std::uint64_t>(expires));
      PutBe64(ek_buf + 8, seq);
      MDB_val ek = Val(std::string_view(ek_buf, 16));
      if (int rc = mdb_put(txn_, env_.expiry, &ek, &k, 0); rc != 0) return rc;
    }
    return 0;
  }

 private:
  // Removes `key`, whose data record is `v`, with its order and expiry records.
  // `key` must not point into the map (callers pass their own copies).
  int RemoveEntry(std::string_view key, const MDB_val& v, std::uint64_t* total) const {
    Header header;
    const bool parsed = ParseHeader(v, &header);  // before any change moves `v`
    const std::uint64_t charge =
        Charge(key.size(), v.mv_size >= kHeaderBytes ? v.mv_size - kHeaderBytes : 0);
    if (parsed) {
      char seq[8];
      PutBe64(seq, header.seq);
      MDB_val sk = Val(std::string_view(seq, 8));
      if (int rc = mdb_del(txn_, env_.order, &sk, nullptr); rc != 0 && rc != MDB_NOTFOUND) {
        return rc;
      }
      if (header.expires != 0) {
        char ek_buf[16];
        PutBe64(ek_buf, static_cast<std::uint64_t>(header.expires));
        PutBe64(ek_buf + 8, header.seq);
        MDB_val ek = Val(std::string_view(ek_buf, 16));
        if (int rc = mdb_del(txn_, env_.expiry, &ek, nullptr); rc != 0 && rc != MDB_NOTFOUND) {
          return rc;
        }
      }
    }
    MDB_val k = Val(key);
    if (int rc = mdb_del(txn_, env_.data, &k, nullptr); rc != 0 && rc != MDB_NOTFOUND) return rc;
    *total = *total > charge ? *total - charge : 0;
    return 0;
  }

  // The first record of index `dbi`: its key, and its value (a data key).
  int First(MDB_dbi dbi, std::string* index_key, std::string* data_key) const {
    MDB_cursor* raw = nullptr;
    if (int rc = mdb_cursor_open(txn_, dbi, &raw); rc != 0) return rc;
    CursorPtr cursor(raw);
    MDB_val k{}, v{};
    if (int rc = mdb_cursor_get(cursor.get(), &k, &v, MDB_FIRST); rc != 0) return rc;
    index_key->assign(View(k));
    data_key->assign(View(v));
    return 0;
  }

  // Removes the entry that `index_key` in index `dbi` points to.
  int RemoveVia(MDB_dbi dbi, const std::string& index_key, const std::string& data_key,
                std::uint64_t* total) const {
    MDB_val k = Val(data_key);
    MDB_val v{};
    const int rc = mdb_get(txn_, env_.data, &k, &v);
    if (rc == 0) return RemoveEntry(data_key, v, total);
    if (rc != MDB_NOTFOUND) return rc;
    MDB_val ik = Val(index_key);  // a dangling index record: drop it
    return mdb_del(txn_, dbi, &ik, nullptr);
  }

  Env& env_;
  MDB_txn* txn_;
};

// Runs fn(Writer&) in a write transaction of `env`, committing when it
// returns 0.
template <typename Fn>
int WithWriteTxn(Env& env, Fn&& fn) {
  std::shared_lock lock(env.resize_mutex());
  MDB_txn* raw = nullptr;
  int rc = mdb_txn_begin(env.env(), nullptr, 0, &raw);
  if (rc == MDB_MAP_RESIZED) {
    lock.unlock();
    {
      std::unique_lock resize(env.resize_mutex());
      rc = env.AdoptMapSize(0);
    }
    lock.lock();
    if (rc == 0) rc = mdb_txn_begin(env.env(), nullptr, 0, &raw);
  }
  if (rc != 0) return rc;
  TxnPtr txn(raw);
  Writer writer(env, txn.get());
  if (rc = fn(writer); rc != 0) return rc;  // aborted by TxnPtr
  return mdb_txn_commit(txn.release());
}

class DiskStore final : public Store {
 public:
  DiskStore(std::shared_ptr<Env> env, const DiskStoreOptions& options)
      : options_(options),
        leases_(options.path + "/leases"),
        generation_(store_internal::ForkGeneration()) {
    current_.store(env.get(), std::memory_order_release);
    owners_.push_back(std::move(env));
    describe_ = "disk://" + store_internal::PercentEncode(options.path) +
                "?max_bytes=" + std::to_string(options.max_bytes);
    if (options.sync == DiskStoreOptions::Sync::kFull) describe_ += "&sync=full";
    if (options.sync == DiskStoreOptions::Sync::kNone) describe_ += "&sync=none";
    if (options.map_size != 0) describe_ += "&map_size=" + std::to_string(options.map_size);
  }

  Status Get(std::string_view key, std::string* value) override {
    std::chrono::milliseconds ttl_left;
    return GetWithTtl(key, value, &ttl_left);
  }

  Status GetWithTtl(std::string_view key, std::string* value,
                    std::chrono::milliseconds* ttl_left) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    *ttl_left = std::chrono::milliseconds{0};
    Status open;
    Env* env = CurrentEnv(&open);
    if (env == nullptr) return Failed(std::move(open), true);
    ReadTxn txn(*env);
    if (txn.rc() != 0) return Failed(LmdbStatus("reading", txn.rc()), true);
    MDB_val k = Val(key);
    MDB_val v{};
    const int rc = mdb_get(txn.get(), env->data, &k, &v);
    if (rc == MDB_NOTFOUND) {
      Counters::Add(counters_.misses);
      return Status::NotFound();
    }
    if (rc != 0) return Failed(LmdbStatus("reading", rc), true);
    Header header;
    if (!ParseHeader(v, &header)) return Failed(LmdbStatus("reading", MDB_CORRUPTED), true);
    if (header.expires != 0) {
      const std::int64_t now = WallMs();
      if (header.expires <= now) {
        Counters::Add(counters_.misses);
        return Status::NotFound();
      }
      *ttl_left = std::chrono::milliseconds(header.expires - now);
    }
    value->assign(static_cast<const char*>(v.mv_data) + kHeaderBytes, v.mv_size - kHeaderBytes);
    Counters::Add(counters_.hits);
    return Status::Ok();
  }

  Status Put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    if (Status s = CheckTtl(ttl); !s.ok()) return s;
    Status open;
    Env* env = CurrentEnv(&open);
    if (env == nullptr) return Failed(std::move(open), false);
    const std::uint64_t max_bytes = options_.max_bytes;
    const std::uint64_t charge = Charge(key.size(), value.size());
    const std::int64_t now = WallMs();
    const std::int64_t expires = store_internal::ExpiryFrom(now, ttl);
    const bool admit = charge <= max_bytes;
    int rc = 0;
    for (int attempt = 0; attempt < kPutAttempts; ++attempt) {
      Writer::Counts counts;
      rc = WithWriteTxn(*env, [&](Writer& w) {
        std::uint64_t total = 0;
        if (int r = w.ReadTotal(&total); r != 0) return r;
        if (int r = w.Remove(key, &total); r != 0) return r;
        if (int r = w.SweepExpired(now, kSweepPerPut, &total, &counts); r != 0) return r;
        if (admit) {
          // Room first: pages freed in this transaction are reusable only by
          // later ones, which the 2x map size allows for.
          if (int r = w.EvictTo(max_bytes - charge, &total, &counts); r != 0) return r;
          if (int r = w.Insert(key, value, expires); r != 0) return r;
          total += charge;
        }
        return w.WriteTotal(total);
      });
      if (rc == 0) {
        Counters::Add(counters_.puts);
        Counters::Add(counters_.evictions, counts.evicted + (admit ? 0 : 1));
        Counters::Add(counters_.expired, counts.expired);
        return Status::Ok();
      }
      if (rc != MDB_MAP_FULL) break;
      // The map is full although the accounting allowed the value: free pages
      // are pinned by readers (dead ones included) or too fragmented for a
      // large value. Clear dead readers' slots and evict harder (to a half,
      // a quarter, then nothing of the room left) in a transaction of its own,
      // so that the pages it frees are reusable by the retry.
      int dead = 0;
      mdb_reader_check(env->env(), &dead);
      const std::uint64_t room = max_bytes > charge ? max_bytes - charge : 0;
      const std::uint64_t target = attempt + 2 >= kPutAttempts ? 0 : room >> (attempt + 1);
      Writer::Counts freed;
      const int evict_rc = WithWriteTxn(*env, [&](Writer& w) {
        std::uint64_t total = 0;
        if (int r = w.ReadTotal(&total); r != 0) return r;
        if (int r = w.EvictTo(target, &total, &freed); r != 0) return r;
        return w.WriteTotal(total);
      });
      if (evict_rc != 0) {
        rc = evict_rc;
        break;
      }
      Counters::Add(counters_.evictions, freed.evicted);
    }
    return Failed(LmdbStatus("writing", rc), false);
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
    Status open;
    Env* env = CurrentEnv(&open);
    if (env == nullptr) return Failed(std::move(open), false);
    const int rc = WithWriteTxn(*env, [&](Writer& w) {
      std::uint64_t total = 0;
      if (int r = w.ReadTotal(&total); r != 0) return r;
      if (int r = w.Remove(key, &total); r != 0) return r;
      return w.WriteTotal(total);
    });
    if (rc != 0) return Failed(LmdbStatus("deleting", rc), false);
    Counters::Add(counters_.deletes);
    return Status::Ok();
  }

  Status Contains(std::string_view key, bool* present) override {
    if (Status s = CheckKey(key); !s.ok()) return s;
    *present = false;
    Status open;
    Env* env = CurrentEnv(&open);
    if (env == nullptr) return Failed(std::move(open), false);
    ReadTxn txn(*env);
    if (txn.rc() != 0) return Failed(LmdbStatus("reading", txn.rc()), false);
    MDB_val k = Val(key);
    MDB_val v{};
    const int rc = mdb_get(txn.get(), env->data, &k, &v);
    if (rc == MDB_NOTFOUND) return Status::Ok();
    if (rc != 0) return Failed(LmdbStatus("reading", rc), false);
    Header header;
    *present = ParseHeader(v, &header) && (header.expires == 0 || header.expires > WallMs());
    return Status::Ok();
  }

  StoreStats Stats() const override {
    StoreStats stats = counters_.Snapshot();
    Env* env = current_.load(std::memory_order_acquire);
    if (generation_.load(std::memory_order_acquire) != store_internal::ForkGeneration()) {
      return stats;  // the parent's environment: not ours to read after a fork
    }
    ReadTxn txn(*env);
    if (txn.rc() != 0) return stats;
    MDB_val k = Val("bytes");
    MDB_val v{};
    if (mdb_get(txn.get(), env->meta, &k, &v) == 0 && v.mv_size == 8) {
      stats.bytes = GetLe64(static_cast<const char*>(v.mv_data));
    }
    MDB_stat st{};
    if (mdb_stat(txn.get(), env->data, &st) == 0) stats.entries = st.ms_entries;
    return stats;
  }

  std::string Describe() const override { return describe_; }

 private:
  // The environment to use in this process. After a fork() the child must
  // not touch the parent's MDB_env (LMDB's rule), so the first call in the
  // child opens the directory again; the inherited Env is kept, unused, as
  // another thread of the child may still hold a pointer to it.
  Env* CurrentEnv(Status* error) {
    const std::uint64_t generation = store_internal::ForkGeneration();
    if (generation_.load(std::memory_order_acquire) != generation) [[unlikely]] {
      std::lock_guard lock(reopen_mu_);
      if (generation_.load(std::memory_order_relaxed) != generation) {
        std::shared_ptr<Env> fresh;
        if (Status s = Env::Open(options_, &fresh); !s.ok()) {
          *error = std::move(s);
          return nullptr;
        }
        current_.store(fresh.get(), std::memory_order_release);
        owners_.push_back(std::move(fresh));
        generation_.store(generation, std::memory_order_release);
      }
    }
    return current_.load(std::memory_order_acquire);
  }

  // Counts a failure: an error always, and a miss for lookups.
  Status Failed(Status error, bool lookup) {
    Counters::Add(counters_.errors);
    if (lookup) Counters::Add(counters_.misses);
    return error;
  }

  const DiskStoreOptions options_;
  store_internal::FileLeases leases_;
  std::string describe_;
  std::mutex reopen_mu_;
  std::vector<std::shared_ptr<Env>> owners_;  // guarded by reopen_mu_ after construction
  std::atomic<Env*> current_{nullptr};
  std::atomic<std::uint64_t> generation_;
  Counters counters_;
};

}  // namespace

Status OpenDiskStore(const DiskStoreOptions& options, std::unique_ptr<Store>* out) {
  if (options.path.empty() || options.path.front() != '/') {
    return Status::Error("disk store: path must be absolute, got '" + options.path + "'");
  }
  if (options.max_bytes == 0) return Status::Error("disk store: max_bytes must be positive");
  std::shared_ptr<Env> env;
  if (Status s = Env::Open(options, &env); !s.ok()) return s;
  *out = std::make_unique<DiskStore>(std::move(env), options);
  return Status::Ok();
}

}  // namespace memokey
