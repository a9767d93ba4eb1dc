#define CAF_SUITE window_operator
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "libstream/testing/harness.hpp"
#include "libstream/window/window_operator.hpp"
#include "test_util.hpp"
#include "window_fixtures.hpp"

using namespace libstream;
using libstream::testing::one_input_harness;
using namespace libstream::test;

namespace {

// -- fixtures -----------------------------------------------------------------

/// "key:value@ts" for each record, in emission order.
std::vector<std::string> strs(const std::vector<record<event>>& xs) {
  std::vector<std::string> result;
  for (auto& r : xs)
    result.push_back(r.value.key + ":" + std::to_string(r.value.value) + "@"
                     + std::to_string(r.ts));
  return result;
}

template <class T>
std::vector<std::string> take(libstream::testing::capture<T>& c) {
  auto result = strs(c.records);
  c.records.clear();
  return result;
}

std::vector<std::string> sorted(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// Count and average of the values in a window.
struct count_avg {
  int64_t count = 0;
  double avg = 0;
};

struct count_avg_agg
    : aggregate_function<event, std::pair<int64_t, int64_t>, count_avg> {
  std::pair<int64_t, int64_t> create_accumulator() const { return {0, 0}; }
  void add(const event& e, std::pair<int64_t, int64_t>& acc) const {
    acc.first += 1;
    acc.second += e.value;
  }
  count_avg get_result(const std::pair<int64_t, int64_t>& acc) const {
    return {acc.first,
            static_cast<double>(acc.second) / static_cast<double>(acc.first)};
  }
  void merge(std::pair<int64_t, int64_t>& into,
             const std::pair<int64_t, int64_t>& from) const {
    into.first += from.first;
    into.second += from.second;
  }
};

std::string str(const count_avg& x) {
  return std::to_string(x.count) + "/" + std::to_string(x.avg);
}

/// Emits "key [start, end) n=<elements> sum=<sum> wm=<watermark>" and, for
/// every window, its element count to the side output "counts".
struct describe_window
    : process_window_function<std::string, event, std::string, time_window> {
  output_tag<int64_t> counts{"counts"};
  void process(const std::string& key, const context& ctx,
               const std::vector<event>& elements,
               collector<std::string>& out) override {
    int64_t total = 0;
    for (auto& e : elements)
      total += e.value;
    out.collect(key + " " + to_string(ctx.window())
                + " n=" + std::to_string(elements.size())
                + " sum=" + std::to_string(total)
                + " wm=" + std::to_string(ctx.current_watermark()));
    ctx.output(counts, static_cast<int64_t>(elements.size()));
  }
};

/// Tags each pre-aggregated count_avg with key and window start.
struct tag_count_avg : process_window_function<std::string, count_avg,
                                               std::string, time_window> {
  void process(const std::string& key, const context& ctx,
               const std::vector<count_avg>& elements,
               collector<std::string>& out) override {
    out.collect(key + "@" + std::to_string(ctx.window().start) + " "
                + std::to_string(elements.size()) + " "
                + str(elements.front()));
  }
};

std::vector<std::string> values(one_input_harness<event, std::string>& h) {
  auto xs = h.output_values();
  h.output().records.clear();
  return xs;
}

window_operator_base& stats(operator_base& op) {
  return dynamic_cast<window_operator_base&>(op);
}

} // namespace

// -- tumbling -----------------------------------------------------------------

CAF_TEST(tumbling reduce fires at the window max timestamp) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts_t{}, sum)};
  h.open();
  h.process_element({"a", 1}, 0);
  h.process_element({"a", 2}, 5);
  h.process_element({"a", 4}, 10); // exactly at the end: next window
  h.process_element({"b", 8}, 3);
  h.process_watermark(8);
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  h.process_watermark(9);
  CAF_CHECK_EQUAL(sorted(take(h.output())), (svec{"a:3@9", "b:8@9"}));
  CAF_CHECK_EQUAL(h.output().watermarks, (std::vector<timestamp>{8, 9}));
  h.process_watermark(19);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:4@19"});
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 0u);
  CAF_CHECK_EQUAL(stats(h.op()).event_timer_count(), 0u);
}

CAF_TEST(an element exactly at a window end belongs to the next window) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts_t{}, sum)};
  h.open();
  h.process_element({"a", 1}, 9);
  h.process_element({"a", 100}, 10);
  h.process_watermark(9);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@9"});
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:100@19"});
}

CAF_TEST(tumbling aggregate count and average match a plain loop) {
  one_input_harness<event, count_avg> h{make_aggregate_window_operator(
      by_key, tumbling_event_time_windows::of(100), opts_t{}, count_avg_agg{})};
  h.open();
  // Expected: per window start, count and sum, by a plain loop.
  std::map<timestamp, std::pair<int64_t, int64_t>> expected;
  record_batch<event> batch;
  for (int64_t i = 0; i < 1000; ++i) {
    auto ts = (i * 37) % 1000 - 300; // out of order, negative too
    auto value = (i * 7) % 13;
    auto start = ts >= 0 ? ts / 100 * 100 : -((-ts + 99) / 100) * 100;
    expected[start].first += 1;
    expected[start].second += value;
    batch.push_back(record<event>{event{"k", value}, ts});
  }
  h.process_batch(batch);
  h.process_watermark(max_watermark);
  std::vector<std::string> want;
  for (auto& [start, cs] : expected)
    want.push_back(str(count_avg{cs.first, static_cast<double>(cs.second)
                                               / static_cast<double>(cs.first)})
                   + "@" + std::to_string(start + 99));
  std::vector<std::string> got;
  for (auto& r : h.output().records)
    got.push_back(str(r.value) + "@" + std::to_string(r.ts));
  CAF_CHECK_EQUAL(got, want);
}

CAF_TEST(tumbling process window function sees all elements and metadata) {
  auto fn = std::make_unique<describe_window>();
  auto tag = fn->counts;
  one_input_harness<event, std::string> h{
      make_process_window_operator<std::string, event, std::string>(
          by_key, tumbling_event_time_windows::of(10), opts_t{},
          std::move(fn))};
  auto& counts = h.side_output(tag);
  h.open();
  h.process_element({"a", 1}, 1);
  h.process_element({"a", 2}, 2);
  h.process_element({"a", 3}, 3);
  h.process_element({"b", 5}, 15);
  h.process_watermark(12);
  CAF_CHECK_EQUAL(values(h), svec{"a [0, 10) n=3 sum=6 wm=12"});
  CAF_CHECK_EQUAL(h.output().records.size(), 0u);
  CAF_REQUIRE_EQUAL(counts.records.size(), 1u);
  CAF_CHECK_EQUAL(counts.records[0].value, 3);
  CAF_CHECK_EQUAL(counts.records[0].ts, 9);
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(h.output().records.size(), 1u);
  CAF_CHECK_EQUAL(h.output().records[0].ts, 19);
  CAF_CHECK_EQUAL(values(h), (svec{"b [10, 20) n=1 sum=5 wm="
                                   + std::to_string(max_watermark)}));
}

CAF_TEST(aggregate combined with a process window function) {
  one_input_harness<event, std::string> h{
      make_aggregate_process_window_operator<std::string, event, std::string>(
          by_key, tumbling_event_time_windows::of(10), opts_t{},
          count_avg_agg{}, std::make_unique<tag_count_avg>())};
  h.open();
  h.process_element({"a", 1}, 1);
  h.process_element({"a", 4}, 2);
  h.process_element({"b", 10}, 3);
  h.process_element({"a", 7}, 11);
  h.process_watermark(max_watermark);
  // One pre-aggregated value per window.
  CAF_CHECK_EQUAL(sorted(values(h)),
                  (svec{"a@0 1 " + str(count_avg{2, 2.5}),
                        "a@10 1 " + str(count_avg{1, 7.0}),
                        "b@0 1 " + str(count_avg{1, 10.0})}));
}

CAF_TEST(reduce combined with a process window function) {
  auto fn = std::make_unique<describe_window>();
  one_input_harness<event, std::string> h{
      make_reduce_process_window_operator<std::string, event, std::string>(
          by_key, tumbling_event_time_windows::of(10), opts_t{}, sum,
          std::move(fn))};
  h.open();
  h.process_element({"a", 1}, 1);
  h.process_element({"a", 2}, 2);
  h.process_element({"a", 3}, 3);
  h.process_watermark(10);
  CAF_CHECK_EQUAL(values(h), svec{"a [0, 10) n=1 sum=6 wm=10"});
}

// -- sliding ------------------------------------------------------------------

CAF_TEST(sliding reduce emits every window an element belongs to) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, sliding_event_time_windows::of(10, 5), opts_t{}, sum)};
  h.open();
  h.process_element({"a", 1}, 3);  // [-5, 5) [0, 10)
  h.process_element({"a", 2}, 7);  // [0, 10) [5, 15)
  h.process_element({"a", 4}, 12); // [5, 15) [10, 20)
  h.process_watermark(4);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@4"});
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(take(h.output()), (svec{"a:3@9", "a:6@14", "a:4@19"}));
}

CAF_TEST(sliding aggregate matches a plain loop over all windows) {
  one_input_harness<event, std::string> h{
      make_aggregate_process_window_operator<std::string, event, std::string>(
          by_key, sliding_event_time_windows::of(30, 10), opts_t{},
          count_avg_agg{}, std::make_unique<tag_count_avg>())};
  h.open();
  std::map<std::pair<std::string, timestamp>, std::pair<int64_t, int64_t>>
      expected;
  record_batch<event> batch;
  for (int64_t i = 0; i < 300; ++i) {
    auto key = "k" + std::to_string(i % 3);
    auto ts = (i * 13) % 200;
    auto value = i % 11;
    for (timestamp start = -100; start < 300; start += 10) {
      if (start <= ts && ts < start + 30) {
        expected[{key, start}].first += 1;
        expected[{key, start}].second += value;
      }
    }
    batch.push_back(record<event>{event{key, value}, ts});
  }
  h.process_batch(batch);
  h.process_watermark(max_watermark);
  std::vector<std::string> want;
  for (auto& [kw, cs] : expected)
    want.push_back(
        kw.first + "@" + std::to_string(kw.second) + " 1 "
        + str(count_avg{cs.first, static_cast<double>(cs.second)
                                      / static_cast<double>(cs.first)}));
  CAF_CHECK_EQUAL(sorted(values(h)), sorted(want));
}

// -- lateness -----------------------------------------------------------------

CAF_TEST(allowed lateness fires again for each late element) {
  opts_t opts;
  opts.allowed_lateness = 5;
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts, sum)};
  h.open();
  auto& st = stats(h.op());
  h.process_element({"a", 1}, 2);
  h.process_watermark(9);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@9"});
  h.process_element({"a", 2}, 4); // late, within lateness: fires at once
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@9"});
  h.process_watermark(13);
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  h.process_element({"a", 4}, 1);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:7@9"});
  // A key whose first element for the window is already late but within
  // lateness: its window is created and fires immediately.
  h.process_element({"b", 5}, 8);
  CAF_CHECK_EQUAL(take(h.output()), svec{"b:5@9"});
  CAF_CHECK_EQUAL(st.window_state_count(), 2u);
  h.process_watermark(14); // cleanup time 9 + 5
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  CAF_CHECK_EQUAL(st.window_state_count(), 0u);
  CAF_CHECK_EQUAL(st.event_timer_count(), 0u);
  h.process_element({"a", 8}, 5); // beyond lateness: dropped and counted
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  CAF_CHECK_EQUAL(st.late_records_dropped(), 1u);
  CAF_CHECK_EQUAL(st.window_state_count(), 0u);
}

CAF_TEST(late data goes to the side output when a tag is given) {
  opts_t opts;
  opts.late_data_tag = output_tag<event>{"late"};
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts, sum)};
  auto& late = h.side_output(*opts.late_data_tag);
  h.open();
  h.process_element({"a", 1}, 5);
  h.process_watermark(9);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@9"});
  h.process_element({"a", 2}, 9);  // window [0, 10) is gone
  h.process_element({"a", 3}, 10); // window [10, 20) is on time
  CAF_CHECK_EQUAL(take(late), svec{"a:2@9"});
  CAF_CHECK_EQUAL(stats(h.op()).late_records_dropped(), 0u);
  h.process_watermark(19);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@19"});
}

CAF_TEST(late data without a tag is dropped and counted) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, sliding_event_time_windows::of(10, 5), opts_t{}, sum)};
  h.open();
  h.process_watermark(9);
  h.process_element({"a", 1}, 7);  // [0, 10) late, [5, 15) on time: kept
  h.process_element({"a", 2}, 3);  // [-5, 5) and [0, 10) late: dropped
  h.process_element({"a", 2}, -1); // late too
  CAF_CHECK_EQUAL(stats(h.op()).late_records_dropped(), 2u);
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@14"});
}

CAF_TEST(the late data side output is declared by the constructor) {
  opts_t opts;
  opts.late_data_tag = output_tag<event>{"late"};
  auto op = make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts, sum);
  libstream::testing::capture<event> sink;
  op->connect("late", sink); // must not throw: declared already
  CAF_CHECK(true);
  auto plain = make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts_t{}, sum);
  bool threw = false;
  try {
    plain->connect("late", sink);
  } catch (const std::logic_error&) {
    threw = true;
  }
  CAF_CHECK(threw);
}

CAF_TEST(window state and timers are cleaned up after firing) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts_t{}, sum)};
  h.open();
  auto& st = stats(h.op());
  for (int i = 0; i < 50; ++i)
    h.process_element({"k" + std::to_string(i % 5), 1}, i);
  // 5 keys x 5 windows, one timer each (lateness 0: trigger = cleanup).
  CAF_CHECK_EQUAL(st.window_state_count(), 25u);
  CAF_CHECK_EQUAL(st.event_timer_count(), 25u);
  h.process_watermark(29);
  CAF_CHECK_EQUAL(h.output().records.size(), 15u);
  CAF_CHECK_EQUAL(st.window_state_count(), 10u);
  CAF_CHECK_EQUAL(st.event_timer_count(), 10u);
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(h.output().records.size(), 25u);
  CAF_CHECK_EQUAL(st.window_state_count(), 0u);
  CAF_CHECK_EQUAL(st.event_timer_count(), 0u);
}

// -- global windows and triggers
// -----------------------------------------------

using gopts_t = window_options<global_window, event>;

CAF_TEST(global window with a count trigger) {
  gopts_t opts;
  opts.trigger = [] { return count_trigger<global_window>::of(3); };
  one_input_harness<event, event> h{
      make_reduce_window_operator(by_key, global_windows::create(), opts, sum)};
  h.open();
  for (int64_t i = 1; i <= 7; ++i)
    h.process_element({"a", i}, i);
  h.process_element({"b", 100}, 1);
  // Fires after 3 and 6 elements; the contents stay (no purge).
  CAF_CHECK_EQUAL(take(h.output()),
                  (svec{"a:6@" + std::to_string(max_watermark),
                        "a:21@" + std::to_string(max_watermark)}));
  h.process_watermark(max_watermark);
  h.end_input();
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  CAF_CHECK(h.output().ended);
}

CAF_TEST(global window with a purging count trigger) {
  gopts_t opts;
  opts.trigger = [] {
    return purging_trigger<global_window>::of(
        count_trigger<global_window>::of(3));
  };
  one_input_harness<event, event> h{
      make_reduce_window_operator(by_key, global_windows::create(), opts, sum)};
  h.open();
  for (int64_t i = 1; i <= 7; ++i)
    h.process_element({"a", i}, i);
  auto m = std::to_string(max_watermark);
  CAF_CHECK_EQUAL(take(h.output()), (svec{"a:6@" + m, "a:15@" + m}));
}

CAF_TEST(global windows without a trigger never fire) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, global_windows::create(), gopts_t{}, sum)};
  h.open();
  h.process_element({"a", 1}, 1);
  h.process_watermark(max_watermark);
  h.end_input();
  CAF_CHECK_EQUAL(take(h.output()), svec{});
}

namespace {

/// Fires early at window start + 5 (keeping the contents), and at the end of
/// the window fires and purges. Counts its early firings in trigger state.
class early_trigger final : public trigger<time_window> {
public:
  trigger_result on_element(timestamp, const time_window& w,
                            context& ctx) override {
    ctx.register_event_time_timer(w.max_timestamp());
    if (w.start + 5 > ctx.current_watermark())
      ctx.register_event_time_timer(w.start + 5);
    return trigger_result::continue_;
  }
  trigger_result on_event_time(timestamp time, const time_window& w,
                               context& ctx) override {
    if (time == w.max_timestamp())
      return trigger_result::fire_and_purge;
    ++ctx.state("early");
    early_seen = ctx.state("early");
    return trigger_result::fire;
  }
  trigger_result on_processing_time(timestamp, const time_window&,
                                    context&) override {
    return trigger_result::continue_;
  }
  void clear(const time_window& w, context& ctx) override {
    ctx.delete_event_time_timer(w.max_timestamp());
    ctx.delete_event_time_timer(w.start + 5);
    ctx.clear_state("early");
    ++cleared;
  }
  int64_t early_seen = 0;
  int cleared = 0;
};

} // namespace

CAF_TEST(custom trigger with early firings) {
  auto trig = std::make_shared<early_trigger>();
  opts_t opts;
  opts.trigger = [trig] { return trig; }; // one subtask: one trigger
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts, sum)};
  h.open();
  h.process_element({"a", 1}, 1);
  h.process_element({"a", 2}, 2);
  h.process_watermark(5);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@9"});
  CAF_CHECK_EQUAL(trig->early_seen, 1);
  h.process_element({"a", 4}, 7);
  h.process_watermark(9);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:7@9"});
  CAF_CHECK_EQUAL(trig->cleared, 1); // cleanup at 9 + lateness 0
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 0u);
  CAF_CHECK_EQUAL(stats(h.op()).event_timer_count(), 0u);
}

// -- processing time
// ------------------------------------------------------------

CAF_TEST(processing time windows fire from the processing clock) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_processing_time_windows::of(10), opts_t{}, sum)};
  h.open();
  h.set_processing_time(3);
  h.process_element({"a", 1}, no_timestamp);
  h.process_element({"a", 2}, 12345); // the element time plays no role
  h.set_processing_time(8);
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  h.process_watermark(max_watermark); // watermarks do not fire them
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  h.set_processing_time(9); // the clock reached the max timestamp (Flink)
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@9"});
  h.set_processing_time(10);
  h.process_element({"a", 7}, 0);
  h.set_processing_time(19);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:7@19"});
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 0u);
  CAF_CHECK_EQUAL(stats(h.op()).processing_timer_count(), 0u);
}

CAF_TEST(processing time windows fire at end of input) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, sliding_processing_time_windows::of(10, 5), opts_t{}, sum)};
  h.open();
  h.set_processing_time(12);
  h.process_element({"a", 5}, 0); // [10, 20) and [5, 15)
  h.process_element({"b", 1}, 0);
  h.process_watermark(max_watermark);
  h.end_input();
  CAF_CHECK_EQUAL(take(h.output()),
                  (svec{"a:5@14", "b:1@14", "a:5@19", "b:1@19"}));
  CAF_CHECK(h.output().ended);
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 0u);
}

// -- end of input
// ---------------------------------------------------------------

CAF_TEST(end of input fires every event time window) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts_t{}, sum)};
  h.open();
  h.process_element({"a", 1}, 5);
  h.process_element({"a", 2}, 1005);
  h.process_element({"b", 3}, -5);
  h.process_watermark(max_watermark); // what a bounded source sends
  h.end_input();
  CAF_CHECK_EQUAL(take(h.output()), (svec{"b:3@-1", "a:1@9", "a:2@1009"}));
  CAF_CHECK_EQUAL(h.output().watermarks.back(), max_watermark);
  CAF_CHECK(h.output().ended);
}

CAF_TEST(end of input without final watermark still fires) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts_t{}, sum)};
  h.open();
  h.process_element({"a", 1}, 5);
  h.end_input();
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@9"});
}

// -- keys and key groups
// ----------------------------------------------------------

CAF_TEST(many keys on subtask 1 of 2) {
  constexpr int parallelism = 2;
  constexpr int max_par = 128;
  // The keys that hash into subtask 1's key groups.
  std::vector<std::string> keys;
  std::string foreign;
  for (int i = 0; keys.size() < 40; ++i) {
    auto k = "key-" + std::to_string(i);
    auto kg = key_group_of(k, max_par);
    if (subtask_of_key_group(kg, parallelism, max_par) == 1)
      keys.push_back(k);
    else if (foreign.empty())
      foreign = k;
  }
  one_input_harness<event, event> h{
      make_reduce_window_operator(by_key, tumbling_event_time_windows::of(10),
                                  opts_t{}, sum),
      1, parallelism, max_par};
  h.open();
  std::map<std::string, int64_t> expected;
  record_batch<event> batch;
  for (int64_t i = 0; i < 400; ++i) {
    auto& k = keys[static_cast<size_t>(i) % keys.size()];
    expected[k] += i;
    batch.push_back(record<event>{event{k, i}, i % 10});
  }
  h.process_batch(batch);
  h.process_watermark(9);
  std::vector<std::string> want;
  for (auto& [k, v] : expected)
    want.push_back(k + ":" + std::to_string(v) + "@9");
  CAF_CHECK_EQUAL(sorted(take(h.output())), sorted(want));
  // A key of another subtask's key groups is a routing error.
  bool threw = false;
  try {
    h.process_element({foreign, 1}, 100);
  } catch (const std::out_of_range&) {
    threw = true;
  }
  CAF_CHECK(threw);
}

// -- wrong usage
// ------------------------------------------------------------------

CAF_TEST(invalid options are rejected) {
  opts_t negative;
  negative.allowed_lateness = -1;
  auto msg = invalid_argument_of([&] {
    make_reduce_window_operator(by_key, tumbling_event_time_windows::of(10),
                                negative, sum);
  });
  CAF_CHECK(contains(msg, "allowed lateness must not be negative"));
  msg = invalid_argument_of([&] {
    make_process_window_operator<std::string, event, std::string>(
        by_key, tumbling_event_time_windows::of(10), opts_t{}, nullptr);
  });
  CAF_CHECK(contains(msg, "process window function is null"));
  msg = invalid_argument_of([&] {
    make_reduce_window_operator(key_selector<event, std::string>{},
                                tumbling_event_time_windows::of(10), opts_t{},
                                sum);
  });
  CAF_CHECK(contains(msg, "key selector is empty"));
  opts_t custom;
  custom.trigger = [] { return std::make_shared<early_trigger>(); };
  msg = invalid_argument_of([&] {
    make_reduce_window_operator(
        by_key, event_time_session_windows::with_gap(10), custom, sum);
  });
  CAF_CHECK(contains(msg, "cannot merge"));
}

CAF_TEST(records without timestamps fail event time windows) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), opts_t{}, sum)};
  h.open();
  auto msg = invalid_argument_of([&] {
    h.process_element({"a", 1}, no_timestamp);
  });
  CAF_CHECK(contains(msg, "no timestamp"));
}
