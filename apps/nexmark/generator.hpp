#pragma once

// A generator faithful to the reference Nexmark generator
// (nexmark/nexmark, nexmark-flink/.../generator): the same event mix
// (event id mod 50: 1 person, 3 auctions, 46 bids), ids, hot sellers,
// bidders and auctions, active people and in-flight auctions, prices,
// strings, channels and URLs, padding to the average sizes, and event
// times from the event number and the rate. Deterministic: event k is
// made from a java.util.Random seeded with its event id (as the original
// port and Apache Beam's Nexmark; the reference's current generator
// draws from one unseeded SplittableRandom, which nobody can reproduce),
// drawing in the reference's current order. docs/nexmark.md lists every
// choice and quirk.

#include <cstdint>
#include <string>

#include "nexmark/model.hpp"

namespace nexmark {

/// java.util.Random, bit for bit (a 48-bit linear congruential generator).
class java_random {
public:
  explicit java_random(int64_t seed)
      : state_((static_cast<uint64_t>(seed) ^ multiplier) & mask) {}

  int32_t next_int() { return next(32); }
  /// In [0, bound), bound > 0.
  int32_t next_int(int32_t bound);
  int64_t next_long() {
    auto hi = static_cast<int64_t>(next(32));
    auto lo = static_cast<int64_t>(next(32));
    // Java's long arithmetic wraps.
    return static_cast<int64_t>((static_cast<uint64_t>(hi) << 32)
                                + static_cast<uint64_t>(lo));
  }
  double next_double() {
    auto hi = static_cast<int64_t>(next(26));
    auto lo = static_cast<int64_t>(next(27));
    return static_cast<double>((hi << 27) + lo) * 0x1.0p-53;
  }

private:
  static constexpr uint64_t multiplier = 0x5DEECE66DULL;
  static constexpr uint64_t mask = (uint64_t{1} << 48) - 1;

  int32_t next(int bits) {
    state_ = (state_ * multiplier + 0xBULL) & mask;
    return static_cast<int32_t>(
        static_cast<uint32_t>(state_ >> (48 - bits)));
  }

  uint64_t state_;
};

/// What the generator needs to know.
struct generator_config {
  /// Events per second of event time (the reference's first-event rate;
  /// its benchmark runs 10 M/s).
  double events_per_second = 10'000'000;
  /// The event time of event number 0 (epoch ms; the reference takes the
  /// wall clock at planning time).
  int64_t base_time_ms = 1'577'836'800'000; // 2020-01-01T00:00:00Z
};

/// The k-th event (k from 0) of the single logical generator: event
/// number k + 1, event id k + 2, as the reference's source numbers them.
event generate(const generator_config& cfg, uint64_t k);

/// The event time of event number `n`.
int64_t timestamp_of(const generator_config& cfg, uint64_t n);

/// Event id -> type: 0 person, 1 auction, 2 bid.
inline int type_of_id(int64_t id) {
  auto rem = id % 50;
  return rem < 1 ? 0 : rem < 4 ? 1 : 2;
}

/// The highest person / auction id (base 0) made up to event `id`.
int64_t last_base0_person_id(int64_t event_id);
int64_t last_base0_auction_id(int64_t event_id);

} // namespace nexmark
