#define CAF_SUITE async_io
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "libstream/async/async_io.hpp"
#include "libstream/async/blocking_pool.hpp"
#include "libstream/testing/harness.hpp"
#include "test_util.hpp"

using namespace libstream;
using libstream::testing::one_input_harness;

namespace {

/// Keeps every request's future for the test to complete by hand.
struct manual_requests {
  std::vector<std::pair<int64_t, result_future<std::string>>> calls;
  std::vector<std::pair<int64_t, result_future<std::string>>> timeouts;
};

class manual_function final : public async_function<int64_t, std::string> {
public:
  explicit manual_function(std::shared_ptr<manual_requests> r,
                           bool fallback_on_timeout = false)
      : r_(std::move(r)), fallback_(fallback_on_timeout) {}

  void async_invoke(const int64_t& x,
                    result_future<std::string> f) override {
    r_->calls.emplace_back(x, f);
  }

  void timeout(const int64_t& x, result_future<std::string> f) override {
    r_->timeouts.emplace_back(x, f);
    if (fallback_)
      f.complete_one("timeout:" + std::to_string(x));
    else
      async_function::timeout(x, f);
  }

private:
  std::shared_ptr<manual_requests> r_;
  bool fallback_;
};

using harness_t = one_input_harness<int64_t, std::string>;

std::unique_ptr<harness_t>
make_harness(std::shared_ptr<manual_requests> r, async_options<std::string> o,
             bool fallback = false) {
  auto op = std::make_unique<async_wait_operator<int64_t, std::string>>(
      std::make_unique<manual_function>(std::move(r), fallback), o);
  auto h = std::make_unique<harness_t>(std::move(op));
  h->open();
  return h;
}

async_options<std::string> options(async_output_mode mode,
                                   size_t capacity = 100,
                                   duration_ms timeout = 1000) {
  async_options<std::string> o;
  o.mode = mode;
  o.capacity = capacity;
  o.timeout = timeout;
  return o;
}

std::string v(int64_t x) {
  return "v" + std::to_string(x);
}

/// Completes request `i` (in call order) with its value's name.
void answer(manual_requests& r, size_t i) {
  r.calls.at(i).second.complete_one(v(r.calls.at(i).first));
}

record_batch<int64_t> batch_of(std::vector<int64_t> xs) {
  record_batch<int64_t> b;
  for (auto x : xs)
    b.push_back(record<int64_t>{x, x * 10});
  return b;
}

/// An operator_restore over snapshots taken by hand.
class snapshots_restore final : public operator_restore {
public:
  explicit snapshots_restore(std::vector<std::string> states)
      : states_(std::move(states)) {}
  int old_parallelism() const override {
    return static_cast<int>(states_.size());
  }
  std::string key_group_section(int) const override { return {}; }
  std::string source_position(int) const override { return {}; }
  std::string operator_state(int index) const override {
    return states_.at(static_cast<size_t>(index));
  }

private:
  std::vector<std::string> states_;
};

} // namespace

CAF_TEST(ordered wait emits in input order with the input timestamps) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::ordered));
  h->process_batch(batch_of({1, 2, 3, 4}));
  CAF_REQUIRE_EQUAL(r->calls.size(), 4u);
  answer(*r, 3);
  answer(*r, 1);
  h->deliver_wakeups();
  CAF_CHECK(h->output().records.empty()); // 1 is still out
  answer(*r, 0);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(),
                  (std::vector<std::string>{v(1), v(2)}));
  answer(*r, 2);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(),
                  (std::vector<std::string>{v(1), v(2), v(3), v(4)}));
  for (auto& rec : h->output().records)
    CAF_CHECK_EQUAL(rec.ts, std::stoll(rec.value.substr(1)) * 10);
}

CAF_TEST(unordered wait emits as requests complete but never across a
         watermark) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::unordered));
  h->process_batch(batch_of({1, 2}));
  h->process_watermark(100);
  h->process_batch(batch_of({3, 4}));
  CAF_REQUIRE_EQUAL(r->calls.size(), 4u);
  answer(*r, 3); // after the watermark: waits
  h->deliver_wakeups();
  CAF_CHECK(h->output().records.empty());
  answer(*r, 1);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(), (std::vector<std::string>{v(2)}));
  CAF_CHECK(h->output().watermarks.empty());
  answer(*r, 0); // the segment is complete: 1, then the watermark, then 4
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(),
                  (std::vector<std::string>{v(2), v(1), v(4)}));
  CAF_CHECK_EQUAL(h->output().watermarks, (std::vector<timestamp>{100}));
  answer(*r, 2);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(),
                  (std::vector<std::string>{v(2), v(1), v(4), v(3)}));
  // A watermark with nothing in flight passes at once.
  h->process_watermark(200);
  CAF_CHECK_EQUAL(h->output().watermarks, (std::vector<timestamp>{100, 200}));
}

CAF_TEST(ordered wait holds a watermark behind earlier records) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::ordered));
  h->process_batch(batch_of({1}));
  h->process_watermark(50);
  h->process_batch(batch_of({2}));
  answer(*r, 1);
  h->deliver_wakeups();
  CAF_CHECK(h->output().watermarks.empty());
  answer(*r, 0);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(), (std::vector<std::string>{v(1), v(2)}));
  CAF_CHECK_EQUAL(h->output().watermarks, (std::vector<timestamp>{50}));
}

CAF_TEST(capacity bounds the requests in flight and holds the input) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::ordered, 2));
  h->process_batch(batch_of({1, 2, 3, 4, 5}));
  CAF_CHECK_EQUAL(r->calls.size(), 2u);
  CAF_CHECK(h->input_held());
  answer(*r, 1); // not at the head: no room yet in ordered mode
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(r->calls.size(), 2u);
  answer(*r, 0);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(r->calls.size(), 4u);
  CAF_CHECK(h->input_held());
  answer(*r, 2);
  answer(*r, 3);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(r->calls.size(), 5u);
  CAF_CHECK(!h->input_held()); // the batch is all in flight
  answer(*r, 4);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(),
                  (std::vector<std::string>{v(1), v(2), v(3), v(4), v(5)}));
}

CAF_TEST(a request that times out fails the job naming the record) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::unordered, 10, 500));
  h->set_processing_time(1000);
  h->process_batch(batch_of({7}));
  h->set_processing_time(1499);
  CAF_CHECK(r->timeouts.empty());
  try {
    h->set_processing_time(1500);
    CAF_FAIL("no timeout");
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    CAF_CHECK(what.find("timestamp 70") != std::string::npos);
    CAF_CHECK(what.find("timeout of 500 ms") != std::string::npos);
    CAF_CHECK(what.find("timed out") != std::string::npos);
  }
}

CAF_TEST(a timeout handler may complete with a fallback; the late answer is
         ignored) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::ordered, 10, 500), true);
  h->process_batch(batch_of({1, 2}));
  answer(*r, 1);
  h->deliver_wakeups();
  h->set_processing_time(500);
  CAF_CHECK_EQUAL(r->timeouts.size(), 1u); // only 1 was still out
  CAF_CHECK_EQUAL(h->output_values(),
                  (std::vector<std::string>{"timeout:1", v(2)}));
  answer(*r, 0); // too late
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values().size(), 2u);
  CAF_CHECK_EQUAL(h->pending_processing_time_requests(), 0u);
}

CAF_TEST(failed requests are retried with backoff until they succeed) {
  auto r = std::make_shared<manual_requests>();
  auto o = options(async_output_mode::ordered, 10, 10000);
  o.retry = async_retry_strategy<std::string>::exponential_backoff(3, 100,
                                                                    250);
  auto h = make_harness(r, o);
  h->process_batch(batch_of({1}));
  r->calls.at(0).second.complete_exceptionally("connection refused");
  h->deliver_wakeups();
  h->set_processing_time(99);
  CAF_CHECK_EQUAL(r->calls.size(), 1u);
  h->set_processing_time(100); // retry 1 after 100 ms
  CAF_REQUIRE_EQUAL(r->calls.size(), 2u);
  r->calls.at(1).second.complete_exceptionally("connection refused");
  h->deliver_wakeups();
  h->set_processing_time(299);
  CAF_CHECK_EQUAL(r->calls.size(), 2u);
  h->set_processing_time(300); // retry 2 after 200 ms
  CAF_REQUIRE_EQUAL(r->calls.size(), 3u);
  // A late answer of an earlier attempt does not count.
  r->calls.at(0).second.complete_one("stale");
  answer(*r, 2);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(), (std::vector<std::string>{v(1)}));
}

CAF_TEST(retries end after max_retries and fail the job with the cause) {
  auto r = std::make_shared<manual_requests>();
  auto o = options(async_output_mode::unordered, 10, 10000);
  o.retry = async_retry_strategy<std::string>::fixed_delay(2, 10);
  auto h = make_harness(r, o);
  h->process_batch(batch_of({5}));
  for (timestamp t : {10, 20}) {
    r->calls.back().second.complete_exceptionally("HTTP 503");
    h->deliver_wakeups();
    h->set_processing_time(t);
  }
  CAF_REQUIRE_EQUAL(r->calls.size(), 3u);
  r->calls.back().second.complete_exceptionally("HTTP 503");
  try {
    h->deliver_wakeups();
    CAF_FAIL("no failure");
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    CAF_CHECK(what.find("after 2 retries") != std::string::npos);
    CAF_CHECK(what.find("HTTP 503") != std::string::npos);
  }
}

CAF_TEST(a result predicate asks for a retry; an error predicate limits
         which errors are retried) {
  auto r = std::make_shared<manual_requests>();
  auto o = options(async_output_mode::unordered, 10, 10000);
  o.retry = async_retry_strategy<std::string>::fixed_delay(5, 10);
  o.retry.if_result([](const std::vector<std::string>& xs) {
    return xs.empty();
  });
  o.retry.if_error(
      [](const std::string& e) { return e.find("retry") != std::string::npos; });
  auto h = make_harness(r, o);
  h->process_batch(batch_of({1}));
  r->calls.back().second.complete({}); // empty: retried
  h->deliver_wakeups();
  h->set_processing_time(10);
  CAF_REQUIRE_EQUAL(r->calls.size(), 2u);
  answer(*r, 1);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values(), (std::vector<std::string>{v(1)}));
  h->process_batch(batch_of({2}));
  r->calls.back().second.complete_exceptionally("fatal: bad key");
  CAF_CHECK(libstream::test::throws<std::runtime_error>(
      [&] { h->deliver_wakeups(); }, "fatal: bad key"));
}

CAF_TEST(an input that goes idle is idle downstream once its results are
         out) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::unordered));
  h->process_batch(batch_of({1}));
  h->process_idleness(true);
  CAF_CHECK(h->output().idleness.empty());
  answer(*r, 0);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output().idleness, (std::vector<bool>{true}));
  // Idle and active again while a request runs: nothing goes out.
  h->process_idleness(false);
  h->process_batch(batch_of({2}));
  h->process_idleness(true);
  h->process_idleness(false);
  answer(*r, 1);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output().idleness, (std::vector<bool>{true, false}));
}

CAF_TEST(the end of the input waits for the requests in flight) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::unordered));
  h->process_batch(batch_of({1, 2}));
  h->end_input();
  CAF_CHECK(!h->output().ended);
  CAF_CHECK(h->input_held());
  answer(*r, 0);
  h->deliver_wakeups();
  CAF_CHECK(!h->output().ended);
  answer(*r, 1);
  h->deliver_wakeups();
  CAF_CHECK(h->output().ended);
  CAF_CHECK(!h->input_held());
  CAF_CHECK_EQUAL(h->output_values().size(), 2u);
}

CAF_TEST(a checkpoint holds the records in flight and a restore issues them
         again) {
  auto r = std::make_shared<manual_requests>();
  auto h = make_harness(r, options(async_output_mode::ordered, 2));
  h->process_batch(batch_of({1, 2}));
  h->process_watermark(15);
  h->process_batch(batch_of({3, 4})); // 3 and 4 wait in the stash
  answer(*r, 1);
  h->deliver_wakeups();
  CAF_CHECK(h->output().records.empty());
  operator_state_snapshot snap;
  h->op().snapshot_state(1, snap);
  CAF_REQUIRE(!snap.operator_state.empty());
  // The answer after the barrier is not part of the checkpoint's output.
  answer(*r, 0);
  h->deliver_wakeups();
  CAF_CHECK_EQUAL(h->output_values().size(), 2u);

  // Restored at parallelism 1 from that snapshot: 1, 2, the watermark,
  // 3 and 4 are all requested again, in order, within the capacity.
  auto r2 = std::make_shared<manual_requests>();
  auto h2 = make_harness(r2, options(async_output_mode::ordered, 2));
  h2->op().restore_state(snapshots_restore{{snap.operator_state}});
  CAF_CHECK(h2->input_held());
  h2->deliver_wakeups();
  CAF_REQUIRE_EQUAL(r2->calls.size(), 2u);
  CAF_CHECK_EQUAL(r2->calls[0].first, 1);
  CAF_CHECK_EQUAL(r2->calls[1].first, 2);
  answer(*r2, 0);
  answer(*r2, 1);
  h2->deliver_wakeups();
  CAF_REQUIRE_EQUAL(r2->calls.size(), 4u);
  answer(*r2, 2);
  answer(*r2, 3);
  h2->deliver_wakeups();
  CAF_CHECK(!h2->input_held());
  CAF_CHECK_EQUAL(h2->output_values(),
                  (std::vector<std::string>{v(1), v(2), v(3), v(4)}));
  CAF_CHECK_EQUAL(h2->output().watermarks, (std::vector<timestamp>{15}));
  for (auto& rec : h2->output().records)
    CAF_CHECK_EQUAL(rec.ts, std::stoll(rec.value.substr(1)) * 10);
}

CAF_TEST(a restore at another parallelism spreads the old subtasks) {
  auto snapshot_of = [](std::vector<int64_t> xs) {
    auto r = std::make_shared<manual_requests>();
    auto h = make_harness(r, options(async_output_mode::unordered));
    h->process_batch(batch_of(xs));
    h->process_watermark(xs.front() * 10);
    operator_state_snapshot snap;
    h->op().snapshot_state(1, snap);
    return snap.operator_state;
  };
  snapshots_restore from{{snapshot_of({1}), snapshot_of({2}),
                          snapshot_of({3})}};
  std::vector<int64_t> requested;
  for (int index = 0; index < 2; ++index) {
    auto r = std::make_shared<manual_requests>();
    auto op = std::make_unique<async_wait_operator<int64_t, std::string>>(
        std::make_unique<manual_function>(r),
        options(async_output_mode::unordered));
    harness_t h{std::move(op), index, 2};
    h.open();
    h.op().restore_state(from);
    h.deliver_wakeups();
    for (size_t i = 0; i < r->calls.size(); ++i) {
      requested.push_back(r->calls[i].first);
      answer(*r, i);
    }
    h.deliver_wakeups();
    CAF_CHECK_EQUAL(h.output_values().size(), r->calls.size());
    // Subtask 0 took old subtasks 0 and 2: their watermarks would let the
    // first pass the second's records, so none comes back. Subtask 1 took
    // old subtask 1 only: its watermark follows its record.
    if (index == 0)
      CAF_CHECK(h.output().watermarks.empty());
    else
      CAF_CHECK_EQUAL(h.output().watermarks, (std::vector<timestamp>{20}));
  }
  std::sort(requested.begin(), requested.end());
  CAF_CHECK_EQUAL(requested, (std::vector<int64_t>{1, 2, 3}));
}

namespace {

struct slow_doubler_client {
  std::atomic<int>* running;
  std::atomic<int>* peak;
};

/// Doubles numbers through a blocking "client" that takes a millisecond.
class slow_doubler final
    : public blocking_async_function<int64_t, int64_t, slow_doubler_client> {
public:
  slow_doubler(size_t threads, std::atomic<int>* running,
               std::atomic<int>* peak, std::atomic<int>* connects)
      : blocking_async_function(threads), running_(running), peak_(peak),
        connects_(connects) {}

protected:
  std::unique_ptr<slow_doubler_client> connect(const runtime_info&) override {
    ++*connects_;
    return std::make_unique<slow_doubler_client>(
        slow_doubler_client{running_, peak_});
  }

  std::vector<int64_t> call(slow_doubler_client& c,
                            const int64_t& x) override {
    auto now = ++*c.running;
    auto seen = c.peak->load();
    while (now > seen && !c.peak->compare_exchange_weak(seen, now)) {
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
    --*c.running;
    if (x == 13)
      throw std::runtime_error("unlucky " + std::to_string(x));
    return {2 * x};
  }

private:
  std::atomic<int>* running_;
  std::atomic<int>* peak_;
  std::atomic<int>* connects_;
};

} // namespace

CAF_TEST(a blocking client on a pool runs with bounded concurrency) {
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::atomic<int> connects{0};
  auto o = async_options<int64_t>{};
  o.mode = async_output_mode::ordered;
  o.capacity = 16;
  auto op = std::make_unique<async_wait_operator<int64_t, int64_t>>(
      std::make_unique<slow_doubler>(3, &running, &peak, &connects), o);
  one_input_harness<int64_t, int64_t> h{std::move(op)};
  h.open();
  std::vector<int64_t> expected;
  for (int64_t i = 0; i < 200; ++i) {
    if (i == 13)
      continue;
    h.process_element(i, i);
    expected.push_back(2 * i);
    while (h.input_held()) {
      h.deliver_wakeups();
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  }
  h.end_input();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!h.output().ended && std::chrono::steady_clock::now() < deadline) {
    h.deliver_wakeups();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  CAF_REQUIRE(h.output().ended);
  CAF_CHECK_EQUAL(h.output_values(), expected);
  CAF_CHECK(peak.load() <= 3);
  CAF_CHECK(peak.load() >= 2); // the calls did overlap
  CAF_CHECK(connects.load() <= 3); // a client per thread, reused
  // An exception of the client fails the request with its message.
  h.process_element(13, 13);
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool failed = false;
  while (!failed && std::chrono::steady_clock::now() < deadline) {
    try {
      h.deliver_wakeups();
    } catch (const std::runtime_error& e) {
      failed = std::string{e.what()}.find("unlucky 13") != std::string::npos;
      CAF_CHECK(failed);
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  CAF_CHECK(failed);
  h.close();
}

CAF_TEST(options are checked where the job is defined) {
  auto bad = options(async_output_mode::ordered, 0);
  CAF_CHECK(libstream::test::throws<std::invalid_argument>(
      [&] { bad.validate(); }));
  bad = options(async_output_mode::ordered, 1, 0);
  CAF_CHECK(libstream::test::throws<std::invalid_argument>(
      [&] { bad.validate(); }));
  bad = options(async_output_mode::ordered);
  bad.retry = async_retry_strategy<std::string>::exponential_backoff(1, 10, 5,
                                                                     0.5);
  CAF_CHECK(libstream::test::throws<std::invalid_argument>(
      [&] { bad.validate(); }));
  auto s = async_retry_strategy<std::string>::exponential_backoff(5, 100,
                                                                  1000, 3);
  CAF_CHECK_EQUAL(s.delay_before(1), 100);
  CAF_CHECK_EQUAL(s.delay_before(2), 300);
  CAF_CHECK_EQUAL(s.delay_before(3), 900);
  CAF_CHECK_EQUAL(s.delay_before(4), 1000);
}
