#define CAF_SUITE restart_strategy
#include "caf/test/unit_test.hpp"

// Restart decisions without a job: how often and how long after a failure
// each strategy restarts, and when it gives up.

#include <stdexcept>

#include "libstream/checkpoint/restart_strategy.hpp"
#include "test_util.hpp"

using namespace libstream;

CAF_TEST(no restart strategy fails at once) {
  restart_tracker t{restart_strategy::no_restart()};
  CAF_CHECK(!t.on_failure(0));
  CAF_CHECK(test::contains(t.exhausted_reason(), "no restart strategy"));
}

CAF_TEST(fixed delay restarts a fixed number of times) {
  restart_tracker t{restart_strategy::fixed(2, 500)};
  CAF_CHECK(t.on_failure(0) == duration_ms{500});
  CAF_CHECK(t.on_failure(10) == duration_ms{500});
  CAF_CHECK(!t.on_failure(20));
  CAF_CHECK_EQUAL(t.restarts(), 2);
  CAF_CHECK(test::contains(t.exhausted_reason(), "2 restart(s)"));
}

CAF_TEST(exponential backoff grows to its cap and resets after quiet) {
  auto s = restart_strategy::backoff(100, 1000, 2.0);
  s.jitter = 0;
  s.reset_threshold = 10000;
  restart_tracker t{s};
  CAF_CHECK(t.on_failure(0) == duration_ms{100});
  CAF_CHECK(t.on_failure(1) == duration_ms{200});
  CAF_CHECK(t.on_failure(2) == duration_ms{400});
  CAF_CHECK(t.on_failure(3) == duration_ms{800});
  CAF_CHECK(t.on_failure(4) == duration_ms{1000});
  CAF_CHECK(t.on_failure(5) == duration_ms{1000});
  // A run longer than the threshold without failures starts over.
  CAF_CHECK(t.on_failure(20000) == duration_ms{100});
}

CAF_TEST(backoff jitter stays within its fraction) {
  auto s = restart_strategy::backoff(1000, 1000, 2.0);
  s.jitter = 0.2;
  restart_tracker t{s, 42};
  bool varied = false;
  for (int i = 0; i < 50; ++i) {
    auto d = t.on_failure(i);
    CAF_REQUIRE(d);
    CAF_CHECK(*d >= 800 && *d <= 1200);
    varied = varied || *d != 1000;
  }
  CAF_CHECK(varied);
}

CAF_TEST(failure rate gives up on too many failures in an interval) {
  restart_tracker t{restart_strategy::rate(2, 1000, 50)};
  CAF_CHECK(t.on_failure(0) == duration_ms{50});
  CAF_CHECK(t.on_failure(500) == duration_ms{50});
  CAF_CHECK(!t.on_failure(900)); // three within one second
  restart_tracker u{restart_strategy::rate(2, 1000, 50)};
  CAF_CHECK(u.on_failure(0));
  CAF_CHECK(u.on_failure(600));
  CAF_CHECK(u.on_failure(1700)); // the first fell out of the interval
}

CAF_TEST(bad strategies are refused) {
  auto s = restart_strategy::backoff(100, 1000, 0.5);
  CAF_CHECK(test::throws<std::invalid_argument>([&] { s.validate(); },
                                                "multiplier"));
  auto r = restart_strategy::rate(0, 1000, 0);
  CAF_CHECK(test::throws<std::invalid_argument>([&] { r.validate(); },
                                                "failure rate"));
  auto f = restart_strategy::fixed(-1, 0);
  CAF_CHECK(test::throws<std::invalid_argument>([&] { f.validate(); },
                                                "attempts"));
}
