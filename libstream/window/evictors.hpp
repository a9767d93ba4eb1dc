#pragma once

// Evictors (Flink's Evictor): remove elements from a window's contents
// before and/or after the window function runs. A window with an evictor
// keeps all its elements with their timestamps (no incremental folding: a
// reduce or aggregate runs over what is left when the window fires), as
// Flink's EvictingWindowOperator.
//
// windowed_stream::evictor() takes a built-in (count_evictor::of(n),
// time_evictor::of(ms), delta_evictor::of(threshold, delta)), an evictor
// object by value (copied per subtask), or a factory returning a
// std::unique_ptr<evictor<T, W>>.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/time.hpp"

namespace libstream {

/// A window element with its timestamp (no_timestamp without event time).
template <class T>
struct timestamped_value {
  T value;
  timestamp ts = no_timestamp;
};

template <class T>
struct codec<timestamped_value<T>> {
  static void encode(const timestamped_value<T>& x, byte_writer& w) {
    codec<T>::encode(x.value, w);
    codec<int64_t>::encode(x.ts, w);
  }
  static timestamped_value<T> decode(byte_reader& r) {
    auto v = codec<T>::decode(r);
    auto ts = codec<int64_t>::decode(r);
    return {std::move(v), ts};
  }
};

template <class T>
struct has_codec<timestamped_value<T>> : has_codec<T> {};

/// What an evictor may consult besides the elements.
struct evictor_context {
  timestamp current_watermark = min_watermark;
  timestamp current_processing_time = 0;
};

/// Removes elements of a window (in arrival order) before and/or after
/// the window function; what is left stays in the window (unless the
/// trigger purges it).
template <class T, class W>
class evictor {
public:
  virtual ~evictor() = default;
  virtual void evict_before(std::vector<timestamped_value<T>>& elements,
                            const W& window, const evictor_context& ctx) {}
  virtual void evict_after(std::vector<timestamped_value<T>>& elements,
                           const W& window, const evictor_context& ctx) {}
};

namespace detail {

/// Built-in evictors are specs that make an evictor<T, W> for the
/// stream's types.
struct evictor_spec {};

/// Runs `evict` before or after the function.
template <class T, class W, class F>
class evict_at final : public evictor<T, W> {
public:
  evict_at(F f, bool after) : f_(std::move(f)), after_(after) {}
  void evict_before(std::vector<timestamped_value<T>>& xs, const W&,
                    const evictor_context&) override {
    if (!after_)
      f_(xs);
  }
  void evict_after(std::vector<timestamped_value<T>>& xs, const W&,
                   const evictor_context&) override {
    if (after_)
      f_(xs);
  }

private:
  F f_;
  bool after_;
};

template <class T, class W, class F>
std::unique_ptr<evictor<T, W>> make_evict_at(F f, bool after) {
  return std::make_unique<evict_at<T, W, F>>(std::move(f), after);
}

} // namespace detail

/// Keeps the last `max_count` elements (Flink's CountEvictor); with
/// countWindow-like global windows and a count trigger it makes sliding
/// count windows.
struct count_evictor : detail::evictor_spec {
  size_t max_count = 0;
  bool after = false;

  static count_evictor of(size_t max_count, bool evict_after = false) {
    if (max_count == 0)
      throw std::invalid_argument("count_evictor: keeps at least one "
                                  "element, got 0");
    count_evictor e;
    e.max_count = max_count;
    e.after = evict_after;
    return e;
  }

  template <class T, class W>
  std::unique_ptr<evictor<T, W>> make() const {
    auto n = max_count;
    return detail::make_evict_at<T, W>(
        [n](std::vector<timestamped_value<T>>& xs) {
          if (xs.size() > n)
            xs.erase(xs.begin(),
                     xs.begin() + static_cast<std::ptrdiff_t>(xs.size() - n));
        },
        after);
  }
};

/// Keeps the elements within `keep_ms` of the newest element's timestamp:
/// removes those at or before max timestamp - keep_ms (Flink's
/// TimeEvictor). Elements without timestamps are kept.
struct time_evictor : detail::evictor_spec {
  duration_ms keep_ms = 0;
  bool after = false;

  static time_evictor of(duration_ms keep_ms, bool evict_after = false) {
    if (keep_ms < 0)
      throw std::invalid_argument("time_evictor: the time kept must not be "
                                  "negative, got "
                                  + std::to_string(keep_ms) + " ms");
    time_evictor e;
    e.keep_ms = keep_ms;
    e.after = evict_after;
    return e;
  }

  template <class T, class W>
  std::unique_ptr<evictor<T, W>> make() const {
    auto keep = keep_ms;
    return detail::make_evict_at<T, W>(
        [keep](std::vector<timestamped_value<T>>& xs) {
          auto newest = std::numeric_limits<timestamp>::min();
          for (auto& x : xs)
            if (x.ts != no_timestamp && x.ts > newest)
              newest = x.ts;
          if (newest == std::numeric_limits<timestamp>::min())
            return;
          auto cutoff = newest - keep;
          std::vector<timestamped_value<T>> kept;
          for (auto& x : xs)
            if (x.ts == no_timestamp || x.ts > cutoff)
              kept.push_back(std::move(x));
          xs.swap(kept);
        },
        after);
  }
};

/// Removes the elements whose delta to the last element reaches
/// `threshold`: double delta(const T& element, const T& last) (Flink's
/// DeltaEvictor).
template <class F>
struct delta_evictor_spec : detail::evictor_spec {
  double threshold = 0;
  F delta;
  bool after = false;

  template <class T, class W>
  std::unique_ptr<evictor<T, W>> make() const {
    auto t = threshold;
    auto d = delta;
    return detail::make_evict_at<T, W>(
        [t, d](std::vector<timestamped_value<T>>& xs) {
          if (xs.empty())
            return;
          auto last = xs.back().value;
          std::vector<timestamped_value<T>> kept;
          for (auto& x : xs)
            if (!(d(x.value, last) >= t))
              kept.push_back(std::move(x));
          xs.swap(kept);
        },
        after);
  }
};

struct delta_evictor {
  template <class F>
  static delta_evictor_spec<F> of(double threshold, F delta,
                                  bool evict_after = false) {
    return delta_evictor_spec<F>{{}, threshold, std::move(delta),
                                 evict_after};
  }
};

} // namespace libstream
