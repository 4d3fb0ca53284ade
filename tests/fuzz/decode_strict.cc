// Fuzz target: the strict decoder (memokey::Decode, strict mode).
//
// Invariants:
//   * no crash, leak or undefined behaviour on any input;
//   * strict-accepted input re-encodes to exactly the input bytes (the canonical
//     form is unique);
//   * strict-accepted input is also accepted by the lenient decoder, into an
//     equal value, and Canonicalize returns it unchanged;
//   * with allow_trailing, the item consumed is the longest strict prefix and
//     re-encodes to that prefix.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_util.h"
#include "memokey/cbor_reader.h"
#include "memokey/value.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const memokey::ByteSpan input = memokey_fuzz::Bytes(data, size);

  memokey::Value value;
  const memokey::Status strict = memokey::Decode(input, &value);
  if (strict.ok()) {
    const std::vector<std::uint8_t> again = memokey::ToCanonical(value);
    FUZZ_CHECK(again.size() == size && std::equal(again.begin(), again.end(), data));

    memokey::DecodeOptions lenient;
    lenient.strict = false;
    memokey::Value lenient_value;
    FUZZ_CHECK(memokey::Decode(input, &lenient_value, lenient).ok());
    FUZZ_CHECK(lenient_value == value);

    std::vector<std::uint8_t> canonical;
    FUZZ_CHECK(memokey::Canonicalize(input, &canonical).ok());
    FUZZ_CHECK(canonical == again);
  } else {
    // Errors inside the input carry an offset within it.
    FUZZ_CHECK(strict.offset() == memokey::Status::kNoOffset || strict.offset() <= size);
  }

  memokey::DecodeOptions trailing;
  trailing.allow_trailing = true;
  std::size_t consumed = 0;
  memokey::Value prefix_value;
  if (memokey::Decode(input, &prefix_value, trailing, &consumed).ok()) {
    FUZZ_CHECK(consumed >= 1 && consumed <= size);
    const std::vector<std::uint8_t> prefix = memokey::ToCanonical(prefix_value);
    FUZZ_CHECK(prefix.size() == consumed && std::equal(prefix.begin(), prefix.end(), data));
    if (strict.ok()) FUZZ_CHECK(consumed == size);
  }
  return 0;
}
