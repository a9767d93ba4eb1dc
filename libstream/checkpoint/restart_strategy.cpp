#include "libstream/checkpoint/restart_strategy.hpp"

#include <stdexcept>

namespace libstream {

void restart_strategy::validate() const {
  auto fail = [](const std::string& what) {
    throw std::invalid_argument("invalid restart strategy: " + what);
  };
  if (max_attempts < 0)
    fail("attempts must not be negative");
  if (delay < 0 || max_delay < 0 || interval <= 0 || reset_threshold <= 0)
    fail("delays must not be negative and intervals positive");
  if (multiplier < 1.0)
    fail("the backoff multiplier must be at least 1");
  if (jitter < 0 || jitter >= 1)
    fail("the jitter must be in [0, 1)");
  if (max_failures < 1)
    fail("the failure rate needs at least one failure per interval");
}

double restart_tracker::next_random() {
  rng_ ^= rng_ << 13;
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  return static_cast<double>(rng_ >> 11) / 9007199254740992.0;
}

std::optional<duration_ms> restart_tracker::on_failure(int64_t now_ms) {
  using kind = restart_strategy::kind;
  std::optional<duration_ms> result;
  switch (s_.type) {
    case kind::none:
      break;
    case kind::fixed_delay:
      if (restarts_ < s_.max_attempts)
        result = s_.delay;
      break;
    case kind::exponential_backoff: {
      if (restarts_ > 0 && now_ms - last_failure_ms_ > s_.reset_threshold)
        backoff_ = 0; // a long quiet run starts over
      backoff_ = backoff_ == 0
                     ? s_.delay
                     : std::min<duration_ms>(
                         s_.max_delay,
                         static_cast<duration_ms>(
                             static_cast<double>(backoff_) * s_.multiplier));
      auto spread = static_cast<double>(backoff_) * s_.jitter;
      result = std::max<duration_ms>(
          0, backoff_
                 + static_cast<duration_ms>((next_random() * 2 - 1) * spread));
      break;
    }
    case kind::failure_rate:
      recent_.push_back(now_ms);
      while (!recent_.empty() && now_ms - recent_.front() > s_.interval)
        recent_.pop_front();
      if (static_cast<int>(recent_.size()) <= s_.max_failures)
        result = s_.delay;
      break;
  }
  last_failure_ms_ = now_ms;
  if (result)
    ++restarts_;
  return result;
}

std::string restart_tracker::exhausted_reason() const {
  using kind = restart_strategy::kind;
  switch (s_.type) {
    case kind::none:
      return "no restart strategy is configured";
    case kind::fixed_delay:
      return "the restart strategy allows " + std::to_string(s_.max_attempts)
             + " restart(s)";
    case kind::exponential_backoff:
      return "the restart strategy gave up";
    case kind::failure_rate:
      return "more than " + std::to_string(s_.max_failures)
             + " failures within " + std::to_string(s_.interval) + " ms";
  }
  return "";
}

} // namespace libstream
