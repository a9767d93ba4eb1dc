#pragma once

#include <algorithm>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>

#include "libstream/time.hpp"

namespace libstream {

/// Where a watermark generator emits to.
class watermark_output {
public:
  virtual ~watermark_output() = default;
  /// Emits watermark `wm`; ignored unless it is above the last one.
  virtual void emit_watermark(timestamp wm) = 0;
  /// Declares the input idle: it no longer holds back downstream watermarks.
  virtual void mark_idle() = 0;
};

/// Generates watermarks from the timestamps of the events seen, as Flink's
/// WatermarkGenerator. on_periodic_emit runs every auto-watermark interval.
class watermark_generator {
public:
  virtual ~watermark_generator() = default;
  virtual void on_event(timestamp event_ts, watermark_output& out) = 0;
  virtual void on_periodic_emit(watermark_output& out) = 0;
};

/// Emits max_ts - bound - 1: events up to `bound` ms late are still on time.
class bounded_out_of_orderness_generator final : public watermark_generator {
public:
  explicit bounded_out_of_orderness_generator(duration_ms bound)
      : bound_(bound) {
    if (bound < 0)
      throw std::invalid_argument("the out-of-orderness bound must not be "
                                  "negative");
    max_ts_ = min_watermark + bound_ + 1;
  }

  void on_event(timestamp ts, watermark_output&) override { observe(ts); }

  /// on_event without the virtual call, for the operator's fast path.
  void observe(timestamp ts) noexcept {
    if (ts > max_ts_)
      max_ts_ = ts;
  }

  void on_periodic_emit(watermark_output& out) override {
    out.emit_watermark(max_ts_ - bound_ - 1);
  }

private:
  duration_ms bound_;
  timestamp max_ts_;
};

/// A timestamp assigner plus a watermark generator plus idleness, as Flink's
/// WatermarkStrategy.
template <class T>
class watermark_strategy {
public:
  using assigner_fn = std::function<timestamp(const T&, timestamp)>;
  using generator_factory
      = std::function<std::unique_ptr<watermark_generator>()>;

  /// Watermarks trail the highest timestamp seen by `bound` ms.
  static watermark_strategy for_bounded_out_of_orderness(duration_ms bound) {
    if (bound < 0)
      throw std::invalid_argument("the out-of-orderness bound must not be "
                                  "negative");
    return watermark_strategy{[bound] {
      return std::make_unique<bounded_out_of_orderness_generator>(bound);
    }};
  }

  /// Timestamps never decrease: the watermark is the highest timestamp - 1.
  static watermark_strategy for_monotonous_timestamps() {
    return for_bounded_out_of_orderness(0);
  }

  /// A custom generator, created once per subtask.
  static watermark_strategy for_generator(generator_factory f) {
    return watermark_strategy{std::move(f)};
  }

  /// No watermarks (processing-time pipelines); the end of a bounded input
  /// still sends the final watermark.
  static watermark_strategy no_watermarks() {
    return watermark_strategy{nullptr};
  }

  /// Ingestion time: each record gets the processing time at which it passes
  /// the assigner; watermarks follow that clock.
  static watermark_strategy for_ingestion_time() {
    auto s = for_monotonous_timestamps();
    s.ingestion_time_ = true;
    return s;
  }

  /// Extracts the event timestamp (ms) of a record; the second argument is
  /// the timestamp the record carries already (no_timestamp if none).
  watermark_strategy with_timestamp_assigner(assigner_fn f) const {
    auto copy = *this;
    copy.assigner_ = std::move(f);
    return copy;
  }

  /// Marks the input idle after `timeout` ms without records.
  watermark_strategy with_idleness(duration_ms timeout) const {
    if (timeout <= 0)
      throw std::invalid_argument("the idleness timeout must be positive");
    auto copy = *this;
    copy.idle_timeout_ = timeout;
    return copy;
  }

  const assigner_fn& assigner() const noexcept { return assigner_; }
  const generator_factory& generator() const noexcept { return generator_; }
  duration_ms idle_timeout() const noexcept { return idle_timeout_; }
  bool ingestion_time() const noexcept { return ingestion_time_; }

private:
  explicit watermark_strategy(generator_factory f) : generator_(std::move(f)) {}

  assigner_fn assigner_;
  generator_factory generator_;
  duration_ms idle_timeout_ = 0;
  bool ingestion_time_ = false;
};

/// How often periodic watermarks are emitted by default (Flink: 200 ms).
constexpr duration_ms default_auto_watermark_interval = 200;

} // namespace libstream
