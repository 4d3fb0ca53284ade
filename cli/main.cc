// memokey — the canonical form and keys from the command line.
//
//   memokey canon [--from json|cbor|hex] [--to hex|cbor|diag]   < input
//   memokey key   [--namespace NS] [--from json|cbor|hex] [--sha256] < input
//   memokey check [--from cbor|hex]                             < input
//
// Exit status: 0 success; 1 `check` found well-formed but non-canonical
// input; 2 malformed input or a usage error. Every failure is one line on
// stderr that starts with "memokey: "; for byte input it names the offset.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json_input.h"
#include "memokey/cbor_reader.h"
#include "memokey/hex.h"
#include "memokey/key.h"
#include "memokey/key_sha256.h"
#include "memokey/status.h"
#include "memokey/value.h"

namespace {

using memokey::ToHex;

constexpr int kExitOk = 0;
constexpr int kExitNotCanonical = 1;
constexpr int kExitFailure = 2;

// A failure to report: the whole line after "memokey: ".
struct Failure {
  std::string message;
};

std::string ReadAllStdin() {
  std::string data;
  char buf[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, stdin);
    data.append(buf, n);
    if (n < sizeof buf) break;
  }
  if (std::ferror(stdin)) throw Failure{"cannot read standard input"};
  return data;
}

void WriteStdout(std::string_view data) {
  if (std::fwrite(data.data(), 1, data.size(), stdout) != data.size() || std::fflush(stdout) != 0) {
    throw Failure{"cannot write standard output"};
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Hex digits with any whitespace between them; offsets in errors are offsets
// in the text given.
std::vector<std::uint8_t> ParseHex(std::string_view text) {
  std::vector<std::uint8_t> out;
  out.reserve(text.size() / 2);
  int high = -1;
  std::size_t high_offset = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f') continue;
    const int v = HexValue(c);
    if (v < 0) {
      const auto byte = static_cast<unsigned char>(c);
      std::string shown = byte >= 0x20 && byte < 0x7f ? std::string("'") + c + "'"
                                                      : "0x" + ToHex(memokey::ByteSpan(&byte, 1));
      throw Failure{"malformed hex at byte " + std::to_string(i) + ": invalid hex digit " + shown};
    }
    if (high < 0) {
      high = v;
      high_offset = i;
    } else {
      out.push_back(static_cast<std::uint8_t>(high << 4 | v));
      high = -1;
    }
  }
  if (high >= 0) {
    throw Failure{"malformed hex at byte " + std::to_string(high_offset) +
                  ": odd number of hex digits"};
  }
  return out;
}

memokey::ByteSpan AsBytes(std::string_view s) {
  return memokey::ByteSpan(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
}

std::string DescribeCborError(const memokey::Status& status) {
  if (status.offset() == memokey::Status::kNoOffset) {
    return "CBOR input has no canonical form: " + status.message();
  }
  return "malformed CBOR at byte " + std::to_string(status.offset()) + ": " + status.message();
}

// The canonical bytes of standard input read as `from`.
std::vector<std::uint8_t> CanonicalFromStdin(const std::string& from) {
  const std::string input = ReadAllStdin();
  if (from == "json") {
    memokey::Value value;
    const memokey::Status status = memokey_cli::ParseJson(input, &value);
    if (!status.ok()) {
      throw Failure{"malformed JSON at byte " + std::to_string(status.offset()) + ": " +
                    status.message()};
    }
    try {
      return memokey::ToCanonical(value);
    } catch (const memokey::EncodeError& e) {
      throw Failure{std::string("JSON input has no canonical form: ") + e.what()};
    }
  }
  std::vector<std::uint8_t> cbor;
  memokey::ByteSpan bytes = AsBytes(input);
  if (from == "hex") {
    cbor = ParseHex(input);
    bytes = cbor;
  }
  // Lenient: any well-formed CBOR is accepted and brought into canonical form.
  std::vector<std::uint8_t> canonical;
  const memokey::Status status = memokey::Canonicalize(bytes, &canonical);
  if (!status.ok()) throw Failure{DescribeCborError(status)};
  return canonical;
}

int RunCanon(const std::string& from, const std::string& to) {
  const std::vector<std::uint8_t> canonical = CanonicalFromStdin(from);
  if (to == "cbor") {
    WriteStdout(
        std::string_view(reinterpret_cast<const char*>(canonical.data()), canonical.size()));
  } else if (to == "diag") {
    memokey::Value value;
    const memokey::Status status = memokey::Decode(canonical, &value);
    if (!status.ok())
      throw Failure{"internal error: canonical output does not decode strictly: " +
                    status.ToString()};
    WriteStdout(memokey::ToDiagnostic(value) + "\n");
  } else {
    WriteStdout(ToHex(canonical) + "\n");
  }
  return kExitOk;
}

int RunKey(const std::string& from, const std::optional<std::string>& key_namespace, bool sha256) {
  const std::vector<std::uint8_t> canonical = CanonicalFromStdin(from);
  std::optional<std::string_view> ns;
  if (key_namespace) ns = *key_namespace;
  std::string hex;
  try {
    hex = sha256 ? memokey::Sha256KeyOfCanonical(canonical, ns).hex()
                 : memokey::KeyOfCanonical(canonical, ns).hex();
  } catch (const memokey::EncodeError& e) {
    throw Failure{std::string("invalid namespace: ") + e.what()};
  }
  WriteStdout(hex + "\n");
  return kExitOk;
}

int RunCheck(const std::string& from) {
  const std::string input = ReadAllStdin();
  std::vector<std::uint8_t> cbor;
  memokey::ByteSpan bytes = AsBytes(input);
  if (from == "hex") {
    cbor = ParseHex(input);
    bytes = cbor;
  }
  memokey::Value value;
  const memokey::Status strict = memokey::Decode(bytes, &value);
  if (strict.ok()) return kExitOk;
  // Tell malformed input (exit 2) from well-formed but non-canonical (exit 1).
  memokey::DecodeOptions lenient;
  lenient.strict = false;
  const memokey::Status well_formed = memokey::Decode(bytes, &value, lenient);
  if (!well_formed.ok()) throw Failure{DescribeCborError(well_formed)};
  WriteStdout("not canonical " + strict.ToString() + "\n");
  return kExitNotCanonical;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"memokey: canonical CBOR (memokey canonical form v1) and XXH3-128 keys", "memokey"};
  app.set_version_flag("--version", "memokey " MEMOKEY_VERSION);
  app.require_subcommand(1);

  std::string canon_from = "cbor";
  std::string canon_to = "hex";
  CLI::App* canon = app.add_subcommand(
      "canon",
      "Read a value on stdin and write its canonical form (cbor/hex input may be any "
      "well-formed CBOR)");
  canon->add_option("--from", canon_from, "input format")
      ->check(CLI::IsMember({"json", "cbor", "hex"}))
      ->capture_default_str();
  canon->add_option("--to", canon_to, "output: hex + newline, raw cbor, or diagnostic notation")
      ->check(CLI::IsMember({"hex", "cbor", "diag"}))
      ->capture_default_str();

  std::string key_from = "cbor";
  std::string key_namespace;
  CLI::App* key = app.add_subcommand("key", "Read a value on stdin and print its 32-hex key");
  key->add_option("--from", key_from, "input format")
      ->check(CLI::IsMember({"json", "cbor", "hex"}))
      ->capture_default_str();
  CLI::Option* namespace_option = key->add_option("--namespace", key_namespace,
                                                  "key namespace (default: none, which differs "
                                                  "from the empty namespace)");
  bool key_sha256 = false;
  key->add_flag("--sha256", key_sha256,
                "print the 64-hex SHA-256 key (docs/FORMAT.md §5) instead of XXH3-128");

  std::string check_from = "cbor";
  CLI::App* check = app.add_subcommand(
      "check",
      "Exit 0 if stdin is in canonical form; else print the reason and exit 1 (2 if "
      "it is not well-formed CBOR)");
  check->add_option("--from", check_from, "input format")
      ->check(CLI::IsMember({"cbor", "hex"}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, the version or the usage error
    return code == 0 ? kExitOk : kExitFailure;
  }

  try {
    if (canon->parsed()) return RunCanon(canon_from, canon_to);
    if (key->parsed()) {
      std::optional<std::string> ns;
      if (namespace_option->count() > 0) ns = key_namespace;
      return RunKey(key_from, ns, key_sha256);
    }
    if (check->parsed()) return RunCheck(check_from);
  } catch (const Failure& f) {
    std::fprintf(stderr, "memokey: %s\n", f.message.c_str());
    return kExitFailure;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "memokey: out of memory\n");
    return kExitFailure;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memokey: error: %s\n", e.what());
    return kExitFailure;
  }
  return kExitFailure;
}
