#define CAF_SUITE session_windows
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/testing/harness.hpp"
#include "libstream/window/window_operator.hpp"
#include "window_fixtures.hpp"

using namespace libstream;
using libstream::testing::one_input_harness;
using namespace libstream::test;

namespace {

template <class T>
svec take(libstream::testing::capture<T>& c) {
  svec result;
  for (auto& r : c.records)
    result.push_back(r.value.key + ":" + std::to_string(r.value.value) + "@"
                     + std::to_string(r.ts));
  c.records.clear();
  return result;
}

window_operator_base& stats(operator_base& op) {
  return dynamic_cast<window_operator_base&>(op);
}

using acc_t = std::pair<int64_t, int64_t>; // count, sum

struct count_sum_agg : aggregate_function<event, acc_t, std::string> {
  acc_t create_accumulator() const { return {0, 0}; }
  void add(const event& e, acc_t& acc) const {
    acc.first += 1;
    acc.second += e.value;
  }
  std::string get_result(const acc_t& acc) const {
    return "n=" + std::to_string(acc.first)
           + " sum=" + std::to_string(acc.second);
  }
  void merge(acc_t& into, const acc_t& from) const {
    ++merges;
    into.first += from.first;
    into.second += from.second;
  }
  static inline int merges = 0;
};

/// Emits "key [start, end) v1,v2,..." with the values sorted.
struct list_window
    : process_window_function<std::string, event, std::string, time_window> {
  void process(const std::string& key, const context& ctx,
               const std::vector<event>& elements,
               collector<std::string>& out) override {
    std::vector<int64_t> vs;
    for (auto& e : elements)
      vs.push_back(e.value);
    std::sort(vs.begin(), vs.end());
    std::string s = key + " " + to_string(ctx.window()) + " ";
    for (size_t i = 0; i < vs.size(); ++i)
      s += (i > 0 ? "," : "") + std::to_string(vs[i]);
    out.collect(s);
  }
};

std::unique_ptr<operator_base> session_sum(duration_ms gap, opts_t opts = {}) {
  return make_reduce_window_operator(
      by_key, event_time_session_windows::with_gap(gap), std::move(opts), sum);
}

} // namespace

// -- merging ------------------------------------------------------------------

CAF_TEST(overlapping sessions merge and move their timer) {
  one_input_harness<event, event> h{session_sum(10)};
  h.open();
  auto& st = stats(h.op());
  h.process_element({"a", 1}, 0);  // [0, 10)
  h.process_element({"a", 2}, 5);  // [5, 15) -> [0, 15)
  h.process_element({"a", 4}, 30); // [30, 40)
  CAF_CHECK_EQUAL(st.window_state_count(), 2u);
  CAF_CHECK_EQUAL(st.event_timer_count(), 2u); // 14 and 39, not 9
  h.process_watermark(9);
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  h.process_watermark(14);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@14"});
  h.process_watermark(39);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:4@39"});
  CAF_CHECK_EQUAL(st.window_state_count(), 0u);
  CAF_CHECK_EQUAL(st.event_timer_count(), 0u);
}

CAF_TEST(an element inside a session does not extend it) {
  one_input_harness<event, event> h{session_sum(10)};
  h.open();
  h.process_element({"a", 1}, 0);
  h.process_element({"a", 2}, 8); // [8, 18) -> [0, 18)
  h.process_element({"a", 4}, 3); // [3, 13) inside [0, 18)
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 1u);
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:7@17"});
}

CAF_TEST(touching sessions merge as in Flink) {
  one_input_harness<event, event> h{session_sum(10)};
  h.open();
  h.process_element({"a", 1}, 0);  // [0, 10)
  h.process_element({"a", 2}, 10); // [10, 20) touches
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@19"});
}

CAF_TEST(an out of order element bridges two sessions) {
  one_input_harness<event, event> h{session_sum(10)};
  h.open();
  h.process_element({"a", 1}, 0);  // [0, 10)
  h.process_element({"a", 2}, 20); // [20, 30)
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 2u);
  h.process_element({"a", 4}, 10); // [10, 20) bridges -> [0, 30)
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 1u);
  CAF_CHECK_EQUAL(stats(h.op()).event_timer_count(), 1u);
  h.process_watermark(28);
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  h.process_watermark(29);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:7@29"});
}

CAF_TEST(sessions of different keys stay apart) {
  one_input_harness<event, event> h{session_sum(10)};
  h.open();
  h.process_element({"a", 1}, 0);
  h.process_element({"b", 2}, 5);
  h.process_element({"a", 4}, 8);   // [8, 18) merges with [0, 10)
  h.process_element({"a", 16}, 30); // [30, 40): 18 < 30, a new session
  h.process_watermark(max_watermark);
  auto got = take(h.output());
  std::sort(got.begin(), got.end());
  CAF_CHECK_EQUAL(got, (svec{"a:16@39", "a:5@17", "b:2@14"}));
}

CAF_TEST(sessions match a brute force grouping) {
  constexpr duration_ms gap = 7;
  one_input_harness<event, event> h{session_sum(gap)};
  h.open();
  // Scrambled timestamps with gaps of varying width.
  std::vector<timestamp> tss;
  for (int64_t i = 0; i < 200; ++i)
    tss.push_back((i * 7919) % 1000 / 3 * (i % 4 == 0 ? 2 : 1));
  record_batch<event> batch;
  for (auto ts : tss)
    batch.push_back(record<event>{event{"k", ts % 10 + 1}, ts});
  h.process_batch(batch);
  h.process_watermark(max_watermark);
  // Expected: sort, start a new session when an element is not within gap
  // of the session's last element ([ts, ts + gap) windows that touch merge).
  std::sort(tss.begin(), tss.end());
  svec want;
  int64_t total = 0;
  timestamp last = tss.front();
  for (size_t i = 0; i < tss.size(); ++i) {
    if (i > 0 && tss[i] > last + gap) {
      want.push_back("k:" + std::to_string(total) + "@"
                     + std::to_string(last + gap - 1));
      total = 0;
    }
    total += tss[i] % 10 + 1;
    last = tss[i];
  }
  want.push_back("k:" + std::to_string(total) + "@"
                 + std::to_string(last + gap - 1));
  CAF_CHECK_EQUAL(take(h.output()), want);
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 0u);
}

// -- lateness -----------------------------------------------------------------

CAF_TEST(a late element within lateness bridges two sessions) {
  opts_t opts;
  opts.allowed_lateness = 20;
  one_input_harness<event, event> h{session_sum(10, opts)};
  h.open();
  auto& st = stats(h.op());
  h.process_element({"a", 1}, 0);  // [0, 10)
  h.process_element({"a", 2}, 15); // [15, 25)
  h.process_watermark(9);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@9"}); // kept until 29
  CAF_CHECK_EQUAL(st.window_state_count(), 2u);
  h.process_element({"a", 4}, 8); // late; [8, 18) bridges -> [0, 25)
  CAF_CHECK_EQUAL(st.window_state_count(), 1u);
  CAF_CHECK_EQUAL(take(h.output()), svec{}); // the merged end is ahead
  h.process_watermark(24);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:7@24"});
  CAF_CHECK_EQUAL(st.window_state_count(), 1u); // until 24 + 20
  h.process_watermark(44);
  CAF_CHECK_EQUAL(st.window_state_count(), 0u);
  CAF_CHECK_EQUAL(st.event_timer_count(), 0u);
  CAF_CHECK_EQUAL(st.late_records_dropped(), 0u);
}

CAF_TEST(a late merge whose end is behind the watermark fires at once) {
  opts_t opts;
  opts.allowed_lateness = 20;
  one_input_harness<event, event> h{session_sum(10, opts)};
  h.open();
  h.process_element({"a", 1}, 0); // [0, 10)
  h.process_watermark(12);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@9"});
  h.process_element({"a", 2}, 3); // [3, 13) -> [0, 13), 12 <= watermark
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@12"});
  h.process_watermark(31);
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 1u); // until 32
  h.process_watermark(32);
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 0u);
}

CAF_TEST(late data beyond lateness goes to the side output) {
  opts_t opts;
  opts.allowed_lateness = 5;
  opts.late_data_tag = output_tag<event>{"late"};
  one_input_harness<event, event> h{session_sum(10, opts)};
  auto& late = h.side_output(*opts.late_data_tag);
  h.open();
  h.process_element({"a", 1}, 0);
  h.process_watermark(20);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:1@9"});
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 0u); // 9 + 5 <= 20
  h.process_element({"a", 2}, 4); // [4, 14): 13 + 5 <= 20, late
  h.process_element({"a", 5}, 6); // [6, 16): 15 + 5 <= 20, late
  h.process_element({"a", 3}, 7); // [7, 17): 16 + 5 > 20, on time
  CAF_CHECK_EQUAL(take(late), (svec{"a:2@4", "a:5@6"}));
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@16"}); // fires at once
  CAF_CHECK_EQUAL(stats(h.op()).late_records_dropped(), 0u);
}

CAF_TEST(late session data without a tag is counted) {
  one_input_harness<event, event> h{session_sum(10)};
  h.open();
  h.process_watermark(100);
  h.process_element({"a", 1}, 50);
  h.process_element({"a", 1}, 91); // [91, 101): 100 <= 100, late
  h.process_element({"a", 1}, 92); // [92, 102) is on time
  CAF_CHECK_EQUAL(stats(h.op()).late_records_dropped(), 2u);
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 1u);
}

// -- contents
// -------------------------------------------------------------------

CAF_TEST(merging aggregates merges the accumulators) {
  count_sum_agg::merges = 0;
  one_input_harness<event, std::string> h{make_aggregate_window_operator(
      by_key, event_time_session_windows::with_gap(10), opts_t{},
      count_sum_agg{})};
  h.open();
  h.process_element({"a", 1}, 0);
  h.process_element({"a", 3}, 20);
  h.process_element({"a", 5}, 10); // bridges: one accumulator merge
  CAF_CHECK_EQUAL(count_sum_agg::merges, 1);
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(h.output_values(), svec{"n=3 sum=9"});
  CAF_CHECK_EQUAL(h.output().records[0].ts, 29);
}

CAF_TEST(merging process windows concatenates the element lists) {
  one_input_harness<event, std::string> h{
      make_process_window_operator<std::string, event, std::string>(
          by_key, event_time_session_windows::with_gap(10), opts_t{},
          std::make_unique<list_window>())};
  h.open();
  h.process_element({"a", 1}, 0);
  h.process_element({"a", 2}, 2);
  h.process_element({"a", 3}, 20);
  h.process_element({"a", 4}, 12); // [12, 22) bridges [0, 12) and [20, 30)
  h.process_element({"b", 9}, 50);
  h.process_watermark(max_watermark);
  CAF_CHECK_EQUAL(h.output_values(),
                  (svec{"a [0, 30) 1,2,3,4", "b [50, 60) 9"}));
}

CAF_TEST(merging sums count trigger state) {
  opts_t opts;
  opts.trigger = [] { return count_trigger<time_window>::of(3); };
  one_input_harness<event, event> h{session_sum(10, opts)};
  h.open();
  h.process_element({"a", 1}, 0);  // count 1
  h.process_element({"a", 2}, 20); // count 1
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  h.process_element({"a", 4}, 10); // merged count 2, + 1 = 3: fires
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:7@29"});
}

// -- processing time
// ------------------------------------------------------------

CAF_TEST(processing time sessions merge and fire from the clock) {
  one_input_harness<event, event> h{make_reduce_window_operator(
      by_key, processing_time_session_windows::with_gap(10), opts_t{}, sum)};
  h.open();
  h.set_processing_time(0);
  h.process_element({"a", 1}, no_timestamp); // [0, 10)
  h.set_processing_time(5);
  h.process_element({"a", 2}, no_timestamp); // [5, 15) -> [0, 15)
  h.set_processing_time(9);
  CAF_CHECK_EQUAL(take(h.output()), svec{});
  h.set_processing_time(14);
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:3@14"});
  CAF_CHECK_EQUAL(stats(h.op()).window_state_count(), 0u);
  CAF_CHECK_EQUAL(stats(h.op()).processing_timer_count(), 0u);
  h.set_processing_time(30);
  h.process_element({"a", 8}, no_timestamp);
  h.end_input(); // fires what processing time holds
  CAF_CHECK_EQUAL(take(h.output()), svec{"a:8@39"});
}

// -- wrong usage
// ------------------------------------------------------------------

CAF_TEST(session gaps must be positive) {
  for (duration_ms gap : {0, -1, -1000}) {
    bool threw = false;
    try {
      session_sum(gap);
    } catch (const std::invalid_argument& e) {
      threw = std::string{e.what()}.find("gap must be positive")
              != std::string::npos;
    }
    CAF_CHECK(threw);
  }
}
