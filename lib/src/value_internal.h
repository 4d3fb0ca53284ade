// Internal to lib/: the depth-limited form of EncodeValue, shared by
// value.cc and cbor_reader.cc (Canonicalize honours its caller's max_depth).

#ifndef MEMOKEY_SRC_VALUE_INTERNAL_H_
#define MEMOKEY_SRC_VALUE_INTERNAL_H_

#include <cstdint>

#include "memokey/cbor_writer.h"
#include "memokey/value.h"

namespace memokey::internal {

// EncodeValue, refusing (EncodeError) an item nested inside more than
// `max_depth` arrays, maps and tags — the limit the decoder applies, so that
// everything Decode accepts can be re-encoded and recursion stays bounded.
void EncodeValueWithLimit(Encoder& encoder, const Value& value, std::uint32_t max_depth);

// The message of an EncodeError without the "memokey: " prefix the encoder
// puts on it (Status messages carry no prefix).
const char* StripMemokeyPrefix(const char* message);

}  // namespace memokey::internal

#endif  // MEMOKEY_SRC_VALUE_INTERNAL_H_
