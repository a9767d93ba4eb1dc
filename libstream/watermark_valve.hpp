#pragma once

#include <cstddef>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "libstream/time.hpp"

namespace libstream {

/// Combines the watermarks of a subtask's input channels: the subtask's
/// watermark is the minimum over the channels that are neither idle nor
/// ended, and it only ever advances. When every channel that has not ended
/// is idle, the subtask is idle and its watermark stays where it is (an
/// ended channel does not drag it to the end of time while the others are
/// merely quiet); when every channel has ended, it is the end of time.
class watermark_valve {
public:
  /// What changed after an input event.
  struct change {
    std::optional<timestamp> watermark; // set when the minimum advanced
    std::optional<bool> idle;           // set when the idle status flipped
  };

  explicit watermark_valve(size_t channels)
      : channels_(channels), active_(channels), behind_(channels) {}

  size_t channels() const noexcept { return channels_.size(); }
  timestamp current() const noexcept { return current_; }
  bool idle() const noexcept { return idle_; }

  /// Channel `ch` reports watermark `wm`. A watermark below what the channel
  /// reported before is ignored (it cannot move time backwards).
  change on_watermark(size_t ch, timestamp wm) {
    auto& c = at(ch);
    if (c.ended)
      return {};
    if (c.idle) {
      if (wm > c.watermark)
        c.watermark = wm;
      c.idle = false;
      return recompute();
    }
    if (wm <= c.watermark)
      return {};
    // Only a channel at or below the current watermark can hold it back,
    // and only the last of them moves it: a subtask with n input channels
    // scans them once per advance, not once per watermark (n of them).
    bool was_behind = c.watermark <= current_;
    c.watermark = wm;
    if (!was_behind || wm <= current_ || --behind_ > 0)
      return {};
    return recompute();
  }

  /// Channel `ch` became idle or active.
  change on_idleness(size_t ch, bool idle) {
    auto& c = at(ch);
    if (c.ended || c.idle == idle)
      return {};
    c.idle = idle;
    return recompute();
  }

  /// Channel `ch` ended: it no longer holds back the minimum.
  change on_end(size_t ch) {
    auto& c = at(ch);
    bool was_active = !c.ended && !c.idle;
    bool was_behind = was_active && c.watermark <= current_;
    c.watermark = max_watermark;
    c.idle = false;
    c.ended = true;
    if (was_active) {
      --active_;
      if (was_behind)
        --behind_;
      // Others still active, and this one did not hold the minimum alone.
      if (active_ > 0 && (!was_behind || behind_ > 0))
        return {};
    }
    return recompute();
  }

  /// A record arrived on `ch`: an idle channel is active again.
  change on_record(size_t ch) {
    auto& c = at(ch);
    if (c.ended || !c.idle)
      return {};
    c.idle = false;
    return recompute();
  }

private:
  struct channel {
    timestamp watermark = min_watermark;
    bool idle = false;
    bool ended = false;
  };

  channel& at(size_t ch) {
    if (ch >= channels_.size())
      throw std::out_of_range("input channel " + std::to_string(ch)
                              + " does not exist (the subtask has "
                              + std::to_string(channels_.size()) + ")");
    return channels_[ch];
  }

  change recompute() {
    change result;
    bool any_open = false; // a channel that has not ended
    bool all_idle = true;  // every open channel is idle
    timestamp low = max_watermark;
    active_ = 0;
    for (auto& c : channels_) {
      if (c.ended)
        continue;
      any_open = true;
      if (c.idle)
        continue;
      all_idle = false;
      ++active_;
      if (c.watermark < low)
        low = c.watermark;
    }
    if (!any_open)
      all_idle = false; // all ended: the watermark is the end of time
    if (all_idle != idle_) {
      idle_ = all_idle;
      result.idle = all_idle;
    }
    if (!all_idle && low > current_) {
      current_ = low;
      result.watermark = low;
    }
    behind_ = 0;
    for (auto& c : channels_)
      if (!c.ended && !c.idle && c.watermark <= current_)
        ++behind_;
    return result;
  }

  std::vector<channel> channels_;
  size_t active_ = 0; // channels neither idle nor ended
  size_t behind_ = 0; // of those, at or below current_: they hold it back
  timestamp current_ = min_watermark;
  bool idle_ = false;
};

} // namespace libstream
