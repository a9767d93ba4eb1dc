#include "libstream/connectors/redis.hpp"
#include "libstream/connectors/redis_streams.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "libstream/host_port.hpp"

namespace libstream::redis {

namespace {

reply copy_reply(const redisReply* r) {
  reply out;
  if (r == nullptr)
    return out;
  switch (r->type) {
    case REDIS_REPLY_STRING:
      out.kind = reply::type::string;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_STATUS:
      out.kind = reply::type::status;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_ERROR:
      out.kind = reply::type::error;
      out.str.assign(r->str, r->len);
      break;
    case REDIS_REPLY_INTEGER:
      out.kind = reply::type::integer;
      out.integer = r->integer;
      break;
    case REDIS_REPLY_ARRAY:
      out.kind = reply::type::array;
      out.elements.reserve(r->elements);
      for (size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(copy_reply(r->element[i]));
      break;
    default:
      out.kind = reply::type::nil;
  }
  return out;
}

using clock_type = std::chrono::steady_clock;

duration_ms backoff_for(const options& o, int failures) {
  double d = static_cast<double>(o.backoff);
  for (int i = 1; i < failures; ++i)
    d *= 2;
  return static_cast<duration_ms>(
      std::min(d, static_cast<double>(std::max(o.max_backoff, o.backoff))));
}

} // namespace

std::string url::endpoint() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

url parse_url(const std::string& s, const std::string& what) {
  const std::string scheme = "redis://";
  if (s.compare(0, scheme.size(), scheme) != 0)
    throw std::invalid_argument(what + " expects redis://HOST:PORT, got '" + s
                                + "'");
  auto rest = s.substr(scheme.size());
  url u;
  auto slash = rest.find('/');
  if (slash != std::string::npos) {
    u.path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  auto hp = parse_host_port(rest, what);
  u.host = hp.host;
  u.port = hp.port;
  return u;
}

// -- async client -----------------------------------------------------------

struct async_client::impl {
  struct request {
    std::vector<std::string> args;
    callback done;
    impl* owner = nullptr;
  };

  std::string host;
  uint16_t port;
  std::string endpoint;
  options opts;

  mutable std::mutex mtx;
  std::deque<std::unique_ptr<request>> incoming; // from other threads
  bool stopping = false;
  std::atomic<size_t> outstanding{0};

  // I/O thread only:
  int wake_fd = -1;
  redisAsyncContext* ctx = nullptr;
  bool connected = false;
  bool want_read = false;
  bool want_write = false;
  clock_type::time_point connect_deadline;
  clock_type::time_point retry_at;
  bool waiting_to_retry = false;
  int failures = 0; // connection attempts failed in a row
  std::string last_error;
  std::deque<std::unique_ptr<request>> waiting; // for a connection
  std::deque<std::unique_ptr<request>> requeued; // from a lost connection
  bool lost = false; // the connection failed or went (callbacks set it)
  std::thread io;

  impl(std::string h, uint16_t p, options o)
      : host(std::move(h)), port(p), opts(o) {
    endpoint = url{host, port, {}}.endpoint();
    wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0)
      throw std::runtime_error("redis " + endpoint
                               + ": cannot create an eventfd: "
                               + std::strerror(errno));
    io = std::thread([this] { run(); });
  }

  ~impl() {
    {
      std::lock_guard<std::mutex> guard{mtx};
      stopping = true;
    }
    wake();
    io.join();
    ::close(wake_fd);
  }

  void wake() {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd, &one, sizeof(one));
  }

  void submit(std::unique_ptr<request> r) {
    {
      std::unique_lock<std::mutex> guard{mtx};
      if (stopping) {
        guard.unlock();
        deliver(*r, result{false, {}, "redis " + endpoint + ": client closed"});
        return;
      }
      ++outstanding;
      incoming.push_back(std::move(r));
    }
    wake();
  }

  static void on_reply(redisAsyncContext* ac, void* r, void* privdata) {
    std::unique_ptr<request> req{static_cast<request*>(privdata)};
    auto* self = req->owner;
    if (r == nullptr) {
      // The connection went before the reply came: send it again on the
      // next connection (or fail it when the retries run out).
      self->requeued.push_back(std::move(req));
      return;
    }
    (void) ac;
    self->failures = 0; // the server answers: its connection works
    auto rep = copy_reply(static_cast<redisReply*>(r));
    --self->outstanding;
    deliver(*req, result{true, std::move(rep), {}});
  }

  /// Runs a command's callback; what it throws must not unwind through
  /// hiredis (C code) or the I/O thread.
  static void deliver(request& req, result res) {
    try {
      req.done(std::move(res));
    } catch (...) {
    }
  }

  static void on_connect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<impl*>(ac->data);
    if (status != REDIS_OK) {
      // hiredis frees the context after this callback.
      self->last_error = ac->errstr;
      self->ctx = nullptr;
      self->connected = false;
      self->lost = true;
      return;
    }
    // `failures` resets with the first reply, not here: a server that
    // accepts and closes at once must still run out of retries.
    self->connected = true;
  }

  static void on_disconnect(const redisAsyncContext* ac, int status) {
    auto* self = static_cast<impl*>(ac->data);
    // hiredis frees the context after this callback.
    self->ctx = nullptr;
    self->connected = false;
    self->want_read = self->want_write = false;
    if (status != REDIS_OK) {
      self->last_error = ac->errstr[0] != '\0' ? ac->errstr
                                               : "connection lost";
      self->lost = true;
    }
  }

  static void add_read(void* p) { static_cast<impl*>(p)->want_read = true; }
  static void del_read(void* p) { static_cast<impl*>(p)->want_read = false; }
  static void add_write(void* p) { static_cast<impl*>(p)->want_write = true; }
  static void del_write(void* p) { static_cast<impl*>(p)->want_write = false; }
  static void cleanup(void* p) {
    auto* self = static_cast<impl*>(p);
    self->want_read = self->want_write = false;
  }

  /// Commands of a lost connection go first, in their order.
  void absorb_requeued() {
    waiting.insert(waiting.begin(), std::make_move_iterator(requeued.begin()),
                   std::make_move_iterator(requeued.end()));
    requeued.clear();
  }

  /// Acts on what the callbacks reported.
  void settle() {
    absorb_requeued();
    if (lost) {
      lost = false;
      connection_failed();
    }
  }

  void connection_failed() {
    ++failures;
    if (failures > opts.max_retries) {
      fail_waiting("connection failed " + std::to_string(failures)
                   + " times, last: " + last_error);
      failures = 0;
      waiting_to_retry = false;
      return;
    }
    waiting_to_retry = true;
    retry_at = clock_type::now()
               + std::chrono::milliseconds(backoff_for(opts, failures));
  }

  void fail_waiting(const std::string& why) {
    auto pending = std::move(waiting);
    waiting.clear();
    for (auto& r : pending) {
      --outstanding;
      deliver(*r, result{false, {}, "redis " + endpoint + ": " + why});
    }
  }

  void connect() {
    want_read = want_write = false;
    ctx = redisAsyncConnect(host.c_str(), port);
    if (ctx == nullptr) {
      last_error = "out of memory";
      lost = true;
      return;
    }
    if (ctx->err) {
      last_error = ctx->errstr;
      redisAsyncFree(ctx);
      ctx = nullptr;
      lost = true;
      return;
    }
    ctx->data = this;
    ctx->ev.data = this;
    ctx->ev.addRead = add_read;
    ctx->ev.delRead = del_read;
    ctx->ev.addWrite = add_write;
    ctx->ev.delWrite = del_write;
    ctx->ev.cleanup = cleanup;
    redisAsyncSetConnectCallback(ctx, on_connect);
    redisAsyncSetDisconnectCallback(ctx, on_disconnect);
    connect_deadline = clock_type::now()
                       + std::chrono::milliseconds(opts.connect_timeout);
  }

  /// Sends what waits for the connection (hiredis queues it until the
  /// connection is up).
  void send_waiting() {
    while (ctx != nullptr && !waiting.empty()) {
      auto req = std::move(waiting.front());
      waiting.pop_front();
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (auto& a : req->args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      auto* raw = req.release();
      if (redisAsyncCommandArgv(ctx, on_reply, raw,
                                static_cast<int>(argv.size()), argv.data(),
                                lens.data())
          != REDIS_OK) {
        // The context is disconnecting: keep the command for the next one.
        waiting.push_front(std::unique_ptr<request>{raw});
        return;
      }
    }
  }

  void run() {
    for (;;) {
      {
        std::lock_guard<std::mutex> guard{mtx};
        if (stopping)
          break;
        while (!incoming.empty()) {
          waiting.push_back(std::move(incoming.front()));
          incoming.pop_front();
        }
      }
      auto now = clock_type::now();
      if (ctx == nullptr && !waiting.empty()) {
        if (!waiting_to_retry || now >= retry_at) {
          waiting_to_retry = false;
          connect();
        }
      }
      if (ctx != nullptr && !connected && now >= connect_deadline) {
        last_error = "no connection within "
                     + std::to_string(opts.connect_timeout) + " ms";
        auto* c = ctx;
        ctx = nullptr;
        c->onConnect = nullptr;
        c->onDisconnect = nullptr;
        redisAsyncFree(c); // requeues its commands (null replies)
        lost = true;
      }
      settle();
      if (ctx == nullptr && !waiting.empty() && !waiting_to_retry) {
        connect();
        settle();
      }
      send_waiting();
      // Wait for the socket, a new command, or the next deadline.
      pollfd fds[2];
      fds[0] = pollfd{wake_fd, POLLIN, 0};
      nfds_t n = 1;
      if (ctx != nullptr && (want_read || want_write)) {
        short events = 0;
        if (want_read)
          events |= POLLIN;
        if (want_write)
          events |= POLLOUT;
        fds[1] = pollfd{ctx->c.fd, events, 0};
        n = 2;
      }
      int timeout = 1000;
      if (ctx != nullptr && !connected)
        timeout = static_cast<int>(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(
                   connect_deadline - now)
                       .count()
                   + 1));
      else if (ctx == nullptr && waiting_to_retry && !waiting.empty())
        timeout = static_cast<int>(std::max<int64_t>(
            0, std::chrono::duration_cast<std::chrono::milliseconds>(
                   retry_at - now)
                       .count()
                   + 1));
      auto rc = ::poll(fds, n, timeout);
      if (rc < 0 && errno != EINTR) {
        last_error = std::string{"poll failed: "} + std::strerror(errno);
        std::lock_guard<std::mutex> guard{mtx};
        stopping = true; // later commands fail at once, not never
        break;
      }
      if (fds[0].revents & POLLIN) {
        uint64_t x;
        [[maybe_unused]] auto r = ::read(wake_fd, &x, sizeof(x));
      }
      if (n == 2 && ctx != nullptr) {
        auto ev = fds[1].revents;
        if (ev & (POLLIN | POLLHUP | POLLERR))
          redisAsyncHandleRead(ctx);
        if (ctx != nullptr && (ev & (POLLOUT | POLLERR)))
          redisAsyncHandleWrite(ctx);
      }
      settle();
    }
    // Closing: what is in flight or waiting fails.
    if (ctx != nullptr) {
      auto* c = ctx;
      ctx = nullptr;
      c->onConnect = nullptr;
      c->onDisconnect = nullptr;
      redisAsyncFree(c); // null replies put the commands in `requeued`
    }
    absorb_requeued();
    {
      std::lock_guard<std::mutex> guard{mtx};
      while (!incoming.empty()) {
        waiting.push_back(std::move(incoming.front()));
        incoming.pop_front();
      }
    }
    fail_waiting("client closed");
  }
};

async_client::async_client(std::string host, uint16_t port, options opts)
    : impl_(std::make_unique<impl>(std::move(host), port, opts)) {}

async_client::~async_client() = default;

void async_client::command(std::vector<std::string> args, callback done) {
  auto r = std::make_unique<impl::request>();
  r->args = std::move(args);
  r->done = std::move(done);
  r->owner = impl_.get();
  impl_->submit(std::move(r));
}

const std::string& async_client::endpoint() const noexcept {
  return impl_->endpoint;
}

size_t async_client::outstanding() const {
  return impl_->outstanding.load();
}

// -- sync client ------------------------------------------------------------

namespace {

redisContext* as_ctx(void* p) {
  return static_cast<redisContext*>(p);
}

timeval to_timeval(duration_ms ms) {
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

} // namespace

sync_client::sync_client(std::string host, uint16_t port, options opts)
    : host_(std::move(host)), port_(port), opts_(opts) {
  endpoint_ = url{host_, port_, {}}.endpoint();
}

sync_client::~sync_client() {
  drop();
}

void sync_client::drop() {
  if (ctx_ != nullptr) {
    redisFree(as_ctx(ctx_));
    ctx_ = nullptr;
  }
}

void sync_client::connect() {
  int failures = 0;
  for (;;) {
    auto* c = redisConnectWithTimeout(host_.c_str(), port_,
                                      to_timeval(opts_.connect_timeout));
    std::string why;
    if (c == nullptr) {
      why = "out of memory";
    } else if (c->err) {
      why = c->errstr;
      redisFree(c);
    } else {
      redisSetTimeout(c, to_timeval(opts_.command_timeout));
      ctx_ = c;
      return;
    }
    ++failures;
    if (failures > opts_.max_retries)
      throw redis_error("redis " + endpoint_ + ": connection failed "
                        + std::to_string(failures) + " times, last: " + why);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(backoff_for(opts_, failures)));
  }
}

std::vector<reply>
sync_client::pipeline(const std::vector<std::vector<std::string>>& cmds) {
  int failures = 0;
  for (;;) {
    if (ctx_ == nullptr)
      connect();
    auto* c = as_ctx(ctx_);
    for (auto& args : cmds) {
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (auto& a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(),
                             lens.data());
    }
    std::vector<reply> out;
    std::string why;
    for (size_t i = 0; i < cmds.size(); ++i) {
      void* r = nullptr;
      if (redisGetReply(c, &r) != REDIS_OK) {
        why = c->errstr[0] != '\0' ? c->errstr : "connection lost";
        if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
          why = "no reply within " + std::to_string(opts_.command_timeout)
                + " ms";
        break;
      }
      out.push_back(copy_reply(static_cast<redisReply*>(r)));
      freeReplyObject(r);
    }
    if (out.size() == cmds.size())
      return out;
    drop();
    ++failures;
    if (failures > opts_.max_retries)
      throw redis_error("redis " + endpoint_ + ": command failed "
                        + std::to_string(failures) + " times, last: " + why);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(backoff_for(opts_, failures)));
  }
}

reply sync_client::command(const std::vector<std::string>& args) {
  return std::move(pipeline({args}).front());
}

} // namespace libstream::redis

// -- streams ----------------------------------------------------------------

namespace libstream::redis {

std::pair<uint64_t, uint64_t> parse_stream_id(const std::string& id) {
  auto bad = [&] {
    return std::invalid_argument("'" + id
                                 + "' is not a stream entry id "
                                   "(MILLISECONDS-SEQUENCE)");
  };
  auto dash = id.find('-');
  auto ms_text = id.substr(0, dash);
  auto seq_text = dash == std::string::npos ? "0" : id.substr(dash + 1);
  auto number = [&](const std::string& s) {
    if (s.empty() || s.size() > 20
        || s.find_first_not_of("0123456789") != std::string::npos)
      throw bad();
    errno = 0;
    auto v = std::strtoull(s.c_str(), nullptr, 10);
    if (errno == ERANGE)
      throw bad();
    return static_cast<uint64_t>(v);
  };
  return {number(ms_text), number(seq_text)};
}

namespace {

redis_stream_entry entry_of(const reply& e) {
  if (e.kind != reply::type::array || e.elements.size() != 2
      || e.elements[0].kind != reply::type::string
      || e.elements[1].kind != reply::type::array)
    throw std::runtime_error("unexpected shape of a stream entry in a "
                             "Redis reply");
  redis_stream_entry out;
  out.id = e.elements[0].str;
  auto& f = e.elements[1].elements;
  for (size_t i = 0; i + 1 < f.size(); i += 2)
    out.fields.emplace_back(f[i].str, f[i + 1].str);
  return out;
}

} // namespace

std::vector<redis_stream_entry> stream_entries(const reply& r) {
  std::vector<redis_stream_entry> out;
  if (r.kind != reply::type::array || r.elements.empty())
    return out;
  // XREAD: [[stream, [entry, ...]], ...]; XRANGE: [entry, ...], where an
  // entry is [id, [field, value, ...]].
  auto& first = r.elements.front();
  bool xread = first.kind == reply::type::array && first.elements.size() == 2
               && first.elements[1].kind == reply::type::array
               && !first.elements[1].elements.empty()
               && first.elements[1].elements.front().kind
                    == reply::type::array;
  if (xread) {
    for (auto& stream : r.elements)
      for (auto& e : stream.elements.at(1).elements)
        out.push_back(entry_of(e));
    return out;
  }
  for (auto& e : r.elements)
    out.push_back(entry_of(e));
  return out;
}

} // namespace libstream::redis
