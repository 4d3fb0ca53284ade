#include "test_support.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

// Boost.JSON header-only: its implementation is compiled here, once.
#include <boost/json/src.hpp>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include "memokey/cbor_bits.h"
#include "memokey/format.h"
#include "memokey/hex.h"

namespace memokey_test {

using memokey::Value;

Bytes FromHex(std::string_view hex) {
  Bytes out;
  int high = -1;
  for (const char c : hex) {
    if (c == ' ' || c == '\n' || c == '\t') continue;
    const int v = memokey::HexValue(c);
    if (v < 0) throw std::invalid_argument("bad hex digit in test data: " + std::string(hex));
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) throw std::invalid_argument("odd hex in test data: " + std::string(hex));
  return out;
}

std::string ToHex(memokey::ByteSpan bytes) { return memokey::ToHex(bytes); }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

boost::json::value LoadJson(const std::string& path) { return boost::json::parse(ReadFile(path)); }

std::string AppendixAPath() { return MEMOKEY_APPENDIX_A_JSON; }
std::string VectorsDir() { return MEMOKEY_VECTORS_DIR; }

Bytes Frame(std::optional<std::string_view> key_namespace, memokey::ByteSpan canonical) {
  // ["memokey", 1, namespace, value]: 84, text(7) "memokey", 01, then the
  // namespace as text (or f6), then the value's canonical bytes.
  Bytes frame = {0x84, 0x67, 'm', 'e', 'm', 'o', 'k', 'e', 'y', 0x01};
  if (!key_namespace) {
    frame.push_back(0xf6);
  } else {
    const std::size_t n = key_namespace->size();
    if (n < 24) {
      frame.push_back(static_cast<std::uint8_t>(0x60 | n));
    } else if (n < 256) {
      frame.push_back(0x78);
      frame.push_back(static_cast<std::uint8_t>(n));
    } else {
      throw std::invalid_argument("test frames take namespaces shorter than 256 bytes");
    }
    frame.insert(frame.end(), key_namespace->begin(), key_namespace->end());
  }
  frame.insert(frame.end(), canonical.begin(), canonical.end());
  return frame;
}

memokey::Key HashFrameOneShot(memokey::ByteSpan frame) {
  const XXH128_hash_t hash = XXH3_128bits(frame.data(), frame.size());
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);
  memokey::Key key;
  std::copy(std::begin(canonical.digest), std::end(canonical.digest), key.bytes.begin());
  return key;
}

// --- ValueGenerator ------------------------------------------------------------

Value ValueGenerator::Next(int max_depth) { return Generate(max_depth); }

std::uint64_t ValueGenerator::Integer() {
  static constexpr std::uint64_t kBoundaries[] = {0,
                                                  1,
                                                  23,
                                                  24,
                                                  25,
                                                  255,
                                                  256,
                                                  65535,
                                                  65536,
                                                  0xffffffffULL,
                                                  0x100000000ULL,
                                                  UINT64_MAX,
                                                  UINT64_MAX - 1,
                                                  0x7fffffffffffffffULL};
  if (Below(3) == 0) return kBoundaries[Below(std::size(kBoundaries))];
  const std::size_t bits = Below(65);
  if (bits == 0) return 0;
  const std::uint64_t v = rng_();
  return bits == 64 ? v : v & ((std::uint64_t{1} << bits) - 1);
}

double ValueGenerator::Float() {
  static const double kSpecial[] = {0.0,
                                    -0.0,
                                    std::numeric_limits<double>::infinity(),
                                    -std::numeric_limits<double>::infinity(),
                                    std::numeric_limits<double>::quiet_NaN(),
                                    -std::numeric_limits<double>::quiet_NaN(),
                                    1.5,
                                    65504.0,
                                    5.960464477539063e-08,
                                    1e300,
                                    std::numeric_limits<double>::denorm_min(),
                                    std::numeric_limits<double>::max(),
                                    static_cast<double>(std::numeric_limits<float>::max()),
                                    static_cast<double>(std::numeric_limits<float>::denorm_min()),
                                    0.1,
                                    1.1,
                                    100000.0,
                                    -4.1};
  switch (Below(4)) {
    case 0:
      return kSpecial[Below(std::size(kSpecial))];
    case 1:
      return memokey::HalfToDouble(static_cast<std::uint16_t>(rng_()));
    case 2:
      return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(rng_())));
    default:
      return std::bit_cast<double>(rng_());
  }
}

std::string ValueGenerator::Utf8Text() {
  std::string out;
  const std::size_t n = Below(4) == 0 ? Below(40) : Below(8);
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t cp;
    switch (Below(5)) {
      case 0:
        cp = static_cast<std::uint32_t>(Below(0x80));  // incl. controls, '"' and '\\'
        break;
      case 1:
        cp = static_cast<std::uint32_t>(0x80 + Below(0x800 - 0x80));
        break;
      case 2:
        do {
          cp = static_cast<std::uint32_t>(0x800 + Below(0x10000 - 0x800));
        } while (cp >= 0xd800 && cp <= 0xdfff);
        break;
      case 3:
        cp = static_cast<std::uint32_t>(0x10000 + Below(0x110000 - 0x10000));
        break;
      default:
        cp = static_cast<std::uint32_t>('a' + Below(3));  // short and colliding keys
        break;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  return out;
}

Value ValueGenerator::Generate(int depth_left) {
  const std::size_t kinds = depth_left > 0 ? 12 : 7;
  switch (Below(kinds)) {
    case 0:
      return Value::Unsigned(Integer());
    case 1:
      return Value::Negative(Integer());
    case 2: {
      Bytes b(Below(4) == 0 ? Below(64) : Below(10));
      for (auto& x : b) x = static_cast<std::uint8_t>(Below(4) == 0 ? 0 : rng_());
      return Value::Bytes(std::move(b));
    }
    case 3:
      return Value::Text(Utf8Text());
    case 4: {
      static constexpr std::uint8_t kSimples[] = {0,  1,  16, 19, 20,  21, 22,
                                                  23, 32, 33, 99, 200, 255};
      return Value::Simple(kSimples[Below(std::size(kSimples))]);
    }
    case 5:
    case 6:
      return Value::Float(Float());
    case 7:
    case 8: {
      std::vector<Value> items(Below(5));
      for (auto& item : items) item = Generate(depth_left - 1);
      return Value::Array(std::move(items));
    }
    case 9: {
      std::vector<Value::Entry> entries;
      std::set<Bytes> keys;
      const std::size_t n = Below(5);
      for (std::size_t i = 0; i < n; ++i) {
        Value key = Generate(depth_left - 1);
        if (!keys.insert(memokey::ToCanonical(key)).second) continue;  // no duplicate keys
        entries.emplace_back(std::move(key), Generate(depth_left - 1));
      }
      return Value::Map(std::move(entries));
    }
    default: {
      static constexpr std::uint64_t kTags[] = {memokey::tag::kSet,
                                                memokey::tag::kFrozenSet,
                                                memokey::tag::kPositiveBignum,
                                                memokey::tag::kNegativeBignum,
                                                memokey::tag::kTuple,
                                                0,
                                                1,
                                                24,
                                                1004,
                                                0xffffffffULL,
                                                UINT64_MAX};
      const std::uint64_t number = Below(5) == 0 ? Integer() : kTags[Below(std::size(kTags))];
      if ((number == memokey::tag::kSet || number == memokey::tag::kFrozenSet) && depth_left >= 2) {
        std::vector<Value> elements;
        const std::size_t n = Below(6);
        for (std::size_t i = 0; i < n; ++i) {
          // Sometimes repeat an element: sets drop duplicates.
          if (!elements.empty() && Below(4) == 0) {
            elements.push_back(elements[Below(elements.size())]);
          } else {
            elements.push_back(Generate(depth_left - 2));
          }
        }
        return Value::Tag(number, Value::Array(std::move(elements)));
      }
      if (number == memokey::tag::kPositiveBignum || number == memokey::tag::kNegativeBignum) {
        Bytes magnitude(Below(20));
        for (std::size_t i = 0; i < magnitude.size(); ++i) {
          magnitude[i] = static_cast<std::uint8_t>(i < 2 && Below(3) == 0 ? 0 : rng_());
        }
        return Value::Tag(number, Value::Bytes(std::move(magnitude)));
      }
      return Value::Tag(number, Generate(depth_left - 1));
    }
  }
}

// --- NoisyEncode ------------------------------------------------------------------

namespace {

class Noisy {
 public:
  Noisy(std::mt19937_64& rng, Bytes& out) : rng_(rng), out_(out) {}

  void Write(const Value& v);

 private:
  bool Chance(int one_in) { return std::uniform_int_distribution<int>(0, one_in - 1)(rng_) == 0; }
  std::size_t Below(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }

  void Head(int major, std::uint64_t arg) {
    int width;  // bytes after the initial byte
    if (arg < 24) {
      width = 0;
    } else if (arg <= 0xff) {
      width = 1;
    } else if (arg <= 0xffff) {
      width = 2;
    } else if (arg <= 0xffffffffULL) {
      width = 4;
    } else {
      width = 8;
    }
    if (width < 8 && Chance(4)) {
      static constexpr int kWider[] = {1, 2, 4, 8};
      do {
        width = kWider[Below(4)];
      } while ((width == 1 && arg > 0xff) || (width == 2 && arg > 0xffff) ||
               (width == 4 && arg > 0xffffffffULL));
    }
    const auto m = static_cast<std::uint8_t>(major << 5);
    if (width == 0) {
      out_.push_back(static_cast<std::uint8_t>(m | arg));
      return;
    }
    const int info = width == 1 ? 24 : width == 2 ? 25 : width == 4 ? 26 : 27;
    out_.push_back(static_cast<std::uint8_t>(m | info));
    for (int i = width - 1; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(arg >> (8 * i)));
  }

  void String(int major, std::string_view content) {
    if (!Chance(3)) {
      Head(major, content.size());
      out_.insert(out_.end(), content.begin(), content.end());
      return;
    }
    out_.push_back(static_cast<std::uint8_t>(major << 5 | 31));
    std::size_t pos = 0;
    while (pos < content.size() || Chance(3)) {
      std::size_t len = Below(content.size() - pos + 1);
      if (major == 3) {
        // Text chunks hold whole characters: never split inside one.
        while (pos + len < content.size() &&
               (static_cast<std::uint8_t>(content[pos + len]) & 0xc0) == 0x80) {
          ++len;
        }
      }
      Head(major, len);
      out_.insert(out_.end(), content.begin() + static_cast<std::ptrdiff_t>(pos),
                  content.begin() + static_cast<std::ptrdiff_t>(pos + len));
      pos += len;
    }
    out_.push_back(0xff);
  }

  void Magnitude(int tag, const Bytes& magnitude) {
    Head(6, static_cast<std::uint64_t>(tag));
    Bytes padded(Chance(2) ? Below(3) : 0, 0);
    padded.insert(padded.end(), magnitude.begin(), magnitude.end());
    String(2, std::string_view(reinterpret_cast<const char*>(padded.data()), padded.size()));
  }

  void Integer(int major, std::uint64_t arg) {
    if (Chance(8)) {
      Bytes magnitude;
      for (int i = 7; i >= 0; --i) magnitude.push_back(static_cast<std::uint8_t>(arg >> (8 * i)));
      Magnitude(major == 0 ? 2 : 3, magnitude);
      return;
    }
    Head(major, arg);
  }

  void Float(double d) {
    if (std::isnan(d)) {
      switch (Below(3)) {
        case 0: {
          const auto bits = static_cast<std::uint16_t>(0x7c01 | (rng_() & 0x83ff));
          out_.push_back(0xf9);
          out_.push_back(static_cast<std::uint8_t>(bits >> 8));
          out_.push_back(static_cast<std::uint8_t>(bits));
          return;
        }
        case 1: {
          const auto bits = static_cast<std::uint32_t>(0x7f800001 | (rng_() & 0x807fffff));
          out_.push_back(0xfa);
          for (int i = 3; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
          return;
        }
        default: {
          const std::uint64_t bits = 0x7ff0000000000001ULL | (rng_() & 0x800fffffffffffffULL);
          out_.push_back(0xfb);
          for (int i = 7; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
          return;
        }
      }
    }
    // The canonical encoding names the shortest exact width; any wider one
    // holds the value too.
    const Bytes canonical = memokey::ToCanonical(Value::Float(d));
    const int shortest = canonical[0] == 0xf9 ? 0 : canonical[0] == 0xfa ? 1 : 2;
    const int width = shortest + static_cast<int>(Below(static_cast<std::size_t>(3 - shortest)));
    if (width == 0) {
      out_.insert(out_.end(), canonical.begin(), canonical.end());
    } else if (width == 1) {
      const auto bits = std::bit_cast<std::uint32_t>(static_cast<float>(d));
      out_.push_back(0xfa);
      for (int i = 3; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
    } else {
      const auto bits = std::bit_cast<std::uint64_t>(d);
      out_.push_back(0xfb);
      for (int i = 7; i >= 0; --i) out_.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
    }
  }

  template <class T, class F>
  void Container(int major, const std::vector<T>& items, F write_one) {
    std::vector<std::size_t> order(items.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    if (major == 5) std::shuffle(order.begin(), order.end(), rng_);
    const bool indefinite = Chance(3);
    if (indefinite) {
      out_.push_back(static_cast<std::uint8_t>(major << 5 | 31));
    } else {
      Head(major, items.size());
    }
    for (const std::size_t i : order) write_one(items[i]);
    if (indefinite) out_.push_back(0xff);
  }

  std::mt19937_64& rng_;
  Bytes& out_;
};

void Noisy::Write(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::kUnsigned:
      Integer(0, v.unsigned_value());
      return;
    case Value::Kind::kNegative:
      Integer(1, v.negative_argument());
      return;
    case Value::Kind::kBytes:
      String(2,
             std::string_view(reinterpret_cast<const char*>(v.bytes().data()), v.bytes().size()));
      return;
    case Value::Kind::kText:
      String(3, v.text());
      return;
    case Value::Kind::kArray:
      Container(4, v.array(), [this](const Value& item) { Write(item); });
      return;
    case Value::Kind::kMap:
      Container(5, v.map(), [this](const Value::Entry& e) {
        Write(e.first);
        Write(e.second);
      });
      return;
    case Value::Kind::kTag: {
      const std::uint64_t number = v.tag_number();
      const Value& content = v.tagged();
      if ((number == 2 || number == 3) && content.kind() == Value::Kind::kBytes) {
        Magnitude(static_cast<int>(number), content.bytes());
        return;
      }
      Head(6, number);
      if ((number == memokey::tag::kSet || number == memokey::tag::kFrozenSet) &&
          content.kind() == Value::Kind::kArray) {
        // Elements in any order, some twice: the canonical set is the same.
        std::vector<Value> elements = content.array();
        if (!elements.empty() && Chance(2)) elements.push_back(elements[Below(elements.size())]);
        std::shuffle(elements.begin(), elements.end(), rng_);
        Container(4, elements, [this](const Value& item) { Write(item); });
        return;
      }
      Write(content);
      return;
    }
    case Value::Kind::kSimple:
      if (v.simple() < 24) {
        out_.push_back(static_cast<std::uint8_t>(0xe0 | v.simple()));
      } else {
        out_.push_back(0xf8);
        out_.push_back(v.simple());
      }
      return;
    case Value::Kind::kFloat:
      Float(v.float_value());
      return;
  }
}

}  // namespace

Bytes NoisyEncode(const Value& value, std::mt19937_64& rng) {
  Bytes out;
  Noisy(rng, out).Write(value);
  return out;
}

}  // namespace memokey_test
