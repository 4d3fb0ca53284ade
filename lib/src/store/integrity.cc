#include "integrity.h"

#define XXH_INLINE_ALL  // header-only use: checksums, not cache keys
#include <xxhash.h>

#include "store_internal.h"

namespace memokey::store_internal {

std::uint64_t EntryChecksum(std::string_view key, std::string_view value, std::int64_t expires) {
  // Seeded by the key's own hash and the expiry: one pass over the value,
  // which is the large part.
  const std::uint64_t seed =
      XXH3_64bits_withSeed(key.data(), key.size(), static_cast<std::uint64_t>(expires));
  return XXH3_64bits_withSeed(value.data(), value.size(), seed);
}

void FrameValue(std::string_view key, std::string_view value, std::string* out) {
  out->clear();
  out->reserve(kFrameBytes + value.size());
  out->append(kFrameMagic);
  char sum[8];
  PutLe64(sum, EntryChecksum(key, value, 0));
  out->append(sum, sizeof sum);
  out->append(value);
}

bool UnframeValue(std::string_view key, std::string* stored) {
  if (stored->size() < kFrameBytes ||
      std::string_view(*stored).substr(0, kFrameMagic.size()) != kFrameMagic) {
    return false;
  }
  const std::uint64_t want = GetLe64(stored->data() + kFrameMagic.size());
  const std::string_view value = std::string_view(*stored).substr(kFrameBytes);
  if (EntryChecksum(key, value, 0) != want) return false;
  stored->erase(0, kFrameBytes);
  return true;
}

}  // namespace memokey::store_internal
