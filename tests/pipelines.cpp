#define CAF_SUITE pipelines
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "libstream/libstream.hpp"
#include "test_util.hpp"

using namespace libstream;

namespace {

struct trade {
  std::string symbol;
  int64_t qty = 0;
  double price = 0;
};

template <class T>
std::vector<T> sorted(std::vector<T> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

} // namespace

CAF_TEST(map filter chain matches a plain loop) {
  for (int p : {1, 3}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<int64_t>>();
    env.from_generator(100000,
                       [](uint64_t i) { return static_cast<int64_t>(i); })
        .map([](int64_t x) { return x * 3; })
        .filter([](int64_t x) { return x % 2 == 0; })
        .collect_into(out);
    env.execute("map-filter");
    std::vector<int64_t> expected;
    for (int64_t i = 0; i < 100000; ++i)
      if ((i * 3) % 2 == 0)
        expected.push_back(i * 3);
    CAF_CHECK_EQUAL(sorted(out->values()), expected);
  }
}

CAF_TEST(keyed rolling sum ends with per key totals) {
  for (int p : {1, 2, 4}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    std::vector<trade> input;
    std::map<std::string, int64_t> totals;
    for (int i = 0; i < 5000; ++i) {
      trade t{"S" + std::to_string(i % 17), i % 7 + 1, 1.0};
      totals[t.symbol] += t.qty;
      input.push_back(t);
    }
    auto out = std::make_shared<collected<trade>>();
    env.from_collection(input)
        .rebalance()
        .key_by([](const trade& t) { return t.symbol; })
        .sum(&trade::qty)
        .collect_into(out);
    env.execute("rolling-sum");
    auto xs = out->values();
    CAF_CHECK_EQUAL(xs.size(), input.size());
    // The last update per key is the total: it is the maximum, since
    // quantities are positive.
    std::map<std::string, int64_t> last;
    for (auto& t : xs)
      last[t.symbol] = std::max(last[t.symbol], t.qty);
    CAF_CHECK(last == totals);
  }
}

CAF_TEST(union and flat map) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<collected<std::string>>();
  auto a = env.from_collection(std::vector<std::string>{"a b", "c"});
  auto b = env.from_collection(std::vector<std::string>{"d e f"});
  a.union_with(b)
      .flat_map<std::string>(
          [](const std::string& line, collector<std::string>& col) {
            std::string word;
            for (char c : line + " ") {
              if (c == ' ') {
                if (!word.empty())
                  col.collect(word);
                word.clear();
              } else {
                word += c;
              }
            }
          })
      .collect_into(out);
  env.execute();
  CAF_CHECK_EQUAL(sorted(out->values()),
                  (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
}

CAF_TEST(a failing user function fails the job with its message) {
  stream_execution_environment env;
  env.set_parallelism(1);
  env.from_generator(1000, [](uint64_t i) { return static_cast<int>(i); })
      .map([](int x) {
        if (x == 500)
          throw std::runtime_error("bad record 500");
        return x;
      })
      .name("Validate")
      .collect_into(std::make_shared<collected<int>>());
  try {
    env.execute("failing");
    CAF_FAIL("execute() did not throw");
  } catch (const job_failed& e) {
    std::string what = e.what();
    CAF_CHECK(what.find("bad record 500") != std::string::npos);
    CAF_CHECK(what.find("Validate") != std::string::npos);
  }
}

CAF_TEST(misconfigured jobs fail before they start) {
  {
    stream_execution_environment env;
    env.from_elements({1, 2, 3})
        .map([](int x) { return x; })
        .set_parallelism(200);
    CAF_CHECK(test::throws<std::invalid_argument>([&] { env.execute(); }));
  }
  {
    stream_execution_environment env;
    env.from_elements({1, 2, 3}).map([](int x) { return x; });
    // No sink: the map's output goes nowhere.
    CAF_CHECK(test::throws<std::invalid_argument>([&] { env.execute(); }));
  }
  {
    stream_execution_environment env;
    auto s = env.from_elements({1, 2, 3});
    s.map([](int x) { return x; }).uid("same").print();
    s.map([](int x) { return x; }).uid("same").print();
    CAF_CHECK(test::throws<std::invalid_argument>([&] { env.execute(); }));
  }
}

CAF_TEST(an unbounded job can be cancelled) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<collected<uint64_t>>();
  env.from_generator(
         0, [](uint64_t i) { return i; }, 10000)
      .collect_into(out);
  auto client = env.execute_async("unbounded");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CAF_CHECK(client->status() == job_status::running);
  client->cancel();
  auto r = client->wait();
  CAF_CHECK(r.status == job_status::canceled);
}

namespace {

struct reading {
  int64_t ts = 0;
  int sensor = 0;
};

} // namespace

CAF_TEST(window_all counts every record once at parallelism one) {
  stream_execution_environment env;
  env.set_parallelism(3);
  std::vector<reading> input;
  std::map<int64_t, int64_t> expected; // window start -> count
  for (int64_t i = 0; i < 20000; ++i) {
    // Out of order by up to 40 ms, within the 50 ms bound.
    auto ts = i - (i * 7919) % 41;
    input.push_back({ts, static_cast<int>(i % 5)});
    expected[ts - ((ts % 1000) + 1000) % 1000] += 1;
  }
  auto out = std::make_shared<collected<std::pair<int64_t, int64_t>>>();
  struct count_agg : aggregate_function<reading, int64_t, int64_t> {
    int64_t create_accumulator() const { return 0; }
    void add(const reading&, int64_t& acc) const { ++acc; }
    int64_t get_result(const int64_t& acc) const { return acc; }
    void merge(int64_t& a, const int64_t& b) const { a += b; }
  };
  struct emit
      : process_window_function<uint8_t, int64_t, std::pair<int64_t, int64_t>,
                                time_window> {
    void process(const uint8_t&, const context& ctx,
                 const std::vector<int64_t>& xs,
                 collector<std::pair<int64_t, int64_t>>& col) override {
      col.collect({ctx.window().start, xs.front()});
    }
  };
  env.from_collection(input)
      .rebalance()
      .assign_timestamps_and_watermarks(
          watermark_strategy<reading>::for_bounded_out_of_orderness(50)
              .with_timestamp_assigner(
                  [](const reading& r, timestamp) { return r.ts; }))
      .window_all(tumbling_event_time_windows::of(1000))
      .aggregate(count_agg{}, [] { return std::make_unique<emit>(); })
      .collect_into(out);
  env.execute("window all");
  std::map<int64_t, int64_t> got;
  for (auto& [start, n] : out->values())
    got[start] += n;
  CAF_CHECK(got == expected);
  CAF_CHECK_EQUAL(out->size(), expected.size());
}

CAF_TEST(window_all rejects a parallelism above one) {
  stream_execution_environment env;
  env.from_elements({reading{1, 1}})
      .window_all(tumbling_event_time_windows::of(10))
      .reduce([](const reading& a, const reading&) { return a; })
      .set_parallelism(2)
      .print("", [](const reading& r) { return std::to_string(r.ts); });
  CAF_CHECK(test::throws<std::invalid_argument>([&] { env.execute(); },
                                                "non-parallel"));
}

CAF_TEST(a generator with a rate paces itself) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<collected<uint64_t>>();
  // 3000 records at 10000 records/s take at least 0.3 s (less than that
  // would mean the rate is ignored; there is no upper bound asserted).
  env.from_generator(
         3000, [](uint64_t i) { return i; }, 10000)
      .collect_into(out);
  auto start = monotonic_now_ns();
  env.execute("paced");
  auto elapsed_ms = (monotonic_now_ns() - start) / 1000000;
  CAF_CHECK_GREATER_OR_EQUAL(elapsed_ms, 250);
  auto xs = sorted(out->values());
  CAF_REQUIRE_EQUAL(xs.size(), 3000u);
  for (uint64_t i = 0; i < 3000; ++i)
    CAF_CHECK_EQUAL(xs[i], i);
}

CAF_TEST(a slow sink holds back an unbounded source) {
  stream_execution_environment env;
  env.set_parallelism(1);
  auto produced = std::make_shared<std::atomic<uint64_t>>(0);
  auto sunk = std::make_shared<std::atomic<uint64_t>>(0);
  struct slow final : sink_function<uint64_t> {
    explicit slow(std::shared_ptr<std::atomic<uint64_t>> n)
        : n_(std::move(n)) {}
    void invoke(const uint64_t&, timestamp) override {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
      n_->fetch_add(1);
    }
    std::shared_ptr<std::atomic<uint64_t>> n_;
  };
  env.from_generator(0,
                     [produced](uint64_t i) {
                       produced->fetch_add(1);
                       return i;
                     })
      .key_by([](uint64_t x) { return x % 7; })
      .map([](uint64_t x) { return x; })
      .add_sink([sunk] { return std::make_unique<slow>(sunk); });
  auto client = env.execute_async("backpressure");
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  auto p = produced->load();
  auto s = sunk->load();
  client->cancel();
  CAF_CHECK(client->wait().status == job_status::canceled);
  CAF_MESSAGE("produced " << p << ", sunk " << s);
  CAF_CHECK_GREATER(s, 1000u);
  // In flight at most: the source's output buffer and one poll (2 x 1024),
  // 4 credits x one channel x up to 4096 records, the consumer's current
  // batch and chain buffers (2 x 1024). Without backpressure the generator
  // would be millions ahead.
  CAF_CHECK_LESS(p - s, 25000u);
}

CAF_TEST(a keyed stream unioned with another keeps its hash partitioning) {
  // Regression: the edge through the union lost the key_by's factory and
  // failed at run time with "keyed partitioning without a key selector".
  stream_execution_environment env;
  env.set_parallelism(2);
  auto a = env.from_collection(std::vector<int>{1, 2, 3, 4});
  auto b = env.from_collection(std::vector<int>{10, 20});
  auto out = std::make_shared<collected<int>>();
  a.key_by([](int x) { return x % 2; })
      .union_with(b)
      .map([](int x) { return x + 1; })
      .collect_into(out);
  env.execute("union of keyed");
  CAF_CHECK_EQUAL(sorted(out->values()),
                  (std::vector<int>{2, 3, 4, 5, 11, 21}));
}

CAF_TEST(an operator whose close fails fails the job) {
  // Regression: the subtask hung, reporting neither finished nor failed.
  struct failing_close final : sink_function<int> {
    void invoke(const int&, timestamp) override {}
    void close() override { throw std::runtime_error("flush to disk failed"); }
  };
  stream_execution_environment env;
  env.set_parallelism(1);
  env.from_elements({1, 2, 3}).add_sink(
      [] { return std::make_unique<failing_close>(); }, "Failing Sink");
  CAF_CHECK(test::throws<job_failed>([&] { env.execute("close fails"); },
                                     "flush to disk failed"));
}

CAF_TEST(after a cancelled job is waited for no subtask runs any more) {
  // Regression: the listener heard "canceled" and the slots were freed
  // while subtasks were still emitting into user sinks.
  stream_execution_environment env;
  env.set_parallelism(2);
  auto seen = std::make_shared<std::atomic<uint64_t>>(0);
  struct counting final : sink_function<uint64_t> {
    explicit counting(std::shared_ptr<std::atomic<uint64_t>> n)
        : n_(std::move(n)) {}
    void invoke(const uint64_t&, timestamp) override { n_->fetch_add(1); }
    std::shared_ptr<std::atomic<uint64_t>> n_;
  };
  env.from_generator(0, [](uint64_t i) { return i; })
      .rebalance()
      .add_sink([seen] { return std::make_unique<counting>(seen); });
  auto client = env.execute_async("cancel and wait");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  client->cancel();
  CAF_CHECK(client->wait().status == job_status::canceled);
  auto at_end = seen->load();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CAF_CHECK_GREATER(at_end, 0u);
  CAF_CHECK_EQUAL(seen->load(), at_end);
}

namespace {

/// A record type without a default constructor.
struct reading_of {
  explicit reading_of(int v) : value(v) {}
  int value;
  bool operator<(const reading_of& other) const { return value < other.value; }
  bool operator==(const reading_of& other) const {
    return value == other.value;
  }
};

} // namespace

CAF_TEST(records need no default constructor) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<collected<reading_of>>();
  env.from_generator(5000, [](uint64_t i) { return static_cast<int>(i); })
      .map([](int x) { return reading_of{x}; })
      .key_by([](const reading_of& r) { return r.value % 3; })
      .filter([](const reading_of& r) { return r.value % 2 == 0; })
      .collect_into(out);
  env.execute("no default constructor");
  std::vector<reading_of> expected;
  for (int i = 0; i < 5000; i += 2)
    expected.emplace_back(i);
  CAF_CHECK(sorted(out->values()) == expected);
}

namespace {

std::atomic<uint64_t> key_hashes{0};
std::atomic<uint64_t> key_copies{0};

/// A key that counts how often it is hashed and copied.
struct counted_key {
  std::string name;
  counted_key() = default;
  explicit counted_key(std::string n) : name(std::move(n)) {}
  counted_key(const counted_key& other) : name(other.name) { ++key_copies; }
  counted_key(counted_key&&) noexcept = default;
  counted_key& operator=(const counted_key& other) {
    name = other.name;
    ++key_copies;
    return *this;
  }
  counted_key& operator=(counted_key&&) noexcept = default;
  friend bool operator==(const counted_key& x, const counted_key& y) {
    return x.name == y.name;
  }
  friend bool operator<(const counted_key& x, const counted_key& y) {
    return x.name < y.name;
  }
};

uint64_t libstream_key_hash(const counted_key& k) {
  ++key_hashes;
  return hash_bytes(k.name.data(), k.name.size());
}

struct keyed_event {
  counted_key key;
  int64_t ts = 0;
};

struct count_events : aggregate_function<keyed_event, int64_t, int64_t> {
  int64_t create_accumulator() const { return 0; }
  void add(const keyed_event&, int64_t& acc) const { ++acc; }
  int64_t get_result(const int64_t& acc) const { return acc; }
  void merge(int64_t& into, const int64_t& from) const { into += from; }
};

} // namespace

CAF_TEST(a key is hashed once per record and copied per key not per record) {
  // 20,000 records over 5 keys and 4 windows at p=2: the hash partitioner
  // hashes each key once and sends the hash along; the window operator
  // copies a key only into a new pane and its timer.
  constexpr uint64_t n = 20000;
  key_hashes = 0;
  key_copies = 0;
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<collected<int64_t>>();
  env.from_generator(n,
                     [](uint64_t i) {
                       keyed_event e;
                       e.key.name = "key-number-" + std::to_string(i % 5);
                       e.ts = static_cast<int64_t>(i / 5000) * 1000;
                       return e;
                     })
      .assign_timestamps_and_watermarks(
          watermark_strategy<keyed_event>::for_monotonous_timestamps()
              .with_timestamp_assigner(
                  [](const keyed_event& e, timestamp) { return e.ts; }))
      .key_by([](const keyed_event& e) -> const counted_key& { return e.key; })
      .window(tumbling_event_time_windows::of(1000))
      .aggregate(count_events{})
      .collect_into(out);
  auto copies_before = key_copies.load();
  env.execute("hash once");
  auto counts = out->values();
  CAF_CHECK_EQUAL(std::accumulate(counts.begin(), counts.end(), int64_t{0}),
                  static_cast<int64_t>(n));
  CAF_CHECK_EQUAL(counts.size(), 20u);
  CAF_MESSAGE("hashes: " << key_hashes.load() << ", copies: "
                         << key_copies.load() - copies_before);
  // Per record once; per pane a few more (state, timers, firing).
  CAF_CHECK_LESS_OR_EQUAL(key_hashes.load(), n + 20 * 8);
  CAF_CHECK_LESS_OR_EQUAL(key_copies.load() - copies_before, 20u * 8);
}
