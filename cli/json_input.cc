#include "json_input.h"

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

// Boost.JSON is used header-only: this is the one translation unit that
// compiles its implementation.
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/src.hpp>

#include "memokey/cbor_writer.h"
#include "memokey/format.h"

namespace memokey_cli {

namespace {

using boost::json::error_code;
using boost::json::string_view;
using memokey::Value;

// A JSON number that is not an int64/uint64. An integer literal (no
// fraction, no exponent) stays an integer however large — a bignum, as
// Python's json.loads would give an int — and anything else is a float,
// converted exactly (Boost.JSON 1.81's own conversion can be one ulp off).
Value NumberValue(const std::string& text, double boost_value) {
  if (text.find_first_of(".eE") == std::string::npos) {
    const bool negative = !text.empty() && text[0] == '-';
    // Decimal digits to a big-endian magnitude, one digit at a time.
    std::vector<std::uint8_t> magnitude;
    for (std::size_t i = negative ? 1 : 0; i < text.size(); ++i) {
      unsigned carry = static_cast<unsigned>(text[i] - '0');
      for (auto it = magnitude.rbegin(); it != magnitude.rend(); ++it) {
        const unsigned v = *it * 10u + carry;
        *it = static_cast<std::uint8_t>(v & 0xff);
        carry = v >> 8;
      }
      while (carry != 0) {
        magnitude.insert(magnitude.begin(), static_cast<std::uint8_t>(carry & 0xff));
        carry >>= 8;
      }
    }
    if (negative) {
      // CBOR's negative bignum holds n for the value -1 - n: subtract one.
      for (auto it = magnitude.rbegin(); it != magnitude.rend(); ++it) {
        if ((*it)-- != 0) break;
      }
    }
    return Value::Tag(negative ? memokey::tag::kNegativeBignum : memokey::tag::kPositiveBignum,
                      Value::Bytes(std::move(magnitude)));
  }
  double d = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
  if (ec != std::errc() || end != text.data() + text.size()) {
    // Out of double range: keep what Boost.JSON made of it (±inf or ±0).
    return Value::Float(boost_value);
  }
  return Value::Float(d);
}

// Builds a Value directly from the parser's events (no intermediate DOM), so
// that duplicate keys are seen — boost::json::value would silently keep one.
class ValueBuilder {
 public:
  static constexpr std::size_t max_array_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_object_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_string_size = static_cast<std::size_t>(-1);
  static constexpr std::size_t max_key_size = static_cast<std::size_t>(-1);

  bool on_document_begin(error_code&) { return true; }
  bool on_document_end(error_code&) { return true; }

  bool on_array_begin(error_code&) {
    stack_.emplace_back();
    return true;
  }
  bool on_array_end(std::size_t, error_code& ec) {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    return Add(Value::Array(std::move(frame.items)), ec);
  }
  bool on_object_begin(error_code&) {
    stack_.emplace_back();
    stack_.back().is_object = true;
    return true;
  }
  bool on_object_end(std::size_t, error_code& ec) {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    return Add(Value::Map(std::move(frame.entries)), ec);
  }

  bool on_string_part(string_view s, std::size_t, error_code&) {
    partial_.append(s.data(), s.size());
    return true;
  }
  bool on_string(string_view s, std::size_t, error_code& ec) {
    partial_.append(s.data(), s.size());
    std::string text = std::move(partial_);
    partial_.clear();
    if (!memokey::IsValidUtf8(text)) return Error("string is not valid UTF-8", ec);
    return Add(Value::Text(std::move(text)), ec);
  }
  bool on_key_part(string_view s, std::size_t, error_code&) {
    partial_.append(s.data(), s.size());
    return true;
  }
  bool on_key(string_view s, std::size_t, error_code& ec) {
    partial_.append(s.data(), s.size());
    Frame& top = stack_.back();
    top.key = std::move(partial_);
    partial_.clear();
    if (!memokey::IsValidUtf8(top.key)) return Error("key is not valid UTF-8", ec);
    if (!top.seen.insert(top.key).second) return Error("duplicate key \"" + top.key + "\"", ec);
    return true;
  }

  bool on_number_part(string_view s, error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(std::int64_t i, string_view, error_code& ec) {
    number_.clear();
    return Add(Value::Integer(i), ec);
  }
  bool on_uint64(std::uint64_t u, string_view, error_code& ec) {
    number_.clear();
    return Add(Value::Unsigned(u), ec);
  }
  bool on_double(double d, string_view s, error_code& ec) {
    number_.append(s.data(), s.size());
    std::string text = std::move(number_);
    number_.clear();
    return Add(NumberValue(text, d), ec);
  }
  bool on_bool(bool b, error_code& ec) { return Add(Value::Bool(b), ec); }
  bool on_null(error_code& ec) { return Add(Value::Null(), ec); }
  bool on_comment_part(string_view, error_code&) { return true; }
  bool on_comment(string_view, error_code&) { return true; }

  Value TakeResult() { return std::move(result_); }
  const std::string& message() const { return message_; }

 private:
  struct Frame {
    bool is_object = false;
    std::vector<Value> items;
    std::vector<Value::Entry> entries;
    std::string key;
    std::set<std::string> seen;
  };

  bool Add(Value v, error_code&) {
    if (stack_.empty()) {
      result_ = std::move(v);
    } else if (Frame& top = stack_.back(); top.is_object) {
      top.entries.emplace_back(Value::Text(std::move(top.key)), std::move(v));
      top.key.clear();
    } else {
      top.items.push_back(std::move(v));
    }
    return true;
  }

  bool Error(std::string message, error_code& ec) {
    message_ = std::move(message);
    ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    return false;
  }

  std::vector<Frame> stack_;
  std::string partial_;
  std::string number_;
  Value result_;
  std::string message_;
};

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

memokey::Status ParseJson(std::string_view text, memokey::Value* out) {
  boost::json::parse_options options;
  // The same limit as CBOR nesting, so anything parsed can be encoded.
  options.max_depth = memokey::kDefaultMaxDepth;
  boost::json::basic_parser<ValueBuilder> parser(options);
  error_code ec;
  const std::size_t n = parser.write_some(false, text.data(), text.size(), ec);
  if (ec) {
    std::string reason = parser.handler().message();
    if (reason.empty()) reason = ec.message();
    return memokey::Status::Error(std::move(reason), n);
  }
  for (std::size_t i = n; i < text.size(); ++i) {
    if (!IsJsonSpace(text[i])) {
      return memokey::Status::Error("unexpected data after the JSON document", i);
    }
  }
  *out = parser.handler().TakeResult();
  return memokey::Status::Ok();
}

}  // namespace memokey_cli
