// memokey/cbor_reader.h — CBOR bytes to a Value tree (value.h), strictly or leniently.
//
// Strict mode (the default) accepts exactly the canonical form v1 and nothing
// else: any input it accepts re-encodes to the same bytes. It rejects, with
// the offset of the first offending byte and the reason:
//   truncated input, trailing bytes, reserved additional-information values
//   (28..30), overlong heads, indefinite lengths, floats not at their
//   shortest exact width, a NaN other than f97e00, invalid UTF-8 text,
//   unsorted or duplicate map keys, unsorted or duplicate elements under
//   tag 258 and memokey's frozenset tag, bignums (tags 2/3) with a leading
//   zero byte or that fit in 64 bits, two-byte simple values below 32,
//   nesting deeper than max_depth, and lengths larger than the input left.
// Lenient mode reads any well-formed CBOR (RFC 8949 §3 and Appendix C):
// indefinite lengths, long heads, any float width, unsorted maps. Decode then
// EncodeValue turns it into canonical form; two keys equal after
// canonicalization are an error there. Invalid UTF-8, reserved values,
// truncation, excessive depth and impossible lengths are errors in both modes.
//
// Decoding never reads past `data`, never allocates more than the input can
// describe, and never recurses deeper than max_depth.

#ifndef MEMOKEY_CBOR_READER_H_
#define MEMOKEY_CBOR_READER_H_

#include <cstdint>
#include <vector>

#include "memokey/cbor_writer.h"
#include "memokey/format.h"
#include "memokey/status.h"
#include "memokey/value.h"

namespace memokey {

struct DecodeOptions {
  bool strict = true;
  std::uint32_t max_depth = kDefaultMaxDepth;
  // When true, bytes after the first data item are allowed and *consumed
  // (Decode's optional out-parameter) tells where it ended.
  bool allow_trailing = false;
};

// Decodes one data item from `data` into *out.
Status Decode(ByteSpan data, Value* out, const DecodeOptions& options = {},
              std::size_t* consumed = nullptr);

// Lenient decode followed by canonical re-encoding into *out.
Status Canonicalize(ByteSpan data, std::vector<std::uint8_t>* out,
                    std::uint32_t max_depth = kDefaultMaxDepth);

}  // namespace memokey

#endif  // MEMOKEY_CBOR_READER_H_
