// memo.cc — memokey._core.MemoWrapper: the C++ half of memokey.memoize.
//
// A MemoWrapper is the callable that @memoize returns for a plain function
// (memokey/memo.py builds it and does everything that is not the hot path).
//
// Hot path (a memory-tier hit), entirely here, without entering Python code:
//   1. The call's *raw shape* -- the positional arguments, keyword names and
//      values, when every one of them is None, bool, an exact int (64-bit),
//      float, str, bytes, or a tuple of those -- is written into a small
//      stack buffer: a type byte and the value's bytes per item (str: its
//      internal kind and code units). Equal shapes are equal calls: the types
//      are exact and immutable, so the shape determines the normalized
//      arguments, and therefore the canonical key (1, 1.0 and True differ, as
//      they do in the key; -0.0 and 0.0 differ by their bits).
//   2. The raw map (shape -> Entry) gives the entry of the 16-byte canonical
//      key that Python computed the first time this shape was seen.
//   3. A live, unexpired entry's value -- the Python object itself -- is
//      returned (copy.deepcopy of it with copy=True). LRU order is updated.
// A call whose arguments are not all such atoms, made with exactly one
// positional argument per parameter and no keywords (_set_simple_arity: the
// function has only positional parameters and ignores none) is its own
// normalized form: its key is computed here with the canonical walker
// (EncodeObject) and looked up the same way -- the path of methods, whose
// `self` is an arbitrary object, and of dict/list/dataclass arguments.
// A new shape of such a call is its normalized form too: its key is computed
// here and the shape mapped to it.
// A key known here but not in memory (evicted, expired, memory=0, a new
// call) is looked up in the store from here too (lib's MemoEngine::Lookup),
// and a verified hit goes into the memory tier and is returned. A plain miss
// of a plain function is decided here as well (ClaimAndCompute): lib's
// engine gives single flight in this process and the store's lease across
// processes (Claim), the function is called from here -- so a memoized call
// adds one Python frame, the function's, to the stack, as
// functools.lru_cache does -- and its result is kept: memory tier, then the
// engine's Complete (the store, the flight's waiters). Python is entered on
// a miss only to open the store (once), to encode the result for the store
// (memo.py's _encode: pickle, or safe mode's check) and to log (a failed
// write, DEBUG) -- and, for a call that is not its own normalized form,
// to normalize it through the signature (memo.py's _Normalizer). Anything
// else -- a lookup to log (a rejection, a failed tier), a cached exception,
// stale-while-revalidate, an async function -- calls the Python slow path
//   slow(args: tuple, kwargs: dict | None, raw: bytes | None, key: bytes | None,
//        fetched: tuple | None)
// (fetched: what _fetch returned, when the store was already asked) which
// returns the call's result, or a _Run(key, rejected): a miss, decided here
// as above. Async functions and background refreshes drive the same engine
// from memo.py: _claim, _keep, _abandon, _claim_refresh.
//
// The memory tier is bounded by entry count (maxsize; Python objects have no
// reliable byte size) with LRU eviction, and holds each value's TTL. The raw
// map is bounded too (cleared when it reaches raw_max shapes). With
// maxsize 0 the memory tier holds nothing, but shapes still map to keys
// (key-derivation cache) so a store lookup skips normalization and hashing.
//
// Store I/O (_fetch, Complete, _delete, _explain) runs with the GIL released:
// the lookup is lib's MemoEngine::Lookup (memo_engine.h), which goes tier by
// tier (fastest first), opens the signed envelope (envelope.h) -- a value
// whose MAC does not verify is a counted rejection and the next tier is tried,
// it is never decoded -- and backfills the faster tiers with a verified value;
// its Found says which tier answered and what failed, for cache_info and the
// log. Only then, with the GIL, is the payload
// decoded: pickle.loads for CODEC_PICKLE5 (refused when safe), memokey.loads
// for CODEC_CBOR. A store that fails (an unreachable server, an I/O error,
// damage, a full disk) never fails the call: a failed tier is a miss, a
// failed write or delete is reported to memo.py, every failure is counted
// (store_errors) -- unless the store is strict (_attach), which raises.
//
// Every structure here is touched only with the GIL held. Values leaving the
// memory tier are released after the structures are consistent again (their
// __del__ may call back into this object).

// state.h first: Python.h with PY_SSIZE_T_CLEAN before anything includes it.
#include "state.h"

#include <time.h>

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <structmember.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "memokey/envelope.h"
#include "memokey/key.h"
#include "memokey/memo_engine.h"
#include "memokey/store.h"
#include "store.h"

namespace nb = nanobind;

namespace memokey::py {
namespace {

std::int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// --- raw call shapes -------------------------------------------------------------

constexpr std::size_t kRawCapacity = 512;
constexpr int kRawMaxDepth = 4;

struct RawBuf {
  char data[kRawCapacity];
  std::size_t n = 0;

  bool put(const void* p, std::size_t size) {
    if (size > kRawCapacity - n) return false;
    std::memcpy(data + n, p, size);
    n += size;
    return true;
  }
  bool byte(char c) {
    if (n == kRawCapacity) return false;
    data[n++] = c;
    return true;
  }
  template <class T>
  bool pod(T v) {
    return put(&v, sizeof v);
  }
  std::string_view view() const { return std::string_view(data, n); }
};

bool RawText(RawBuf& b, PyObject* o) {
#if PY_VERSION_HEX < 0x030C0000
  if (!PyUnicode_IS_READY(o)) return false;
#endif
  const auto kind = static_cast<char>(PyUnicode_KIND(o));
  const auto len = static_cast<std::uint32_t>(PyUnicode_GET_LENGTH(o));
  return b.byte('s') && b.byte(kind) && b.pod(len) &&
         b.put(PyUnicode_DATA(o), static_cast<std::size_t>(len) * static_cast<std::size_t>(kind));
}

bool RawItem(RawBuf& b, PyObject* o, int depth) {
  PyTypeObject* t = Py_TYPE(o);
  if (t == &PyLong_Type) {
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow != 0) return false;
    return b.byte('i') && b.pod(v);
  }
  if (t == &PyUnicode_Type) return RawText(b, o);
  if (o == Py_None) return b.byte('n');
  if (o == Py_True) return b.byte('T');
  if (o == Py_False) return b.byte('F');
  if (t == &PyFloat_Type) return b.byte('f') && b.pod(PyFloat_AS_DOUBLE(o));
  if (t == &PyBytes_Type) {
    const auto len = static_cast<std::uint32_t>(PyBytes_GET_SIZE(o));
    return b.byte('b') && b.pod(len) && b.put(PyBytes_AS_STRING(o), len);
  }
  if (t == &PyTuple_Type && depth < kRawMaxDepth) {
    const Py_ssize_t n = PyTuple_GET_SIZE(o);
    if (!b.byte('(') || !b.pod(static_cast<std::uint32_t>(n))) return false;
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (!RawItem(b, PyTuple_GET_ITEM(o, i), depth + 1)) return false;
    }
    return true;
  }
  return false;
}

bool EncodeRaw(RawBuf& b, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs > 255) return false;
  b.byte(static_cast<char>(nargs));
  for (Py_ssize_t i = 0; i < nargs; ++i) {
    if (!RawItem(b, args[i], 0)) return false;
  }
  if (kwnames != nullptr) {
    const Py_ssize_t nk = PyTuple_GET_SIZE(kwnames);
    if (nk > 0) {
      if (!b.byte('k') || !b.pod(static_cast<std::uint32_t>(nk))) return false;
      for (Py_ssize_t i = 0; i < nk; ++i) {
        if (!RawText(b, PyTuple_GET_ITEM(kwnames, i)) || !RawItem(b, args[nargs + i], 0)) {
          return false;
        }
      }
    }
  }
  return true;
}

// --- the memory tier -------------------------------------------------------------

struct Entry {
  Key key;
  PyObject* value = nullptr;  // owned while live
  std::int64_t expires_ns = 0;
  bool live = false;
  bool is_error = false;
  Entry* prev = nullptr;  // LRU ring (live entries only)
  Entry* next = nullptr;
};

struct KeyHash {
  std::size_t operator()(const Key& k) const {
    std::uint64_t h;
    std::memcpy(&h, k.bytes.data(), sizeof h);
    return static_cast<std::size_t>(h);
  }
};

struct RawHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  std::size_t operator()(const std::string& s) const {
    return std::hash<std::string_view>{}(s);
  }
};

// The statuses of _fetch (and of memo.py's _cached, which adds kStale), and of
// _mem_get and _peek: exported to memo.py as _core.FETCH_* and _core.MEM_*
// (BindMemo), never copied by hand.
enum FetchStatus : int {
  kHit = 0,
  kMiss = 1,
  kRejected = 2,
  kDecodeFailed = 3,
  kError = 4,
  kStale = 5,
};
enum MemStatus : int { kMemHit = 0, kMemAbsent = 1, kMemExpired = 2, kMemError = 3 };

struct Core {
  State* state = nullptr;  // the module state (its module outlives the wrapper's type)
  std::string name;
  std::string version;
  std::optional<std::string> key_namespace;
  // Sealed into every stored value (envelope.h FunctionLabel): what lets
  // cache_clear and `memokey cache` find this function's entries.
  std::string label;

  // Store (set by _attach; shared with other wrappers and Python Store objects).
  std::shared_ptr<Store> store;
  // lib's memoization engine over `store` (memo_engine.h; with no store:
  // single flight only): lookups, claims, writes, explain's tier states.
  std::shared_ptr<MemoEngine> engine;
  std::vector<std::string> tier_names;
  bool strict = false;

  std::optional<std::string> secret_config;  // the engine loads it when first needed

  std::size_t maxsize = 0;  // SIZE_MAX: unbounded; 0: memory tier off
  bool raw_enabled = true;
  Py_ssize_t simple_arity = -1;  // see _set_simple_arity
  std::vector<std::string> arg_names;  // see _set_arg_names
  std::int64_t default_ttl_ms = 0;  // see _set_ttl
  bool safe = false;
  std::size_t compress_threshold = kDefaultCompressThreshold;
  PyObject* copy_fn = nullptr;       // owned, or nullptr
  PyObject* pickle_loads = nullptr;  // owned
  PyObject* cached_error_type = nullptr;  // owned: memokey.memo._CachedError
  // _set_call (plain functions): the function, memo.py's _Run type and the
  // memo.py hooks the miss path calls (see ClaimAndCompute), all owned;
  // nullptr until set (async functions: never -- memo.py runs their misses).
  PyObject* run_fn = nullptr;
  PyObject* run_type = nullptr;
  PyObject* hook_ensure = nullptr;    // _ensure_store(): opens and _attach-es the store
  PyObject* hook_encode = nullptr;    // _encode_result(value, is_error) -> (payload, codec) | None
  PyObject* hook_computed = nullptr;  // _computed(key, is_error, nbytes | None, note | None)
  PyObject* debug_enabled = nullptr;  // logger.isEnabledFor
  PyObject* hook_normalize = nullptr;  // _Normalizer: (args, kwargs) -> the normalized tuple
  // _set_options: what the engine and the miss path need of memoize's options.
  bool cache_exceptions = false;
  bool lease = true;
  std::int64_t lease_ttl_ms = 60000;
  std::int64_t lease_wait_ms = 60000;
  std::int64_t store_ttl_ms = 0;  // what stores keep a value for (ttl + swr); 0: no expiry
  bool swr = false;  // stale-while-revalidate: store hits go through memo.py (stale?)
  bool attached = false;  // _attach ran (with a store or without)
  // _set_cbor_loads: decodes CBOR payloads instead of memokey.loads (owned;
  // safe=True: safe.py's _safe_loads, which rebuilds arrays and dataclasses).
  PyObject* cbor_loads = nullptr;

  std::unordered_map<Key, std::shared_ptr<Entry>, KeyHash> entries;
  Entry ring;  // sentinel: ring.next is the most recently used
  std::unordered_map<std::string, std::shared_ptr<Entry>, RawHash, std::equal_to<>> raw;
  std::size_t raw_max = 4096;

  // Keys this process computed or read (for cache_clear), bounded.
  std::unordered_set<Key, KeyHash> known;
  static constexpr std::size_t kMaxKnown = 100000;

  // Computations finished (memo.py's single flight: a miss seen before a
  // computation finished must look again before computing).
  std::uint64_t completions = 0;

  std::uint64_t mem_hits = 0;
  std::uint64_t mem_expired = 0;
  std::uint64_t evictions = 0;
  std::uint64_t rejected = 0;
  std::uint64_t decode_failed = 0;
  std::uint64_t store_errors = 0;
  std::uint64_t misses = 0;         // calls that took the miss path here
  std::uint64_t computed_here = 0;  // computed without a ticket (see ClaimAndCompute)
  MemoStats engine_base;            // engines replaced (_attach, _after_fork): their counts
  // Engines a fork left behind (_after_fork): never used again, never
  // destroyed before the wrapper (a parent's thread may have held a lock).
  std::vector<std::shared_ptr<MemoEngine>> forked_engines;
  std::vector<std::uint64_t> tier_hits;

  Core() { ring.prev = ring.next = &ring; }

  static void Unlink(Entry* e) {
    e->prev->next = e->next;
    e->next->prev = e->prev;
    e->prev = e->next = nullptr;
  }
  void PushFront(Entry* e) {
    e->next = ring.next;
    e->prev = &ring;
    ring.next->prev = e;
    ring.next = e;
  }
  void Touch(Entry* e) {
    if (ring.next != e) {
      Unlink(e);
      PushFront(e);
    }
  }

  // Takes e out of the memory tier; its value goes to `grave`.
  void Kill(Entry* e, std::vector<PyObject*>* grave) {
    if (!e->live) return;
    Unlink(e);
    e->live = false;
    if (e->value != nullptr) grave->push_back(e->value);
    e->value = nullptr;
    const Key key = e->key;
    entries.erase(key);  // may destroy *e: last use
  }

  void ClearMemory(std::vector<PyObject*>* grave) {
    while (ring.next != &ring) Kill(ring.next, grave);
  }
};

// base += more, counter by counter (an engine's counts kept across engines).
void AddStats(MemoStats* base, const MemoStats& more) {
  base->hits += more.hits;
  base->misses += more.misses;
  base->computed += more.computed;
  base->waited += more.waited;
  base->rejected += more.rejected;
  base->store_errors += more.store_errors;
  base->lease_waits += more.lease_waits;
  base->lease_hits += more.lease_hits;
  base->lease_timeouts += more.lease_timeouts;
  base->stale_served += more.stale_served;
  base->revalidated += more.revalidated;
}

void Release(std::vector<PyObject*>& grave) {
  for (PyObject* o : grave) Py_DECREF(o);
  grave.clear();
}

// --- the Python type -------------------------------------------------------------

struct MemoObject {
  PyObject_HEAD
  vectorcallfunc vectorcall;
  PyObject* dict;
  PyObject* weakreflist;
  PyObject* slow;  // owned
  Core* core;
};

PyTypeObject* g_memo_type = nullptr;

Core* CoreOf(PyObject* self) { return reinterpret_cast<MemoObject*>(self)->core; }

// `self` of the methods memo.py calls (nanobind functions, see BindMemo): a
// MemoWrapper, which the caster below checks (nanobind's TypeError otherwise).
struct MemoSelf {
  PyObject* obj = nullptr;
  Core& core() const { return *CoreOf(obj); }
};

}  // namespace
}  // namespace memokey::py

namespace nanobind::detail {
template <>
struct type_caster<memokey::py::MemoSelf> {
  NB_TYPE_CASTER(memokey::py::MemoSelf, const_name("MemoWrapper"))
  bool from_python(handle src, uint32_t, cleanup_list*) noexcept {
    if (!PyObject_TypeCheck(src.ptr(), memokey::py::g_memo_type)) return false;
    value.obj = src.ptr();
    return true;
  }
  static handle from_cpp(const memokey::py::MemoSelf& self, rv_policy, cleanup_list*) noexcept {
    return handle(self.obj).inc_ref();
  }
};
}  // namespace nanobind::detail

namespace memokey::py {
namespace {

bool KeyArg(PyObject* o, Key* key) {
  if (!PyBytes_Check(o) || PyBytes_GET_SIZE(o) != 16) {
    PyErr_SetString(PyExc_TypeError, "key must be 16 bytes");
    return false;
  }
  std::memcpy(key->bytes.data(), PyBytes_AS_STRING(o), 16);
  return true;
}

PyObject* KeyBytes(const Key& key) {
  return PyBytes_FromStringAndSize(reinterpret_cast<const char*>(key.bytes.data()), 16);
}

constexpr const char* kBadTtl = "ttl must be None or a finite number of seconds >= 0";

// seconds (0: none) -> ms; -1 for a negative or non-finite number
std::int64_t SecondsMs(double s) {
  if (!std::isfinite(s) || s < 0) return -1;
  if (s == 0) return 0;
  const double ms = std::ceil(s * 1000.0);
  return ms > 9.0e15 ? static_cast<std::int64_t>(9.0e15) : static_cast<std::int64_t>(ms);
}

// seconds (None/0: none) -> ms; -1 with an exception on a bad value
std::int64_t TtlMs(PyObject* ttl) {
  if (ttl == Py_None) return 0;
  const double s = PyFloat_AsDouble(ttl);
  if (s == -1.0 && PyErr_Occurred()) return -1;
  const std::int64_t ms = SecondsMs(s);
  if (ms < 0) PyErr_SetString(PyExc_ValueError, kBadTtl);
  return ms;
}

// A method's seconds argument (None/0: none) -> ms; ValueError on a bad value.
std::int64_t TtlArg(std::optional<double> seconds) {
  const std::int64_t ms = seconds ? SecondsMs(*seconds) : 0;
  if (ms < 0) throw nb::value_error(kBadTtl);
  return ms;
}

void PutEntry(Core& c, const Key& key, PyObject* value, std::int64_t ttl_ms,
              const std::string_view* shape, bool is_error);
PyObject* FetchTuple(Core& c, const Key& key);
PyObject* DecodePayload(Core& c, Codec codec, const std::string& payload, std::string* refusal);

// The key of a normalized argument tuple: KeyOf(["memokey.memo", name,
// version, args]) in the namespace. False with an exception set.
bool ComputeKey(Core& c, PyObject* args, Key* out) {
  State& st = *c.state;
  if (st.canonicalization_error == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "memokey._core is used before memokey was imported");
    return false;
  }
  ScratchLease s(st);
  try {
    KeyEncoder& k = s->key;
    k.reset(c.key_namespace);
    Encoder& e = k.encoder();
    e.array(4);
    e.text_unchecked("memokey.memo");
    e.text(c.name);
    e.text(c.version);
    if (EncodeObject(st, e, s->walk, args, &s.oversized, &c.arg_names)) {
      *out = k.finish();
      return true;
    }
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& ex) {
    PyErr_Format(st.canonicalization_error, "memoized arguments: %s", ex.what());
  }
  return false;
}

inline bool Fresh(const Entry* e) {
  return e->live && !e->is_error && (e->expires_ns == 0 || NowNs() < e->expires_ns);
}

// --- the miss path ----------------------------------------------------------------
//
// A miss of a plain function is decided here, by lib's engine (memo_engine.h):
// single flight in this process and the store's lease across processes
// (Claim), the function called from here -- so that while it runs no memokey
// frame sits between its caller's frame and its own: a memoized recursive
// function costs one Python frame per level, and its tracebacks show the
// user's frames only -- and its result kept (memory tier, then Complete:
// the store and the flight's waiters) or its exception handed to the waiters
// (Abandon; cached with cache_exceptions). memo.py is entered only to open
// the store (once), to encode a result for the store (pickle, or safe
// mode's check), and to log what needs logging (a failed write, DEBUG).

// A Python exception carried through the engine to the flight's waiters.
// The last owner may be any thread: it takes the GIL to let go.
struct PythonError {
  std::shared_ptr<PyObject> error;
};

std::exception_ptr CarryError(PyObject* error) {
  Py_INCREF(error);
  return std::make_exception_ptr(PythonError{std::shared_ptr<PyObject>(error, [](PyObject* o) {
    if (!Py_IsInitialized()) return;  // finalizing: leave it
    const PyGILState_STATE gil = PyGILState_Ensure();
    Py_DECREF(o);
    PyGILState_Release(gil);
  })});
}

// The exception being raised, normalized and carrying its traceback (cleared).
Ref TakeError() {
#if PY_VERSION_HEX >= 0x030C0000
  return Ref::steal(PyErr_GetRaisedException());
#else
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (value != nullptr && tb != nullptr) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return Ref::steal(value);
#endif
}

// Raises error (from TakeError) again, as it was.
void RestoreError(Ref error) {
#if PY_VERSION_HEX >= 0x030C0000
  PyErr_SetRaisedException(error.release());
#else
  PyObject* value = error.release();
  PyErr_Restore(Py_NewRef(reinterpret_cast<PyObject*>(Py_TYPE(value))), value,
                PyException_GetTraceback(value));
#endif
}

// Raises what the engine threw or a flight ended with; always nullptr.
PyObject* RaiseEngineError(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const PythonError& e) {
    RestoreError(Ref::borrow(e.error.get()));
  } catch (const StoreError& e) {
    SetStatusError(e.status(), "memoize: store");
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

// Runs f (an engine call) with the GIL released when the engine has a store
// to talk to (a flight table alone is quicker than the release); an
// exception is raised in Python: false.
template <typename F>
bool EngineCall(const Core& c, F&& f) {
  std::exception_ptr error;
  if (c.store) {
    nb::gil_scoped_release release;
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
  } else {
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
  }
  if (error) {
    RaiseEngineError(error);
    return false;
  }
  return true;
}

// The call's result for a value (a copy with copy=True).
PyObject* Out(const Core& c, Ref value) {
  if (c.copy_fn == nullptr) return value.release();
  return PyObject_CallOneArg(c.copy_fn, value.get());
}

// Is the "memokey" logger's DEBUG level on? (-1: an error is set)
int DebugOn(const Core& c) {
  if (c.debug_enabled == nullptr) return 0;
  Ref level = Ref::steal(PyLong_FromLong(10));  // logging.DEBUG
  if (!level) return -1;
  Ref on = Ref::steal(PyObject_CallOneArg(c.debug_enabled, level.get()));
  return on ? PyObject_IsTrue(on.get()) : -1;
}

// A live entry of key: its value (new reference), or nullptr (none set).
// count_hit: the call is a hit (not a miss that got another caller's value).
PyObject* MemoryValue(Core& c, const Key& key, bool count_hit) {
  auto it = c.entries.find(key);
  if (it == c.entries.end() || !Fresh(it->second.get())) return nullptr;
  if (count_hit) ++c.mem_hits;
  c.Touch(it->second.get());
  return Py_NewRef(it->second->value);
}

// The hooks and the function, held for a whole miss: the function, or a
// hook, may clear the wrapper.
struct MissHooks {
  Ref fn, ensure, encode, computed, cached_error_type;
  explicit MissHooks(const Core& c)
      : fn(Ref::borrow(c.run_fn)),
        ensure(Ref::borrow(c.hook_ensure)),
        encode(Ref::borrow(c.hook_encode)),
        computed(Ref::borrow(c.hook_computed)),
        cached_error_type(Ref::borrow(c.cached_error_type)) {}
};

// Keeps a computed result (value) or a cached exception (is_error: value is
// the exception): memory tier, store, the flight's waiters. nullptr with an
// exception set when it cannot be kept (safe mode's SafeModeError, a strict
// store): the flight then ends with that error.
PyObject* Keep(Core& c, const MissHooks& h, std::shared_ptr<MemoEngine> engine, const Key& key,
               const std::string_view* shape, std::unique_ptr<MemoEngine::Ticket> ticket,
               PyObject* value, bool is_error) {
  Ref kept = is_error ? Ref::steal(PyObject_CallOneArg(h.cached_error_type.get(), value))
                      : Ref::borrow(value);
  Ref encoded = Ref::borrow(Py_None);
  if (kept && (c.safe || c.store)) {
    PyObject* encode_args[] = {value, is_error ? Py_True : Py_False};
    encoded = Ref::steal(PyObject_Vectorcall(h.encode.get(), encode_args, 2, nullptr));
  }
  if (!kept || !encoded) {
    Ref error = TakeError();
    engine->Abandon(std::move(ticket), CarryError(error.get()));
    RestoreError(std::move(error));
    return nullptr;
  }
  PutEntry(c, key, kept.get(), c.default_ttl_ms, shape, is_error);
  ++c.completions;
  MemoEngine::Result result;
  result.ttl = std::chrono::milliseconds{c.store_ttl_ms};
  if (is_error) result.error = CarryError(value);
  Py_ssize_t nbytes = -1;
  if (encoded.get() != Py_None) {
    PyObject* payload = PyTuple_Check(encoded.get()) && PyTuple_GET_SIZE(encoded.get()) == 2
                            ? PyTuple_GET_ITEM(encoded.get(), 0)
                            : nullptr;
    const long codec = payload != nullptr ? PyLong_AsLong(PyTuple_GET_ITEM(encoded.get(), 1)) : -1;
    if (payload == nullptr || !PyBytes_Check(payload) || codec < 0 || codec > 2) {
      PyErr_Clear();
      PyErr_SetString(PyExc_SystemError, "memoize: _encode_result returned no (bytes, codec)");
      Ref error = TakeError();
      engine->Abandon(std::move(ticket), CarryError(error.get()));
      RestoreError(std::move(error));
      return nullptr;
    }
    nbytes = PyBytes_GET_SIZE(payload);
    result.payload = std::string_view(PyBytes_AS_STRING(payload), static_cast<std::size_t>(nbytes));
    result.codec = static_cast<Codec>(codec);
  }
  Status saved;
  if (!EngineCall(c, [&] { saved = engine->Complete(std::move(ticket), result); })) {
    return nullptr;  // a strict store failed: the flight ended with its error
  }
  const int debug = DebugOn(c);
  if (debug < 0) return nullptr;
  if (!saved.ok() || debug || c.default_ttl_ms > 0) {
    const std::string note = saved.ToString();
    Ref key_obj = Ref::steal(KeyBytes(key));
    Ref nbytes_obj = nbytes >= 0 && c.store ? Ref::steal(PyLong_FromSsize_t(nbytes))
                                            : Ref::borrow(Py_None);
    Ref note_obj = saved.ok() ? Ref::borrow(Py_None)
                              : Ref::steal(PyUnicode_FromStringAndSize(
                                    note.data(), static_cast<Py_ssize_t>(note.size())));
    if (!key_obj || !nbytes_obj || !note_obj) return nullptr;
    PyObject* computed_args[] = {key_obj.get(), is_error ? Py_True : Py_False, nbytes_obj.get(),
                                 note_obj.get()};
    Ref done = Ref::steal(PyObject_Vectorcall(h.computed.get(), computed_args, 4, nullptr));
    if (!done) return nullptr;
  }
  return Py_NewRef(Py_None);
}

// Calls the function (this caller computes); with a ticket, keeps the result.
PyObject* Compute(Core& c, const MissHooks& h, std::shared_ptr<MemoEngine> engine, const Key& key,
                  const std::string_view* shape, std::unique_ptr<MemoEngine::Ticket> ticket,
                  PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  Ref value = Ref::steal(PyObject_Vectorcall(h.fn.get(), args, nargs, kwnames));
  if (!ticket) {  // re-entry, or a waiter whose flight left nothing to read
    return value ? Out(c, std::move(value)) : nullptr;
  }
  if (value) {
    if (!Keep(c, h, engine, key, shape, std::move(ticket), value.get(), false)) return nullptr;
    return Out(c, std::move(value));
  }
  Ref error = TakeError();
  if (!error) {
    PyErr_SetString(PyExc_SystemError, "memoized function failed without an exception");
    return nullptr;
  }
  if (!c.cache_exceptions || !PyErr_GivenExceptionMatches(error.get(), PyExc_Exception)) {
    engine->Abandon(std::move(ticket), CarryError(error.get()));
    RestoreError(std::move(error));
    return nullptr;
  }
  if (!Keep(c, h, engine, key, shape, std::move(ticket), error.get(), true)) {
    // Keeping it failed (a strict store): that error replaces the function's,
    // which becomes its context, as in Python.
    Ref replaced = TakeError();
    if (replaced && replaced.get() != error.get()) {
      PyException_SetContext(replaced.get(), error.release());
    }
    if (replaced) RestoreError(std::move(replaced));
    return nullptr;
  }
  RestoreError(std::move(error));
  return nullptr;
}

// A value another caller computed (a payload verified by the engine): the
// memory tier's object when it is there (this process computed it: the same
// object), else the payload decoded (and put into the memory tier). nullptr
// without an error set: nothing to return, compute.
PyObject* Arrived(Core& c, const Key& key, const std::string_view* shape, bool has_payload,
                  const std::string& payload, Codec codec) {
  if (PyObject* v = MemoryValue(c, key, false)) return v;
  if (!has_payload) return nullptr;
  std::string refusal;
  Ref value = Ref::steal(DecodePayload(c, codec, payload, &refusal));
  if (!value) {
    PyErr_Clear();
    ++c.decode_failed;
    return nullptr;
  }
  const bool is_error = Py_TYPE(value.get()) == reinterpret_cast<PyTypeObject*>(c.cached_error_type);
  PutEntry(c, key, value.get(), c.default_ttl_ms, shape, is_error);
  return value.release();
}

// The result for a value that arrived: raises a cached exception (a fresh copy).
PyObject* Settled(Core& c, Ref value) {
  if (Py_TYPE(value.get()) == reinterpret_cast<PyTypeObject*>(c.cached_error_type)) {
    Ref error = Ref::steal(PyObject_CallMethod(value.get(), "fresh", nullptr));
    if (!error) return nullptr;
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.get())), error.get());
    return nullptr;
  }
  return Out(c, std::move(value));
}

// A miss of a known key: single flight and the lease (the engine's Claim),
// then the value another caller computed, or this caller computes.
// rejected: the lookup found an unusable stored value (the lease must not
// bring it back); snapshot: c.completions before the lookup.
PyObject* ClaimAndCompute(Core& c, const MissHooks& h, const Key& key,
                          const std::string_view* shape, bool rejected, std::uint64_t snapshot,
                          PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  std::shared_ptr<MemoEngine> engine = c.engine;
  if (!engine) {
    PyErr_SetString(PyExc_RuntimeError, "memoize: the wrapper has no engine (_attach not called)");
    return nullptr;
  }
  ++c.misses;
  const std::string hex = key.hex();
  const auto owner = static_cast<std::uint64_t>(PyThread_get_thread_ident());
  MemoEngine::Claimed claimed;
  if (!EngineCall(c, [&] { claimed = engine->Claim(hex, owner, rejected); })) return nullptr;
  std::unique_ptr<MemoEngine::Ticket> ticket;
  switch (claimed.state) {
    case MemoEngine::Claimed::State::kReentrant:
      return Compute(c, h, engine, key, shape, nullptr, args, nargs, kwnames);
    case MemoEngine::Claimed::State::kValue: {
      Ref value = Ref::steal(Arrived(c, key, shape, true, claimed.payload, claimed.codec));
      if (value) return Settled(c, std::move(value));
      if (PyErr_Occurred()) return nullptr;
      ++c.computed_here;
      return Compute(c, h, engine, key, shape, nullptr, args, nargs, kwnames);
    }
    case MemoEngine::Claimed::State::kWait: {
      MemoEngine::Wait::Outcome outcome;
      std::exception_ptr failed;
      {
        nb::gil_scoped_release release;  // another thread computes it, with the GIL
        try {
          outcome = claimed.wait->Get();
        } catch (...) {
          failed = std::current_exception();
        }
      }
      claimed.wait.reset();
      if (failed) return RaiseEngineError(failed);
      switch (outcome.state) {
        case MemoEngine::Wait::Outcome::State::kValue: {
          Ref value = Ref::steal(
              Arrived(c, key, shape, outcome.has_payload, outcome.payload, outcome.codec));
          if (value) return Settled(c, std::move(value));
          if (PyErr_Occurred()) return nullptr;
          ++c.computed_here;
          return Compute(c, h, engine, key, shape, nullptr, args, nargs, kwnames);
        }
        case MemoEngine::Wait::Outcome::State::kError:
          return RaiseEngineError(outcome.error);
        case MemoEngine::Wait::Outcome::State::kGranted:
          if (!outcome.ticket) {
            return Compute(c, h, engine, key, shape, nullptr, args, nargs, kwnames);
          }
          ticket = std::move(outcome.ticket);
          break;
      }
      break;
    }
    case MemoEngine::Claimed::State::kGranted:
      ticket = std::move(claimed.ticket);
      break;
  }
  if (c.completions != snapshot) {
    // A computation finished since this caller's lookup (the GIL was let
    // go): it may have been this key's. Look again before computing.
    Ref value = Ref::steal(MemoryValue(c, key, true));
    if (!value && c.store && !c.swr) {
      Ref fetched = Ref::steal(FetchTuple(c, key));
      if (!fetched) {
        engine->Abandon(std::move(ticket), nullptr);
        return nullptr;
      }
      if (PyLong_AsLong(PyTuple_GET_ITEM(fetched.get(), 0)) == kHit) {
        value = Ref::borrow(PyTuple_GET_ITEM(fetched.get(), 2));
        std::int64_t ttl_ms = TtlMs(PyTuple_GET_ITEM(fetched.get(), 3));
        if (ttl_ms <= 0) ttl_ms = c.default_ttl_ms;
        const bool is_error =
            Py_TYPE(value.get()) == reinterpret_cast<PyTypeObject*>(c.cached_error_type);
        PutEntry(c, key, value.get(), ttl_ms, shape, is_error);
      }
    }
    if (value) {
      MemoEngine::Result found;  // nothing to write: the waiters read the memory tier
      found.save = false;
      if (!EngineCall(c, [&] { engine->Complete(std::move(ticket), found); })) return nullptr;
      return Settled(c, std::move(value));
    }
  }
  return Compute(c, h, engine, key, shape, std::move(ticket), args, nargs, kwnames);
}

// Opens the store on the first miss (memo.py's _ensure_store, which
// _attach-es it or no store). false with an exception set.
bool EnsureAttached(Core& c, const MissHooks& h) {
  if (c.attached) return true;
  Ref done = Ref::steal(PyObject_CallNoArgs(h.ensure.get()));
  if (!done) return false;
  if (!c.attached) {
    PyErr_SetString(PyExc_RuntimeError, "memoize: _ensure_store did not attach a store");
    return false;
  }
  return true;
}

// A vectorcall's arguments as (args tuple, kwargs dict | None); false with
// an exception set.
bool CallArgs(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, Ref* tuple,
              Ref* kwargs) {
  *tuple = Ref::steal(PyTuple_New(nargs));
  if (!*tuple) return false;
  for (Py_ssize_t i = 0; i < nargs; ++i) PyTuple_SET_ITEM(tuple->get(), i, Py_NewRef(args[i]));
  *kwargs = Ref::borrow(Py_None);
  if (kwnames != nullptr && PyTuple_GET_SIZE(kwnames) > 0) {
    *kwargs = Ref::steal(PyDict_New());
    if (!*kwargs) return false;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
      if (PyDict_SetItem(kwargs->get(), PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) != 0) {
        return false;
      }
    }
  }
  return true;
}

PyObject* CallSlow(MemoObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                   const RawBuf* raw, const Key* known, PyObject* fetched,
                   std::uint64_t snapshot = 0) {
  Ref tuple, kwargs;
  if (!CallArgs(args, nargs, kwnames, &tuple, &kwargs)) return nullptr;
  Ref raw_obj = raw != nullptr ? Ref::steal(PyBytes_FromStringAndSize(
                                     raw->data, static_cast<Py_ssize_t>(raw->n)))
                               : Ref::borrow(Py_None);
  if (!raw_obj) return nullptr;
  Ref key_obj = known != nullptr ? Ref::steal(KeyBytes(*known)) : Ref::borrow(Py_None);
  if (!key_obj) return nullptr;
  Ref slow = Ref::borrow(self->slow);  // the call may clear self
  if (!slow) {
    PyErr_SetString(PyExc_RuntimeError, "memoized function was cleared");
    return nullptr;
  }
  Core& c = *self->core;
  if (fetched == nullptr) snapshot = c.completions;
  PyObject* call_args[] = {tuple.get(), kwargs.get(), raw_obj.get(), key_obj.get(),
                           fetched != nullptr ? fetched : Py_None};
  if (c.run_fn == nullptr) return PyObject_Vectorcall(slow.get(), call_args, 5, nullptr);
  const MissHooks hooks(c);
  Ref run_type = Ref::borrow(c.run_type);
  Ref result = Ref::steal(PyObject_Vectorcall(slow.get(), call_args, 5, nullptr));
  if (!result) return nullptr;
  if (Py_TYPE(result.get()) == reinterpret_cast<PyTypeObject*>(hooks.cached_error_type.get())) {
    return Settled(c, std::move(result));
  }
  if (reinterpret_cast<PyObject*>(Py_TYPE(result.get())) != run_type.get()) {
    return result.release();  // a value memo.py found (copied already)
  }
  // _Run(key, rejected): memo.py looked the key up; the miss is decided here.
  Ref run_key = Ref::steal(PyObject_GetAttrString(result.get(), "key"));
  Ref run_rejected = Ref::steal(PyObject_GetAttrString(result.get(), "rejected"));
  if (!run_key || !run_rejected) return nullptr;
  Key key;
  if (!KeyArg(run_key.get(), &key)) return nullptr;
  const int rejected = PyObject_IsTrue(run_rejected.get());
  if (rejected < 0) return nullptr;
  if (!EnsureAttached(c, hooks)) return nullptr;
  const std::string_view shape = raw != nullptr ? raw->view() : std::string_view();
  return ClaimAndCompute(c, hooks, key, raw != nullptr ? &shape : nullptr, rejected != 0,
                         snapshot, args, nargs, kwnames);
}

PyObject* Hit(Core& c, Entry* e) {
  ++c.mem_hits;
  c.Touch(e);
  if (c.copy_fn != nullptr) {
    Ref value = Ref::borrow(e->value);  // deepcopy may run code that evicts e
    return PyObject_CallOneArg(c.copy_fn, value.get());
  }
  return Py_NewRef(e->value);
}

// Maps a call shape to key's entry (a shell when key is not in memory).
void LinkShape(Core& c, std::string_view shape, const Key& key) {
  if (!c.raw_enabled) return;
  std::shared_ptr<Entry> entry;
  auto found = c.entries.find(key);
  if (found != c.entries.end()) {
    entry = found->second;
  } else {
    entry = std::make_shared<Entry>();
    entry->key = key;
  }
  auto it = c.raw.find(shape);
  if (it != c.raw.end()) {
    it->second = std::move(entry);  // may drop a shell: no Python code
  } else {
    if (c.raw.size() >= c.raw_max) c.raw.clear();
    c.raw.emplace(std::string(shape), std::move(entry));
  }
}

PyObject* MemoCall(PyObject* callable, PyObject* const* args, std::size_t nargsf,
                   PyObject* kwnames) {
  auto* self = reinterpret_cast<MemoObject*>(callable);
  Core& c = *self->core;
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  RawBuf buf;
  const bool raw = c.raw_enabled && EncodeRaw(buf, args, nargs, kwnames);
  Key key;
  bool have_key = false;
  bool error_entry = false;
  if (raw) {
    // 1. A call shape seen before: its entry.
    auto it = c.raw.find(buf.view());
    if (it != c.raw.end()) {
      Entry* e = it->second.get();
      if (Fresh(e)) return Hit(c, e);
      key = e->key;
      have_key = true;
      error_entry = e->live && e->is_error;
    }
  }
  const bool simple =
      nargs == c.simple_arity && (kwnames == nullptr || PyTuple_GET_SIZE(kwnames) == 0);
  if (!have_key && (simple || (c.run_fn != nullptr && c.hook_normalize != nullptr))) {
    // 2. All positional, one per parameter (a new shape, or arguments of
    // other types): the call is its own normalized form, so its key is the
    // walk of the arguments. Any other call of a plain function: memo.py's
    // normalizer (the signature's defaults, keywords, ignore=) gives it.
    Ref tuple;
    if (simple) {
      tuple = Ref::steal(PyTuple_New(nargs));
      if (!tuple) return nullptr;
      for (Py_ssize_t i = 0; i < nargs; ++i) PyTuple_SET_ITEM(tuple.get(), i, Py_NewRef(args[i]));
    } else {
      Ref call_args, call_kwargs;
      if (!CallArgs(args, nargs, kwnames, &call_args, &call_kwargs)) return nullptr;
      Ref normalize = Ref::borrow(c.hook_normalize);  // the call may clear c's hooks
      PyObject* normalize_args[] = {call_args.get(), call_kwargs.get()};
      tuple = Ref::steal(PyObject_Vectorcall(normalize.get(), normalize_args, 2, nullptr));
      if (!tuple) return nullptr;
      if (!PyTuple_Check(tuple.get())) {
        PyErr_SetString(PyExc_SystemError, "memoize: the normalizer returned no tuple");
        return nullptr;
      }
    }
    if (!ComputeKey(c, tuple.get(), &key)) return nullptr;
    have_key = true;
    if (raw) LinkShape(c, buf.view(), key);
    auto it = c.entries.find(key);
    if (it != c.entries.end()) {
      Entry* e = it->second.get();
      if (Fresh(e)) return Hit(c, e);
      error_entry = e->live && e->is_error;
    }
  }
  if (!have_key || error_entry || c.run_fn == nullptr) {
    // memo.py: the normalization through the signature, a cached exception,
    // an async function.
    return CallSlow(self, args, nargs, kwnames, raw ? &buf : nullptr, have_key ? &key : nullptr,
                    nullptr);
  }
  const MissHooks hooks(c);
  if (!EnsureAttached(c, hooks)) return nullptr;
  const std::string_view shape = buf.view();
  const std::uint64_t snapshot = c.completions;
  if (c.store && c.swr) {
    // memo.py decides whether a stored value is stale.
    return CallSlow(self, args, nargs, kwnames, raw ? &buf : nullptr, &key, nullptr);
  }
  if (c.store) {
    // 3. The key is known but not in memory: ask the store from here.
    Ref fetched = Ref::steal(FetchTuple(c, key));
    if (!fetched) return nullptr;
    const long status = PyLong_AsLong(PyTuple_GET_ITEM(fetched.get(), 0));
    PyObject* value = PyTuple_GET_ITEM(fetched.get(), 2);
    // A hit with a note (a rejected copy) or an error (a failed tier) goes
    // through the slow path, which logs it; so does any miss but a plain
    // one, and every lookup while the DEBUG log is on.
    const int debug = DebugOn(c);
    if (debug < 0) return nullptr;
    const bool clean = !debug && PyTuple_GET_ITEM(fetched.get(), 4) == Py_None &&
                       PyTuple_GET_ITEM(fetched.get(), 5) == Py_None;
    if (status == kHit && clean &&
        Py_TYPE(value) != reinterpret_cast<PyTypeObject*>(c.cached_error_type)) {
      std::int64_t ttl_ms = TtlMs(PyTuple_GET_ITEM(fetched.get(), 3));
      if (ttl_ms < 0) return nullptr;
      if (ttl_ms == 0) ttl_ms = c.default_ttl_ms;  // the store could not tell
      Ref result = Ref::borrow(value);
      PutEntry(c, key, value, ttl_ms, raw ? &shape : nullptr, false);
      return Out(c, std::move(result));
    }
    if (!(status == kMiss && clean)) {
      return CallSlow(self, args, nargs, kwnames, raw ? &buf : nullptr, &key, fetched.get(),
                      snapshot);
    }
  }
  // 4. A plain miss: decided here.
  return ClaimAndCompute(c, hooks, key, raw ? &shape : nullptr, false, snapshot, args, nargs,
                         kwnames);
}

// --- the engine for memo.py: async functions and background refreshes -------------
//
// An async function's miss cannot be decided here (its function is a
// coroutine, awaited on the caller's event loop), nor can a background
// refresh's: memo.py drives the same engine through _claim / _keep /
// _abandon, and awaits a wait handle's get() in a worker thread.
//
// These, and the other methods memo.py calls (below), are nanobind functions
// (BindMemo): nanobind parses their arguments; a C-API failure in them (an
// exception set) is thrown as nb::python_error.

// A claim's right to compute (MemoEngine::Ticket) in Python: give it back to
// _keep or _abandon; one that is dropped abandons (the waiters claim again).
struct PyTicket {
  std::shared_ptr<MemoEngine> engine;  // outlives the ticket (declared first)
  std::unique_ptr<MemoEngine::Ticket> ticket;
  Key key;
  bool refresh = false;
};

// Another caller computes the key: get() blocks (run it in a thread) and
// returns what _claim returns, never "wait".
struct PyWait {
  nb::object wrapper;  // the MemoWrapper: its memory tier and decoders
  std::shared_ptr<MemoEngine> engine;
  std::shared_ptr<MemoEngine::Wait> wait;
  Key key;
  std::optional<std::string> shape;
  nb::object get();
};

// A C-API result in a nanobind method: nullptr (an exception set) is thrown.
nb::object Checked(PyObject* o) {
  if (o == nullptr) throw nb::python_error();
  return nb::steal(o);
}

// Raises what the engine threw or a flight ended with, as nb::python_error.
[[noreturn]] void ThrowEngineError(const std::exception_ptr& error) {
  RaiseEngineError(error);
  throw nb::python_error();
}

// A key argument (bytes: nanobind checked the type): "key must be 16 bytes".
Key KeyOf(const nb::bytes& b) {
  Key key;
  if (!KeyArg(b.ptr(), &key)) throw nb::python_error();
  return key;
}

// A call-shape argument (bytes | None): its view in *view, or nullptr.
const std::string_view* ShapeOf(const std::optional<nb::bytes>& raw, std::string_view* view) {
  if (!raw) return nullptr;
  *view = std::string_view(raw->c_str(), raw->size());
  return view;
}

nb::object StateTuple(const char* state, nb::handle obj) { return nb::make_tuple(state, obj); }

// ("value", v) for a value that arrived, ("compute", None) when there is
// none to read (compute, keep nothing).
nb::object ArrivedTuple(Core& c, const Key& key, const std::optional<std::string>& shape,
                        bool has_payload, const std::string& payload, Codec codec) {
  const std::string_view view = shape ? std::string_view(*shape) : std::string_view();
  nb::object value =
      nb::steal(Arrived(c, key, shape ? &view : nullptr, has_payload, payload, codec));
  if (value) return StateTuple("value", value);
  if (PyErr_Occurred()) throw nb::python_error();
  ++c.computed_here;
  return StateTuple("compute", nb::none());
}

nb::object TicketTuple(std::shared_ptr<MemoEngine> engine,
                       std::unique_ptr<MemoEngine::Ticket> ticket, const Key& key) {
  if (!ticket) return StateTuple("compute", nb::none());
  return StateTuple("granted",
                    nb::cast(PyTicket{std::move(engine), std::move(ticket), key, false}));
}

nb::object PyWait::get() {
  if (!wait) throw nb::value_error("memoize: a wait handle's get() was called twice");
  MemoEngine::Wait::Outcome outcome;
  std::exception_ptr failed;
  {
    nb::gil_scoped_release release;
    try {
      outcome = wait->Get();
    } catch (...) {
      failed = std::current_exception();
    }
  }
  wait.reset();
  if (failed) ThrowEngineError(failed);
  Core& c = *CoreOf(wrapper.ptr());
  switch (outcome.state) {
    case MemoEngine::Wait::Outcome::State::kValue:
      return ArrivedTuple(c, key, shape, outcome.has_payload, outcome.payload, outcome.codec);
    case MemoEngine::Wait::Outcome::State::kError:
      ThrowEngineError(outcome.error);
    case MemoEngine::Wait::Outcome::State::kGranted:
      return TicketTuple(engine, std::move(outcome.ticket), key);
  }
  return nb::none();
}

// _claim(key, raw | None, rejected, owner) -> (state, obj): after a miss,
// single flight and the lease (MemoEngine::Claim; owner names the caller
// for re-entry: an asyncio task). state "granted" (obj: a ticket: compute,
// then _keep or _abandon it), "value" (obj: another caller's value; a
// _CachedError is raised by the caller), "compute" (compute, keep
// nothing: re-entry), "wait" (obj: a handle whose blocking get() returns
// one of the others).
nb::object MemoClaim(MemoSelf self, const nb::bytes& key_arg, const std::optional<nb::bytes>& raw,
                     bool rejected, std::uint64_t owner) {
  const Key key = KeyOf(key_arg);
  Core& c = self.core();
  if (!c.engine) throw std::runtime_error("memoize: _claim before _attach");
  std::optional<std::string> shape;
  if (raw) shape.emplace(raw->c_str(), raw->size());
  std::shared_ptr<MemoEngine> engine = c.engine;
  ++c.misses;
  const std::string hex = key.hex();
  MemoEngine::Claimed claimed;
  if (!EngineCall(c, [&] { claimed = engine->Claim(hex, owner, rejected); })) {
    throw nb::python_error();
  }
  switch (claimed.state) {
    case MemoEngine::Claimed::State::kGranted:
      return TicketTuple(engine, std::move(claimed.ticket), key);
    case MemoEngine::Claimed::State::kReentrant:
      return StateTuple("compute", nb::none());
    case MemoEngine::Claimed::State::kValue:
      return ArrivedTuple(c, key, shape, true, claimed.payload, claimed.codec);
    case MemoEngine::Claimed::State::kWait:
      return StateTuple("wait", nb::cast(PyWait{nb::borrow(self.obj), engine,
                                                std::move(claimed.wait), key, shape}));
  }
  return nb::none();
}

// _claim_refresh(key) -> ticket | None: a stale value's refresh
// (MemoEngine::ClaimRefresh: the lease without waiting; None: another
// caller refreshes it).
nb::object MemoClaimRefresh(MemoSelf self, const nb::bytes& key_arg) {
  const Key key = KeyOf(key_arg);
  Core& c = self.core();
  if (!c.engine) return nb::none();
  std::shared_ptr<MemoEngine> engine = c.engine;
  const std::string hex = key.hex();
  std::unique_ptr<MemoEngine::Ticket> ticket;
  if (!EngineCall(c, [&] { ticket = engine->ClaimRefresh(hex); })) throw nb::python_error();
  if (!ticket) return nb::none();
  return nb::cast(PyTicket{std::move(engine), std::move(ticket), key, true});
}

// The ticket of a PyTicket argument, taken out of it (ValueError: used).
std::unique_ptr<MemoEngine::Ticket> TakeTicket(PyTicket& holder) {
  if (!holder.ticket) throw nb::value_error("memoize: this ticket was used already");
  return std::move(holder.ticket);
}

// _keep(ticket, raw | None, value, is_error): the ticket's computation
// ended with value (is_error: an exception to cache): memory tier, store,
// the flight's waiters (Keep). Raises what keeping it raised (the waiters
// get that error).
void MemoKeep(MemoSelf self, PyTicket& holder, const std::optional<nb::bytes>& raw,
              nb::handle value, bool is_error) {
  std::unique_ptr<MemoEngine::Ticket> ticket = TakeTicket(holder);
  Core& c = self.core();
  const MissHooks hooks(c);
  if (!hooks.encode || !hooks.computed) {
    throw std::runtime_error("memoize: _keep before _set_hooks");
  }
  std::string_view shape;
  Checked(Keep(c, hooks, holder.engine, holder.key, ShapeOf(raw, &shape), std::move(ticket),
               value.ptr(), is_error));
}

// _abandon(ticket, error | None): the ticket's computation ended without a
// value: the waiters get error (None: they claim again).
void MemoAbandon(MemoSelf, PyTicket& holder, nb::handle error) {
  if (!error.is_none() && !PyExceptionInstance_Check(error.ptr())) {
    throw nb::type_error("_abandon(ticket, error | None): error must be an exception or None");
  }
  std::unique_ptr<MemoEngine::Ticket> ticket = TakeTicket(holder);
  holder.engine->Abandon(std::move(ticket), error.is_none() ? nullptr : CarryError(error.ptr()));
}

// --- methods used by memokey/memo.py ------------------------------------------

// _key(normalized_args: tuple) -> bytes (16)
nb::bytes MemoKey(MemoSelf self, const nb::tuple& args) {
  Key key;
  if (!ComputeKey(self.core(), args.ptr(), &key)) throw nb::python_error();
  return nb::bytes(key.bytes.data(), key.bytes.size());
}

// _set_simple_arity(n): calls with exactly n positional arguments and no
// keywords are already normalized (-1: never).
void MemoSetSimpleArity(MemoSelf self, Py_ssize_t n) { self.core().simple_arity = n; }

// _set_arg_names(names): the parameter names of the normalized argument
// tuple, in order; an argument's error path then starts at its name.
void MemoSetArgNames(MemoSelf self, std::vector<std::string> names) {
  self.core().arg_names = std::move(names);
}

// _set_call(fn, run_type): a plain function's misses are decided here
// (ClaimAndCompute), which calls fn itself; memo.py's slow path returns a
// run_type instance (key, rejected) for a miss it looked up.
void MemoSetCall(MemoSelf self, const nb::callable& fn, const nb::type_object& run_type) {
  Core& c = self.core();
  PyObject* old[] = {c.run_fn, c.run_type};
  c.run_fn = Py_NewRef(fn.ptr());
  c.run_type = Py_NewRef(run_type.ptr());
  for (PyObject* o : old) Py_XDECREF(o);
}

// _set_hooks(ensure_store, encode_result, computed, is_enabled_for, normalize):
// memo.py's _ensure_store(), _encode(value, is_error) -> (payload, codec) |
// None and _computed(key, is_error, nbytes, note), the "memokey" logger's
// isEnabledFor -- what keeping a result needs of Python (Keep) -- and the
// function's _Normalizer ((args, kwargs) -> the normalized argument tuple).
void MemoSetHooks(MemoSelf self, const nb::callable& ensure, const nb::callable& encode,
                  const nb::callable& computed, const nb::callable& is_enabled_for,
                  const nb::callable& normalize) {
  Core& c = self.core();
  PyObject** hooks[] = {&c.hook_ensure, &c.hook_encode, &c.hook_computed, &c.debug_enabled,
                        &c.hook_normalize};
  const nb::callable* fns[] = {&ensure, &encode, &computed, &is_enabled_for, &normalize};
  std::vector<PyObject*> grave;
  for (std::size_t i = 0; i < std::size(hooks); ++i) {
    if (*hooks[i] != nullptr) grave.push_back(*hooks[i]);
    *hooks[i] = Py_NewRef(fns[i]->ptr());
  }
  Release(grave);
}

// _set_options(cache_exceptions, lease, lease_ttl, lease_wait, store_ttl, swr):
// memoize's options the miss path and the engine need (before _attach).
void MemoSetOptions(MemoSelf self, bool cache_exceptions, bool lease,
                    std::optional<double> lease_ttl, std::optional<double> lease_wait,
                    std::optional<double> store_ttl, bool swr) {
  const std::int64_t lease_ttl_ms = TtlArg(lease_ttl);
  const std::int64_t lease_wait_ms = TtlArg(lease_wait);
  const std::int64_t store_ttl_ms = TtlArg(store_ttl);
  Core& c = self.core();
  c.cache_exceptions = cache_exceptions;
  c.lease = lease;
  c.lease_ttl_ms = lease_ttl_ms;
  c.lease_wait_ms = lease_wait_ms;
  c.store_ttl_ms = store_ttl_ms;
  c.swr = swr;
}

// _set_cbor_loads(fn | None): fn(payload: bytes) decodes verified CBOR
// payloads (None: memokey.loads); its exception is a failed decode.
void MemoSetCborLoads(MemoSelf self, const std::optional<nb::callable>& fn) {
  Core& c = self.core();
  PyObject* old = c.cbor_loads;
  c.cbor_loads = fn ? Py_NewRef(fn->ptr()) : nullptr;
  Py_XDECREF(old);
}

// _set_ttl(seconds | None): the function's ttl, for store hits whose
// remaining time the store cannot tell (http://): the memory tier must not
// keep those forever.
void MemoSetTtl(MemoSelf self, std::optional<double> seconds) {
  self.core().default_ttl_ms = TtlArg(seconds);
}

// _mem_get(key) -> (status, value): 0 hit, 1 absent, 2 expired (removed),
// 3 a cached exception (value: what _put stored)
nb::object MemoMemGet(MemoSelf self, const nb::bytes& key_arg) {
  const Key key = KeyOf(key_arg);
  Core& c = self.core();
  auto it = c.entries.find(key);
  if (it == c.entries.end()) return nb::make_tuple(static_cast<int>(kMemAbsent), nb::none());
  Entry* e = it->second.get();
  if (e->expires_ns != 0 && NowNs() >= e->expires_ns) {
    std::vector<PyObject*> grave;
    c.Kill(e, &grave);
    ++c.mem_expired;
    Release(grave);
    return nb::make_tuple(static_cast<int>(kMemExpired), nb::none());
  }
  c.Touch(e);
  if (!e->is_error) ++c.mem_hits;
  return nb::make_tuple(static_cast<int>(e->is_error ? kMemError : kMemHit),
                        nb::handle(e->value));
}

// Puts value into the memory tier (a shell when it is off) and maps the call
// shape to it. Evicted values are released at the end.
void PutEntry(Core& c, const Key& key, PyObject* value, std::int64_t ttl_ms,
              const std::string_view* shape, bool is_error) {
  if (c.known.size() < Core::kMaxKnown) c.known.insert(key);
  std::vector<PyObject*> grave;
  std::shared_ptr<Entry> entry;
  if (c.maxsize > 0) {
    auto it = c.entries.find(key);
    if (it != c.entries.end()) {
      entry = it->second;
      grave.push_back(entry->value);
      entry->value = Py_NewRef(value);
      c.Touch(entry.get());
    } else {
      entry = std::make_shared<Entry>();
      entry->key = key;
      entry->value = Py_NewRef(value);
      entry->live = true;
      c.entries.emplace(key, entry);
      c.PushFront(entry.get());
    }
    entry->is_error = is_error;
    entry->expires_ns = ttl_ms > 0 ? NowNs() + ttl_ms * 1000000 : 0;
    while (c.entries.size() > c.maxsize && c.ring.prev != &c.ring) {
      Entry* victim = c.ring.prev;
      if (victim == entry.get()) break;
      c.Kill(victim, &grave);
      ++c.evictions;
    }
  } else {
    entry = std::make_shared<Entry>();  // a shell: the key only
    entry->key = key;
  }
  if (shape != nullptr && c.raw_enabled) {
    auto it = c.raw.find(*shape);
    if (it != c.raw.end()) {
      it->second = entry;
    } else {
      if (c.raw.size() >= c.raw_max) c.raw.clear();  // shells and live entries: no Python code
      c.raw.emplace(std::string(*shape), entry);
    }
  }
  Release(grave);
}

// _put(key, value, ttl_seconds | None, raw | None, is_error: bool)
void MemoPut(MemoSelf self, const nb::bytes& key_arg, nb::handle value,
             std::optional<double> ttl, const std::optional<nb::bytes>& raw, bool is_error) {
  const Key key = KeyOf(key_arg);
  const std::int64_t ttl_ms = TtlArg(ttl);
  std::string_view shape;
  PutEntry(self.core(), key, value.ptr(), ttl_ms, ShapeOf(raw, &shape), is_error);
}

// _link(raw, key): map the call shape raw to key's entry (a shell when key
// is not in the memory tier), without touching the entry's value or TTL.
void MemoLink(MemoSelf self, const nb::bytes& raw, const nb::bytes& key_arg) {
  LinkShape(self.core(), std::string_view(raw.c_str(), raw.size()), KeyOf(key_arg));
}

// _peek(key) -> 0 present, 1 absent, 2 expired: no side effects.
int MemoPeek(MemoSelf self, const nb::bytes& key_arg) {
  const Key key = KeyOf(key_arg);
  Core& c = self.core();
  auto it = c.entries.find(key);
  if (it == c.entries.end()) return kMemAbsent;
  const Entry* e = it->second.get();
  if (e->expires_ns != 0 && NowNs() >= e->expires_ns) return kMemExpired;
  return kMemHit;
}

// _forget(key): drop key from the memory tier.
void MemoForget(MemoSelf self, const nb::bytes& key_arg) {
  const Key key = KeyOf(key_arg);
  Core& c = self.core();
  std::vector<PyObject*> grave;
  auto it = c.entries.find(key);
  if (it != c.entries.end()) c.Kill(it->second.get(), &grave);
  Release(grave);
}

// _clear(): empty the memory tier (and the shape map).
void MemoClear(MemoSelf self) {
  Core& c = self.core();
  std::vector<PyObject*> grave;
  c.ClearMemory(&grave);
  c.raw.clear();
  Release(grave);
}

// _take_known() -> [bytes]: the keys computed or read since the last call
// (the entries cache_clear deletes from the store), forgotten.
nb::list MemoTakeKnown(MemoSelf self) {
  Core& c = self.core();
  nb::list out;
  for (const Key& key : c.known) out.append(nb::bytes(key.bytes.data(), key.bytes.size()));
  c.known.clear();
  return out;
}

// (Re)makes c's engine over c.store (null: no store) with memoize's options;
// the old engine's counts are kept. Throws what MemoEngine throws.
void MakeEngine(Core& c) {
  EngineOptions options;
  options.name = c.name;
  options.label = c.label;
  options.secret = c.secret_config;
  options.lazy_secret = true;  // a function never called needs no secret
  // Python decodes (or refuses: safe mode, raw) every codec itself, with its GIL.
  options.codecs = {Codec::kCbor, Codec::kPickle5, Codec::kRaw};
  options.compress_threshold = c.compress_threshold;
  options.lease = c.lease;
  options.lease_ttl = std::chrono::milliseconds{c.lease_ttl_ms};
  options.lease_wait = std::chrono::milliseconds{c.lease_wait_ms};
  options.strict = c.strict;
  options.no_store = !c.store;
  options.on_store_error = [](const std::string&) {};  // memo.py logs (hooks, _fetch's tuple)
  auto engine = std::make_shared<MemoEngine>(c.store, std::move(options));
  if (c.engine) AddStats(&c.engine_base, c.engine->Stats());
  c.engine = std::move(engine);
}

// _after_fork(): in a forked child. The flights in progress belonged to the
// parent's other threads, which the child does not have (and the engine's
// lock may be held by one): a new engine, the old one left as it is.
void MemoAfterFork(MemoSelf self) {
  Core& c = self.core();
  if (!c.engine) return;
  c.forked_engines.push_back(c.engine);
  try {
    MakeEngine(c);
  } catch (const std::exception& e) {
    throw std::runtime_error(e.what());  // a RuntimeError, whatever it was
  }
}

// _attach(store | None[, strict: bool]): strict (or a tier URL with strict=1)
// makes store failures raise instead of being counted misses and errors.
void MemoAttach(MemoSelf self, const PyStore* ps, bool strict) {
  Core& c = self.core();
  c.store = ps == nullptr ? nullptr : ps->store;  // none: the engine is single flight only
  c.tier_names.clear();
  c.strict = c.store && (strict || c.store->strict());
  try {
    MakeEngine(c);
  } catch (const std::exception& e) {
    c.store.reset();
    throw nb::value_error(e.what());
  }
  if (ps != nullptr && ps->tiered != nullptr) {
    for (std::size_t i = 0; i < ps->tiered->tier_count(); ++i) {
      c.tier_names.push_back(ps->tiered->tier(i).Describe());
    }
  } else if (c.store) {
    c.tier_names.push_back(c.store->Describe());
  }
  c.tier_hits.assign(c.tier_names.size(), 0);
  c.attached = true;
}

PyObject* PyTtlSeconds(std::int64_t ms) {
  if (ms <= 0) Py_RETURN_NONE;
  return PyFloat_FromDouble(static_cast<double>(ms) / 1000.0);
}

// Decodes a verified payload; nullptr with an exception set on failure.
PyObject* DecodePayload(Core& c, Codec codec, const std::string& payload, std::string* refusal) {
  switch (codec) {
    case Codec::kPickle5: {
      if (c.safe) {
        *refusal = "a pickle payload is refused in safe mode";
        return nullptr;
      }
      Ref bytes = Ref::steal(
          PyBytes_FromStringAndSize(payload.data(), static_cast<Py_ssize_t>(payload.size())));
      if (!bytes) return nullptr;
      return PyObject_CallOneArg(c.pickle_loads, bytes.get());
    }
    case Codec::kCbor: {
      Ref bytes = Ref::steal(
          PyBytes_FromStringAndSize(payload.data(), static_cast<Py_ssize_t>(payload.size())));
      if (!bytes) return nullptr;
      if (c.cbor_loads != nullptr) {
        Ref loads = Ref::borrow(c.cbor_loads);  // the call may clear c's hooks
        return PyObject_CallOneArg(loads.get(), bytes.get());
      }
      return LoadsImpl(*c.state, bytes.get(), true);
    }
    default:
      *refusal = "a raw payload is not a memoized result";
      return nullptr;
  }
}

std::string CurrentErrorText() {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  std::string text = "decoding failed";
  if (value != nullptr) {
    Ref s = Ref::steal(PyObject_Str(value));
    const char* name = type != nullptr ? reinterpret_cast<PyTypeObject*>(type)->tp_name : "error";
    if (s) {
      const char* u = PyUnicode_AsUTF8(s.get());
      text = std::string(name) + ": " + (u != nullptr ? u : "?");
    }
    PyErr_Clear();
  }
  Py_XDECREF(type);
  Py_XDECREF(value);
  Py_XDECREF(tb);
  return text;
}

// _fetch(key) -> (status, tier, value, ttl_seconds | None, note | None, error | None)
//   status 0 hit (value decoded, tier = index that answered), 1 miss,
//   2 rejected (every copy found failed verification), 3 decode failed,
//   4 store error: no tier answered because a tier failed (an unreachable
//   server, an I/O error, damage) -- a miss for the caller, counted; only a
//   strict store raises instead (OSError, ConnectionError).
//   note: why something was rejected or did not decode, for the log.
//   error: the first store failure met ("tier: message"), also when a later
//   tier answered, for the log.
PyObject* FetchTuple(Core& c, const Key& key) {
  if (!c.engine) {
    return Py_BuildValue("(iiOOOO)", kMiss, -1, Py_None, Py_None, Py_None, Py_None);
  }
  std::shared_ptr<MemoEngine> engine = c.engine;
  const std::string hex = key.hex();
  MemoEngine::Found found;
  Status fatal;
  {
    nb::gil_scoped_release release;  // (c.tier_names is not read in here)
    try {
      found = engine->Lookup(hex);
    } catch (const StoreError& e) {  // a strict store failed
      fatal = e.status();
    }
  }
  if (!fatal.ok()) {
    SetStatusError(fatal, "memoize: store lookup");
    return nullptr;
  }
  // (Rejections and failures are counted by the engine: MemoStats.)
  auto tier_name = [&](std::size_t i) {
    return i < c.tier_names.size() ? c.tier_names[i] : std::string("tier ") + std::to_string(i);
  };
  std::string note;
  if (found.rejections > 0) note = tier_name(found.rejected_tier) + ": " + found.rejection;
  std::string error = found.failure;
  if (found.failures > 0 && found.failed_tier != MemoEngine::Found::kNoTier) {
    error = tier_name(found.failed_tier) + ": " + error;
  }
  Ref error_obj = error.empty() ? Ref::borrow(Py_None)
                                : Ref::steal(PyUnicode_FromStringAndSize(
                                      error.data(), static_cast<Py_ssize_t>(error.size())));
  if (!error_obj) return nullptr;
  if (found.state == MemoEngine::Found::State::kMiss) {
    const int status = found.rejections > 0 ? kRejected : found.failures > 0 ? kError : kMiss;
    Ref note_obj = note.empty() ? Ref::borrow(Py_None)
                                : Ref::steal(PyUnicode_FromStringAndSize(
                                      note.data(), static_cast<Py_ssize_t>(note.size())));
    if (!note_obj) return nullptr;
    return Py_BuildValue("(iiOOOO)", status, -1, Py_None, Py_None, note_obj.get(), error_obj.get());
  }
  const int tier = static_cast<int>(found.tier);
  std::string refusal;
  Ref value = Ref::steal(DecodePayload(c, found.codec, found.payload, &refusal));
  if (!value) {
    const std::string why = refusal.empty() ? CurrentErrorText() : refusal;
    ++c.decode_failed;
    const std::string text = tier_name(found.tier) + ": " + why;
    return Py_BuildValue("(iiOOs#O)", kDecodeFailed, tier, Py_None, Py_None, text.data(),
                         static_cast<Py_ssize_t>(text.size()), error_obj.get());
  }
  if (found.tier < c.tier_hits.size()) ++c.tier_hits[found.tier];
  Ref ttl_obj = Ref::steal(PyTtlSeconds(found.ttl_left.count()));
  if (!ttl_obj) return nullptr;
  Ref note_obj = found.rejections > 0 ? Ref::steal(PyUnicode_FromStringAndSize(
                                            note.data(), static_cast<Py_ssize_t>(note.size())))
                                      : Ref::borrow(Py_None);
  if (!note_obj) return nullptr;
  return Py_BuildValue("(iiOOOO)", kHit, tier, value.get(), ttl_obj.get(), note_obj.get(),
                       error_obj.get());
}

nb::object MemoFetch(MemoSelf self, const nb::bytes& key_arg) {
  return Checked(FetchTuple(self.core(), KeyOf(key_arg)));
}

// _delete(key) -> bool: remove key from every tier of the store.
bool MemoDelete(MemoSelf self, const nb::bytes& key_arg) {
  const Key key = KeyOf(key_arg);
  Core& c = self.core();
  if (!c.store) return true;
  std::shared_ptr<Store> store = c.store;
  const std::string hex = key.hex();
  Status s;
  {
    nb::gil_scoped_release release;
    s = store->Delete(hex);
  }
  if (s.ok()) return true;
  if (c.strict) {
    SetStatusError(s, "memoize: store delete");
    throw nb::python_error();
  }
  ++c.store_errors;
  return false;
}

// _explain(key) -> [(tier name, status, detail)] for each store tier, without
// backfill: status is "hit", "not present", "expired", "MAC rejected",
// "decode failed" or "error".
nb::list MemoExplain(MemoSelf self, const nb::bytes& key_arg) {
  const Key key = KeyOf(key_arg);
  Core& c = self.core();
  nb::list out;
  if (!c.store || !c.engine) return out;
  std::shared_ptr<MemoEngine> engine = c.engine;
  const std::string hex = key.hex();
  std::vector<MemoEngine::TierState> rows;
  if (!EngineCall(c, [&] { rows = engine->Inspect(hex); })) throw nb::python_error();
  using TierState = MemoEngine::TierState;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    TierState& r = rows[i];
    std::string status, detail = r.detail;
    switch (r.state) {
      case TierState::State::kAbsent:
        status = "not present";
        break;
      case TierState::State::kExpired:
        status = "expired";
        break;
      case TierState::State::kRejected:
        status = "MAC rejected";
        break;
      case TierState::State::kError:
        status = "error";
        break;
      case TierState::State::kHit: {
        std::string refusal;
        Ref v = Ref::steal(DecodePayload(c, r.codec, r.payload, &refusal));
        if (!v) {
          status = "decode failed";
          detail = refusal.empty() ? CurrentErrorText() : refusal;
        } else {
          status = "hit";
          static const char* kCodecNames[] = {"raw", "cbor", "pickle5"};
          detail = std::string("codec ") + kCodecNames[static_cast<int>(r.codec)] + ", " +
                   std::to_string(r.payload.size()) + " payload bytes";
        }
        break;
      }
    }
    const std::string name = i < c.tier_names.size() ? c.tier_names[i] : "tier " + std::to_string(i);
    out.append(nb::make_tuple(name, status, detail));
  }
  return out;
}

// _stats() -> dict
nb::dict MemoStatsDict(MemoSelf self) {
  Core& c = self.core();
  nb::list tier_hits, tier_names;
  for (std::uint64_t n : c.tier_hits) tier_hits.append(n);
  for (const std::string& name : c.tier_names) tier_names.append(name);
  memokey::MemoStats e = c.engine_base;
  if (c.engine) AddStats(&e, c.engine->Stats());
  nb::dict d;
  d["misses"] = c.misses;
  d["computed"] = e.computed + c.computed_here;
  d["waited"] = e.waited + e.lease_hits;
  d["lease_waits"] = e.lease_waits;
  d["lease_timeouts"] = e.lease_timeouts;
  d["memory_hits"] = c.mem_hits;
  d["memory_expired"] = c.mem_expired;
  d["evictions"] = c.evictions;
  d["rejected"] = c.rejected + e.rejected;
  d["decode_failed"] = c.decode_failed;
  d["store_errors"] = c.store_errors + e.store_errors;
  d["currsize"] = c.entries.size();
  d["shapes"] = c.raw.size();
  d["tier_hits"] = tier_hits;
  d["tiers"] = tier_names;
  return d;
}

// __reduce__: pickled by reference (module and qualified name), like a function.
nb::object MemoReduce(MemoSelf self) { return nb::handle(self.obj).attr("__qualname__"); }

PyObject* MemoDescrGet(PyObject* self, PyObject* obj, PyObject*) {
  if (obj == nullptr || obj == Py_None) return Py_NewRef(self);
  return PyMethod_New(self, obj);
}

// MemoWrapper(slow, name, version, namespace, maxsize, copy_fn, raw_enabled,
//             safe, pickle_loads, compress_threshold, secret, cached_error_type)
PyObject* MemoNew(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  if (kwargs != nullptr && PyDict_GET_SIZE(kwargs) != 0) {
    PyErr_SetString(PyExc_TypeError, "MemoWrapper() takes positional arguments only");
    return nullptr;
  }
  PyObject *slow, *ns, *maxsize_obj, *copy_fn, *pickle_loads, *secret, *error_type;
  const char *name, *version;
  Py_ssize_t name_len, version_len, compress_threshold;
  int raw_enabled, safe;
  if (!PyArg_ParseTuple(args, "Os#s#OOOppOnOO:MemoWrapper", &slow, &name, &name_len, &version,
                        &version_len, &ns, &maxsize_obj, &copy_fn, &raw_enabled, &safe,
                        &pickle_loads, &compress_threshold, &secret, &error_type)) {
    return nullptr;
  }
  if (!PyCallable_Check(slow) || !PyCallable_Check(pickle_loads) ||
      (copy_fn != Py_None && !PyCallable_Check(copy_fn))) {
    PyErr_SetString(PyExc_TypeError, "MemoWrapper: slow, copy_fn and pickle_loads must be callable");
    return nullptr;
  }
  auto core = std::make_unique<Core>();
  core->state = StateOf(PyType_GetModule(type));
  if (core->state == nullptr) return nullptr;  // PyType_GetModule set the error
  core->name.assign(name, static_cast<std::size_t>(name_len));
  core->version.assign(version, static_cast<std::size_t>(version_len));
  if (ns != Py_None) {
    Py_ssize_t n;
    const char* s = PyUnicode_AsUTF8AndSize(ns, &n);
    if (s == nullptr) return nullptr;
    core->key_namespace.emplace(s, static_cast<std::size_t>(n));
  }
  core->label = FunctionLabel(core->key_namespace, core->name);
  if (secret != Py_None) {
    Py_ssize_t n;
    const char* s = PyUnicode_AsUTF8AndSize(secret, &n);
    if (s == nullptr) return nullptr;
    core->secret_config.emplace(s, static_cast<std::size_t>(n));
  }
  if (maxsize_obj == Py_None) {
    core->maxsize = SIZE_MAX;
  } else {
    const Py_ssize_t m = PyLong_AsSsize_t(maxsize_obj);
    if (m == -1 && PyErr_Occurred()) return nullptr;
    if (m < 0) {
      PyErr_SetString(PyExc_ValueError, "memory (maxsize) must be >= 0 or None");
      return nullptr;
    }
    core->maxsize = static_cast<std::size_t>(m);
  }
  core->raw_enabled = raw_enabled != 0;
  core->safe = safe != 0;
  core->compress_threshold = compress_threshold > 0 ? static_cast<std::size_t>(compress_threshold)
                                                    : kDefaultCompressThreshold;
  const std::size_t bound = core->maxsize == SIZE_MAX ? std::size_t{1} << 20 : core->maxsize;
  core->raw_max = std::max<std::size_t>(4096, std::min<std::size_t>(bound * 4, 1u << 22));
  core->copy_fn = copy_fn == Py_None ? nullptr : Py_NewRef(copy_fn);
  core->pickle_loads = Py_NewRef(pickle_loads);
  core->cached_error_type = Py_NewRef(error_type);

  auto* self = reinterpret_cast<MemoObject*>(type->tp_alloc(type, 0));
  if (self == nullptr) {
    Py_XDECREF(core->copy_fn);
    Py_DECREF(core->pickle_loads);
    Py_DECREF(core->cached_error_type);
    return nullptr;
  }
  self->vectorcall = MemoCall;
  self->dict = nullptr;
  self->weakreflist = nullptr;
  self->slow = Py_NewRef(slow);
  self->core = core.release();
  return reinterpret_cast<PyObject*>(self);
}

int MemoTraverse(PyObject* o, visitproc visit, void* arg) {
  auto* self = reinterpret_cast<MemoObject*>(o);
  Py_VISIT(Py_TYPE(o));
  Py_VISIT(self->dict);
  Py_VISIT(self->slow);
  if (self->core != nullptr) {
    Core& c = *self->core;
    Py_VISIT(c.copy_fn);
    Py_VISIT(c.pickle_loads);
    Py_VISIT(c.cached_error_type);
    Py_VISIT(c.run_fn);
    Py_VISIT(c.run_type);
    Py_VISIT(c.hook_ensure);
    Py_VISIT(c.hook_encode);
    Py_VISIT(c.hook_computed);
    Py_VISIT(c.debug_enabled);
    Py_VISIT(c.hook_normalize);
    Py_VISIT(c.cbor_loads);
    for (Entry* e = c.ring.next; e != &c.ring; e = e->next) Py_VISIT(e->value);
  }
  return 0;
}

int MemoClearRefs(PyObject* o) {
  auto* self = reinterpret_cast<MemoObject*>(o);
  Py_CLEAR(self->dict);
  Py_CLEAR(self->slow);
  if (self->core != nullptr) {
    Core& c = *self->core;
    std::vector<PyObject*> grave;
    c.ClearMemory(&grave);
    c.raw.clear();
    if (c.copy_fn != nullptr) grave.push_back(c.copy_fn);
    c.copy_fn = nullptr;
    for (PyObject** hook : {&c.run_fn, &c.run_type, &c.hook_ensure, &c.hook_encode,
                            &c.hook_computed, &c.debug_enabled, &c.hook_normalize,
                            &c.cbor_loads}) {
      if (*hook != nullptr) grave.push_back(*hook);
      *hook = nullptr;
    }
    Release(grave);
  }
  return 0;
}

void MemoDealloc(PyObject* o) {
  auto* self = reinterpret_cast<MemoObject*>(o);
  PyTypeObject* type = Py_TYPE(o);
  PyObject_GC_UnTrack(o);
  if (self->weakreflist != nullptr) PyObject_ClearWeakRefs(o);
  MemoClearRefs(o);
  if (self->core != nullptr) {
    Py_CLEAR(self->core->pickle_loads);
    Py_CLEAR(self->core->cached_error_type);
    delete self->core;
    self->core = nullptr;
  }
  type->tp_free(o);
  Py_DECREF(type);
}

PyMemberDef kMemoMembers[] = {
    {"__vectorcalloffset__", T_PYSSIZET, offsetof(MemoObject, vectorcall), READONLY, nullptr},
    {"__dictoffset__", T_PYSSIZET, offsetof(MemoObject, dict), READONLY, nullptr},
    {"__weaklistoffset__", T_PYSSIZET, offsetof(MemoObject, weakreflist), READONLY, nullptr},
    {nullptr, 0, 0, 0, nullptr},
};

PyGetSetDef kMemoGetSet[] = {
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyType_Slot kMemoSlots[] = {
    {Py_tp_new, reinterpret_cast<void*>(MemoNew)},
    {Py_tp_dealloc, reinterpret_cast<void*>(MemoDealloc)},
    {Py_tp_traverse, reinterpret_cast<void*>(MemoTraverse)},
    {Py_tp_clear, reinterpret_cast<void*>(MemoClearRefs)},
    {Py_tp_call, reinterpret_cast<void*>(PyVectorcall_Call)},
    {Py_tp_descr_get, reinterpret_cast<void*>(MemoDescrGet)},
    {Py_tp_members, kMemoMembers},
    {Py_tp_getset, kMemoGetSet},
    {Py_tp_doc, const_cast<char*>(
                    "The callable returned by memokey.memoize for a plain function (see memokey.memo).")},
    {0, nullptr},
};

PyType_Spec kMemoSpec = {
    "memokey._core.MemoWrapper",
    sizeof(MemoObject),
    0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
        Py_TPFLAGS_METHOD_DESCRIPTOR,
    kMemoSlots,
};

// Makes fn the method `name` of the raw type: a nanobind function whose
// first parameter (MemoSelf) is self, bound like a method (nb_method is a
// descriptor), its other arguments parsed by nanobind.
template <typename Return, typename... Args, typename... Extra>
void DefMethod(nb::handle type, const char* name, Return (*fn)(Args...), const Extra&... extra) {
  nb::cpp_function_def(fn, nb::scope(type), nb::name(name), nb::is_method(), extra...);
}

}  // namespace

void BindMemo(nb::module_& m) {
  // The type belongs to the state module: each wrapper finds its State
  // through its type (MemoNew), and the type keeps the module alive.
  PyObject* type =
      PyType_FromModuleAndSpec(nb::object(m.attr("_state")).ptr(), &kMemoSpec, nullptr);
  if (type == nullptr) throw nb::python_error();
  g_memo_type = reinterpret_cast<PyTypeObject*>(type);
  m.attr("MemoWrapper") = nb::steal(type);
  nb::class_<PyTicket>(m, "MemoTicket",
                       "The right to compute one key (from MemoWrapper._claim): give it to _keep "
                       "or _abandon; dropped, it abandons.")
      .def(
          "abandon",
          [](PyTicket& t) {
            if (t.ticket) t.engine->Abandon(std::move(t.ticket), nullptr);
          },
          "Gives the key back without a value (the waiters claim it again); a used ticket: "
          "nothing.");
  nb::class_<PyWait>(m, "MemoWait",
                     "Another caller computes the key (from MemoWrapper._claim).")
      .def("get", &PyWait::get,
           "Blocks (run it in a thread) until the key's computation ends: (state, obj) as "
           "_claim returns it, never 'wait'.");
  // MemoWrapper's methods (the hot path, the call, stays raw: MemoCall).
  using nb::arg;
  const nb::handle t(type);
  DefMethod(t, "_key", MemoKey, arg("args"),
            "_key(args) -> bytes: the 16-byte key of the normalized argument tuple.");
  DefMethod(t, "_set_simple_arity", MemoSetSimpleArity, arg("n"),
            "_set_simple_arity(n): n positional arguments are the normalized form (-1: none)");
  DefMethod(t, "_set_arg_names", MemoSetArgNames, arg("names"),
            "_set_arg_names(names): error paths start at these parameter names");
  DefMethod(t, "_set_cbor_loads", MemoSetCborLoads, arg("fn").none(),
            "_set_cbor_loads(fn | None): the decoder of CBOR payloads");
  DefMethod(t, "_set_call", MemoSetCall, arg("fn"), arg("run_type"),
            "_set_call(fn, run_type): misses are decided here, fn called from here");
  DefMethod(t, "_set_hooks", MemoSetHooks, arg("ensure_store"), arg("encode"), arg("computed"),
            arg("is_enabled_for"), arg("normalize"),
            "_set_hooks(ensure_store, encode, computed, is_enabled_for, normalize)");
  DefMethod(t, "_claim", MemoClaim, arg("key"), arg("raw").none(), arg("rejected"), arg("owner"),
            "_claim(key, raw, rejected, owner) -> (state, obj)");
  DefMethod(t, "_claim_refresh", MemoClaimRefresh, arg("key"),
            "_claim_refresh(key) -> ticket | None");
  DefMethod(t, "_keep", MemoKeep, arg("ticket"), arg("raw").none(), arg("value").none(),
            arg("is_error"), "_keep(ticket, raw, value, is_error)");
  DefMethod(t, "_abandon", MemoAbandon, arg("ticket"), arg("error").none(),
            "_abandon(ticket, error | None)");
  DefMethod(t, "_set_ttl", MemoSetTtl, arg("seconds").none(),
            "_set_ttl(seconds | None): memory-tier ttl of store hits of unknown ttl");
  DefMethod(t, "_after_fork", MemoAfterFork,
            "_after_fork(): in a forked child, forget the parent's flights");
  DefMethod(t, "_set_options", MemoSetOptions, arg("cache_exceptions"), arg("lease"),
            arg("lease_ttl").none(), arg("lease_wait").none(), arg("store_ttl").none(),
            arg("swr"),
            "_set_options(cache_exceptions, lease, lease_ttl, lease_wait, store_ttl, swr)");
  DefMethod(t, "_mem_get", MemoMemGet, arg("key"), "_mem_get(key) -> (status, value)");
  DefMethod(t, "_put", MemoPut, arg("key"), arg("value").none(), arg("ttl").none(),
            arg("raw").none(), arg("is_error"), "_put(key, value, ttl, raw, is_error)");
  DefMethod(t, "_link", MemoLink, arg("raw"), arg("key"), "_link(raw, key)");
  DefMethod(t, "_peek", MemoPeek, arg("key"), "_peek(key) -> 0 present, 1 absent, 2 expired");
  DefMethod(t, "_forget", MemoForget, arg("key"), "_forget(key)");
  DefMethod(t, "_clear", MemoClear, "_clear(): empty the memory tier");
  DefMethod(t, "_take_known", MemoTakeKnown,
            "_take_known() -> [key]: keys computed or read, forgotten");
  DefMethod(t, "_attach", MemoAttach, arg("store").none(), arg("strict") = false,
            "_attach(store | None[, strict])");
  DefMethod(t, "_fetch", MemoFetch, arg("key"),
            "_fetch(key) -> (status, tier, value, ttl, note, error)");
  DefMethod(t, "_delete", MemoDelete, arg("key"), "_delete(key) -> bool");
  DefMethod(t, "_explain", MemoExplain, arg("key"), "_explain(key) -> [(tier, status, detail)]");
  DefMethod(t, "_stats", MemoStatsDict, "_stats() -> dict");
  DefMethod(t, "__reduce__", MemoReduce,
            "Pickled by reference (module and qualified name), like a function.");
  PyType_Modified(g_memo_type);
  for (const auto& [name, value] :
       {std::pair{"FETCH_HIT", kHit}, {"FETCH_MISS", kMiss}, {"FETCH_REJECTED", kRejected},
        {"FETCH_DECODE_FAILED", kDecodeFailed}, {"FETCH_ERROR", kError}, {"FETCH_STALE", kStale}}) {
    m.attr(name) = static_cast<int>(value);
  }
  for (const auto& [name, value] :
       {std::pair{"MEM_HIT", kMemHit}, {"MEM_ABSENT", kMemAbsent}, {"MEM_EXPIRED", kMemExpired},
        {"MEM_ERROR", kMemError}}) {
    m.attr(name) = static_cast<int>(value);
  }
}

}  // namespace memokey::py
