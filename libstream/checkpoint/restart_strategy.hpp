#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "libstream/time.hpp"

namespace libstream {

/// When a failed job restarts from its latest completed checkpoint, as
/// Flink's restart strategies.
struct restart_strategy {
  enum class kind {
    none,                // the first failure fails the job
    fixed_delay,         // up to max_attempts restarts, `delay` apart
    exponential_backoff, // delay grows by `multiplier` up to max_delay
    failure_rate,        // fail when max_failures happen within `interval`
  };
  kind type = kind::none;
  int max_attempts = 3;       // fixed delay
  duration_ms delay = 1000;   // fixed delay, failure rate; initial backoff
  duration_ms max_delay = 60000;     // exponential backoff
  double multiplier = 2.0;           // exponential backoff
  duration_ms reset_threshold = 3600000; // backoff resets after a quiet run
  double jitter = 0.1;               // +- this fraction of the backoff
  int max_failures = 3;              // failure rate
  duration_ms interval = 60000;      // failure rate

  static restart_strategy no_restart() { return {}; }

  static restart_strategy fixed(int attempts, duration_ms delay_ms) {
    restart_strategy s;
    s.type = kind::fixed_delay;
    s.max_attempts = attempts;
    s.delay = delay_ms;
    return s;
  }

  static restart_strategy backoff(duration_ms initial, duration_ms max,
                                  double factor) {
    restart_strategy s;
    s.type = kind::exponential_backoff;
    s.delay = initial;
    s.max_delay = max;
    s.multiplier = factor;
    return s;
  }

  static restart_strategy rate(int failures, duration_ms per,
                               duration_ms delay_ms) {
    restart_strategy s;
    s.type = kind::failure_rate;
    s.max_failures = failures;
    s.interval = per;
    s.delay = delay_ms;
    return s;
  }

  /// Throws std::invalid_argument naming a bad value.
  void validate() const;
};

/// The restart decisions of one job: fed the time of every failure, it says
/// how long to wait before the restart, or that the job fails now.
class restart_tracker {
public:
  explicit restart_tracker(restart_strategy s, uint64_t seed = 1)
      : s_(s), rng_(seed == 0 ? 1 : seed) {}

  /// A failure at `now_ms`: the delay before restarting, or nullopt when
  /// the strategy is exhausted (the job fails).
  std::optional<duration_ms> on_failure(int64_t now_ms);

  int restarts() const noexcept { return restarts_; }

  /// Why the job is not restarted any more, for the error message.
  std::string exhausted_reason() const;

private:
  double next_random(); // in [0, 1)

  restart_strategy s_;
  uint64_t rng_;
  int restarts_ = 0;
  duration_ms backoff_ = 0;
  int64_t last_failure_ms_ = 0;
  std::deque<int64_t> recent_; // failure times within the rate interval
};

} // namespace libstream
