#define CAF_SUITE async_io_e2e
#include "caf/test/unit_test.hpp"

// Async I/O in running jobs on the embedded mini-cluster: completions from
// another thread wake the subtask actors, results match a plain loop, and a
// failure with requests in flight loses nothing and counts nothing twice.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "failing_counter.hpp"
#include "libstream/libstream.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

/// A stand-in for a remote service: answers x with 3x from its own thread,
/// after 0 to `max_delay_us` microseconds (so answers overtake each other).
class tripling_service {
public:
  explicit tripling_service(int max_delay_us) : max_delay_us_(max_delay_us) {
    thread_ = std::thread([this] { run(); });
  }

  ~tripling_service() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void request(int64_t x, result_future<int64_t> f) {
    using namespace std::chrono;
    auto delay = microseconds((x * 7919) % (max_delay_us_ + 1));
    {
      std::lock_guard<std::mutex> guard{mtx_};
      queue_.push(item{steady_clock::now() + delay, x, std::move(f)});
    }
    cv_.notify_all();
  }

private:
  struct item {
    std::chrono::steady_clock::time_point due;
    int64_t x;
    result_future<int64_t> f;
    bool operator<(const item& other) const { return due > other.due; }
  };

  void run() {
    std::unique_lock<std::mutex> guard{mtx_};
    while (!stopping_) {
      if (queue_.empty()) {
        cv_.wait(guard);
        continue;
      }
      auto due = queue_.top().due;
      if (std::chrono::steady_clock::now() < due) {
        cv_.wait_until(guard, due);
        continue;
      }
      auto it = queue_.top();
      queue_.pop();
      guard.unlock();
      it.f.complete_one(3 * it.x);
      guard.lock();
    }
  }

  int max_delay_us_;
  std::mutex mtx_;
  std::condition_variable cv_;
  std::priority_queue<item> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

class tripler final : public async_function<int64_t, int64_t> {
public:
  explicit tripler(int max_delay_us) : max_delay_us_(max_delay_us) {}
  void open(const runtime_info&) override {
    service_ = std::make_unique<tripling_service>(max_delay_us_);
  }
  void async_invoke(const int64_t& x, result_future<int64_t> f) override {
    service_->request(x, std::move(f));
  }
  void close() override { service_.reset(); }

private:
  int max_delay_us_;
  std::unique_ptr<tripling_service> service_;
};

auto numbers(stream_execution_environment& env, uint64_t n) {
  return env
      .from_generator(n, [](uint64_t i) { return static_cast<int64_t>(i); },
                      20000)
      .uid("numbers");
}

} // namespace

CAF_TEST(unordered async results equal a plain loop at parallelism 1 and 2) {
  for (int p : {1, 2}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<int64_t>>();
    async_data_stream::unordered_wait(
        numbers(env, 20000), [] { return std::make_unique<tripler>(300); },
        5000, 50)
        .collect_into(out);
    auto r = env.execute("async unordered");
    CAF_REQUIRE(r.status == job_status::finished);
    auto values = out->values();
    std::sort(values.begin(), values.end());
    std::vector<int64_t> expected;
    for (int64_t i = 0; i < 20000; ++i)
      expected.push_back(3 * i);
    CAF_CHECK(values == expected);
  }
}

CAF_TEST(ordered async results keep the input order) {
  stream_execution_environment env;
  env.set_parallelism(1);
  auto out = std::make_shared<collected<int64_t>>();
  async_data_stream::ordered_wait(
      numbers(env, 5000), [] { return std::make_unique<tripler>(500); }, 5000,
      20)
      .collect_into(out);
  CAF_REQUIRE(env.execute("async ordered").status == job_status::finished);
  auto values = out->values();
  CAF_REQUIRE_EQUAL(values.size(), 5000u);
  for (size_t i = 0; i < values.size(); ++i)
    CAF_CHECK_EQUAL(values[i], 3 * static_cast<int64_t>(i));
}


// Checkpoints every 30 ms while up to 100 requests per subtask are in
// flight (each takes up to 2 ms); a failure restarts the job from the
// latest checkpoint, whose async operator state re-issues the requests it
// held. The exactly-once part files then hold each key's counts 1..n once:
// a lost request would leave a gap, a doubled one a repeat.
CAF_TEST(a failure with requests in flight loses nothing and repeats
         nothing) {
  for (int64_t fail_at : {7000, 15000}) {
    temp_dir dir{"async_io_e2e"};
    auto out_dir = dir.file("out");
    stream_execution_environment env;
    env.set_parallelism(2);
    auto& cp = env.config().checkpointing;
    cp.interval = 30;
    cp.dir = dir.file("chk");
    env.config().restarts = restart_strategy::fixed(2, 20);
    auto seen = std::make_shared<std::atomic<int64_t>>(0);
    async_data_stream::unordered_wait(
        numbers(env, 20000), [] { return std::make_unique<tripler>(2000); },
        10000, 100)
        .uid("triple")
        .map(
            [](const int64_t& v) {
              if (v % 3 != 0)
                throw std::runtime_error("not a tripled value: "
                                         + std::to_string(v));
              return v;
            },
            "Check Tripled")
        .key_by([](int64_t v) { return (v / 3) % 10; })
        .process<int64_t>(
            [seen, fail_at] {
              return std::make_unique<failing_counter>(seen, fail_at);
            },
            "Count")
        .uid("count")
        .sink_to_files(
            out_dir, [](const int64_t& v) { return std::to_string(v); },
            "value")
        .uid("files");
    auto r = env.execute("async exactly once");
    CAF_CHECK(r.status == job_status::finished);
    CAF_CHECK_GREATER(seen->load(), 20000); // it did fail and restart
    auto lines = visible_part_lines(out_dir, "value");
    std::sort(lines.begin(), lines.end());
    std::vector<std::string> expected;
    for (int64_t key = 0; key < 10; ++key)
      for (int64_t n = 1; n <= 2000; ++n)
        expected.push_back(std::to_string(key * 1000000 + n));
    std::sort(expected.begin(), expected.end());
    CAF_CHECK_EQUAL(lines.size(), expected.size());
    CAF_CHECK(lines == expected);
    // Restarted from a checkpoint, so its requests in flight mattered.
    CAF_CHECK_EQUAL(r.restarts_from_checkpoint, 1);
  }
}

namespace {

/// Never answers: every request runs into its timeout.
class silent final : public async_function<int64_t, int64_t> {
public:
  void async_invoke(const int64_t&, result_future<int64_t> f) override {
    kept_.push_back(std::move(f));
  }

private:
  std::vector<result_future<int64_t>> kept_;
};

} // namespace

CAF_TEST(a service that never answers fails the job at the timeout) {
  stream_execution_environment env;
  env.set_parallelism(1);
  env.config().restarts = restart_strategy::no_restart();
  auto out = std::make_shared<collected<int64_t>>();
  async_data_stream::unordered_wait(
      numbers(env, 100), [] { return std::make_unique<silent>(); }, 200, 10)
      .collect_into(out);
  auto start = std::chrono::steady_clock::now();
  auto error = message_of<job_failed>([&] { env.execute("async silent"); });
  auto took = std::chrono::steady_clock::now() - start;
  CAF_CHECK(contains(error, "timeout of 200 ms"));
  CAF_CHECK(contains(error, "timed out"));
  CAF_CHECK(took < std::chrono::seconds(20));
}
