#define CAF_SUITE connectors
#include "caf/test/unit_test.hpp"

// Connectors against real servers: redis-server started by the test on a
// free loopback port, and an HTTP server (cpp-httplib) on a loopback
// socket in this process.

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "libstream/connectors/http.hpp"
#include "libstream/connectors/redis.hpp"
#include "libstream/connectors/redis_lookup.hpp"
#include "libstream/connectors/redis_streams.hpp"
#include "libstream/libstream.hpp"
#include "servers.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

/// Waits for the async client's answer.
redis::result ask(redis::async_client& c, std::vector<std::string> args) {
  std::promise<redis::result> p;
  auto f = p.get_future();
  c.command(std::move(args),
            [&p](redis::result r) { p.set_value(std::move(r)); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
    throw std::runtime_error("no answer within 30 s");
  return f.get();
}

struct lookup_row {
  int64_t id = 0;
  std::string name;
};

/// Looks up "name:<id mod 50>"; ids without a name (>= 40) get "?".
auto name_lookup(const std::string& url) {
  return [url] {
    return std::make_unique<redis_lookup<int64_t, lookup_row>>(
        redis::parse_url(url, "test"),
        [](const int64_t& id) { return "name:" + std::to_string(id % 50); },
        [](const int64_t& id, const std::optional<std::string>& v) {
          return std::vector<lookup_row>{lookup_row{id, v ? *v : "?"}};
        });
  };
}

} // namespace

CAF_TEST(the async redis client pipelines commands and answers in order) {
  temp_dir dir{"connectors"};
  redis_server server{dir};
  redis::async_client c{"127.0.0.1", server.port()};
  std::mutex mtx;
  std::condition_variable cv;
  std::vector<int64_t> answers;
  for (int i = 0; i < 1000; ++i)
    c.command({"INCR", "counter"}, [&](redis::result r) {
      std::lock_guard<std::mutex> guard{mtx};
      answers.push_back(r.ok ? r.reply.integer : -1);
      cv.notify_all();
    });
  {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait_for(guard, std::chrono::seconds(30),
                [&] { return answers.size() == 1000; });
  }
  CAF_REQUIRE_EQUAL(answers.size(), 1000u);
  for (size_t i = 0; i < answers.size(); ++i)
    CAF_CHECK_EQUAL(answers[i], static_cast<int64_t>(i + 1));
  auto missing = ask(c, {"GET", "nothing-here"});
  CAF_CHECK(missing.ok && missing.reply.is_nil());
  auto wrong = ask(c, {"INCR"});
  CAF_CHECK(wrong.ok && wrong.reply.is_error());
  CAF_CHECK_EQUAL(c.outstanding(), 0u);
}

CAF_TEST(a refused connection fails commands after the retries naming the
         server) {
  auto port = free_port(); // nothing listens there
  redis::options o;
  o.max_retries = 2;
  o.backoff = 10;
  redis::async_client c{"127.0.0.1", port, o};
  auto start = std::chrono::steady_clock::now();
  auto r = ask(c, {"GET", "x"});
  CAF_CHECK(!r.ok);
  CAF_CHECK(contains(r.error, "redis 127.0.0.1:" + std::to_string(port)));
  CAF_CHECK(contains(r.error, "3 times"));
  CAF_CHECK(contains(r.error, "refused"));
  CAF_CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  redis::sync_client s{"127.0.0.1", port, o};
  CAF_CHECK(throws<redis::redis_error>([&] { s.command({"PING"}); },
                                       "refused"));
}

CAF_TEST(the async redis client reconnects after the server restarts) {
  temp_dir dir{"connectors"};
  redis_server server{dir};
  redis::options o;
  o.backoff = 20;
  o.max_retries = 50; // up to about 1 s of retries with the backoff cap
  o.max_backoff = 50;
  redis::async_client c{"127.0.0.1", server.port(), o};
  CAF_CHECK(ask(c, {"SET", "k", "1"}).ok);
  server.restart();
  auto r = ask(c, {"GET", "k"}); // a new, empty server
  CAF_CHECK(r.ok);
  CAF_CHECK(r.reply.is_nil());
}

CAF_TEST(redis lookups in a job equal a plain loop) {
  temp_dir dir{"connectors"};
  redis_server server{dir};
  {
    auto c = server.client();
    std::vector<std::vector<std::string>> sets;
    for (int i = 0; i < 40; ++i)
      sets.push_back({"SET", "name:" + std::to_string(i),
                      "n" + std::to_string(i)});
    c.pipeline(sets);
  }
  for (auto mode : {async_output_mode::unordered, async_output_mode::ordered}) {
    stream_execution_environment env;
    env.set_parallelism(2);
    auto out = std::make_shared<collected<std::string>>();
    async_options<lookup_row> opts;
    opts.mode = mode;
    opts.capacity = 64;
    opts.timeout = 10000;
    auto ids = env.from_generator(
        20000, [](uint64_t i) { return static_cast<int64_t>(i); });
    async_data_stream::wait(ids, name_lookup(server.url()), opts)
        .map([](const lookup_row& r) {
          return std::to_string(r.id) + "=" + r.name;
        })
        .collect_into(out);
    CAF_REQUIRE(env.execute("redis lookups").status == job_status::finished);
    auto values = out->values();
    std::sort(values.begin(), values.end());
    std::vector<std::string> expected;
    for (int64_t i = 0; i < 20000; ++i)
      expected.push_back(std::to_string(i) + "="
                         + (i % 50 < 40 ? "n" + std::to_string(i % 50)
                                        : std::string{"?"}));
    std::sort(expected.begin(), expected.end());
    CAF_CHECK(values == expected);
  }
}

CAF_TEST(a redis server that goes away mid-job fails the job clearly) {
  temp_dir dir{"connectors"};
  redis_server server{dir};
  stream_execution_environment env;
  env.set_parallelism(1);
  env.config().restarts = restart_strategy::no_restart();
  auto out = std::make_shared<collected<lookup_row>>();
  // 2,000 records a second for 20 s: the server dies after about 0.5 s.
  auto ids = env.from_generator(
      40000, [](uint64_t i) { return static_cast<int64_t>(i); }, 2000);
  async_data_stream::unordered_wait(ids, name_lookup(server.url()), 60000, 10)
      .collect_into(out);
  auto client = env.execute_async("server gone");
  CAF_REQUIRE(background_child::wait_until([&] { return out->size() > 500; }));
  auto killed = std::chrono::steady_clock::now();
  server.kill();
  auto result = client->wait();
  auto took = std::chrono::steady_clock::now() - killed;
  CAF_CHECK(result.status == job_status::failed);
  CAF_CHECK(contains(result.error, "redis 127.0.0.1:"
                                       + std::to_string(server.port())));
  CAF_CHECK(contains(result.error, "connection failed"));
  CAF_MESSAGE("failed " << std::chrono::duration_cast<std::chrono::milliseconds>(
                               took)
                               .count()
                        << " ms after the kill: " << result.error);
  CAF_CHECK(took < std::chrono::seconds(15));
}

namespace {

/// An HTTP server on a loopback port of this process, in its own thread.
class http_server {
public:
  http_server() {
    // Enough threads that the server never limits the concurrency the
    // tests measure (cpp-httplib's default is 8).
    server_.new_task_queue = [] { return new httplib::ThreadPool(64); };
    server_.set_keep_alive_max_count(100000); // the default closes after 5
    server_.set_tcp_nodelay(true);
    // Bound and listening: connections wait in the backlog until the
    // thread accepts them.
    port_ = static_cast<uint16_t>(server_.bind_to_any_port("127.0.0.1"));
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~http_server() {
    server_.stop();
    thread_.join();
  }
  httplib::Server& server() { return server_; }
  uint16_t port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

private:
  httplib::Server server_;
  uint16_t port_ = 0;
  std::thread thread_;
};

} // namespace

CAF_TEST(http lookups keep connections and tell 404 from failures) {
  std::atomic<int> in_flight{0};
  std::atomic<int> peak{0};
  std::mutex mtx;
  std::set<std::string> connections;
  http_server http;
  // Routes are added before the server takes requests.
  http.server().Get(R"(/name/(\d+))", [&](const httplib::Request& req,
                                           httplib::Response& res) {
    auto now = ++in_flight;
    auto seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    {
      std::lock_guard<std::mutex> guard{mtx};
      connections.insert(req.remote_addr + ":"
                         + std::to_string(req.remote_port));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    auto id = std::stoll(req.matches[1]);
    if (id % 50 >= 40)
      res.status = 404;
    else
      res.set_content("n" + std::to_string(id % 50), "text/plain");
    --in_flight;
  });
  http.server().Get("/broken", [](const httplib::Request&,
                                  httplib::Response& res) {
    res.status = 503;
  });
  auto server = http::parse_url(http.url("/name/{id}"), "test");
  auto make = [server] {
    return std::make_unique<http_lookup<int64_t, std::string>>(
        server,
        [](const int64_t& id) { return "/name/" + std::to_string(id % 100); },
        [](const int64_t& id, const std::optional<std::string>& body) {
          return std::vector<std::string>{std::to_string(id) + "="
                                          + (body ? *body : "?")};
        },
        4);
  };
  stream_execution_environment env;
  env.set_parallelism(1);
  auto out = std::make_shared<collected<std::string>>();
  auto ids = env.from_generator(
      1000, [](uint64_t i) { return static_cast<int64_t>(i); });
  async_data_stream::unordered_wait(ids, make, 10000, 16).collect_into(out);
  CAF_REQUIRE(env.execute("http lookups").status == job_status::finished);
  auto values = out->values();
  std::sort(values.begin(), values.end());
  std::vector<std::string> expected;
  for (int64_t i = 0; i < 1000; ++i)
    expected.push_back(std::to_string(i) + "="
                       + (i % 100 % 50 < 40 ? "n" + std::to_string(i % 100 % 50)
                                            : std::string{"?"}));
  std::sort(expected.begin(), expected.end());
  CAF_CHECK(values == expected);
  // 4 threads: at most 4 requests at the server, over at most 4
  // connections kept open for 1,000 requests.
  CAF_CHECK(peak.load() <= 4);
  CAF_CHECK(connections.size() <= 4u);
  CAF_MESSAGE(connections.size() << " connections, peak " << peak.load());

  // A 503 fails the job with the status and the URL.
  stream_execution_environment env2;
  env2.set_parallelism(1);
  env2.config().restarts = restart_strategy::no_restart();
  auto broken = http::parse_url(http.url("/broken"), "test");
  auto ids2 = env2.from_generator(
      10, [](uint64_t i) { return static_cast<int64_t>(i); });
  async_data_stream::unordered_wait(
      ids2,
      [broken] {
        return std::make_unique<http_lookup<int64_t, std::string>>(
            broken, [](const int64_t&) { return std::string{"/broken"}; },
            [](const int64_t&, const std::optional<std::string>& body) {
              return std::vector<std::string>{body.value_or("")};
            },
            2);
      },
      10000, 4)
      .collect_into(std::make_shared<collected<std::string>>());
  auto error = message_of<job_failed>([&] { env2.execute("http broken"); });
  CAF_CHECK(contains(error, "HTTP 503 from GET http://127.0.0.1:"
                                + std::to_string(http.port()) + "/broken"));
}

CAF_TEST(capacity is backpressure: a slow server sees at most capacity
         requests per subtask) {
  std::atomic<int> in_flight{0};
  std::atomic<int> peak{0};
  std::atomic<int> served{0};
  http_server http;
  http.server().Get(R"(/slow/(\d+))", [&](const httplib::Request& req,
                                           httplib::Response& res) {
    auto now = ++in_flight;
    auto seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    res.set_content(req.matches[1], "text/plain");
    ++served;
    --in_flight;
  });
  auto server = http::parse_url(http.url("/"), "test");
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<collected<std::string>>();
  // The generator could make the records at once; the async operator
  // takes at most 6 per subtask into flight (32 threads could take more).
  auto ids = env.from_generator(
      600, [](uint64_t i) { return static_cast<int64_t>(i); });
  async_data_stream::unordered_wait(
      ids,
      [server] {
        return std::make_unique<http_lookup<int64_t, std::string>>(
            server,
            [](const int64_t& id) { return "/slow/" + std::to_string(id); },
            [](const int64_t&, const std::optional<std::string>& body) {
              return std::vector<std::string>{body.value_or("?")};
            },
            32);
      },
      30000, 6)
      .collect_into(out);
  CAF_REQUIRE(env.execute("slow server").status == job_status::finished);
  CAF_CHECK_EQUAL(out->size(), 600u);
  CAF_CHECK_EQUAL(served.load(), 600);
  CAF_CHECK(peak.load() <= 12); // 2 subtasks x capacity 6
  CAF_CHECK(peak.load() >= 6);  // and the capacity was used
  CAF_MESSAGE("peak " << peak.load() << " requests at the server");
}

CAF_TEST(urls are checked with clear errors) {
  CAF_CHECK(throws<std::invalid_argument>(
      [] { redis::parse_url("http://x:1", "--industry-from"); },
      "--industry-from expects redis://HOST:PORT"));
  CAF_CHECK(throws<std::invalid_argument>(
      [] { redis::parse_url("redis://localhost", "--input"); }, "--input"));
  auto u = redis::parse_url("redis://127.0.0.1:7000/trades", "--input");
  CAF_CHECK_EQUAL(u.port, 7000);
  CAF_CHECK_EQUAL(u.path, "trades");
  CAF_CHECK(throws<std::invalid_argument>(
      [] { http::parse_url("https://x:1/a", "--industry-from"); },
      "https is not supported"));
  auto h = http::parse_url("http://127.0.0.1:8080/industry/{symbol}", "x");
  CAF_CHECK_EQUAL(h.port, 8080);
  CAF_CHECK_EQUAL(h.path, "/industry/{symbol}");
  CAF_CHECK_EQUAL(http::encode_path_segment("BRK.B/x y"), "BRK.B%2Fx%20y");
}

// -- Redis streams --------------------------------------------------------------

namespace {

/// Appends entries n=first..last-1 to `stream`.
void add_numbers(redis::sync_client& c, const std::string& stream,
                 int64_t first, int64_t last) {
  std::vector<std::vector<std::string>> cmds;
  for (auto i = first; i < last; ++i)
    cmds.push_back({"XADD", stream, "*", "n", std::to_string(i)});
  c.pipeline(cmds);
}

std::optional<int64_t> decode_number(const redis_stream_entry& e,
                                     std::string& error) {
  auto* n = e.field("n");
  if (n == nullptr || n->empty()
      || n->find_first_not_of("0123456789") != std::string::npos) {
    error = "no number in field 'n'";
    return std::nullopt;
  }
  return std::stoll(*n);
}

} // namespace

CAF_TEST(a bounded redis stream source ends at the last entry present when
         the job starts) {
  temp_dir dir{"connectors"};
  redis_server server{dir};
  auto c = server.client();
  add_numbers(c, "numbers", 0, 3000);
  stream_execution_environment env;
  env.set_parallelism(2);
  redis_stream_options opts;
  opts.stream = "numbers";
  opts.batch = 100;
  auto out = std::make_shared<collected<int64_t>>();
  auto port = server.port();
  read_redis_stream<int64_t>(env, redis::parse_url(server.url(), "test"),
                             opts, decode_number)
      .map([port](int64_t x) {
        // While the job reads, the stream grows: the job must not see it.
        if (x == 10) {
          redis::sync_client w{"127.0.0.1", port};
          std::vector<std::vector<std::string>> more;
          for (int i = 0; i < 50; ++i)
            more.push_back({"XADD", "numbers", "*", "n", "9999"});
          w.pipeline(more);
        }
        return x;
      })
      .collect_into(out);
  CAF_REQUIRE(env.execute("bounded stream").status == job_status::finished);
  auto values = out->values();
  std::sort(values.begin(), values.end()); // the map runs at parallelism 2
  std::vector<int64_t> expected(3000);
  for (int64_t i = 0; i < 3000; ++i)
    expected[static_cast<size_t>(i)] = i;
  CAF_CHECK(values == expected);
  CAF_CHECK_EQUAL(c.command({"XLEN", "numbers"}).integer, 3050);
}

CAF_TEST(an unbounded redis stream source follows new entries) {
  temp_dir dir{"connectors"};
  redis_server server{dir};
  auto c = server.client();
  add_numbers(c, "live", 0, 100);
  stream_execution_environment env;
  env.set_parallelism(1);
  redis_stream_options opts;
  opts.stream = "live";
  opts.bounded = false;
  auto out = std::make_shared<collected<int64_t>>();
  // Each record is visible at once (collect_into keeps 4096 or the end).
  struct at_once final : sink_function<int64_t> {
    std::shared_ptr<collected<int64_t>> out;
    explicit at_once(std::shared_ptr<collected<int64_t>> o)
        : out(std::move(o)) {}
    void invoke(const int64_t& x, timestamp) override { out->add({x}); }
  };
  read_redis_stream<int64_t>(env, redis::parse_url(server.url(), "test"),
                             opts, decode_number)
      .add_sink([out] { return std::make_unique<at_once>(out); });
  auto job = env.execute_async("live stream");
  CAF_REQUIRE(background_child::wait_until([&] { return out->size() >= 100; }));
  for (int64_t k = 1; k < 5; ++k) {
    add_numbers(c, "live", k * 100, (k + 1) * 100);
    CAF_REQUIRE(background_child::wait_until(
        [&] { return out->size() >= static_cast<size_t>((k + 1) * 100); }));
  }
  job->cancel();
  job->wait();
  auto values = out->values();
  CAF_REQUIRE_EQUAL(values.size(), 500u);
  for (size_t i = 0; i < values.size(); ++i)
    CAF_CHECK_EQUAL(values[i], static_cast<int64_t>(i));
}

CAF_TEST(a malformed stream entry fails the job naming it or goes to the dead
         letters) {
  temp_dir dir{"connectors"};
  redis_server server{dir};
  auto c = server.client();
  add_numbers(c, "mixed", 0, 10);
  auto bad = c.command({"XADD", "mixed", "*", "n", "twelve"}).str;
  add_numbers(c, "mixed", 10, 20);
  redis_stream_options opts;
  opts.stream = "mixed";
  {
    stream_execution_environment env;
    env.config().restarts = restart_strategy::no_restart();
    read_redis_stream<int64_t>(env, redis::parse_url(server.url(), "test"),
                               opts, decode_number)
        .collect_into(std::make_shared<collected<int64_t>>());
    auto error = message_of<job_failed>([&] { env.execute("bad entry"); });
    CAF_CHECK(contains(error, server.url() + "/mixed: entry " + bad
                                  + " is malformed: no number"));
  }
  stream_execution_environment env;
  output_tag<text_line> dead{"dead"};
  auto good = std::make_shared<collected<int64_t>>();
  auto letters = std::make_shared<collected<std::string>>();
  auto s = read_redis_stream<int64_t>(
      env, redis::parse_url(server.url(), "test"), opts, decode_number, dead);
  s.collect_into(good);
  s.get_side_output(dead)
      .map([](const text_line& l) { return l.text; })
      .collect_into(letters);
  CAF_REQUIRE(env.execute("dead letters").status == job_status::finished);
  CAF_CHECK_EQUAL(good->size(), 20u);
  CAF_CHECK_EQUAL(letters->values(),
                  (std::vector<std::string>{bad + " n=twelve"}));
}

CAF_TEST(the redis stream sink appends every record) {
  temp_dir dir{"connectors"};
  redis_server server{dir};
  stream_execution_environment env;
  env.set_parallelism(1);
  auto ids = env.from_generator(
      5000, [](uint64_t i) { return static_cast<int64_t>(i); });
  write_redis_stream<int64_t>(ids, redis::parse_url(server.url(), "test"),
                              "out", [](const int64_t& x) {
                                return std::vector<
                                    std::pair<std::string, std::string>>{
                                    {"n", std::to_string(x)}};
                              });
  CAF_REQUIRE(env.execute("stream sink").status == job_status::finished);
  auto c = server.client();
  auto entries = redis::stream_entries(c.command({"XRANGE", "out", "-", "+"}));
  CAF_REQUIRE_EQUAL(entries.size(), 5000u);
  for (size_t i = 0; i < entries.size(); ++i) {
    auto* n = entries[i].field("n");
    CAF_REQUIRE(n != nullptr);
    CAF_CHECK_EQUAL(*n, std::to_string(i));
  }
  CAF_CHECK(throws<std::invalid_argument>(
      [] { redis::parse_stream_id("12-x"); }, "not a stream entry id"));
  CAF_CHECK(redis::parse_stream_id("5") == std::make_pair(uint64_t{5},
                                                           uint64_t{0}));
}
