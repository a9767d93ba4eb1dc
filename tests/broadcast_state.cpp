#define CAF_SUITE broadcast_state
#include "caf/test/unit_test.hpp"

// The broadcast state pattern: a rules stream broadcast into broadcast
// state, read by a keyed (or non-keyed) stream. Through the two-input
// harness, end to end against a plain loop at parallelism 1, 2 and 4, and
// stopped with a savepoint at parallelism 2 and resumed at 1 and 4 (every
// new subtask gets the broadcast state).

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "libstream/libstream.hpp"
#include "libstream/testing/two_input_harness.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;
using libstream::testing::two_input_harness;

namespace {

struct event {
  int64_t user = 0;
  int64_t category = 0;
  int64_t amount = 0;
};

struct rule {
  int64_t category = 0;
  int64_t threshold = 0;
};

} // namespace

template <>
struct libstream::codec<event>
    : member_codec<event, &event::user, &event::category, &event::amount> {};
template <>
struct libstream::codec<rule>
    : member_codec<rule, &rule::category, &rule::threshold> {};

namespace {

const map_state_descriptor<int64_t, int64_t> thresholds{"thresholds"};

/// Non-keyed: an event passes when its category has a rule and it reaches
/// the threshold; a rule also reports how many rules there are.
struct filter_by_rules final
    : broadcast_process_function<event, rule, std::string> {
  void process_element(const event& e, read_only_context& ctx,
                       collector<std::string>& out) override {
    auto t = ctx.get_broadcast_state(thresholds).get(e.category);
    if (t && e.amount >= *t)
      out.collect("pass " + std::to_string(e.amount));
  }
  void process_broadcast_element(const rule& r, context& ctx,
                                 collector<std::string>& out) override {
    auto& st = ctx.get_broadcast_state(thresholds);
    st.put(r.category, r.threshold);
    out.collect("rules " + std::to_string(st.entries().size()));
  }
};

/// Keyed by user: events counted per user and category in keyed state; at
/// the end (an event-time timer fired by the final watermark) the user's
/// events that reach their category's threshold under the broadcast rules
/// then, as "user,qualifying".
struct count_by_rules final
    : keyed_broadcast_process_function<int64_t, event, rule, std::string> {
  map_state<int64_t, std::vector<int64_t>> amounts; // category -> amounts

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    amounts = st.get_map_state<int64_t, std::vector<int64_t>>("amounts");
  }

  void process_element(const event& e, read_only_context& ctx,
                       collector<std::string>&) override {
    auto xs = amounts.get(e.category).value_or(std::vector<int64_t>{});
    xs.push_back(e.amount);
    amounts.put(e.category, std::move(xs));
    ctx.timer_service().register_event_time_timer(1000000000);
  }

  void process_broadcast_element(const rule& r, context& ctx,
                                 collector<std::string>&) override {
    ctx.get_broadcast_state(thresholds).put(r.category, r.threshold);
  }

  void on_timer(timestamp, time_domain, read_only_context& ctx,
                collector<std::string>& out) override {
    auto& rules = ctx.get_broadcast_state(thresholds);
    int64_t n = 0;
    amounts.for_each([&](int64_t category, const std::vector<int64_t>& xs) {
      auto t = rules.get(category);
      for (auto x : xs)
        n += t && x >= *t ? 1 : 0;
    });
    out.collect(std::to_string(ctx.current_key()) + "," + std::to_string(n));
  }
};

} // namespace

CAF_TEST(a broadcast process function reads what the broadcast side wrote) {
  two_input_harness<event, rule, std::string> h{
      make_broadcast_process_operator<event, rule, std::string>(
          std::make_unique<filter_by_rules>())};
  h.open();
  h.process_element1(event{1, 7, 50}, 1); // no rule yet
  h.process_element2(rule{7, 40}, 2);
  h.process_element1(event{1, 7, 50}, 3);
  h.process_element1(event{2, 7, 30}, 4);
  h.process_element2(rule{8, 10}, 5);
  h.process_element2(rule{7, 20}, 6); // replaces the rule of category 7
  h.process_element1(event{2, 7, 30}, 7);
  CAF_CHECK_EQUAL(h.take_output(),
                  (std::vector<std::string>{"rules 1", "pass 50", "rules 2",
                                            "rules 2", "pass 30"}));
}

CAF_TEST(a keyed broadcast process function has keyed state timers and the
         broadcast state) {
  two_input_harness<event, rule, std::string> h{
      std::make_unique<
          keyed_broadcast_process_operator<int64_t, event, rule, std::string>>(
          [](const event& e) { return e.user; },
          std::make_unique<count_by_rules>())};
  h.open();
  h.process_element1(event{1, 7, 50}, 1);
  h.process_element1(event{1, 8, 5}, 2);
  h.process_element1(event{2, 7, 10}, 3);
  h.process_element2(rule{7, 20}, 4); // the rules apply when timers fire
  h.process_element2(rule{8, 5}, 5);
  h.process_watermark1(1000000000);
  CAF_CHECK(h.take_output().empty()); // the broadcast side holds it back
  h.process_watermark2(1000000000);
  auto rows = h.take_output();
  std::sort(rows.begin(), rows.end());
  CAF_CHECK_EQUAL(rows, (std::vector<std::string>{"1,2", "2,0"}));
}

CAF_TEST(a broadcast state that was not declared is refused) {
  two_input_harness<event, rule, std::string> h{
      make_broadcast_process_operator<event, rule, std::string>(
          std::make_unique<filter_by_rules>(), {"other"})};
  h.open();
  CAF_CHECK(throws<std::invalid_argument>(
      [&] { h.process_element2(rule{7, 40}, 2); },
      "broadcast state 'thresholds' was not declared by broadcast(...) "
      "('other' was)"));
}

// Every subtask of the non-keyed side sees every broadcast element: at
// parallelism 3 each rule count is reported three times.
CAF_TEST(every subtask gets every broadcast element) {
  stream_execution_environment env;
  env.set_parallelism(3);
  auto out = std::make_shared<collected<std::string>>();
  auto events = env.from_generator(
      300, [](uint64_t i) { return event{int64_t(i), 0, int64_t(i % 7)}; });
  auto rules = env.from_generator(
      7, [](uint64_t i) { return rule{int64_t(i) + 1, 0}; });
  rules.set_parallelism(1);
  events.connect(rules.broadcast(thresholds))
      .process<std::string>([] { return std::make_unique<filter_by_rules>(); })
      .filter([](const std::string& s) { return s.rfind("rules", 0) == 0; })
      .collect_into(out);
  CAF_REQUIRE(env.execute("broadcast").status == job_status::finished);
  auto got = out->values();
  std::sort(got.begin(), got.end());
  std::vector<std::string> want;
  for (int n = 1; n <= 7; ++n)
    for (int copy = 0; copy < 3; ++copy)
      want.push_back("rules " + std::to_string(n));
  std::sort(want.begin(), want.end());
  CAF_CHECK_EQUAL(got, want);
}

namespace {

std::vector<event> make_events(int64_t n) {
  std::vector<event> xs;
  for (int64_t i = 0; i < n; ++i)
    xs.push_back(event{(i * 7919) % 61, (i * 31) % 9, (i * 104729) % 100});
  return xs;
}

/// One rule per category 0..6 (7 and 8 have none).
std::vector<rule> make_rules() {
  std::vector<rule> xs;
  for (int64_t c = 0; c < 7; ++c)
    xs.push_back(rule{c, 20 + c * 10});
  return xs;
}

std::vector<std::string> expected_counts(const std::vector<event>& events,
                                         const std::vector<rule>& rules) {
  std::map<int64_t, int64_t> t;
  for (auto& r : rules)
    t[r.category] = r.threshold;
  std::map<int64_t, int64_t> n;
  for (auto& e : events) {
    auto i = t.find(e.category);
    n[e.user] += i != t.end() && e.amount >= i->second ? 1 : 0;
  }
  std::vector<std::string> out;
  for (auto& [user, k] : n)
    out.push_back(std::to_string(user) + "," + std::to_string(k));
  std::sort(out.begin(), out.end());
  return out;
}

/// The keyed broadcast job: events keyed by user, rules broadcast.
void build(stream_execution_environment& env, const std::vector<event>& es,
           const std::vector<rule>& rs, double rate,
           std::shared_ptr<collected<std::string>> out,
           const std::string& out_dir = "") {
  auto events = env.from_generator(
                       es.size(), [es](uint64_t i) { return es[i]; }, rate)
                    .uid("events");
  auto rules
      = env.from_generator(rs.size(), [rs](uint64_t i) { return rs[i]; })
            .uid("rules");
  auto counts = events.key_by([](const event& e) { return e.user; })
                    .connect(rules.broadcast(thresholds))
                    .process<std::string>(
                        [] { return std::make_unique<count_by_rules>(); })
                    .uid("count");
  if (out_dir.empty())
    counts.collect_into(out);
  else
    counts
        .sink_to_files(out_dir, [](const std::string& s) { return s; }, "row")
        .uid("files");
}

} // namespace

CAF_TEST(keyed broadcast state equals a plain loop at parallelism 1 2 and
         4) {
  auto es = make_events(20000);
  auto rs = make_rules();
  auto want = expected_counts(es, rs);
  for (int p : {1, 2, 4}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<std::string>>();
    build(env, es, rs, 0, out);
    CAF_REQUIRE(env.execute("broadcast").status == job_status::finished);
    auto got = out->values();
    std::sort(got.begin(), got.end());
    CAF_CHECK(got == want);
  }
}

// Stopped with a savepoint at parallelism 2 once the rules are in, resumed
// at 1 and at 4: the rules source is done, so the rules the timers apply
// at the end come only from the restored broadcast state, on every new
// subtask.
CAF_TEST(broadcast state is restored at another parallelism) {
  temp_dir dir{"broadcast_state"};
  auto es = make_events(20000);
  auto rs = make_rules();
  auto want = expected_counts(es, rs);
  auto setup = [&](stream_execution_environment& env, int p,
                   const std::string& from, double rate,
                   const std::string& out_dir) {
    env.set_parallelism(p);
    env.config().checkpointing.interval = 100;
    env.config().checkpointing.dir = dir.file("chk");
    env.config().checkpointing.restore_from = from;
    build(env, es, rs, rate, nullptr, out_dir);
  };
  std::string savepoint;
  {
    stream_execution_environment env;
    setup(env, 2, "", 10000, dir.file("out-first"));
    auto client = env.execute_async("first");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    savepoint = client->stop_with_savepoint(dir.file("savepoints"));
    CAF_CHECK(client->wait().status == job_status::finished);
  }
  // Stopped, not drained: no timer fired, nothing was written.
  CAF_CHECK(visible_part_lines(dir.file("out-first"), "row").empty());
  for (int p : {1, 4}) {
    stream_execution_environment env;
    auto out = dir.file("out-" + std::to_string(p));
    setup(env, p, savepoint, 0, out);
    CAF_REQUIRE(env.execute("resumed").status == job_status::finished);
    auto got = visible_part_lines(out, "row");
    std::sort(got.begin(), got.end());
    CAF_CHECK_EQUAL(got.size(), want.size());
    CAF_CHECK(got == want);
  }
}
