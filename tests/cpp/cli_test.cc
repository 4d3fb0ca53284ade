// The `memokey` command-line tool, run as a separate process.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "memokey/encode_cpp.h"
#include "memokey/key.h"
#include "memokey/value.h"
#include "test_support.h"

namespace {

using memokey::Value;
using memokey_test::FromHex;
using memokey_test::ToHex;

struct CliRun {
  int status = -1;  // exit status, or -1 if the process did not exit normally
  std::string out;
  std::string err;
};

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}

// Runs `memokey <args>` with `input` on stdin. `args` is passed to sh as it
// is: tests quote what needs quoting.
CliRun Memokey(const std::string& args, const std::string& input) {
  const std::string dir = ::testing::TempDir();
  // Unique per process and test: ctest runs tests (and build trees) in parallel.
  const std::string tag = std::to_string(getpid()) + "_" +
                          ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const std::string in = dir + "/memokey_cli_" + tag + ".in";
  const std::string out = dir + "/memokey_cli_" + tag + ".out";
  const std::string err = dir + "/memokey_cli_" + tag + ".err";
  WriteFile(in, input);
  const std::string command =
      std::string(MEMOKEY_CLI_PATH) + " " + args + " <" + in + " >" + out + " 2>" + err;
  const int raw = std::system(command.c_str());
  CliRun r;
  r.status = raw != -1 && WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  r.out = memokey_test::ReadFile(out);
  r.err = memokey_test::ReadFile(err);
  std::remove(in.c_str());
  std::remove(out.c_str());
  std::remove(err.c_str());
  return r;
}

// {"a": [1, 2.5], "b": 1}
Value IssueExample() {
  return Value::Map({{Value::Text("b"), Value::Integer(1)},
                     {Value::Text("a"), Value::Array({Value::Integer(1), Value::Float(2.5)})}});
}

TEST(CliCanon, JsonToHex) {
  const CliRun r = Memokey("canon --from json --to hex", R"({"b": 1, "a": [1, 2.5]})");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "a261618201f94100616201\n");
  EXPECT_EQ(r.err, "");
}

TEST(CliCanon, JsonToDiagnostic) {
  const CliRun r = Memokey("canon --from json --to diag", R"({"b": 1, "a": [1, 2.5]})");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "{\"a\": [1, 2.5], \"b\": 1}\n");
}

TEST(CliCanon, JsonToCbor) {
  const CliRun r = Memokey("canon --from json --to cbor", R"({"b": 1, "a": [1, 2.5]})");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(
      ToHex(memokey::ByteSpan(reinterpret_cast<const std::uint8_t*>(r.out.data()), r.out.size())),
      "a261618201f94100616201");
}

TEST(CliCanon, JsonNumbersAndLiterals) {
  const CliRun r = Memokey(
      "canon --from json",
      " [1, -1, 1.0, 18446744073709551615, -9223372036854775808, 0.5, -0.0, true, false, null, "
      "\"\\u00fc\", {}] \n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out,
            "8c"
            "01"
            "20"
            "f93c00"
            "1bffffffffffffffff"
            "3b7fffffffffffffff"
            "f93800"
            "f98000"
            "f5"
            "f4"
            "f6"
            "62c3bc"
            "a0"
            "\n");
}

TEST(CliCanon, CborAndHexInputAreCanonicalized) {
  // {"b": 1, "a": 2}, keys out of order: canonicalized, not rejected.
  const std::string raw = std::string("\xa2\x61\x62\x01\x61\x61\x02", 7);
  CliRun r = Memokey("canon", raw);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "a2616102616201\n");
  r = Memokey("canon --from hex", "A2 6162 01\n6161\t02\n");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "a2616102616201\n");
  r = Memokey("canon --from hex --to diag", "5f42010243030405ff");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "h'0102030405'\n");
  r = Memokey("canon --from hex --to diag", "fa7fc00000");
  EXPECT_EQ(r.out, "NaN\n");
}

TEST(CliKey, MatchesTheLibrary) {
  CliRun r = Memokey("key --from json", R"({"b": 1, "a": [1, 2.5]})");
  EXPECT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.out.size(), 33u);
  EXPECT_EQ(r.out, memokey::KeyOf(IssueExample()).hex() + "\n");
  EXPECT_EQ(r.out, memokey::KeyOfCanonical(FromHex("a261618201f94100616201")).hex() + "\n");
  // The same value given as non-canonical CBOR has the same key.
  r = Memokey("key --from hex", "bf 6162 01 6161 9f 01 fb4004000000000000 ff ff");
  EXPECT_EQ(r.out, memokey::KeyOf(IssueExample()).hex() + "\n");
  // Namespaces.
  r = Memokey("key --from json --namespace ns", R"({"b": 1, "a": [1, 2.5]})");
  EXPECT_EQ(r.out, memokey::KeyOf(IssueExample(), "ns").hex() + "\n");
  r = Memokey("key --from json --namespace ''", R"({"b": 1, "a": [1, 2.5]})");
  EXPECT_EQ(r.out, memokey::KeyOf(IssueExample(), "").hex() + "\n");
  EXPECT_NE(r.out, memokey::KeyOf(IssueExample()).hex() + "\n");
}

TEST(CliKey, Sha256) {
  // Golden value from tests/vectors/canonical-v1.json (Python hashlib).
  CliRun r = Memokey("key --sha256 --from json --namespace demo", R"({"b": 1, "a": [1, 2.5]})");
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(r.out, "c1dcd1ad766ce8b480f9c183eb483ee1b0a688f7d80646582053979aef0d163c\n");
}

TEST(CliCheck, ExitStatus) {
  CliRun r = Memokey("check --from hex", "a2616102616201");
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  r = Memokey("check --from hex", "a2616201616102");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "not canonical at byte 4: map keys not in canonical order\n");
  r = Memokey("check --from hex", "fa3fc00000");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("float 1.5 not in shortest form (use f93e00)"), std::string::npos);
  r = Memokey("check", std::string("\x18\x00", 2));
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find("at byte 0: overlong head"), std::string::npos);
  r = Memokey("check --from hex", "a2 61");
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("malformed CBOR at byte"), std::string::npos) << r.err;
}

TEST(CliErrors, MalformedInputExitsTwoWithTheOffset) {
  struct Case {
    const char* args;
    std::string input;
    const char* message;
  };
  const Case cases[] = {
      {"canon --from hex", "a2", "memokey: malformed CBOR at byte 0: "},
      {"canon", std::string("\xa2", 1), "memokey: malformed CBOR at byte 0: "},
      {"canon", std::string("\x82\x01", 2), "memokey: malformed CBOR at byte 0: "},
      {"canon", std::string("\x1a\x00\x0f\x42", 4),
       "memokey: malformed CBOR at byte 4: unexpected end of input\n"},
      {"canon", "", "memokey: malformed CBOR at byte 0: unexpected end of input\n"},
      {"canon --from hex", "0000", "memokey: malformed CBOR at byte 1: trailing bytes"},
      {"canon --from hex", "zz", "memokey: malformed hex at byte 0: invalid hex digit 'z'\n"},
      {"canon --from hex", "00 0g", "memokey: malformed hex at byte 4: invalid hex digit 'g'\n"},
      {"key --from hex", "123", "memokey: malformed hex at byte 2: odd number of hex digits\n"},
      {"canon --from json", R"({"a": })", "memokey: malformed JSON at byte 6: "},
      {"canon --from json", R"({"a": 1)", "memokey: malformed JSON at byte 7: "},
      {"canon --from json", "[1, 2] x", "memokey: malformed JSON at byte 7: "},
      {"canon --from json", "", "memokey: malformed JSON at byte 0: "},
      {"key --from json", R"({"a": 1, "a": 2})", "memokey: malformed JSON at byte "},
      {"canon --from json", "\"\xff\"", "memokey: malformed JSON at byte "},
      {"canon --from hex", "a2 6161 01 6161 02", "memokey: CBOR input has no canonical form: "},
      {"canon --from hex", "ff", "memokey: malformed CBOR at byte 0: unexpected break"},
      {"canon --from hex", "1c", "memokey: malformed CBOR at byte 0: reserved additional"},
      {"canon --from hex", "5b ffffffffffffffff", "memokey: malformed CBOR at byte 0: length"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.args) + " < " + c.input);
    const CliRun r = Memokey(c.args, c.input);
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(r.err.rfind(c.message, 0), 0u) << r.err;
    // One line.
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
}

TEST(CliErrors, DeepNestingIsAnErrorNotACrash) {
  CliRun r = Memokey("canon", std::string(100000, '\x81') + '\0');
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("at byte 513: nesting deeper than 512"), std::string::npos) << r.err;
  r = Memokey("canon --from json", std::string(100000, '['));
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("malformed JSON at byte"), std::string::npos) << r.err;
}

TEST(CliUsage, ErrorsExitTwo) {
  EXPECT_EQ(Memokey("", "").status, 2);
  EXPECT_EQ(Memokey("frobnicate", "").status, 2);
  EXPECT_EQ(Memokey("canon --from xml", "").status, 2);
  EXPECT_EQ(Memokey("canon --to json", "").status, 2);
  EXPECT_EQ(Memokey("check --from json", "").status, 2);
  EXPECT_EQ(Memokey("key --namespace", "").status, 2);
  const CliRun help = Memokey("--help", "");
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("canon"), std::string::npos);
  const CliRun version = Memokey("--version", "");
  EXPECT_EQ(version.status, 0);
  EXPECT_EQ(version.out.rfind("memokey ", 0), 0u) << version.out;
}

}  // namespace
