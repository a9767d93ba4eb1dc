#define CAF_SUITE two_input
#include "caf/test/unit_test.hpp"

// Two-input operators: connect() with co-map, co-flat-map and co-process
// functions, keyed connected streams with keyed state and timers. Through
// the two-input harness for the semantics (the watermark is the minimum of
// both inputs, idleness respected, the input ends with both), and end to
// end against plain loops at parallelism 1, 2 and 4, also across a failure
// and restore from a checkpoint.

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "child_process.hpp"
#include "libstream/connected_streams.hpp"
#include "libstream/libstream.hpp"
#include "libstream/testing/two_input_harness.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;
using libstream::testing::two_input_harness;

namespace {

/// Labels each element with its side; at the end of both inputs, the
/// counts.
struct labeller final : co_process_function<int64_t, std::string, std::string> {
  int64_t firsts = 0;
  int64_t seconds = 0;

  void process_element1(const int64_t& v, context&,
                        collector<std::string>& out) override {
    ++firsts;
    out.collect("1:" + std::to_string(v));
  }
  void process_element2(const std::string& v, context&,
                        collector<std::string>& out) override {
    ++seconds;
    out.collect("2:" + v);
  }
  void end_input(collector<std::string>& out) override {
    out.collect("end " + std::to_string(firsts) + "/"
                + std::to_string(seconds));
  }
};

/// An order (first input) or a payment (second input) of a customer.
struct order {
  int64_t customer = 0;
  int64_t amount = 0;
};
struct payment {
  int64_t customer = 0;
  int64_t paid = 0;
};

/// Per customer: orders and payments counted and summed in keyed state
/// shared by both sides; an event-time timer at `report_at` (registered by
/// either side) emits "customer,orders,ordered,payments,paid,watermark".
struct balance final
    : keyed_co_process_function<int64_t, order, payment, std::string> {
  explicit balance(timestamp report_at = 1000000) : report_at_(report_at) {}

  value_state<std::tuple<int64_t, int64_t, int64_t, int64_t>> sums;

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    sums = st.get_state<std::tuple<int64_t, int64_t, int64_t, int64_t>>(
        "sums");
  }

  void process_element1(const order& o, context& ctx,
                        collector<std::string>&) override {
    auto s = sums.value_or({0, 0, 0, 0});
    std::get<0>(s) += 1;
    std::get<1>(s) += o.amount;
    sums.update(s);
    ctx.timer_service().register_event_time_timer(report_at_);
  }

  void process_element2(const payment& p, context& ctx,
                        collector<std::string>&) override {
    auto s = sums.value_or({0, 0, 0, 0});
    std::get<2>(s) += 1;
    std::get<3>(s) += p.paid;
    sums.update(s);
    ctx.timer_service().register_event_time_timer(report_at_);
  }

  void on_timer(timestamp, time_domain, context& ctx,
                collector<std::string>& out) override {
    auto s = sums.value_or({0, 0, 0, 0});
    out.collect(std::to_string(ctx.current_key()) + ","
                + std::to_string(std::get<0>(s)) + ","
                + std::to_string(std::get<1>(s)) + ","
                + std::to_string(std::get<2>(s)) + ","
                + std::to_string(std::get<3>(s)));
  }

  timestamp report_at_;
};

std::unique_ptr<operator_base> balance_operator(timestamp report_at) {
  return make_keyed_co_process_operator<int64_t, order, payment, std::string>(
      [](const order& o) { return o.customer; },
      [](const payment& p) { return p.customer; },
      std::make_unique<balance>(report_at));
}

} // namespace

CAF_TEST(a co-process function sees each input on its own method and one
         end) {
  two_input_harness<int64_t, std::string, std::string> h{
      make_co_process_operator<int64_t, std::string, std::string>(
          std::make_unique<labeller>())};
  h.open();
  h.process_element1(7, 1);
  h.process_element2("x", 2);
  h.process_element1(8, 3);
  h.end_input1();
  CAF_CHECK_EQUAL(h.take_output(),
                  (std::vector<std::string>{"1:7", "2:x", "1:8"}));
  h.process_element2("y", 4);
  h.end_input2(); // now both ended
  CAF_CHECK_EQUAL(h.take_output(),
                  (std::vector<std::string>{"2:y", "end 2/2"}));
  h.close();
}

// The operator's event time is the minimum of both inputs' watermarks: a
// timer fires only once the slower input passed it; an idle input does not
// hold it back, and one that ended counts as done.
CAF_TEST(keyed co-process timers follow the minimum watermark of both
         inputs) {
  two_input_harness<order, payment, std::string> h{balance_operator(50)};
  h.open();
  h.process_element1(order{1, 10}, 5);
  h.process_element2(payment{1, 4}, 6);
  h.process_element2(payment{2, 9}, 7);
  h.process_watermark1(100);
  CAF_CHECK(h.take_output().empty()); // input 2 is at its start
  h.process_watermark2(49);
  CAF_CHECK(h.take_output().empty());
  h.process_watermark2(50);
  auto rows = h.take_output();
  std::sort(rows.begin(), rows.end());
  CAF_CHECK_EQUAL(rows, (std::vector<std::string>{"1,1,10,1,4", "2,0,0,1,9"}));
  CAF_CHECK_EQUAL(h.watermarks(), (std::vector<timestamp>{49, 50}));
  // Idleness: input 1 idle, input 2 alone moves the watermark.
  two_input_harness<order, payment, std::string> g{balance_operator(50)};
  g.open();
  g.process_element1(order{3, 1}, 5);
  g.process_idleness1(true);
  g.process_watermark2(60);
  CAF_CHECK_EQUAL(g.take_output(), (std::vector<std::string>{"3,1,1,0,0"}));
  // Back from idleness at 20 (behind): the watermark does not go back.
  g.process_watermark1(20);
  CAF_CHECK_EQUAL(g.watermarks(), (std::vector<timestamp>{60}));
  // An ended input is done: the other alone decides.
  two_input_harness<order, payment, std::string> e{balance_operator(50)};
  e.open();
  e.process_element2(payment{4, 2}, 5);
  e.end_input2();
  e.process_watermark1(70);
  CAF_CHECK_EQUAL(e.take_output(), (std::vector<std::string>{"4,0,0,1,2"}));
}

// As the runtime's channels: an input that ends while the other is idle
// does not release the end of time (the idle one may still send), and a
// record on an idle input makes it hold the watermark back again.
CAF_TEST(the two-input harness combines inputs as the runtime does) {
  two_input_harness<order, payment, std::string> h{balance_operator(50)};
  h.open();
  h.process_element2(payment{1, 3}, 5);
  h.process_idleness2(true);
  h.end_input1();
  CAF_CHECK(h.take_output().empty());
  CAF_CHECK(h.watermarks().empty());
  h.process_watermark2(60); // active again
  CAF_CHECK_EQUAL(h.take_output(), (std::vector<std::string>{"1,0,0,1,3"}));
  two_input_harness<order, payment, std::string> g{balance_operator(50)};
  g.open();
  g.process_watermark2(10);
  g.process_idleness1(true); // input 2 alone: at 10
  g.process_element1(order{2, 4}, 5); // input 1 active again, at its start
  g.process_watermark2(100);
  CAF_CHECK(g.take_output().empty());
  CAF_CHECK_EQUAL(g.watermarks(), (std::vector<timestamp>{10}));
  g.process_watermark1(100);
  CAF_CHECK_EQUAL(g.take_output(), (std::vector<std::string>{"2,1,4,0,0"}));
}

namespace {

std::vector<order> make_orders(int64_t n) {
  std::vector<order> xs;
  for (int64_t i = 0; i < n; ++i)
    xs.push_back(order{(i * 7919) % 97, i % 1000});
  return xs;
}

std::vector<payment> make_payments(int64_t n) {
  std::vector<payment> xs;
  for (int64_t i = 0; i < n; ++i)
    xs.push_back(payment{(i * 104729) % 89, (i * 31) % 500});
  return xs;
}

/// What balance reports, by a plain loop.
std::vector<std::string> expected_balances(const std::vector<order>& orders,
                                           const std::vector<payment>& pays) {
  std::map<int64_t, std::tuple<int64_t, int64_t, int64_t, int64_t>> m;
  for (auto& o : orders) {
    auto& s = m[o.customer];
    std::get<0>(s) += 1;
    std::get<1>(s) += o.amount;
  }
  for (auto& p : pays) {
    auto& s = m[p.customer];
    std::get<2>(s) += 1;
    std::get<3>(s) += p.paid;
  }
  std::vector<std::string> out;
  for (auto& [k, s] : m)
    out.push_back(std::to_string(k) + "," + std::to_string(std::get<0>(s))
                  + "," + std::to_string(std::get<1>(s)) + ","
                  + std::to_string(std::get<2>(s)) + ","
                  + std::to_string(std::get<3>(s)));
  std::sort(out.begin(), out.end());
  return out;
}

template <class T, class F>
data_stream<T> generated(stream_execution_environment& env, int64_t n, F f,
                         const std::string& uid, double rate = 0) {
  auto s = env.from_generator(
      static_cast<uint64_t>(n), [f](uint64_t i) { return f(i); }, rate);
  s.uid(uid);
  // Watermarks from both inputs; the report timers fire with the final
  // one, when both inputs ended.
  return s.assign_timestamps_and_watermarks(
      watermark_strategy<T>::for_monotonous_timestamps()
          .with_timestamp_assigner([](const T&, timestamp ts) { return ts; }));
}

} // namespace

CAF_TEST(co-map and co-flat-map equal a plain loop at parallelism 1 2 and 4) {
  for (int p : {1, 2, 4}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto numbers = env.from_generator(
        3000, [](uint64_t i) { return static_cast<int64_t>(i); });
    auto words = env.from_generator(
        2000, [](uint64_t i) { return "w" + std::to_string(i % 300); });
    auto mapped = std::make_shared<collected<std::string>>();
    connect(numbers, words)
        .map([](const int64_t& n) { return "n" + std::to_string(n * 2); },
             [](const std::string& w) { return w + "!"; })
        .collect_into(mapped);
    auto flat = std::make_shared<collected<std::string>>();
    connect(numbers, words)
        .flat_map<std::string>(
            [](const int64_t& n, collector<std::string>& out) {
              if (n % 3 == 0)
                out.collect("third " + std::to_string(n));
            },
            [](const std::string& w, collector<std::string>& out) {
              out.collect(w);
              out.collect(w);
            })
        .collect_into(flat);
    CAF_REQUIRE(env.execute("co-map").status == job_status::finished);
    std::vector<std::string> want_mapped, want_flat;
    for (int64_t n = 0; n < 3000; ++n) {
      want_mapped.push_back("n" + std::to_string(n * 2));
      if (n % 3 == 0)
        want_flat.push_back("third " + std::to_string(n));
    }
    for (int64_t i = 0; i < 2000; ++i) {
      auto w = "w" + std::to_string(i % 300);
      want_mapped.push_back(w + "!");
      want_flat.push_back(w);
      want_flat.push_back(w);
    }
    std::sort(want_mapped.begin(), want_mapped.end());
    std::sort(want_flat.begin(), want_flat.end());
    auto got_mapped = mapped->values();
    auto got_flat = flat->values();
    std::sort(got_mapped.begin(), got_mapped.end());
    std::sort(got_flat.begin(), got_flat.end());
    CAF_CHECK(got_mapped == want_mapped);
    CAF_CHECK(got_flat == want_flat);
    CAF_MESSAGE("parallelism " << p << ": " << got_mapped.size() << " + "
                               << got_flat.size() << " records");
  }
}

CAF_TEST(keyed co-process state equals a plain loop at parallelism 1 2
         and 4) {
  auto orders = make_orders(20000);
  auto pays = make_payments(15000);
  auto want = expected_balances(orders, pays);
  for (int p : {1, 2, 4}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<std::string>>();
    auto os = generated<order>(
        env, 20000, [orders](uint64_t i) { return orders[i]; }, "orders");
    auto ps = generated<payment>(
        env, 15000, [pays](uint64_t i) { return pays[i]; }, "payments");
    connect(os, ps)
        .key_by([](const order& o) { return o.customer; },
                [](const payment& x) { return x.customer; })
        .process<std::string>([] { return std::make_unique<balance>(); })
        .uid("balance")
        .collect_into(out);
    CAF_REQUIRE(env.execute("keyed co-process").status
                == job_status::finished);
    auto got = out->values();
    std::sort(got.begin(), got.end());
    CAF_CHECK_EQUAL(got.size(), want.size());
    CAF_CHECK(got == want);
  }
}

namespace {

/// Passes orders on; throws once at the `fail_at`-th.
auto fail_once(std::shared_ptr<std::atomic<int64_t>> seen, int64_t fail_at) {
  return [seen, fail_at](const order& o) {
    if (seen->fetch_add(1) + 1 == fail_at)
      throw std::runtime_error("injected failure");
    return o;
  };
}

} // namespace

// Keyed state of both sides in checkpoints: a failure mid-way restarts
// from the latest checkpoint (barriers aligned across both inputs), and
// the exactly-once part files hold the plain loop's result.
CAF_TEST(keyed co-process state survives a failure and restore) {
  auto orders = make_orders(20000);
  auto pays = make_payments(20000);
  auto want = expected_balances(orders, pays);
  temp_dir dir{"two_input"};
  stream_execution_environment env;
  env.set_parallelism(2);
  env.config().checkpointing.interval = 30;
  env.config().checkpointing.dir = dir.file("chk");
  env.config().restarts = restart_strategy::fixed(2, 20);
  auto seen = std::make_shared<std::atomic<int64_t>>(0);
  auto os = generated<order>(
                env, 20000, [orders](uint64_t i) { return orders[i]; },
                "orders", 40000)
                .map(fail_once(seen, 12000), "Fail Once")
                .uid("fail");
  auto ps = generated<payment>(
      env, 20000, [pays](uint64_t i) { return pays[i]; }, "payments", 40000);
  connect(os, ps)
      .key_by([](const order& o) { return o.customer; },
              [](const payment& x) { return x.customer; })
      .process<std::string>([] { return std::make_unique<balance>(); })
      .uid("balance")
      .sink_to_files(dir.file("out"),
                     [](const std::string& s) { return s; }, "row")
      .uid("files");
  auto r = env.execute("keyed co-process restore");
  CAF_CHECK(r.status == job_status::finished);
  CAF_CHECK_EQUAL(r.restarts_from_checkpoint, 1);
  auto got = visible_part_lines(dir.file("out"), "row");
  std::sort(got.begin(), got.end());
  CAF_CHECK(got == want);
}

namespace {

/// Each element with the key it was processed under.
struct echo_key final
    : keyed_co_process_function<std::string, int64_t, std::string,
                                std::string> {
  void process_element1(const int64_t& n, context& ctx,
                        collector<std::string>& out) override {
    out.collect(ctx.current_key() + ":n" + std::to_string(n));
  }
  void process_element2(const std::string& w, context& ctx,
                        collector<std::string>& out) override {
    out.collect(ctx.current_key() + ":" + w);
  }
};

} // namespace

// The tagging map runs at its producer's parallelism as the planner
// resolves it: also when that is set after connect(), and with a string
// key read by reference (not copied per record).
CAF_TEST(connect follows a parallelism set after it) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto numbers = env.from_generator(
      1000, [](uint64_t i) { return static_cast<int64_t>(i); });
  auto doubled = numbers.map([](const int64_t& n) { return n * 2; });
  auto words = env.from_generator(
      500, [](uint64_t i) { return "w" + std::to_string(i % 7); });
  auto out = std::make_shared<collected<std::string>>();
  connect(doubled, words)
      .key_by([](const int64_t& n) { return "w" + std::to_string(n % 7); },
              [](const std::string& w) -> const std::string& { return w; })
      .process<std::string>([] { return std::make_unique<echo_key>(); })
      .collect_into(out);
  doubled.set_parallelism(3);
  env.execute("late parallelism");
  auto got = out->values();
  CAF_CHECK_EQUAL(got.size(), 1500u);
  // 1998 = 2 * 999, key w(1998 % 7) = w3; 71 of the 500 words are w3.
  CAF_CHECK_EQUAL(std::count(got.begin(), got.end(), "w3:n1998"), 1);
  CAF_CHECK_EQUAL(std::count(got.begin(), got.end(), "w3:w3"), 71);
}

CAF_TEST(tagged records cross nodes through their codec) {
  using t = tagged<int64_t, std::string>;
  CAF_CHECK(has_codec_v<t>);
  CAF_CHECK(!(has_codec_v<tagged<int64_t, order>>));
  for (auto v : {t{std::in_place_index<0>, 42}, t{std::in_place_index<1>, "x"}})
    CAF_CHECK(decode_value<t>(encode_value(v)) == v);
  std::string bad = encode_value(t{std::in_place_index<0>, 1});
  bad[0] = 2;
  CAF_CHECK(throws<codec_error>([&] { decode_value<t>(bad); },
                                "index 2"));
}
