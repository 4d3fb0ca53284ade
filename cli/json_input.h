// JSON text -> memokey::Value, for `memokey canon --from json`.

#ifndef MEMOKEY_CLI_JSON_INPUT_H_
#define MEMOKEY_CLI_JSON_INPUT_H_

#include <string_view>

#include "memokey/status.h"
#include "memokey/value.h"

namespace memokey_cli {

// Parses one JSON document (RFC 8259; surrounding whitespace allowed).
// Objects become maps with text keys, arrays arrays, strings text,
// true/false/null the simple values, integer literals integers (beyond 64
// bits as bignums, tags 2/3 — what Python's json.loads makes of them), and
// every other number the float nearest to its text. A key repeated
// within one object is an error: the document would have no single meaning.
// On error the Status carries the byte offset where parsing stopped.
memokey::Status ParseJson(std::string_view text, memokey::Value* out);

}  // namespace memokey_cli

#endif  // MEMOKEY_CLI_JSON_INPUT_H_
