#pragma once

#include <chrono>
#include <cstdint>
#include <limits>

namespace libstream {

/// Milliseconds since the epoch, the unit of event time, watermarks and
/// processing time throughout libstream (as in Flink).
using timestamp = int64_t;

/// The timestamp of a record that has none (no assigner ran yet).
constexpr timestamp no_timestamp = std::numeric_limits<int64_t>::min();

/// The watermark before any input arrived: nothing is known to be complete.
constexpr timestamp min_watermark = std::numeric_limits<int64_t>::min();

/// The watermark at the end of a bounded input: every timer fires.
constexpr timestamp max_watermark = std::numeric_limits<int64_t>::max();

/// A span of time in milliseconds.
using duration_ms = int64_t;

/// The system clock in milliseconds, the default processing-time source.
inline timestamp system_now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
      .count();
}

/// The monotonic clock in nanoseconds, for latency and throughput figures.
inline int64_t monotonic_now_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(steady_clock::now().time_since_epoch())
      .count();
}

} // namespace libstream
