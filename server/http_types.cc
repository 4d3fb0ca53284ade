// server/http_types.cc — names, reason phrases, and response serialization.

#include "http_types.h"

#include <charconv>

namespace memokeyd {

std::string_view MethodName(Method method) {
  switch (method) {
    case Method::kGet:
      return "GET";
    case Method::kHead:
      return "HEAD";
    case Method::kPut:
      return "PUT";
    case Method::kDelete:
      return "DELETE";
    case Method::kPost:
      return "POST";
    case Method::kPropfind:
      return "PROPFIND";
    case Method::kMkcol:
      return "MKCOL";
    case Method::kOther:
      return "OTHER";
  }
  return "OTHER";
}

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 207:
      return "Multi-Status";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

void SerializeHead(const Response& response, std::string_view date, bool keep_alive_10,
                   std::string* out) {
  char digits[24];
  out->append("HTTP/1.1 ");
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, response.status);
  (void)ec;
  out->append(digits, end);
  out->push_back(' ');
  out->append(ReasonPhrase(response.status));
  out->append("\r\nServer: memokeyd\r\n");
  if (!date.empty()) out->append("Date: ").append(date).append("\r\n");
  // 1xx, 204 and 304 carry no body and no Content-Length (RFC 9110 8.6).
  if (response.status >= 200 && response.status != 204 && response.status != 304) {
    out->append("Content-Length: ");
    auto [len_end, len_ec] = std::to_chars(digits, digits + sizeof digits, response.body.size());
    (void)len_ec;
    out->append(digits, len_end);
    out->append("\r\n");
  }
  if (!response.content_type.empty()) {
    out->append("Content-Type: ").append(response.content_type).append("\r\n");
  }
  for (const auto& [name, value] : response.headers) {
    out->append(name).append(": ").append(value).append("\r\n");
  }
  if (response.close) {
    out->append("Connection: close\r\n");
  } else if (keep_alive_10) {
    out->append("Connection: keep-alive\r\n");
  }
  out->append("\r\n");
}

}  // namespace memokeyd
