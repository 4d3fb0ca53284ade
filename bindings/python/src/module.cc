// module.cc — memokey._core: module state and the entry points.
//
// dumps/key/hexkey/loads are plain METH_FASTCALL functions whose `self` is
// the module's state (see StateOf in state.h): no argument conversion layer on the hot path.
// Consecutive calls reuse the State's KeyEncoder, Encoder and walk scratch
// (buffers that keep their capacity); see Scratch in state.h.

#include <nanobind/nanobind.h>

#include <memory>
#include <optional>
#include <string_view>

#include "memokey/cbor_writer.h"
#include "memokey/envelope.h"
#include "memokey/format.h"
#include "memokey/hex.h"
#include "memokey/key.h"
#include "state.h"
#include "store.h"  // memokey_bind_store: Store, envelope, MemoWrapper

namespace nb = nanobind;

namespace memokey::py {

State::~State() {
  clear_types();
  PyObject** owned[] = {
      &canonicalization_error,
      &decode_error,
      &tagged_type,
      &registry,
      &s_memokey,
      &s_module,
      &s_qualname,
      &s_reduce_ex,
      &s_dict,
      &s_utcoffset,
      &s_as_tuple,
      &s_numerator,
      &s_denominator,
      &s_bytes,
      &s_start,
      &s_stop,
      &s_step,
      &s_name_,
      &s_value_,
      &s_member_map,
      &s_default_factory,
      &s_fields,
      &s_dtype,
      &s_shape,
      &s_str,
      &s_self,
      &s_tag,
      &s_value,
      &ordered_dict,
      &default_dict,
      &decimal,
      &fraction,
      &uuid,
      &pure_path,
      &enum_type,
      &ndarray,
      &np_generic,
      &numpy_helpers,
      &newobj,
      &newobj_ex,
  };
  for (PyObject** p : owned) Py_CLEAR(*p);
}

bool State::init() {
  struct Name {
    PyObject** slot;
    const char* text;
  };
  const Name names[] = {
      {&s_memokey, "__memokey__"},
      {&s_module, "__module__"},
      {&s_qualname, "__qualname__"},
      {&s_reduce_ex, "__reduce_ex__"},
      {&s_dict, "__dict__"},
      {&s_utcoffset, "utcoffset"},
      {&s_as_tuple, "as_tuple"},
      {&s_numerator, "numerator"},
      {&s_denominator, "denominator"},
      {&s_bytes, "bytes"},
      {&s_start, "start"},
      {&s_stop, "stop"},
      {&s_step, "step"},
      {&s_name_, "_name_"},
      {&s_value_, "_value_"},
      {&s_member_map, "_member_map_"},
      {&s_default_factory, "default_factory"},
      {&s_fields, "_fields"},
      {&s_dtype, "dtype"},
      {&s_shape, "shape"},
      {&s_str, "str"},
      {&s_self, "__self__"},
      {&s_tag, "tag"},
      {&s_value, "value"},
  };
  for (const Name& n : names) {
    *n.slot = PyUnicode_InternFromString(n.text);
    if (*n.slot == nullptr) return false;
  }
  dt = static_cast<PyDateTime_CAPI*>(PyCapsule_Import(PyDateTime_CAPSULE_NAME, 0));
  if (dt == nullptr) return false;
  registry = PyDict_New();
  return registry != nullptr;
}

void State::clear_types() {
  // Swap first: releasing the entries may run arbitrary code.
  std::unordered_map<PyTypeObject*, std::shared_ptr<TypeInfo>> old;
  old.swap(types);
}

PyObject* ImportedAttr(const char* module, const char* attr) {
  Ref name = Ref::steal(PyUnicode_FromString(module));
  if (!name) {
    PyErr_Clear();
    return nullptr;
  }
  Ref m = Ref::steal(PyImport_GetModule(name.get()));
  if (!m) {
    PyErr_Clear();
    return nullptr;
  }
  PyObject* a = PyObject_GetAttrString(m.get(), attr);
  if (a == nullptr) PyErr_Clear();
  return a;
}

namespace {

bool Ready(State* st) {
  if (st == nullptr) return false;
  if (st->canonicalization_error == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "memokey._core is used before memokey was imported");
    return false;
  }
  return true;
}

// Parses (obj, /, namespace=None). Returns false with an exception set.
inline bool ParseKeyArgs(const char* fname, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames, PyObject** obj, std::optional<std::string_view>* ns) {
  if (nargs == 1 && kwnames == nullptr) {  // key(obj): the common call
    *obj = args[0];
    *ns = std::nullopt;
    return true;
  }
  PyObject* ns_obj = Py_None;
  if (nargs < 1 || nargs > 2) {
    if (nargs < 1) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument 'obj' (pos 1)", fname);
    } else {
      PyErr_Format(PyExc_TypeError, "%s() takes at most 2 positional arguments (%zd given)", fname,
                   nargs);
    }
    return false;
  }
  *obj = args[0];
  if (nargs == 2) ns_obj = args[1];
  if (kwnames != nullptr) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
      PyObject* name = PyTuple_GET_ITEM(kwnames, i);
      if (PyUnicode_CompareWithASCIIString(name, "namespace") != 0) {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname, name);
        return false;
      }
      if (nargs == 2) {
        PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument 'namespace'", fname);
        return false;
      }
      ns_obj = args[nargs + i];
    }
  }
  if (ns_obj == Py_None) {
    *ns = std::nullopt;
    return true;
  }
  if (!PyUnicode_Check(ns_obj)) {
    PyErr_Format(PyExc_TypeError, "%s(): namespace must be a str or None, not %.100s", fname,
                 Py_TYPE(ns_obj)->tp_name);
    return false;
  }
  Py_ssize_t n;
  const char* s = PyUnicode_AsUTF8AndSize(ns_obj, &n);
  if (s == nullptr) return false;
  *ns = std::string_view(s, static_cast<std::size_t>(n));
  return true;
}

// Hashes the frame of `obj` into *out.
bool KeyOf(State& st, PyObject* obj, std::optional<std::string_view> ns, Key* out) {
  ScratchLease s(st);
  KeyEncoder& k = s->key;
  k.reset(ns);
  if (!EncodeObject(st, k.encoder(), s->walk, obj, &s.oversized)) return false;
  try {
    if (k.encoder().buffer().size() >= (std::size_t{1} << 20)) {
      PyThreadState* save = PyEval_SaveThread();
      try {
        *out = k.finish();
      } catch (...) {
        PyEval_RestoreThread(save);
        throw;
      }
      PyEval_RestoreThread(save);
    } else {
      *out = k.finish();
    }
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
    return false;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return false;
  }
  return true;
}

PyObject* py_key(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  State* st = StateOf(self);
  if (!Ready(st)) return nullptr;
  PyObject* obj;
  std::optional<std::string_view> ns;
  if (!ParseKeyArgs("key", args, nargs, kwnames, &obj, &ns)) return nullptr;
  Key key;
  if (!KeyOf(*st, obj, ns, &key)) return nullptr;
  return PyBytes_FromStringAndSize(reinterpret_cast<const char*>(key.bytes.data()), 16);
}

PyObject* py_hexkey(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  State* st = StateOf(self);
  if (!Ready(st)) return nullptr;
  PyObject* obj;
  std::optional<std::string_view> ns;
  if (!ParseKeyArgs("hexkey", args, nargs, kwnames, &obj, &ns)) return nullptr;
  Key key;
  if (!KeyOf(*st, obj, ns, &key)) return nullptr;
  PyObject* s = PyUnicode_New(32, 127);
  if (s == nullptr) return nullptr;
  HexInto(key.bytes, reinterpret_cast<char*>(PyUnicode_1BYTE_DATA(s)));
  return s;
}

PyObject* py_dumps(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  State* st = StateOf(self);
  if (!Ready(st)) return nullptr;
  if (nargs != 1 || (kwnames != nullptr && PyTuple_GET_SIZE(kwnames) != 0)) {
    PyErr_SetString(PyExc_TypeError, "dumps() takes exactly one positional argument");
    return nullptr;
  }
  ScratchLease s(*st);
  Encoder& e = s->plain;
  e.reset();
  PyObject* result = nullptr;
  if (EncodeObject(*st, e, s->walk, args[0], &s.oversized)) {
    const ByteSpan out = e.buffer();
    result = PyBytes_FromStringAndSize(reinterpret_cast<const char*>(out.data()),
                                       static_cast<Py_ssize_t>(out.size()));
  }
  return result;
}

PyObject* py_loads(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  State* st = StateOf(self);
  if (!Ready(st)) return nullptr;
  if (nargs != 1) {
    PyErr_SetString(PyExc_TypeError, "loads() takes exactly one positional argument");
    return nullptr;
  }
  bool strict = true;
  if (kwnames != nullptr) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
      PyObject* name = PyTuple_GET_ITEM(kwnames, i);
      if (PyUnicode_CompareWithASCIIString(name, "strict") != 0) {
        PyErr_Format(PyExc_TypeError, "loads() got an unexpected keyword argument '%U'", name);
        return nullptr;
      }
      const int t = PyObject_IsTrue(args[nargs + i]);
      if (t < 0) return nullptr;
      strict = t != 0;
    }
  }
  return LoadsImpl(*st, args[0], strict);
}

PyObject* py_bind(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  State* st = StateOf(self);
  if (st == nullptr) return nullptr;
  if (nargs != 3) {
    PyErr_SetString(PyExc_TypeError, "_bind(Tagged, DecodeError, CanonicalizationError)");
    return nullptr;
  }
  Py_XSETREF(st->tagged_type, Py_NewRef(args[0]));
  Py_XSETREF(st->decode_error, Py_NewRef(args[1]));
  Py_XSETREF(st->canonicalization_error, Py_NewRef(args[2]));
  st->clear_types();
  Py_RETURN_NONE;
}

PyObject* py_register(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  State* st = StateOf(self);
  if (st == nullptr) return nullptr;
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "_register(cls, fn_or_None)");
    return nullptr;
  }
  if (!PyType_Check(args[0])) {
    PyErr_SetString(PyExc_TypeError, "register(): cls must be a class");
    return nullptr;
  }
  PyTypeObject* t = reinterpret_cast<PyTypeObject*>(args[0]);
  PyTypeObject* fixed[] = {&PyUnicode_Type,  &PyLong_Type,  &PyFloat_Type,     &PyBool_Type,
                           Py_TYPE(Py_None), &PyTuple_Type, &PyList_Type,      &PyDict_Type,
                           &PyBytes_Type,    &PySet_Type,   &PyFrozenSet_Type, &PyBaseObject_Type};
  for (PyTypeObject* f : fixed) {
    if (t == f) {
      PyErr_Format(PyExc_TypeError,
                   "register(): %s has a fixed canonical form and cannot be registered",
                   t->tp_name);
      return nullptr;
    }
  }
  if (args[1] == Py_None) {
    if (PyDict_DelItem(st->registry, args[0]) != 0) {
      if (!PyErr_ExceptionMatches(PyExc_KeyError)) return nullptr;
      PyErr_Clear();
    }
  } else {
    if (!PyCallable_Check(args[1])) {
      PyErr_SetString(PyExc_TypeError, "register(): fn must be callable");
      return nullptr;
    }
    if (PyDict_SetItem(st->registry, args[0], args[1]) != 0) return nullptr;
  }
  st->clear_types();
  Py_RETURN_NONE;
}

PyObject* py_clear_cache(PyObject* self, PyObject*) {
  State* st = StateOf(self);
  if (st == nullptr) return nullptr;
  st->clear_types();
  Py_RETURN_NONE;
}

#define MEMOKEY_KEY_DOC                                                                \
  "Return the 16-byte key of *obj*: XXH3-128 over the frame\n"                         \
  "[\"memokey\", 1, namespace, canonical(obj)] (docs/FORMAT.md §5).\n\n"              \
  "Equal values of the same type give the same key in every process and on every\n"    \
  "machine, from Python and from C++ (memokey::KeyOf). *namespace* (a str, or None)\n" \
  "separates key spaces; None and \"\" are different namespaces.\n\n"                  \
  "Raises CanonicalizationError (a TypeError) naming the path inside *obj* when a\n"   \
  "part of it has no canonical form. Large byte buffers (bytes, numpy arrays) are\n"   \
  "hashed in place with the GIL released."

PyMethodDef kMethods[] = {
    {"dumps", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_dumps)),
     METH_FASTCALL | METH_KEYWORDS,
     "dumps($module, obj, /)\n--\n\n"
     "Return the canonical bytes of *obj*: deterministic CBOR, memokey canonical form v1.\n\n"
     "See memokey.dumps for the rules; raises CanonicalizationError (a TypeError)\n"
     "naming the path inside *obj* when a part of it has no canonical form."},
    {"loads", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_loads)),
     METH_FASTCALL | METH_KEYWORDS,
     "loads($module, data, /, *, strict=True)\n--\n\n"
     "Rebuild the data value whose canonical bytes are *data* (see memokey.loads).\n\n"
     "Raises DecodeError (a ValueError) with the byte offset for malformed input and,\n"
     "when *strict*, for anything not in canonical form."},
    {"key", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_key)),
     METH_FASTCALL | METH_KEYWORDS, "key($module, obj, /, namespace=None)\n--\n\n" MEMOKEY_KEY_DOC},
    {"hexkey", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_hexkey)),
     METH_FASTCALL | METH_KEYWORDS,
     "hexkey($module, obj, /, namespace=None)\n--\n\n"
     "Return key(obj, namespace) as 32 lowercase hexadecimal characters.\n\n"
     "The text form of the key (XXH128's canonical big-endian digest), as the\n"
     "C++ memokey::Key::hex() and the memokey CLI print it."},
    {"_bind", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_bind)), METH_FASTCALL,
     "_bind($module, tagged, decode_error, canonicalization_error, /)\n--\n\n"
     "Internal: called once by memokey/__init__.py."},
    {"_register", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(py_register)),
     METH_FASTCALL,
     "_register($module, cls, fn, /)\n--\n\n"
     "Internal: memokey.register (fn None removes the registration)."},
    {"_clear_cache", py_clear_cache, METH_NOARGS,
     "_clear_cache($module, /)\n--\n\n"
     "Internal: forget the per-class dispatch cache (after changing a class)."},
    {nullptr, nullptr, 0, nullptr},
};

// The functions' `self`: a module object whose module state points to the
// State (freed with it).
void FreeStateModule(void* module) {
  State** slot = static_cast<State**>(PyModule_GetState(static_cast<PyObject*>(module)));
  if (slot != nullptr) {
    delete *slot;
    *slot = nullptr;
  }
}

PyModuleDef kStateModule = {
    PyModuleDef_HEAD_INIT,
    "memokey._core",
    "The module state of memokey._core (the self of its functions).",
    sizeof(State*),
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    FreeStateModule,
};

}  // namespace
}  // namespace memokey::py

NB_MODULE(_core, m) {
  using namespace memokey::py;
  m.doc() =
      "memokey's extension module: the C++ walk over Python objects (see the memokey package).";
  nb::object state_module = nb::steal(PyModule_Create(&kStateModule));
  if (!state_module.is_valid()) throw nb::python_error();
  auto* st = new State();
  *static_cast<State**>(PyModule_GetState(state_module.ptr())) = st;
  if (!st->init()) throw nb::python_error();
  m.attr("_state") = state_module;
  nb::object name = m.attr("__name__");
  for (PyMethodDef* def = kMethods; def->ml_name != nullptr; ++def) {
    PyObject* fn = PyCFunction_NewEx(def, state_module.ptr(), name.ptr());
    if (fn == nullptr) throw nb::python_error();
    m.attr(def->ml_name) = nb::steal(fn);
  }
  m.attr("FORMAT_VERSION") = memokey::kFormatVersion;
  m.attr("MAX_DEPTH") = memokey::kDefaultMaxDepth;
  m.attr("COMPRESS_THRESHOLD") = memokey::kDefaultCompressThreshold;
  memokey_bind_store(m);
}
