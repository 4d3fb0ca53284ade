// Fuzz target: the `memokey canon|key --from json` input path — the CLI's JSON
// reader (cli/json_input.cc, compiled in unchanged), then ToCanonical and the
// key, as cli/main.cc's CanonicalFromStdin and RunKey do.
//
// Invariants:
//   * no crash, leak or undefined behaviour on any input;
//   * a parse error carries an offset within the input;
//   * parsed JSON either has a canonical form (which the strict decoder accepts
//     and which decodes to the same value) or ToCanonical says why not
//     (EncodeError), as the CLI reports;
//   * the key depends only on the canonical bytes: KeyOfCanonical and the
//     streaming KeyEncoder agree.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_util.h"
#include "json_input.h"
#include "memokey/cbor_reader.h"
#include "memokey/key.h"
#include "memokey/value.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = memokey_fuzz::Text(data, size);
  memokey::Value value;
  const memokey::Status status = memokey_cli::ParseJson(text, &value);
  if (!status.ok()) {
    FUZZ_CHECK(status.offset() == memokey::Status::kNoOffset || status.offset() <= size);
    return 0;
  }
  std::vector<std::uint8_t> canonical;
  try {
    canonical = memokey::ToCanonical(value);
  } catch (const memokey::EncodeError&) {
    return 0;  // the CLI's "JSON input has no canonical form"
  }
  memokey::Value strict;
  FUZZ_CHECK(memokey::Decode(canonical, &strict).ok());
  FUZZ_CHECK(memokey::ToCanonical(strict) == canonical);

  const memokey::Key key = memokey::KeyOfCanonical(canonical, "fuzz");
  memokey::KeyEncoder encoder("fuzz");
  memokey::EncodeValue(encoder.encoder(), strict);
  FUZZ_CHECK(encoder.finish() == key);
  return 0;
}
