# Turns a file into a C++ function returning its bytes as a std::string_view:
#   cmake -DINPUT=page.html -DOUTPUT=page.cc -DFUNCTION=memokeyd::DashboardHtml -P embed_file.cmake
# Hex bytes rather than a raw string literal: any content is safe, whatever
# delimiters it contains.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR size "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){16})" "\\1\n    " bytes "${bytes}")
string(REGEX MATCH "^(.*)::([^:]+)$" _ "${FUNCTION}")
set(ns "${CMAKE_MATCH_1}")
set(name "${CMAKE_MATCH_2}")
file(WRITE "${OUTPUT}.tmp"
"// Generated from ${INPUT} by embed_file.cmake: edit that file instead.
#include <string_view>

namespace ${ns} {
namespace {
constexpr char kBytes[] = {
    ${bytes}'\\0'};
}  // namespace

std::string_view ${name}() { return std::string_view(kBytes, ${size}); }

}  // namespace ${ns}
")
# Only touch the output when it changed, so that nothing rebuilds needlessly.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
