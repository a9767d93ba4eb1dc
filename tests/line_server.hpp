#pragma once

// A loopback TCP server for tests of socket sources, in the test process.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace libstream::test {

// -- a loopback TCP server ----------------------------------------------------

/// Listens on 127.0.0.1 at an ephemeral port; serve() accepts one
/// connection in a thread, writes the chunks (pausing between them so the
/// reader sees partial lines) and closes the connection.
class line_server {
public:
  line_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0)
      throw std::runtime_error("socket() failed");
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::listen(fd_, 4) != 0)
      throw std::runtime_error("bind/listen failed");
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }

  /// Wakes a thread still waiting in accept (no client came) and joins.
  ~line_server() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable())
      thread_.join();
    ::close(fd_);
  }

  uint16_t port() const { return port_; }

  void serve(std::vector<std::string> chunks) {
    thread_ = std::thread{[this, chunks = std::move(chunks)] {
      int conn = accept_within(10000);
      if (conn < 0)
        return;
      accepted_ = true;
      for (auto& c : chunks) {
        size_t off = 0;
        while (off < c.size()) {
          auto n = ::send(conn, c.data() + off, c.size() - off, MSG_NOSIGNAL);
          if (n <= 0) {
            ::close(conn);
            return;
          }
          off += static_cast<size_t>(n);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
      }
      ::close(conn);
    }};
  }

  /// Accepts one connection and sends `line` (with '\n') again and again,
  /// pausing `pause_ms` after every `burst` lines, until the peer closes
  /// the connection or `max_lines` are sent; counts what it sent.
  void serve_repeating(std::string line, int burst = 100, int pause_ms = 1,
                       uint64_t max_lines = 100000000) {
    thread_ = std::thread{[this, line = line + "\n", burst, pause_ms,
                           max_lines] {
      int conn = accept_within(10000);
      if (conn < 0)
        return;
      accepted_ = true;
      while (sent_ < max_lines) {
        for (int i = 0; i < burst; ++i) {
          auto n = ::send(conn, line.data(), line.size(), MSG_NOSIGNAL);
          if (n != static_cast<ssize_t>(line.size())) {
            ::close(conn);
            return;
          }
          ++sent_;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms));
      }
      ::close(conn);
    }};
  }

  bool accepted() const { return accepted_; }

  /// Lines sent by serve_repeating.
  uint64_t sent() const { return sent_; }

private:
  /// A connection, or -1 when none came within `ms` (or the server shut
  /// down): a test whose client never connects does not hang.
  int accept_within(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0 || (p.revents & POLLIN) == 0)
      return -1;
    return ::accept(fd_, nullptr, nullptr);
  }

  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> accepted_{false};
  std::atomic<uint64_t> sent_{0};
};

} // namespace libstream::test
