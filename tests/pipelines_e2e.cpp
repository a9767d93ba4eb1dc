#define CAF_SUITE pipelines_e2e
#include "caf/test/unit_test.hpp"

// Whole jobs on the embedded mini-cluster, each compared with a reference
// computed by a plain loop over the same input.

#include <algorithm>
#include <atomic>
#include <fstream>
#include <chrono>
#include <map>
#include <mutex>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "actors/node.hpp"
#include "libstream/libstream.hpp"

using namespace libstream;

namespace {

// -- input
// ----------------------------------------------------------------------

struct event {
  int key = 0;
  int64_t ts = 0;
  int64_t value = 0;
  int64_t count = 1;
};

/// Events whose timestamps are out of order by at most 8 ms.
std::vector<event> make_events(int n, int keys) {
  std::vector<event> xs;
  for (int i = 0; i < n; ++i)
    xs.push_back(event{i % keys, int64_t{3} * i + 2 * (i % 5), i % 11 + 1, 1});
  return xs;
}

constexpr duration_ms disorder_bound = 10;

/// One window result: key, window start and end, sum and count.
using window_result = std::tuple<int, int64_t, int64_t, int64_t, int64_t>;

template <class T>
std::vector<T> sorted(std::vector<T> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// Emits a window_result per window from the pre-reduced event.
struct to_result final
    : process_window_function<int, event, window_result, time_window> {
  void process(const int& key, const context& ctx,
               const std::vector<event>& elements,
               collector<window_result>& out) override {
    for (auto& e : elements)
      out.collect(window_result{key, ctx.window().start, ctx.window().end,
                                e.value, e.count});
  }
};

event add_events(const event& x, const event& y) {
  return event{x.key, std::max(x.ts, y.ts), x.value + y.value,
               x.count + y.count};
}

/// Runs a keyed window job over `input` at parallelism `p`.
template <class Assigner>
std::vector<window_result> run_windows(const std::vector<event>& input, int p,
                                       Assigner assigner) {
  stream_execution_environment env;
  env.set_parallelism(p);
  auto out = std::make_shared<collected<window_result>>();
  env.from_collection(input)
      .assign_timestamps_and_watermarks(
          watermark_strategy<event>::for_bounded_out_of_orderness(
              disorder_bound)
              .with_timestamp_assigner(
                  [](const event& e, timestamp) { return e.ts; }))
      .key_by([](const event& e) { return e.key; })
      .window(assigner)
      .reduce(add_events, [] { return std::make_unique<to_result>(); })
      .collect_into(out);
  env.execute("windows");
  return sorted(out->values());
}

/// A sink that tags each value with its subtask index.
template <class T>
class tagged_sink final : public sink_function<T> {
public:
  using target = collected<std::pair<int, T>>;

  explicit tagged_sink(std::shared_ptr<target> out, int delay_every = 0)
      : out_(std::move(out)), delay_every_(delay_every) {}

  void open(const runtime_info& info) override { index_ = info.subtask_index; }

  void invoke(const T& value, timestamp) override {
    buffer_.emplace_back(index_, value);
    if (delay_every_ > 0
        && buffer_.size() % static_cast<size_t>(delay_every_) == 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void finish() override {
    out_->add(std::move(buffer_));
    buffer_.clear();
  }

private:
  std::shared_ptr<target> out_;
  int delay_every_;
  int index_ = -1;
  std::vector<std::pair<int, T>> buffer_;
};

using tagged = collected<std::pair<int, int64_t>>;

/// Values per subtask index.
std::map<int, std::vector<int64_t>> by_subtask(const tagged& xs) {
  std::map<int, std::vector<int64_t>> result;
  for (auto& [idx, v] : xs.values())
    result[idx].push_back(v);
  for (auto& kvp : result)
    std::sort(kvp.second.begin(), kvp.second.end());
  return result;
}

auto make_tagged_sink(std::shared_ptr<tagged> out, int delay_every = 0) {
  return [out, delay_every]() -> std::unique_ptr<sink_function<int64_t>> {
    return std::make_unique<tagged_sink<int64_t>>(out, delay_every);
  };
}

int64_t floor_div(int64_t a, int64_t b) {
  auto q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

} // namespace

// -- windows
// -----------------------------------------------------------------------

CAF_TEST(tumbling event time windows agree with a loop at any parallelism) {
  auto input = make_events(3000, 7);
  const int64_t size = 100;
  std::map<std::tuple<int, int64_t>, std::pair<int64_t, int64_t>> ref;
  for (auto& e : input) {
    auto start = floor_div(e.ts, size) * size;
    auto& acc = ref[{e.key, start}];
    acc.first += e.value;
    acc.second += 1;
  }
  std::vector<window_result> expected;
  for (auto& [k, acc] : ref)
    expected.emplace_back(std::get<0>(k), std::get<1>(k), std::get<1>(k) + size,
                          acc.first, acc.second);
  std::sort(expected.begin(), expected.end());
  for (int p : {1, 2, 4}) {
    CAF_MESSAGE("parallelism " << p);
    auto got = run_windows(input, p, tumbling_event_time_windows::of(size));
    CAF_CHECK_EQUAL(got.size(), expected.size());
    CAF_CHECK(got == expected);
  }
}

CAF_TEST(sliding event time windows agree with a loop at any parallelism) {
  auto input = make_events(2000, 5);
  const int64_t size = 90;
  const int64_t slide = 30;
  std::map<std::tuple<int, int64_t>, std::pair<int64_t, int64_t>> ref;
  for (auto& e : input) {
    // Every window [s, s + size) with s a multiple of slide containing ts.
    for (auto s = floor_div(e.ts, slide) * slide; s > e.ts - size; s -= slide) {
      auto& acc = ref[{e.key, s}];
      acc.first += e.value;
      acc.second += 1;
    }
  }
  std::vector<window_result> expected;
  for (auto& [k, acc] : ref)
    expected.emplace_back(std::get<0>(k), std::get<1>(k), std::get<1>(k) + size,
                          acc.first, acc.second);
  std::sort(expected.begin(), expected.end());
  for (int p : {1, 2, 4}) {
    CAF_MESSAGE("parallelism " << p);
    auto got
        = run_windows(input, p, sliding_event_time_windows::of(size, slide));
    CAF_CHECK_EQUAL(got.size(), expected.size());
    CAF_CHECK(got == expected);
  }
}

// -- keyed process function with timers
// --------------------------------------------

namespace {

/// Sums values per key and 100 ms bucket in map state; an event-time timer
/// at the bucket's last millisecond emits (key, bucket, sum) and clears it.
struct bucket_sums final
    : keyed_process_function<int, event, std::tuple<int, int64_t, int64_t>> {
  map_state<int64_t, int64_t> sums;

  void open(keyed_state_store<int>& store, const runtime_info&) override {
    sums = store.get_map_state<int64_t, int64_t>("sums");
  }

  void process_element(const event& e, context& ctx,
                       collector<std::tuple<int, int64_t, int64_t>>&) override {
    auto bucket = floor_div(e.ts, 100);
    sums.put(bucket, sums.get(bucket).value_or(0) + e.value);
    ctx.timer_service().register_event_time_timer(bucket * 100 + 99);
  }

  void on_timer(timestamp t, time_domain domain, context& ctx,
                collector<std::tuple<int, int64_t, int64_t>>& out) override {
    if (domain != time_domain::event_time)
      throw std::logic_error("unexpected processing-time timer");
    auto bucket = floor_div(t, 100);
    auto sum = sums.get(bucket);
    if (!sum)
      throw std::logic_error("timer without a bucket");
    out.collect({ctx.current_key(), bucket, *sum});
    sums.remove(bucket);
  }
};

} // namespace

CAF_TEST(a keyed process function with event time timers) {
  auto input = make_events(4000, 9);
  std::map<std::pair<int, int64_t>, int64_t> ref;
  for (auto& e : input)
    ref[{e.key, floor_div(e.ts, 100)}] += e.value;
  std::vector<std::tuple<int, int64_t, int64_t>> expected;
  for (auto& [k, v] : ref)
    expected.emplace_back(k.first, k.second, v);
  for (int p : {1, 3}) {
    CAF_MESSAGE("parallelism " << p);
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<std::tuple<int, int64_t, int64_t>>>();
    env.from_collection(input)
        .assign_timestamps_and_watermarks(
            watermark_strategy<event>::for_bounded_out_of_orderness(
                disorder_bound)
                .with_timestamp_assigner(
                    [](const event& e, timestamp) { return e.ts; }))
        .key_by([](const event& e) { return e.key; })
        .process<std::tuple<int, int64_t, int64_t>>(
            [] { return std::make_unique<bucket_sums>(); })
        .collect_into(out);
    env.execute("timers");
    CAF_CHECK(sorted(out->values()) == expected);
    CAF_CHECK_EQUAL(out->size(), expected.size());
  }
}

// -- late data
// ----------------------------------------------------------------------

namespace {

/// Emits ts - 1 after every event (a punctuated generator).
struct per_event_watermarks final : watermark_generator {
  void on_event(timestamp ts, watermark_output& out) override {
    out.emit_watermark(ts - 1);
  }
  void on_periodic_emit(watermark_output&) override {}
};

} // namespace

CAF_TEST(late data goes to the side output end to end) {
  // Timestamps in arrival order; 50 and 300 arrive after the watermark
  // passed 999, the end of their window [0, 1000).
  std::vector<event> input;
  for (int64_t ts : {100, 200, 1500, 50, 1600, 300, 2500})
    input.push_back(event{1, ts, ts, 1});
  stream_execution_environment env;
  env.set_parallelism(1);
  // One record per network batch, so that the assigner (after the
  // rebalance) sees each record with its own watermark.
  env.set_buffer_timeout(0);
  output_tag<event> late_tag{"late"};
  auto main_out = std::make_shared<collected<window_result>>();
  auto late_out = std::make_shared<collected<int64_t>>();
  auto windows
      = env.from_collection(input)
            .rebalance()
            .assign_timestamps_and_watermarks(
                watermark_strategy<event>::for_generator([] {
                  return std::make_unique<per_event_watermarks>();
                }).with_timestamp_assigner([](const event& e, timestamp) {
                  return e.ts;
                }))
            .key_by([](const event& e) { return e.key; })
            .window(tumbling_event_time_windows::of(1000))
            .side_output_late_data(late_tag)
            .reduce(add_events, [] { return std::make_unique<to_result>(); });
  windows.collect_into(main_out);
  windows.get_side_output(late_tag)
      .map([](const event& e) { return e.ts; })
      .collect_into(late_out);
  env.execute("late data");
  // Reference: a loop that tracks the watermark (max ts - 1 so far).
  std::map<int64_t, std::pair<int64_t, int64_t>> ref;
  std::vector<int64_t> late;
  int64_t wm = min_watermark;
  for (auto& e : input) {
    auto start = floor_div(e.ts, 1000) * 1000;
    if (start + 999 <= wm) {
      late.push_back(e.ts);
    } else {
      ref[start].first += e.value;
      ref[start].second += 1;
    }
    wm = std::max(wm, e.ts - 1);
  }
  std::vector<window_result> expected;
  for (auto& [s, acc] : ref)
    expected.emplace_back(1, s, s + 1000, acc.first, acc.second);
  CAF_CHECK_EQUAL(late, (std::vector<int64_t>{50, 300}));
  CAF_CHECK(sorted(main_out->values()) == expected);
  CAF_CHECK_EQUAL(sorted(late_out->values()), late);
}

CAF_TEST(a punctuated watermark does not overtake the records before it) {
  // Regression: timestamps_and_watermarks_operator called the generator's
  // on_event for a whole batch before forwarding the batch, so a watermark
  // emitted for a later record of the batch overtook the earlier records,
  // which then arrived late. The source emits all records in one batch.
  std::vector<event> input;
  for (int64_t i = 0; i < 50; ++i)
    input.push_back(event{1, i * 100, 1, 1});
  stream_execution_environment env;
  env.set_parallelism(1);
  output_tag<event> late_tag{"late"};
  auto main_out = std::make_shared<collected<window_result>>();
  auto late_out = std::make_shared<collected<int64_t>>();
  auto windows
      = env.from_collection(input)
            .assign_timestamps_and_watermarks(
                watermark_strategy<event>::for_generator([] {
                  return std::make_unique<per_event_watermarks>();
                }).with_timestamp_assigner([](const event& e, timestamp) {
                  return e.ts;
                }))
            .key_by([](const event& e) { return e.key; })
            .window(tumbling_event_time_windows::of(1000))
            .side_output_late_data(late_tag)
            .reduce(add_events, [] { return std::make_unique<to_result>(); });
  windows.collect_into(main_out);
  windows.get_side_output(late_tag)
      .map([](const event& e) { return e.ts; })
      .collect_into(late_out);
  env.execute("punctuated");
  // In order timestamps: nothing is late; 5 windows of 10 records.
  CAF_CHECK_EQUAL(late_out->size(), 0u);
  std::vector<window_result> expected;
  for (int64_t s = 0; s < 5000; s += 1000)
    expected.emplace_back(1, s, s + 1000, 10, 10);
  CAF_CHECK(sorted(main_out->values()) == expected);
}

// -- partitioning
// --------------------------------------------------------------------

CAF_TEST(broadcast delivers every record to every subtask) {
  stream_execution_environment env;
  env.set_parallelism(3);
  auto out = std::make_shared<tagged>();
  std::vector<int64_t> input;
  for (int64_t i = 0; i < 500; ++i)
    input.push_back(i);
  env.from_collection(input).broadcast().add_sink(make_tagged_sink(out));
  env.execute("broadcast");
  auto got = by_subtask(*out);
  CAF_CHECK_EQUAL(got.size(), 3u);
  for (int s = 0; s < 3; ++s)
    CAF_CHECK(got[s] == input);
}

CAF_TEST(rebalance spreads records evenly) {
  stream_execution_environment env;
  env.set_parallelism(4);
  auto out = std::make_shared<tagged>();
  std::vector<int64_t> input;
  for (int64_t i = 0; i < 1000; ++i)
    input.push_back(i);
  env.from_collection(input).rebalance().add_sink(make_tagged_sink(out));
  env.execute("rebalance");
  auto got = by_subtask(*out);
  CAF_CHECK_EQUAL(got.size(), 4u);
  std::vector<int64_t> all;
  for (int s = 0; s < 4; ++s) {
    CAF_CHECK_EQUAL(got[s].size(), 250u);
    all.insert(all.end(), got[s].begin(), got[s].end());
  }
  CAF_CHECK(sorted(all) == input);
}

CAF_TEST(rescale from 2 to 4 keeps each producer on its own consumers) {
  stream_execution_environment env;
  env.set_parallelism(4);
  auto out = std::make_shared<tagged>();
  // Generator subtask k of 2 emits k, k + 2, ...: subtask 0 the even values.
  env.from_generator(1000, [](uint64_t i) { return static_cast<int64_t>(i); })
      .set_parallelism(2)
      .rescale()
      .add_sink(make_tagged_sink(out));
  env.execute("rescale up");
  auto got = by_subtask(*out);
  CAF_CHECK_EQUAL(got.size(), 4u);
  for (int s = 0; s < 4; ++s) {
    CAF_CHECK_EQUAL(got[s].size(), 250u);
    // Consumers 0 and 1 belong to producer 0, 2 and 3 to producer 1.
    auto parity = s / 2;
    for (auto v : got[s])
      if (v % 2 != parity) {
        CAF_FAIL("consumer " << s << " received " << v);
      }
  }
}

CAF_TEST(rescale from 4 to 2 merges neighbouring producers) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<tagged>();
  env.from_generator(1000, [](uint64_t i) { return static_cast<int64_t>(i); })
      .set_parallelism(4)
      .rescale()
      .add_sink(make_tagged_sink(out));
  env.execute("rescale down");
  auto got = by_subtask(*out);
  CAF_CHECK_EQUAL(got.size(), 2u);
  for (int s = 0; s < 2; ++s) {
    std::vector<int64_t> expected;
    for (int64_t v = 0; v < 1000; ++v)
      if ((v % 4) / 2 == s) // producers 2s and 2s + 1
        expected.push_back(v);
    CAF_CHECK(got[s] == expected);
  }
}

CAF_TEST(custom partitioning sends each key where the partitioner says) {
  stream_execution_environment env;
  env.set_parallelism(3);
  auto out = std::make_shared<tagged>();
  std::vector<int64_t> input;
  for (int64_t i = 0; i < 900; ++i)
    input.push_back(i * 7);
  env.from_collection(input)
      .partition_custom(
          [](int64_t key, int n) { return static_cast<int>(key % n); },
          [](int64_t x) { return x; })
      .add_sink(make_tagged_sink(out));
  env.execute("custom");
  auto got = by_subtask(*out);
  for (int s = 0; s < 3; ++s) {
    std::vector<int64_t> expected;
    for (auto v : input)
      if (v % 3 == s)
        expected.push_back(v);
    CAF_CHECK(got[s] == expected);
  }
}

CAF_TEST(a custom partitioner out of range fails the job) {
  stream_execution_environment env;
  env.set_parallelism(2);
  env.from_elements<int64_t>({1, 2, 3})
      .partition_custom([](int64_t, int n) { return n; },
                        [](int64_t x) { return x; })
      .add_sink(make_tagged_sink(std::make_shared<tagged>()));
  try {
    env.execute("bad partitioner");
    CAF_FAIL("execute() did not throw");
  } catch (const job_failed& e) {
    CAF_MESSAGE("failure: " << e.what());
    CAF_CHECK(std::string{e.what()}.find("custom partitioner returned 2")
              != std::string::npos);
  }
}

// -- backpressure
// ----------------------------------------------------------------------

CAF_TEST(a slow sink loses nothing under backpressure) {
  stream_execution_environment env;
  env.set_parallelism(2);
  env.config().credits_per_channel = 1;
  env.config().batch_bytes = 64; // small batches: many credit round trips
  auto out = std::make_shared<tagged>();
  const int64_t n = 20000;
  env.from_generator(static_cast<uint64_t>(n),
                     [](uint64_t i) { return static_cast<int64_t>(i); })
      .map([](int64_t x) { return x; })
      .rebalance()
      .add_sink(make_tagged_sink(out, 100));
  auto r = env.execute("slow sink");
  CAF_CHECK(r.status == job_status::finished);
  std::vector<int64_t> all;
  for (auto& [idx, v] : out->values())
    all.push_back(v);
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < n; ++i)
    expected.push_back(i);
  CAF_CHECK_EQUAL(all.size(), expected.size());
  CAF_CHECK(sorted(all) == expected);
}

CAF_TEST(network memory bounds the batches at high parallelism) {
  // 48 producers x 48 consumers in one node with 1 MiB: each slot's 48
  // channels (and the sink's one) share 1/48 MiB, so batches hold a few
  // records where the default 32 KiB would hold thousands.
  stream_execution_environment env;
  env.set_parallelism(48);
  env.config().network_memory = size_t{1} << 20;
  auto out = std::make_shared<tagged>();
  const int64_t n = 30000;
  env.from_generator(static_cast<uint64_t>(n),
                     [](uint64_t i) { return static_cast<int64_t>(i); })
      .key_by([](int64_t x) { return x % 97; })
      .map([](int64_t x) { return x; })
      .rebalance()
      .add_sink(make_tagged_sink(out, 0))
      .set_parallelism(1);
  auto g = env.builder()->plan();
  auto slot = env.config().network_memory / 48;
  auto budget = runtime::batch_budget(g, 0, slot);
  size_t channels = 0;
  for (auto& vx : g.vertices())
    for (int e : vx.outputs)
      channels += g.channel_targets(e, 0).size();
  CAF_CHECK_EQUAL(channels, 49u); // 48 keyed channels, 1 to the sink
  // The wide edge's channels get one credit each, the sink's all four:
  // each channel holds its open buffer and a batch per credit.
  auto most = env.config().credits_per_channel;
  CAF_CHECK_EQUAL(runtime::channel_credits(most, 48), 1);
  CAF_CHECK_EQUAL(runtime::channel_credits(most, 1), most);
  auto buffers = 48 * 2 + static_cast<size_t>(most + 1);
  CAF_CHECK(budget * buffers <= slot);
  CAF_CHECK((budget + 1) * buffers > slot); // all of it
  auto records = env.config().batch_records(sizeof(record<int64_t>), budget);
  CAF_CHECK(records * sizeof(record<int64_t>) <= budget);
  CAF_CHECK(records < env.config().batch_records(sizeof(record<int64_t>)));
  // Small batches lose nothing.
  auto r = env.execute("budget");
  CAF_CHECK(r.status == job_status::finished);
  std::vector<int64_t> all;
  for (auto& [idx, v] : out->values())
    all.push_back(v);
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < n; ++i)
    expected.push_back(i);
  CAF_CHECK(sorted(all) == expected);
}

namespace {

/// Threads of this process (/proc/self/status).
int thread_count() {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 8, "Threads:") == 0)
      return std::stoi(line.substr(8));
  return -1;
}

} // namespace

CAF_TEST(subtasks share a pool of threads instead of a thread each) {
  // 64 x 3 subtasks; with a thread per subtask the process would run
  // about 200 threads while the job runs.
  stream_execution_environment env;
  env.set_parallelism(64);
  env.config().worker_threads = 4; // the same figure on any machine
  auto most = std::make_shared<std::atomic<int>>(0);
  auto out = std::make_shared<tagged>();
  env.from_generator(20000, [](uint64_t i) { return static_cast<int64_t>(i); })
      .key_by([](int64_t x) { return x % 101; })
      .map([most](int64_t x) {
        if (x % 997 == 0) {
          auto n = thread_count();
          auto seen = most->load();
          while (n > seen && !most->compare_exchange_weak(seen, n)) {
          }
        }
        return x;
      })
      .rebalance()
      .add_sink(make_tagged_sink(out, 0));
  auto r = env.execute("pool");
  CAF_CHECK(r.status == job_status::finished);
  CAF_CHECK_EQUAL(out->values().size(), 20000u);
  CAF_MESSAGE("threads while running: " << most->load());
  CAF_CHECK_GREATER(most->load(), 0);
  CAF_CHECK_LESS(most->load(), 40);
}

CAF_TEST(a sink declared blocking runs on threads of its own) {
  // One worker thread runs every pool subtask; a blocking sink's three
  // subtasks each wait on a thread of their own, none on the pool's.
  stream_execution_environment env;
  env.set_parallelism(3);
  env.config().worker_threads = 1;
  struct seen_threads {
    std::mutex mtx;
    std::set<std::thread::id> pool, sink;
  };
  auto seen = std::make_shared<seen_threads>();
  env.from_generator(300, [](uint64_t i) { return static_cast<int64_t>(i); })
      .map([seen](int64_t x) {
        std::lock_guard<std::mutex> guard{seen->mtx};
        seen->pool.insert(std::this_thread::get_id());
        return x;
      })
      .add_sink([seen] {
        struct waiting_sink final : sink_function<int64_t> {
          std::shared_ptr<seen_threads> seen;
          explicit waiting_sink(std::shared_ptr<seen_threads> s)
              : seen(std::move(s)) {}
          void invoke(const int64_t&, timestamp) override {
            {
              std::lock_guard<std::mutex> guard{seen->mtx};
              seen->sink.insert(std::this_thread::get_id());
            }
            std::this_thread::sleep_for(std::chrono::microseconds(100));
          }
        };
        return std::make_unique<waiting_sink>(seen);
      })
      .disable_chaining()
      .blocking();
  auto r = env.execute("blocking sink");
  CAF_CHECK(r.status == job_status::finished);
  CAF_CHECK_EQUAL(seen->pool.size(), 1u);
  CAF_CHECK_EQUAL(seen->sink.size(), 3u);
  for (auto& id : seen->sink)
    CAF_CHECK(seen->pool.count(id) == 0);
}

CAF_TEST(an operator declared blocking runs on threads of its own) {
  stream_execution_environment env;
  env.set_parallelism(2);
  env.config().worker_threads = 1;
  auto mtx = std::make_shared<std::mutex>();
  auto pool = std::make_shared<std::set<std::thread::id>>();
  auto own = std::make_shared<std::set<std::thread::id>>();
  auto note = [mtx](std::shared_ptr<std::set<std::thread::id>> where) {
    return [mtx, where](int64_t x) {
      std::lock_guard<std::mutex> guard{*mtx};
      where->insert(std::this_thread::get_id());
      return x;
    };
  };
  auto out = std::make_shared<tagged>();
  env.from_generator(200, [](uint64_t i) { return static_cast<int64_t>(i); })
      .map(note(pool))
      .map(note(own))
      .disable_chaining()
      .blocking()
      .map(note(pool))
      .disable_chaining()
      .add_sink(make_tagged_sink(out, 0));
  auto r = env.execute("blocking map");
  CAF_CHECK(r.status == job_status::finished);
  CAF_CHECK_EQUAL(out->values().size(), 200u);
  CAF_CHECK_EQUAL(pool->size(), 1u);
  CAF_CHECK_EQUAL(own->size(), 2u);
  for (auto& id : *own)
    CAF_CHECK(pool->count(id) == 0);
}

CAF_TEST(a budget too small for one record still sends every record) {
  CAF_CHECK_EQUAL(execution_config{}.batch_records(64, 10), 1u);
  CAF_CHECK_EQUAL(execution_config{}.batch_records(64, 640), 10u);
  CAF_CHECK_EQUAL(execution_config{}.batch_records(64), 512u);
}

// -- triggers per subtask
// -------------------------------------------------------

namespace {

/// Which trigger objects were called from which threads, over all copies.
struct trigger_calls {
  std::mutex mtx;
  std::map<const void*, std::set<std::thread::id>> threads;
};

/// Fires every third element of a window, counting in a member (state a
/// shared trigger would race on). Records the threads that call it.
class every_third final : public trigger<global_window> {
public:
  explicit every_third(std::shared_ptr<trigger_calls> calls)
      : calls_(std::move(calls)) {}

  trigger_result on_element(timestamp, const global_window&,
                            context&) override {
    {
      std::lock_guard<std::mutex> guard{calls_->mtx};
      calls_->threads[this].insert(std::this_thread::get_id());
    }
    return ++seen_ % 3 == 0 ? trigger_result::fire_and_purge
                            : trigger_result::continue_;
  }
  trigger_result on_event_time(timestamp, const global_window&,
                               context&) override {
    return trigger_result::continue_;
  }
  trigger_result on_processing_time(timestamp, const global_window&,
                                    context&) override {
    return trigger_result::continue_;
  }
  void clear(const global_window&, context&) override {}

private:
  std::shared_ptr<trigger_calls> calls_;
  int64_t seen_ = 0;
};

} // namespace

// Regression: a custom trigger object was shared by every subtask of a
// window operator (one shared_ptr copied into each), so a trigger with
// member state raced between subtask threads.
CAF_TEST(each window subtask has a trigger of its own) {
  for (bool by_value : {true, false}) {
    auto calls = std::make_shared<trigger_calls>();
    stream_execution_environment env;
    env.set_parallelism(3);
    auto out = std::make_shared<collected<int64_t>>();
    auto windows = env.from_generator(3000,
                                      [](uint64_t i) {
                                        return static_cast<int64_t>(i);
                                      })
                       .key_by([](int64_t x) { return x % 3; })
                       .window(global_windows::create());
    if (by_value)
      windows.trigger(every_third{calls});
    else
      windows.trigger([calls] { return std::make_shared<every_third>(calls); });
    windows.reduce([](int64_t a, int64_t b) { return a + b; }).collect_into(out);
    env.execute();
    // Keys 0, 1 and 2 fall into key groups 0, 44 and 103: one key per
    // subtask, and each subtask calls a trigger of its own.
    CAF_CHECK_EQUAL(calls->threads.size(), 3u);
    for (auto& [trig, threads] : calls->threads)
      CAF_CHECK_EQUAL(threads.size(), 1u);
    // 1000 elements per trigger, a firing every third: 333 each (one
    // trigger for all would fire 1000 times).
    CAF_CHECK_EQUAL(out->size(), 999u);
  }
}

