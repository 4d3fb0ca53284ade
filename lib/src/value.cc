#include "memokey/value.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string_view>
#include <system_error>

#include "memokey/hex.h"
#include "value_internal.h"

namespace memokey {

bool operator==(const Value& a, const Value& b) {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::kUnsigned:
    case Value::Kind::kNegative:
      return a.unsigned_value() == b.unsigned_value();
    case Value::Kind::kSimple:
      return a.simple() == b.simple();
    case Value::Kind::kFloat:
      // By bits: NaN equals itself and -0.0 differs from 0.0, as in the
      // canonical form (where every NaN is f97e00, so all NaNs compare equal).
      if (std::isnan(a.float_value()) && std::isnan(b.float_value())) return true;
      return std::bit_cast<std::uint64_t>(a.float_value()) ==
             std::bit_cast<std::uint64_t>(b.float_value());
    case Value::Kind::kBytes:
      return a.bytes() == b.bytes();
    case Value::Kind::kText:
      return a.text() == b.text();
    case Value::Kind::kArray:
      return a.array() == b.array();
    case Value::Kind::kMap:
      return a.map() == b.map();
    case Value::Kind::kTag:
      return a.tag_number() == b.tag_number() && a.tagged() == b.tagged();
  }
  return false;
}

namespace internal {

namespace {

bool IsSetTag(std::uint64_t number) { return number == tag::kSet || number == tag::kFrozenSet; }

void EncodeAt(Encoder& encoder, const Value& value, std::uint32_t depth, std::uint32_t max_depth) {
  if (depth > max_depth) {
    throw EncodeError("memokey: nesting deeper than " + std::to_string(max_depth));
  }
  switch (value.kind()) {
    case Value::Kind::kUnsigned:
      encoder.uint(value.unsigned_value());
      return;
    case Value::Kind::kNegative:
      encoder.negative(value.negative_argument());
      return;
    case Value::Kind::kBytes:
      encoder.bytes(value.bytes());
      return;
    case Value::Kind::kText:
      encoder.text(value.text());
      return;
    case Value::Kind::kArray:
      encoder.array(value.array().size());
      for (const Value& element : value.array()) EncodeAt(encoder, element, depth + 1, max_depth);
      return;
    case Value::Kind::kMap:
      encoder.begin_map();
      for (const auto& [k, v] : value.map()) {
        encoder.item();
        EncodeAt(encoder, k, depth + 1, max_depth);
        EncodeAt(encoder, v, depth + 1, max_depth);
      }
      encoder.end_map();
      return;
    case Value::Kind::kTag: {
      const std::uint64_t number = value.tag_number();
      const Value& content = value.tagged();
      // Bignums are integers: minimal magnitude, or a plain integer when it
      // fits, so that equal numbers have one encoding whatever the input.
      if ((number == tag::kPositiveBignum || number == tag::kNegativeBignum) &&
          content.kind() == Value::Kind::kBytes) {
        if (depth + 1 > max_depth) {
          throw EncodeError("memokey: nesting deeper than " + std::to_string(max_depth));
        }
        encoder.bignum(number == tag::kNegativeBignum, content.bytes());
        return;
      }
      encoder.tag(number);
      if (IsSetTag(number) && content.kind() == Value::Kind::kArray) {
        // A set's identity is its elements, not their order or repetitions.
        if (depth + 1 > max_depth) {
          throw EncodeError("memokey: nesting deeper than " + std::to_string(max_depth));
        }
        encoder.begin_set();
        for (const Value& element : content.array()) {
          encoder.item();
          EncodeAt(encoder, element, depth + 2, max_depth);
        }
        encoder.end_set();
        return;
      }
      EncodeAt(encoder, content, depth + 1, max_depth);
      return;
    }
    case Value::Kind::kSimple:
      switch (value.simple()) {
        case kSimpleFalse:
          encoder.boolean(false);
          return;
        case kSimpleTrue:
          encoder.boolean(true);
          return;
        case kSimpleNull:
          encoder.null();
          return;
        case kSimpleUndefined:
          encoder.undefined();
          return;
        default:
          encoder.simple(value.simple());  // throws for the reserved 24..31
          return;
      }
    case Value::Kind::kFloat:
      encoder.float64(value.float_value());
      return;
  }
}

}  // namespace

void EncodeValueWithLimit(Encoder& encoder, const Value& value, std::uint32_t max_depth) {
  EncodeAt(encoder, value, 0, max_depth);
}

const char* StripMemokeyPrefix(const char* message) {
  constexpr std::string_view kPrefix = "memokey: ";
  if (std::strncmp(message, kPrefix.data(), kPrefix.size()) == 0) return message + kPrefix.size();
  return message;
}

}  // namespace internal

void EncodeValue(Encoder& encoder, const Value& value) {
  internal::EncodeValueWithLimit(encoder, value, kDefaultMaxDepth);
}

std::vector<std::uint8_t> ToCanonical(const Value& value) {
  Encoder encoder;
  EncodeValue(encoder, value);
  encoder.finish();
  return encoder.take();
}

namespace {

void AppendFloat(std::string& out, double d) {
  if (std::isnan(d)) {
    out += "NaN";
    return;
  }
  if (std::isinf(d)) {
    out += d < 0 ? "-Infinity" : "Infinity";
    return;
  }
  // The shortest digits that read back as the same double, laid out the
  // way Python's repr() does (fixed notation for exponents -4..15, otherwise
  // scientific) and shaped like RFC 8949's examples (1.0, 100000.0, 1.0e+300,
  // 5.960464477539063e-8), so that a float never reads as an integer.
  char buf[64];
  std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  if (r.ec != std::errc()) {
    out += "NaN";  // cannot happen: 64 bytes hold any shortest double
    return;
  }
  std::string_view text(buf, static_cast<std::size_t>(r.ptr - buf));
  const std::size_t e = text.find('e');
  std::string_view exponent = text.substr(e + 1);
  const bool negative_exponent = exponent[0] == '-';
  exponent.remove_prefix(1);  // to_chars always writes the sign
  while (exponent.size() > 1 && exponent[0] == '0') exponent.remove_prefix(1);
  int exp10 = 0;
  std::from_chars(exponent.data(), exponent.data() + exponent.size(), exp10);
  if (negative_exponent) exp10 = -exp10;
  if (exp10 >= -4 && exp10 < 16) {
    // Fixed notation of a double below 1e16 fits easily: at most ~330 digits
    // occur only for tiny numbers, which take the scientific branch.
    r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    text = std::string_view(buf, static_cast<std::size_t>(r.ptr - buf));
    out += text;
    if (text.find('.') == std::string_view::npos) out += ".0";
    return;
  }
  const std::string_view mantissa = text.substr(0, e);
  out += mantissa;
  if (mantissa.find('.') == std::string_view::npos) out += ".0";
  out += negative_exponent ? "e-" : "e+";
  out += exponent;
}

void AppendText(std::string& out, const std::string& text) {
  out += '"';
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          AppendHexByte(out, c);
        } else {
          out += ch;  // UTF-8 passes through unchanged, as JSON allows
        }
    }
  }
  out += '"';
}

void AppendDiagnostic(std::string& out, const Value& value) {
  switch (value.kind()) {
    case Value::Kind::kUnsigned:
      out += std::to_string(value.unsigned_value());
      return;
    case Value::Kind::kNegative: {
      const std::uint64_t n = value.negative_argument();
      out += '-';
      // -1 - n; n + 1 overflows only for the most negative CBOR integer.
      out += n == UINT64_MAX ? std::string("18446744073709551616") : std::to_string(n + 1);
      return;
    }
    case Value::Kind::kBytes:
      out += "h'";
      AppendHex(out, value.bytes());
      out += '\'';
      return;
    case Value::Kind::kText:
      AppendText(out, value.text());
      return;
    case Value::Kind::kArray: {
      out += '[';
      bool first = true;
      for (const Value& element : value.array()) {
        if (!first) out += ", ";
        first = false;
        AppendDiagnostic(out, element);
      }
      out += ']';
      return;
    }
    case Value::Kind::kMap: {
      out += '{';
      bool first = true;
      for (const auto& [k, v] : value.map()) {
        if (!first) out += ", ";
        first = false;
        AppendDiagnostic(out, k);
        out += ": ";
        AppendDiagnostic(out, v);
      }
      out += '}';
      return;
    }
    case Value::Kind::kTag:
      out += std::to_string(value.tag_number());
      out += '(';
      AppendDiagnostic(out, value.tagged());
      out += ')';
      return;
    case Value::Kind::kSimple:
      switch (value.simple()) {
        case kSimpleFalse:
          out += "false";
          return;
        case kSimpleTrue:
          out += "true";
          return;
        case kSimpleNull:
          out += "null";
          return;
        case kSimpleUndefined:
          out += "undefined";
          return;
        default:
          out += "simple(" + std::to_string(value.simple()) + ")";
          return;
      }
    case Value::Kind::kFloat:
      AppendFloat(out, value.float_value());
      return;
  }
}

}  // namespace

std::string ToDiagnostic(const Value& value) {
  std::string out;
  AppendDiagnostic(out, value);
  return out;
}

}  // namespace memokey
