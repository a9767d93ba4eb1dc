#pragma once

// Real servers for connector tests, started on free loopback ports in the
// test's temporary directory and killed by their destructors (also when a
// check fails and the test unwinds).


#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <pwd.h>
#include <sys/stat.h>

#include "child_process.hpp"
#include "libstream/connectors/postgres.hpp"
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

/// The single value `sql` selects, as text.
inline std::string pg_scalar(pg::connection& c, const std::string& sql) {
  auto rows = c.query(sql);
  if (rows.size() != 1 || rows[0].size() != 1 || !rows[0][0])
    throw std::runtime_error("not one value: " + sql);
  return *rows[0][0];
}

/// PostgreSQL 15 (the Debian package's binaries) in a fresh cluster under
/// the test's directory, on a free port of 127.0.0.1, trust
/// authentication for user postgres, database postgres. PostgreSQL
/// refuses to run as root: when the tests run as root, initdb and the
/// server run as the unprivileged user `postgres` (through setpriv).
class postgres_server {
public:
  static constexpr const char* bin = "/usr/lib/postgresql/15/bin/";

  /// `max_prepared` sets max_prepared_transactions (0 disables them).
  explicit postgres_server(const temp_dir& dir, int max_prepared = 20)
      : dir_(&dir), data_(dir.file("pg-" + std::to_string(++count_))),
        max_prepared_(max_prepared) {
    init();
    start();
  }

  ~postgres_server() { stop(); }

  uint16_t port() const noexcept { return port_; }

  /// postgresql://postgres@127.0.0.1:PORT/postgres?table=NAME
  std::string url(const std::string& table) const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_)
           + "/postgres?table=" + table;
  }

  pg::url where(const std::string& table = "t") const {
    return pg::parse_url(url(table), "test");
  }

  /// A connection for setting up and checking data.
  std::unique_ptr<pg::connection> client() const {
    pg::connect_options o;
    o.retries = 2;
    return std::make_unique<pg::connection>(where(), o);
  }

  /// Immediate shutdown (SIGQUIT: every connection drops at once), as a
  /// crashed server; SIGKILL if it does not go within 10 s.
  void stop() {
    if (!child_)
      return;
    child_->signal(SIGQUIT);
    child_->wait_for(10000);
    child_.reset();
  }

private:
  /// Runs `exe` with `args` as the server's user; throws with its output
  /// when it fails.
  void run_as_user(const std::string& exe, std::vector<std::string> args,
                   std::unique_ptr<background_child>* keep = nullptr) {
    std::string program = exe;
    if (::geteuid() == 0) {
      // --pdeathsig: a test process that dies (a timeout, a crash)
      // takes its server along (immediate shutdown) instead of leaving it
      // running.
      args.insert(args.begin(), {"--reuid=postgres", "--regid=postgres",
                                 "--init-groups", "--pdeathsig", "QUIT", "--",
                                 exe});
      program = "/usr/bin/setpriv";
    }
    auto child = std::make_unique<background_child>(*dir_, program, args);
    if (keep != nullptr) {
      *keep = std::move(child);
      return;
    }
    auto code = child->wait_for(120000);
    if (code != 0)
      throw std::runtime_error(exe + " failed (" + std::to_string(code)
                               + "): " + child->err() + child->out());
  }

  void init() {
    if (::mkdir(data_.c_str(), 0700) != 0)
      throw std::runtime_error("cannot create " + data_);
    if (::geteuid() == 0) {
      auto* pw = ::getpwnam("postgres");
      if (pw == nullptr)
        throw std::runtime_error("no user postgres: install postgresql-15 "
                                 "(scripts/setup.sh does)");
      // The server's user must reach its data directory.
      ::chmod(dir_->path().c_str(), 0711);
      if (::chown(data_.c_str(), pw->pw_uid, pw->pw_gid) != 0)
        throw std::runtime_error("cannot give " + data_ + " to postgres");
    }
    run_as_user(std::string{bin} + "initdb",
                {"-D", data_, "-U", "postgres", "--auth=trust", "--no-sync",
                 "-E", "UTF8", "--locale=C"});
  }

  void start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      auto port = free_port();
      run_as_user(std::string{bin} + "postgres",
                  {"-D", data_, "-p", std::to_string(port), "-c",
                   "listen_addresses=127.0.0.1", "-c",
                   "unix_socket_directories=", "-c",
                   "max_prepared_transactions="
                       + std::to_string(max_prepared_),
                   "-c", "fsync=off", "-c", "shared_buffers=16MB"},
                  &child_);
      port_ = port;
      bool exited = false;
      bool up = background_child::wait_until(
          [&] {
            exited = exited || child_->wait_for(0) != -1;
            if (exited)
              return true; // the port was taken, or it failed
            try {
              pg::connect_options o;
              o.retries = 0;
              o.connect_timeout = 1000;
              pg::connection c{where(), o};
              return true;
            } catch (...) {
              return false;
            }
          },
          30000);
      if (up && !exited)
        return;
      last_error_ = child_->err();
      child_.reset();
    }
    throw std::runtime_error("postgres did not start in " + data_ + ": "
                             + last_error_);
  }

  static inline int count_ = 0;
  std::string last_error_;
  const temp_dir* dir_;
  std::string data_;
  int max_prepared_;
  uint16_t port_ = 0;
  std::unique_ptr<background_child> child_;
};

} // namespace libstream::test
