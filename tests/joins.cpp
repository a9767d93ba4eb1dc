#define CAF_SUITE joins
#include "caf/test/unit_test.hpp"

// The interval join: through the two-input harness for its edges
// (elements exactly at the bounds, exclusive bounds, late elements on
// either side, state cleaned up once the watermark passes), and end to end
// against a nested loop at parallelism 1, 2 and 4, also across a failure
// and restore from a checkpoint.

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "child_process.hpp"
#include "libstream/libstream.hpp"
#include "libstream/testing/two_input_harness.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;
using libstream::testing::two_input_harness;

namespace {

struct click {
  int64_t user = 0;
  int64_t id = 0;
};
struct view {
  int64_t user = 0;
  int64_t id = 0;
};

} // namespace

template <>
struct libstream::codec<click> : member_codec<click, &click::user, &click::id> {
};
template <>
struct libstream::codec<view> : member_codec<view, &view::user, &view::id> {};

namespace {

/// "click id/view id@result timestamp".
struct pair_up final : process_join_function<click, view, std::string> {
  void process_element(const click& c, const view& v, context& ctx,
                       collector<std::string>& out) override {
    out.collect(std::to_string(c.id) + "/" + std::to_string(v.id) + "@"
                + std::to_string(ctx.result_timestamp()));
  }
};

using harness = two_input_harness<click, view, std::string>;

std::unique_ptr<operator_base>
join_operator(interval_bounds b, std::optional<output_tag<click>> ll = {},
              std::optional<output_tag<view>> rl = {}) {
  return make_keyed_co_process_operator<int64_t, click, view, std::string>(
      [](const click& c) { return c.user; },
      [](const view& v) { return v.user; },
      std::make_unique<interval_join_function<int64_t, click, view,
                                              std::string>>(
          b, std::make_unique<pair_up>(), ll, rl));
}

std::vector<std::string> sorted(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// A click at 2 against views at 0..4 (ids = their times), with `b`.
std::vector<std::string> views_joined(interval_bounds b) {
  harness h{join_operator(b)};
  h.open();
  h.process_element1(click{1, 100}, 2);
  for (int64_t t = 0; t <= 4; ++t)
    h.process_element2(view{1, t}, t);
  return sorted(h.take_output());
}

} // namespace

CAF_TEST(elements exactly at the bounds join unless the bound is exclusive) {
  CAF_CHECK_EQUAL(views_joined({-1, 1}),
                  (std::vector<std::string>{"100/1@2", "100/2@2", "100/3@3"}));
  CAF_CHECK_EQUAL(views_joined({-1, 1, false, true}),
                  (std::vector<std::string>{"100/2@2", "100/3@3"}));
  CAF_CHECK_EQUAL(views_joined({-1, 1, true, false}),
                  (std::vector<std::string>{"100/1@2", "100/2@2"}));
  CAF_CHECK_EQUAL(views_joined({-1, 1, false, false}),
                  (std::vector<std::string>{"100/2@2"}));
  // An interval entirely before the click, and one after it.
  CAF_CHECK_EQUAL(views_joined({-2, -1}),
                  (std::vector<std::string>{"100/0@2", "100/1@2"}));
  CAF_CHECK_EQUAL(views_joined({2, 5}),
                  (std::vector<std::string>{"100/4@4"}));
  // The order of arrival does not matter: views first, then the click.
  harness h{join_operator({-1, 1})};
  h.open();
  for (int64_t t = 0; t <= 4; ++t)
    h.process_element2(view{1, t}, t);
  h.process_element2(view{2, 2}, 2); // another key
  h.process_element1(click{1, 100}, 2);
  CAF_CHECK_EQUAL(sorted(h.take_output()),
                  (std::vector<std::string>{"100/1@2", "100/2@2", "100/3@3"}));
  // Empty intervals are refused.
  CAF_CHECK(throws<std::invalid_argument>(
      [] { interval_bounds{1, 0}.inclusive(); }, "holds no time"));
  CAF_CHECK(throws<std::invalid_argument>(
      [] { interval_bounds{0, 0, false, true}.inclusive(); },
      "(0, 0] holds no time"));
}

// Late: a timestamp behind the watermark (as Flink: equal is not late).
CAF_TEST(late elements on either side are dropped or go to their side
         output) {
  output_tag<click> late_clicks{"late-clicks"};
  output_tag<view> late_views{"late-views"};
  harness h{join_operator({-5, 5}, late_clicks, late_views)};
  auto& lc = h.side_output(late_clicks);
  auto& lv = h.side_output(late_views);
  h.open();
  h.process_element1(click{1, 1}, 10);
  h.process_watermark1(10);
  h.process_watermark2(10);
  h.process_element2(view{1, 9}, 9);   // late
  h.process_element2(view{1, 10}, 10); // at the watermark: joins
  h.process_element1(click{1, 2}, 4);  // late
  CAF_CHECK_EQUAL(h.take_output(), (std::vector<std::string>{"1/10@10"}));
  auto late_views_seen = lv.values();
  auto late_clicks_seen = lc.values();
  CAF_REQUIRE_EQUAL(late_views_seen.size(), 1u);
  CAF_CHECK_EQUAL(late_views_seen[0].id, 9);
  CAF_REQUIRE_EQUAL(late_clicks_seen.size(), 1u);
  CAF_CHECK_EQUAL(late_clicks_seen[0].id, 2);
  // Without side outputs they are dropped.
  harness g{join_operator({-5, 5})};
  g.open();
  g.process_watermark1(10);
  g.process_watermark2(10);
  g.process_element1(click{1, 1}, 3);
  g.process_element2(view{1, 2}, 3);
  CAF_CHECK(g.take_output().empty());
}

namespace {

size_t keyed_state_bytes(harness& h) {
  operator_state_snapshot snap;
  h.op().snapshot_state(1, snap);
  return snap.keyed.size();
}

} // namespace

// A click at 10 with [-2, 3] can meet views up to 13: it stays until the
// watermark passes 13, and a view exactly at 13 that is not late still
// finds it. Once both watermarks are past, the state is as empty as a
// fresh operator's.
CAF_TEST(state is cleaned up once the watermark passes the interval) {
  harness fresh{join_operator({-2, 3})};
  fresh.open();
  auto empty = keyed_state_bytes(fresh);
  harness h{join_operator({-2, 3})};
  h.open();
  h.process_element1(click{1, 1}, 10);
  h.process_element2(view{1, 7}, 7); // too early for the click
  auto buffered = keyed_state_bytes(h);
  CAF_CHECK_GREATER(buffered, empty);
  h.process_watermark1(13);
  h.process_watermark2(13);
  h.process_element2(view{1, 13}, 13);
  CAF_CHECK_EQUAL(h.take_output(), (std::vector<std::string>{"1/13@13"}));
  // The view at 13 can meet clicks up to 15 (13 + 2).
  h.process_watermark1(16);
  h.process_watermark2(16);
  CAF_CHECK_EQUAL(keyed_state_bytes(h), empty);
}

namespace {

struct gen_event {
  int64_t user;
  int64_t id;
  timestamp ts;
};

/// Events of 20 users with timestamps that go up by 0-3 ms and back up to
/// 20 ms (out of order within the watermark's bound).
std::vector<gen_event> make_events(int64_t n, int64_t seed) {
  std::vector<gen_event> xs;
  int64_t t = 1000;
  for (int64_t i = 0; i < n; ++i) {
    t += (i * seed) % 4;
    auto jitter = (i * 7 + seed) % 21;
    xs.push_back(gen_event{(i * seed + i / 7) % 20, i, t - jitter});
  }
  return xs;
}

/// The pairs a nested loop finds.
std::vector<std::string> expected_pairs(const std::vector<gen_event>& clicks,
                                        const std::vector<gen_event>& views,
                                        int64_t lo, int64_t hi) {
  std::vector<std::string> out;
  for (auto& c : clicks)
    for (auto& v : views)
      if (c.user == v.user && v.ts - c.ts >= lo && v.ts - c.ts <= hi)
        out.push_back(std::to_string(c.id) + "/" + std::to_string(v.id) + "@"
                      + std::to_string(std::max(c.ts, v.ts)));
  std::sort(out.begin(), out.end());
  return out;
}

template <class T>
data_stream<T> events(stream_execution_environment& env,
                      std::vector<gen_event> xs, const std::string& uid,
                      double rate = 0) {
  auto n = xs.size();
  auto s = env.from_generator(
      n,
      [xs](uint64_t i) {
        return std::make_pair(T{xs[i].user, xs[i].id}, xs[i].ts);
      },
      rate);
  s.uid(uid);
  return s
      .assign_timestamps_and_watermarks(
          watermark_strategy<std::pair<T, timestamp>>::
              for_bounded_out_of_orderness(25)
                  .with_timestamp_assigner(
                      [](const std::pair<T, timestamp>& p, timestamp) {
                        return p.second;
                      }))
      .map([](const std::pair<T, timestamp>& p) { return p.first; });
}

} // namespace

CAF_TEST(an interval join equals a nested loop at parallelism 1 2 and 4) {
  auto clicks = make_events(4000, 3);
  auto views = make_events(3000, 5);
  auto want = expected_pairs(clicks, views, -10, 15);
  CAF_MESSAGE(want.size() << " pairs expected");
  CAF_REQUIRE_GREATER(want.size(), 1000u);
  for (int p : {1, 2, 4}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<std::string>>();
    events<click>(env, clicks, "clicks")
        .key_by([](const click& c) { return c.user; })
        .interval_join(events<view>(env, views, "views")
                           .key_by([](const view& v) { return v.user; }))
        .between(-10, 15)
        .process<std::string>([] { return std::make_unique<pair_up>(); })
        .uid("join")
        .collect_into(out);
    CAF_REQUIRE(env.execute("interval join").status == job_status::finished);
    auto got = sorted(out->values());
    CAF_CHECK_EQUAL(got.size(), want.size());
    CAF_CHECK(got == want);
    CAF_MESSAGE("parallelism " << p << ": " << got.size() << " pairs");
  }
}

// The join's buffers are keyed state in checkpoints: a failure mid-way
// restarts from the latest checkpoint, and the exactly-once part files
// hold the nested loop's pairs.
CAF_TEST(an interval join survives a failure and restore) {
  auto clicks = make_events(6000, 3);
  auto views = make_events(6000, 5);
  auto want = expected_pairs(clicks, views, -10, 15);
  temp_dir dir{"joins"};
  stream_execution_environment env;
  env.set_parallelism(2);
  env.config().checkpointing.interval = 30;
  env.config().checkpointing.dir = dir.file("chk");
  env.config().restarts = restart_strategy::fixed(2, 20);
  auto seen = std::make_shared<std::atomic<int64_t>>(0);
  events<click>(env, clicks, "clicks", 12000)
      .map(
          [seen](const click& c) {
            if (seen->fetch_add(1) + 1 == 3500)
              throw std::runtime_error("injected failure");
            return c;
          },
          "Fail Once")
      .uid("fail")
      .key_by([](const click& c) { return c.user; })
      .interval_join(events<view>(env, views, "views", 12000)
                         .key_by([](const view& v) { return v.user; }))
      .between(-10, 15)
      .process<std::string>([] { return std::make_unique<pair_up>(); })
      .uid("join")
      .sink_to_files(dir.file("out"), [](const std::string& s) { return s; },
                     "pair")
      .uid("files");
  auto r = env.execute("interval join restore");
  CAF_CHECK(r.status == job_status::finished);
  CAF_CHECK_EQUAL(r.restarts_from_checkpoint, 1);
  auto got = sorted(visible_part_lines(dir.file("out"), "pair"));
  CAF_CHECK_EQUAL(got.size(), want.size());
  CAF_CHECK(got == want);
}

// -- window join and co-group --------------------------------------------------

namespace {

/// The windows [start, end) of `ts` for tumbling (slide == size) or
/// sliding windows.
std::vector<int64_t> window_starts(int64_t ts, int64_t size, int64_t slide) {
  std::vector<int64_t> starts;
  auto last = ts - ((ts % slide) + slide) % slide;
  for (auto s = last; s > ts - size; s -= slide)
    starts.push_back(s);
  return starts;
}

/// Pairs of a key in a common window, by a plain loop.
std::vector<std::string> window_pairs(const std::vector<gen_event>& clicks,
                                      const std::vector<gen_event>& views,
                                      int64_t size, int64_t slide) {
  std::vector<std::string> out;
  for (auto& c : clicks)
    for (auto& v : views) {
      if (c.user != v.user)
        continue;
      for (auto s : window_starts(c.ts, size, slide))
        if (v.ts >= s && v.ts < s + size)
          out.push_back(std::to_string(c.id) + "/" + std::to_string(v.id)
                        + "@" + std::to_string(s + size - 1));
    }
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

CAF_TEST(tumbling and sliding window joins equal a plain loop) {
  auto clicks = make_events(3000, 3);
  auto views = make_events(2500, 5);
  for (auto [size, slide] : {std::pair<int64_t, int64_t>{50, 50}, {60, 20}}) {
    auto want = window_pairs(clicks, views, size, slide);
    for (int p : {1, 2, 4}) {
      stream_execution_environment env;
      env.set_parallelism(p);
      auto out = std::make_shared<collected<std::string>>();
      auto joined
          = events<click>(env, clicks, "clicks")
                .join(events<view>(env, views, "views"))
                .where([](const click& c) { return c.user; })
                .equal_to([](const view& v) { return v.user; });
      auto pair_of = [](const click& c, const view& v) {
        return std::to_string(c.id) + "/" + std::to_string(v.id);
      };
      // The window's max timestamp travels with each pair.
      auto stamp = [](const std::string& s, timestamp ts) {
        return s + "@" + std::to_string(ts);
      };
      data_stream<std::string> pairs
          = size == slide
                ? joined.window(tumbling_event_time_windows::of(size))
                      .apply(pair_of)
                : joined.window(sliding_event_time_windows::of(size, slide))
                      .apply(pair_of);
      pairs
          .process<std::string>([stamp] {
            struct with_ts final : process_function<std::string, std::string> {
              decltype(stamp) f;
              explicit with_ts(decltype(stamp) g) : f(g) {}
              void process_element(const std::string& s, context& ctx,
                                   collector<std::string>& o) override {
                o.collect(f(s, ctx.element_timestamp()));
              }
            };
            return std::make_unique<with_ts>(stamp);
          })
          .collect_into(out);
      CAF_REQUIRE(env.execute("window join").status == job_status::finished);
      auto got = sorted(out->values());
      CAF_CHECK_EQUAL(got.size(), want.size());
      CAF_CHECK(got == want);
      CAF_MESSAGE("size " << size << " slide " << slide << " parallelism "
                          << p << ": " << got.size() << " pairs");
    }
  }
}

namespace {

/// An event of user 1 at `ts` with id `id`, carrying its timestamp.
template <class T>
std::pair<T, timestamp> at(int64_t id, timestamp ts) {
  return {T{1, id}, ts};
}

template <class T>
data_stream<T> timed(stream_execution_environment& env,
                     std::vector<std::pair<T, timestamp>> xs) {
  return env.from_collection(std::move(xs))
      .assign_timestamps_and_watermarks(
          watermark_strategy<std::pair<T, timestamp>>::
              for_bounded_out_of_orderness(1000)
                  .with_timestamp_assigner(
                      [](const std::pair<T, timestamp>& p, timestamp) {
                        return p.second;
                      }))
      .map([](const std::pair<T, timestamp>& p) { return p.first; });
}

} // namespace

// Session windows (gap 10) merge across both sides: a view between two
// clicks 18 ms apart bridges their sessions into one.
CAF_TEST(session window joins and co-groups merge sessions of either side) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto clicks = timed<click>(env, {at<click>(1, 0), at<click>(2, 30),
                                   at<click>(3, 100), at<click>(4, 118)});
  auto views = timed<view>(env, {at<view>(11, 8), at<view>(12, 35),
                                 at<view>(13, 109), at<view>(14, 300)});
  auto out = std::make_shared<collected<std::string>>();
  clicks.join(views)
      .where([](const click& c) { return c.user; })
      .equal_to([](const view& v) { return v.user; })
      .window(event_time_session_windows::with_gap(10))
      .apply([](const click& c, const view& v) {
        return std::to_string(c.id) + "/" + std::to_string(v.id);
      })
      .collect_into(out);
  auto groups = std::make_shared<collected<std::string>>();
  clicks.co_group(views)
      .where([](const click& c) { return c.user; })
      .equal_to([](const view& v) { return v.user; })
      .window(event_time_session_windows::with_gap(10))
      .apply<std::string>([](const std::vector<click>& cs,
                             const std::vector<view>& vs,
                             collector<std::string>& o) {
        std::vector<int64_t> ids;
        for (auto& c : cs)
          ids.push_back(c.id);
        for (auto& v : vs)
          ids.push_back(v.id);
        std::sort(ids.begin(), ids.end());
        std::string s = std::to_string(cs.size()) + "+"
                        + std::to_string(vs.size()) + ":";
        for (auto id : ids)
          s += " " + std::to_string(id);
        o.collect(s);
      })
      .collect_into(groups);
  CAF_REQUIRE(env.execute("session join").status == job_status::finished);
  CAF_CHECK_EQUAL(sorted(out->values()),
                  (std::vector<std::string>{"1/11", "2/12", "3/13", "4/13"}));
  // The co-group sees the session of the lone view too.
  CAF_CHECK_EQUAL(sorted(groups->values()),
                  (std::vector<std::string>{"0+1: 14", "1+1: 1 11",
                                            "1+1: 2 12", "2+1: 3 4 13"}));
}
