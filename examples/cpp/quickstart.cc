// The C++ quickstart: canonical bytes and keys of C++ values, and a user type.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "memokey/encode_cpp.h"
#include "memokey/hex.h"

namespace geometry {

struct Point {
  int x;
  int y;
};

// The one customization point, found by argument-dependent lookup. The record
// form is the one a Python dataclass `geometry.Point(x, y)` takes, so both
// languages key it alike.
void memokey_encode(memokey::Encoder& encoder, const Point& p) {
  memokey::EncodeRecord(encoder, "geometry:Point", "x", p.x, "y", p.y);
}

}  // namespace geometry

int main() {
  // Insertion order does not matter: maps are sorted by their encoded keys.
  const std::map<std::string, std::vector<double>> config{{"b", {1}}, {"a", {1, 2.5}}};
  const std::string config_key = memokey::KeyOf(config).hex();
  std::printf("key(config)  = %s\n", config_key.c_str());
  std::printf("key(point)   = %s\n", memokey::KeyOf(geometry::Point{1, 2}).hex().c_str());
  std::printf("key(1, \"ns\") = %s\n", memokey::KeyOf(1, "ns").hex().c_str());

  const std::string hex = memokey::ToHex(memokey::Canonical(geometry::Point{1, 2}));
  std::printf("point bytes  = %s\n", hex.c_str());
  // Golden vector "record geometry:Point" in tests/vectors/canonical-v1.json.
  if (hex != "da006d6b04826e67656f6d657472793a506f696e74da006d6b0384617801617902") return 1;
  // The key README.md gives for the same config in Python,
  // memokey.hexkey({"b": [1.0], "a": [1.0, 2.5]}) (tests/python/test_callpath.py checks that side).
  return config_key == "53511ba9114e92728db0bde43c229a0a" ? 0 : 1;
}
