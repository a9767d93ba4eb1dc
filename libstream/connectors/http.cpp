#include "libstream/connectors/http.hpp"

#include <httplib.h>

#include <cctype>

#include "libstream/host_port.hpp"

namespace libstream::http {

std::string url::origin() const {
  if (host.find(':') != std::string::npos)
    return "http://[" + host + "]:" + std::to_string(port);
  return "http://" + host + ":" + std::to_string(port);
}

url parse_url(const std::string& s, const std::string& what) {
  const std::string scheme = "http://";
  if (s.compare(0, scheme.size(), scheme) != 0)
    throw std::invalid_argument(what + " expects http://HOST:PORT/PATH, got '"
                                + s + "'"
                                + (s.compare(0, 8, "https://") == 0
                                       ? " (https is not supported)"
                                       : ""));
  auto rest = s.substr(scheme.size());
  url u;
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    u.path = rest.substr(slash);
    rest = rest.substr(0, slash);
  }
  if (rest.empty())
    throw std::invalid_argument(what + " expects http://HOST:PORT/PATH, got '"
                                + s + "': no host");
  auto closing = rest.rfind(']');
  auto colon = rest.rfind(':');
  if (colon == std::string::npos
      || (closing != std::string::npos && colon < closing)) {
    u.host = rest;
    if (u.host.size() > 2 && u.host.front() == '[' && u.host.back() == ']')
      u.host = u.host.substr(1, u.host.size() - 2);
    u.port = 80;
    return u;
  }
  auto hp = parse_host_port(rest, what);
  u.host = hp.host;
  u.port = hp.port;
  return u;
}

struct client::impl {
  httplib::Client cli;
  impl(const std::string& host, uint16_t port) : cli(host, port) {}
};

client::client(std::string host, uint16_t port, client_options opts)
    : impl_(std::make_unique<impl>(host, port)) {
  origin_ = url{host, port, "/"}.origin();
  auto& c = impl_->cli;
  c.set_keep_alive(true);
  c.set_tcp_nodelay(true); // else a request waits for a delayed ACK
  c.set_connection_timeout(std::chrono::milliseconds(opts.connect_timeout));
  c.set_read_timeout(std::chrono::milliseconds(opts.read_timeout));
  c.set_write_timeout(std::chrono::milliseconds(opts.read_timeout));
}

client::~client() = default;

response client::get(const std::string& path) {
  auto res = impl_->cli.Get(path);
  if (!res)
    throw http_error("GET " + origin_ + path + ": "
                     + httplib::to_string(res.error()));
  return response{res->status, res->body};
}

std::string encode_path_segment(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

} // namespace libstream::http
