// encode.cc — the walk over Python objects that writes canonical form v1.
//
// docs/FORMAT.md §4 is the specification. The walk is C++ over the CPython
// API: exact built-in types take a fast path with no Python calls; every other
// type is classified once (TypeInfo, cached in the module State) and
// dispatched on its Kind.
//
// Bytes go to the memokey::Encoder (or the KeyEncoder's, which hashes them)
// through a small staging Writer: scalars and heads are written inline and
// handed over in batches with Encoder::raw(); maps with non-text keys and sets
// use the encoder's own sorting; large byte strings outside maps and sets go
// through Encoder::bytes(), which passes them to the hasher uncopied (with the
// GIL released from 1 MiB on). Dicts with text keys -- the common case -- are
// sorted by key before encoding (text encodings order by UTF-8 length, then
// bytes), with the order of recurring key sequences cached.
//
// References are taken lazily: small dicts and lists walk their entries and
// items as borrowed references, which nothing can change or free while no
// Python code runs. Before anything that may run Python code (a hook,
// __reduce_ex__, an attribute read, an allocation the garbage collector
// tracks) or release the GIL, protect() takes the references the enclosing
// frames need (Walker::Borrowed). A JSON-like document runs no Python code,
// so it is walked without touching a reference count.
//
// Errors cost nothing until they happen: a failing frame records the reason
// (and the Python exception that caused it, if any); every frame it unwinds
// through prepends its path segment ([i], ['key'], .attr), and the outermost
// call raises memokey.CanonicalizationError("obj['cfg'].items[3]: reason").

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "frames.h"
#include "memokey/cbor_bits.h"
#include "memokey/format.h"
#include "state.h"

#if PY_VERSION_HEX < 0x030B0000
#include <longintrepr.h>  // PyLongObject's digits (in Python.h from 3.11 on)
#endif

namespace memokey::py {

namespace {

// Nesting limit shared with the strict decoder (FORMAT.md §2): the value
// written at the top has depth 0, every array, map and tag adds one level to
// what it contains, and nothing may sit deeper than kDefaultMaxDepth.
constexpr unsigned kMaxDepth = kDefaultMaxDepth;
// Byte strings at least this long are copied/hashed with the GIL released.
constexpr std::size_t kReleaseGilMin = std::size_t{1} << 20;
// An encoder whose buffer grew beyond this is not kept for reuse.
constexpr std::size_t kKeepBuffer = std::size_t{4} << 20;

// Releases the GIL for its lifetime (exception-safe).
class GilRelease {
 public:
  GilRelease() : state_(PyEval_SaveThread()) {}
  ~GilRelease() { PyEval_RestoreThread(state_); }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* state_;
};

// Holds a Py_buffer (and so the exporting object) until destroyed.
class Buffer {
 public:
  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (held_) PyBuffer_Release(&view_);
  }
  bool get(PyObject* o, int flags) {
    if (PyObject_GetBuffer(o, &view_, flags) != 0) return false;
    held_ = true;
    return true;
  }
  Py_buffer& view() { return view_; }

 private:
  Py_buffer view_{};
  bool held_ = false;
};

std::string Utf8(PyObject* o) {
  if (o == nullptr) return "?";
  if (PyUnicode_Check(o)) {
    Py_ssize_t n;
    const char* s = PyUnicode_AsUTF8AndSize(o, &n);
    if (s != nullptr) return std::string(s, static_cast<std::size_t>(n));
    PyErr_Clear();
    return "?";
  }
  Ref text = Ref::steal(PyObject_Str(o));
  if (!text) {
    PyErr_Clear();
    return "?";
  }
  return Utf8(text.get());
}

// repr(o) for messages; never fails. Long reprs are shortened.
std::string Repr(PyObject* o) {
  Ref r = Ref::steal(PyObject_Repr(o));
  if (!r) {
    PyErr_Clear();
    return std::string("<") + Py_TYPE(o)->tp_name + " object>";
  }
  Py_ssize_t n;
  const char* s = PyUnicode_AsUTF8AndSize(r.get(), &n);
  if (s == nullptr) {
    PyErr_Clear();
    return std::string("<") + Py_TYPE(o)->tp_name + " object>";
  }
  std::string out(s, static_cast<std::size_t>(n));
  if (out.size() > 80) out = out.substr(0, 77) + "...";
  return out;
}

std::string TypeName(PyTypeObject* t) {
  Ref q = Ref::steal(PyObject_GetAttrString(reinterpret_cast<PyObject*>(t), "__qualname__"));
  if (!q) {
    PyErr_Clear();
    return t->tp_name;
  }
  return Utf8(q.get());
}

// The object at module:qualname if `module` is imported (never imports);
// new reference or nullptr (no exception set).
PyObject* Lookup(const std::string& module, const std::string& qualname) {
  Ref name = Ref::steal(
      PyUnicode_FromStringAndSize(module.data(), static_cast<Py_ssize_t>(module.size())));
  if (!name) {
    PyErr_Clear();
    return nullptr;
  }
  Ref cur = Ref::steal(PyImport_GetModule(name.get()));
  if (!cur) {
    PyErr_Clear();
    return nullptr;
  }
  std::size_t start = 0;
  while (start <= qualname.size()) {
    std::size_t dot = qualname.find('.', start);
    if (dot == std::string::npos) dot = qualname.size();
    std::string part = qualname.substr(start, dot - start);
    cur = Ref::steal(PyObject_GetAttrString(cur.get(), part.c_str()));
    if (!cur) {
      PyErr_Clear();
      return nullptr;
    }
    start = dot + 1;
  }
  return cur.release();
}

// "module:qualname" of a class or function `o`, checked to lead back to `o`
// when `verify`. Returns false with *error set when it has none.
bool GlobalName(PyObject* o, PyObject* module, PyObject* qualname, bool verify, std::string* id,
                std::string* error) {
  if (module == nullptr || !PyUnicode_Check(module) || qualname == nullptr ||
      !PyUnicode_Check(qualname)) {
    *error = Repr(o) + " has no __module__/__qualname__ to identify it by";
    return false;
  }
  Py_ssize_t mn, qn;
  const char* m = PyUnicode_AsUTF8AndSize(module, &mn);
  const char* q = m ? PyUnicode_AsUTF8AndSize(qualname, &qn) : nullptr;
  if (m == nullptr || q == nullptr) {
    PyErr_Clear();
    *error = "the name of " + Repr(o) + " is not valid UTF-8";
    return false;
  }
  std::string mod(m, static_cast<std::size_t>(mn)), qual(q, static_cast<std::size_t>(qn));
  const bool is_class = PyType_Check(o);
  const char* what = is_class ? "class" : "function";
  if (qual.find("<lambda>") != std::string::npos) {
    *error = "a lambda (" + mod + ":" + qual +
             ") has no stable identity: define the function with def at module level "
             "(or use functools.partial over a module-level function)";
    return false;
  }
  if (qual.find("<locals>") != std::string::npos) {
    *error = std::string("the ") + what + " " + mod + ":" + qual +
             " is defined inside a function and has no stable identity: define it at module level";
    return false;
  }
  if (qual.find('<') != std::string::npos) {
    *error = std::string("the ") + what + " " + mod + ":" + qual + " has no stable identity";
    return false;
  }
  if (verify) {
    Ref found = Ref::steal(Lookup(mod, qual));
    if (found.get() != o) {
      *error = std::string("the ") + what + " " + mod + ":" + qual +
               (found ? " does not lead back to it (another object has that name: was it "
                        "redefined, decorated or created dynamically?)"
                      : " cannot be found under that name (module not imported, or the object "
                        "was created dynamically)");
      return false;
    }
  }
  *id = mod + ":" + qual;
  return true;
}

bool ClassId(PyTypeObject* t, std::string* id, std::string* error) {
  PyObject* to = reinterpret_cast<PyObject*>(t);
  Ref module = Ref::steal(PyObject_GetAttrString(to, "__module__"));
  if (!module) PyErr_Clear();
  Ref qualname = Ref::steal(PyObject_GetAttrString(to, "__qualname__"));
  if (!qualname) PyErr_Clear();
  // Static (C) types cannot be redefined: their name is their identity even
  // when it is not reachable as an attribute (builtins:method).
  const bool verify = (t->tp_flags & Py_TPFLAGS_HEAPTYPE) != 0;
  return GlobalName(to, module.get(), qualname.get(), verify, id, error);
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

// Resolves a lazily imported class into *slot if its module is imported.
PyObject* Resolve(PyObject** slot, const char* module, const char* attr) {
  if (*slot == nullptr) *slot = ImportedAttr(module, attr);
  return *slot;
}

// hasattr(o, name): 1, 0, or -1 with an exception set.
int HasAttr(PyObject* o, PyObject* name) {
  Ref v = Ref::steal(PyObject_GetAttr(o, name));
  if (v) return 1;
  if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
  PyErr_Clear();
  return 0;
}

bool IsSubtypeOf(PyTypeObject* t, PyObject* base) {
  return base != nullptr && PyType_Check(base) &&
         PyType_IsSubtype(t, reinterpret_cast<PyTypeObject*>(base));
}

// A staging buffer in front of memokey::Encoder. Scalars and heads are
// written here with inline code and handed to the encoder in batches through
// Encoder::raw(); every call that needs the encoder's own bookkeeping (maps
// and sets it sorts, large byte strings it passes to the hasher uncopied)
// flushes first, so the byte order is exactly the encoder's.
#define MEMOKEY_INLINE [[gnu::always_inline]] inline

class Writer {
 public:
  explicit Writer(Encoder& e) : e_(e) {}
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void flush() {
    if (n_ != 0) {
      e_.raw(ByteSpan(buf_, n_));
      n_ = 0;
    }
  }

  MEMOKEY_INLINE void head(std::uint8_t major, std::uint64_t arg) {
    if (n_ + 2 <= kCapacity) [[likely]] {
      if (arg < 24) {
        buf_[n_++] = static_cast<std::uint8_t>(major << 5 | arg);
        return;
      }
      if (arg < 256) {
        buf_[n_] = static_cast<std::uint8_t>(major << 5 | 24);
        buf_[n_ + 1] = static_cast<std::uint8_t>(arg);
        n_ += 2;
        return;
      }
    }
    long_head(major, arg);
  }
  [[gnu::noinline]] void long_head(std::uint8_t major, std::uint64_t arg) {
    if (n_ + kMaxHeadBytes > kCapacity) flush();
    n_ += WriteHead(buf_ + n_, major, arg);
  }
  // The 5-byte head of a tag in memokey's block (da 00 6d 6b nn).
  MEMOKEY_INLINE void mk_tag(std::uint64_t t) {
    if (n_ + 5 > kCapacity) flush();
    std::uint8_t* p = buf_ + n_;
    p[0] = 0xda;
    p[1] = static_cast<std::uint8_t>(t >> 24);
    p[2] = static_cast<std::uint8_t>(t >> 16);
    p[3] = static_cast<std::uint8_t>(t >> 8);
    p[4] = static_cast<std::uint8_t>(t);
    n_ += 5;
  }
  MEMOKEY_INLINE void put(const void* data, std::size_t size) {
    if (size <= 16 && size <= kCapacity - n_) {
      // Short strings: overlapping fixed-size copies instead of a memcpy call.
      const auto* src = static_cast<const std::uint8_t*>(data);
      std::uint8_t* dst = buf_ + n_;
      if (size >= 8) {
        std::uint64_t a, b;
        std::memcpy(&a, src, 8);
        std::memcpy(&b, src + size - 8, 8);
        std::memcpy(dst, &a, 8);
        std::memcpy(dst + size - 8, &b, 8);
      } else if (size >= 4) {
        std::uint32_t a, b;
        std::memcpy(&a, src, 4);
        std::memcpy(&b, src + size - 4, 4);
        std::memcpy(dst, &a, 4);
        std::memcpy(dst + size - 4, &b, 4);
      } else if (size != 0) {  // 1..3 bytes: first, middle, last
        dst[0] = src[0];
        dst[size / 2] = src[size / 2];
        dst[size - 1] = src[size - 1];
      }
      n_ += size;
      return;
    }
    if (size > kCapacity - n_) {
      flush();
      if (size > kCapacity / 2) {
        e_.raw(ByteSpan(static_cast<const std::uint8_t*>(data), size));
        return;
      }
    }
    std::memcpy(buf_ + n_, data, size);
    n_ += size;
  }

  MEMOKEY_INLINE void null() { byte(0xf6); }
  MEMOKEY_INLINE void boolean(bool v) { byte(v ? 0xf5 : 0xf4); }
  MEMOKEY_INLINE void uint(std::uint64_t v) { head(0, v); }
  MEMOKEY_INLINE void int64(std::int64_t v) {
    if (v >= 0) {
      head(0, static_cast<std::uint64_t>(v));
    } else {
      head(1, static_cast<std::uint64_t>(-(v + 1)));
    }
  }
  MEMOKEY_INLINE void array(std::uint64_t n) { head(4, n); }
  MEMOKEY_INLINE void map(std::uint64_t n) { head(5, n); }
  MEMOKEY_INLINE void tag(std::uint64_t t) { head(6, t); }
  MEMOKEY_INLINE void text_unchecked(std::string_view s) {
    head(3, s.size());
    put(s.data(), s.size());
  }
  MEMOKEY_INLINE void float64(double v) {
    if (n_ + kMaxHeadBytes > kCapacity) flush();
    n_ += WriteFloat(buf_ + n_, v);
  }
  // Byte strings: small ones are staged; large ones go through the encoder,
  // which passes them to the hasher without a copy when outside maps/sets.
  void bytes(const void* data, std::size_t size) {
    if (size < Encoder::kDirectWriteMin) {
      head(2, size);
      put(data, size);
    } else {
      flush();
      e_.bytes(data, size);
    }
  }
  void bignum(bool negative, ByteSpan magnitude) {
    flush();
    e_.bignum(negative, magnitude);
  }
  // Encoder-level containers (maps with non-text keys, sets).
  void begin_map() {
    flush();
    e_.begin_map();
  }
  void begin_set() {
    flush();
    e_.begin_set();
  }
  void item() {
    flush();
    e_.item();
  }
  void end_map() {
    flush();
    e_.end_map();
  }
  void end_set() {
    flush();
    e_.end_set();
  }
  std::size_t buffered() const { return e_.buffer().size() + n_; }
  // The encoder itself, for writers that flush() first (frames.cc).
  Encoder& encoder() { return e_; }

 private:
  static constexpr std::size_t kCapacity = 1024;
  MEMOKEY_INLINE void byte(std::uint8_t b) {
    if (n_ == kCapacity) flush();
    buf_[n_++] = b;
  }
  Encoder& e_;
  std::size_t n_ = 0;
  std::uint8_t buf_[kCapacity];
};

// The value of an int of at most one internal digit, read without a call.
MEMOKEY_INLINE bool CompactLong(PyObject* o, std::int64_t* v) {
#if PY_VERSION_HEX >= 0x030C0000
  if (!PyUnstable_Long_IsCompact(reinterpret_cast<PyLongObject*>(o))) return false;
  *v = static_cast<std::int64_t>(PyUnstable_Long_CompactValue(reinterpret_cast<PyLongObject*>(o)));
  return true;
#else
  const Py_ssize_t size = Py_SIZE(o);
  if (size < -1 || size > 1) return false;
  *v = static_cast<std::int64_t>(size) *
       static_cast<std::int64_t>(reinterpret_cast<PyLongObject*>(o)->ob_digit[0]);
  return true;
#endif
}

class Walker {
 public:
  Walker(State& st, Writer& w, WalkScratch& scratch)
      : st_(st),
        w_(w),
        pool_(scratch.pool),
        order_(scratch.order),
        key_orders_(scratch.key_orders),
        path_size_(0) {}

  // One value at depth d. Scalars of the exact built-in types are written
  // inline in the caller's loop; everything else goes to container().
  MEMOKEY_INLINE bool value(PyObject* o, unsigned d) {
    PyTypeObject* t = Py_TYPE(o);
    if (t == &PyUnicode_Type) {
      if (PyUnicode_IS_COMPACT_ASCII(o)) {
        w_.text_unchecked(std::string_view(reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(o)),
                                           static_cast<std::size_t>(PyUnicode_GET_LENGTH(o))));
        return true;
      }
      return text(o);
    }
    if (t == &PyFloat_Type) {
      w_.float64(PyFloat_AS_DOUBLE(o));
      return true;
    }
    if (t == &PyLong_Type) {
      std::int64_t small;
      if (CompactLong(o, &small)) {
        w_.int64(small);
        return true;
      }
      return integer(o, d);
    }
    if (o == Py_None) {
      w_.null();
      return true;
    }
    if (t == &PyBool_Type) {
      w_.boolean(o == Py_True);
      return true;
    }
    return container(o, d);
  }
  bool container(PyObject* o, unsigned d);
  // After a failure: raises the CanonicalizationError (or re-raises what
  // must pass through untouched). `arg_names` name the items of the value
  // (a tuple of arguments): the path then starts at the name.
  void raise(const std::vector<std::string>* arg_names);
  bool oversized() const { return oversized_; }

 private:
  // --- failure protocol ------------------------------------------------------
  bool fail(std::string reason) {
    failure().reason = std::move(reason);
    return false;
  }
  // Fails with the pending Python exception as the cause.
  bool fail_py(const std::string& context);
  bool seg(std::string s) {
    failure().segs.push_back(std::move(s));
    return false;
  }
  bool seg_index(Py_ssize_t i) { return seg("[" + std::to_string(i) + "]"); }
  bool seg_key(PyObject* k) { return seg("[" + repr(k) + "]"); }
  bool seg_attr(PyObject* name) {
    protect();
    return seg("." + Utf8(name));
  }
  // repr(o) for a message: may run Python code.
  std::string repr(PyObject* o) {
    protect();
    return Repr(o);
  }
  bool seg_attr(const char* name) { return seg(std::string(".") + name); }

  MEMOKEY_INLINE bool deeper(unsigned child_depth) {
    if (child_depth > kMaxDepth) [[unlikely]]
      return too_deep();
    return true;
  }
  [[gnu::noinline]] bool too_deep() {
    return fail("nesting deeper than " + std::to_string(kMaxDepth) +
                " levels (the canonical form's depth limit)");
  }
  MEMOKEY_INLINE bool push(PyObject* o) {
    for (std::size_t i = 0; i < path_size_; ++i) {
      if (path_[i] == o) [[unlikely]]
        return cycle(o);
    }
    // Every container on the path is nested one level deeper than the one
    // before it and depth is checked first, so this does not fill up.
    if (path_size_ == kMaxPath) [[unlikely]]
      return too_deep();
    path_[path_size_++] = o;
    return true;
  }
  [[gnu::noinline]] bool cycle(PyObject* o) {
    return fail(std::string("cycle: this ") + Py_TYPE(o)->tp_name +
                " contains itself (canonical form has no references)");
  }
  void pop() { --path_size_; }

  // --- borrowed references ---------------------------------------------------
  // Small dicts and lists do not take references on the entries and items
  // they walk: while no Python code runs (and the GIL is held), nothing can
  // change or free them. Each such container registers a Borrowed frame;
  // everything that may run Python code, allocate objects the garbage
  // collector tracks or release the GIL calls protect() first, which takes
  // the references the frames on the path need from then on (a dict's
  // entries, a list's current item), as the walk always did.
  struct Borrowed {
    Borrowed(Walker& w, TextEntry* e) : walker(w), below(w.borrowed_), entries(e) {
      w.borrowed_ = this;
    }
    ~Borrowed() {
      walker.borrowed_ = below;
      if (owned) {
        for (std::size_t i = 0; i < count; ++i) {
          Py_DECREF(entries[i].k);
          Py_DECREF(entries[i].v);
        }
      }
      Py_XDECREF(held);
    }
    Borrowed(const Borrowed&) = delete;
    Borrowed& operator=(const Borrowed&) = delete;
    // A list's item is done: drops the reference protect() took on it.
    MEMOKEY_INLINE void item_done() {
      if (held != nullptr) [[unlikely]] {
        PyObject* h = held;
        held = nullptr;
        item = nullptr;  // the reference dropped may have been its last
        Py_DECREF(h);
      }
    }
    Walker& walker;
    Borrowed* below;
    TextEntry* entries;        // a dict's entries [0, count), or nullptr for a list
    std::size_t count = 0;     // dict: entries collected so far
    bool owned = false;        // dict: references taken on every entry
    PyObject* item = nullptr;  // list: the item being walked
    PyObject* held = nullptr;  // list: the reference taken on it
  };
  // Takes the references the Borrowed frames on the path need. A frame
  // protected once stays so for what it is walking now (a dict for all its
  // entries, a list for its current item), and the frames below it were
  // protected at the same time: the walk down the frames stops there.
  MEMOKEY_INLINE void protect() {
    if (borrowed_ != nullptr) protect_frames();
  }
  [[gnu::noinline]] void protect_frames();
  // Without a GIL other threads run meanwhile: take the references always.
  static constexpr bool kBorrow =
#ifdef Py_GIL_DISABLED
      false;
#else
      true;
#endif
  // UTF-8 of a str: without a call for compact ASCII strings.
  MEMOKEY_INLINE const char* utf8(PyObject* o, Py_ssize_t* n) {
    if (PyUnicode_IS_COMPACT_ASCII(o)) {
      *n = PyUnicode_GET_LENGTH(o);
      return reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(o));
    }
    protect();  // encoding may fail, and a failure allocates an exception
    return PyUnicode_AsUTF8AndSize(o, n);
  }

  // --- pieces ---------------------------------------------------------------
  bool text(PyObject* o);
  bool integer(PyObject* o, unsigned d);
  bool bytes(const void* data, std::size_t size);
  bool buffer_bytes(PyObject* o);
  bool tuple_items(PyObject* o, unsigned d);
  bool list_items(PyObject* o, unsigned d);
  bool dict_map(PyObject* o, unsigned d);
  bool str_key_map(PyObject* dict, unsigned d);  // keys as .attr segments
  // Appends to order_ the canonical order of pool_[base, base + count).
  const std::uint32_t* text_key_order(std::size_t base, std::size_t count);
  // The canonical order of entries[0, count) into order[0, count) (count <= 16).
  void small_text_key_order(const TextEntry* entries, std::size_t count, std::uint32_t* order);
  bool small_text_dict(PyObject* o, Py_ssize_t n, unsigned d, bool* handled);
  bool set(PyObject* o, unsigned d, std::uint64_t tag_number);
  bool ordered_items(PyObject* o, unsigned d);
  bool other(PyObject* o, unsigned d);
  bool class_id(const TypeInfo& ti) {
    if (!ti.id_error.empty()) return fail(ti.id_error);
    w_.text_unchecked(ti.class_id);
    return true;
  }
  bool global(std::string_view id, unsigned d) {
    if (!deeper(d + 1)) return false;
    w_.tag(tag::kGlobal);
    w_.text_unchecked(id);
    return true;
  }
  bool function(PyObject* o, unsigned d);
  bool builtin_function(PyObject* o, unsigned d, const TypeInfo& ti);
  bool date(PyObject* o);
  bool datetime(PyObject* o, bool is_time);
  bool utcoffset(PyObject* o);
  bool decimal(PyObject* o, unsigned d);
  bool enum_member(PyObject* o, unsigned d, const TypeInfo& ti);
  bool record(PyObject* o, unsigned d, const TypeInfo& ti);
  bool builtin_subclass(PyObject* o, unsigned d, const TypeInfo& ti);
  bool attributes(PyObject* o, const TypeInfo& ti, Ref* out);
  bool ndarray(PyObject* o, unsigned d);
  bool numpy_scalar(PyObject* o, unsigned d);
  bool frame(PyObject* o, unsigned d, const TypeInfo& ti);
  bool column(PyObject* spec, PyObject* helpers, unsigned d);
  bool reduce(PyObject* o, unsigned d, const TypeInfo& ti);
  bool hook(PyObject* o, unsigned d, const TypeInfo& ti, bool registered);
  bool tagged(PyObject* o, unsigned d);
  // The cached classification of t (classified on first sight); nullptr with
  // an exception set when classifying failed.
  const std::shared_ptr<TypeInfo>* info(PyTypeObject* t);
  bool classify(PyTypeObject* t, TypeInfo* ti);
  PyObject* numpy_helpers();

  State& st_;
  Writer& w_;
  std::vector<TextEntry>& pool_;
  std::vector<std::uint32_t>& order_;
  KeyOrderCache& key_orders_;
  // The containers on the current path, for the cycle check (a nested
  // memokey call has its own Walker and path). Left uninitialized.
  static constexpr std::size_t kMaxPath = 2 * std::size_t{kMaxDepth} + 8;
  std::size_t path_size_;
  PyObject* path_[kMaxPath];
  Borrowed* borrowed_ = nullptr;  // the innermost Borrowed frame
  bool oversized_ = false;
  // The failure record, made when something fails (the success path
  // constructs and destroys nothing).
  struct Failure {
    std::string reason;
    Ref cause;
    bool passthrough = false;
    std::vector<std::string> segs;  // innermost first
  };
  Failure& failure() {
    if (!failure_) failure_ = std::make_unique<Failure>();
    return *failure_;
  }
  std::unique_ptr<Failure> failure_;
};

bool Walker::fail_py(const std::string& context) {
  protect();  // normalizing and formatting the exception may run Python code
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (type == nullptr) return fail(context);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  Py_XDECREF(tb);
  Ref type_ref = Ref::steal(type);
  Failure& f = failure();
  f.cause = Ref::steal(value);
  if (!PyErr_GivenExceptionMatches(type, PyExc_Exception) ||
      PyErr_GivenExceptionMatches(type, PyExc_MemoryError)) {
    f.passthrough = true;  // KeyboardInterrupt, SystemExit, MemoryError: not ours to wrap
    return false;
  }
  std::string msg;
  if (st_.canonicalization_error != nullptr &&
      PyErr_GivenExceptionMatches(type, st_.canonicalization_error)) {
    msg = Utf8(f.cause.get());  // a nested memokey call: keep its whole message
  } else {
    msg = TypeName(reinterpret_cast<PyTypeObject*>(type));
    std::string text = Utf8(f.cause.get());
    if (!text.empty()) msg += ": " + text;
  }
  return fail(context.empty() ? msg : context + " (" + msg + ")");
}

void Walker::protect_frames() {
  for (Borrowed* f = borrowed_; f != nullptr; f = f->below) {
    if (f->entries != nullptr) {
      if (f->owned) return;
      for (std::size_t i = 0; i < f->count; ++i) {
        Py_INCREF(f->entries[i].k);
        Py_INCREF(f->entries[i].v);
      }
      f->owned = true;
    } else if (f->held != nullptr) {
      return;
    } else if (f->item != nullptr) {
      Py_INCREF(f->item);
      f->held = f->item;
    }
  }
}

// The path for a message: a long one (a deeply nested value) keeps its first
// and last segments around the count of those left out.
std::string ElidedPath(const std::string& root, const std::vector<std::string>& segs) {
  constexpr std::size_t kKeep = 8;  // segments kept at each end
  std::string path = root;
  const std::size_t n = segs.size();  // innermost first
  if (n <= 3 * kKeep) {
    for (auto it = segs.rbegin(); it != segs.rend(); ++it) path += *it;
    return path;
  }
  for (std::size_t i = 0; i < kKeep; ++i) path += segs[n - 1 - i];
  path += "...[" + std::to_string(n - 2 * kKeep) + " more]...";
  for (std::size_t i = kKeep; i-- > 0;) path += segs[i];
  return path;
}

void Walker::raise(const std::vector<std::string>* arg_names) {
  Failure& f = failure();
  if (f.passthrough && f.cause) {
    PyObject* v = f.cause.release();
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(v)), v);
    Py_DECREF(v);
    return;
  }
  if (PyErr_Occurred()) {  // an error nobody recorded (should not happen)
    fail_py("");
    if (f.passthrough) return raise(arg_names);
  }
  std::string root = "obj";
  bool named = false;  // the path starts at a parameter's name
  if (arg_names != nullptr && !f.segs.empty()) {
    // The outermost segment is "[i]", the index into the argument tuple.
    const std::string& top = f.segs.back();
    std::size_t i = 0;
    if (top.size() > 2 && top.front() == '[' && top.back() == ']') {
      const char* end = top.data() + top.size() - 1;
      const auto [ptr, ec] = std::from_chars(top.data() + 1, end, i);
      if (ec == std::errc() && ptr == end && i < arg_names->size()) {
        root = (*arg_names)[i];
        named = true;
        f.segs.pop_back();
      }
    }
  }
  std::string path = named ? root : std::string();
  for (auto it = f.segs.rbegin(); it != f.segs.rend(); ++it) path += *it;
  std::string message = ElidedPath(root, f.segs) + ": " + f.reason;
  PyObject* cls =
      st_.canonicalization_error != nullptr ? st_.canonicalization_error : PyExc_TypeError;
  Ref msg = Ref::steal(
      PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "replace"));
  Ref exc = msg ? Ref::steal(PyObject_CallOneArg(cls, msg.get())) : Ref();
  if (!exc) return;  // exception already set
  Ref path_obj = Ref::steal(
      PyUnicode_DecodeUTF8(path.data(), static_cast<Py_ssize_t>(path.size()), "replace"));
  Ref reason_obj = Ref::steal(
      PyUnicode_DecodeUTF8(f.reason.data(), static_cast<Py_ssize_t>(f.reason.size()), "replace"));
  if (!path_obj || !reason_obj || PyObject_SetAttrString(exc.get(), "path", path_obj.get()) != 0 ||
      PyObject_SetAttrString(exc.get(), "reason", reason_obj.get()) != 0) {
    PyErr_Clear();
  }
  if (f.cause) PyException_SetCause(exc.get(), f.cause.release());
  PyErr_SetObject(cls, exc.get());
}

// --- scalars --------------------------------------------------------------------

bool Walker::text(PyObject* o) {
  Py_ssize_t n;
  const char* s = utf8(o, &n);
  if (s == nullptr) {
    return fail_py("str with a lone surrogate has no UTF-8 form, so no canonical form");
  }
  w_.text_unchecked(std::string_view(s, static_cast<std::size_t>(n)));
  return true;
}

bool Walker::integer(PyObject* o, unsigned d) {
  std::int64_t small;
  if (CompactLong(o, &small)) {
    w_.int64(small);
    return true;
  }
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(o, &overflow);
  if (overflow == 0) {
    if (v == -1 && PyErr_Occurred()) return fail_py("");
    w_.int64(v);
    return true;
  }
  // Big: two's complement bytes, big-endian, with room for the sign bit;
  // for a negative n, ~n == -1 - n is CBOR's magnitude.
  std::vector<std::uint8_t> buf;
#if PY_VERSION_HEX >= 0x030D0000
  const Py_ssize_t need = PyLong_AsNativeBytes(o, nullptr, 0, Py_ASNATIVEBYTES_BIG_ENDIAN);
  if (need < 0) return fail_py("");
  buf.resize(static_cast<std::size_t>(need) + 1);
  if (PyLong_AsNativeBytes(o, buf.data(), static_cast<Py_ssize_t>(buf.size()),
                           Py_ASNATIVEBYTES_BIG_ENDIAN) < 0) {
    return fail_py("");
  }
#else
  const std::size_t bits = _PyLong_NumBits(o);
  if (bits == static_cast<std::size_t>(-1) && PyErr_Occurred()) return fail_py("");
  buf.resize(bits / 8 + 1);
  if (_PyLong_AsByteArray(reinterpret_cast<PyLongObject*>(o), buf.data(), buf.size(), 0, 1) < 0) {
    return fail_py("");
  }
#endif
  if (overflow < 0) {
    for (auto& b : buf) b = static_cast<std::uint8_t>(~b);
  }
  std::size_t significant = buf.size();
  for (std::uint8_t b : buf) {
    if (b != 0) break;
    --significant;
  }
  if (significant > 8 && !deeper(d + 1)) return false;  // tag 2/3 over a byte string
  w_.bignum(overflow < 0, ByteSpan(buf.data(), buf.size()));
  return true;
}

bool Walker::bytes(const void* data, std::size_t size) {
  if (size >= kReleaseGilMin) {
    protect();  // other threads run meanwhile
    w_.flush();
    GilRelease unlocked;
    w_.bytes(data, size);
  } else {
    w_.bytes(data, size);
  }
  return true;
}

// The content of a buffer-protocol object (bytearray, memoryview) in C order.
bool Walker::buffer_bytes(PyObject* o) {
  Buffer buf;
  if (!buf.get(o, PyBUF_FULL_RO)) return fail_py("cannot read the buffer");
  Py_buffer& v = buf.view();
  if (PyBuffer_IsContiguous(&v, 'C')) return bytes(v.buf, static_cast<std::size_t>(v.len));
  std::vector<std::uint8_t> copy(static_cast<std::size_t>(v.len));
  if (PyBuffer_ToContiguous(copy.data(), &v, v.len, 'C') != 0)
    return fail_py("cannot read the buffer");
  return bytes(copy.data(), copy.size());
}

// --- containers -------------------------------------------------------------------

bool Walker::tuple_items(PyObject* o, unsigned d) {
  const Py_ssize_t n = PyTuple_GET_SIZE(o);
  if (n > 0 && !deeper(d + 1)) return false;
  w_.array(static_cast<std::uint64_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!value(PyTuple_GET_ITEM(o, i), d + 1)) return seg_index(i);
  }
  return true;
}

bool Walker::list_items(PyObject* o, unsigned d) {
  const Py_ssize_t n = PyList_GET_SIZE(o);
  if (n == 0) {
    w_.array(0);
    return true;
  }
  if (!deeper(d + 1) || !push(o)) return false;
  w_.array(static_cast<std::uint64_t>(n));
  Borrowed frame(*this, nullptr);
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (i >= PyList_GET_SIZE(o)) return fail("the list changed size while it was being encoded");
    PyObject* item = PyList_GET_ITEM(o, i);
    frame.item = item;
    if constexpr (!kBorrow) protect();
    const bool ok = value(item, d + 1);
    frame.item_done();
    if (!ok) return seg_index(i);
  }
  if (PyList_GET_SIZE(o) != n) return fail("the list changed size while it was being encoded");
  pop();
  return true;
}

// Big-endian loads: unsigned comparisons of them order bytes like memcmp.
MEMOKEY_INLINE std::uint64_t LoadBe32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return __builtin_bswap32(v);
}

// Sorts entries by (UTF-8 length, bytes): the order of their text encodings.
// Keys of up to 8 bytes compare without a call: 4..8 bytes as (first 4,
// last 4) -- where they overlap the bytes are equal, so the first difference
// decides as in memcmp -- and 1..3 bytes as (first, middle, last).
MEMOKEY_INLINE bool TextLess(const TextEntry& x, const TextEntry& y) {
  if (x.size != y.size) return x.size < y.size;
  const std::size_t n = x.size;
  if (n > 8) return std::memcmp(x.key, y.key, n) < 0;
  if (n >= 4) {
    return (LoadBe32(x.key) << 32 | LoadBe32(x.key + n - 4)) <
           (LoadBe32(y.key) << 32 | LoadBe32(y.key + n - 4));
  }
  if (n == 0) return false;
  auto bytes3 = [n](const char* p) {
    return static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[0])) << 16 |
           static_cast<std::uint32_t>(static_cast<std::uint8_t>(p[n / 2])) << 8 |
           static_cast<std::uint8_t>(p[n - 1]);
  };
  return bytes3(x.key) < bytes3(y.key);
}

// The cache slot of a key sequence: one multiply over the first and last
// key and the count (the top bits of the product). The full comparison in
// CachedOrder decides whether it holds this sequence.
KeyOrderCache::Slot& OrderSlot(KeyOrderCache& cache, const TextEntry* entries, std::size_t count) {
  static_assert((KeyOrderCache::kSlots & (KeyOrderCache::kSlots - 1)) == 0);
  constexpr int kSlotBits = std::countr_zero(KeyOrderCache::kSlots);
  const std::uint64_t hash = ((reinterpret_cast<std::uintptr_t>(entries[0].k) ^
                               (reinterpret_cast<std::uintptr_t>(entries[count - 1].k) << 7)) +
                              count) *
                             0x9E3779B97F4A7C15ULL;
  return cache.slots[hash >> (64 - kSlotBits)];
}

// The canonical order the slot remembers for exactly these key objects, or
// nullptr. (The slot owns its keys, so the same pointers are the same strings.)
MEMOKEY_INLINE const std::uint32_t* CachedOrder(const KeyOrderCache::Slot& slot,
                                                const TextEntry* entries, std::size_t count) {
  if (slot.keys.size() != count) return nullptr;
  PyObject* const* keys = slot.keys.data();
  bool same = true;
  for (std::size_t i = 0; i < count; ++i) same &= keys[i] == entries[i].k;
  return same ? slot.order.data() : nullptr;
}

void Remember(KeyOrderCache::Slot& slot, const TextEntry* entries, std::size_t count,
              const std::uint32_t* order) {
  if (count > KeyOrderCache::kMaxKeys) return;
  for (PyObject* k : slot.keys) Py_DECREF(k);
  slot.keys.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    Py_INCREF(entries[i].k);
    slot.keys[i] = entries[i].k;
  }
  slot.order.assign(order, order + count);
}

void Walker::small_text_key_order(const TextEntry* entries, std::size_t count,
                                  std::uint32_t* order) {
  if (count == 2) {  // one comparison is cheaper than the cache
    const bool swap = TextLess(entries[1], entries[0]);
    order[0] = swap ? 1 : 0;
    order[1] = swap ? 0 : 1;
    return;
  }
  KeyOrderCache::Slot& slot = OrderSlot(key_orders_, entries, count);
  if (const std::uint32_t* cached = CachedOrder(slot, entries, count)) {
    for (std::size_t i = 0; i < count; ++i) order[i] = cached[i];
    return;
  }
  for (std::size_t i = 0; i < count; ++i) {  // insertion sort
    const auto v = static_cast<std::uint32_t>(i);
    std::size_t j = i;
    while (j > 0 && TextLess(entries[v], entries[order[j - 1]])) {
      order[j] = order[j - 1];
      --j;
    }
    order[j] = v;
  }
  Remember(slot, entries, count, order);
}

// A dict of 2..16 entries with text keys, from arrays on the stack. Sets
// *handled to false (and writes nothing) when a key is not an exact str.
bool Walker::small_text_dict(PyObject* o, Py_ssize_t n, unsigned d, bool* handled) {
  TextEntry entries[16];
  std::uint32_t order[16];
  Borrowed frame(*this, entries);
  // The count and the ownership live in registers while collecting; the
  // frame is updated before anything that may call protect().
  std::size_t count = 0;
  bool owned = false;
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  for (Py_ssize_t i = 0; i < n && PyDict_Next(o, &pos, &k, &v); ++i) {
    Py_ssize_t size;
    const char* s;
    if (Py_IS_TYPE(k, &PyUnicode_Type) && PyUnicode_IS_COMPACT_ASCII(k)) [[likely]] {
      size = PyUnicode_GET_LENGTH(k);
      s = reinterpret_cast<const char*>(PyUnicode_1BYTE_DATA(k));
    } else {
      frame.count = count;
      s = PyUnicode_CheckExact(k) ? utf8(k, &size) : nullptr;  // may protect()
      owned = frame.owned;
      if (s == nullptr) {
        PyErr_Clear();
        *handled = false;
        return true;
      }
    }
    if (owned) [[unlikely]] {
      Py_INCREF(k);
      Py_INCREF(v);
    }
    entries[count++] = TextEntry{s, static_cast<std::size_t>(size), k, v};
  }
  frame.count = count;
  *handled = true;
  if constexpr (!kBorrow) protect();
  small_text_key_order(entries, count, order);
  w_.map(count);
  for (std::size_t i = 0; i < count; ++i) {
    const TextEntry& entry = entries[order[i]];
    w_.text_unchecked(std::string_view(entry.key, entry.size));
    if (!value(entry.v, d + 1)) return seg_key(entry.k);
  }
  if (PyDict_GET_SIZE(o) != n) return fail("the dict changed size while it was being encoded");
  pop();
  return true;
}

const std::uint32_t* Walker::text_key_order(std::size_t base, std::size_t count) {
  const std::size_t order_base = order_.size();
  const TextEntry* entries = pool_.data() + base;
  KeyOrderCache::Slot& slot = OrderSlot(key_orders_, entries, count);
  if (const std::uint32_t* cached = CachedOrder(slot, entries, count)) {
    order_.insert(order_.end(), cached, cached + count);
    return order_.data() + order_base;
  }
  // Text encodings order by (UTF-8 length, bytes); a dict's str keys are distinct.
  for (std::size_t i = 0; i < count; ++i) order_.push_back(static_cast<std::uint32_t>(i));
  std::uint32_t* first = order_.data() + order_base;
  std::sort(first, first + count, [entries](std::uint32_t a, std::uint32_t b) {
    return TextLess(entries[a], entries[b]);
  });
  Remember(slot, entries, count, first);
  return first;
}

bool Walker::dict_map(PyObject* o, unsigned d) {
  const Py_ssize_t n = PyDict_GET_SIZE(o);
  if (n == 0) {  // nothing inside: no depth to check, no cycle possible
    w_.map(0);
    return true;
  }
  if (!deeper(d + 1) || !push(o)) return false;
  if (n == 1) {  // one entry: nothing to sort
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    PyDict_Next(o, &pos, &k, &v);
    Py_INCREF(k);
    Py_INCREF(v);
    w_.map(1);
    Py_ssize_t size;
    const char* s = PyUnicode_CheckExact(k) ? utf8(k, &size) : nullptr;
    bool ok;
    if (s != nullptr) {
      w_.text_unchecked(std::string_view(s, static_cast<std::size_t>(size)));
      ok = value(v, d + 1) || seg_key(k);
    } else {
      PyErr_Clear();
      ok = (value(k, d + 1) || seg("<key " + repr(k) + ">")) && (value(v, d + 1) || seg_key(k));
    }
    Py_DECREF(k);
    Py_DECREF(v);
    if (!ok) return false;
    if (PyDict_GET_SIZE(o) != 1) return fail("the dict changed size while it was being encoded");
    pop();
    return true;
  }
  // Text keys (the common case): sort the keys, then write the entries in
  // order; text encodings order by (UTF-8 length, bytes), and a dict's str
  // keys are distinct. Other keys go through the encoder's map sorting.
  bool small = n <= 16;
  if (small) {
    bool handled;
    const bool ok = small_text_dict(o, n, d, &handled);
    if (handled) return ok;
  }
  if (!small) {
    const std::size_t base = pool_.size();
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    bool all_text = true;
    while (PyDict_Next(o, &pos, &k, &v)) {
      Py_ssize_t size;
      const char* s = PyUnicode_CheckExact(k) ? utf8(k, &size) : nullptr;
      if (s == nullptr) {
        PyErr_Clear();
        all_text = false;
        break;
      }
      Py_INCREF(k);
      Py_INCREF(v);
      pool_.push_back(TextEntry{s, static_cast<std::size_t>(size), k, v});
    }
    auto release = [&]() {
      for (std::size_t i = base; i < pool_.size(); ++i) {
        Py_DECREF(pool_[i].k);
        Py_DECREF(pool_[i].v);
      }
      pool_.resize(base);
    };
    if (all_text) {
      const std::size_t count = pool_.size() - base;
      const std::uint32_t* order = nullptr;  // canonical position -> pool index - base
      const std::size_t order_base = order_.size();
      if (count > 1) order = text_key_order(base, count);
      w_.map(count);
      for (std::size_t i = 0; i < count; ++i) {
        const std::size_t at = base + (order != nullptr ? order_[order_base + i] : i);
        w_.text_unchecked(std::string_view(pool_[at].key, pool_[at].size));
        PyObject* key = pool_[at].k;
        if (!value(pool_[at].v, d + 1)) {  // (pool_ may grow and move: index again)
          seg_key(key);
          order_.resize(order_base);
          release();
          return false;
        }
      }
      order_.resize(order_base);
      release();
      if (PyDict_GET_SIZE(o) != n) return fail("the dict changed size while it was being encoded");
      pop();
      return true;
    }
    release();
  }
  w_.begin_map();
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  while (PyDict_Next(o, &pos, &k, &v)) {
    Ref key = Ref::borrow(k), val = Ref::borrow(v);
    w_.item();
    if (!value(k, d + 1)) {
      return seg("<key " + repr(k) + ">");
    }
    if (!value(v, d + 1)) return seg_key(k);
  }
  if (PyDict_GET_SIZE(o) != n) return fail("the dict changed size while it was being encoded");
  try {
    w_.end_map();
  } catch (const EncodeError&) {
    return fail("two keys of this dict encode identically (float('nan') keys are all one key)");
  }
  if (w_.buffered() > kKeepBuffer) oversized_ = true;
  pop();
  return true;
}

// A dict of attributes (instance __dict__, object state): a map whose str
// keys name attributes in error paths (.name).
bool Walker::str_key_map(PyObject* o, unsigned d) {
  const Py_ssize_t n = PyDict_GET_SIZE(o);
  if ((n > 0 && !deeper(d + 1)) || !push(o)) return false;
  w_.begin_map();
  Py_ssize_t pos = 0;
  PyObject *k, *v;
  while (PyDict_Next(o, &pos, &k, &v)) {
    Ref key = Ref::borrow(k), val = Ref::borrow(v);
    w_.item();
    if (!value(k, d + 1)) return seg("<key " + repr(k) + ">");
    if (!value(v, d + 1)) return PyUnicode_Check(k) ? seg_attr(k) : seg_key(k);
  }
  if (PyDict_GET_SIZE(o) != n) return fail("the dict changed size while it was being encoded");
  try {
    w_.end_map();
  } catch (const EncodeError&) {
    return fail("two keys of this dict encode identically");
  }
  if (w_.buffered() > kKeepBuffer) oversized_ = true;
  pop();
  return true;
}

bool Walker::set(PyObject* o, unsigned d, std::uint64_t tag_number) {
  protect();  // the iterator is an object the garbage collector tracks
  if (!deeper(d + 1) || (PySet_GET_SIZE(o) > 0 && !deeper(d + 2)) || !push(o)) return false;
  w_.tag(tag_number);
  w_.begin_set();
  // The base type's iterator: a subclass's __iter__ does not change its value.
  Ref it = Ref::steal(PySet_Type.tp_iter(o));
  if (!it) return fail_py("cannot iterate");
  while (true) {
    Ref item = Ref::steal(PyIter_Next(it.get()));
    if (!item) break;
    w_.item();
    if (!value(item.get(), d + 2)) return seg("{" + repr(item.get()) + "}");
  }
  if (PyErr_Occurred()) return fail_py("cannot iterate");
  w_.end_set();
  if (w_.buffered() > kKeepBuffer) oversized_ = true;
  pop();
  return true;
}

// OrderedDict content: tag 0x6D6B03 over [k1, v1, k2, v2, ...] in its order.
bool Walker::ordered_items(PyObject* o, unsigned d) {
  const Py_ssize_t n = PyDict_GET_SIZE(o);
  if (!deeper(d + 1) || (n > 0 && !deeper(d + 2)) || !push(o)) return false;
  w_.tag(tag::kOrderedMap);
  w_.array(static_cast<std::uint64_t>(2 * n));
  // OrderedDict's own iterator (its order), whatever a subclass overrides.
  Ref it = Ref::steal(reinterpret_cast<PyTypeObject*>(st_.ordered_dict)->tp_iter(o));
  if (!it) return fail_py("cannot iterate");
  Py_ssize_t count = 0;
  while (true) {
    Ref k = Ref::steal(PyIter_Next(it.get()));
    if (!k) break;
    if (++count > n) return fail("the OrderedDict changed size while it was being encoded");
    Ref v = Ref::borrow(PyDict_GetItemWithError(o, k.get()));
    if (!v) {
      if (!PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, k.get());
      return fail_py("the OrderedDict changed while it was being encoded");
    }
    if (!value(k.get(), d + 2)) return seg("<key " + repr(k.get()) + ">");
    if (!value(v.get(), d + 2)) return seg_key(k.get());
  }
  if (PyErr_Occurred()) return fail_py("cannot iterate");
  if (count != n) return fail("the OrderedDict changed size while it was being encoded");
  pop();
  return true;
}

// --- the dispatch -------------------------------------------------------------------

bool Walker::container(PyObject* o, unsigned d) {
  PyTypeObject* t = Py_TYPE(o);
  if (t == &PyTuple_Type) {
    if (!deeper(d + 1)) return false;
    w_.mk_tag(tag::kTuple);
    return tuple_items(o, d + 1);
  }
  if (t == &PyDict_Type) return dict_map(o, d);
  if (t == &PyList_Type) return list_items(o, d);
  if (t == &PyBytes_Type)
    return bytes(PyBytes_AS_STRING(o), static_cast<std::size_t>(PyBytes_GET_SIZE(o)));
  if (t == &PySet_Type) return set(o, d, tag::kSet);
  if (t == &PyFrozenSet_Type) return set(o, d, tag::kFrozenSet);
  return other(o, d);
}

const std::shared_ptr<TypeInfo>* Walker::info(PyTypeObject* t) {
  auto it = st_.types.find(t);
  if (it != st_.types.end()) return &it->second;
  auto ti = std::make_shared<TypeInfo>();
  if (!classify(t, ti.get())) return nullptr;
  ti->type = Ref::borrow(reinterpret_cast<PyObject*>(t)).release();
  return &st_.types.insert_or_assign(t, std::move(ti)).first->second;
}

bool Walker::classify(PyTypeObject* t, TypeInfo* ti) {
  PyObject* to = reinterpret_cast<PyObject*>(t);
  if (!ClassId(t, &ti->class_id, &ti->id_error) && PyErr_Occurred()) return false;
  auto attributes_of = [&]() -> bool {
    ti->has_dict = t->tp_dictoffset != 0;
    PyObject* slotnames = ImportedAttr("copyreg", "_slotnames");
    if (slotnames == nullptr) return true;
    Ref names = Ref::steal(PyObject_CallOneArg(slotnames, to));
    Py_DECREF(slotnames);
    if (!names) return false;
    if (PyList_Check(names.get()) && PyList_GET_SIZE(names.get()) > 0) ti->slots = names.release();
    return true;
  };

  if (st_.registry != nullptr && PyDict_GET_SIZE(st_.registry) > 0) {
    PyObject* mro = t->tp_mro;
    for (Py_ssize_t i = 0; mro != nullptr && i < PyTuple_GET_SIZE(mro); ++i) {
      PyObject* fn = PyDict_GetItemWithError(st_.registry, PyTuple_GET_ITEM(mro, i));
      if (fn != nullptr) {
        ti->kind = Kind::kRegistered;
        ti->extra = Ref::borrow(fn).release();
        return true;
      }
      if (PyErr_Occurred()) return false;
    }
  }
  if (to == st_.tagged_type && to != nullptr) {
    ti->kind = Kind::kTagged;
    return true;
  }
  if (PyType_IsSubtype(t, &PyType_Type)) {
    ti->kind = Kind::kClass;
    return true;
  }
  if (t == &PyFunction_Type) {
    ti->kind = Kind::kFunction;
    return true;
  }
  if (PyType_IsSubtype(t, &PyCFunction_Type)) {
    ti->kind = Kind::kBuiltinFunction;
    return true;
  }
  {
    const int has_hook = HasAttr(to, st_.s_memokey);
    if (has_hook < 0) return false;
    if (has_hook) {
      ti->kind = Kind::kHook;
      return true;
    }
  }
  struct Exact {
    PyTypeObject* type;
    Kind kind;
  };
  const Exact exact[] = {
      {&PyComplex_Type, Kind::kComplex},
      {&PyByteArray_Type, Kind::kByteArray},
      {&PyMemoryView_Type, Kind::kMemoryView},
      {&PyRange_Type, Kind::kRange},
      {&PySlice_Type, Kind::kSlice},
      {Py_TYPE(Py_Ellipsis), Kind::kSingleton},
      {Py_TYPE(Py_NotImplemented), Kind::kSingleton},
      {st_.dt->DateTimeType, Kind::kDateTime},
      {st_.dt->DateType, Kind::kDate},
      {st_.dt->TimeType, Kind::kTime},
      {st_.dt->DeltaType, Kind::kTimeDelta},
  };
  for (const Exact& x : exact) {
    if (t == x.type) {
      ti->kind = x.kind;
      return true;
    }
  }
  if (to == Resolve(&st_.ordered_dict, "collections", "OrderedDict")) {
    ti->kind = Kind::kOrderedDict;
    return true;
  }
  if (IsSubtypeOf(t, Resolve(&st_.default_dict, "collections", "defaultdict"))) {
    ti->kind = Kind::kDefaultDict;
    return attributes_of();
  }
  if (to == Resolve(&st_.decimal, "decimal", "Decimal")) {
    ti->kind = Kind::kDecimal;
    return true;
  }
  if (to == Resolve(&st_.fraction, "fractions", "Fraction")) {
    ti->kind = Kind::kFraction;
    return true;
  }
  if (to == Resolve(&st_.uuid, "uuid", "UUID")) {
    ti->kind = Kind::kUuid;
    return true;
  }
  if (Resolve(&st_.ndarray, "numpy", "ndarray") != nullptr) {
    if (to == st_.ndarray) {
      ti->kind = Kind::kNdArray;
      return true;
    }
    if (IsSubtypeOf(t, st_.ndarray)) {
      ti->kind = Kind::kNdArraySub;
      return attributes_of();
    }
    if (IsSubtypeOf(t, Resolve(&st_.np_generic, "numpy", "generic"))) {
      ti->kind = Kind::kNumpyScalar;
      return true;
    }
  }
  if (PyObject* enum_meta = Resolve(&st_.enum_type, "enum", "EnumMeta")) {
    const int is_enum = PyObject_IsInstance(to, enum_meta);
    if (is_enum < 0) return false;
    if (is_enum) {
      ti->kind = Kind::kEnum;
      return true;
    }
  }
  {
    Ref dc_name = Ref::steal(PyUnicode_InternFromString("__dataclass_fields__"));
    if (!dc_name) return false;
    const int is_dataclass = HasAttr(to, dc_name.get());
    if (is_dataclass < 0) return false;
    if (is_dataclass) {
      PyObject* fields_fn = ImportedAttr("dataclasses", "fields");
      if (fields_fn != nullptr) {
        Ref fn = Ref::steal(fields_fn);
        Ref fields = Ref::steal(PyObject_CallOneArg(fn.get(), to));
        if (!fields) return false;
        Ref names = Ref::steal(PyList_New(0));
        if (!names) return false;
        Ref it = Ref::steal(PyObject_GetIter(fields.get()));
        if (!it) return false;
        while (Ref f = Ref::steal(PyIter_Next(it.get()))) {
          Ref compare = Ref::steal(PyObject_GetAttrString(f.get(), "compare"));
          if (!compare) return false;
          const int yes = PyObject_IsTrue(compare.get());
          if (yes < 0) return false;
          if (!yes) continue;
          Ref name = Ref::steal(PyObject_GetAttrString(f.get(), "name"));
          if (!name || PyList_Append(names.get(), name.get()) != 0) return false;
        }
        if (PyErr_Occurred()) return false;
        ti->kind = Kind::kDataclass;
        ti->extra = PyList_AsTuple(names.get());
        return ti->extra != nullptr;
      }
    }
  }
  if (PyType_IsSubtype(t, &PyTuple_Type)) {
    Ref fields = Ref::steal(PyObject_GetAttr(to, st_.s_fields));
    if (!fields) PyErr_Clear();
    if (fields && PyTuple_Check(fields.get())) {
      bool all_str = true;
      for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(fields.get()); ++i) {
        all_str = all_str && PyUnicode_Check(PyTuple_GET_ITEM(fields.get(), i));
      }
      if (all_str) {
        ti->kind = Kind::kNamedTuple;
        ti->extra = fields.release();
        return attributes_of();
      }
    }
  }
  if (IsSubtypeOf(t, Resolve(&st_.pure_path, "pathlib", "PurePath"))) {
    ti->kind = Kind::kPurePath;
    // The pathlib classes keep one id whatever module implements them.
    Ref module = Ref::steal(PyObject_GetAttrString(to, "__module__"));
    if (!module) PyErr_Clear();
    if (module && PyUnicode_Check(module.get()) && StartsWith(Utf8(module.get()), "pathlib")) {
      Ref name = Ref::steal(PyObject_GetAttrString(to, "__name__"));
      if (!name) return false;
      ti->class_id = "pathlib:" + Utf8(name.get());
      ti->id_error.clear();
    }
    return true;
  }
  struct Base {
    PyTypeObject* type;
    Kind kind;
  };
  if (st_.ordered_dict != nullptr && IsSubtypeOf(t, st_.ordered_dict)) {
    ti->kind = Kind::kSubOrderedDict;
    return attributes_of();
  }
  const Base bases[] = {
      {&PyDict_Type, Kind::kSubDict},           {&PyList_Type, Kind::kSubList},
      {&PyTuple_Type, Kind::kSubTuple},         {&PySet_Type, Kind::kSubSet},
      {&PyFrozenSet_Type, Kind::kSubFrozenSet}, {&PyUnicode_Type, Kind::kSubStr},
      {&PyBytes_Type, Kind::kSubBytes},         {&PyLong_Type, Kind::kSubInt},
      {&PyFloat_Type, Kind::kSubFloat},
  };
  for (const Base& b : bases) {
    if (PyType_IsSubtype(t, b.type)) {
      ti->kind = b.kind;
      return attributes_of();
    }
  }
  if (StartsWith(ti->class_id, "pandas") || StartsWith(ti->class_id, "polars") ||
      StartsWith(ti->class_id, "pyarrow")) {
    // Frames and columns of these libraries are encoded by content
    // (FORMAT.md §4.3); memokey._frames names the classes that are.
    Ref helpers = Ref::steal(PyImport_ImportModule("memokey._frames"));
    if (!helpers) return false;
    Ref id = Ref::steal(PyObject_CallMethod(helpers.get(), "frame_class_id", "O", to));
    if (!id) return false;
    if (PyUnicode_Check(id.get())) {
      ti->kind = Kind::kFrame;
      ti->class_id = Utf8(id.get());
      ti->id_error.clear();
      ti->extra = helpers.release();
      return true;
    }
  }
  ti->kind = Kind::kReduce;
  return true;
}

bool Walker::other(PyObject* o, unsigned d) {
  protect();  // from here on Python code may run
  const std::shared_ptr<TypeInfo>* found = info(Py_TYPE(o));
  if (found == nullptr) return fail_py("cannot inspect its type");
  const std::shared_ptr<TypeInfo> hold = *found;  // valid even if the cache is cleared meanwhile
  const TypeInfo& ti = *hold;
  switch (ti.kind) {
    case Kind::kRegistered:
      return hook(o, d, ti, true);
    case Kind::kHook:
      return hook(o, d, ti, false);
    case Kind::kTagged:
      return tagged(o, d);
    case Kind::kClass: {
      const std::shared_ptr<TypeInfo>* ci = info(reinterpret_cast<PyTypeObject*>(o));
      if (ci == nullptr) return fail_py("cannot inspect the class");
      if (!(*ci)->id_error.empty()) return fail((*ci)->id_error);
      return global((*ci)->class_id, d);
    }
    case Kind::kFunction:
      return function(o, d);
    case Kind::kBuiltinFunction:
      return builtin_function(o, d, ti);
    case Kind::kSingleton:
      return global(o == Py_Ellipsis ? "builtins:Ellipsis" : "builtins:NotImplemented", d);
    case Kind::kComplex:
      if (!deeper(d + 2)) return false;
      w_.tag(tag::kComplex);
      w_.array(2);
      w_.float64(PyComplex_RealAsDouble(o));
      w_.float64(PyComplex_ImagAsDouble(o));
      return true;
    case Kind::kByteArray:
      if (!deeper(d + 2)) return false;
      w_.tag(tag::kObject);
      w_.array(2);
      w_.text_unchecked("builtins:bytearray");
      return buffer_bytes(o);
    case Kind::kMemoryView:
      return buffer_bytes(o);
    case Kind::kRange: {
      if (!deeper(d + 2)) return false;
      w_.tag(tag::kRange);
      w_.array(3);
      PyObject* names[] = {st_.s_start, st_.s_stop, st_.s_step};
      for (PyObject* name : names) {
        Ref v = Ref::steal(PyObject_GetAttr(o, name));
        if (!v) return fail_py("");
        if (!integer(v.get(), d + 2)) return false;
      }
      return true;
    }
    case Kind::kSlice: {
      if (!deeper(d + 2)) return false;
      auto* s = reinterpret_cast<PySliceObject*>(o);
      w_.tag(tag::kSlice);
      w_.array(3);
      if (!value(s->start, d + 2)) return seg_attr("start");
      if (!value(s->stop, d + 2)) return seg_attr("stop");
      if (!value(s->step, d + 2)) return seg_attr("step");
      return true;
    }
    case Kind::kDate:
      if (!deeper(d + 1)) return false;
      return date(o);
    case Kind::kDateTime:
      if (!deeper(d + 2)) return false;
      return datetime(o, false);
    case Kind::kTime:
      if (!deeper(d + 2)) return false;
      return datetime(o, true);
    case Kind::kTimeDelta:
      if (!deeper(d + 2)) return false;
      w_.tag(tag::kTimeDelta);
      w_.array(3);
      w_.int64(PyDateTime_DELTA_GET_DAYS(o));
      w_.int64(PyDateTime_DELTA_GET_SECONDS(o));
      w_.int64(PyDateTime_DELTA_GET_MICROSECONDS(o));
      return true;
    case Kind::kDecimal:
      return decimal(o, d);
    case Kind::kFraction: {
      if (!deeper(d + 2)) return false;
      w_.tag(tag::kRational);
      w_.array(2);
      PyObject* names[] = {st_.s_numerator, st_.s_denominator};
      for (PyObject* name : names) {
        Ref v = Ref::steal(PyObject_GetAttr(o, name));
        Ref i = v ? Ref::steal(PyNumber_Index(v.get())) : Ref();
        if (!i) return fail_py("");
        if (!integer(i.get(), d + 2)) return false;
      }
      return true;
    }
    case Kind::kUuid: {
      if (!deeper(d + 1)) return false;
      Ref b = Ref::steal(PyObject_GetAttr(o, st_.s_bytes));
      if (!b) return fail_py("");
      if (!PyBytes_Check(b.get()) || PyBytes_GET_SIZE(b.get()) != 16) {
        return fail("UUID.bytes is not 16 bytes");
      }
      w_.tag(tag::kUuid);
      w_.bytes(PyBytes_AS_STRING(b.get()), 16);
      return true;
    }
    case Kind::kOrderedDict:
      return ordered_items(o, d);
    case Kind::kEnum:
      return enum_member(o, d, ti);
    case Kind::kDataclass:
    case Kind::kNamedTuple:
      return record(o, d, ti);
    case Kind::kPurePath: {
      if (!deeper(d + 2)) return false;
      Ref s = Ref::steal(PyObject_Str(o));
      if (!s) return fail_py("");
      w_.tag(tag::kObject);
      w_.array(2);
      if (!class_id(ti)) return false;
      return text(s.get());
    }
    case Kind::kNdArray:
      return ndarray(o, d);
    case Kind::kNumpyScalar:
      return numpy_scalar(o, d);
    case Kind::kFrame:
      return frame(o, d, ti);
    case Kind::kDefaultDict:
    case Kind::kNdArraySub:
    case Kind::kSubDict:
    case Kind::kSubOrderedDict:
    case Kind::kSubList:
    case Kind::kSubTuple:
    case Kind::kSubSet:
    case Kind::kSubFrozenSet:
    case Kind::kSubStr:
    case Kind::kSubBytes:
    case Kind::kSubInt:
    case Kind::kSubFloat:
      return builtin_subclass(o, d, ti);
    case Kind::kReduce:
      return reduce(o, d, ti);
  }
  return fail("internal error: unknown kind");
}

// --- globals ---------------------------------------------------------------------

bool Walker::function(PyObject* o, unsigned d) {
  Ref module = Ref::steal(PyObject_GetAttr(o, st_.s_module));
  if (!module) PyErr_Clear();
  Ref qualname = Ref::steal(PyObject_GetAttr(o, st_.s_qualname));
  if (!qualname) PyErr_Clear();
  std::string id, error;
  if (!GlobalName(o, module.get(), qualname.get(), true, &id, &error)) return fail(error);
  return global(id, d);
}

bool Walker::builtin_function(PyObject* o, unsigned d, const TypeInfo& ti) {
  PyObject* self = PyCFunction_GET_SELF(o);
  if (self != nullptr && !PyModule_Check(self)) return reduce(o, d, ti);  // a bound method
  Ref module = Ref::steal(PyObject_GetAttr(o, st_.s_module));
  if (!module) PyErr_Clear();
  if ((!module || module.get() == Py_None) && self != nullptr) {
    module = Ref::steal(PyModule_GetNameObject(self));
    if (!module) PyErr_Clear();
  }
  Ref qualname = Ref::steal(PyObject_GetAttr(o, st_.s_qualname));
  if (!qualname) PyErr_Clear();
  std::string id, error;
  if (!GlobalName(o, module.get(), qualname.get(), true, &id, &error)) return fail(error);
  return global(id, d);
}

// --- datetime ---------------------------------------------------------------------

bool Walker::date(PyObject* o) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", PyDateTime_GET_YEAR(o), PyDateTime_GET_MONTH(o),
                PyDateTime_GET_DAY(o));
  w_.tag(tag::kFullDate);
  w_.text_unchecked(buf);
  return true;
}

bool Walker::utcoffset(PyObject* o) {
  Ref off = Ref::steal(PyObject_CallMethodNoArgs(o, st_.s_utcoffset));
  if (!off) return fail_py("utcoffset() failed");
  if (off.get() == Py_None) {
    w_.null();
    return true;
  }
  if (!PyObject_TypeCheck(off.get(), st_.dt->DeltaType))
    return fail("utcoffset() did not return a timedelta");
  const long long us = (static_cast<long long>(PyDateTime_DELTA_GET_DAYS(off.get())) * 86400 +
                        PyDateTime_DELTA_GET_SECONDS(off.get())) *
                           1000000LL +
                       PyDateTime_DELTA_GET_MICROSECONDS(off.get());
  w_.int64(us);
  return true;
}

bool Walker::datetime(PyObject* o, bool is_time) {
  if (is_time) {
    w_.tag(tag::kTime);
    w_.array(6);
    w_.uint(static_cast<std::uint64_t>(PyDateTime_TIME_GET_HOUR(o)));
    w_.uint(static_cast<std::uint64_t>(PyDateTime_TIME_GET_MINUTE(o)));
    w_.uint(static_cast<std::uint64_t>(PyDateTime_TIME_GET_SECOND(o)));
    w_.uint(static_cast<std::uint64_t>(PyDateTime_TIME_GET_MICROSECOND(o)));
    w_.uint(static_cast<std::uint64_t>(PyDateTime_TIME_GET_FOLD(o)));
    if (PyDateTime_TIME_GET_TZINFO(o) == Py_None) {
      w_.null();
      return true;
    }
    return utcoffset(o);
  }
  w_.tag(tag::kDateTime);
  w_.array(9);
  w_.uint(static_cast<std::uint64_t>(PyDateTime_GET_YEAR(o)));
  w_.uint(static_cast<std::uint64_t>(PyDateTime_GET_MONTH(o)));
  w_.uint(static_cast<std::uint64_t>(PyDateTime_GET_DAY(o)));
  w_.uint(static_cast<std::uint64_t>(PyDateTime_DATE_GET_HOUR(o)));
  w_.uint(static_cast<std::uint64_t>(PyDateTime_DATE_GET_MINUTE(o)));
  w_.uint(static_cast<std::uint64_t>(PyDateTime_DATE_GET_SECOND(o)));
  w_.uint(static_cast<std::uint64_t>(PyDateTime_DATE_GET_MICROSECOND(o)));
  w_.uint(static_cast<std::uint64_t>(PyDateTime_DATE_GET_FOLD(o)));
  if (PyDateTime_DATE_GET_TZINFO(o) == Py_None) {
    w_.null();
    return true;
  }
  return utcoffset(o);
}

// --- Decimal ---------------------------------------------------------------------

bool Walker::decimal(PyObject* o, unsigned d) {
  if (!deeper(d + 1)) return false;
  Ref t = Ref::steal(PyObject_CallMethodNoArgs(o, st_.s_as_tuple));
  if (!t) return fail_py("");
  if (!PyTuple_Check(t.get()) || PyTuple_GET_SIZE(t.get()) != 3)
    return fail("unexpected Decimal.as_tuple()");
  PyObject* sign = PyTuple_GET_ITEM(t.get(), 0);
  PyObject* digits = PyTuple_GET_ITEM(t.get(), 1);
  PyObject* exponent = PyTuple_GET_ITEM(t.get(), 2);
  const bool negative = PyLong_Check(sign) && PyLong_AsLong(sign) == 1;
  std::string mantissa = negative ? "-" : "";
  bool all_zero = true;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(digits); ++i) {
    const long digit = PyLong_AsLong(PyTuple_GET_ITEM(digits, i));
    if (digit < 0 || digit > 9) {
      PyErr_Clear();
      return fail("unexpected Decimal digits");
    }
    all_zero = all_zero && digit == 0;
    mantissa.push_back(static_cast<char>('0' + digit));
  }
  if (!PyLong_Check(exponent) || (negative && all_zero)) {
    // NaN, sNaN, ±Infinity, negative zero: Python's str() of the value.
    Ref s = Ref::steal(PyObject_Str(o));
    if (!s) return fail_py("");
    w_.tag(tag::kDecimalSpecial);
    return text(s.get());
  }
  if (mantissa.size() == (negative ? 1u : 0u)) mantissa += "0";
  Ref m = Ref::steal(PyLong_FromString(mantissa.c_str(), nullptr, 10));
  if (!m) return fail_py("");
  if (!deeper(d + 2)) return false;
  w_.tag(tag::kDecimalFraction);
  w_.array(2);
  if (!integer(exponent, d + 2)) return false;
  return integer(m.get(), d + 2);
}

// --- Enum, records ---------------------------------------------------------------------

bool Walker::enum_member(PyObject* o, unsigned d, const TypeInfo& ti) {
  if (!deeper(d + 2)) return false;
  w_.tag(tag::kEnum);
  w_.array(2);
  if (!class_id(ti)) return false;
  Ref name = Ref::steal(PyObject_GetAttr(o, st_.s_name_));
  if (!name) return fail_py("");
  if (PyUnicode_Check(name.get())) {
    Ref members =
        Ref::steal(PyObject_GetAttr(reinterpret_cast<PyObject*>(Py_TYPE(o)), st_.s_member_map));
    if (!members) return fail_py("");
    Ref member = Ref::steal(PyObject_GetItem(members.get(), name.get()));
    if (!member) PyErr_Clear();
    if (member.get() == o) return text(name.get());
  } else if (name.get() != Py_None) {
    return fail("Enum member name is not a str");
  }
  // A combined Flag value (no single member): its value.
  Ref v = Ref::steal(PyObject_GetAttr(o, st_.s_value_));
  if (!v) return fail_py("");
  if (!push(o)) return false;
  if (!value(v.get(), d + 2)) return seg_attr("value");
  pop();
  return true;
}

// Collects the instance attributes that are not part of a builtin base's
// value: __dict__ and set __slots__. *out stays empty when there are none.
bool Walker::attributes(PyObject* o, const TypeInfo& ti, Ref* out) {
  Ref attrs;
  if (ti.has_dict) {
    Ref dict = Ref::steal(PyObject_GetAttr(o, st_.s_dict));
    if (!dict) {
      if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return fail_py("cannot read __dict__");
      PyErr_Clear();
    } else if (PyDict_Check(dict.get()) && PyDict_GET_SIZE(dict.get()) > 0) {
      attrs = Ref::steal(PyDict_Copy(dict.get()));
      if (!attrs) return fail_py("");
    }
  }
  if (ti.slots != nullptr) {
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(ti.slots); ++i) {
      PyObject* name = PyList_GET_ITEM(ti.slots, i);
      Ref v = Ref::steal(PyObject_GetAttr(o, name));
      if (!v) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return fail_py("cannot read a slot");
        PyErr_Clear();
        continue;
      }
      if (!attrs) {
        attrs = Ref::steal(PyDict_New());
        if (!attrs) return fail_py("");
      }
      if (PyDict_SetItem(attrs.get(), name, v.get()) != 0) return fail_py("");
    }
  }
  *out = std::move(attrs);
  return true;
}

// dataclass / namedtuple: [class id, 0x6D6B03[name, value, ...](, attributes)]
bool Walker::record(PyObject* o, unsigned d, const TypeInfo& ti) {
  const bool named_tuple = ti.kind == Kind::kNamedTuple;
  PyObject* names = ti.extra;
  const Py_ssize_t n = PyTuple_GET_SIZE(names);
  if (!deeper(n > 0 ? d + 4 : d + 3)) return false;
  Ref attrs;
  if (named_tuple) {
    if (PyTuple_GET_SIZE(o) != n) return fail("the namedtuple's length differs from its _fields");
    if (!attributes(o, ti, &attrs)) return false;
  }
  if (!push(o)) return false;
  w_.tag(tag::kObject);
  w_.array(attrs ? 3 : 2);
  if (!class_id(ti)) return false;
  w_.tag(tag::kOrderedMap);
  w_.array(static_cast<std::uint64_t>(2 * n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* name = PyTuple_GET_ITEM(names, i);
    if (!text(name)) return false;
    if (named_tuple) {
      if (!value(PyTuple_GET_ITEM(o, i), d + 4)) return seg_attr(name);
    } else {
      Ref v = Ref::steal(PyObject_GetAttr(o, name));
      if (!v) return fail_py("cannot read the field") || seg_attr(name);
      if (!value(v.get(), d + 4)) return seg_attr(name);
    }
  }
  if (attrs && !str_key_map(attrs.get(), d + 2)) return false;
  pop();
  return true;
}

// Subclasses of the builtins (and of OrderedDict, defaultdict, ndarray):
// [class id, the value as its base (, attributes)].
bool Walker::builtin_subclass(PyObject* o, unsigned d, const TypeInfo& ti) {
  if (!deeper(d + 2)) return false;
  Ref attrs;
  if (!attributes(o, ti, &attrs)) return false;
  if (!push(o)) return false;
  w_.tag(tag::kObject);
  w_.array(attrs ? 3 : 2);
  if (!class_id(ti)) return false;
  const unsigned cd = d + 2;  // depth of the base value
  // Containers that push() themselves: take o off the stack first.
  pop();
  bool ok = true;
  switch (ti.kind) {
    case Kind::kSubDict:
      ok = dict_map(o, cd);
      break;
    case Kind::kSubOrderedDict:
      ok = ordered_items(o, cd);
      break;
    case Kind::kDefaultDict: {
      if (!deeper(cd + 1)) return false;
      w_.array(2);
      Ref factory = Ref::steal(PyObject_GetAttr(o, st_.s_default_factory));
      if (!factory) return fail_py("");
      if (!push(o)) return false;
      if (!value(factory.get(), cd + 1)) return seg_attr("default_factory");
      pop();
      ok = dict_map(o, cd + 1);
      break;
    }
    case Kind::kSubList:
      ok = list_items(o, cd);
      break;
    case Kind::kSubTuple:
      if (!deeper(cd + 1)) return false;
      w_.tag(tag::kTuple);
      ok = tuple_items(o, cd + 1);
      break;
    case Kind::kSubSet:
      ok = set(o, cd, tag::kSet);
      break;
    case Kind::kSubFrozenSet:
      ok = set(o, cd, tag::kFrozenSet);
      break;
    case Kind::kSubStr:
      ok = text(o);
      break;
    case Kind::kSubBytes:
      ok = bytes(PyBytes_AS_STRING(o), static_cast<std::size_t>(PyBytes_GET_SIZE(o)));
      break;
    case Kind::kSubInt:
      ok = integer(o, cd);
      break;
    case Kind::kSubFloat:
      w_.float64(PyFloat_AS_DOUBLE(o));
      break;
    case Kind::kNdArraySub:
      ok = ndarray(o, cd);
      break;
    default:
      return fail("internal error: not a builtin subclass");
  }
  if (!ok) return false;
  if (attrs) {
    if (!push(o)) return false;
    if (!str_key_map(attrs.get(), d + 2)) return false;
    pop();
  }
  return true;
}

// --- numpy ---------------------------------------------------------------------------

PyObject* Walker::numpy_helpers() {
  if (st_.numpy_helpers == nullptr) st_.numpy_helpers = PyImport_ImportModule("memokey._numpy");
  return st_.numpy_helpers;
}

std::string NdIndex(Py_ssize_t flat, PyObject* shape) {
  const Py_ssize_t nd = PyTuple_GET_SIZE(shape);
  std::vector<Py_ssize_t> idx(static_cast<std::size_t>(nd));
  for (Py_ssize_t i = nd - 1; i >= 0; --i) {
    const Py_ssize_t dim = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, i));
    if (dim <= 0) break;
    idx[static_cast<std::size_t>(i)] = flat % dim;
    flat /= dim;
  }
  std::string out = "[";
  for (std::size_t i = 0; i < idx.size(); ++i) {
    if (i != 0) out += ", ";
    out += std::to_string(idx[i]);
  }
  return out + "]";
}

bool Walker::ndarray(PyObject* o, unsigned d) {
  // Fast path: a C-contiguous little-endian array of an RFC 8746 dtype,
  // straight from its buffer. Everything else goes through memokey._numpy.
  Ref dtype = Ref::steal(PyObject_GetAttr(o, st_.s_dtype));
  if (!dtype) return fail_py("");
  Ref dstr = Ref::steal(PyObject_GetAttr(dtype.get(), st_.s_str));
  if (!dstr) return fail_py("");
  std::uint64_t typed = 0;
  {
    const std::string s = Utf8(dstr.get());
    static constexpr struct {
      const char* str;
      std::uint64_t tag;
    } kTyped[] = {
        {"|u1", tag::kUint8Array},     {"<u2", tag::kUint16LeArray},  {"<u4", tag::kUint32LeArray},
        {"<u8", tag::kUint64LeArray},  {"|i1", tag::kSint8Array},     {"<i2", tag::kSint16LeArray},
        {"<i4", tag::kSint32LeArray},  {"<i8", tag::kSint64LeArray},  {"<f2", tag::kFloat16LeArray},
        {"<f4", tag::kFloat32LeArray}, {"<f8", tag::kFloat64LeArray},
    };
    for (const auto& t : kTyped) {
      if (s == t.str) typed = t.tag;
    }
  }
  if (typed != 0) {
    Buffer buf;
    if (buf.get(o, PyBUF_C_CONTIGUOUS)) {
      Py_buffer& v = buf.view();
      if (!deeper(d + 3)) return false;
      w_.tag(tag::kMultiDimArray);
      w_.array(2);
      w_.array(static_cast<std::uint64_t>(v.ndim));
      for (int i = 0; i < v.ndim; ++i) w_.uint(static_cast<std::uint64_t>(v.shape[i]));
      w_.tag(typed);
      return bytes(v.buf, static_cast<std::size_t>(v.len));
    }
    PyErr_Clear();
  }
  PyObject* helpers = numpy_helpers();
  if (helpers == nullptr) return fail_py("cannot import memokey._numpy");
  Ref r = Ref::steal(PyObject_CallMethod(helpers, "canonical_array", "O", o));
  if (!r) return fail_py("");
  // (tag or None, dtype text, shape tuple, payload: uint8 array or list of objects)
  if (!PyTuple_Check(r.get()) || PyTuple_GET_SIZE(r.get()) != 4)
    return fail("internal error: canonical_array");
  PyObject* tag_obj = PyTuple_GET_ITEM(r.get(), 0);
  PyObject* dtype_text = PyTuple_GET_ITEM(r.get(), 1);
  PyObject* shape = PyTuple_GET_ITEM(r.get(), 2);
  PyObject* payload = PyTuple_GET_ITEM(r.get(), 3);
  if (!deeper(d + 2)) return false;
  const bool has_dims = PyTuple_GET_SIZE(shape) > 0;
  auto write_shape = [&]() {
    w_.array(static_cast<std::uint64_t>(PyTuple_GET_SIZE(shape)));
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(shape); ++i) {
      if (!integer(PyTuple_GET_ITEM(shape, i), d + 3)) return false;
    }
    return true;
  };
  auto write_data = [&]() {
    Buffer buf;
    if (!buf.get(payload, PyBUF_C_CONTIGUOUS)) return fail_py("cannot read the array's data");
    return bytes(buf.view().buf, static_cast<std::size_t>(buf.view().len));
  };
  if (PyList_Check(payload)) {  // object dtype: tag 40 [shape, [elements]]
    if (((has_dims || PyList_GET_SIZE(payload) > 0) && !deeper(d + 3)) || !push(o)) return false;
    w_.tag(tag::kMultiDimArray);
    w_.array(2);
    if (!write_shape()) return false;
    const Py_ssize_t n = PyList_GET_SIZE(payload);
    w_.array(static_cast<std::uint64_t>(n));
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (!value(PyList_GET_ITEM(payload, i), d + 3)) return seg(NdIndex(i, shape));
    }
    pop();
    return true;
  }
  if (tag_obj != Py_None) {
    if (!deeper(d + 3)) return false;
    const unsigned long long t = PyLong_AsUnsignedLongLong(tag_obj);
    if (PyErr_Occurred()) return fail_py("");
    w_.tag(tag::kMultiDimArray);
    w_.array(2);
    if (!write_shape()) return false;
    w_.tag(t);
    return write_data();
  }
  if (has_dims && !deeper(d + 3)) return false;
  w_.tag(tag::kTypedNdArray);
  w_.array(3);
  if (!text(dtype_text)) return false;
  if (!write_shape()) return false;
  return write_data();
}

bool Walker::numpy_scalar(PyObject* o, unsigned d) {
  if (!deeper(d + 2)) return false;
  PyObject* helpers = numpy_helpers();
  if (helpers == nullptr) return fail_py("cannot import memokey._numpy");
  Ref r = Ref::steal(PyObject_CallMethod(helpers, "canonical_scalar", "O", o));
  if (!r) return fail_py("");
  if (!PyTuple_Check(r.get()) || PyTuple_GET_SIZE(r.get()) != 2)
    return fail("internal error: canonical_scalar");
  w_.tag(tag::kNumpyScalar);
  w_.array(2);
  if (!text(PyTuple_GET_ITEM(r.get(), 0))) return false;
  Buffer buf;
  if (!buf.get(PyTuple_GET_ITEM(r.get(), 1), PyBUF_C_CONTIGUOUS)) return fail_py("");
  return bytes(buf.view().buf, static_cast<std::size_t>(buf.view().len));
}

// --- data frames (FORMAT.md §4.3) -----------------------------------------------------

// 0x6D6B11 [class id, index, labels, [columns]]: the parts come from
// memokey._frames.describe; each column is 0x6D6B10 [type, length,
// validity, values], its bytes read from the buffers in frames.cc.
bool Walker::frame(PyObject* o, unsigned d, const TypeInfo& ti) {
  if (!deeper(d + 2)) return false;
  PyObject* helpers = ti.extra;
  Ref r = Ref::steal(PyObject_CallMethod(helpers, "describe", "Os", o, ti.class_id.c_str()));
  if (!r) return fail_py("cannot take the " + ti.class_id + " apart into columns");
  if (!PyTuple_Check(r.get()) || PyTuple_GET_SIZE(r.get()) != 3 ||
      !PyList_Check(PyTuple_GET_ITEM(r.get(), 2))) {
    return fail("internal error: memokey._frames.describe");
  }
  if (!push(o)) return false;
  PyObject* columns = PyTuple_GET_ITEM(r.get(), 2);
  w_.mk_tag(tag::kFrame);
  w_.array(4);
  w_.text_unchecked(ti.class_id);
  if (!value(PyTuple_GET_ITEM(r.get(), 0), d + 2)) return seg_attr("index");
  if (!value(PyTuple_GET_ITEM(r.get(), 1), d + 2)) return seg_attr("columns");
  const Py_ssize_t n = PyList_GET_SIZE(columns);
  if (n > 0 && !deeper(d + 3)) return false;
  w_.array(static_cast<std::uint64_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* spec = PyList_GET_ITEM(columns, i);
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 4) {
      return fail("internal error: a column of memokey._frames.describe");
    }
    if (!column(spec, helpers, d + 3)) {
      PyObject* label = PyTuple_GET_ITEM(spec, 1);  // None: the only column, no segment
      return label == Py_None ? false : seg("[" + repr(label) + "]");
    }
  }
  pop();
  return true;
}

// One column spec of memokey._frames (its comment lists the forms) at depth d.
bool Walker::column(PyObject* spec, PyObject* helpers, unsigned d) {
  if (!deeper(d + 2)) return false;  // the tag's array, and the values' array of a string column
  const std::string how = Utf8(PyTuple_GET_ITEM(spec, 0));
  PyObject* type = PyTuple_GET_ITEM(spec, 2);
  PyObject* source = PyTuple_GET_ITEM(spec, 3);
  w_.mk_tag(tag::kColumn);
  w_.array(4);
  if (!PyUnicode_Check(type) || !text(type)) return fail("internal error: a column's type");
  // From here on the encoder is written directly: empty the staging buffer.
  w_.flush();
  Encoder& e = w_.encoder();
  std::vector<Chunk> chunks;
  Layout layout = Layout::kFixed;
  unsigned width = 0;
  Buffer data, mask;
  ArrowColumn arrow;
  if (how == "fixed" || how == "float" || how == "bool") {
    if (!data.get(source, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT))
      return fail_py("cannot read the column");
    Py_buffer& v = data.view();
    PyObject* mask_obj = PyTuple_GET_SIZE(spec) > 4 ? PyTuple_GET_ITEM(spec, 4) : Py_None;
    Chunk c;
    c.values = static_cast<const std::uint8_t*>(v.buf);
    c.length = v.itemsize > 0 ? v.len / v.itemsize : 0;
    if (mask_obj != Py_None) {
      if (!mask.get(mask_obj, PyBUF_C_CONTIGUOUS)) return fail_py("cannot read the column's mask");
      if (mask.view().len != c.length) return fail("internal error: a mask of another length");
      c.mask = static_cast<const std::uint8_t*>(mask.view().buf);
    }
    layout = how == "fixed" ? Layout::kFixed : how == "float" ? Layout::kFloat : Layout::kBoolBytes;
    width = static_cast<unsigned>(v.itemsize);
    chunks.push_back(c);
  } else if (how == "range") {
    if (PyTuple_GET_SIZE(spec) != 6) return fail("internal error: a range column");
    const long long start = PyLong_AsLongLong(source);
    const long long step = PyLong_AsLongLong(PyTuple_GET_ITEM(spec, 4));
    const long long length = PyLong_AsLongLong(PyTuple_GET_ITEM(spec, 5));
    if (PyErr_Occurred()) return fail_py("a RangeIndex beyond int64");
    WriteRangeBody(e, start, step, length);
    return true;
  } else if (how == "strings") {
    std::string error;
    if (!WriteStringObjectsBody(e, source, &error)) return fail(error);
    return true;
  } else if (how == "arrow" || how == "objects") {
    bool supported = false;
    if (how == "arrow") {
      std::string error;
      if (!arrow.read(source, &supported, &error)) {
        return PyErr_Occurred()
                   ? fail_py("cannot read the column through the Arrow C data interface")
                   : fail(error);
      }
    }
    if (!supported) {  // no buffer encoding for this type: the values one by one
      Ref objects = Ref::steal(PyObject_CallMethod(helpers, "to_objects", "O", source));
      if (!objects) return fail_py("cannot list the column's values");
      Ref list = Ref::steal(PySequence_List(objects.get()));
      if (!list) return fail_py("cannot list the column's values");
      const Py_ssize_t n = PyList_GET_SIZE(list.get());
      w_.uint(static_cast<std::uint64_t>(n));
      w_.null();
      w_.array(static_cast<std::uint64_t>(n));
      for (Py_ssize_t i = 0; i < n; ++i) {
        if (!value(PyList_GET_ITEM(list.get(), i), d + 2)) return seg_index(i);
      }
      return true;
    }
    layout = arrow.layout();
    width = arrow.width();
    chunks = arrow.chunks();
  } else {
    return fail("internal error: a column kind " + how);
  }
  if (ColumnBytes(layout, width, chunks) >= kReleaseGilMin) {
    protect();  // other threads run meanwhile; the buffers are held by `data`, `mask`, `arrow`
    GilRelease unlocked;
    WriteColumnBody(e, layout, width, chunks);
  } else {
    WriteColumnBody(e, layout, width, chunks);
  }
  return true;
}

// --- hooks, Tagged, the reduce fallback ----------------------------------------------

bool Walker::hook(PyObject* o, unsigned d, const TypeInfo& ti, bool registered) {
  if (!deeper(d + 2)) return false;
  Ref r = Ref::steal(registered ? PyObject_CallOneArg(ti.extra, o)
                                : PyObject_CallMethodNoArgs(o, st_.s_memokey));
  const char* label = registered ? "<memokey.register function>" : ".__memokey__()";
  if (!r) {
    fail_py(std::string(registered ? "the function given to memokey.register" : "__memokey__()") +
            " raised");
    return false;
  }
  if (!push(o)) return false;
  w_.tag(tag::kObject);
  w_.array(2);
  if (!class_id(ti)) return false;
  if (!value(r.get(), d + 2)) return seg(label);
  pop();
  return true;
}

bool Walker::tagged(PyObject* o, unsigned d) {
  if (!deeper(d + 1)) return false;
  Ref t = Ref::steal(PyObject_GetAttr(o, st_.s_tag));
  if (!t) return fail_py("");
  const unsigned long long number = PyLong_Check(t.get()) ? PyLong_AsUnsignedLongLong(t.get()) : 0;
  if (!PyLong_Check(t.get()) || PyErr_Occurred()) {
    PyErr_Clear();
    return fail("Tagged.tag must be an int in 0..2**64-1");
  }
  if (number == tag::kPositiveBignum || number == tag::kNegativeBignum || number == tag::kSet ||
      number == tag::kFrozenSet) {
    return fail("Tagged(" + std::to_string(number) +
                ", ...) has a canonical Python form: use int, set or frozenset");
  }
  Ref v = Ref::steal(PyObject_GetAttr(o, st_.s_value));
  if (!v) return fail_py("");
  if (!push(o)) return false;
  w_.tag(number);
  if (!value(v.get(), d + 1)) return seg_attr("value");
  pop();
  return true;
}

bool Walker::reduce(PyObject* o, unsigned d, const TypeInfo& ti) {
  if (!deeper(d + 1)) return false;
  const std::string type_name = Py_TYPE(o)->tp_name;
  Ref four = Ref::steal(PyLong_FromLong(4));
  if (!four) return fail_py("");
  Ref rv = Ref::steal(PyObject_CallMethodOneArg(o, st_.s_reduce_ex, four.get()));
  if (!rv) {
    return fail_py("no canonical form for " + type_name +
                   ": it is not a supported type, has no __memokey__() and no memokey.register() "
                   "function, and cannot be reduced like pickle does");
  }
  if (PyUnicode_Check(rv.get())) {  // a named global (a module-level singleton)
    Ref module = Ref::steal(PyObject_GetAttr(o, st_.s_module));
    if (!module) PyErr_Clear();
    std::string id, error;
    if (!GlobalName(o, module.get(), rv.get(), true, &id, &error)) return fail(error);
    return global(id, d);
  }
  if (!PyTuple_Check(rv.get()) || PyTuple_GET_SIZE(rv.get()) < 2 ||
      PyTuple_GET_SIZE(rv.get()) > 6) {
    return fail(type_name + ".__reduce_ex__(4) returned neither a str nor a 2..6-tuple");
  }
  if (!ti.id_error.empty()) return fail(ti.id_error);
  const Py_ssize_t rn = PyTuple_GET_SIZE(rv.get());
  PyObject* callable = PyTuple_GET_ITEM(rv.get(), 0);
  PyObject* args = PyTuple_GET_ITEM(rv.get(), 1);
  PyObject* state = rn > 2 ? PyTuple_GET_ITEM(rv.get(), 2) : Py_None;
  PyObject* listitems = rn > 3 ? PyTuple_GET_ITEM(rv.get(), 3) : Py_None;
  PyObject* dictitems = rn > 4 ? PyTuple_GET_ITEM(rv.get(), 4) : Py_None;
  PyObject* setstate = rn > 5 ? PyTuple_GET_ITEM(rv.get(), 5) : Py_None;
  if (!PyTuple_Check(args))
    return fail(type_name + ".__reduce_ex__(4) returned non-tuple arguments");

  Resolve(&st_.newobj, "copyreg", "__newobj__");
  Resolve(&st_.newobj_ex, "copyreg", "__newobj_ex__");
  PyObject* cls = reinterpret_cast<PyObject*>(Py_TYPE(o));
  const Py_ssize_t an = PyTuple_GET_SIZE(args);
  // The entries of the ordered state map, in this fixed order:
  // call, args, kwargs, state, listitems, dictitems, setstate.
  struct Entry {
    const char* name;
    PyObject* value;
  };
  std::vector<Entry> entries;
  Ref new_args, kwargs;
  if (callable == st_.newobj && an >= 1 && PyTuple_GET_ITEM(args, 0) == cls) {
    if (an > 1) {
      new_args = Ref::steal(PyTuple_GetSlice(args, 1, an));
      if (!new_args) return fail_py("");
      entries.push_back({"args", new_args.get()});
    }
  } else if (callable == st_.newobj_ex && an == 3 && PyTuple_GET_ITEM(args, 0) == cls) {
    PyObject* a = PyTuple_GET_ITEM(args, 1);
    PyObject* k = PyTuple_GET_ITEM(args, 2);
    if (PyObject_Length(a) != 0) entries.push_back({"args", a});
    if (PyObject_Length(k) != 0) entries.push_back({"kwargs", k});
    PyErr_Clear();
  } else {
    entries.push_back({"call", callable});
    entries.push_back({"args", args});
  }
  if (state != Py_None) entries.push_back({"state", state});
  Ref items_list, dict_pairs;
  if (listitems != Py_None) {
    items_list = Ref::steal(PySequence_List(listitems));
    if (!items_list) return fail_py("cannot iterate the reduced list items");
    entries.push_back({"listitems", items_list.get()});
  }
  if (dictitems != Py_None) {
    dict_pairs = Ref::steal(PySequence_List(dictitems));
    if (!dict_pairs) return fail_py("cannot iterate the reduced dict items");
    entries.push_back({"dictitems", dict_pairs.get()});
  }
  if (setstate != Py_None) entries.push_back({"setstate", setstate});

  if (!deeper(entries.empty() ? d + 3 : d + 4) || !push(o)) return false;
  w_.tag(tag::kObject);
  w_.array(2);
  w_.text_unchecked(ti.class_id);
  w_.tag(tag::kOrderedMap);
  w_.array(2 * entries.size());
  const unsigned vd = d + 4;
  for (const Entry& entry : entries) {
    w_.text_unchecked(entry.name);
    const std::string_view name = entry.name;
    if (name == "state" && PyDict_CheckExact(entry.value)) {
      if (!str_key_map(entry.value, vd)) return false;
    } else if (name == "dictitems") {
      // [(k, v), ...] -> a map
      if (PyList_GET_SIZE(entry.value) > 0 && !deeper(vd + 1)) return false;
      w_.begin_map();
      for (Py_ssize_t i = 0; i < PyList_GET_SIZE(entry.value); ++i) {
        PyObject* pair = PyList_GET_ITEM(entry.value, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
          return fail("reduced dict items are not (key, value) pairs");
        }
        w_.item();
        if (!value(PyTuple_GET_ITEM(pair, 0), vd + 1))
          return seg("<key " + repr(PyTuple_GET_ITEM(pair, 0)) + ">");
        if (!value(PyTuple_GET_ITEM(pair, 1), vd + 1)) return seg_key(PyTuple_GET_ITEM(pair, 0));
      }
      try {
        w_.end_map();
      } catch (const EncodeError&) {
        return fail("two keys of the reduced dict items encode identically");
      }
    } else if (name == "state" && PyTuple_CheckExact(entry.value) &&
               PyTuple_GET_SIZE(entry.value) == 2 &&
               (PyTuple_GET_ITEM(entry.value, 0) == Py_None ||
                PyDict_CheckExact(PyTuple_GET_ITEM(entry.value, 0))) &&
               PyDict_CheckExact(PyTuple_GET_ITEM(entry.value, 1))) {
      // (instance dict, slots dict) from object.__getstate__: attribute paths.
      if (!deeper(vd + 2)) return false;
      w_.tag(tag::kTuple);
      w_.array(2);
      PyObject* first = PyTuple_GET_ITEM(entry.value, 0);
      if (first == Py_None) {
        w_.null();
      } else if (!str_key_map(first, vd + 2)) {
        return false;
      }
      if (!str_key_map(PyTuple_GET_ITEM(entry.value, 1), vd + 2)) return false;
    } else {
      if (!value(entry.value, vd)) return seg(std::string("<") + entry.name + ">");
    }
  }
  pop();
  return true;
}

}  // namespace

namespace {

// Drops what a failed (or interrupted) walk left on the scratch stacks.
[[gnu::noinline]] void Unwind(WalkScratch& scratch, std::size_t pool_base, std::size_t order_base) {
  for (std::size_t i = pool_base; i < scratch.pool.size(); ++i) {
    Py_DECREF(scratch.pool[i].k);
    Py_DECREF(scratch.pool[i].v);
  }
  scratch.pool.resize(pool_base);
  scratch.order.resize(order_base);
}

}  // namespace

bool EncodeObject(State& st, Encoder& enc, WalkScratch& scratch, PyObject* obj, bool* oversized,
                  const std::vector<std::string>* arg_names) {
  // Nested calls (a __memokey__ hook calling memokey.key with the same
  // scratch) stack up above the outer call's entries.
  const std::size_t pool_base = scratch.pool.size();
  const std::size_t order_base = scratch.order.size();
  Writer writer(enc);
  Walker w(st, writer, scratch);
  bool ok;
  try {
    ok = w.value(obj, 0);
    if (ok) writer.flush();
  } catch (const std::bad_alloc&) {
    Unwind(scratch, pool_base, order_base);
    PyErr_NoMemory();
    return false;
  } catch (const std::exception& e) {
    Unwind(scratch, pool_base, order_base);
    PyErr_Format(st.canonicalization_error ? st.canonicalization_error : PyExc_TypeError, "obj: %s",
                 e.what());
    return false;
  }
  if (!ok) {
    Unwind(scratch, pool_base, order_base);
    w.raise(arg_names);
    return false;
  }
  if (w.oversized() || enc.buffer().size() > kKeepBuffer) *oversized = true;
  return true;
}

}  // namespace memokey::py
