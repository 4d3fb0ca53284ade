// server/request_parser.h — HTTP/1.1 request parsing into a plain Request.
//
// The tokenizer is Beast's basic_parser (RFC 7230 grammar, chunked decoding,
// Content-Length rules, header and body limits), which has been fuzzed for
// years; this class only keeps the few fields memokeyd uses. It allocates
// nothing beyond the Request's own strings, which are reused from one request
// to the next on a connection.
//
// The server feeds it bytes as they arrive (put); tests and fuzzers can use
// ParseRequest to parse one complete buffer in one call.

#ifndef MEMOKEY_SERVER_REQUEST_PARSER_H_
#define MEMOKEY_SERVER_REQUEST_PARSER_H_

#include <boost/beast/http/basic_parser.hpp>
#include <cstdint>
#include <string_view>

#include "http_types.h"

namespace memokeyd {

namespace beast_http = boost::beast::http;

class RequestParser final : public beast_http::basic_parser<true> {
 public:
  // `request` is cleared and then filled as parsing proceeds.
  RequestParser(Request* request, std::uint64_t max_body, std::uint32_t max_header);

 private:
  void on_request_impl(beast_http::verb method, boost::beast::string_view method_str,
                       boost::beast::string_view target, int version,
                       boost::beast::error_code& ec) override;
  void on_response_impl(int, boost::beast::string_view, int, boost::beast::error_code&) override {}
  void on_field_impl(beast_http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override;
  void on_body_init_impl(boost::optional<std::uint64_t> const& content_length,
                         boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, boost::beast::string_view,
                            boost::beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code&) override {}

  Request* request_;
  std::uint64_t max_body_;
  bool seen_authorization_ = false;
  unsigned seen_own_ = 0;  // bit i: kOwn[i] seen (request_parser.cc)
};

// What to answer when parsing fails: 413 (body_limit), 431 (header_limit),
// else 400. Every parse error also closes the connection.
int StatusForParseError(const boost::beast::error_code& ec);

enum class ParseOutcome : std::uint8_t { kComplete, kIncomplete, kError };
// Parses `bytes` as one request. On kError, *status is the answer to send.
// *consumed is how many bytes the request took (pipelined data may follow).
ParseOutcome ParseRequest(std::string_view bytes, std::uint64_t max_body, std::uint32_t max_header,
                          Request* request, int* status, std::size_t* consumed);

}  // namespace memokeyd

#endif  // MEMOKEY_SERVER_REQUEST_PARSER_H_
