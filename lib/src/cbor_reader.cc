#include "memokey/cbor_reader.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>

#include "memokey/cbor_bits.h"
#include "memokey/hex.h"
#include "value_internal.h"

namespace memokey {

namespace {

constexpr std::uint8_t kBreak = 0xff;

// Shortest round-trip text of a double, for error messages.
std::string FloatText(double d) {
  const Value v = Value::Float(d);
  return ToDiagnostic(v);
}

int CompareBytes(ByteSpan a, ByteSpan b) {
  const std::size_t common = std::min(a.size(), b.size());
  const int c = common == 0 ? 0 : std::memcmp(a.data(), b.data(), common);
  if (c != 0) return c;
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

// One pass over the input. Recursion depth is bounded by options.max_depth:
// ReadItem refuses an item nested more deeply before reading it.
class Reader {
 public:
  Reader(ByteSpan data, const DecodeOptions& options) : data_(data), options_(options) {}

  bool ReadItem(Value* out, std::uint32_t depth);

  std::size_t pos() const { return pos_; }
  Status TakeError() { return std::move(error_); }
  bool Fail(std::string message, std::size_t offset) {
    error_ = Status::Error(std::move(message), offset);
    return false;
  }

 private:
  struct Head {
    std::size_t offset;  // of the initial byte
    Major major;
    std::uint8_t info;       // additional information (low five bits)
    std::uint64_t argument;  // meaningless when info == 31
  };

  std::size_t left() const { return data_.size() - pos_; }
  bool Truncated() { return Fail("unexpected end of input", data_.size()); }

  bool ReadHead(Head* head);
  bool ReadString(const Head& head, Value* out);
  bool ReadIndefiniteString(const Head& head, Value* out);
  bool ReadArray(const Head& head, Value* out, std::uint32_t depth);
  bool ReadMap(const Head& head, Value* out, std::uint32_t depth);
  bool ReadTag(const Head& head, Value* out, std::uint32_t depth);
  bool ReadSimpleOrFloat(const Head& head, Value* out);
  bool CheckUtf8(std::size_t start, std::size_t size);
  bool CheckLength(const Head& head, std::uint64_t units, const char* what);

  ByteSpan data_;
  const DecodeOptions& options_;
  std::size_t pos_ = 0;
  Status error_;
};

bool Reader::ReadHead(Head* head) {
  if (left() == 0) return Truncated();
  head->offset = pos_;
  const std::uint8_t initial = data_[pos_++];
  head->major = static_cast<Major>(initial >> 5);
  head->info = initial & 0x1f;
  head->argument = head->info;
  if (head->info < 24) return true;
  if (head->info >= 28 && head->info <= 30) {
    return Fail("reserved additional information " + std::to_string(head->info), head->offset);
  }
  if (head->info == 31) {
    switch (head->major) {
      case Major::kUnsigned:
      case Major::kNegative:
      case Major::kTag:
        return Fail("additional information 31 is not well-formed for major type " +
                        std::to_string(static_cast<int>(head->major)),
                    head->offset);
      case Major::kSimple:
        return Fail("unexpected break (0xff) outside an indefinite-length item", head->offset);
      default:
        if (options_.strict) {
          return Fail("indefinite length not allowed in canonical form", head->offset);
        }
        return true;
    }
  }
  const std::size_t n = std::size_t{1} << (head->info - 24);
  if (left() < n) return Truncated();
  const std::uint64_t argument = ReadBigEndian(data_.data() + pos_, n);
  pos_ += n;
  head->argument = argument;
  // Major type 7 uses the argument as a simple value or float bits: its own
  // rules are applied in ReadSimpleOrFloat.
  if (options_.strict && head->major != Major::kSimple) {
    const std::uint64_t fits = head->info == 24 ? 24 : (std::uint64_t{1} << (4 * n));
    if (argument < fits) {
      std::string where;
      if (argument < 24) {
        where = "fits in the initial byte";
      } else if (argument <= 0xff) {
        where = "fits in 1 byte";
      } else {
        where = argument <= 0xffff ? "fits in 2 bytes" : "fits in 4 bytes";
      }
      return Fail("overlong head: " + std::to_string(n) + (n == 1 ? " byte" : " bytes") +
                      " for argument " + std::to_string(argument) + ", which " + where,
                  head->offset);
    }
  }
  return true;
}

bool Reader::CheckLength(const Head& head, std::uint64_t units, const char* what) {
  // `units` is the fewest bytes the announced content can occupy.
  if (units > left()) {
    return Fail(std::string(what) + " " + std::to_string(head.argument) + " exceeds the " +
                    std::to_string(left()) + " bytes left",
                head.offset);
  }
  return true;
}

bool Reader::CheckUtf8(std::size_t start, std::size_t size) {
  std::size_t bad = 0;
  const std::string_view text(reinterpret_cast<const char*>(data_.data() + start), size);
  if (!IsValidUtf8(text, &bad)) return Fail("invalid UTF-8 in text string", start + bad);
  return true;
}

bool Reader::ReadString(const Head& head, Value* out) {
  if (head.info == 31) return ReadIndefiniteString(head, out);
  if (!CheckLength(head, head.argument, "length")) return false;
  const auto size = static_cast<std::size_t>(head.argument);
  const std::size_t start = pos_;
  pos_ += size;
  if (head.major == Major::kText) {
    if (!CheckUtf8(start, size)) return false;
    *out = Value::Text(std::string(reinterpret_cast<const char*>(data_.data() + start), size));
  } else {
    *out =
        Value::Bytes(std::vector<std::uint8_t>(data_.begin() + static_cast<std::ptrdiff_t>(start),
                                               data_.begin() + static_cast<std::ptrdiff_t>(pos_)));
  }
  return true;
}

bool Reader::ReadIndefiniteString(const Head& head, Value* out) {
  // RFC 8949 §3.2.3: chunks are definite-length strings of the same major
  // type, and each text chunk is valid UTF-8 on its own.
  std::vector<std::uint8_t> content;
  for (;;) {
    if (left() == 0) return Truncated();
    if (data_[pos_] == kBreak) {
      ++pos_;
      break;
    }
    Head chunk;
    if (!ReadHead(&chunk)) return false;
    if (chunk.major != head.major || chunk.info == 31) {
      return Fail(std::string("a chunk of an indefinite-length ") +
                      (head.major == Major::kText ? "text" : "byte") +
                      " string must be a definite-length string of the same type",
                  chunk.offset);
    }
    if (!CheckLength(chunk, chunk.argument, "length")) return false;
    const auto size = static_cast<std::size_t>(chunk.argument);
    if (head.major == Major::kText && !CheckUtf8(pos_, size)) return false;
    content.insert(content.end(), data_.begin() + static_cast<std::ptrdiff_t>(pos_),
                   data_.begin() + static_cast<std::ptrdiff_t>(pos_ + size));
    pos_ += size;
  }
  if (head.major == Major::kText) {
    *out = Value::Text(std::string(content.begin(), content.end()));
  } else {
    *out = Value::Bytes(std::move(content));
  }
  return true;
}

bool Reader::ReadArray(const Head& head, Value* out, std::uint32_t depth) {
  std::vector<Value> items;
  if (head.info == 31) {
    for (;;) {
      if (left() == 0) return Truncated();
      if (data_[pos_] == kBreak) {
        ++pos_;
        break;
      }
      items.emplace_back();
      if (!ReadItem(&items.back(), depth + 1)) return false;
    }
  } else {
    // Every element takes at least one byte: a longer count cannot be true,
    // and checking it first bounds the reservation by the input's size.
    if (!CheckLength(head, head.argument, "array length")) return false;
    const auto count = static_cast<std::size_t>(head.argument);
    items.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      items.emplace_back();
      if (!ReadItem(&items.back(), depth + 1)) return false;
    }
  }
  *out = Value::Array(std::move(items));
  return true;
}

bool Reader::ReadMap(const Head& head, Value* out, std::uint32_t depth) {
  std::vector<Value::Entry> entries;
  // In strict mode keys are canonical, so their input bytes are their
  // canonical encodings and order is checked on those bytes directly.
  ByteSpan previous_key;
  auto read_entry = [&]() -> bool {
    entries.emplace_back();
    const std::size_t key_start = pos_;
    if (!ReadItem(&entries.back().first, depth + 1)) return false;
    const ByteSpan key = data_.subspan(key_start, pos_ - key_start);
    if (options_.strict && entries.size() > 1) {
      const int c = CompareBytes(previous_key, key);
      if (c == 0) return Fail("duplicate map key", key_start);
      if (c > 0) return Fail("map keys not in canonical order", key_start);
    }
    previous_key = key;
    return ReadItem(&entries.back().second, depth + 1);
  };
  if (head.info == 31) {
    for (;;) {
      if (left() == 0) return Truncated();
      if (data_[pos_] == kBreak) {
        ++pos_;
        break;
      }
      if (!read_entry()) return false;
    }
  } else {
    if (head.argument > left() / 2) {
      // Every entry takes at least two bytes.
      return Fail("map length " + std::to_string(head.argument) + " exceeds what the " +
                      std::to_string(left()) + " bytes left can hold",
                  head.offset);
    }
    const auto count = static_cast<std::size_t>(head.argument);
    entries.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
      if (!read_entry()) return false;
    }
  }
  *out = Value::Map(std::move(entries));
  return true;
}

bool Reader::ReadTag(const Head& head, Value* out, std::uint32_t depth) {
  const std::uint64_t number = head.argument;
  Value content;
  if (options_.strict && (number == tag::kSet || number == tag::kFrozenSet) && left() > 0 &&
      (data_[pos_] >> 5) == static_cast<std::uint8_t>(Major::kArray)) {
    // A set: read the array here to check its elements' order on the way.
    Head array_head;
    if (depth + 1 > options_.max_depth) {
      return Fail("nesting deeper than " + std::to_string(options_.max_depth), pos_);
    }
    if (!ReadHead(&array_head)) return false;
    if (!CheckLength(array_head, array_head.argument, "array length")) return false;
    const auto count = static_cast<std::size_t>(array_head.argument);
    std::vector<Value> elements;
    elements.reserve(count);
    ByteSpan previous;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t start = pos_;
      elements.emplace_back();
      if (!ReadItem(&elements.back(), depth + 2)) return false;
      const ByteSpan element = data_.subspan(start, pos_ - start);
      if (i > 0) {
        const int c = CompareBytes(previous, element);
        if (c == 0) return Fail("duplicate set element", start);
        if (c > 0) return Fail("set elements not in canonical order", start);
      }
      previous = element;
    }
    content = Value::Array(std::move(elements));
  } else if (!ReadItem(&content, depth + 1)) {
    return false;
  }
  if (options_.strict && (number == tag::kPositiveBignum || number == tag::kNegativeBignum) &&
      content.kind() == Value::Kind::kBytes) {
    const auto& magnitude = content.bytes();
    // The content's head is canonical here, so its bytes start right after it.
    const std::size_t first_byte = pos_ - magnitude.size();
    if (!magnitude.empty() && magnitude[0] == 0) {
      return Fail("bignum with a leading zero byte", first_byte);
    }
    if (magnitude.size() <= 8) {
      return Fail("bignum fits in 64 bits (use a plain integer)", head.offset);
    }
  }
  *out = Value::Tag(number, std::move(content));
  return true;
}

bool Reader::ReadSimpleOrFloat(const Head& head, Value* out) {
  switch (head.info) {
    case 24:
      // RFC 8949 §3.3: simple values 0..31 have one-byte forms only.
      if (head.argument < 32) {
        return Fail("two-byte simple value below 32 is not well-formed", head.offset);
      }
      *out = Value::Simple(static_cast<std::uint8_t>(head.argument));
      return true;
    case 25: {
      const auto half = static_cast<std::uint16_t>(head.argument);
      const double d = HalfToDouble(half);
      if (options_.strict && std::isnan(d) && half != 0x7e00) {
        return Fail("NaN must be encoded as f97e00", head.offset);
      }
      *out = Value::Float(d);
      return true;
    }
    case 26:
    case 27: {
      const double d = FloatFromBits(head.info, head.argument);
      if (options_.strict) {
        if (std::isnan(d)) return Fail("NaN must be encoded as f97e00", head.offset);
        std::uint16_t half;
        std::uint32_t single;
        if (DoubleToHalfExact(d, &half)) {
          return Fail("float " + FloatText(d) + " not in shortest form (use f9" +
                          ToHex(std::vector<std::uint8_t>{static_cast<std::uint8_t>(half >> 8),
                                                          static_cast<std::uint8_t>(half)}) +
                          ")",
                      head.offset);
        }
        if (head.info == 27 && DoubleToSingleExact(d, &single)) {
          return Fail("float " + FloatText(d) + " not in shortest form (use fa" +
                          ToHex(std::vector<std::uint8_t>{static_cast<std::uint8_t>(single >> 24),
                                                          static_cast<std::uint8_t>(single >> 16),
                                                          static_cast<std::uint8_t>(single >> 8),
                                                          static_cast<std::uint8_t>(single)}) +
                          ")",
                      head.offset);
        }
      }
      *out = Value::Float(d);
      return true;
    }
    default:  // 0..23: simple values in the initial byte
      *out = Value::Simple(head.info);
      return true;
  }
}

bool Reader::ReadItem(Value* out, std::uint32_t depth) {
  if (depth > options_.max_depth) {
    return Fail("nesting deeper than " + std::to_string(options_.max_depth), pos_);
  }
  Head head;
  if (!ReadHead(&head)) return false;
  switch (head.major) {
    case Major::kUnsigned:
      *out = Value::Unsigned(head.argument);
      return true;
    case Major::kNegative:
      *out = Value::Negative(head.argument);
      return true;
    case Major::kBytes:
    case Major::kText:
      return ReadString(head, out);
    case Major::kArray:
      return ReadArray(head, out, depth);
    case Major::kMap:
      return ReadMap(head, out, depth);
    case Major::kTag:
      return ReadTag(head, out, depth);
    case Major::kSimple:
      return ReadSimpleOrFloat(head, out);
  }
  return Fail("unreachable", head.offset);
}

}  // namespace

Status Decode(ByteSpan data, Value* out, const DecodeOptions& options, std::size_t* consumed) {
  Reader reader(data, options);
  Value value;
  if (!reader.ReadItem(&value, 0)) return reader.TakeError();
  const std::size_t end = reader.pos();
  if (end != data.size() && !options.allow_trailing) {
    return Status::Error("trailing bytes after the data item", end);
  }
  if (options.strict) {
    // Safety net behind the specific checks above: whatever strict mode
    // accepts must be exactly what the encoder writes for it.
    std::vector<std::uint8_t> canonical;
    try {
      Encoder encoder;
      internal::EncodeValueWithLimit(encoder, value, options.max_depth);
      encoder.finish();
      canonical = encoder.take();
    } catch (const EncodeError& e) {
      return Status::Error(
          std::string("not in canonical form: ") + internal::StripMemokeyPrefix(e.what()), 0);
    }
    const ByteSpan input = data.first(end);
    if (canonical.size() != input.size() ||
        !std::equal(canonical.begin(), canonical.end(), input.begin())) {
      const auto mismatch =
          std::mismatch(input.begin(), input.end(), canonical.begin(), canonical.end());
      return Status::Error("not in canonical form",
                           static_cast<std::size_t>(mismatch.first - input.begin()));
    }
  }
  *out = std::move(value);
  if (consumed != nullptr) *consumed = end;
  return Status::Ok();
}

Status Canonicalize(ByteSpan data, std::vector<std::uint8_t>* out, std::uint32_t max_depth) {
  DecodeOptions options;
  options.strict = false;
  options.max_depth = max_depth;
  Value value;
  if (Status status = Decode(data, &value, options); !status.ok()) return status;
  try {
    Encoder encoder;
    internal::EncodeValueWithLimit(encoder, value, max_depth);
    encoder.finish();
    *out = encoder.take();
  } catch (const EncodeError& e) {
    return Status::Error(internal::StripMemokeyPrefix(e.what()));
  }
  return Status::Ok();
}

}  // namespace memokey
