#define CAF_SUITE evictors
#include "caf/test/unit_test.hpp"

// Evictors on windows: count, time, delta and custom, before and after the
// window function, with process, reduce and aggregate functions; through
// the operator harness, and end to end (sliding count windows) against a
// plain loop.

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libstream/libstream.hpp"
#include "libstream/testing/harness.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;
using libstream::testing::one_input_harness;

namespace {

struct reading {
  int64_t key = 0;
  int64_t value = 0;
};

} // namespace

template <>
struct libstream::codec<reading>
    : member_codec<reading, &reading::key, &reading::value> {};

namespace {

using opts_t = window_options<time_window, reading>;
using gopts_t = window_options<global_window, reading>;

key_selector<reading, int64_t> by_key{[](const reading& r) { return r.key; }};

/// "v1 v2 ...@window max timestamp" of the elements a window hands over.
template <class W>
struct list_values final
    : process_window_function<int64_t, reading, std::string, W> {
  using context =
      typename process_window_function<int64_t, reading, std::string,
                                       W>::context;
  void process(const int64_t&, const context& ctx,
               const std::vector<reading>& xs,
               collector<std::string>& out) override {
    std::string s;
    for (auto& x : xs)
      s += (s.empty() ? "" : " ") + std::to_string(x.value);
    out.collect(s + "@" + std::to_string(ctx.window().max_timestamp()));
  }
};

template <class E>
opts_t with(E e) {
  opts_t o;
  o.evictor = [e] { return e.template make<reading, time_window>(); };
  return o;
}

/// A tumbling window [0, 10) of key 1 holding values 1..n at times 1..n,
/// fired by the watermark; what the process function saw.
template <class E>
std::vector<std::string> fired(E e, int64_t n = 9) {
  one_input_harness<reading, std::string> h{
      make_process_window_operator<int64_t, reading, std::string>(
          by_key, tumbling_event_time_windows::of(10), with(e),
          std::make_unique<list_values<time_window>>())};
  h.open();
  for (int64_t v = 1; v <= n; ++v)
    h.process_element(reading{1, v}, v);
  h.process_watermark(9);
  return h.take_output();
}

double distance(const reading& a, const reading& b) {
  return std::abs(static_cast<double>(a.value - b.value));
}

} // namespace

CAF_TEST(built in evictors remove elements before the window function) {
  CAF_CHECK_EQUAL(fired(count_evictor::of(3)),
                  (std::vector<std::string>{"7 8 9@9"}));
  CAF_CHECK_EQUAL(fired(count_evictor::of(20)),
                  (std::vector<std::string>{"1 2 3 4 5 6 7 8 9@9"}));
  // Newest at 9: at or before 9 - 4 = 5 goes.
  CAF_CHECK_EQUAL(fired(time_evictor::of(4)),
                  (std::vector<std::string>{"6 7 8 9@9"}));
  // Distance to the last element (9) of 3 or more goes.
  CAF_CHECK_EQUAL(fired(delta_evictor::of(3.0, distance)),
                  (std::vector<std::string>{"7 8 9@9"}));
  // Evicting after the function: it saw everything.
  CAF_CHECK_EQUAL(fired(count_evictor::of(3, true)),
                  (std::vector<std::string>{"1 2 3 4 5 6 7 8 9@9"}));
  CAF_CHECK(throws<std::invalid_argument>([] { count_evictor::of(0); },
                                         "at least one"));
  CAF_CHECK(throws<std::invalid_argument>([] { time_evictor::of(-1); },
                                         "negative"));
}

// Global windows with a count trigger (every 2 elements, no purge) and a
// count evictor of 3: Flink's sliding count window countWindow(3, 2). An
// evictor after the function instead keeps 2 for the next firing.
CAF_TEST(an evictor keeps what is left in the window for the next firing) {
  auto run = [](bool after) {
    gopts_t o;
    o.trigger = [] { return std::make_shared<count_trigger<global_window>>(2); };
    o.evictor = [after] {
      return count_evictor::of(after ? 2 : 3, after)
          .make<reading, global_window>();
    };
    one_input_harness<reading, std::string> h{
        make_process_window_operator<int64_t, reading, std::string>(
            by_key, global_windows::create(), o,
            std::make_unique<list_values<global_window>>())};
    h.open();
    for (int64_t v = 1; v <= 6; ++v)
      h.process_element(reading{1, v}, v);
    return h.take_output();
  };
  auto max = std::to_string(max_watermark);
  CAF_CHECK_EQUAL(run(false), (std::vector<std::string>{
                                  "1 2@" + max, "2 3 4@" + max,
                                  "4 5 6@" + max}));
  CAF_CHECK_EQUAL(run(true), (std::vector<std::string>{
                                 "1 2@" + max, "1 2 3 4@" + max,
                                 "3 4 5 6@" + max}));
}

namespace {

/// Removes odd values after the function, and counts its calls.
struct drop_odd final : evictor<reading, time_window> {
  void evict_after(std::vector<timestamped_value<reading>>& xs,
                   const time_window&, const evictor_context&) override {
    std::vector<timestamped_value<reading>> kept;
    for (auto& x : xs)
      if (x.value.value % 2 == 0)
        kept.push_back(x);
    xs.swap(kept);
  }
};

struct sum_values {
  using input_type = reading;
  using accumulator_type = int64_t;
  using output_type = int64_t;
  int64_t create_accumulator() const { return 0; }
  void add(const reading& r, int64_t& acc) const { acc += r.value; }
  int64_t get_result(const int64_t& acc) const { return acc; }
  void merge(int64_t& a, const int64_t& b) const { a += b; }
};

} // namespace

// Reduce and aggregate run over what the evictor left; a custom evictor
// after the function shapes the next (late) firing: allowed lateness
// keeps the window, a late element fires it again.
CAF_TEST(reduce and aggregate run over the elements left) {
  one_input_harness<reading, reading> r{make_reduce_window_operator(
      by_key, tumbling_event_time_windows::of(10), with(count_evictor::of(2)),
      [](const reading& a, const reading& b) {
        return reading{a.key, a.value + b.value};
      })};
  r.open();
  for (int64_t v = 1; v <= 5; ++v)
    r.process_element(reading{1, v}, v);
  r.process_watermark(9);
  auto reduced = r.take_output();
  CAF_REQUIRE_EQUAL(reduced.size(), 1u);
  CAF_CHECK_EQUAL(reduced[0].value, 9); // 4 + 5
  opts_t o;
  o.allowed_lateness = 100;
  o.evictor = [] { return std::make_unique<drop_odd>(); };
  one_input_harness<reading, int64_t> a{make_aggregate_window_operator(
      by_key, tumbling_event_time_windows::of(10), o, sum_values{})};
  a.open();
  for (int64_t v = 1; v <= 5; ++v)
    a.process_element(reading{1, v}, v);
  a.process_watermark(9);
  CAF_CHECK_EQUAL(a.take_output(), (std::vector<int64_t>{15}));
  a.process_element(reading{1, 10}, 3); // late, within the lateness
  CAF_CHECK_EQUAL(a.take_output(), (std::vector<int64_t>{16})); // 2 + 4 + 10
}

namespace {

/// Fires on every element, and registers an event-time timer at the
/// window's end that fires too.
struct fire_always final : trigger<time_window> {
  trigger_result on_element(timestamp, const time_window& w,
                            context& ctx) override {
    ctx.register_event_time_timer(w.max_timestamp());
    return trigger_result::fire;
  }
  trigger_result on_event_time(timestamp, const time_window&,
                               context&) override {
    return trigger_result::fire;
  }
  trigger_result on_processing_time(timestamp, const time_window&,
                                    context&) override {
    return trigger_result::continue_;
  }
  void clear(const time_window& w, context& ctx) override {
    ctx.delete_event_time_timer(w.max_timestamp());
  }
};

/// Evicts everything after the function.
struct evict_all final : evictor<reading, time_window> {
  void evict_after(std::vector<timestamped_value<reading>>& xs,
                   const time_window&, const evictor_context&) override {
    xs.clear();
  }
};

} // namespace

// A window the evictor emptied has no contents: a later firing of its
// trigger does not call the function with nothing (as Flink, whose
// emptied list state is gone).
CAF_TEST(a window an evictor emptied does not fire empty) {
  opts_t o;
  o.trigger = [] { return std::make_shared<fire_always>(); };
  o.evictor = [] { return std::make_unique<evict_all>(); };
  one_input_harness<reading, std::string> h{
      make_process_window_operator<int64_t, reading, std::string>(
          by_key, tumbling_event_time_windows::of(10), o,
          std::make_unique<list_values<time_window>>())};
  h.open();
  h.process_element(reading{1, 1}, 1);
  h.process_element(reading{1, 2}, 2);
  CAF_CHECK_EQUAL(h.take_output(), (std::vector<std::string>{"1@9", "2@9"}));
  h.process_watermark(9); // the timer fires: nothing left
  CAF_CHECK(h.take_output().empty());
}

// Sliding count windows through the API: countWindow(4, 2) per key as
// global windows, a count trigger and a count evictor, at parallelism 1, 2
// and 4 against a plain loop.
CAF_TEST(sliding count windows with an evictor equal a plain loop) {
  std::map<int64_t, std::vector<int64_t>> by;
  std::vector<reading> input;
  for (int64_t i = 0; i < 5000; ++i) {
    reading r{(i * 7919) % 13, i};
    input.push_back(r);
    by[r.key].push_back(r.value);
  }
  std::vector<std::string> want;
  for (auto& [key, xs] : by)
    for (size_t n = 2; n <= xs.size(); n += 2) {
      int64_t sum = 0;
      for (size_t i = n >= 4 ? n - 4 : 0; i < n; ++i)
        sum += xs[i];
      want.push_back(std::to_string(key) + ":" + std::to_string(sum));
    }
  std::sort(want.begin(), want.end());
  for (int p : {1, 2, 4}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<std::string>>();
    // One source subtask: each key's elements arrive in input order.
    env.from_collection(input)
        .key_by([](const reading& r) { return r.key; })
        .window(global_windows::create())
        .trigger([] { return std::make_shared<count_trigger<global_window>>(2); })
        .evictor(count_evictor::of(4))
        .reduce([](const reading& a, const reading& b) {
          return reading{a.key, a.value + b.value};
        })
        .map([](const reading& r) {
          return std::to_string(r.key) + ":" + std::to_string(r.value);
        })
        .collect_into(out);
    CAF_REQUIRE(env.execute("count windows").status == job_status::finished);
    auto got = out->values();
    std::sort(got.begin(), got.end());
    CAF_CHECK_EQUAL(got.size(), want.size());
    CAF_CHECK(got == want);
  }
}
