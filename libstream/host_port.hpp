#pragma once

#include <cstdint>
#include <string>

namespace libstream {

/// A TCP endpoint as users write it: HOST:PORT, an IPv6 host in brackets
/// ([::1]:9999).
struct host_port {
  std::string host;
  uint16_t port = 0;
};

/// Parses HOST:PORT. Throws std::invalid_argument naming `what` (the flag)
/// and the problem: "<what> expects HOST:PORT, got '<s>': no port".
host_port parse_host_port(const std::string& s, const std::string& what);

} // namespace libstream
