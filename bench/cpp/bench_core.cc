// Encode + key throughput beside raw XXH3-128 over the same bytes (the limit).
//
//   build/release/bench/cpp/bench_core --benchmark_filter=.
//
// BM_KeyBytes/N against BM_RawXXH3/N is the "large byte strings at >= 0.9x raw
// XXH3-128" goal of the canonical-core issue: the key of a byte string is
// XXH3-128 over a frame around the string, which the encoder streams to the
// hasher without copying.
//
// BM_KeyRecords/N is the structured series beside it: the key of a vector of
// N small records (four fields each, written like a Python dataclass through
// EncodeRecord), 1 .. 65536 records; the "bytes" counter is the canonical
// size, so both series plot against input size.

#include <benchmark/benchmark.h>
#include <xxh_x86dispatch.h>
#include <xxhash.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "memokey/encode_cpp.h"
#include "memokey/key.h"
#include "memokey/value.h"
#include "xxh3.h"  // lib/src: the XXH3 variant keys use

namespace {

using memokey::Value;

void BM_KeySmallRecord(benchmark::State& state) {
  const auto args = std::make_tuple(42, std::string("hello"), 3.5, nullptr);
  const std::map<std::string, bool> kwargs{{"flag", true}};
  memokey::KeyEncoder k;
  for (auto _ : state) {
    k.reset();
    memokey::Encoder& e = k.encoder();
    e.tag(memokey::tag::kTuple);
    e.array(2);
    memokey::Encode(e, args);
    memokey::Encode(e, kwargs);
    benchmark::DoNotOptimize(k.finish());
  }
}
BENCHMARK(BM_KeySmallRecord);

// A JSON-like document of about 40 KB: records with text, numbers, flags and
// nested lists, the shape of a typical configuration or API payload.
Value MakeDocument() {
  std::mt19937_64 rng(7);
  std::vector<Value> records;
  for (int i = 0; i < 250; ++i) {
    std::vector<Value::Entry> fields;
    fields.emplace_back(Value::Text("id"), Value::Integer(i));
    fields.emplace_back(Value::Text("name"), Value::Text("user-" + std::to_string(rng() % 100000)));
    fields.emplace_back(Value::Text("score"),
                        Value::Float(static_cast<double>(rng() % 10000) / 7.0));
    fields.emplace_back(Value::Text("active"), Value::Bool(rng() % 2 == 0));
    std::vector<Value> tags;
    for (int t = 0; t < 4; ++t) tags.push_back(Value::Text("tag" + std::to_string(rng() % 50)));
    fields.emplace_back(Value::Text("tags"), Value::Array(std::move(tags)));
    std::vector<Value::Entry> address;
    address.emplace_back(Value::Text("city"), Value::Text("city-" + std::to_string(rng() % 300)));
    address.emplace_back(Value::Text("zip"),
                         Value::Integer(static_cast<std::int64_t>(rng() % 99999)));
    fields.emplace_back(Value::Text("address"), Value::Map(std::move(address)));
    records.push_back(Value::Map(std::move(fields)));
  }
  return Value::Map({{Value::Text("records"), Value::Array(std::move(records))},
                     {Value::Text("version"), Value::Integer(3)}});
}

void BM_KeyDocument40K(benchmark::State& state) {
  const Value doc = MakeDocument();
  const std::size_t size = memokey::ToCanonical(doc).size();
  memokey::KeyEncoder k;
  for (auto _ : state) {
    k.reset();
    memokey::EncodeValue(k.encoder(), doc);
    benchmark::DoNotOptimize(k.finish());
  }
  state.counters["canonical_bytes"] = static_cast<double>(size);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_KeyDocument40K);

void BM_RawXXH3Document40K(benchmark::State& state) {
  const std::vector<std::uint8_t> bytes = memokey::ToCanonical(MakeDocument());
  for (auto _ : state) benchmark::DoNotOptimize(XXH3_128bits(bytes.data(), bytes.size()));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes.size()));
}
BENCHMARK(BM_RawXXH3Document40K);

}  // namespace

// A small structured record; memokey_encode is found by argument-dependent lookup.
namespace bench {
struct Record {
  std::int64_t id;
  std::string name;
  double score;
  bool active;
};
void memokey_encode(memokey::Encoder& e, const Record& r) {
  memokey::EncodeRecord(e, "bench:Record", "id", r.id, "name", r.name, "score", r.score, "active",
                        r.active);
}
}  // namespace bench

namespace {

void BM_KeyRecords(benchmark::State& state) {
  std::vector<bench::Record> records;
  for (std::int64_t i = 0; i < state.range(0); ++i) {
    records.push_back({i, "user-" + std::to_string(100000 + i).substr(1),
                       static_cast<double>(i) * 0.25, i % 3 == 0});
  }
  const std::size_t size = memokey::Canonical(records).size();
  for (auto _ : state) benchmark::DoNotOptimize(memokey::KeyOf(records));
  state.counters["bytes"] = static_cast<double>(size);
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}
BENCHMARK(BM_KeyRecords)->RangeMultiplier(4)->Range(1, 1 << 16)->Unit(benchmark::kMicrosecond);

std::vector<std::uint8_t> MakeBytes(std::size_t size) {
  std::vector<std::uint8_t> bytes(size);
  std::mt19937_64 rng(1);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
  return bytes;
}

void BM_KeyBytes(benchmark::State& state) {
  const auto bytes = MakeBytes(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(memokey::KeyOf(bytes));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_KeyBytes)->RangeMultiplier(4)->Range(64, 64 << 20)->Unit(benchmark::kMicrosecond);

void BM_RawXXH3(benchmark::State& state) {
  const auto bytes = MakeBytes(static_cast<std::size_t>(state.range(0)));
  // The dispatching entry point: the fastest XXH3-128 this CPU can run.
  for (auto _ : state) {
    benchmark::DoNotOptimize(XXH3_128bits_dispatch(bytes.data(), bytes.size()));
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_RawXXH3)->RangeMultiplier(4)->Range(64, 64 << 20)->Unit(benchmark::kMicrosecond);

// The variant memokey's keys use (xxh3.h: AVX2 where available), over the raw bytes.
void BM_RawXXH3Best(benchmark::State& state) {
  const auto bytes = MakeBytes(static_cast<std::size_t>(state.range(0)));
  const auto& xxh3 = memokey::internal::Xxh3Best();
  std::uint8_t digest[16];
  for (auto _ : state) {
    xxh3.hash(bytes.data(), bytes.size(), digest);
    benchmark::DoNotOptimize(digest);
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
  state.SetLabel(xxh3.name);
}
BENCHMARK(BM_RawXXH3Best)->RangeMultiplier(4)->Range(64, 64 << 20)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
