#include "libstream/host_port.hpp"

#include <algorithm>
#include <stdexcept>

namespace libstream {

host_port parse_host_port(const std::string& s, const std::string& what) {
  auto bad = [&](const std::string& why) {
    return std::invalid_argument(what + " expects HOST:PORT, got '" + s
                                 + "': " + why);
  };
  auto colon = s.rfind(':');
  if (colon == std::string::npos)
    throw bad("no port");
  host_port hp;
  hp.host = s.substr(0, colon);
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']')
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  if (hp.host.empty())
    throw bad("no host");
  auto port = s.substr(colon + 1);
  if (port.empty() || port.size() > 5
      || !std::all_of(port.begin(), port.end(),
                      [](char c) { return c >= '0' && c <= '9'; }))
    throw bad("the port is not a number");
  auto n = std::stoi(port);
  if (n < 1 || n > 65535)
    throw bad("the port is not in 1..65535");
  hp.port = static_cast<uint16_t>(n);
  return hp;
}

} // namespace libstream
