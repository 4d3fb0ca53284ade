// memokey/decode_cpp.h — C++ values back from a decoded Value tree (cbor_reader.h).
//
//   memokey::Value v;  memokey::Decode(bytes, &v);           // cbor_reader.h
//   std::map<std::string, int> m;
//   memokey::Status s = memokey::FromValue(v, &m);          // this header
//
// FromValue is the inverse of encode_cpp.h's Encode for the same types: for every
// supported T and value x, FromValue(decoded Canonical(x), &y) gives y == x.
// A Value of the wrong shape is Status::Error naming where it was found, e.g.
// "at [2].b: expected an integer, found text" — never an exception.
//
// The customization point mirrors memokey_encode: a free function found by
// argument-dependent lookup,
//
//   memokey::Status memokey_decode(const memokey::Value& value, MyType* out);
//
// DecodeRecord reads what EncodeRecord wrote:
//
//   memokey::Status memokey_decode(const memokey::Value& v, Point* p) {
//     return memokey::DecodeRecord(v, "geometry:Point", "x", &p->x, "y", &p->y);
//   }

#ifndef MEMOKEY_DECODE_CPP_H_
#define MEMOKEY_DECODE_CPP_H_

#include <array>
#include <concepts>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "memokey/format.h"
#include "memokey/status.h"
#include "memokey/value.h"

namespace memokey {

template <class T>
Status FromValue(const Value& value, T* out);

namespace detail {

template <class T>
concept HasCustomDecode = requires(const Value& v, T* out) {
  { memokey_decode(v, out) } -> std::same_as<Status>;
};

template <class T>
struct IsVector : std::false_type {};
template <class T, class A>
struct IsVector<std::vector<T, A>> : std::true_type {};

template <class T>
struct IsStdArray : std::false_type {};
template <class T, std::size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

template <class T>
struct IsTupleOrPair : std::false_type {};
template <class... T>
struct IsTupleOrPair<std::tuple<T...>> : std::true_type {};
template <class A, class B>
struct IsTupleOrPair<std::pair<A, B>> : std::true_type {};

template <class T>
concept MapContainer = requires {
  typename T::key_type;
  typename T::mapped_type;
};

template <class T>
concept SetContainer = !MapContainer<T> && requires {
  typename T::key_type;
  typename T::value_type;
}
&&std::same_as<typename T::key_type, typename T::value_type>;

inline const char* KindName(const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUnsigned:
    case Value::Kind::kNegative:
      return "an integer";
    case Value::Kind::kBytes:
      return "a byte string";
    case Value::Kind::kText:
      return "text";
    case Value::Kind::kArray:
      return "an array";
    case Value::Kind::kMap:
      return "a map";
    case Value::Kind::kTag:
      return "a tagged value";
    case Value::Kind::kSimple:
      return value.is_bool() ? "a boolean" : (value.is_null() ? "null" : "a simple value");
    case Value::Kind::kFloat:
      return "a float";
  }
  return "an unknown value";
}

inline Status Mismatch(const char* expected, const Value& found) {
  return Status::Error(std::string("expected ") + expected + ", found " + KindName(found));
}

// Prefixes a nested error with the element's position: "[3]", ".name".
inline Status AtPath(const Status& inner, const std::string& segment) {
  if (inner.ok()) return inner;
  std::string message = inner.message();
  if (message.rfind("at ", 0) == 0) {
    message.insert(3, segment);
  } else {
    message = "at " + segment + ": " + message;
  }
  return Status::Error(std::move(message));
}

template <class Tuple, std::size_t... I>
Status TupleFromArray(const std::vector<Value>& items, Tuple* out, std::index_sequence<I...>) {
  Status status;
  ((status.ok()
        ? (status = AtPath(FromValue(items[I], &std::get<I>(*out)), "[" + std::to_string(I) + "]"))
        : status),
   ...);
  return status;
}

inline Status RecordFields(const std::vector<Value>&, std::size_t) { return Status::Ok(); }

template <class V, class... Rest>
Status RecordFields(const std::vector<Value>& flat, std::size_t index, std::string_view name,
                    V* field, Rest... rest) {
  if (flat[index].kind() != Value::Kind::kText || flat[index].text() != name) {
    return Status::Error("expected field '" + std::string(name) + "' at position " +
                         std::to_string(index / 2));
  }
  Status status = AtPath(FromValue(flat[index + 1], field), "." + std::string(name));
  if (!status.ok()) return status;
  return RecordFields(flat, index + 2, rest...);
}

template <class T>
Status IntegerFromValue(const Value& value, T* out) {
  if (value.kind() == Value::Kind::kUnsigned) {
    const std::uint64_t v = value.unsigned_value();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      return Status::Error("integer " + std::to_string(v) + " out of range");
    }
    *out = static_cast<T>(v);
    return Status::Ok();
  }
  if (value.kind() == Value::Kind::kNegative) {
    const std::uint64_t n = value.negative_argument();  // value = -1 - n
    if constexpr (std::is_unsigned_v<T>) {
      return Status::Error("negative integer for an unsigned type");
    } else {
      if (n > static_cast<std::uint64_t>(-(std::numeric_limits<T>::min() + 1))) {
        return Status::Error("integer -1-" + std::to_string(n) + " out of range");
      }
      *out = static_cast<T>(-static_cast<std::int64_t>(n) - 1);
      return Status::Ok();
    }
  }
  return Mismatch("an integer", value);
}

}  // namespace detail

template <class T>
Status FromValue(const Value& value, T* out) {
  using U = std::remove_cv_t<T>;
  if constexpr (detail::HasCustomDecode<U>) {
    return memokey_decode(value, out);
  } else if constexpr (std::same_as<U, Value>) {
    *out = value;
    return Status::Ok();
  } else if constexpr (std::same_as<U, bool>) {
    if (!value.is_bool()) return detail::Mismatch("a boolean", value);
    *out = value.bool_value();
    return Status::Ok();
  } else if constexpr (std::integral<U>) {
    return detail::IntegerFromValue(value, out);
  } else if constexpr (std::floating_point<U>) {
    if (value.kind() != Value::Kind::kFloat) return detail::Mismatch("a float", value);
    const double d = value.float_value();
    if constexpr (std::same_as<U, float>) {
      if (static_cast<double>(static_cast<float>(d)) != d && d == d) {
        return Status::Error("float does not fit a C++ float exactly");
      }
    }
    *out = static_cast<U>(d);
    return Status::Ok();
  } else if constexpr (std::same_as<U, std::string>) {
    if (value.kind() != Value::Kind::kText) return detail::Mismatch("text", value);
    *out = value.text();
    return Status::Ok();
  } else if constexpr (std::same_as<U, std::vector<std::uint8_t>> ||
                       std::same_as<U, std::vector<unsigned char>>) {
    if (value.kind() != Value::Kind::kBytes) return detail::Mismatch("a byte string", value);
    out->assign(value.bytes().begin(), value.bytes().end());
    return Status::Ok();
  } else if constexpr (detail::IsOptional<U>::value) {
    if (value.is_null()) {
      out->reset();
      return Status::Ok();
    }
    typename U::value_type inner{};
    Status status = FromValue(value, &inner);
    if (status.ok()) *out = std::move(inner);
    return status;
  } else if constexpr (detail::IsTupleOrPair<U>::value) {
    constexpr std::size_t n = std::tuple_size_v<U>;
    if (value.kind() != Value::Kind::kTag || value.tag_number() != tag::kTuple ||
        value.tagged().kind() != Value::Kind::kArray) {
      return detail::Mismatch("a tuple", value);
    }
    const auto& items = value.tagged().array();
    if (items.size() != n) {
      return Status::Error("expected a tuple of " + std::to_string(n) + ", found " +
                           std::to_string(items.size()) + " elements");
    }
    return detail::TupleFromArray(items, out, std::make_index_sequence<n>{});
  } else if constexpr (detail::MapContainer<U>) {
    if (value.kind() != Value::Kind::kMap) return detail::Mismatch("a map", value);
    U result;
    for (const auto& [k, v] : value.map()) {
      typename U::key_type key{};
      typename U::mapped_type mapped{};
      Status status = detail::AtPath(FromValue(k, &key), "<key>");
      if (status.ok()) status = detail::AtPath(FromValue(v, &mapped), "[" + ToDiagnostic(k) + "]");
      if (!status.ok()) return status;
      result.emplace(std::move(key), std::move(mapped));
    }
    *out = std::move(result);
    return Status::Ok();
  } else if constexpr (detail::SetContainer<U>) {
    if (value.kind() != Value::Kind::kTag || value.tag_number() != tag::kSet ||
        value.tagged().kind() != Value::Kind::kArray) {
      return detail::Mismatch("a set", value);
    }
    U result;
    std::size_t i = 0;
    for (const Value& element : value.tagged().array()) {
      typename U::value_type item{};
      Status status = detail::AtPath(FromValue(element, &item), "[" + std::to_string(i++) + "]");
      if (!status.ok()) return status;
      result.insert(std::move(item));
    }
    *out = std::move(result);
    return Status::Ok();
  } else if constexpr (detail::IsVector<U>::value || detail::IsStdArray<U>::value) {
    if (value.kind() != Value::Kind::kArray) return detail::Mismatch("an array", value);
    const auto& items = value.array();
    if constexpr (detail::IsStdArray<U>::value) {
      if (items.size() != std::tuple_size_v<U>) {
        return Status::Error("expected an array of " + std::to_string(std::tuple_size_v<U>) +
                             ", found " + std::to_string(items.size()) + " elements");
      }
    } else {
      out->resize(items.size());
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      Status status =
          detail::AtPath(FromValue(items[i], &(*out)[i]), "[" + std::to_string(i) + "]");
      if (!status.ok()) return status;
    }
    return Status::Ok();
  } else {
    static_assert(!sizeof(U*),
                  "memokey::FromValue: no rule for this type; define "
                  "memokey::Status memokey_decode(const memokey::Value&, T*) in its namespace");
  }
}

// Reads a record written by EncodeRecord(encoder, class_id, names and values...):
// the class id and every field name must match, in order.
template <class... NamesAndPointers>
Status DecodeRecord(const Value& value, std::string_view class_id,
                    NamesAndPointers... names_and_pointers) {
  constexpr std::size_t fields = sizeof...(NamesAndPointers) / 2;
  if (value.kind() != Value::Kind::kTag || value.tag_number() != tag::kObject ||
      value.tagged().kind() != Value::Kind::kArray || value.tagged().array().size() != 2) {
    return detail::Mismatch("a record", value);
  }
  const auto& parts = value.tagged().array();
  if (parts[0].kind() != Value::Kind::kText || parts[0].text() != class_id) {
    return Status::Error("expected a record of class " + std::string(class_id));
  }
  const Value& state = parts[1];
  if (state.kind() != Value::Kind::kTag || state.tag_number() != tag::kOrderedMap ||
      state.tagged().kind() != Value::Kind::kArray || state.tagged().array().size() != 2 * fields) {
    return Status::Error("expected " + std::to_string(fields) + " fields in " +
                         std::string(class_id));
  }
  return detail::RecordFields(state.tagged().array(), 0, names_and_pointers...);
}

}  // namespace memokey

#endif  // MEMOKEY_DECODE_CPP_H_
