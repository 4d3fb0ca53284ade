// memokey/value.h — a decoded CBOR data item.
//
// Value is a tree of the eight CBOR data model kinds. It holds what any
// well-formed CBOR carries (after Decode in lenient mode) and encodes back in
// canonical form through EncodeValue: maps sorted by encoded key, tag 258 and
// memokey's frozenset tag sorted and de-duplicated, bignums (tags 2/3)
// minimized or turned into plain integers when they fit in 64 bits, floats at
// their shortest exact width, every NaN as f97e00.

#ifndef MEMOKEY_VALUE_H_
#define MEMOKEY_VALUE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "memokey/cbor_writer.h"

namespace memokey {

class Value {
 public:
  enum class Kind : std::uint8_t {
    kUnsigned,  // 0..2^64-1
    kNegative,  // -1 - n for n in 0..2^64-1
    kBytes,
    kText,
    kArray,
    kMap,
    kTag,
    kSimple,  // false, true, null, undefined and the other simple values
    kFloat,
  };
  using Entry = std::pair<Value, Value>;

  Value() : Value(Simple(kSimpleNull)) {}  // null

  static Value Unsigned(std::uint64_t v) { return Value(Kind::kUnsigned, v); }
  static Value Negative(std::uint64_t n) { return Value(Kind::kNegative, n); }  // -1 - n
  static Value Integer(std::int64_t v) {
    return v >= 0 ? Unsigned(static_cast<std::uint64_t>(v))
                  : Negative(static_cast<std::uint64_t>(-(v + 1)));
  }
  static Value Bytes(std::vector<std::uint8_t> b) { return Value(Kind::kBytes, std::move(b)); }
  static Value Text(std::string t) { return Value(Kind::kText, std::move(t)); }
  static Value Array(std::vector<Value> items) { return Value(Kind::kArray, std::move(items)); }
  static Value Map(std::vector<Entry> entries) { return Value(Kind::kMap, std::move(entries)); }
  static Value Tag(std::uint64_t number, Value content) {
    return Value(Kind::kTag, Tagged{number, std::make_shared<Value>(std::move(content))});
  }
  static Value Simple(std::uint8_t v) {
    return Value(Kind::kSimple, static_cast<std::uint64_t>(v));
  }
  static Value Bool(bool b) { return Simple(b ? kSimpleTrue : kSimpleFalse); }
  static Value Null() { return Simple(kSimpleNull); }
  static Value Undefined() { return Simple(kSimpleUndefined); }
  static Value Float(double d) { return Value(Kind::kFloat, d); }

  Kind kind() const { return kind_; }
  bool is_bool() const {
    return kind_ == Kind::kSimple && (simple() == kSimpleFalse || simple() == kSimpleTrue);
  }
  bool is_null() const { return kind_ == Kind::kSimple && simple() == kSimpleNull; }

  // Accessors; each requires the matching kind().
  std::uint64_t unsigned_value() const { return std::get<std::uint64_t>(data_); }
  std::uint64_t negative_argument() const { return std::get<std::uint64_t>(data_); }
  const std::vector<std::uint8_t>& bytes() const {
    return std::get<std::vector<std::uint8_t>>(data_);
  }
  const std::string& text() const { return std::get<std::string>(data_); }
  const std::vector<Value>& array() const { return std::get<std::vector<Value>>(data_); }
  std::vector<Value>& array() { return std::get<std::vector<Value>>(data_); }
  const std::vector<Entry>& map() const { return std::get<std::vector<Entry>>(data_); }
  std::vector<Entry>& map() { return std::get<std::vector<Entry>>(data_); }
  std::uint64_t tag_number() const { return std::get<Tagged>(data_).number; }
  const Value& tagged() const { return *std::get<Tagged>(data_).content; }
  std::uint8_t simple() const { return static_cast<std::uint8_t>(std::get<std::uint64_t>(data_)); }
  bool bool_value() const { return simple() == kSimpleTrue; }
  double float_value() const { return std::get<double>(data_); }

  // Structural equality of the trees (floats compare by bits, so NaN == NaN
  // and 0.0 != -0.0; map entries compare in stored order).
  friend bool operator==(const Value& a, const Value& b);

 private:
  struct Tagged {
    std::uint64_t number;
    std::shared_ptr<const Value> content;  // immutable once built: sharing is safe
  };
  using Data = std::variant<std::uint64_t, double, std::vector<std::uint8_t>, std::string,
                            std::vector<Value>, std::vector<Entry>, Tagged>;
  template <class T>
  Value(Kind kind, T&& data) : kind_(kind), data_(std::forward<T>(data)) {}

  Kind kind_;
  Data data_;
};

// Writes `value` in canonical form (see the header comment). Throws
// EncodeError for a tree with no canonical form: a map with two keys that
// encode identically, text that is not UTF-8, a reserved simple value.
void EncodeValue(Encoder& encoder, const Value& value);

// The canonical bytes of `value`.
std::vector<std::uint8_t> ToCanonical(const Value& value);

// RFC 8949 §8 diagnostic notation, e.g. {"a": [1, 2.5], "b": h'01'}.
std::string ToDiagnostic(const Value& value);

}  // namespace memokey

#endif  // MEMOKEY_VALUE_H_
