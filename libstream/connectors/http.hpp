#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/async/blocking_pool.hpp"
#include "libstream/time.hpp"

namespace libstream::http {

/// An http://HOST:PORT[/PATH] URL.
struct url {
  std::string host;
  uint16_t port = 80;
  std::string path = "/"; // with its leading '/'

  /// http://HOST:PORT
  std::string origin() const;
};

/// Parses http://HOST[:PORT][/PATH]; throws std::invalid_argument naming
/// `what` and the problem (https is not supported).
url parse_url(const std::string& s, const std::string& what);

struct response {
  int status = 0;
  std::string body;
};

/// Thrown when a request gets no response (refused, reset, timed out):
/// names the URL and the cause.
class http_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct client_options {
  duration_ms connect_timeout = 2000;
  duration_ms read_timeout = 10000;
};

/// A blocking HTTP/1.1 client for one server that keeps its connection
/// open between requests (keep-alive), reconnecting when the server
/// closed it.
class client {
public:
  client(std::string host, uint16_t port, client_options opts = {});
  ~client();

  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// GET `path`. Throws http_error when there is no response.
  response get(const std::string& path);

  const std::string& origin() const noexcept { return origin_; }

private:
  struct impl;
  std::unique_ptr<impl> impl_;
  std::string origin_;
};

/// Percent-encodes `s` for a URL path segment (RFC 3986 unreserved
/// characters stay).
std::string encode_path_segment(const std::string& s);

} // namespace libstream::http

namespace libstream {

/// Looks each record up with an HTTP GET on a bounded pool of threads,
/// each with its own keep-alive connection (cpp-httplib is blocking).
/// `path(record)` is the request's path; `result(record, body)` turns the
/// record and the response body (nullopt for 404 Not Found) into the
/// results. Any other status outside 2xx fails the request with the
/// status and the URL; so does a request without a response.
template <class In, class Out>
class http_lookup final
    : public blocking_async_function<In, Out, http::client> {
public:
  using path_function = std::function<std::string(const In&)>;
  using result_function = std::function<std::vector<Out>(
      const In&, const std::optional<std::string>&)>;

  http_lookup(http::url server, path_function path, result_function result,
              size_t threads = 8, http::client_options opts = {})
      : blocking_async_function<In, Out, http::client>(threads),
        server_(std::move(server)), path_(std::move(path)),
        result_(std::move(result)), opts_(opts) {}

  /// Stops the pool's threads while the members their calls use exist.
  ~http_lookup() override { this->close(); }

protected:
  std::unique_ptr<http::client> connect(const runtime_info&) override {
    return std::make_unique<http::client>(server_.host, server_.port, opts_);
  }

  std::vector<Out> call(http::client& c, const In& input) override {
    auto path = path_(input);
    auto r = c.get(path);
    if (r.status == 404)
      return result_(input, std::nullopt);
    if (r.status < 200 || r.status > 299)
      throw http::http_error("HTTP " + std::to_string(r.status) + " from GET "
                             + c.origin() + path);
    return result_(input, r.body);
  }

private:
  http::url server_;
  path_function path_;
  result_function result_;
  http::client_options opts_;
};

} // namespace libstream
