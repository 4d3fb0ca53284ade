// The client side of memokeyd: a Store over HTTP/1.1 with keep-alive.
//
// Each call borrows a connection from a small pool (opening one when none is
// idle) and runs one request on it with a deadline. Beast's tcp_stream
// enforces deadlines only on asynchronous operations, so every connection
// owns a private io_context and each request runs its async chain to
// completion with run(): synchronous to the caller, with real timeouts.
//
// A request that fails on a reused connection is retried on a fresh one
// (the server may have closed an idle keep-alive connection); `retries`
// more attempts follow for connection failures, never for HTTP answers.

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "memokey/hex.h"
#include "memokey/store_backends.h"
#include "store_internal.h"

namespace memokey {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using store_internal::Counters;

bool IsPathSafe(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Store keys are arbitrary bytes; memokeyd accepts only [A-Za-z0-9._~-] path
// characters and never percent-decodes. Keys made of safe characters (and not
// starting with '~' or '.') travel as they are; all others as '~' + hex, so
// the mapping stays one-to-one.
std::string KeyToPath(std::string_view key) {
  bool safe = key.front() != '.';
  for (char c : key) safe = safe && IsPathSafe(c);
  if (safe) return std::string(key);
  std::string out = "~";
  AppendHex(out, std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
  return out;
}

struct Connection {
  asio::io_context io;
  beast::tcp_stream stream{io};
  beast::flat_buffer buffer;
};

// The longest wait asked of the server per lease request (memokeyd caps it
// at 5 s; handler.h, kMaxLeaseWait).
constexpr std::chrono::milliseconds kServerLeaseWait{5000};

// "1234ms" (what memokeyd sends in X-Memokey-TTL) -> 1234 ms; anything else 0.
std::chrono::milliseconds ParseMs(std::string_view text) {
  if (!text.ends_with("ms")) return std::chrono::milliseconds{0};
  text.remove_suffix(2);
  long long ms = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
  if (ec != std::errc() || end != text.data() + text.size() || ms < 0) {
    return std::chrono::milliseconds{0};
  }
  return std::chrono::milliseconds{ms};
}

class HttpStore final : public Store {
 public:
  explicit HttpStore(HttpStoreOptions options) : options_(std::move(options)) {}

  Status Get(std::string_view key, std::string* value) override {
    return Fetch(key, value, nullptr);
  }

  // Asks for the remaining time to live too (X-Memokey-Want-TTL; memokeyd
  // answers X-Memokey-TTL when the entry has one). Such a GET is not part of
  // the server's batched reads, so plain Get does not ask.
  Status GetWithTtl(std::string_view key, std::string* value,
                    std::chrono::milliseconds* ttl_left) override {
    *ttl_left = std::chrono::milliseconds{0};
    return Fetch(key, value, ttl_left);
  }

  Status Put(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override {
    if (Status s = store_internal::CheckKey(key); !s.ok()) return s;
    if (Status s = store_internal::CheckTtl(ttl); !s.ok()) return s;
    http::response<http::string_body> response;
    if (Status s = Exchange(http::verb::put, key, value, ttl, &response); !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    if (response.result() != http::status::created && response.result() != http::status::ok &&
        response.result() != http::status::no_content) {
      Counters::Add(counters_.errors);
      return Refused(response);
    }
    Counters::Add(counters_.puts);
    return Status::Ok();
  }

  Status Delete(std::string_view key) override {
    if (Status s = store_internal::CheckKey(key); !s.ok()) return s;
    http::response<http::string_body> response;
    if (Status s = Exchange(http::verb::delete_, key, {}, std::chrono::milliseconds{0}, &response);
        !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    if (response.result() != http::status::no_content && response.result() != http::status::ok &&
        response.result() != http::status::not_found) {
      Counters::Add(counters_.errors);
      return Refused(response);
    }
    Counters::Add(counters_.deletes);
    return Status::Ok();
  }

  Status Contains(std::string_view key, bool* present) override {
    if (Status s = store_internal::CheckKey(key); !s.ok()) return s;
    http::response<http::string_body> response;
    if (Status s = Exchange(http::verb::head, key, {}, std::chrono::milliseconds{0}, &response);
        !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    if (response.result() != http::status::ok && response.result() != http::status::not_found) {
      Counters::Add(counters_.errors);
      return Refused(response);
    }
    *present = response.result() == http::status::ok;
    return Status::Ok();
  }

  // POST /v1/ns/key/lease, repeated while the server answers 409 (it waits at
  // most a few seconds per request) until options.wait has passed.
  Status AcquireLease(std::string_view key, const LeaseOptions& options,
                      LeaseResult* out) override {
    *out = LeaseResult{};
    if (Status s = store_internal::CheckKey(key); !s.ok()) return s;
    using std::chrono::milliseconds;
    const auto deadline = std::chrono::steady_clock::now() + options.wait;
    for (;;) {
      const milliseconds left = std::max(
          milliseconds{0},
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now()));
      const milliseconds wait = std::min(left, kServerLeaseWait);
      http::request<http::string_body> request = NewRequest(http::verb::post, key, "/lease");
      request.set("X-Memokey-Lease-TTL", std::to_string(options.ttl.count()) + "ms");
      request.set("X-Memokey-Lease-Wait", std::to_string(wait.count()) + "ms");
      if (!options.check_value) request.set("X-Memokey-Lease-Check", "0");
      http::response<http::string_body> response;
      if (Status s = Send(request, options_.timeout + wait, &response); !s.ok()) {
        Counters::Add(counters_.errors);
        return s;
      }
      if (response["X-Memokey-Lease-Waited"] == "1") out->waited = true;
      switch (response.result()) {
        case http::status::created:
          out->state = LeaseResult::State::kGranted;
          out->token = std::string(response["X-Memokey-Lease"]);
          if (out->token.empty()) break;  // not memokeyd: refused below
          return Status::Ok();
        case http::status::ok:
          out->state = LeaseResult::State::kValue;
          out->value = std::move(response.body());
          out->ttl_left = ParseMs(response["X-Memokey-TTL"]);
          return Status::Ok();
        case http::status::conflict:
          out->waited = true;
          if (left.count() == 0) {
            out->state = LeaseResult::State::kTimedOut;
            return Status::Ok();
          }
          continue;
        case http::status::not_implemented:
          out->state = LeaseResult::State::kUnsupported;
          return Status::Ok();
        default:
          break;
      }
      Counters::Add(counters_.errors);
      *out = LeaseResult{};
      return Refused(response);
    }
  }

  Status ReleaseLease(std::string_view key, std::string_view token) override {
    if (Status s = store_internal::CheckKey(key); !s.ok()) return s;
    http::request<http::string_body> request = NewRequest(http::verb::post, key, "/release");
    request.set("X-Memokey-Lease", token);
    http::response<http::string_body> response;
    if (Status s = Send(request, options_.timeout, &response); !s.ok()) {
      Counters::Add(counters_.errors);
      return s;
    }
    if (response.result() != http::status::no_content) {
      Counters::Add(counters_.errors);
      return Refused(response);
    }
    return Status::Ok();
  }

  StoreStats Stats() const override { return counters_.Snapshot(); }

  std::string Describe() const override {
    return "http://" + std::string(options_.token.empty() ? "" : "***@") + options_.host + ":" +
           std::to_string(options_.port) + "/" + options_.key_namespace;
  }

  bool strict() const override { return options_.strict; }

 private:
  static Status Refused(const http::response<http::string_body>& response) {
    std::string body = response.body().substr(0, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    return Status::Unavailable("server answered " + std::to_string(response.result_int()) + " " +
                               std::string(response.reason()) + (body.empty() ? "" : ": " + body));
  }

  std::unique_ptr<Connection> Borrow() {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return nullptr;
    std::unique_ptr<Connection> connection = std::move(idle_.back());
    idle_.pop_back();
    return connection;
  }

  void Return(std::unique_ptr<Connection> connection) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < options_.pool) idle_.push_back(std::move(connection));
  }

  Status Open(std::unique_ptr<Connection>* out) {
    auto connection = std::make_unique<Connection>();
    tcp::resolver resolver(connection->io);
    beast::error_code ec;
    const auto endpoints = resolver.resolve(options_.host, std::to_string(options_.port), ec);
    if (ec) return Status::Unavailable("cannot resolve " + options_.host + ": " + ec.message());
    connection->stream.expires_after(options_.connect_timeout);
    connection->stream.async_connect(endpoints,
                                     [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    connection->io.run();
    if (ec) {
      return Status::Unavailable("cannot connect to " + options_.host + ":" +
                                 std::to_string(options_.port) + ": " + ec.message());
    }
    connection->stream.socket().set_option(tcp::no_delay(true));
    *out = std::move(connection);
    return Status::Ok();
  }

  Status Fetch(std::string_view key, std::string* value, std::chrono::milliseconds* ttl_left) {
    if (Status s = store_internal::CheckKey(key); !s.ok()) return s;
    http::request<http::string_body> request = NewRequest(http::verb::get, key);
    if (ttl_left != nullptr) request.set("X-Memokey-Want-TTL", "1");
    http::response<http::string_body> response;
    if (Status s = Send(request, options_.timeout, &response); !s.ok()) {
      Counters::Add(counters_.errors);
      Counters::Add(counters_.misses);
      return options_.strict ? s : Status::NotFound("server unavailable: " + s.message());
    }
    if (response.result() == http::status::not_found) {
      Counters::Add(counters_.misses);
      return Status::NotFound();
    }
    if (response.result() != http::status::ok) {
      Counters::Add(counters_.errors);
      Counters::Add(counters_.misses);
      return options_.strict ? Refused(response) : Status::NotFound(Refused(response).message());
    }
    Counters::Add(counters_.hits);
    if (ttl_left != nullptr) *ttl_left = ParseMs(response["X-Memokey-TTL"]);
    *value = std::move(response.body());
    return Status::Ok();
  }

  Status Exchange(http::verb verb, std::string_view key, std::string_view body,
                  std::chrono::milliseconds ttl, http::response<http::string_body>* response) {
    http::request<http::string_body> request = NewRequest(verb, key);
    if (verb == http::verb::put) {
      request.body() = std::string(body);
      if (ttl.count() > 0) request.set("X-Memokey-TTL", std::to_string(ttl.count()) + "ms");
    }
    return Send(request, options_.timeout, response);
  }

  http::request<http::string_body> NewRequest(http::verb verb, std::string_view key,
                                              std::string_view suffix = {}) const {
    http::request<http::string_body> request{
        verb, "/v1/" + options_.key_namespace + "/" + KeyToPath(key) + std::string(suffix), 11};
    request.set(http::field::host, options_.host);
    request.keep_alive(true);
    if (!options_.token.empty())
      request.set(http::field::authorization, "Bearer " + options_.token);
    return request;
  }

  // Runs one request with a deadline of `timeout`; retries as described at the top.
  Status Send(http::request<http::string_body>& request, std::chrono::milliseconds timeout,
              http::response<http::string_body>* response) {
    const http::verb verb = request.method();
    request.prepare_payload();

    Status last;
    for (unsigned attempt = 0; attempt <= options_.retries + 1; ++attempt) {
      // The first attempt may reuse an idle connection; retries never do.
      std::unique_ptr<Connection> connection = attempt == 0 ? Borrow() : nullptr;
      if (!connection) {
        if (Status s = Open(&connection); !s.ok()) {
          last = s;
          continue;
        }
      }
      beast::error_code ec;
      http::response_parser<http::string_body> parser;
      parser.body_limit(options_.max_value_bytes);
      if (verb == http::verb::head) parser.skip(true);
      connection->stream.expires_after(timeout);
      connection->io.restart();
      http::async_write(connection->stream, request, [&](beast::error_code e, std::size_t) {
        ec = e;
        if (ec) return;
        http::async_read(connection->stream, connection->buffer, parser,
                         [&](beast::error_code e2, std::size_t) { ec = e2; });
      });
      connection->io.run();
      if (ec) {
        last = Status::Unavailable("request to " + options_.host + ":" +
                                   std::to_string(options_.port) + " failed: " + ec.message());
        continue;
      }
      *response = parser.release();
      if (response->keep_alive()) Return(std::move(connection));
      return Status::Ok();
    }
    return last;
  }

  HttpStoreOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
  Counters counters_;
};

}  // namespace

Status OpenHttpStore(const HttpStoreOptions& options, std::unique_ptr<Store>* out) {
  if (options.host.empty()) return Status::Error("http:// store: no host");
  if (options.key_namespace.empty()) {
    return Status::Error("http:// store: no namespace (write http://host:port/namespace)");
  }
  for (char c : options.key_namespace) {
    if (!IsPathSafe(c)) {
      return Status::Error("http:// store: namespace '" + options.key_namespace +
                           "' may contain only A-Z a-z 0-9 . _ -");
    }
  }
  *out = std::make_unique<HttpStore>(options);
  return Status::Ok();
}

}  // namespace memokey
