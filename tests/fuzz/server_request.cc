// Fuzz target: memokeyd's request handling, in process — the bytes a client
// sends go through ParseRequest (Beast's parser + memokeyd's field handling),
// Handler::Admit (the header-only check) and Handler::Handle over a memory
// store, exactly as server.cc drives them, minus the sockets. Up to 8
// pipelined requests per input share one handler and store, so a PUT can be
// read back by a later GET in the same input.
//
// Invariants:
//   * no crash, leak or undefined behaviour on any input;
//   * every answer is a real HTTP status (100..599), and parse errors are
//     400/413/431;
//   * object routes: the store key is "namespace/path" with a valid namespace
//     name and no empty, "." or ".." segment — nothing to traverse;
//   * writes (PUT, DELETE, POST .../lease|release) without a token, or with
//     the read-only token, are never 2xx; anonymous reads succeed only in the "public" namespace;
//   * a 201 PUT is read back (same target, same credentials) as 200 with
//     exactly the body that was stored.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "config.h"
#include "fuzz_util.h"
#include "handler.h"
#include "http_types.h"
#include "memokey/store.h"
#include "memokey/store_spec.h"
#include "metrics.h"
#include "request_parser.h"

namespace {

constexpr std::uint64_t kMaxBody = 1 << 20;
constexpr std::uint32_t kMaxHeader = 8 << 10;

struct World {
  memokeyd::Config config;
  std::unique_ptr<memokey::Store> store;
  memokeyd::Metrics metrics{1};
  memokeyd::ServerInfo info;
  std::atomic<bool> draining{false};
  std::unique_ptr<memokeyd::Handler> handler;

  World() {
    memokeyd::Token writer, reader, all;
    FUZZ_CHECK(memokeyd::ParseTokenSpec("rw:team,ccache:writer-secret-1", "writer", &writer).ok());
    FUZZ_CHECK(memokeyd::ParseTokenSpec("read:team:reader-secret-1", "reader", &reader).ok());
    FUZZ_CHECK(memokeyd::ParseTokenSpec("rw:*:all-namespaces-1", "all", &all).ok());
    config.tokens = {writer, reader, all};
    config.namespaces["public"].anonymous = memokeyd::Access::kRead;
    memokeyd::NamespacePolicy& short_ttl = config.namespaces["short"];
    short_ttl.anonymous = memokeyd::Access::kNone;
    short_ttl.default_ttl = memokeyd::Millis{5000};
    short_ttl.max_ttl = memokeyd::Millis{60'000};
    config.limits.max_body = kMaxBody;
    config.limits.max_header = kMaxHeader;
    FUZZ_CHECK(memokeyd::Finalize(&config).ok());
    FUZZ_CHECK(memokey::OpenStore("memory://?max_bytes=8M&shards=1", &store).ok());
    info.listen = "127.0.0.1:0";
    info.store_description = store->Describe();
    info.draining = &draining;
    handler = std::make_unique<memokeyd::Handler>(config, *store, metrics, metrics.shard(0), info);
  }
};

bool Is2xx(int status) { return status >= 200 && status < 300; }

void CheckTarget(const memokeyd::Request& request) {
  const memokeyd::Target t = memokeyd::ParseTarget(request.target);
  if (t.route != memokeyd::Route::kObject) return;
  FUZZ_CHECK(memokeyd::ValidNamespaceName(t.ns));
  FUZZ_CHECK(t.key.size() > t.ns.size() + 1 && t.key.substr(0, t.ns.size()) == t.ns &&
             t.key[t.ns.size()] == '/');
  FUZZ_CHECK(t.key.size() <= memokey::kMaxStoreKeyBytes);
  const std::string key = "/" + std::string(t.key) + "/";
  FUZZ_CHECK(key.find("//") == std::string::npos);
  FUZZ_CHECK(key.find("/./") == std::string::npos);
  FUZZ_CHECK(key.find("/../") == std::string::npos);
  FUZZ_CHECK(key.find('%') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World* world = new World();  // one server for the whole run, like memokeyd
  std::string_view bytes = memokey_fuzz::Text(data, size);

  for (int i = 0; i < 8 && !bytes.empty(); ++i) {
    memokeyd::Request request;
    int parse_status = 0;
    std::size_t consumed = 0;
    const memokeyd::ParseOutcome outcome =
        memokeyd::ParseRequest(bytes, kMaxBody, kMaxHeader, &request, &parse_status, &consumed);
    FUZZ_CHECK(consumed <= bytes.size());
    if (outcome == memokeyd::ParseOutcome::kError) {
      FUZZ_CHECK(parse_status == 400 || parse_status == 413 || parse_status == 431);
      return 0;  // the server answers and closes the connection
    }
    if (outcome == memokeyd::ParseOutcome::kIncomplete) return 0;
    bytes.remove_prefix(consumed);
    if (consumed == 0) return 0;

    CheckTarget(request);
    memokeyd::Response response;
    if (!world->handler->Admit(request, &response)) {
      FUZZ_CHECK(response.status >= 400 && response.status < 600);
      continue;
    }
    response.clear();
    // A lease request may wait up to 5 s for a lease an earlier input took;
    // waiting is the store's business (tests/cpp/store/lease_test.cc), not
    // parsing's, so the fuzzer never asks for it.
    request.lease_wait.clear();
    world->handler->Handle(request, &response);
    FUZZ_CHECK(response.status >= 100 && response.status < 600);

    const bool lease = request.method == memokeyd::Method::kPost;
    const bool write = request.method == memokeyd::Method::kPut ||
                       request.method == memokeyd::Method::kDelete || lease;
    if (lease && Is2xx(response.status)) {
      // Only under /v1/, for a valid key, with a token that may write there.
      FUZZ_CHECK(request.target.starts_with("/v1/"));
      FUZZ_CHECK(!request.authorization.empty() &&
                 request.authorization.find("reader-secret-1") == std::string::npos);
    }
    const memokeyd::Target target = memokeyd::ParseTarget(request.target);
    if (target.route == memokeyd::Route::kObject && Is2xx(response.status)) {
      const bool anonymous = request.authorization.empty();
      const bool reader = request.authorization.find("reader-secret-1") != std::string::npos;
      if (write) FUZZ_CHECK(!anonymous && !reader);
      if (anonymous) FUZZ_CHECK(target.ns == "public");
    }

    // Read back what was just stored.
    if (request.method == memokeyd::Method::kPut && response.status == 201 && request.ttl.empty() &&
        target.ns != "short") {
      memokeyd::Request get;
      get.method = memokeyd::Method::kGet;
      get.target = request.target;
      get.authorization = request.authorization;
      memokeyd::Response got;
      world->handler->Handle(get, &got);
      // A value larger than the store admits is dropped (a cache may forget).
      if (got.status != 404) {
        FUZZ_CHECK(got.status == 200);
        FUZZ_CHECK(got.body == request.body);
      }
    }
  }
  return 0;
}
