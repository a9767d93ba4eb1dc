#define CAF_SUITE window_assigners
#include "caf/test/unit_test.hpp"

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "libstream/window/assigners.hpp"
#include "libstream/window/triggers.hpp"
#include "libstream/window/window.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

/// The windows of `size` and `slide` (offset) containing `ts`, by brute
/// force over every window start: the expectation for the assigners.
std::vector<time_window> brute_force(timestamp ts, duration_ms size,
                                     duration_ms slide, duration_ms offset) {
  std::vector<time_window> result;
  for (timestamp k = 1000; k >= -1000; --k) {
    auto start = k * slide + offset;
    if (start <= ts && ts < start + size)
      result.push_back(time_window{start, start + size});
  }
  return result;
}

/// The one window of `ws`, by value (the list is a temporary).
time_window only(const window_list<time_window>& ws) {
  CAF_REQUIRE_EQUAL(ws.size(), 1u);
  return ws[0];
}

} // namespace

// -- windows ------------------------------------------------------------------

CAF_TEST(time windows are half open and touching windows intersect) {
  time_window w{10, 20};
  CAF_CHECK_EQUAL(w.max_timestamp(), 19);
  CAF_CHECK(w.intersects(time_window{19, 25}));
  CAF_CHECK(w.intersects(time_window{20, 30})); // touching merges (Flink)
  CAF_CHECK(w.intersects(time_window{0, 10}));
  CAF_CHECK(!w.intersects(time_window{21, 30}));
  CAF_CHECK(!w.intersects(time_window{0, 9}));
  CAF_CHECK_EQUAL(w.cover(time_window{15, 40}), (time_window{10, 40}));
  CAF_CHECK_EQUAL(w.cover(time_window{0, 12}), (time_window{0, 20}));
  CAF_CHECK(time_window{0, 10} < time_window{0, 11});
  CAF_CHECK(time_window{0, 10} < time_window{1, 2});
  CAF_CHECK(!(time_window{1, 2} < time_window{1, 2}));
  CAF_CHECK(time_window{1, 2} == time_window{1, 2});
  CAF_CHECK(time_window{1, 2} != time_window{1, 3});
  std::hash<time_window> h;
  CAF_CHECK_EQUAL(h(time_window{5, 9}), h(time_window{5, 9}));
  CAF_CHECK_NOT_EQUAL(h(time_window{5, 9}), h(time_window{9, 5}));
}

CAF_TEST(there is one global window and it never ends) {
  CAF_CHECK(global_window{} == global_window::get());
  CAF_CHECK(!(global_window{} < global_window{}));
  CAF_CHECK_EQUAL(global_window{}.max_timestamp(), max_watermark);
  CAF_CHECK_EQUAL(std::hash<global_window>{}(global_window{}),
                  std::hash<global_window>{}(global_window::get()));
}

CAF_TEST(cleanup time saturates at the final watermark) {
  CAF_CHECK_EQUAL(saturating_add(100, 50), 150);
  CAF_CHECK_EQUAL(saturating_add(max_watermark, 50), max_watermark);
  CAF_CHECK_EQUAL(saturating_add(max_watermark - 10, 50), max_watermark);
  CAF_CHECK_EQUAL(saturating_add(max_watermark, 0), max_watermark);
}

// -- tumbling -----------------------------------------------------------------

CAF_TEST(tumbling windows : an element at a window end belongs to the next) {
  auto a = tumbling_event_time_windows::of(10);
  CAF_CHECK_EQUAL(a.assign(0, 0).to_vector(),
                  (std::vector<time_window>{time_window{0, 10}}));
  CAF_CHECK_EQUAL(a.assign(9, 0).to_vector(),
                  (std::vector<time_window>{time_window{0, 10}}));
  CAF_CHECK_EQUAL(a.assign(10, 0).to_vector(),
                  (std::vector<time_window>{time_window{10, 20}}));
  CAF_CHECK(a.is_event_time());
  CAF_CHECK(!a.is_merging());
}

CAF_TEST(tumbling windows with negative timestamps round down) {
  auto a = tumbling_event_time_windows::of(10);
  CAF_CHECK_EQUAL(only(a.assign(-1, 0)), (time_window{-10, 0}));
  CAF_CHECK_EQUAL(only(a.assign(-10, 0)), (time_window{-10, 0}));
  CAF_CHECK_EQUAL(only(a.assign(-11, 0)), (time_window{-20, -10}));
  CAF_CHECK_EQUAL(window_start_with_offset(-15, 0, 10), -20);
  CAF_CHECK_EQUAL(window_start_with_offset(-15, 3, 10), -17);
}

CAF_TEST(tumbling windows with offsets) {
  auto a = tumbling_event_time_windows::of(10, 3);
  CAF_CHECK_EQUAL(only(a.assign(2, 0)), (time_window{-7, 3}));
  CAF_CHECK_EQUAL(only(a.assign(3, 0)), (time_window{3, 13}));
  auto b = tumbling_event_time_windows::of(10, -3);
  CAF_CHECK_EQUAL(only(b.assign(0, 0)), (time_window{-3, 7}));
  CAF_CHECK_EQUAL(only(b.assign(7, 0)), (time_window{7, 17}));
}

CAF_TEST(tumbling windows agree with brute force) {
  for (duration_ms size : {1, 3, 7, 10}) {
    for (duration_ms offset = -(size - 1); offset < size; ++offset) {
      auto a = tumbling_event_time_windows::of(size, offset);
      for (timestamp ts = -40; ts <= 40; ++ts) {
        auto expected = brute_force(ts, size, size, offset);
        CAF_REQUIRE_EQUAL(expected.size(), 1u);
        CAF_CHECK_EQUAL(a.assign(ts, 0).to_vector(), expected);
      }
    }
  }
}

// -- sliding ------------------------------------------------------------------

CAF_TEST(sliding windows : latest start first) {
  auto a = sliding_event_time_windows::of(10, 5);
  CAF_CHECK_EQUAL(a.assign(7, 0).to_vector(),
                  (std::vector<time_window>{{5, 15}, {0, 10}}));
  CAF_CHECK_EQUAL(a.assign(10, 0).to_vector(),
                  (std::vector<time_window>{{10, 20}, {5, 15}}));
  CAF_CHECK_EQUAL(a.assign(-1, 0).to_vector(),
                  (std::vector<time_window>{{-5, 5}, {-10, 0}}));
}

CAF_TEST(sliding windows agree with brute force) {
  struct params {
    duration_ms size, slide, offset;
  };
  // Includes size < slide (gaps), size not a multiple of slide, and more
  // windows per element than the small vector holds inline.
  for (auto p :
       {params{10, 5, 0}, params{10, 3, 0}, params{10, 3, 2}, params{5, 10, 0},
        params{10, 1, 0}, params{7, 2, -1}, params{6, 6, 0}}) {
    auto a = sliding_event_time_windows::of(p.size, p.slide, p.offset);
    for (timestamp ts = -30; ts <= 30; ++ts) {
      auto expected = brute_force(ts, p.size, p.slide, p.offset);
      CAF_CHECK_EQUAL(a.assign(ts, 0).to_vector(), expected);
    }
  }
}

CAF_TEST(sliding windows with gaps assign nothing between windows) {
  auto a = sliding_event_time_windows::of(5, 10);
  CAF_CHECK(a.assign(7, 0).empty());
  CAF_CHECK_EQUAL(a.assign(4, 0).to_vector(),
                  (std::vector<time_window>{time_window{0, 5}}));
}

// -- sessions -----------------------------------------------------------------

CAF_TEST(session windows open one gap long window per element) {
  auto a = event_time_session_windows::with_gap(10);
  CAF_CHECK_EQUAL(a.assign(5, 1000).to_vector(),
                  (std::vector<time_window>{time_window{5, 15}}));
  CAF_CHECK_EQUAL(a.assign(-5, 1000).to_vector(),
                  (std::vector<time_window>{time_window{-5, 5}}));
  CAF_CHECK(a.is_event_time());
  CAF_CHECK(a.is_merging());
}

// -- processing time ----------------------------------------------------------

CAF_TEST(processing time assigners use the clock not the element time) {
  auto t = tumbling_processing_time_windows::of(10);
  CAF_CHECK_EQUAL(t.assign(no_timestamp, 23).to_vector(),
                  (std::vector<time_window>{time_window{20, 30}}));
  CAF_CHECK(!t.is_event_time());
  auto s = sliding_processing_time_windows::of(10, 5);
  CAF_CHECK_EQUAL(s.assign(1, 23).to_vector(),
                  (std::vector<time_window>{{20, 30}, {15, 25}}));
  auto p = processing_time_session_windows::with_gap(7);
  CAF_CHECK_EQUAL(p.assign(1, 23).to_vector(),
                  (std::vector<time_window>{time_window{23, 30}}));
  CAF_CHECK(p.is_merging());
  CAF_CHECK(!p.is_event_time());
}

CAF_TEST(global windows) {
  auto g = global_windows::create();
  CAF_CHECK_EQUAL(g.assign(5, 6).size(), 1u);
  CAF_CHECK(!g.is_merging());
}

// -- default triggers ---------------------------------------------------------

CAF_TEST(default triggers follow the time domain) {
  auto et = tumbling_event_time_windows::of(10).default_trigger();
  CAF_CHECK(dynamic_cast<event_time_trigger<time_window>*>(et.get())
            != nullptr);
  auto pt = tumbling_processing_time_windows::of(10).default_trigger();
  CAF_CHECK(dynamic_cast<processing_time_trigger<time_window>*>(pt.get())
            != nullptr);
  auto st = event_time_session_windows::with_gap(3).default_trigger();
  CAF_CHECK(st->can_merge());
  auto gt = global_windows::create().default_trigger();
  CAF_CHECK(dynamic_cast<never_trigger<global_window>*>(gt.get()) != nullptr);
}

// -- wrong usage --------------------------------------------------------------

CAF_TEST(invalid sizes slides gaps and offsets are rejected) {
  auto msg = invalid_argument_of([] { tumbling_event_time_windows::of(0); });
  CAF_CHECK(contains(msg, "window size must be positive"));
  msg = invalid_argument_of([] { tumbling_event_time_windows::of(-5); });
  CAF_CHECK(contains(msg, "-5"));
  msg = invalid_argument_of([] { tumbling_event_time_windows::of(10, 10); });
  CAF_CHECK(contains(msg, "|offset| < size"));
  msg = invalid_argument_of([] { tumbling_event_time_windows::of(10, -10); });
  CAF_CHECK(contains(msg, "|offset| < size"));
  msg = invalid_argument_of([] { tumbling_processing_time_windows::of(0); });
  CAF_CHECK(contains(msg, "tumbling_processing_time_windows"));
  msg = invalid_argument_of([] { sliding_event_time_windows::of(10, 0); });
  CAF_CHECK(contains(msg, "slide must be positive"));
  msg = invalid_argument_of([] { sliding_event_time_windows::of(0, 5); });
  CAF_CHECK(contains(msg, "window size must be positive"));
  msg = invalid_argument_of([] { sliding_event_time_windows::of(10, 5, 5); });
  CAF_CHECK(contains(msg, "|offset| < slide"));
  msg = invalid_argument_of(
      [] { sliding_processing_time_windows::of(10, -1); });
  CAF_CHECK(contains(msg, "slide must be positive"));
  msg = invalid_argument_of([] { event_time_session_windows::with_gap(0); });
  CAF_CHECK(contains(msg, "session gap must be positive"));
  msg = invalid_argument_of(
      [] { processing_time_session_windows::with_gap(-3); });
  CAF_CHECK(contains(msg, "session gap must be positive"));
  msg = invalid_argument_of([] { count_trigger<global_window>::of(0); });
  CAF_CHECK(contains(msg, "count must be positive"));
  msg = invalid_argument_of(
      [] { purging_trigger<global_window>::of(nullptr); });
  CAF_CHECK(contains(msg, "null"));
  // Valid arguments do not throw.
  CAF_CHECK_EQUAL(
      invalid_argument_of([] { sliding_event_time_windows::of(10, 3, -2); }),
      "<no exception>");
}

CAF_TEST(event time assigners reject records without timestamp) {
  auto msg = invalid_argument_of(
      [] { tumbling_event_time_windows::of(10).assign(no_timestamp, 0); });
  CAF_CHECK(contains(msg, "no timestamp"));
  msg = invalid_argument_of(
      [] { event_time_session_windows::with_gap(10).assign(no_timestamp, 0); });
  CAF_CHECK(contains(msg, "no timestamp"));
}
