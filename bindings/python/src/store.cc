// store.cc — memokey._core.Store and the value envelope, for Python.
//
// Every call into a store or the envelope runs with the GIL released: a disk
// store may wait for an fdatasync and a Redis store for the network, and
// other Python threads keep running meanwhile. Arguments are converted (and
// their buffers pinned) before the GIL is released; results are turned into
// Python objects after it is taken back.

#include "store.h"

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "memokey/envelope.h"
#include "memokey/store.h"
#include "memokey/store_manage.h"
#include "memokey/store_spec.h"
#include "memokey/tiered_store.h"

namespace nb = nanobind;

namespace memokey::py {

void SetStatusError(const Status& status, const char* what) {
  PyObject* type = PyExc_OSError;
  switch (status.code()) {
    case Status::Code::kInvalidArgument:
      type = PyExc_ValueError;
      break;
    case Status::Code::kUnavailable:
      type = PyExc_ConnectionError;
      break;
    default:
      break;
  }
  PyErr_Format(type, "%s: %s", what, status.ToString().c_str());
}

namespace {

[[noreturn]] void Throw(const Status& status, const char* what) {
  SetStatusError(status, what);
  throw nb::python_error();
}

// A bytes or str argument viewed as bytes (str: its UTF-8 form). The view
// stays valid while the argument object is alive (the caller holds it).
std::string_view KeyView(nb::handle key, const char* what) {
  if (PyBytes_Check(key.ptr())) {
    return std::string_view(PyBytes_AS_STRING(key.ptr()),
                            static_cast<std::size_t>(PyBytes_GET_SIZE(key.ptr())));
  }
  if (PyUnicode_Check(key.ptr())) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(key.ptr(), &n);
    if (s == nullptr) throw nb::python_error();
    return std::string_view(s, static_cast<std::size_t>(n));
  }
  PyErr_Format(PyExc_TypeError, "%s: key must be bytes or str, not %.100s", what,
               Py_TYPE(key.ptr())->tp_name);
  throw nb::python_error();
}

// A store key: str only, stored as its UTF-8 bytes. One form, so that a
// key cannot be asked for in a second spelling that silently misses: the
// keys memoize stores under are the hex text f.key() returns, and a
// memokey.key() digest (16 bytes) is another key altogether.
std::string_view StoreKey(nb::handle key, const char* what) {
  if (PyUnicode_Check(key.ptr())) return KeyView(key, what);
  if (PyBytes_Check(key.ptr()) || PyByteArray_Check(key.ptr())) {
    PyErr_Format(PyExc_TypeError,
                 "%s: store keys are str (the hex key f.key(...) returns, or any text), not "
                 "%.100s; for a memokey.key() digest pass digest.hex(), for other bytes decode "
                 "them",
                 what, Py_TYPE(key.ptr())->tp_name);
    throw nb::python_error();
  }
  PyErr_Format(PyExc_TypeError, "%s: store keys are str, not %.100s", what,
               Py_TYPE(key.ptr())->tp_name);
  throw nb::python_error();
}

// A Python progress callback for StoreProgress: called with the GIL taken
// (the operation runs without it); an exception it raises stops the
// operation and is re-raised by Rethrow once the GIL is back.
class Progress {
 public:
  explicit Progress(nb::handle callback) : callback_(nb::borrow(callback)) {}
  StoreProgress Fn() {
    if (callback_.is_none()) return {};
    return [this](std::uint64_t done) {
      nb::gil_scoped_acquire gil;
      if (error_) return false;
      try {
        nb::object keep_going = callback_(done);
        return keep_going.is_none() || nb::cast<bool>(keep_going);
      } catch (nb::python_error& e) {
        error_.emplace(std::move(e));
        return false;
      }
    };
  }
  void Rethrow() {
    if (error_) {
      nb::python_error e = std::move(*error_);
      error_.reset();
      throw e;
    }
  }

 private:
  nb::object callback_;
  std::optional<nb::python_error> error_;
};

std::optional<double> Seconds(const std::optional<std::chrono::milliseconds>& ms) {
  if (!ms) return std::nullopt;
  return static_cast<double>(ms->count()) / 1000.0;
}

// A bytes-like value (any C-contiguous buffer), pinned for the call.
class ValueBuffer {
 public:
  ValueBuffer(nb::handle value, const char* what) {
    if (PyUnicode_Check(value.ptr())) {
      PyErr_Format(PyExc_TypeError, "%s: value must be bytes-like, not str", what);
      throw nb::python_error();
    }
    if (PyObject_GetBuffer(value.ptr(), &view_, PyBUF_SIMPLE) != 0) throw nb::python_error();
  }
  ~ValueBuffer() { PyBuffer_Release(&view_); }
  ValueBuffer(const ValueBuffer&) = delete;
  ValueBuffer& operator=(const ValueBuffer&) = delete;
  std::string_view view() const {
    return std::string_view(static_cast<const char*>(view_.buf),
                            static_cast<std::size_t>(view_.len));
  }

 private:
  Py_buffer view_{};
};

// Seconds (finite, >= 0) -> milliseconds, rounded up: a positive duration
// below 1 ms must not turn into 0 ("no expiry", "do not wait").
std::chrono::milliseconds CeilMs(double seconds) {
  const double ms = std::ceil(seconds * 1000.0);
  if (ms > 9.0e15) return std::chrono::milliseconds{static_cast<std::int64_t>(9.0e15)};
  return std::chrono::milliseconds{static_cast<std::int64_t>(ms)};
}

std::chrono::milliseconds TtlArg(std::optional<double> ttl) {
  if (!ttl) return std::chrono::milliseconds{0};
  const double seconds = *ttl;
  if (!std::isfinite(seconds) || seconds < 0) {
    throw nb::value_error("ttl must be None or a finite number of seconds >= 0");
  }
  return CeilMs(seconds);
}

nb::bytes Bytes(std::string_view s) { return nb::bytes(s.data(), s.size()); }

nb::dict StatsDict(const StoreStats& s) {
  nb::dict d;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["puts"] = s.puts;
  d["deletes"] = s.deletes;
  d["errors"] = s.errors;
  d["evictions"] = s.evictions;
  d["expired"] = s.expired;
  d["damaged"] = s.damaged;
  d["bytes"] = s.bytes;
  d["entries"] = s.entries;
  return d;
}

Secret SecretArg(nb::handle secret) {
  if (secret.is_none()) {
    Secret out;
    Status s;
    {
      nb::gil_scoped_release release;
      s = LoadSecret(std::nullopt, &out);
    }
    if (!s.ok()) Throw(s, "load_secret");
    return out;
  }
  std::string_view bytes = KeyView(secret, "secret");
  if (bytes.size() < kMinSecretBytes) {
    throw nb::value_error("secret must be at least 16 bytes");
  }
  return Secret(bytes);
}

Codec CodecArg(int codec) {
  if (codec < 0 || codec > static_cast<int>(Codec::kPickle5)) {
    throw nb::value_error("codec must be CODEC_RAW (0), CODEC_CBOR (1) or CODEC_PICKLE5 (2)");
  }
  return static_cast<Codec>(codec);
}

// A duration argument of Store.lease, in milliseconds.
std::chrono::milliseconds SecondsArg(double seconds, const char* what, bool positive) {
  if (!std::isfinite(seconds) || seconds < 0 || (positive && seconds == 0)) {
    PyErr_Format(PyExc_ValueError, "Store.lease: %s must be a finite number of seconds %s", what,
                 positive ? "> 0" : ">= 0");
    throw nb::python_error();
  }
  return CeilMs(seconds);
}

std::optional<double> TtlSeconds(std::chrono::milliseconds ttl) {
  if (ttl.count() <= 0) return std::nullopt;
  return static_cast<double>(ttl.count()) / 1000.0;
}

const char* SchemeName(StoreSpec::Scheme scheme) {
  switch (scheme) {
    case StoreSpec::Scheme::kMemory:
      return "memory";
    case StoreSpec::Scheme::kDisk:
      return "disk";
    case StoreSpec::Scheme::kRedis:
      return "redis";
    case StoreSpec::Scheme::kRedisUnix:
      return "redis+unix";
    case StoreSpec::Scheme::kRedisCluster:
      return "redis+cluster";
    case StoreSpec::Scheme::kHttp:
      return "http";
    case StoreSpec::Scheme::kTiered:
      break;
  }
  return "tiered";
}

// memokey._core.parse_store_spec: lib's StoreSpec as a dict (secrets included:
// it is the caller's own URL).
nb::dict SpecDict(const StoreSpec& spec) {
  nb::dict d;
  d["scheme"] = SchemeName(spec.scheme);
  d["url"] = FormatStoreSpec(spec);
  d["strict"] = spec.strict();
  d["user"] = spec.user;
  d["password"] = spec.password ? nb::cast(*spec.password) : nb::none();
  nb::list hosts;
  for (const StoreSpec::Host& host : spec.hosts) {
    hosts.append(nb::make_tuple(host.name, host.port ? nb::cast(*host.port) : nb::none()));
  }
  d["hosts"] = hosts;
  d["path"] = spec.path;
  d["db"] = spec.db ? nb::cast(*spec.db) : nb::none();
  nb::list params;
  for (const auto& [name, value] : spec.params) params.append(nb::make_tuple(name, value));
  d["params"] = params;
  nb::list tiers;
  for (const StoreSpec& tier : spec.tiers) tiers.append(SpecDict(tier));
  d["tiers"] = tiers;
  return d;
}

const char* kParseStoreSpecDoc =
    "parse_store_spec(url) -> dict\n\n"
    "The store URL parsed by lib (lib/include/memokey/store_spec.h), checked as\n"
    "open_store would check it (ValueError naming what is wrong and where), without\n"
    "opening anything: {'scheme': 'memory' | 'disk' | 'redis' | 'redis+unix' |\n"
    "'redis+cluster' | 'http' | 'tiered', 'url': the canonical URL, 'strict': bool\n"
    "(strict=1 on it or on any tier), 'user': str, 'password': str | None (http: the\n"
    "token), 'hosts': [(host, port | None)], 'path': str (disk directory, unix socket,\n"
    "http namespace), 'db': int | None, 'params': [(name, value)] as given, 'tiers':\n"
    "[dict] (tiered)}.";

// What Store.lease returns (memokey._core.Lease).
struct PyLease {
  std::string state;  // granted | value | timed_out | unsupported | unavailable
  LeaseResult result;
  std::string error;  // state "unavailable": why
};

const char* StateName(LeaseResult::State state) {
  switch (state) {
    case LeaseResult::State::kGranted:
      return "granted";
    case LeaseResult::State::kValue:
      return "value";
    case LeaseResult::State::kTimedOut:
      return "timed_out";
    case LeaseResult::State::kUnsupported:
      break;
  }
  return "unsupported";
}

const char* kLeaseDoc =
    "The answer of Store.lease(key, ...): what to do about a missing value.\n\n"
    "state:\n"
    "  'granted'      this caller holds the lease: compute, put() the value, then\n"
    "                 release_lease(key, token) -- also (at once) when computing fails\n"
    "  'value'        the value is there (found, or stored by the holder while this\n"
    "                 caller waited): value, ttl_left\n"
    "  'timed_out'    another caller held the lease for all of `wait`: compute anyway\n"
    "  'unsupported'  the store has no leases: compute (single flight per process only)\n"
    "  'unavailable'  the server could not be reached (error says why): compute anyway\n"
    "token: bytes (granted) or None. value: bytes (value) or None -- the raw stored\n"
    "bytes, not verified: memoize opens its envelope like any other hit. ttl_left:\n"
    "seconds (value) or None (no expiry, or the store cannot tell). waited: another\n"
    "holder was seen. error: str (unavailable) or None.";

// Longest uninterrupted lease wait: how late Ctrl-C may act on Store.lease.
constexpr std::chrono::milliseconds kLeaseSignalSlice{250};

const char* kLeaseMethodDoc =
    "lease(key, ttl=60.0, wait=60.0, check_value=True) -> Lease\n\n"
    "Claim key: \"I am computing this value, wait for it\" -- single flight across\n"
    "processes and machines (lib/include/memokey/store.h, \"Leases\"). With\n"
    "check_value, the value is looked up first and returned (state 'value') when it\n"
    "is there. Otherwise the lease is granted, or, while another caller holds it,\n"
    "this call waits up to `wait` seconds (0: not at all) for the holder to store the\n"
    "value ('value') or to give the lease up (then 'granted'), and answers\n"
    "'timed_out' when the time runs out. The lease ends by itself after `ttl` seconds\n"
    "(Redis, memokeyd, memory) or when its holder dies (disk: a flock the OS\n"
    "releases; ttl does not apply there). It is advisory: a holder slower than ttl\n"
    "loses it and a second caller may compute too -- a duplicate computation, never\n"
    "a wrong value.\n\n"
    "The GIL is released while waiting; signals are handled every quarter second, so\n"
    "Ctrl-C interrupts the wait (KeyboardInterrupt). A store without leases answers\n"
    "'unsupported'. A server that cannot be reached answers 'unavailable' (as get()\n"
    "answers a miss), or raises\n"
    "ConnectionError when the store was opened with ?strict=1. A bad key or\n"
    "duration raises ValueError; other store failures raise OSError.";

const char* kStoreDoc =
    "Store(url, strict=False)\n\n"
    "A byte-string key/value store opened from a URL (lib's StoreSpec grammar:\n"
    "parse_store_spec shows how it is read):\n\n"
    "  memory://?max_bytes=64M                 in-process, S3-FIFO by bytes, TTL\n"
    "  disk:///abs/path?max_bytes=1G           SQLite: many processes, crash-safe, LRU, TTL\n"
    "  redis://[user:pass@]host:port/db?prefix=memokey:&timeout_ms=1000&strict=0\n"
    "  redis+unix:///path/to/redis.sock?db=0\n"
    "  http://[token@]host:port/namespace      memokeyd (see memokey.ServerStore)\n"
    "  tiered:URL1|URL2|...                    fastest first: read-through, write-through\n\n"
    "Keys are str (stored as UTF-8; bytes raise TypeError), 1 to 511 bytes; values\n"
    "are bytes-like. The store never looks inside values (memokey.memoize signs them:\n"
    "see seal_envelope).\n"
    "Every method releases the GIL. A bad URL raises ValueError, a disk directory\n"
    "that cannot be opened OSError. A Redis server that cannot be reached makes\n"
    "get() a (counted) miss and put() an OSError; with ?strict=1, get() raises\n"
    "ConnectionError too. strict=True puts strict=1 on every tier whose URL does not\n"
    "say strict= itself; the strict property tells whether any tier is strict.\n\n"
    "lease()/release_lease() give single flight across processes and machines\n"
    "(see lease.__doc__ and memokey.Lease); memokey.memoize uses them on misses.\n"
    "entries()/clear()/prune() manage the whole store (the `memokey cache` command).";

}  // namespace

void BindStoreClass(nb::module_& m) {
  nb::class_<PyLease>(m, "Lease", kLeaseDoc)
      .def_ro("state", &PyLease::state)
      .def_prop_ro("token",
                   [](const PyLease& l) -> nb::object {
                     if (l.result.state != LeaseResult::State::kGranted) return nb::none();
                     return Bytes(l.result.token);
                   })
      .def_prop_ro("value",
                   [](const PyLease& l) -> nb::object {
                     if (l.result.state != LeaseResult::State::kValue) return nb::none();
                     return Bytes(l.result.value);
                   })
      .def_prop_ro("ttl_left",
                   [](const PyLease& l) -> std::optional<double> {
                     if (l.result.state != LeaseResult::State::kValue) return std::nullopt;
                     return TtlSeconds(l.result.ttl_left);
                   })
      .def_prop_ro("waited", [](const PyLease& l) { return l.result.waited; })
      .def_prop_ro("error",
                   [](const PyLease& l) -> std::optional<std::string> {
                     if (l.error.empty()) return std::nullopt;
                     return l.error;
                   })
      .def("__repr__", [](const PyLease& l) {
        std::string r = "memokey.Lease(state='" + l.state + "'";
        if (l.result.state == LeaseResult::State::kValue) {
          r += ", value=<" + std::to_string(l.result.value.size()) + " bytes>";
        }
        if (l.result.waited) r += ", waited=True";
        if (!l.error.empty()) r += ", error=" + std::string(nb::repr(nb::cast(l.error)).c_str());
        return r + ")";
      });
  nb::class_<PyStore>(m, "Store", kStoreDoc)
      .def(
          "__init__",
          [](PyStore* self, std::string_view url, bool strict) {
            StoreSpec spec;
            if (Status s = ParseStoreSpec(url, &spec); !s.ok()) Throw(s, "memokey.open_store");
            if (strict) {
              // strict=1 on every tier that does not say strict= itself.
              std::span<StoreSpec> tiers = spec.scheme == StoreSpec::Scheme::kTiered
                                               ? std::span<StoreSpec>(spec.tiers)
                                               : std::span<StoreSpec>(&spec, 1);
              for (StoreSpec& tier : tiers) {
                if (!tier.param("strict")) tier.set_param("strict", "1");
              }
            }
            std::unique_ptr<Store> store;
            Status s;
            {
              nb::gil_scoped_release release;
              s = OpenStore(spec, &store);
            }
            if (!s.ok()) Throw(s, "memokey.open_store");
            auto* tiered = dynamic_cast<TieredStore*>(store.get());
            new (self) PyStore{std::shared_ptr<Store>(std::move(store)), tiered};
          },
          nb::arg("url"), nb::arg("strict") = false)
      .def_prop_ro(
          "strict", [](const PyStore& self) { return self.store->strict(); },
          "True when the store (any tier) was opened strict: strict=1 in its URL or\n"
          "Store(url, strict=True). memoize raises a strict store's failures.")
      .def(
          "get",
          [](PyStore& self, nb::handle key) -> nb::object {
            const std::string_view k = StoreKey(key, "Store.get");
            std::string value;
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->Get(k, &value);
            }
            if (s.IsNotFound()) return nb::none();
            if (!s.ok()) Throw(s, "Store.get");
            return Bytes(value);
          },
          nb::arg("key"), "get(key) -> bytes | None: the value, or None on a miss.")
      .def(
          "get_with_ttl",
          [](PyStore& self, nb::handle key) -> nb::object {
            const std::string_view k = StoreKey(key, "Store.get_with_ttl");
            std::string value;
            std::chrono::milliseconds ttl_left{0};
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->GetWithTtl(k, &value, &ttl_left);
            }
            if (s.IsNotFound()) return nb::none();
            if (!s.ok()) Throw(s, "Store.get_with_ttl");
            return nb::make_tuple(Bytes(value), TtlSeconds(ttl_left));
          },
          nb::arg("key"),
          "get_with_ttl(key) -> (bytes, ttl_left) | None: the value and its remaining time\n"
          "to live in seconds (None: no expiry, or the store cannot tell), or None on a miss.")
      .def(
          "lease",
          [](PyStore& self, nb::handle key, double ttl, double wait, bool check_value) {
            const std::string_view k = StoreKey(key, "Store.lease");
            LeaseOptions options;
            options.ttl = SecondsArg(ttl, "ttl", true);
            options.wait = SecondsArg(wait, "wait", false);
            options.check_value = check_value;
            PyLease out;
            Status s;
            // The wait runs in slices, with a look at pending signals
            // between them, so that Ctrl-C interrupts it as it does
            // time.sleep. Each slice is a whole AcquireLease: a value or a
            // release seen in one ends the wait at once.
            const auto deadline = std::chrono::steady_clock::now() + options.wait;
            bool waited = false;
            while (true) {
              LeaseOptions slice = options;
              slice.wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          deadline - std::chrono::steady_clock::now()),
                                      std::chrono::milliseconds{0}, kLeaseSignalSlice);
              {
                nb::gil_scoped_release release;
                s = self.store->AcquireLease(k, slice, &out.result);
              }
              waited = waited || out.result.waited;
              if (!s.ok() || out.result.state != LeaseResult::State::kTimedOut ||
                  std::chrono::steady_clock::now() >= deadline) {
                break;
              }
              if (PyErr_CheckSignals() != 0) throw nb::python_error();
            }
            out.result.waited = waited;
            if (s.code() == Status::Code::kUnavailable && !self.store->strict()) {
              out.state = "unavailable";
              out.error = s.ToString();
              out.result = LeaseResult{};
              return out;
            }
            if (!s.ok()) Throw(s, "Store.lease");
            out.state = StateName(out.result.state);
            return out;
          },
          nb::arg("key"), nb::arg("ttl") = 60.0, nb::arg("wait") = 60.0,
          nb::arg("check_value") = true, kLeaseMethodDoc)
      .def(
          "release_lease",
          [](PyStore& self, nb::handle key, nb::handle token) {
            const std::string_view k = StoreKey(key, "Store.release_lease");
            const std::string_view t = KeyView(token, "Store.release_lease: token");
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->ReleaseLease(k, t);
            }
            if (!s.ok()) Throw(s, "Store.release_lease");
          },
          nb::arg("key"), nb::arg("token"),
          "release_lease(key, token): end the lease that lease() granted with this token and\n"
          "wake its waiters (nothing happens when the lease has expired or was taken over).\n"
          "A server that cannot be reached raises ConnectionError/OSError, as put() does;\n"
          "the lease then ends by its ttl.")
      .def(
          "get_many",
          [](PyStore& self, nb::handle keys) -> nb::list {
            // Hold the key objects (a generator's items would die otherwise).
            std::vector<nb::object> holders;
            std::vector<std::string_view> views;
            for (nb::handle key : nb::iter(keys)) {
              holders.push_back(nb::borrow(key));
              views.push_back(StoreKey(key, "Store.get_many"));
            }
            std::vector<std::optional<std::string>> values;
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->GetMany(views, &values);
            }
            if (!s.ok()) Throw(s, "Store.get_many");
            nb::list out;
            for (auto& v : values) {
              if (v) {
                out.append(Bytes(*v));
              } else {
                out.append(nb::none());
              }
            }
            return out;
          },
          nb::arg("keys"),
          "get_many(keys) -> list[bytes | None]: one entry per key, None for a miss.")
      .def(
          "put",
          [](PyStore& self, nb::handle key, nb::handle value, std::optional<double> ttl) {
            const std::string_view k = StoreKey(key, "Store.put");
            ValueBuffer v(value, "Store.put");
            const std::chrono::milliseconds t = TtlArg(ttl);
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->Put(k, v.view(), t);
            }
            if (!s.ok()) Throw(s, "Store.put");
          },
          nb::arg("key"), nb::arg("value"), nb::arg("ttl") = nb::none(),
          "put(key, value, ttl=None): store value (bytes-like) under key; ttl in seconds\n"
          "(None or 0: no expiry). A value too large for the store is silently not admitted.")
      .def(
          "delete",
          [](PyStore& self, nb::handle key) {
            const std::string_view k = StoreKey(key, "Store.delete");
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->Delete(k);
            }
            if (!s.ok()) Throw(s, "Store.delete");
          },
          nb::arg("key"), "delete(key): remove key (no error if absent).")
      .def(
          "contains",
          [](PyStore& self, nb::handle key) {
            const std::string_view k = StoreKey(key, "Store.contains");
            bool present = false;
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->Contains(k, &present);
            }
            if (!s.ok()) Throw(s, "Store.contains");
            return present;
          },
          nb::arg("key"), "contains(key) -> bool")
      .def(
          "__contains__",
          [](PyStore& self, nb::handle key) {
            const std::string_view k = StoreKey(key, "Store.__contains__");
            bool present = false;
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->Contains(k, &present);
            }
            if (!s.ok()) Throw(s, "Store.__contains__");
            return present;
          },
          nb::arg("key"))
      .def(
          "entries",
          [](PyStore& self, bool labels) {
            // Only the label is kept of each head: a scan of a large store
            // holds one string per entry, not kEnvelopePeekBytes.
            std::vector<std::pair<StoreEntry, std::optional<std::string>>> entries;
            ScanOptions options;
            if (labels) options.head_bytes = kEnvelopePeekBytes;
            Status s;
            {
              nb::gil_scoped_release release;
              s = self.store->Scan(options, [&](const StoreEntry& e) {
                std::optional<std::string> label;
                if (std::string text; labels && PeekEnvelopeLabel(e.head, &text) && !text.empty()) {
                  label = std::move(text);
                }
                StoreEntry kept;
                kept.key = e.key;
                kept.value_bytes = e.value_bytes;
                kept.ttl_left = e.ttl_left;
                kept.idle = e.idle;
                entries.emplace_back(std::move(kept), std::move(label));
                return true;
              });
            }
            if (!s.ok()) Throw(s, "Store.entries");
            nb::list out;
            for (const auto& [e, label] : entries) {
              // Keys written by C++ may be any bytes: shown, not lost.
              nb::object key = nb::steal(PyUnicode_DecodeUTF8(
                  e.key.data(), static_cast<Py_ssize_t>(e.key.size()), "backslashreplace"));
              if (!key.is_valid()) throw nb::python_error();
              if (!labels) {
                out.append(
                    nb::make_tuple(key, e.value_bytes, Seconds(e.ttl_left), Seconds(e.idle)));
                continue;
              }
              nb::object text = nb::none();
              if (label) text = nb::str(label->data(), label->size());  // PeekEnvelopeLabel: UTF-8
              out.append(
                  nb::make_tuple(key, e.value_bytes, Seconds(e.ttl_left), Seconds(e.idle), text));
            }
            return out;
          },
          nb::arg("labels") = false,
          "entries(labels=False) -> list[tuple[str, int, float | None, float | None]]\n\n"
          "Every entry as (key, value_bytes, ttl_left, idle): ttl_left in seconds (None: no\n"
          "expiry; <= 0: expired, not removed yet -- never served), idle the seconds since\n"
          "the entry was last used where the store keeps it (disk; Redis: OBJECT IDLETIME),\n"
          "else None (memory). Redis: the keys under this store's prefix, by SCAN. Reads in\n"
          "batches without locking the store: entries written meanwhile may be missing.\n"
          "A store that cannot list (http://, redis+cluster://) raises ValueError.\n\n"
          "labels=True: (key, value_bytes, ttl_left, idle, label), label the envelope's\n"
          "label -- for values @memoize stored, function_label(namespace, name) of their\n"
          "function -- or None (a value sealed without one, or not an envelope). Read from\n"
          "each value's header without checking its MAC (see envelope_label): for listing\n"
          "and choosing entries, not for trusting them. Costs a GETRANGE per key on Redis\n"
          "and reading each value on disk.")
      .def(
          "clear",
          [](PyStore& self, nb::handle progress) {
            Progress p(progress);
            std::uint64_t removed = 0;
            Status s;
            {
              StoreProgress fn = p.Fn();
              nb::gil_scoped_release release;
              s = self.store->Clear(&removed, fn);
            }
            p.Rethrow();
            if (!s.ok()) Throw(s, "Store.clear");
            return removed;
          },
          nb::arg("progress") = nb::none(),
          "clear(progress=None) -> int: remove every entry (Redis: every key under this\n"
          "store's prefix, by SCAN and UNLINK -- never FLUSHDB; every tier of a tiered store)\n"
          "and return how many were removed. progress(done) is called between batches;\n"
          "returning False stops there. A store that cannot list (http://,\n"
          "redis+cluster://) raises ValueError.")
      .def(
          "clear_labelled",
          [](PyStore& self, nb::handle labels, nb::handle progress) {
            // Exact labels, copied so that the scan runs without the GIL.
            std::unordered_set<std::string> wanted;
            if (PyUnicode_Check(labels.ptr())) {
              wanted.insert(nb::cast<std::string>(labels));
            } else {
              for (nb::handle label : nb::iter(labels)) {
                if (!PyUnicode_Check(label.ptr())) {
                  throw nb::type_error("Store.clear_labelled: labels must be a str or strs");
                }
                wanted.insert(nb::cast<std::string>(label));
              }
            }
            Progress p(progress);
            ClearLabelledResult result;
            Status s;
            {
              StoreProgress fn = p.Fn();
              nb::gil_scoped_release release;
              s = ClearLabelled(
                  *self.store,
                  [&](std::string_view label) { return wanted.count(std::string(label)) > 0; },
                  &result, fn);
            }
            p.Rethrow();
            if (!s.ok()) Throw(s, "Store.clear_labelled");
            nb::dict d;
            d["removed"] = result.removed;
            nb::list unlisted;
            for (const std::string& tier : result.unlisted) unlisted.append(nb::str(tier.c_str()));
            d["unlisted"] = unlisted;
            return d;
          },
          nb::arg("labels"), nb::arg("progress") = nb::none(),
          "clear_labelled(labels, progress=None) -> dict\n\n"
          "Remove the entries whose envelope label (see entries(labels=True)) is labels (a\n"
          "str) or one of them (an iterable of str) -- a function's entries: labels =\n"
          "function_label(namespace, name). Returns {'removed': int, 'unlisted': [tier URLs\n"
          "that cannot list (http://, redis+cluster://) and were skipped]}. A store none of\n"
          "whose tiers can list raises ValueError. Labels are read without checking MACs: a\n"
          "forged label can get an entry deleted, never served. progress as for clear().")
      .def(
          "prune",
          [](PyStore& self, std::optional<std::uint64_t> max_bytes, nb::handle progress) {
            Progress p(progress);
            PruneResult result;
            Status s;
            {
              StoreProgress fn = p.Fn();
              nb::gil_scoped_release release;
              s = PruneStore(*self.store, max_bytes, &result, fn);
            }
            p.Rethrow();
            if (!s.ok()) Throw(s, "Store.prune");
            nb::dict d;
            d["expired"] = result.expired;
            d["evicted"] = result.evicted;
            d["entries_left"] = result.entries_left;
            d["bytes_left"] = result.bytes_left;
            return d;
          },
          nb::arg("max_bytes") = nb::none(), nb::arg("progress") = nb::none(),
          "prune(max_bytes=None, progress=None) -> dict\n\n"
          "Remove the expired entries, then, with max_bytes, the least recently used ones\n"
          "(where the store does not know use times: in listing order) until the key +\n"
          "value bytes of the rest are at most max_bytes. Returns {'expired', 'evicted',\n"
          "'entries_left', 'bytes_left'}. progress(done) as for clear().")
      .def(
          "stats", [](PyStore& self) { return StatsDict(self.store->Stats()); },
          "stats() -> dict: hits, misses, puts, deletes, errors, evictions, expired\n"
          "(calls of this object in this process), bytes, entries (content, where known).")
      .def(
          "tier_stats",
          [](PyStore& self) {
            nb::list out;
            if (self.tiered == nullptr) {
              out.append(StatsDict(self.store->Stats()));
            } else {
              for (const StoreStats& s : self.tiered->TierStats()) out.append(StatsDict(s));
            }
            return out;
          },
          "tier_stats() -> list[dict]: stats() of each tier (one entry for a plain store).")
      .def(
          "tiers",
          [](PyStore& self) {
            nb::list out;
            if (self.tiered == nullptr) {
              out.append(self.store->Describe());
            } else {
              for (std::size_t i = 0; i < self.tiered->tier_count(); ++i) {
                out.append(self.tiered->tier(i).Describe());
              }
            }
            return out;
          },
          "tiers() -> list[str]: describe() of each tier, fastest first.")
      .def(
          "describe", [](PyStore& self) { return self.store->Describe(); },
          "describe() -> str: the store's URL in canonical form (passwords as ***).")
      .def("__repr__", [](PyStore& self) {
        return "memokey.Store(" + std::string(nb::repr(nb::cast(self.store->Describe())).c_str()) +
               ")";
      });
  m.def(
      "parse_store_spec",
      [](std::string_view url) {
        StoreSpec spec;
        if (Status s = ParseStoreSpec(url, &spec); !s.ok()) Throw(s, "memokey.parse_store_spec");
        return SpecDict(spec);
      },
      nb::arg("url"), kParseStoreSpecDoc);
}

void BindEnvelope(nb::module_& m) {
  m.attr("CODEC_RAW") = static_cast<int>(Codec::kRaw);
  m.attr("CODEC_CBOR") = static_cast<int>(Codec::kCbor);
  m.attr("CODEC_PICKLE5") = static_cast<int>(Codec::kPickle5);
  m.attr("ENVELOPE_OVERHEAD") = kEnvelopeOverhead;

  m.def(
      "seal",
      [](nb::handle key, int codec, nb::handle payload, nb::handle secret,
         std::size_t compress_threshold, std::optional<std::string> label) {
        const std::string_view k = KeyView(key, "seal");
        const Codec c = CodecArg(codec);
        ValueBuffer p(payload, "seal");
        const Secret sec = SecretArg(secret);
        std::string out;
        Status s;
        {
          nb::gil_scoped_release release;
          s = SealEnvelope(k, c, p.view(), sec, &out, compress_threshold, label.value_or(""));
        }
        if (!s.ok()) Throw(s, "seal");
        return Bytes(out);
      },
      nb::arg("key"), nb::arg("codec"), nb::arg("payload"), nb::arg("secret") = nb::none(),
      nb::arg("compress_threshold") = kDefaultCompressThreshold, nb::arg("label") = nb::none(),
      "seal(key, codec, payload, secret=None, compress_threshold=COMPRESS_THRESHOLD, label=None) "
      "-> bytes\n\n"
      "The signed envelope of payload for key (docs: lib/include/memokey/envelope.h):\n"
      "header, label, payload (zstd-compressed when that helps), HMAC-SHA256 over key and\n"
      "everything before it. secret: bytes/str of at least 16 bytes, or None for\n"
      "load_secret(). label: a str of at most 255 UTF-8 bytes saying what the value\n"
      "belongs to (envelope version 2); None or '' writes version 1, no label.");
  m.def(
      "envelope_label",
      [](nb::handle sealed) -> nb::object {
        ValueBuffer b(sealed, "envelope_label");
        std::string label;
        if (!PeekEnvelopeLabel(b.view(), &label)) return nb::none();
        return nb::str(label.data(), label.size());
      },
      nb::arg("sealed"),
      "envelope_label(sealed) -> str | None\n\n"
      "The label in an envelope's header ('' for one sealed without), None when the bytes\n"
      "do not start like an envelope. UNAUTHENTICATED: the MAC is not checked, so a\n"
      "forged or altered value can claim any label -- for listing and grouping only.");
  m.def(
      "function_label",
      [](std::optional<std::string> key_namespace, std::string_view name) {
        return FunctionLabel(key_namespace, name);
      },
      nb::arg("namespace").none(), nb::arg("name"),
      "function_label(namespace, name) -> str\n\n"
      "The label @memoize seals a function's values with: name, or namespace + '\\x1f' +\n"
      "name (shortened with a digest past 255 bytes). The C++ memokey::memoize writes\n"
      "the same for the same name and namespace.");
  m.def(
      "open_envelope",
      [](nb::handle key, nb::handle sealed, nb::handle secret) {
        const std::string_view k = KeyView(key, "open_envelope");
        ValueBuffer b(sealed, "open_envelope");
        const Secret sec = SecretArg(secret);
        Codec codec = Codec::kRaw;
        std::string payload;
        Status s;
        {
          nb::gil_scoped_release release;
          s = OpenEnvelope(k, b.view(), sec, &codec, &payload);
        }
        if (!s.ok()) {
          PyErr_Format(PyExc_ValueError, "envelope rejected: %s", s.ToString().c_str());
          throw nb::python_error();
        }
        return nb::make_tuple(static_cast<int>(codec), Bytes(payload));
      },
      nb::arg("key"), nb::arg("sealed"), nb::arg("secret") = nb::none(),
      "open_envelope(key, sealed, secret=None) -> (codec, payload)\n\n"
      "Verifies the MAC (constant time) before anything else; raises ValueError\n"
      "(\"envelope rejected: ...\") for a wrong key or secret, altered, truncated or\n"
      "planted bytes.");
  m.def(
      "load_secret",
      [](std::optional<std::string> configured) {
        Secret out;
        Status s;
        {
          nb::gil_scoped_release release;
          s = LoadSecret(configured ? std::optional<std::string_view>(*configured) : std::nullopt,
                         &out);
        }
        if (!s.ok()) Throw(s, "load_secret");
        return Bytes(out.bytes());
      },
      nb::arg("configured") = nb::none(),
      "load_secret(configured=None) -> bytes\n\n"
      "The signing secret: configured, else $MEMOKEY_SECRET, else the per-user key file\n"
      "$XDG_CONFIG_HOME/memokey/secret (~/.config/memokey/secret), created on first\n"
      "use (32 random bytes in hex, mode 0600, directory 0700).");
}

}  // namespace memokey::py

void memokey_bind_store(nanobind::module_& m) {
  memokey::py::BindStoreClass(m);
  memokey::py::BindEnvelope(m);
  memokey::py::BindMemo(m);
}
