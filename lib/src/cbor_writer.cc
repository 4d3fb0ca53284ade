#include "memokey/cbor_writer.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "memokey/cbor_bits.h"

namespace memokey {

namespace {

int CompareSpans(const std::uint8_t* base, std::size_t a_off, std::size_t a_size, std::size_t b_off,
                 std::size_t b_size) {
  const std::size_t common = std::min(a_size, b_size);
  const int c = std::memcmp(base + a_off, base + b_off, common);
  if (c != 0) return c;
  return a_size < b_size ? -1 : (a_size > b_size ? 1 : 0);
}

}  // namespace

bool IsValidUtf8(std::string_view text, std::size_t* error_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  auto fail = [&](std::size_t at) {
    if (error_offset != nullptr) *error_offset = at;
    return false;
  };
  while (i < n) {
    // ASCII fast path, eight bytes at a time.
    if (i + 8 <= n) {
      std::uint64_t word;
      std::memcpy(&word, s + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned char c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return fail(i);
    }
    if (i + len > n) return fail(i);
    for (std::size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) return fail(i);
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return fail(i);
    }
    i += len;
  }
  return true;
}

Encoder::Encoder(Sink* sink) : sink_(sink) {}
Encoder::~Encoder() = default;

void Encoder::reset(Sink* sink) {
  sink_ = sink;
  size_ = 0;
  flushed_any_ = false;
  open_bytes_remaining_ = 0;
  frames_.clear();
  item_starts_.clear();
}

void Encoder::make_room(std::size_t extra) {
  if (sink_ != nullptr && frames_.empty() && size_ >= kFlushThreshold) flush();
  if (size_ + extra <= capacity_) return;
  std::size_t capacity = std::max<std::size_t>(capacity_ * 2, 256);
  while (capacity < size_ + extra) capacity *= 2;
  auto grown = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
  if (size_ != 0) std::memcpy(grown.get(), data_.get(), size_);
  data_ = std::move(grown);
  capacity_ = capacity;
}

void Encoder::append(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return;
  if (capacity_ - size_ < size) make_room(size);
  std::memcpy(data_.get() + size_, data, size);
  size_ += size;
}

void Encoder::flush() {
  if (size_ == 0 || sink_ == nullptr) return;
  sink_->write(ByteSpan(data_.get(), size_));
  flushed_any_ = true;
  size_ = 0;
}

void Encoder::check_no_open_bytes() const {
  if (open_bytes_remaining_ != 0) {
    throw EncodeError("memokey: byte string left incomplete: " +
                      std::to_string(open_bytes_remaining_) + " bytes still expected");
  }
}

void Encoder::head(Major major, std::uint64_t argument) {
  if (open_bytes_remaining_ != 0) check_no_open_bytes();
  if (capacity_ - size_ < kMaxHeadBytes) make_room(kMaxHeadBytes);
  size_ += WriteHead(data_.get() + size_, static_cast<std::uint8_t>(major), argument);
}

void Encoder::simple(std::uint8_t value) {
  if (value >= 24 && value < 32) {
    throw EncodeError("memokey: simple value " + std::to_string(value) +
                      " is reserved (RFC 8949 §3.3)");
  }
  check_no_open_bytes();
  if (value < 24) {
    put_byte(static_cast<std::uint8_t>(0xe0 | value));
  } else {
    const std::uint8_t two[2] = {0xf8, value};
    append(two, 2);
  }
}

void Encoder::bignum(bool negative, ByteSpan magnitude) {
  std::size_t skip = 0;
  while (skip < magnitude.size() && magnitude[skip] == 0) ++skip;
  magnitude = magnitude.subspan(skip);
  if (magnitude.size() <= 8) {
    std::uint64_t v = 0;
    for (std::uint8_t b : magnitude) v = (v << 8) | b;
    head(negative ? Major::kNegative : Major::kUnsigned, v);
    return;
  }
  tag(negative ? tag::kNegativeBignum : tag::kPositiveBignum);
  bytes(magnitude);
}

void Encoder::float64(double value) {
  check_no_open_bytes();
  if (capacity_ - size_ < kMaxHeadBytes) make_room(kMaxHeadBytes);
  size_ += WriteFloat(data_.get() + size_, value);
}

void Encoder::bytes(ByteSpan data) {
  head(Major::kBytes, data.size());
  if (sink_ != nullptr && frames_.empty() && data.size() >= kDirectWriteMin) {
    flush();
    sink_->write(data);
    flushed_any_ = true;
    return;
  }
  append(data.data(), data.size());
}

void Encoder::begin_bytes(std::uint64_t total) {
  head(Major::kBytes, total);
  open_bytes_remaining_ = total;
}

void Encoder::bytes_chunk(ByteSpan data) {
  if (data.size() > open_bytes_remaining_) {
    throw EncodeError("memokey: byte string chunk overruns the length given to begin_bytes()");
  }
  open_bytes_remaining_ -= data.size();
  if (sink_ != nullptr && frames_.empty() && data.size() >= kDirectWriteMin) {
    flush();
    sink_->write(data);
    flushed_any_ = true;
    return;
  }
  append(data.data(), data.size());
}

void Encoder::text(std::string_view utf8) {
  std::size_t bad = 0;
  if (!IsValidUtf8(utf8, &bad)) {
    throw EncodeError("memokey: text is not valid UTF-8 (byte " + std::to_string(bad) + " of " +
                      std::to_string(utf8.size()) + ")");
  }
  text_unchecked(utf8);
}

void Encoder::text_unchecked(std::string_view utf8) {
  head(Major::kText, utf8.size());
  append(reinterpret_cast<const std::uint8_t*>(utf8.data()), utf8.size());
}

void Encoder::raw(ByteSpan canonical) {
  check_no_open_bytes();
  if (sink_ != nullptr && frames_.empty() && canonical.size() >= kDirectWriteMin) {
    flush();
    sink_->write(canonical);
    flushed_any_ = true;
    return;
  }
  append(canonical.data(), canonical.size());
}

void Encoder::begin_map() {
  check_no_open_bytes();
  frames_.push_back(Frame{size_, item_starts_.size(), true});
}

void Encoder::begin_set() {
  check_no_open_bytes();
  frames_.push_back(Frame{size_, item_starts_.size(), false});
}

void Encoder::item() {
  check_no_open_bytes();
  if (frames_.empty()) throw EncodeError("memokey: item() called outside a map or set");
  item_starts_.push_back(size_);
}

void Encoder::end_map() { end_container(true); }
void Encoder::end_set() { end_container(false); }

void Encoder::end_container(bool is_map) {
  check_no_open_bytes();
  if (frames_.empty() || frames_.back().is_map != is_map) {
    throw EncodeError(is_map ? "memokey: end_map() without a matching begin_map()"
                             : "memokey: end_set() without a matching begin_set()");
  }
  const Frame frame = frames_.back();
  frames_.pop_back();
  const std::size_t count = item_starts_.size() - frame.first_item;
  if (count == 0 && size_ != frame.start) {
    throw EncodeError("memokey: bytes written in a map or set before item()");
  }
  if (count > 0 && item_starts_[frame.first_item] != frame.start) {
    throw EncodeError("memokey: bytes written in a map or set before item()");
  }

  spans_.clear();
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t begin = item_starts_[frame.first_item + i];
    const std::size_t end = i + 1 < count ? item_starts_[frame.first_item + i + 1] : size_;
    spans_.push_back(Span{begin, end - begin});
  }
  item_starts_.resize(frame.first_item);

  const std::uint8_t* base = data_.get();
  auto less = [base](const Span& a, const Span& b) {
    return CompareSpans(base, a.offset, a.size, b.offset, b.size) < 0;
  };
  bool sorted = true;
  bool has_equal_neighbours = false;
  for (std::size_t i = 1; i < count && sorted; ++i) {
    const int c = CompareSpans(base, spans_[i - 1].offset, spans_[i - 1].size, spans_[i].offset,
                               spans_[i].size);
    if (c > 0) sorted = false;
    if (c == 0) has_equal_neighbours = true;
  }
  if (!sorted) std::sort(spans_.begin(), spans_.end(), less);

  // Encodings are prefix-free, so ordering whole entries orders their keys;
  // two entries with one key end up side by side.
  std::size_t unique = count;
  if (is_map) {
    // Every entry (a lone one included) must hold a key and something after it.
    std::size_t key_a = 0;
    for (std::size_t i = 0; i < count; ++i) {
      const std::size_t key_b = SkipItem(ByteSpan(base + spans_[i].offset, spans_[i].size));
      if (key_b == 0 || key_b == spans_[i].size) {
        throw EncodeError("memokey: a map entry is not one key followed by one value");
      }
      if (i > 0 && key_a == key_b &&
          std::memcmp(base + spans_[i - 1].offset, base + spans_[i].offset, key_a) == 0) {
        throw EncodeError(
            "memokey: duplicate map key after canonicalization (equal keys such as "
            "two NaNs encode identically)");
      }
      key_a = key_b;
    }
  } else if (!sorted || has_equal_neighbours) {
    auto last = std::unique(spans_.begin(), spans_.end(), [base](const Span& a, const Span& b) {
      return CompareSpans(base, a.offset, a.size, b.offset, b.size) == 0;
    });
    unique = static_cast<std::size_t>(last - spans_.begin());
  }

  // One copy of the region, then the head and the entries in their order.
  scratch_.assign(base + frame.start, base + size_);
  size_ = frame.start;
  head(is_map ? Major::kMap : Major::kArray, unique);
  if (sorted && unique == count) {
    append(scratch_.data(), scratch_.size());
  } else {
    for (std::size_t i = 0; i < unique; ++i) {
      append(scratch_.data() + (spans_[i].offset - frame.start), spans_[i].size);
    }
  }
}

void Encoder::check_complete() const {
  check_no_open_bytes();
  if (!frames_.empty()) throw EncodeError("memokey: output finished with a map or set still open");
}

void Encoder::finish() {
  check_complete();
  flush();
}

std::vector<std::uint8_t> Encoder::take() {
  std::vector<std::uint8_t> out(data_.get(), data_.get() + size_);
  size_ = 0;
  return out;
}

std::size_t SkipItem(ByteSpan data) {
  // Iterative: `pending` counts items still to be skipped at this point.
  std::size_t pos = 0;
  std::uint64_t pending = 1;
  while (pending > 0) {
    if (pos >= data.size()) return 0;
    const std::uint8_t initial = data[pos++];
    const std::uint8_t info = initial & 0x1f;
    const auto major = static_cast<Major>(initial >> 5);
    std::uint64_t arg = info;
    if (info >= 24 && info <= 27) {
      const std::size_t n = std::size_t{1} << (info - 24);
      if (data.size() - pos < n) return 0;
      arg = 0;
      for (std::size_t i = 0; i < n; ++i) arg = (arg << 8) | data[pos + i];
      pos += n;
    } else if (info > 27) {
      return 0;  // indefinite lengths and reserved values do not occur in canonical output
    }
    --pending;
    switch (major) {
      case Major::kBytes:
      case Major::kText:
        if (data.size() - pos < arg) return 0;
        pos += arg;
        break;
      case Major::kArray:
        if (arg > data.size()) return 0;
        pending += arg;
        break;
      case Major::kMap:
        if (arg > data.size()) return 0;
        pending += 2 * arg;
        break;
      case Major::kTag:
        pending += 1;
        break;
      default:
        break;
    }
  }
  return pos;
}

}  // namespace memokey
