// memokey/encode_cpp.h — C++ values to canonical form, written through a CBOR writer
// (cbor_writer.h).
//
//   memokey::Encode(encoder, value);          // any supported value
//   std::vector<uint8_t> b = memokey::Canonical(value);
//   memokey::Key k = memokey::KeyOf(value, "namespace");
//
// Supported, with the CBOR each becomes (docs/FORMAT.md has the full table):
//   std::nullptr_t, std::nullopt        -> null
//   bool                                -> false / true
//   signed and unsigned integers        -> integer (__int128 too, via bignum)
//   float, double                       -> float, shortest exact width
//   std::string, std::string_view, const char*  -> text (must be UTF-8)
//   contiguous ranges of std::byte / unsigned char (std::vector<std::uint8_t>,
//     std::array<std::byte, N>, std::span<const std::uint8_t>, ...) -> byte string
//   std::optional<T>                    -> null or the value
//   std::pair, std::tuple               -> tuple (tag 0x6D6B01 over an array)
//   map-like ranges (std::map, std::unordered_map, ...)  -> map, sorted
//   set-like ranges (std::set, std::unordered_set, ...)  -> set (tag 258), sorted
//   other ranges (std::vector, std::array, std::list, ...) -> array
//   memokey::Value                      -> its canonical form
//
// The one customization point: a free function found by argument-dependent
// lookup, in the namespace of your type,
//
//   void memokey_encode(memokey::Encoder& encoder, const MyType& value);
//
// which must write exactly one data item. EncodeRecord writes the form a
// Python dataclass takes, so the same record keys alike from both languages:
//
//   void memokey_encode(memokey::Encoder& e, const Point& p) {
//     memokey::EncodeRecord(e, "geometry:Point", "x", p.x, "y", p.y);
//   }
//
// A customization takes precedence over every built-in rule above.

#ifndef MEMOKEY_ENCODE_CPP_H_
#define MEMOKEY_ENCODE_CPP_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "memokey/cbor_writer.h"
#include "memokey/format.h"
#include "memokey/key.h"
#include "memokey/value.h"

namespace memokey {

namespace detail {

// __int128 is a GNU extension; __extension__ keeps -Wpedantic quiet.
__extension__ using Int128 = __int128;
__extension__ using UInt128 = unsigned __int128;

template <class T>
concept HasCustomEncode = requires(Encoder& e, const T& v) {
  memokey_encode(e, v);
};

template <class T>
concept TupleLike = requires {
  std::tuple_size<T>::value;
}
&&!std::ranges::range<T>;

template <class T>
concept ByteRange = std::ranges::contiguous_range<T> &&
    (std::same_as<std::remove_cv_t<std::ranges::range_value_t<T>>, std::byte> ||
     std::same_as<std::remove_cv_t<std::ranges::range_value_t<T>>, unsigned char>);

template <class T>
concept MapLike = std::ranges::range<T> && requires {
  typename T::key_type;
  typename T::mapped_type;
};

template <class T>
concept SetLike = std::ranges::range<T> && !MapLike<T> && requires {
  typename T::key_type;
  typename T::value_type;
}
&&std::same_as<typename T::key_type, typename T::value_type>;

template <class T>
concept Optional = requires(const T& v) {
  v.has_value();
  *v;
  typename T::value_type;
}
&&std::same_as<T, std::optional<typename T::value_type>>;

template <class T>
inline constexpr bool kAlwaysFalse = false;

}  // namespace detail

template <class T>
void Encode(Encoder& encoder, const T& value);

namespace detail {

template <class Tuple, std::size_t... I>
void EncodeTupleElements(Encoder& encoder, const Tuple& t, std::index_sequence<I...>) {
  (Encode(encoder, std::get<I>(t)), ...);
}

inline void EncodeRecordFields(Encoder&) {}

template <class V, class... Rest>
void EncodeRecordFields(Encoder& encoder, std::string_view name, const V& value,
                        const Rest&... rest) {
  encoder.text(name);
  Encode(encoder, value);
  EncodeRecordFields(encoder, rest...);
}

}  // namespace detail

template <class T>
void Encode(Encoder& encoder, const T& value) {
  using U = std::remove_cvref_t<T>;
  if constexpr (detail::HasCustomEncode<U>) {
    memokey_encode(encoder, value);
  } else if constexpr (std::same_as<U, Value>) {
    EncodeValue(encoder, value);
  } else if constexpr (std::same_as<U, std::nullptr_t> || std::same_as<U, std::nullopt_t>) {
    encoder.null();
  } else if constexpr (std::same_as<U, bool>) {
    encoder.boolean(value);
  } else if constexpr (std::same_as<U, detail::Int128> || std::same_as<U, detail::UInt128>) {
    const bool negative = value < 0;
    auto magnitude = static_cast<detail::UInt128>(negative ? -(value + 1) : value);
    std::uint8_t be[16];
    for (int i = 15; i >= 0; --i) {
      be[i] = static_cast<std::uint8_t>(magnitude);
      magnitude >>= 8;
    }
    encoder.bignum(negative, ByteSpan(be, 16));
  } else if constexpr (std::signed_integral<U>) {
    encoder.int64(static_cast<std::int64_t>(value));
  } else if constexpr (std::unsigned_integral<U>) {
    encoder.uint(static_cast<std::uint64_t>(value));
  } else if constexpr (std::floating_point<U>) {
    encoder.float64(static_cast<double>(value));
  } else if constexpr (std::convertible_to<const U&, std::string_view>) {
    encoder.text(std::string_view(value));
  } else if constexpr (detail::ByteRange<U>) {
    encoder.bytes(ByteSpan(reinterpret_cast<const std::uint8_t*>(std::ranges::data(value)),
                           std::ranges::size(value)));
  } else if constexpr (detail::Optional<U>) {
    if (value.has_value()) {
      Encode(encoder, *value);
    } else {
      encoder.null();
    }
  } else if constexpr (detail::TupleLike<U>) {
    encoder.tag(tag::kTuple);
    encoder.array(std::tuple_size_v<U>);
    detail::EncodeTupleElements(encoder, value, std::make_index_sequence<std::tuple_size_v<U>>{});
  } else if constexpr (detail::MapLike<U>) {
    encoder.begin_map();
    for (const auto& [k, v] : value) {
      encoder.item();
      Encode(encoder, k);
      Encode(encoder, v);
    }
    encoder.end_map();
  } else if constexpr (detail::SetLike<U>) {
    encoder.tag(tag::kSet);
    encoder.begin_set();
    for (const auto& element : value) {
      encoder.item();
      Encode(encoder, element);
    }
    encoder.end_set();
  } else if constexpr (std::ranges::sized_range<U>) {
    encoder.array(std::ranges::size(value));
    for (const auto& element : value) Encode(encoder, element);
  } else if constexpr (std::ranges::forward_range<U>) {
    encoder.array(static_cast<std::uint64_t>(std::ranges::distance(value)));
    for (const auto& element : value) Encode(encoder, element);
  } else {
    static_assert(detail::kAlwaysFalse<U>,
                  "memokey::Encode: no canonical form for this type; define "
                  "void memokey_encode(memokey::Encoder&, const T&) in its namespace");
  }
}

// Writes a record the way a Python dataclass is written: tag 0x6D6B04 over
// [class_id, tag 0x6D6B03 over [name1, value1, name2, value2, ...]], fields
// in the order given. class_id is "module:qualname" for Python classes.
template <class... NamesAndValues>
void EncodeRecord(Encoder& encoder, std::string_view class_id,
                  const NamesAndValues&... names_and_values) {
  static_assert(sizeof...(NamesAndValues) % 2 == 0, "EncodeRecord takes name, value pairs");
  encoder.tag(tag::kObject);
  encoder.array(2);
  encoder.text(class_id);
  encoder.tag(tag::kOrderedMap);
  encoder.array(sizeof...(NamesAndValues));
  detail::EncodeRecordFields(encoder, names_and_values...);
}

// The canonical bytes of `value`.
template <class T>
std::vector<std::uint8_t> Canonical(const T& value) {
  Encoder encoder;
  Encode(encoder, value);
  encoder.finish();
  return encoder.take();
}

// The key of `value` (key.h describes the frame).
template <class T>
Key KeyOf(const T& value, std::optional<std::string_view> key_namespace = std::nullopt) {
  KeyEncoder k(key_namespace);
  Encode(k.encoder(), value);
  return k.finish();
}

}  // namespace memokey

#endif  // MEMOKEY_ENCODE_CPP_H_
