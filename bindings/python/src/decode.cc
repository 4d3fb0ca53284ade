// decode.cc — memokey.loads: canonical bytes back to Python data.
//
// The bytes are first checked by the C++ core (memokey::Decode in strict
// mode, or memokey::Canonicalize in lenient mode, which also rewrites them
// into canonical form); this file then walks the canonical bytes and builds
// Python objects. It rebuilds only data types (FORMAT.md §4) and never
// imports or calls anything named by the data: classes, functions, enum
// members, numpy arrays and unknown tags come back as memokey.Tagged. In
// strict mode the result is encoded again and must give the input back byte
// for byte, which rejects what the CBOR layer cannot see (a Fraction not in
// lowest terms, a timedelta not normalized, map keys that Python considers
// equal such as 1 and 1.0).

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "memokey/cbor_bits.h"
#include "memokey/cbor_reader.h"
#include "memokey/format.h"
#include "state.h"

namespace memokey::py {

namespace {

class DecodeFailure {};  // a DecodeError (or other exception) is set

class Reader {
 public:
  Reader(State& st, ByteSpan data, bool canonicalized)
      : st_(st), d_(data), canonicalized_(canonicalized) {}

  PyObject* top() {
    try {
      PyObject* v = item();
      if (pos_ != d_.size()) {
        Py_DECREF(v);
        error("trailing bytes after the value", pos_);
      }
      return v;
    } catch (const DecodeFailure&) {
      return nullptr;
    }
  }

 private:
  [[noreturn]] void error(const std::string& message, std::size_t offset) {
    std::string m = message;
    if (canonicalized_) m += " (offset into the canonicalized input)";
    RaiseDecodeError(st_, m, static_cast<Py_ssize_t>(offset));
    throw DecodeFailure();
  }
  // Turns a pending Python exception into a DecodeError at `offset`.
  [[noreturn]] void error_py(const std::string& context, std::size_t offset) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    std::string detail;
    if (value != nullptr) {
      Ref s = Ref::steal(PyObject_Str(value));
      if (s) {
        const char* c = PyUnicode_AsUTF8(s.get());
        if (c != nullptr) detail = c;
      }
      PyErr_Clear();
    }
    const bool pass = type != nullptr && (!PyErr_GivenExceptionMatches(type, PyExc_Exception) ||
                                          PyErr_GivenExceptionMatches(type, PyExc_MemoryError));
    if (pass) {
      PyErr_Restore(type, value, tb);
      throw DecodeFailure();
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    error(context + (detail.empty() ? "" : ": " + detail), offset);
  }
  static PyObject* check(PyObject* o) {
    if (o == nullptr) throw DecodeFailure();
    return o;
  }
  Ref checked(PyObject* o, const char* context, std::size_t offset) {
    if (o == nullptr) error_py(context, offset);
    return Ref::steal(o);
  }

  std::uint64_t argument(std::uint8_t info, std::size_t start) {
    if (info < 24) return info;
    if (info > 27) error("indefinite length or reserved value", start);
    const std::size_t n = std::size_t{1} << (info - 24);
    if (d_.size() - pos_ < n) error("truncated", start);
    const std::uint64_t v = ReadBigEndian(d_.data() + pos_, n);
    pos_ += n;
    return v;
  }

  PyObject* item() {
    const std::size_t start = pos_;
    if (pos_ >= d_.size()) error("truncated", start);
    const std::uint8_t initial = d_[pos_++];
    const std::uint8_t major = initial >> 5;
    const std::uint8_t info = initial & 0x1f;
    if (major == 7) return simple(info, start);
    const std::uint64_t arg = argument(info, start);
    switch (major) {
      case 0:
        return check(PyLong_FromUnsignedLongLong(arg));
      case 1: {
        if (arg <= static_cast<std::uint64_t>(INT64_MAX)) {
          return check(PyLong_FromLongLong(-1 - static_cast<long long>(arg)));
        }
        Ref n = Ref::steal(check(PyLong_FromUnsignedLongLong(arg)));
        return check(PyNumber_Invert(n.get()));
      }
      case 2: {
        if (d_.size() - pos_ < arg) error("truncated", start);
        PyObject* b = check(PyBytes_FromStringAndSize(
            reinterpret_cast<const char*>(d_.data() + pos_), static_cast<Py_ssize_t>(arg)));
        pos_ += arg;
        return b;
      }
      case 3: {
        if (d_.size() - pos_ < arg) error("truncated", start);
        PyObject* s = PyUnicode_DecodeUTF8(reinterpret_cast<const char*>(d_.data() + pos_),
                                           static_cast<Py_ssize_t>(arg), "strict");
        if (s == nullptr) error_py("invalid UTF-8 text", start);
        pos_ += arg;
        return s;
      }
      case 4: {
        if (arg > d_.size() - pos_) error("array longer than the input", start);
        Ref list = Ref::steal(check(PyList_New(static_cast<Py_ssize_t>(arg))));
        for (std::uint64_t i = 0; i < arg; ++i) {
          PyList_SET_ITEM(list.get(), static_cast<Py_ssize_t>(i), item());
        }
        return list.release();
      }
      case 5: {
        if (arg > d_.size() - pos_) error("map longer than the input", start);
        Ref dict = Ref::steal(check(PyDict_New()));
        for (std::uint64_t i = 0; i < arg; ++i) {
          const std::size_t key_at = pos_;
          Ref k = Ref::steal(item());
          Ref v = Ref::steal(item());
          if (PyDict_SetItem(dict.get(), k.get(), v.get()) != 0) {
            error_py("a map key has no Python equivalent that can be a dict key", key_at);
          }
          if (static_cast<std::uint64_t>(PyDict_GET_SIZE(dict.get())) != i + 1) {
            error("two map keys are equal in Python (such as 1, 1.0 and True)", key_at);
          }
        }
        return dict.release();
      }
      case 6:
        return tagged(arg, start);
    }
    error("unknown major type", start);
  }

  PyObject* simple(std::uint8_t info, std::size_t start) {
    switch (info) {
      case 20:
        Py_RETURN_FALSE;
      case 21:
        Py_RETURN_TRUE;
      case 22:
        Py_RETURN_NONE;
      case 25:
      case 26:
      case 27: {
        const std::size_t n = std::size_t{1} << (info - 24);
        if (d_.size() - pos_ < n) error("truncated", start);
        const std::uint64_t bits = ReadBigEndian(d_.data() + pos_, n);
        pos_ += n;
        return check(PyFloat_FromDouble(FloatFromBits(info, bits)));
      }
      default:
        error(info == 23 ? "undefined has no Python equivalent"
                         : "simple value " + std::to_string(info) + " has no Python equivalent",
              start);
    }
  }

  static bool IsInt(PyObject* o) { return PyLong_CheckExact(o); }
  // content must be a list of n items satisfying pred
  bool shape(PyObject* c, Py_ssize_t n) { return PyList_CheckExact(c) && PyList_GET_SIZE(c) == n; }

  PyObject* make_tagged(std::uint64_t number, PyObject* content, std::size_t start) {
    if (st_.tagged_type == nullptr) error("memokey is not initialized", start);
    Ref t = Ref::steal(check(PyLong_FromUnsignedLongLong(number)));
    return checked(PyObject_CallFunctionObjArgs(st_.tagged_type, t.get(), content, nullptr),
                   "cannot build a Tagged value", start)
        .release();
  }

  PyObject* import_attr(const char* module, const char* attr, std::size_t start) {
    Ref m = checked(PyImport_ImportModule(module), "import failed", start);
    return checked(PyObject_GetAttrString(m.get(), attr), "import failed", start).release();
  }

  PyObject* timezone(PyObject* offset, std::size_t start) {
    if (offset == Py_None) return Py_NewRef(Py_None);
    if (!IsInt(offset)) error("utcoffset is neither an integer nor null", start);
    Ref zero = Ref::steal(check(PyLong_FromLong(0)));
    Ref delta = checked(PyObject_CallFunctionObjArgs(reinterpret_cast<PyObject*>(st_.dt->DeltaType),
                                                     zero.get(), zero.get(), offset, nullptr),
                        "invalid utcoffset", start);
    return checked(st_.dt->TimeZone_FromTimeZone(delta.get(), nullptr), "invalid utcoffset", start)
        .release();
  }

  int small(PyObject* c, Py_ssize_t i, std::size_t start) {
    PyObject* v = PyList_GET_ITEM(c, i);
    if (!IsInt(v)) error("a date/time field is not an integer", start);
    const long x = PyLong_AsLong(v);
    if ((x == -1 && PyErr_Occurred()) || x < INT32_MIN || x > INT32_MAX) {
      PyErr_Clear();
      error("a date/time field is out of range", start);
    }
    return static_cast<int>(x);
  }

  PyObject* tagged(std::uint64_t number, std::size_t start) {
    // Bignums: straight from the byte string.
    if (number == tag::kPositiveBignum || number == tag::kNegativeBignum) {
      if (pos_ >= d_.size() || (d_[pos_] >> 5) != 2)
        error("a bignum's content is not a byte string", start);
      const std::size_t content_at = pos_;
      ++pos_;
      const std::uint64_t n = argument(d_[content_at] & 0x1f, content_at);
      if (d_.size() - pos_ < n) error("truncated", start);
      const std::uint8_t* p = d_.data() + pos_;
      pos_ += n;
#if PY_VERSION_HEX >= 0x030D0000
      Ref magnitude = Ref::steal(check(PyLong_FromUnsignedNativeBytes(
          p, static_cast<std::size_t>(n), Py_ASNATIVEBYTES_BIG_ENDIAN)));
#else
      Ref magnitude =
          Ref::steal(check(_PyLong_FromByteArray(p, static_cast<std::size_t>(n), 0, 0)));
#endif
      if (number == tag::kPositiveBignum) return magnitude.release();
      return check(PyNumber_Invert(magnitude.get()));
    }
    Ref c = Ref::steal(item());
    PyObject* content = c.get();
    switch (number) {
      case tag::kTuple:
        if (!PyList_CheckExact(content)) error("a tuple's content is not an array", start);
        return check(PyList_AsTuple(content));
      case tag::kSet:
      case tag::kFrozenSet: {
        if (!PyList_CheckExact(content)) error("a set's content is not an array", start);
        Ref s = checked(number == tag::kSet ? PySet_New(content) : PyFrozenSet_New(content),
                        "a set element has no hashable Python equivalent", start);
        if (PySet_GET_SIZE(s.get()) != PyList_GET_SIZE(content)) {
          error("two set elements are equal in Python (such as 1, 1.0 and True)", start);
        }
        return s.release();
      }
      case tag::kOrderedMap: {
        if (!PyList_CheckExact(content) || PyList_GET_SIZE(content) % 2 != 0) {
          error("an OrderedDict's content is not an array of key, value pairs", start);
        }
        Ref cls = Ref::steal(import_attr("collections", "OrderedDict", start));
        Ref od = checked(PyObject_CallNoArgs(cls.get()), "cannot build an OrderedDict", start);
        const Py_ssize_t n = PyList_GET_SIZE(content);
        for (Py_ssize_t i = 0; i < n; i += 2) {
          if (PyObject_SetItem(od.get(), PyList_GET_ITEM(content, i),
                               PyList_GET_ITEM(content, i + 1)) != 0) {
            error_py("an OrderedDict key has no hashable Python equivalent", start);
          }
          if (PyObject_Length(od.get()) != i / 2 + 1) {
            error("two OrderedDict keys are equal in Python", start);
          }
        }
        return od.release();
      }
      case tag::kDecimalFraction: {
        if (!shape(content, 2) || !IsInt(PyList_GET_ITEM(content, 0)) ||
            !IsInt(PyList_GET_ITEM(content, 1))) {
          error("a decimal fraction is not [exponent, mantissa] integers", start);
        }
        PyObject* exponent = PyList_GET_ITEM(content, 0);
        PyObject* mantissa = PyList_GET_ITEM(content, 1);
        Ref negative_obj = Ref::steal(check(PyLong_FromLong(0)));
        const int negative = PyObject_RichCompareBool(mantissa, negative_obj.get(), Py_LT);
        if (negative < 0) throw DecodeFailure();
        Ref magnitude = Ref::steal(check(PyNumber_Absolute(mantissa)));
        Ref digits_str = Ref::steal(check(PyObject_Str(magnitude.get())));
        const Py_ssize_t nd = PyUnicode_GET_LENGTH(digits_str.get());
        Ref digits = Ref::steal(check(PyTuple_New(nd)));
        for (Py_ssize_t i = 0; i < nd; ++i) {
          const Py_UCS4 ch = PyUnicode_READ_CHAR(digits_str.get(), i);
          PyTuple_SET_ITEM(digits.get(), i, check(PyLong_FromLong(static_cast<long>(ch - '0'))));
        }
        Ref sign = Ref::steal(check(PyLong_FromLong(negative)));
        Ref tup = Ref::steal(check(PyTuple_Pack(3, sign.get(), digits.get(), exponent)));
        Ref cls = Ref::steal(import_attr("decimal", "Decimal", start));
        return checked(PyObject_CallOneArg(cls.get(), tup.get()), "invalid Decimal", start)
            .release();
      }
      case tag::kDecimalSpecial: {
        if (!PyUnicode_CheckExact(content)) error("a special Decimal is not text", start);
        Ref cls = Ref::steal(import_attr("decimal", "Decimal", start));
        return checked(PyObject_CallOneArg(cls.get(), content), "invalid Decimal", start).release();
      }
      case tag::kRational: {
        if (!shape(content, 2) || !IsInt(PyList_GET_ITEM(content, 0)) ||
            !IsInt(PyList_GET_ITEM(content, 1))) {
          error("a rational is not [numerator, denominator] integers", start);
        }
        Ref cls = Ref::steal(import_attr("fractions", "Fraction", start));
        return checked(PyObject_CallFunctionObjArgs(cls.get(), PyList_GET_ITEM(content, 0),
                                                    PyList_GET_ITEM(content, 1), nullptr),
                       "invalid Fraction", start)
            .release();
      }
      case tag::kUuid: {
        if (!PyBytes_CheckExact(content) || PyBytes_GET_SIZE(content) != 16) {
          error("a UUID is not a 16-byte string", start);
        }
        Ref cls = Ref::steal(import_attr("uuid", "UUID", start));
        Ref kwargs = Ref::steal(check(PyDict_New()));
        if (PyDict_SetItemString(kwargs.get(), "bytes", content) != 0) throw DecodeFailure();
        Ref empty = Ref::steal(check(PyTuple_New(0)));
        return checked(PyObject_Call(cls.get(), empty.get(), kwargs.get()), "invalid UUID", start)
            .release();
      }
      case tag::kFullDate: {
        if (!PyUnicode_CheckExact(content) || PyUnicode_GET_LENGTH(content) != 10) {
          error("a date is not \"YYYY-MM-DD\" text", start);
        }
        int parts[3] = {0, 0, 0};
        const int widths[3] = {4, 2, 2};
        Py_ssize_t at = 0;
        for (int p = 0; p < 3; ++p) {
          for (int k = 0; k < widths[p]; ++k, ++at) {
            const Py_UCS4 ch = PyUnicode_READ_CHAR(content, at);
            if (ch < '0' || ch > '9') error("a date is not \"YYYY-MM-DD\" text", start);
            parts[p] = parts[p] * 10 + static_cast<int>(ch - '0');
          }
          if (p < 2) {
            if (PyUnicode_READ_CHAR(content, at) != '-')
              error("a date is not \"YYYY-MM-DD\" text", start);
            ++at;
          }
        }
        return checked(st_.dt->Date_FromDate(parts[0], parts[1], parts[2], st_.dt->DateType),
                       "invalid date", start)
            .release();
      }
      case tag::kDateTime: {
        if (!shape(content, 9)) error("a datetime is not a 9-element array", start);
        int f[8];
        for (int i = 0; i < 8; ++i) f[i] = small(content, i, start);
        Ref tz = Ref::steal(timezone(PyList_GET_ITEM(content, 8), start));
        return checked(
                   st_.dt->DateTime_FromDateAndTimeAndFold(f[0], f[1], f[2], f[3], f[4], f[5], f[6],
                                                           tz.get(), f[7], st_.dt->DateTimeType),
                   "invalid datetime", start)
            .release();
      }
      case tag::kTime: {
        if (!shape(content, 6)) error("a time is not a 6-element array", start);
        int f[5];
        for (int i = 0; i < 5; ++i) f[i] = small(content, i, start);
        Ref tz = Ref::steal(timezone(PyList_GET_ITEM(content, 5), start));
        return checked(st_.dt->Time_FromTimeAndFold(f[0], f[1], f[2], f[3], tz.get(), f[4],
                                                    st_.dt->TimeType),
                       "invalid time", start)
            .release();
      }
      case tag::kTimeDelta: {
        if (!shape(content, 3) || !IsInt(PyList_GET_ITEM(content, 0)) ||
            !IsInt(PyList_GET_ITEM(content, 1)) || !IsInt(PyList_GET_ITEM(content, 2))) {
          error("a timedelta is not [days, seconds, microseconds] integers", start);
        }
        return checked(PyObject_CallFunctionObjArgs(reinterpret_cast<PyObject*>(st_.dt->DeltaType),
                                                    PyList_GET_ITEM(content, 0),
                                                    PyList_GET_ITEM(content, 1),
                                                    PyList_GET_ITEM(content, 2), nullptr),
                       "invalid timedelta", start)
            .release();
      }
      case tag::kComplex: {
        if (!shape(content, 2) || !PyFloat_CheckExact(PyList_GET_ITEM(content, 0)) ||
            !PyFloat_CheckExact(PyList_GET_ITEM(content, 1))) {
          error("a complex is not [real, imag] floats", start);
        }
        return check(PyComplex_FromDoubles(PyFloat_AS_DOUBLE(PyList_GET_ITEM(content, 0)),
                                           PyFloat_AS_DOUBLE(PyList_GET_ITEM(content, 1))));
      }
      case tag::kRange: {
        if (!shape(content, 3) || !IsInt(PyList_GET_ITEM(content, 0)) ||
            !IsInt(PyList_GET_ITEM(content, 1)) || !IsInt(PyList_GET_ITEM(content, 2))) {
          error("a range is not [start, stop, step] integers", start);
        }
        return checked(PyObject_CallFunctionObjArgs(
                           reinterpret_cast<PyObject*>(&PyRange_Type), PyList_GET_ITEM(content, 0),
                           PyList_GET_ITEM(content, 1), PyList_GET_ITEM(content, 2), nullptr),
                       "invalid range", start)
            .release();
      }
      case tag::kSlice:
        if (!shape(content, 3)) error("a slice is not a 3-element array", start);
        return check(PySlice_New(PyList_GET_ITEM(content, 0), PyList_GET_ITEM(content, 1),
                                 PyList_GET_ITEM(content, 2)));
      case tag::kObject:
        if (shape(content, 2) && PyUnicode_CheckExact(PyList_GET_ITEM(content, 0)) &&
            PyUnicode_CompareWithASCIIString(PyList_GET_ITEM(content, 0), "builtins:bytearray") ==
                0 &&
            PyBytes_CheckExact(PyList_GET_ITEM(content, 1))) {
          return check(PyByteArray_FromObject(PyList_GET_ITEM(content, 1)));
        }
        return make_tagged(number, content, start);
      default:
        return make_tagged(number, content, start);
    }
  }

  State& st_;
  ByteSpan d_;
  bool canonicalized_;
  std::size_t pos_ = 0;
};

}  // namespace

void RaiseDecodeError(State& st, const std::string& message, Py_ssize_t offset) {
  std::string text = offset >= 0 ? "at byte " + std::to_string(offset) + ": " + message : message;
  PyObject* cls = st.decode_error != nullptr ? st.decode_error : PyExc_ValueError;
  Ref msg = Ref::steal(
      PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace"));
  if (!msg) return;
  Ref off = offset >= 0 ? Ref::steal(PyLong_FromSsize_t(offset)) : Ref::borrow(Py_None);
  if (!off) return;
  Ref exc = Ref::steal(st.decode_error != nullptr
                           ? PyObject_CallFunctionObjArgs(cls, msg.get(), off.get(), nullptr)
                           : PyObject_CallOneArg(cls, msg.get()));
  if (!exc) return;
  PyErr_SetObject(cls, exc.get());
}

PyObject* LoadsImpl(State& st, PyObject* data, bool strict) {
  Py_buffer view;
  if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) != 0) {
    PyErr_Format(PyExc_TypeError, "loads() takes a bytes-like object, not %.100s",
                 Py_TYPE(data)->tp_name);
    return nullptr;
  }
  struct Release {
    Py_buffer* v;
    ~Release() { PyBuffer_Release(v); }
  } release{&view};
  const ByteSpan input(static_cast<const std::uint8_t*>(view.buf),
                       static_cast<std::size_t>(view.len));

  std::vector<std::uint8_t> canonical;
  ByteSpan src = input;
  try {
    if (strict) {
      Value parsed;
      const Status s = Decode(input, &parsed, DecodeOptions{});
      if (!s.ok()) {
        RaiseDecodeError(
            st, s.message(),
            s.offset() == Status::kNoOffset ? -1 : static_cast<Py_ssize_t>(s.offset()));
        return nullptr;
      }
    } else {
      const Status s = Canonicalize(input, &canonical);
      if (!s.ok()) {
        RaiseDecodeError(
            st, s.message(),
            s.offset() == Status::kNoOffset ? -1 : static_cast<Py_ssize_t>(s.offset()));
        return nullptr;
      }
      src = ByteSpan(canonical.data(), canonical.size());
    }
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
    return nullptr;
  } catch (const std::exception& e) {
    RaiseDecodeError(st, e.what(), -1);
    return nullptr;
  }

  Reader reader(st, src,
                !strict && (canonical.size() != input.size() ||
                            std::memcmp(canonical.data(), input.data(), input.size()) != 0));
  Ref result = Ref::steal(reader.top());
  if (!result || !strict) return result.release();

  // Strict: the value must encode back to the very same bytes.
  Encoder enc;
  WalkScratch walk;
  bool oversized = false;
  if (!EncodeObject(st, enc, walk, result.get(), &oversized)) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    std::string detail = "the decoded value has no canonical form";
    if (value != nullptr) {
      Ref s = Ref::steal(PyObject_Str(value));
      if (s && PyUnicode_AsUTF8(s.get()) != nullptr)
        detail += std::string(": ") + PyUnicode_AsUTF8(s.get());
      PyErr_Clear();
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    RaiseDecodeError(st, detail, 0);
    return nullptr;
  }
  enc.finish();
  const ByteSpan again = enc.buffer();
  if (again.size() != input.size() || std::memcmp(again.data(), input.data(), input.size()) != 0) {
    std::size_t at = 0;
    while (at < again.size() && at < input.size() && again[at] == input[at]) ++at;
    RaiseDecodeError(
        st,
        "not canonical: the value it describes encodes differently from here on (e.g. a "
        "Fraction not in lowest terms, an unnormalized timedelta, a non-special Decimal "
        "written as text)",
        static_cast<Py_ssize_t>(at));
    return nullptr;
  }
  return result.release();
}

}  // namespace memokey::py
