// server/request_parser.cc — see request_parser.h.

#include "request_parser.h"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>

namespace memokeyd {

namespace {

Method ToMethod(beast_http::verb verb) {
  switch (verb) {
    case beast_http::verb::get:
      return Method::kGet;
    case beast_http::verb::head:
      return Method::kHead;
    case beast_http::verb::put:
      return Method::kPut;
    case beast_http::verb::delete_:
      return Method::kDelete;
    case beast_http::verb::post:
      return Method::kPost;
    case beast_http::verb::propfind:
      return Method::kPropfind;
    case beast_http::verb::mkcol:
      return Method::kMkcol;
    default:
      return Method::kOther;
  }
}

}  // namespace

RequestParser::RequestParser(Request* request, std::uint64_t max_body, std::uint32_t max_header)
    : request_(request), max_body_(max_body) {
  request_->clear();
  body_limit(max_body);
  header_limit(max_header);
}

void RequestParser::on_request_impl(beast_http::verb method, boost::beast::string_view method_str,
                                    boost::beast::string_view target, int version,
                                    boost::beast::error_code& ec) {
  (void)ec;
  request_->method = ToMethod(method);
  request_->method_text.assign(method_str.data(), std::min<std::size_t>(method_str.size(), 16));
  request_->target.assign(target.data(), target.size());
  request_->version = version;
}

void RequestParser::on_field_impl(beast_http::field name, boost::beast::string_view name_string,
                                  boost::beast::string_view value, boost::beast::error_code& ec) {
  (void)ec;
  switch (name) {
    case beast_http::field::authorization:
      if (seen_authorization_) request_->duplicate_header = true;
      seen_authorization_ = true;
      request_->authorization.assign(value.data(), value.size());
      return;
    case beast_http::field::expect:
      // The only expectation defined is 100-continue (RFC 9110 10.1.1).
      if (boost::beast::iequals(value, "100-continue")) request_->expect_continue = true;
      return;
    default:
      break;
  }
  if (name != beast_http::field::unknown) return;
  // Our own headers, each allowed once: a repeated one would leave it unclear
  // which value counts.
  struct Own {
    std::string_view name;
    std::string Request::*field;
  };
  static constexpr Own kOwn[] = {{"x-memokey-ttl", &Request::ttl},
                                 {"x-memokey-lease", &Request::lease_token},
                                 {"x-memokey-lease-ttl", &Request::lease_ttl},
                                 {"x-memokey-lease-wait", &Request::lease_wait},
                                 {"x-memokey-lease-check", &Request::lease_check},
                                 {"x-memokey-want-ttl", &Request::want_ttl},
                                 {"x-artifact-duration", &Request::artifact_duration},
                                 {"x-artifact-tag", &Request::artifact_tag}};
  for (std::size_t i = 0; i < std::size(kOwn); ++i) {
    if (!boost::beast::iequals(name_string, kOwn[i].name)) continue;
    if (seen_own_ & (1u << i)) request_->duplicate_header = true;
    seen_own_ |= 1u << i;
    (request_->*kOwn[i].field).assign(value.data(), value.size());
    return;
  }
}

void RequestParser::on_header_impl(boost::beast::error_code& ec) {
  (void)ec;
  request_->keep_alive = keep_alive();
  request_->chunked = chunked();
  request_->content_length =
      content_length() ? std::optional<std::uint64_t>(*content_length()) : std::nullopt;
}

void RequestParser::on_body_init_impl(boost::optional<std::uint64_t> const& content_length,
                                      boost::beast::error_code& ec) {
  (void)ec;
  // Content-Length is already checked against the limit by basic_parser, so
  // reserving it up front is bounded; chunked bodies grow as they arrive.
  if (content_length)
    request_->body.reserve(static_cast<std::size_t>(std::min(*content_length, max_body_)));
}

std::size_t RequestParser::on_body_impl(boost::beast::string_view body,
                                        boost::beast::error_code& ec) {
  (void)ec;
  request_->body.append(body.data(), body.size());
  return body.size();
}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body,
                                              boost::beast::error_code& ec) {
  (void)remain;
  (void)ec;
  request_->body.append(body.data(), body.size());
  return body.size();
}

int StatusForParseError(const boost::beast::error_code& ec) {
  if (ec == beast_http::error::body_limit) return 413;
  if (ec == beast_http::error::header_limit) return 431;
  return 400;
}

ParseOutcome ParseRequest(std::string_view bytes, std::uint64_t max_body, std::uint32_t max_header,
                          Request* request, int* status, std::size_t* consumed) {
  RequestParser parser(request, max_body, max_header);
  parser.eager(true);
  *consumed = 0;
  *status = 0;
  while (!parser.is_done()) {
    boost::beast::error_code ec;
    const std::size_t used = parser.put(
        boost::asio::const_buffer(bytes.data() + *consumed, bytes.size() - *consumed), ec);
    *consumed += used;
    if (ec == beast_http::error::need_more) return ParseOutcome::kIncomplete;
    if (ec) {
      *status = StatusForParseError(ec);
      return ParseOutcome::kError;
    }
    if (used == 0 && !parser.is_done()) return ParseOutcome::kIncomplete;
  }
  return ParseOutcome::kComplete;
}

}  // namespace memokeyd
