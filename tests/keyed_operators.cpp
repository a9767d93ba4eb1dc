#define CAF_SUITE keyed_operators
#include "caf/test/unit_test.hpp"

// Keyed operators through the operator test harness: rolling aggregations
// with Flink's semantics, keyed process functions with every kind of keyed
// state, timers and side outputs, and key-group ownership.

#include <algorithm>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libstream/environment.hpp"
#include "libstream/testing/harness.hpp"
#include "test_util.hpp"

using namespace libstream;
using libstream::testing::one_input_harness;

namespace {

struct trade {
  std::string symbol;
  int64_t qty = 0;
  double price = 0;
  int id = 0;

  friend bool operator==(const trade& x, const trade& y) {
    return x.symbol == y.symbol && x.qty == y.qty && x.price == y.price
           && x.id == y.id;
  }
};

std::string to_string(const trade& t) {
  return t.symbol + "/" + std::to_string(t.qty) + "/" + std::to_string(t.price)
         + "/#" + std::to_string(t.id);
}

std::vector<std::string> sorted_copy(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

std::vector<std::string> strs(const std::vector<trade>& xs) {
  std::vector<std::string> result;
  for (auto& x : xs)
    result.push_back(to_string(x));
  return result;
}

/// The operator the DataStream API builds for `apply(keyed stream)`.
template <class F>
std::unique_ptr<operator_base> keyed_op(F apply) {
  stream_execution_environment env;
  auto keyed
      = env.from_collection(std::vector<trade>{}).key_by([](const trade& t) {
          return t.symbol;
        });
  auto result = apply(keyed);
  return env.builder()->node(result.id()).make_operator();
}

/// Interleaved trades of two symbols with ties on qty and price.
std::vector<trade> trades() {
  return {
      {"A", 5, 1.0, 0}, {"B", 2, 7.0, 1}, {"A", 3, 2.0, 2}, {"A", 3, 0.5, 3},
      {"B", 2, 9.0, 4}, {"A", 9, 4.0, 5}, {"B", 1, 9.0, 6}, {"A", 3, 4.0, 7},
  };
}

template <class Apply, class Fold>
void check_rolling(Apply apply, Fold fold, const char* what) {
  CAF_MESSAGE(what);
  one_input_harness<trade, trade> h{keyed_op(apply)};
  h.open();
  std::map<std::string, trade> acc;
  std::vector<trade> expected;
  int64_t ts = 100;
  for (auto& t : trades()) {
    auto i = acc.find(t.symbol);
    if (i == acc.end())
      i = acc.emplace(t.symbol, t).first;
    else
      i->second = fold(i->second, t);
    expected.push_back(i->second);
    h.process_element(t, ts++);
  }
  CAF_CHECK_EQUAL(strs(h.output_values()), strs(expected));
  // Each update carries the timestamp of the record that caused it.
  auto& recs = h.output().records;
  for (size_t i = 0; i < recs.size(); ++i)
    CAF_CHECK_EQUAL(recs[i].ts, 100 + static_cast<int64_t>(i));
}

} // namespace

// -- rolling aggregations
// ---------------------------------------------------------

CAF_TEST(rolling reduce emits every update per key) {
  check_rolling(
      [](auto& s) {
        return s.reduce([](const trade& a, const trade& b) {
          return trade{a.symbol, a.qty * 10 + b.qty, a.price, b.id};
        });
      },
      [](const trade& a, const trade& b) {
        return trade{a.symbol, a.qty * 10 + b.qty, a.price, b.id};
      },
      "reduce");
}

CAF_TEST(sum keeps the other fields of the first record) {
  check_rolling([](auto& s) { return s.sum(&trade::qty); },
                [](const trade& a, const trade& b) {
                  auto r = a;
                  r.qty = a.qty + b.qty;
                  return r;
                },
                "sum");
}

CAF_TEST(min and max keep the other fields of the first record) {
  check_rolling([](auto& s) { return s.min(&trade::qty); },
                [](const trade& a, const trade& b) {
                  auto r = a;
                  r.qty = std::min(a.qty, b.qty);
                  return r;
                },
                "min");
  check_rolling([](auto& s) { return s.max(&trade::price); },
                [](const trade& a, const trade& b) {
                  auto r = a;
                  r.price = std::max(a.price, b.price);
                  return r;
                },
                "max");
}

CAF_TEST(min_by and max_by return whole records and the first on ties) {
  check_rolling(
      [](auto& s) { return s.min_by(&trade::qty); },
      [](const trade& a, const trade& b) { return b.qty < a.qty ? b : a; },
      "min_by");
  check_rolling(
      [](auto& s) { return s.max_by(&trade::price); },
      [](const trade& a, const trade& b) { return b.price > a.price ? b : a; },
      "max_by");
  // Spelled out for key B (qty 2, 2, 1; price 7, 9, 9): min_by(qty) keeps
  // #1 on the tie, then takes #6; max_by(price) takes #4, keeps it on the tie.
  one_input_harness<trade, trade> h{
      keyed_op([](auto& s) { return s.max_by(&trade::price); })};
  h.open();
  for (auto& t : trades())
    if (t.symbol == "B")
      h.process_element(t, 0);
  auto ids = std::vector<int>{};
  for (auto& t : h.output_values())
    ids.push_back(t.id);
  CAF_CHECK_EQUAL(ids, (std::vector<int>{1, 4, 4}));
}

// -- keyed process functions: state
// ---------------------------------------------------

namespace {

struct avg_agg
    : aggregate_function<int64_t, std::pair<int64_t, int64_t>, double> {
  std::pair<int64_t, int64_t> create_accumulator() const { return {0, 0}; }
  void add(const int64_t& x, std::pair<int64_t, int64_t>& acc) const {
    acc.first += x;
    acc.second += 1;
  }
  double get_result(const std::pair<int64_t, int64_t>& acc) const {
    return static_cast<double>(acc.first) / static_cast<double>(acc.second);
  }
  void merge(std::pair<int64_t, int64_t>& into,
             const std::pair<int64_t, int64_t>& from) const {
    into.first += from.first;
    into.second += from.second;
  }
};

/// Updates every kind of keyed state and emits a summary of the key's state.
struct all_states final
    : keyed_process_function<std::string, trade, std::string> {
  value_state<int64_t> count;
  list_state<int> ids;
  map_state<int64_t, int> qty_seen;
  reducing_state<double> max_price;
  aggregating_state<int64_t, double> avg_qty;

  void open(keyed_state_store<std::string>& st, const runtime_info&) override {
    count = st.get_state<int64_t>("count");
    ids = st.get_list_state<int>("ids");
    qty_seen = st.get_map_state<int64_t, int>("qty-seen");
    max_price = st.get_reducing_state<double>(
        "max-price",
        [](const double& a, const double& b) { return std::max(a, b); });
    avg_qty = st.get_aggregating_state("avg-qty", avg_agg{});
  }

  void process_element(const trade& t, context& ctx,
                       collector<std::string>& out) override {
    if (ctx.current_key() != t.symbol)
      throw std::logic_error("wrong current key");
    count.update(count.value_or(0) + 1);
    ids.add(t.id);
    qty_seen.put(t.qty, qty_seen.get(t.qty).value_or(0) + 1);
    max_price.add(t.price);
    avg_qty.add(t.qty);
    std::string s = t.symbol + " n=" + std::to_string(*count.value()) + " ids=";
    for (auto i : ids.get())
      s += std::to_string(i) + ",";
    s += " same-qty=" + std::to_string(*qty_seen.get(t.qty));
    s += " distinct=" + std::to_string(qty_seen.entries().size());
    s += " max=" + std::to_string(*max_price.get());
    s += " avg=" + std::to_string(*avg_qty.get());
    out.collect(s);
  }
};

template <class Fn>
std::unique_ptr<operator_base> process_op() {
  return std::make_unique<
      keyed_process_operator<std::string, trade, std::string>>(
      [](const trade& t) { return t.symbol; }, std::make_unique<Fn>());
}

} // namespace

CAF_TEST(keyed process function state is per key) {
  one_input_harness<trade, std::string> h{process_op<all_states>()};
  h.open();
  // Reference: plain containers per key.
  std::map<std::string, std::vector<trade>> seen;
  std::vector<std::string> expected;
  for (auto& t : trades()) {
    auto& xs = seen[t.symbol];
    xs.push_back(t);
    std::string s = t.symbol + " n=" + std::to_string(xs.size()) + " ids=";
    double mx = xs[0].price;
    int64_t total = 0;
    std::map<int64_t, int> qty;
    for (auto& x : xs) {
      s += std::to_string(x.id) + ",";
      mx = std::max(mx, x.price);
      total += x.qty;
      qty[x.qty] += 1;
    }
    s += " same-qty=" + std::to_string(qty[t.qty]);
    s += " distinct=" + std::to_string(qty.size());
    s += " max=" + std::to_string(mx);
    s += " avg="
         + std::to_string(static_cast<double>(total)
                          / static_cast<double>(xs.size()));
    expected.push_back(s);
    h.process_element(t, 0);
  }
  CAF_CHECK_EQUAL(h.output_values(), expected);
}

namespace {

/// Clears all its state for a record with qty 0, else counts.
struct clearing final
    : keyed_process_function<std::string, trade, std::string> {
  value_state<int64_t> count;
  list_state<int> ids;
  map_state<int64_t, int> m;

  void open(keyed_state_store<std::string>& st, const runtime_info&) override {
    count = st.get_state<int64_t>("count");
    ids = st.get_list_state<int>("ids");
    m = st.get_map_state<int64_t, int>("m");
  }

  void process_element(const trade& t, context&,
                       collector<std::string>& out) override {
    if (t.qty == 0) {
      count.clear();
      ids.clear();
      m.clear();
      out.collect(t.symbol + " cleared " + std::to_string(count.has_value())
                  + std::to_string(ids.get().size())
                  + std::to_string(m.is_empty()));
      return;
    }
    count.update(count.value_or(0) + 1);
    ids.add(t.id);
    m.put(t.id, 1);
    out.collect(t.symbol + " " + std::to_string(*count.value()));
  }
};

} // namespace

CAF_TEST(cleared keyed state starts over) {
  one_input_harness<trade, std::string> h{process_op<clearing>()};
  h.open();
  h.process_element({"A", 1, 0, 1}, 0);
  h.process_element({"A", 1, 0, 2}, 0);
  h.process_element({"B", 1, 0, 3}, 0);
  h.process_element({"A", 0, 0, 4}, 0);
  h.process_element({"A", 1, 0, 5}, 0);
  h.process_element({"B", 1, 0, 6}, 0);
  CAF_CHECK_EQUAL(h.output_values(),
                  (std::vector<std::string>{"A 1", "A 2", "B 1",
                                            "A cleared 001", "A 1", "B 2"}));
}

CAF_TEST(keyed state outside a keyed context is an error) {
  keyed_state_backend backend{key_group_range{0, 128}, 128};
  current_key<std::string> none;
  keyed_state_store<std::string> store{backend, none};
  auto v = store.get_state<int>("v");
  CAF_CHECK(test::throws<std::logic_error>([&] { v.update(1); },
                                           "outside of a keyed context"));
  // One name, two types: refused.
  CAF_CHECK(test::throws<std::logic_error>(
      [&] { store.get_state<std::string>("v"); }, "v"));
}

CAF_TEST(peek reads the current key state in place) {
  keyed_state_backend backend{key_group_range{0, 128}, 128};
  current_key<std::string> key;
  keyed_state_store<std::string> store{backend, key};
  auto v = store.get_state<std::string>("v");
  auto xs = store.get_list_state<int>("xs");
  std::string held;
  auto at = [&](const std::string& k) {
    held = k;
    key.key = &held;
    key.hash = key_hash(held);
    key.key_group = key_group_of_hash(key.hash, 128);
  };
  at("a");
  CAF_CHECK(v.peek() == nullptr);
  CAF_CHECK(xs.peek() == nullptr);
  v.update("one");
  xs.add(1);
  xs.add(2);
  at("b");
  CAF_CHECK(v.peek() == nullptr);
  v.update("two");
  at("a");
  CAF_REQUIRE(v.peek() != nullptr);
  CAF_CHECK_EQUAL(*v.peek(), "one");
  CAF_REQUIRE(xs.peek() != nullptr);
  CAF_CHECK_EQUAL(xs.peek()->size(), 2u);
  CAF_CHECK(v.peek() == v.peek()); // in place, not a copy
  v.clear();
  CAF_CHECK(v.peek() == nullptr);
  at("b");
  CAF_REQUIRE(v.peek() != nullptr);
  CAF_CHECK_EQUAL(*v.peek(), "two");
}

// -- timers
// -------------------------------------------------------------------------

namespace {

/// On each element: an event-time timer at ts + 10 (twice, to test
/// de-duplication); a record with qty 0 deletes its key's timer at ts + 10
/// instead. On a timer: "key@time/domain/element timestamp".
struct event_timers final
    : keyed_process_function<std::string, trade, std::string> {
  void process_element(const trade& t, context& ctx,
                       collector<std::string>&) override {
    auto when = ctx.element_timestamp() + 10;
    if (t.qty == 0) {
      ctx.timer_service().delete_event_time_timer(when);
      return;
    }
    ctx.timer_service().register_event_time_timer(when);
    ctx.timer_service().register_event_time_timer(when);
  }

  void on_timer(timestamp time, time_domain domain, context& ctx,
                collector<std::string>& out) override {
    out.collect(ctx.current_key() + "@" + std::to_string(time)
                + (domain == time_domain::event_time ? "/event" : "/processing")
                + "/" + std::to_string(ctx.element_timestamp()));
  }
};

} // namespace

CAF_TEST(event time timers fire on the watermark in time order) {
  one_input_harness<trade, std::string> h{process_op<event_timers>()};
  h.open();
  h.process_element({"A", 1, 0, 0}, 5);  // timer A@15
  h.process_element({"B", 1, 0, 1}, 3);  // timer B@13
  h.process_element({"A", 1, 0, 2}, 1);  // timer A@11
  h.process_element({"C", 1, 0, 3}, 30); // timer C@40
  h.process_element({"C", 0, 0, 4}, 30); // deletes C@40
  h.process_watermark(12);
  CAF_CHECK_EQUAL(h.take_output(), (std::vector<std::string>{"A@11/event/11"}));
  h.process_watermark(20);
  CAF_CHECK_EQUAL(h.take_output(),
                  (std::vector<std::string>{"B@13/event/13", "A@15/event/15"}));
  h.process_watermark(100);
  CAF_CHECK(h.take_output().empty());
  // Results of a timer carry the timer's time; the watermark follows them.
  CAF_CHECK_EQUAL(h.output().watermarks, (std::vector<timestamp>{12, 20, 100}));
}

CAF_TEST(timer output precedes the watermark that fired it) {
  one_input_harness<trade, std::string> h{process_op<event_timers>()};
  h.open();
  h.process_element({"A", 1, 0, 0}, 5);
  h.process_watermark(15);
  auto& recs = h.output().records;
  CAF_REQUIRE_EQUAL(recs.size(), 1u);
  CAF_CHECK_EQUAL(recs[0].ts, 15);
  CAF_CHECK_EQUAL(h.output().watermarks, (std::vector<timestamp>{15}));
}

namespace {

/// A processing-time timer 100 ms after each element's arrival.
struct processing_timers final
    : keyed_process_function<std::string, trade, std::string> {
  void process_element(const trade&, context& ctx,
                       collector<std::string>&) override {
    auto& ts = ctx.timer_service();
    ts.register_processing_time_timer(ts.current_processing_time() + 100);
  }

  void on_timer(timestamp time, time_domain domain, context& ctx,
                collector<std::string>& out) override {
    out.collect(
        ctx.current_key() + "@" + std::to_string(time)
        + (domain == time_domain::processing_time ? "/processing" : "/event"));
  }
};

/// Deletes the processing-time timer registered by the previous element of
/// the key, then registers one 100 ms ahead (a debounce).
struct debounce final
    : keyed_process_function<std::string, trade, std::string> {
  value_state<int64_t> pending;

  void open(keyed_state_store<std::string>& st, const runtime_info&) override {
    pending = st.get_state<int64_t>("pending");
  }

  void process_element(const trade&, context& ctx,
                       collector<std::string>&) override {
    auto& ts = ctx.timer_service();
    if (auto p = pending.value())
      ts.delete_processing_time_timer(*p);
    auto when = ts.current_processing_time() + 100;
    ts.register_processing_time_timer(when);
    pending.update(when);
  }

  void on_timer(timestamp time, time_domain, context& ctx,
                collector<std::string>& out) override {
    pending.clear();
    out.collect(ctx.current_key() + "@" + std::to_string(time));
  }
};

} // namespace

CAF_TEST(processing time timers fire as the clock advances) {
  one_input_harness<trade, std::string> h{process_op<processing_timers>()};
  h.open();
  h.set_processing_time(0);
  h.process_element({"A", 1, 0, 0}, 0); // A@100
  h.set_processing_time(30);
  h.process_element({"B", 1, 0, 1}, 0); // B@130
  h.set_processing_time(99);
  CAF_CHECK(h.take_output().empty());
  h.set_processing_time(100);
  CAF_CHECK_EQUAL(h.take_output(),
                  (std::vector<std::string>{"A@100/processing"}));
  h.set_processing_time(500);
  CAF_CHECK_EQUAL(h.take_output(),
                  (std::vector<std::string>{"B@130/processing"}));
  // Watermarks do not fire processing-time timers.
  h.process_element({"C", 1, 0, 2}, 0); // C@600
  h.process_watermark(max_watermark - 1);
  CAF_CHECK(h.take_output().empty());
  h.set_processing_time(600);
  CAF_CHECK_EQUAL(h.take_output(),
                  (std::vector<std::string>{"C@600/processing"}));
}

CAF_TEST(deleted processing time timers do not fire) {
  one_input_harness<trade, std::string> h{process_op<debounce>()};
  h.open();
  h.set_processing_time(0);
  h.process_element({"A", 1, 0, 0}, 0); // A@100
  h.set_processing_time(50);
  h.process_element({"A", 1, 0, 1}, 0); // deletes A@100, A@150
  h.process_element({"B", 1, 0, 2}, 0); // B@150
  h.set_processing_time(120);
  CAF_CHECK(h.take_output().empty());
  h.set_processing_time(150);
  CAF_CHECK_EQUAL(sorted_copy(h.take_output()),
                  (std::vector<std::string>{"A@150", "B@150"}));
  h.set_processing_time(1000);
  CAF_CHECK(h.take_output().empty());
}

namespace {

/// Registers a processing-time timer 100 ms ahead per element; each timer
/// emits the key, sends it to a side output and registers the next one
/// (a periodic timer).
struct periodic_timer final
    : keyed_process_function<std::string, trade, std::string> {
  void process_element(const trade&, context& ctx,
                       collector<std::string>&) override {
    auto& ts = ctx.timer_service();
    ts.register_processing_time_timer(ts.current_processing_time() + 100);
  }

  void on_timer(timestamp time, time_domain, context& ctx,
                collector<std::string>& out) override {
    out.collect(ctx.current_key() + "@" + std::to_string(time));
    ctx.output(timer_tag, time);
    ctx.timer_service().register_processing_time_timer(time + 100);
  }

  static inline const output_tag<int64_t> timer_tag{"timers"};
};

} // namespace

// Regression: records emitted from a processing-time timer carried the
// processing time as their event timestamp, so downstream event-time
// windows misplaced them. Flink gives them none.
CAF_TEST(records from processing time timers carry no timestamp) {
  one_input_harness<trade, std::string> h{process_op<periodic_timer>()};
  auto& side = h.side_output(periodic_timer::timer_tag);
  h.open();
  h.set_processing_time(0);
  h.process_element({"A", 1, 0, 0}, 7);
  h.set_processing_time(100);
  CAF_REQUIRE_EQUAL(h.output().records.size(), 1u);
  CAF_CHECK_EQUAL(h.output().records[0].value, "A@100");
  CAF_CHECK_EQUAL(h.output().records[0].ts, no_timestamp);
  CAF_REQUIRE_EQUAL(side.records.size(), 1u);
  CAF_CHECK_EQUAL(side.records[0].ts, no_timestamp);
}

// Regression: the keyed process operator dropped pending processing-time
// timers at the end of a bounded input while the window operator fired
// them. Both fire them now, once, as Flink in BATCH execution.
CAF_TEST(pending processing time timers fire at the end of input) {
  one_input_harness<trade, std::string> h{process_op<periodic_timer>()};
  h.open();
  h.set_processing_time(0);
  h.process_element({"A", 1, 0, 0}, 0); // A@100
  h.set_processing_time(50);
  h.process_element({"B", 1, 0, 1}, 0); // B@150
  h.set_processing_time(120);
  CAF_CHECK_EQUAL(h.take_output(), (std::vector<std::string>{"A@100"}));
  // A@200 (re-registered) and B@150 are pending. At the end of input they
  // fire in time order; the timers they register are not fired (a
  // periodic timer would never end).
  h.end_input();
  CAF_CHECK_EQUAL(h.take_output(),
                  (std::vector<std::string>{"B@150", "A@200"}));
  CAF_CHECK(h.output().ended);
}

// -- side outputs
// ----------------------------------------------------------------------

namespace {

const output_tag<int64_t> big_tag{"big"};

/// Records with qty >= 5 go to the side output "big", others to the main one.
struct splitter final
    : keyed_process_function<std::string, trade, std::string> {
  void process_element(const trade& t, context& ctx,
                       collector<std::string>& out) override {
    if (t.qty >= 5)
      ctx.output(big_tag, t.qty);
    else
      out.collect(to_string(t));
  }
};

} // namespace

CAF_TEST(a keyed process function emits to side outputs) {
  one_input_harness<trade, std::string> h{process_op<splitter>()};
  auto& big = h.side_output(big_tag);
  h.open();
  std::vector<std::string> main_expected;
  std::vector<int64_t> side_expected;
  std::vector<timestamp> side_ts;
  timestamp ts = 1000;
  for (auto& t : trades()) {
    if (t.qty >= 5) {
      side_expected.push_back(t.qty);
      side_ts.push_back(ts);
    } else {
      main_expected.push_back(to_string(t));
    }
    h.process_element(t, ts++);
  }
  CAF_CHECK_EQUAL(h.output_values(), main_expected);
  CAF_CHECK_EQUAL(big.values(), side_expected);
  std::vector<timestamp> got_ts;
  for (auto& r : big.records)
    got_ts.push_back(r.ts);
  CAF_CHECK_EQUAL(got_ts, side_ts);
  // Control events reach side outputs too.
  h.process_watermark(7);
  CAF_CHECK_EQUAL(big.watermarks, (std::vector<timestamp>{7}));
}

// -- key groups
// ------------------------------------------------------------------------

CAF_TEST(a keyed subtask accepts only keys of its key groups) {
  const int max_p = 128;
  auto range = key_group_range_of(1, 2, max_p);
  CAF_CHECK_EQUAL(range.first, 64);
  CAF_CHECK_EQUAL(range.last, 128);
  std::vector<std::string> mine;
  std::vector<std::string> others;
  for (int i = 0; i < 200 && (mine.size() < 5 || others.size() < 5); ++i) {
    auto k = "key-" + std::to_string(i);
    auto kg = key_group_of(k, max_p);
    (kg >= 64 ? mine : others).push_back(k);
  }
  CAF_REQUIRE(mine.size() >= 5 && others.size() >= 5);
  {
    one_input_harness<trade, trade> h{
        keyed_op([](auto& s) { return s.sum(&trade::qty); }), 1, 2, max_p};
    h.open();
    for (auto& k : mine)
      h.process_element({k, 1, 0, 0}, 0);
    CAF_CHECK_EQUAL(h.output_values().size(), mine.size());
    for (auto& k : others)
      CAF_CHECK(test::throws<std::out_of_range>(
          [&] {
            h.process_element({k, 1, 0, 0}, 0);
          },
          "key group"));
  }
  {
    one_input_harness<trade, std::string> h{process_op<all_states>(), 1, 2,
                                            max_p};
    h.open();
    for (auto& k : mine)
      h.process_element({k, 1, 0, 0}, 0);
    CAF_CHECK_EQUAL(h.output_values().size(), mine.size());
    for (auto& k : others)
      CAF_CHECK(test::throws<std::out_of_range>([&] {
        h.process_element({k, 1, 0, 0}, 0);
      }));
  }
  {
    // Subtask 0 of 2 accepts exactly the other keys.
    one_input_harness<trade, trade> h{
        keyed_op([](auto& s) { return s.sum(&trade::qty); }), 0, 2, max_p};
    h.open();
    for (auto& k : others)
      h.process_element({k, 1, 0, 0}, 0);
    CAF_CHECK_EQUAL(h.output_values().size(), others.size());
    for (auto& k : mine)
      CAF_CHECK(test::throws<std::out_of_range>([&] {
        h.process_element({k, 1, 0, 0}, 0);
      }));
  }
}

// -- state TTL
// ------------------------------------------------------------------

namespace {

/// Emits "<symbol>:<count before>/<list size before>" per element, counting
/// in state with a 100 ms TTL (refresh on write, or on read and write).
template <state_ttl::update Refresh>
struct ttl_counter final
    : keyed_process_function<std::string, trade, std::string> {
  void open(keyed_state_store<std::string>& store,
            const runtime_info&) override {
    count_ = store.get_state<int>("count", state_ttl::of(100, Refresh));
    ids_ = store.get_list_state<int64_t>("ids", state_ttl::of(100, Refresh));
  }
  void process_element(const trade& t, context&,
                       collector<std::string>& out) override {
    auto n = count_.value_or(0);
    out.collect(t.symbol + ":" + std::to_string(n) + "/"
                + std::to_string(ids_.get().size()));
    count_.update(n + 1);
    ids_.add(t.id);
  }
  value_state<int> count_;
  list_state<int64_t> ids_;
};

trade at(std::string symbol) {
  trade t;
  t.symbol = std::move(symbol);
  return t;
}

} // namespace

CAF_TEST(state with a TTL expires after the TTL without writes) {
  using fn = ttl_counter<state_ttl::update::on_create_and_write>;
  one_input_harness<trade, std::string> h{process_op<fn>()};
  h.open();
  h.set_processing_time(1000);
  h.process_element(at("A"), 0); // A:0/0, written at 1000
  h.set_processing_time(1099);
  h.process_element(at("A"), 0); // A:1/1, written at 1099
  h.set_processing_time(1198);
  h.process_element(at("A"), 0); // A:2/2 (99 ms after the last write)
  h.process_element(at("B"), 0); // B:0/0
  h.set_processing_time(1298);
  h.process_element(at("A"), 0); // exactly 100 ms: expired, A:0/0
  h.set_processing_time(1400);
  h.process_element(at("B"), 0); // 202 ms: expired, B:0/0
  CAF_CHECK_EQUAL(h.output_values(),
                  (std::vector<std::string>{"A:0/0", "A:1/1", "A:2/2", "B:0/0",
                                            "A:0/0", "B:0/0"}));
}

CAF_TEST(reads refresh a TTL configured with on_read_and_write) {
  using fn = ttl_counter<state_ttl::update::on_read_and_write>;
  one_input_harness<trade, std::string> h{process_op<fn>()};
  h.open();
  h.set_processing_time(0);
  h.process_element(at("A"), 0); // A:0/0
  // Every element reads (refreshing) before it writes, 90 ms apart: the
  // state survives far longer than one TTL.
  for (timestamp t = 90; t <= 450; t += 90) {
    h.set_processing_time(t);
    h.process_element(at("A"), 0);
  }
  auto out = h.output_values();
  CAF_REQUIRE_EQUAL(out.size(), 6u);
  CAF_CHECK_EQUAL(out.back(), "A:5/5");
}

CAF_TEST(a TTL must be positive) {
  CAF_CHECK(test::throws<std::invalid_argument>([] { state_ttl::of(0); },
                                                "positive"));
  CAF_CHECK(test::throws<std::invalid_argument>([] { state_ttl::of(-5); },
                                                "positive"));
}
