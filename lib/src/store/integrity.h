// Checksums that let a store prove the bytes it returns are the bytes it was
// given (not installed).
//
// Why: a cache must never serve bytes other than the ones stored. Disks flip
// bits, crashes and people damage files, a Redis instance can be restored from
// a wrong snapshot. The value envelope (envelope.h) already signs what the
// memoizers store, but memokeyd and raw Store users store arbitrary bytes, so
// every persistent store checks its own entries: the disk store keeps a
// checksum column per row, the Redis store frames each value. A mismatch is a
// miss, counted in StoreStats::damaged, and the entry is deleted.
//
// XXH3-64 (not a MAC): it detects accidental damage. Deliberate forgery is
// the envelope's job, and an attacker who can write the store can write both.

#ifndef MEMOKEY_SRC_STORE_INTEGRITY_H_
#define MEMOKEY_SRC_STORE_INTEGRITY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace memokey::store_internal {

// XXH3-64 over key, value and expiry (ms since the epoch, 0 = never), so that
// a value moved to another key or given another lifetime by damage fails too.
std::uint64_t EntryChecksum(std::string_view key, std::string_view value, std::int64_t expires);

// The framed form of a value, for stores that hold one opaque string per key:
//   "mk1" | checksum (u64 little-endian) of (key, value, 0) | value
inline constexpr std::string_view kFrameMagic = "mk1";
inline constexpr std::size_t kFrameBytes = 3 + 8;

// Appends the frame of `value` under `key` to *out (which it clears first).
void FrameValue(std::string_view key, std::string_view value, std::string* out);
// Strips the frame from *stored in place. False when it is not a frame of
// `key` or its checksum does not match: the entry is damaged.
bool UnframeValue(std::string_view key, std::string* stored);

}  // namespace memokey::store_internal

#endif  // MEMOKEY_SRC_STORE_INTEGRITY_H_
