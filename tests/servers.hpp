#pragma once

// Real servers for connector tests, started on free loopback ports in the
// test's temporary directory and killed by their destructors (also when a
// check fails and the test unwinds).


#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "libstream/connectors/redis.hpp"

namespace libstream::test {

/// redis-server (the Debian package) on a free port of 127.0.0.1, without
/// persistence.
class redis_server {
public:
  explicit redis_server(const temp_dir& dir, uint16_t port = 0)
      : dir_(&dir), port_(port) {
    start();
  }

  uint16_t port() const noexcept { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  /// A client for setting up and checking data.
  redis::sync_client client() const {
    redis::options o;
    o.max_retries = 2;
    return redis::sync_client{"127.0.0.1", port_, o};
  }

  /// SIGKILL: the server is gone (its data too).
  void kill() { child_.reset(); }

  /// Starts again on the same port (empty).
  void restart() {
    child_.reset();
    start();
  }

  void pause() { child_->signal(SIGSTOP); }
  void resume() { child_->signal(SIGCONT); }

private:
  void start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto port = port_ != 0 ? port_ : free_port();
      child_ = std::make_unique<background_child>(
          *dir_, "/usr/bin/redis-server",
          std::vector<std::string>{"--port", std::to_string(port), "--bind",
                                   "127.0.0.1", "--save", "", "--appendonly",
                                   "no", "--dir", dir_->path(),
                                   "--daemonize", "no"});
      bool up = background_child::wait_until(
          [&] {
            try {
              redis::options o;
              o.max_retries = 0;
              o.connect_timeout = 200;
              redis::sync_client c{"127.0.0.1", port, o};
              return c.command({"PING"}).str == "PONG";
            } catch (...) {
              return false;
            }
          },
          10000);
      if (up) {
        port_ = port;
        return;
      }
      child_.reset(); // the port was taken meanwhile: try another
    }
    throw std::runtime_error("redis-server did not start");
  }

  const temp_dir* dir_;
  uint16_t port_;
  std::unique_ptr<background_child> child_;
};

} // namespace libstream::test
