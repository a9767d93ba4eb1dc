#pragma once

#include <array>
#include <cstddef>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/time.hpp"
#include "libstream/window/triggers.hpp"
#include "libstream/window/window.hpp"

namespace libstream {

// -- small vector -------------------------------------------------------------

/// A vector that keeps up to N elements inline and only allocates beyond
/// that: what an assigner returns per element, so that assigning a tumbling
/// or a short sliding window costs no heap allocation.
template <class T, size_t N = 4>
class small_vector {
public:
  small_vector() = default;

  small_vector(std::initializer_list<T> xs) {
    for (auto& x : xs)
      push_back(x);
  }

  void push_back(const T& x) {
    if (size_ < N) {
      inline_[size_] = x;
    } else {
      if (size_ == N)
        heap_.assign(inline_.begin(), inline_.end());
      heap_.push_back(x);
    }
    ++size_;
  }

  size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  const T* begin() const noexcept { return data(); }
  const T* end() const noexcept { return data() + size_; }
  const T& operator[](size_t i) const noexcept { return data()[i]; }

  std::vector<T> to_vector() const { return std::vector<T>(begin(), end()); }

private:
  const T* data() const noexcept {
    return size_ <= N ? inline_.data() : heap_.data();
  }

  std::array<T, N> inline_{};
  size_t size_ = 0;
  std::vector<T> heap_;
};

template <class W>
using window_list = small_vector<W, 4>;

// -- helpers ------------------------------------------------------------------

/// The start of the window of size `size` (or slide) with `offset` that
/// contains `ts`: Flink's TimeWindow.getWindowStartWithOffset, correct for
/// negative timestamps (floor, not truncation towards zero).
inline timestamp window_start_with_offset(timestamp ts, duration_ms offset,
                                          duration_ms size) noexcept {
  auto remainder = (ts - offset) % size;
  return remainder < 0 ? ts - (remainder + size) : ts - remainder;
}

namespace detail {

inline void require_timestamp(timestamp ts, const char* assigner) {
  if (ts == no_timestamp)
    throw std::invalid_argument(
        std::string{assigner}
        + ": the record has no timestamp; assign timestamps and watermarks "
          "before an event-time window, or use processing-time windows");
}

inline void check_tumbling(const char* who, duration_ms size,
                           duration_ms offset) {
  if (size <= 0)
    throw std::invalid_argument(std::string{who}
                                + "::of: the window size must be positive, "
                                  "got "
                                + std::to_string(size) + " ms");
  if (offset <= -size || offset >= size)
    throw std::invalid_argument(std::string{who}
                                + "::of: the offset must satisfy "
                                  "|offset| < size, got offset "
                                + std::to_string(offset) + " ms and size "
                                + std::to_string(size) + " ms");
}

inline void check_sliding(const char* who, duration_ms size, duration_ms slide,
                          duration_ms offset) {
  if (size <= 0)
    throw std::invalid_argument(std::string{who}
                                + "::of: the window size must be positive, "
                                  "got "
                                + std::to_string(size) + " ms");
  if (slide <= 0)
    throw std::invalid_argument(std::string{who}
                                + "::of: the slide must be positive, got "
                                + std::to_string(slide) + " ms");
  if (offset <= -slide || offset >= slide)
    throw std::invalid_argument(std::string{who}
                                + "::of: the offset must satisfy "
                                  "|offset| < slide, got offset "
                                + std::to_string(offset) + " ms and slide "
                                + std::to_string(slide) + " ms");
}

inline void check_gap(const char* who, duration_ms gap) {
  if (gap <= 0)
    throw std::invalid_argument(std::string{who}
                                + "::with_gap: the session gap must be "
                                  "positive, got "
                                + std::to_string(gap) + " ms");
}

/// Throws std::out_of_range when windows around `ts` would overflow int64.
inline void require_window_range(timestamp ts, duration_ms size) {
  constexpr auto lo = std::numeric_limits<timestamp>::min();
  constexpr auto hi = std::numeric_limits<timestamp>::max();
  if (ts < lo + 2 * size || ts > hi - 2 * size)
    throw std::out_of_range("event timestamp " + std::to_string(ts)
                            + " is too close to the ends of the int64 range "
                              "for windows of "
                            + std::to_string(size) + " ms");
}

inline window_list<time_window> tumbling(timestamp ts, duration_ms size,
                                         duration_ms offset) {
  require_window_range(ts, size);
  auto start = window_start_with_offset(ts, offset, size);
  return window_list<time_window>{time_window{start, start + size}};
}

/// The windows containing `ts`, latest start first (as Flink).
inline window_list<time_window> sliding(timestamp ts, duration_ms size,
                                        duration_ms slide, duration_ms offset) {
  require_window_range(ts, size > slide ? size : slide);
  window_list<time_window> result;
  auto last_start = window_start_with_offset(ts, offset, slide);
  for (auto start = last_start; start > ts - size; start -= slide)
    result.push_back(time_window{start, start + size});
  return result;
}

} // namespace detail

// -- time windows
// ---------------------------------------------------------------

namespace detail {

/// What an assigner windows by: the element's timestamp (event time) or the
/// processing clock when the element arrives (processing time).
template <bool EventTime>
struct window_clock {
  static timestamp pick(timestamp ts, timestamp now, const char* who) {
    if constexpr (EventTime) {
      require_timestamp(ts, who);
      return ts;
    } else {
      return now;
    }
  }

  static trigger_ptr<time_window> default_trigger() {
    if constexpr (EventTime)
      return event_time_trigger<time_window>::create();
    else
      return processing_time_trigger<time_window>::create();
  }
};

} // namespace detail

/// Fixed-size, non-overlapping windows [k*size + offset, (k+1)*size +
/// offset), as Flink's TumblingEventTimeWindows and
/// TumblingProcessingTimeWindows.
template <bool EventTime>
struct basic_tumbling_windows {
  using window_type = time_window;
  static constexpr bool event_time = EventTime;
  static constexpr bool merging = false;
  static constexpr const char* name = EventTime
                                          ? "tumbling_event_time_windows"
                                          : "tumbling_processing_time_windows";

  duration_ms size = 0;
  duration_ms offset = 0;

  /// Throws std::invalid_argument unless size > 0 and |offset| < size.
  static basic_tumbling_windows of(duration_ms size, duration_ms offset = 0) {
    detail::check_tumbling(name, size, offset);
    basic_tumbling_windows w;
    w.size = size;
    w.offset = offset;
    return w;
  }

  window_list<time_window> assign(timestamp ts, timestamp now) const {
    auto t = detail::window_clock<EventTime>::pick(ts, now, name);
    // Consecutive records mostly fall into the same window: skip the
    // division then.
    if (t >= last_.start && t < last_.end)
      return window_list<time_window>{last_};
    auto result = detail::tumbling(t, size, offset);
    last_ = *result.begin();
    return result;
  }

  bool is_event_time() const noexcept { return EventTime; }
  bool is_merging() const noexcept { return false; }
  trigger_ptr<time_window> default_trigger() const {
    return detail::window_clock<EventTime>::default_trigger();
  }

private:
  mutable time_window last_{0, 0};
};

/// Windows of `size` starting every `slide`, as Flink's
/// SlidingEventTimeWindows and SlidingProcessingTimeWindows; an element
/// belongs to about size / slide windows (none when it falls in a gap of
/// size < slide).
template <bool EventTime>
struct basic_sliding_windows {
  using window_type = time_window;
  static constexpr bool event_time = EventTime;
  static constexpr bool merging = false;
  static constexpr const char* name = EventTime
                                          ? "sliding_event_time_windows"
                                          : "sliding_processing_time_windows";

  duration_ms size = 0;
  duration_ms slide = 0;
  duration_ms offset = 0;

  /// Throws std::invalid_argument unless size > 0, slide > 0 and
  /// |offset| < slide.
  static basic_sliding_windows of(duration_ms size, duration_ms slide,
                                  duration_ms offset = 0) {
    detail::check_sliding(name, size, slide, offset);
    return {size, slide, offset};
  }

  window_list<time_window> assign(timestamp ts, timestamp now) const {
    return detail::sliding(detail::window_clock<EventTime>::pick(ts, now, name),
                           size, slide, offset);
  }

  bool is_event_time() const noexcept { return EventTime; }
  bool is_merging() const noexcept { return false; }
  trigger_ptr<time_window> default_trigger() const {
    return detail::window_clock<EventTime>::default_trigger();
  }
};

/// Session windows: each element opens [t, t + gap); windows of a key that
/// intersect merge, as Flink's EventTimeSessionWindows and
/// ProcessingTimeSessionWindows.
template <bool EventTime>
struct basic_session_windows {
  using window_type = time_window;
  static constexpr bool event_time = EventTime;
  static constexpr bool merging = true;
  static constexpr const char* name = EventTime
                                          ? "event_time_session_windows"
                                          : "processing_time_session_windows";

  duration_ms gap = 0;

  /// Throws std::invalid_argument unless gap > 0.
  static basic_session_windows with_gap(duration_ms gap) {
    detail::check_gap(name, gap);
    return {gap};
  }

  window_list<time_window> assign(timestamp ts, timestamp now) const {
    auto t = detail::window_clock<EventTime>::pick(ts, now, name);
    detail::require_window_range(t, gap);
    return window_list<time_window>{time_window{t, t + gap}};
  }

  bool is_event_time() const noexcept { return EventTime; }
  bool is_merging() const noexcept { return true; }
  trigger_ptr<time_window> default_trigger() const {
    return detail::window_clock<EventTime>::default_trigger();
  }
};

using tumbling_event_time_windows = basic_tumbling_windows<true>;
using sliding_event_time_windows = basic_sliding_windows<true>;
using event_time_session_windows = basic_session_windows<true>;
using tumbling_processing_time_windows = basic_tumbling_windows<false>;
using sliding_processing_time_windows = basic_sliding_windows<false>;
using processing_time_session_windows = basic_session_windows<false>;

// -- global -------------------------------------------------------------------

/// Every element of a key in one global window, as Flink's GlobalWindows.
/// The default trigger never fires: give a trigger (count_trigger, custom).
struct global_windows {
  using window_type = global_window;
  static constexpr bool event_time = false;
  static constexpr bool merging = false;

  static global_windows create() noexcept { return {}; }

  window_list<global_window> assign(timestamp, timestamp) const {
    return window_list<global_window>{global_window{}};
  }

  bool is_event_time() const noexcept { return false; }
  bool is_merging() const noexcept { return false; }
  trigger_ptr<global_window> default_trigger() const {
    return never_trigger<global_window>::create();
  }
};

} // namespace libstream
