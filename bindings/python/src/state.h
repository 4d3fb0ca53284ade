// state.h — the module state of memokey._core and small CPython helpers.
//
// Everything the extension remembers lives in one State object, the module
// state of a module object stored as memokey._core._state and passed as
// `self` to the module's functions: the exception classes and memokey.Tagged (bound by
// memokey/__init__.py), the registry of memokey.register, the per-type
// dispatch cache, interned attribute names and the lazily resolved classes of
// optional modules (numpy, decimal, ...). There is no other mutable global
// state.

#ifndef MEMOKEY_PYTHON_STATE_H_
#define MEMOKEY_PYTHON_STATE_H_

#define PY_SSIZE_T_CLEAN
#include <Python.h>
// datetime.h defines a static PyDateTimeAPI per translation unit; memokey
// keeps the C API pointer in its State instead (State::dt).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include <datetime.h>
#pragma GCC diagnostic pop

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "memokey/cbor_writer.h"
#include "memokey/key.h"

namespace memokey::py {

// An owned reference (nullptr allowed).
class Ref {
 public:
  Ref() = default;
  static Ref steal(PyObject* o) { return Ref(o); }
  static Ref borrow(PyObject* o) {
    Py_XINCREF(o);
    return Ref(o);
  }
  Ref(const Ref&) = delete;
  Ref& operator=(const Ref&) = delete;
  Ref(Ref&& other) noexcept : o_(other.o_) { other.o_ = nullptr; }
  Ref& operator=(Ref&& other) noexcept {
    if (this != &other) {
      Py_XDECREF(o_);
      o_ = other.o_;
      other.o_ = nullptr;
    }
    return *this;
  }
  ~Ref() { Py_XDECREF(o_); }
  PyObject* get() const { return o_; }
  PyObject* release() {
    PyObject* o = o_;
    o_ = nullptr;
    return o;
  }
  explicit operator bool() const { return o_ != nullptr; }

 private:
  explicit Ref(PyObject* o) : o_(o) {}
  PyObject* o_ = nullptr;
};

// How a (non-fast-path) type is encoded; decided once per type.
enum class Kind : std::uint8_t {
  kRegistered,       // memokey.register: [class id, fn(obj)]
  kHook,             // __memokey__: [class id, obj.__memokey__()]
  kTagged,           // memokey.Tagged: the tag over its value
  kClass,            // a class used as a value: global
  kFunction,         // a Python function: global (lambdas and locals refused)
  kBuiltinFunction,  // a builtin function (len, math.sqrt): global, or reduce when bound
  kSingleton,        // Ellipsis, NotImplemented: global
  kComplex,
  kByteArray,
  kMemoryView,
  kRange,
  kSlice,
  kDate,
  kDateTime,
  kTime,
  kTimeDelta,
  kDecimal,
  kFraction,
  kUuid,
  kOrderedDict,  // exact OrderedDict
  kDefaultDict,  // defaultdict and subclasses
  kEnum,
  kDataclass,   // extra: tuple of field names
  kNamedTuple,  // extra: tuple of field names
  kPurePath,
  kNdArray,     // exact numpy.ndarray
  kNdArraySub,  // subclasses of numpy.ndarray
  kNumpyScalar,
  kFrame,    // pandas / polars / pyarrow frames and columns (frames.h); extra: memokey._frames
  kSubDict,  // subclasses of the builtins: [class id, base encoding(, attributes)]
  kSubOrderedDict,
  kSubList,
  kSubTuple,
  kSubSet,
  kSubFrozenSet,
  kSubStr,
  kSubBytes,
  kSubInt,
  kSubFloat,
  kReduce,  // everything else: __reduce_ex__(4)
};

// Shared: the dispatch holds a reference while it calls Python code, which
// may clear the cache (memokey.register) under it.
struct TypeInfo {
  Kind kind = Kind::kReduce;
  std::string class_id;       // "module:qualname" (valid UTF-8) when id_error is empty
  std::string id_error;       // why this type has no class id
  PyObject* extra = nullptr;  // owned: registry function or field names
  PyObject* slots = nullptr;  // owned: list of __slots__ names (attributes of builtin subclasses)
  bool has_dict = false;      // instances have a __dict__
  PyObject* type = nullptr;   // owned: the class itself (keeps the cache key alive)

  TypeInfo() = default;
  TypeInfo(const TypeInfo&) = delete;
  TypeInfo& operator=(const TypeInfo&) = delete;
  ~TypeInfo() {
    Py_XDECREF(extra);
    Py_XDECREF(slots);
    Py_XDECREF(type);
  }
};

// A dict entry with a text key, for sorting before encoding.
struct TextEntry {
  const char* key;
  std::size_t size;
  PyObject* k;  // owned while in the pool
  PyObject* v;  // owned while in the pool
};

// Remembers the canonical order of a few dict key sequences: dicts of one
// shape (same key objects in the same insertion order, as literals and
// json.loads produce) are then written without sorting. The keys are owned,
// so a pointer match means the very same strings.
struct KeyOrderCache {
  static constexpr std::size_t kSlots = 32;
  static constexpr std::size_t kMaxKeys = 64;
  struct Slot {
    std::vector<PyObject*> keys;       // owned references
    std::vector<std::uint32_t> order;  // canonical position -> insertion index
  };
  Slot slots[kSlots];
  KeyOrderCache() = default;
  KeyOrderCache(const KeyOrderCache&) = delete;
  KeyOrderCache& operator=(const KeyOrderCache&) = delete;
  ~KeyOrderCache() {
    for (Slot& s : slots) {
      for (PyObject* k : s.keys) Py_DECREF(k);
    }
  }
};

// Scratch of one walk, reused across calls.
struct WalkScratch {
  std::vector<TextEntry> pool;       // dict entries being sorted, nested dicts stacked
  std::vector<std::uint32_t> order;  // sort scratch, nested dicts stacked
  KeyOrderCache key_orders;
};

// The encoders and walk scratch reused by consecutive calls. Only one call
// uses them at a time (`busy`, read and set with the GIL held); a nested
// call (a __memokey__ hook calling memokey.key) or a call from another
// thread while the GIL is released for hashing gets fresh ones.
struct Scratch {
  KeyEncoder key;
  Encoder plain;
  WalkScratch walk;
  bool busy = false;
};

struct State {
  // Bound by memokey/__init__.py through _core._bind().
  PyObject* canonicalization_error = nullptr;
  PyObject* decode_error = nullptr;
  PyObject* tagged_type = nullptr;

  PyObject* registry = nullptr;  // dict: class -> function
  std::unordered_map<PyTypeObject*, std::shared_ptr<TypeInfo>> types;

  PyDateTime_CAPI* dt = nullptr;
  std::unique_ptr<Scratch> scratch = std::make_unique<Scratch>();

  // Interned names.
  PyObject* s_memokey = nullptr;    // "__memokey__"
  PyObject* s_module = nullptr;     // "__module__"
  PyObject* s_qualname = nullptr;   // "__qualname__"
  PyObject* s_reduce_ex = nullptr;  // "__reduce_ex__"
  PyObject* s_dict = nullptr;       // "__dict__"
  PyObject* s_utcoffset = nullptr;
  PyObject* s_as_tuple = nullptr;
  PyObject* s_numerator = nullptr;
  PyObject* s_denominator = nullptr;
  PyObject* s_bytes = nullptr;
  PyObject* s_start = nullptr;
  PyObject* s_stop = nullptr;
  PyObject* s_step = nullptr;
  PyObject* s_name_ = nullptr;       // "_name_"
  PyObject* s_value_ = nullptr;      // "_value_"
  PyObject* s_member_map = nullptr;  // "_member_map_"
  PyObject* s_default_factory = nullptr;
  PyObject* s_fields = nullptr;  // "_fields"
  PyObject* s_dtype = nullptr;
  PyObject* s_shape = nullptr;
  PyObject* s_str = nullptr;   // "str"
  PyObject* s_self = nullptr;  // "__self__"
  PyObject* s_tag = nullptr;
  PyObject* s_value = nullptr;

  // Lazily resolved classes and functions (owned; nullptr until seen).
  PyObject* ordered_dict = nullptr;
  PyObject* default_dict = nullptr;
  PyObject* decimal = nullptr;
  PyObject* fraction = nullptr;
  PyObject* uuid = nullptr;
  PyObject* pure_path = nullptr;
  PyObject* enum_type = nullptr;  // enum.EnumMeta
  PyObject* ndarray = nullptr;
  PyObject* np_generic = nullptr;
  PyObject* numpy_helpers = nullptr;  // the module memokey._numpy
  PyObject* newobj = nullptr;         // copyreg.__newobj__
  PyObject* newobj_ex = nullptr;      // copyreg.__newobj_ex__

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  ~State();

  bool init();         // interned strings, datetime C API; false with an exception set
  void clear_types();  // forget the dispatch cache (after register())
};

// Takes the State's scratch for one call, or makes fresh scratch when it is
// in use (a nested call: a __memokey__ hook computing a key, or a memoized
// call's key); gives it back (dropped when it grew too big to keep).
class ScratchLease {
 public:
  explicit ScratchLease(State& st) : st_(st) {
    if (!st.scratch->busy) {
      s_ = st.scratch.get();
      s_->busy = true;
    } else {
      own_ = std::make_unique<Scratch>();
      s_ = own_.get();
    }
  }
  ~ScratchLease() {
    if (own_) return;
    s_->busy = false;
    if (oversized) st_.scratch = std::make_unique<Scratch>();
  }
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  Scratch& operator*() { return *s_; }
  Scratch* operator->() { return s_; }
  bool oversized = false;

 private:
  State& st_;
  Scratch* s_;
  std::unique_ptr<Scratch> own_;
};

// The State of the module object passed as `self` to the functions.
inline State* StateOf(PyObject* self) {
  void* slot = PyModule_GetState(self);
  return slot != nullptr ? *static_cast<State**>(slot) : nullptr;
}

// A module attribute if that module is already imported (never imports);
// new reference or nullptr (no exception set).
PyObject* ImportedAttr(const char* module, const char* attr);

// Encoding entry points (encode.cc). Return false with a Python exception set.
// `oversized` is set when the encoder's buffer grew beyond what should be kept
// for reuse.
// `arg_names`, when given, names the items of `obj` (a tuple of arguments):
// an error path then starts at the name (x['hooks'][1]), not at obj[i].
bool EncodeObject(State& st, Encoder& enc, WalkScratch& scratch, PyObject* obj, bool* oversized,
                  const std::vector<std::string>* arg_names = nullptr);

// loads (decode.cc): new reference or nullptr with an exception set.
PyObject* LoadsImpl(State& st, PyObject* data, bool strict);

// Raises memokey.DecodeError(message, offset) (offset < 0: none).
void RaiseDecodeError(State& st, const std::string& message, Py_ssize_t offset);

}  // namespace memokey::py

#endif  // MEMOKEY_PYTHON_STATE_H_
