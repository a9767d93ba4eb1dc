#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>

#include "libstream/codec.hpp"
#include "libstream/key_hash.hpp"
#include "libstream/time.hpp"

namespace libstream {

/// A half-open span of event or processing time [start, end), as Flink's
/// TimeWindow. An element with timestamp `end` belongs to the next window.
struct time_window {
  timestamp start = 0;
  timestamp end = 0;

  /// The largest timestamp that still belongs to the window; results of the
  /// window carry it, and its event-time trigger fires once the watermark
  /// reaches it.
  timestamp max_timestamp() const noexcept { return end - 1; }

  /// True when the two windows overlap or touch (Flink's definition, used to
  /// merge session windows: [0, 10) and [10, 20) intersect).
  bool intersects(const time_window& other) const noexcept {
    return start <= other.end && end >= other.start;
  }

  /// The smallest window containing both.
  time_window cover(const time_window& other) const noexcept {
    return {std::min(start, other.start), std::max(end, other.end)};
  }

  friend bool operator<(const time_window& x, const time_window& y) noexcept {
    return x.start < y.start || (x.start == y.start && x.end < y.end);
  }

  friend bool operator==(const time_window& x, const time_window& y) noexcept {
    return x.start == y.start && x.end == y.end;
  }

  friend bool operator!=(const time_window& x, const time_window& y) noexcept {
    return !(x == y);
  }
};

/// The one window that holds every element of a key, as Flink's
/// GlobalWindow. It never ends: its max timestamp is the final watermark, so
/// only a custom or count trigger fires it.
struct global_window {
  static global_window get() noexcept { return {}; }

  timestamp max_timestamp() const noexcept { return max_watermark; }

  friend bool operator<(global_window, global_window) noexcept { return false; }
  friend bool operator==(global_window, global_window) noexcept { return true; }
  friend bool operator!=(global_window, global_window) noexcept {
    return false;
  }
};

/// The hash of a window (for pane slots in keyed state tables).
inline uint64_t window_hash(const time_window& w) noexcept {
  return combine_hash(static_cast<uint64_t>(w.start),
                      static_cast<uint64_t>(w.end));
}

inline uint64_t window_hash(const global_window&) noexcept {
  return 0;
}

inline std::string to_string(const time_window& w) {
  return "[" + std::to_string(w.start) + ", " + std::to_string(w.end) + ")";
}

inline std::string to_string(global_window) {
  return "global_window";
}

/// `max_ts + lateness`, saturated at the final watermark (Flink's cleanup
/// time), so that windows that never end are never cleaned up.
inline timestamp saturating_add(timestamp max_ts, duration_ms lateness) {
  if (lateness > 0 && max_ts > max_watermark - lateness)
    return max_watermark;
  return max_ts + lateness;
}

template <>
struct codec<time_window> {
  static void encode(const time_window& w, byte_writer& out) {
    codec<timestamp>::encode(w.start, out);
    codec<timestamp>::encode(w.end, out);
  }
  static time_window decode(byte_reader& in) {
    time_window w;
    w.start = codec<timestamp>::decode(in);
    w.end = codec<timestamp>::decode(in);
    if (w.end < w.start)
      in.fail("a window ends before it starts");
    return w;
  }
};

/// Global windows encode as nothing but a marker byte (so that containers
/// of them stay decodable: every element takes at least one byte).
template <>
struct codec<global_window> {
  static void encode(global_window, byte_writer& out) { out.put_u8(0); }
  static global_window decode(byte_reader& in) {
    if (in.get_u8() != 0)
      in.fail("a global window is encoded as 0");
    return {};
  }
};

} // namespace libstream

namespace std {

template <>
struct hash<libstream::time_window> {
  size_t operator()(const libstream::time_window& w) const noexcept {
    auto h = static_cast<uint64_t>(w.start) * 0x9e3779b97f4a7c15ULL;
    return static_cast<size_t>(h ^ (static_cast<uint64_t>(w.end) + (h >> 7)));
  }
};

template <>
struct hash<libstream::global_window> {
  size_t operator()(libstream::global_window) const noexcept { return 0; }
};

} // namespace std
