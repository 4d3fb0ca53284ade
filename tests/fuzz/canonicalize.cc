// Fuzz target: the lenient decoder and Canonicalize (any well-formed CBOR ->
// canonical form; the path of `memokey canon --from cbor|hex`).
//
// Invariants:
//   * no crash, leak or undefined behaviour on any input;
//   * Canonicalize's output is accepted by the strict decoder;
//   * canonicalizing is idempotent: Canonicalize(out) == out;
//   * Canonicalize succeeds exactly when the lenient decode succeeds and the
//     value has a canonical form, and then agrees with ToCanonical(value);
//   * the strict decoder never accepts what the lenient one rejects.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_util.h"
#include "memokey/cbor_reader.h"
#include "memokey/value.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const memokey::ByteSpan input = memokey_fuzz::Bytes(data, size);

  std::vector<std::uint8_t> canonical;
  const memokey::Status canon = memokey::Canonicalize(input, &canonical);

  memokey::DecodeOptions lenient;
  lenient.strict = false;
  memokey::Value value;
  const memokey::Status lenient_status = memokey::Decode(input, &value, lenient);

  if (canon.ok()) {
    FUZZ_CHECK(lenient_status.ok());
    memokey::Value strict_value;
    FUZZ_CHECK(memokey::Decode(canonical, &strict_value).ok());
    FUZZ_CHECK(memokey::ToCanonical(strict_value) == canonical);

    std::vector<std::uint8_t> twice;
    FUZZ_CHECK(memokey::Canonicalize(canonical, &twice).ok());
    FUZZ_CHECK(twice == canonical);

    FUZZ_CHECK(memokey::ToCanonical(value) == canonical);
  } else if (lenient_status.ok()) {
    // Well-formed, but no canonical form (e.g. two map keys that become equal
    // once canonical): encoding the decoded value must say so too.
    bool threw = false;
    try {
      (void)memokey::ToCanonical(value);
    } catch (const memokey::EncodeError&) {
      threw = true;
    }
    FUZZ_CHECK(threw);
  }

  if (!lenient_status.ok()) {
    memokey::Value strict_value;
    FUZZ_CHECK(!memokey::Decode(input, &strict_value).ok());
  }
  return 0;
}
