#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "libstream/time.hpp"

namespace libstream::redis {

/// A Redis reply as a value: what hiredis returns, copied out.
struct reply {
  enum class type { nil, string, integer, array, status, error };
  type kind = type::nil;
  std::string str; // string, status and error replies
  int64_t integer = 0;
  std::vector<reply> elements; // arrays

  bool is_nil() const noexcept { return kind == type::nil; }
  bool is_error() const noexcept { return kind == type::error; }
};

/// A reply or, when the command never got one (the connection failed and
/// the retries ran out, or the client closed), why not.
struct result {
  bool ok = false;
  redis::reply reply;
  std::string error; // names the server and the cause
};

/// Thrown by the synchronous client: names the server and the cause.
class redis_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// How a client connects and what it does when the connection fails.
struct options {
  /// A connection attempt that takes longer fails.
  duration_ms connect_timeout = 2000;
  /// Synchronous commands: a reply that takes longer fails the command.
  duration_ms command_timeout = 10000;
  /// Failed connection attempts in a row before the commands waiting for
  /// the connection fail; in between, the client waits `backoff` ms,
  /// doubling up to `max_backoff`.
  int max_retries = 5;
  duration_ms backoff = 100;
  duration_ms max_backoff = 2000;
};

/// A redis://HOST:PORT[/PATH] URL.
struct url {
  std::string host;
  uint16_t port = 6379;
  std::string path; // what follows the port's '/', e.g. a stream's name

  std::string endpoint() const;
};

/// Parses redis://HOST:PORT[/PATH]; throws std::invalid_argument naming
/// `what` and the problem.
url parse_url(const std::string& s, const std::string& what);

/// An asynchronous client over one connection (hiredis's async API on an
/// I/O thread of its own): commands from any thread are pipelined, their
/// callbacks run on the I/O thread in command order. A connection that
/// fails is made again (with backoff); the commands that had been sent on
/// it are sent again, so they should be idempotent (GET, SET, XADD with
/// at-least-once semantics). When the retries run out, every waiting
/// command fails with the server's address and the cause.
class async_client {
public:
  using callback = std::function<void(result)>;

  async_client(std::string host, uint16_t port, options opts = {});
  ~async_client(); // waiting commands fail with "client closed"

  async_client(const async_client&) = delete;
  async_client& operator=(const async_client&) = delete;

  /// Sends the command `args` (e.g. {"GET", "key"}); `done` gets its reply.
  void command(std::vector<std::string> args, callback done);

  /// HOST:PORT.
  const std::string& endpoint() const noexcept;

  /// Commands sent and not answered, plus those waiting for a connection.
  size_t outstanding() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
};

/// A blocking client (hiredis's synchronous API) for sources, sinks and
/// tools. Reconnects like async_client; throws redis_error when the
/// retries run out or a command's reply takes longer than the timeout.
class sync_client {
public:
  sync_client(std::string host, uint16_t port, options opts = {});
  ~sync_client();

  sync_client(const sync_client&) = delete;
  sync_client& operator=(const sync_client&) = delete;

  /// Runs one command and returns its reply (an error reply is returned,
  /// not thrown: check is_error()).
  reply command(const std::vector<std::string>& args);

  /// Runs commands pipelined (one round trip); replies in order.
  std::vector<reply> pipeline(const std::vector<std::vector<std::string>>& cmds);

  const std::string& endpoint() const noexcept { return endpoint_; }

private:
  void connect();
  void drop();

  std::string host_;
  uint16_t port_;
  std::string endpoint_;
  options opts_;
  void* ctx_ = nullptr; // redisContext
};

} // namespace libstream::redis
