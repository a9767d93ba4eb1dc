#include "bench/async_bench.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.hpp"
#include "libstream/connectors/redis.hpp"
#include "libstream/connectors/redis_lookup.hpp"
#include "libstream/libstream.hpp"

using namespace libstream;

namespace bench {

namespace {

constexpr int keys = 1000;

uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t)
      .count();
}

/// The lookups one by one: each waits for its answer.
double sync_run(uint16_t port, uint64_t n, uint64_t& found) {
  redis::sync_client c{"127.0.0.1", port};
  auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < n; ++i) {
    auto r = c.command({"GET", "key:" + std::to_string(i % keys)});
    if (r.kind == redis::reply::type::string)
      ++found;
  }
  return seconds_since(start);
}

/// The lookups through the async operator (p=1, unordered).
double async_run(uint16_t port, uint64_t n, size_t capacity,
                 uint64_t& found) {
  stream_execution_environment env;
  env.set_parallelism(1);
  auto hits = std::make_shared<std::atomic<uint64_t>>(0);
  auto ids = env.from_generator(
      n, [](uint64_t i) { return static_cast<int64_t>(i); });
  redis::url where{"127.0.0.1", port, {}};
  async_data_stream::unordered_wait(
      ids,
      [where] {
        return std::make_unique<redis_lookup<int64_t, int64_t>>(
            where,
            [](const int64_t& i) { return "key:" + std::to_string(i % keys); },
            [](const int64_t& i, const std::optional<std::string>& v) {
              return std::vector<int64_t>{v ? i : -1};
            });
      },
      60000, capacity)
      .add_sink([hits] {
        struct count final : sink_function<int64_t> {
          std::shared_ptr<std::atomic<uint64_t>> hits;
          explicit count(std::shared_ptr<std::atomic<uint64_t>> h)
              : hits(std::move(h)) {}
          void invoke(const int64_t& v, timestamp) override {
            if (v >= 0)
              hits->fetch_add(1, std::memory_order_relaxed);
          }
        };
        return std::make_unique<count>(hits);
      });
  auto start = std::chrono::steady_clock::now();
  env.execute("async enrichment");
  auto t = seconds_since(start);
  found = hits->load();
  return t;
}

} // namespace

void async_pipeline(uint64_t records, int repeat) {
  char tmpl[] = "/tmp/stream-bench-redis.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::printf("9. cannot create a temporary directory\n");
    return;
  }
  std::string dir = tmpl;
  auto port = free_port();
  daemon_process server{"/usr/bin/redis-server",
                        {"--port", std::to_string(port), "--bind",
                         "127.0.0.1", "--save", "", "--appendonly", "no",
                         "--dir", dir},
                        dir + "/redis.out"};
  if (!server.wait_for("Ready to accept connections")) {
    std::printf("9. redis-server did not start (is the redis-server package "
                "installed?): %s\n",
                slurp(server.out).c_str());
    return;
  }
  {
    redis::sync_client c{"127.0.0.1", port};
    std::vector<std::vector<std::string>> sets;
    for (int k = 0; k < keys; ++k)
      sets.push_back({"SET", "key:" + std::to_string(k),
                      "value-" + std::to_string(k)});
    c.pipeline(sets);
  }
  std::printf("9. enrichment from a local redis-server, %llu lookups of %d "
              "keys, p=1\n",
              static_cast<unsigned long long>(records), keys);
  std::vector<double> sync_s;
  std::vector<std::vector<double>> async_s(4);
  const size_t capacities[] = {1, 10, 100, 1000};
  for (int r = 0; r < repeat; ++r) {
    uint64_t found = 0;
    sync_s.push_back(sync_run(port, records, found));
    if (found != records)
      std::printf("   MISMATCH: synchronous lookups found %llu of %llu\n",
                  static_cast<unsigned long long>(found),
                  static_cast<unsigned long long>(records));
    for (size_t k = 0; k < 4; ++k) {
      found = 0;
      async_s[k].push_back(async_run(port, records, capacities[k], found));
      if (found != records)
        std::printf("   MISMATCH: async lookups at capacity %zu found %llu "
                    "of %llu\n",
                    capacities[k], static_cast<unsigned long long>(found),
                    static_cast<unsigned long long>(records));
    }
  }
  auto sync_rate = static_cast<double>(records) / median(sync_s);
  std::printf("   synchronous, one by one    %10.0f lookups/s\n", sync_rate);
  for (size_t k = 0; k < 4; ++k) {
    auto rate = static_cast<double>(records) / median(async_s[k]);
    std::printf("   async, capacity %-5zu      %10.0f lookups/s | ratio to "
                "synchronous %.2f\n",
                capacities[k], rate, rate / sync_rate);
  }
}

} // namespace bench
