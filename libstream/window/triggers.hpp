#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "libstream/time.hpp"
#include "libstream/window/window.hpp"

namespace libstream {

/// What a trigger decides for its window, as Flink's TriggerResult.
enum class trigger_result {
  continue_,      // do nothing
  fire,           // emit the window's result, keep its contents
  purge,          // drop the window's contents without emitting
  fire_and_purge, // emit, then drop the contents
};

inline bool is_fire(trigger_result r) noexcept {
  return r == trigger_result::fire || r == trigger_result::fire_and_purge;
}

inline bool is_purge(trigger_result r) noexcept {
  return r == trigger_result::purge || r == trigger_result::fire_and_purge;
}

/// What a trigger may see and do for the current key and window. Handed to
/// every trigger call by the window operator; valid only during that call.
template <class W>
class trigger_context {
public:
  virtual ~trigger_context() = default;

  virtual timestamp current_watermark() const = 0;
  virtual timestamp current_processing_time() const = 0;

  /// Timers for the current key and window. The operator calls the
  /// trigger's on_event_time / on_processing_time when they fire. A timer
  /// that exists already is not registered twice.
  virtual void register_event_time_timer(timestamp t) = 0;
  virtual void delete_event_time_timer(timestamp t) = 0;
  virtual void register_processing_time_timer(timestamp t) = 0;
  virtual void delete_processing_time_timer(timestamp t) = 0;

  /// A counter of trigger state named `name` for the current key and
  /// window, zero until first written. The reference is valid until the
  /// next call on this context. When session windows merge, the operator
  /// merges trigger state by adding the counters of the same name (what
  /// Flink's count trigger does with its reducing state), before on_merge.
  virtual int64_t& state(const std::string& name) = 0;

  /// Drops the counter `name` of the current key and window.
  virtual void clear_state(const std::string& name) = 0;
};

/// Decides when a window emits its result and when its contents are
/// dropped, as Flink's Trigger. Each subtask of a window operator makes its
/// own trigger (from a trigger_factory), shared by all keys and windows of
/// that subtask: keep per-window state only in the context. Derive from it
/// to write a custom trigger.
template <class W>
class trigger {
public:
  using window_type = W;
  using context = trigger_context<W>;

  virtual ~trigger() = default;

  /// An element with timestamp `ts` was added to `window`.
  virtual trigger_result on_element(timestamp ts, const W& window, context& ctx)
      = 0;

  /// An event-time timer registered for `window` fired at `time`.
  virtual trigger_result on_event_time(timestamp time, const W& window,
                                       context& ctx)
      = 0;

  /// A processing-time timer registered for `window` fired at `time`.
  virtual trigger_result on_processing_time(timestamp time, const W& window,
                                            context& ctx)
      = 0;

  /// True when the trigger supports merging windows (session windows).
  virtual bool can_merge() const { return false; }

  /// Windows were merged into `window`; the merged windows were cleared
  /// before. Re-register the timers the merged window needs.
  virtual void on_merge(const W& window, context& ctx) {
    throw std::logic_error("this trigger does not support merging windows");
  }

  /// The window is being dropped: delete its timers and state.
  virtual void clear(const W& window, context& ctx) = 0;
};

template <class W>
using trigger_ptr = std::shared_ptr<trigger<W>>;

/// Makes the trigger of one subtask of a window operator: called once per
/// subtask, so that a trigger with member state is never shared between
/// subtask threads (as Flink deserializes a copy per subtask).
template <class W>
using trigger_factory = std::function<trigger_ptr<W>()>;

/// Fires once the watermark passes the window's max timestamp, as Flink's
/// EventTimeTrigger. An element added when the watermark already passed
/// it (a late element within the allowed lateness) fires the window again
/// at once. The window operator runs this trigger inline (no virtual calls)
/// when it is the trigger in use.
template <class W>
class event_time_trigger final : public trigger<W> {
public:
  static std::shared_ptr<event_time_trigger> create() {
    return std::make_shared<event_time_trigger>();
  }

  trigger_result on_element(timestamp, const W& window,
                            trigger_context<W>& ctx) override {
    if (window.max_timestamp() <= ctx.current_watermark())
      return trigger_result::fire;
    ctx.register_event_time_timer(window.max_timestamp());
    return trigger_result::continue_;
  }

  trigger_result on_event_time(timestamp time, const W& window,
                               trigger_context<W>&) override {
    return time == window.max_timestamp() ? trigger_result::fire
                                          : trigger_result::continue_;
  }

  trigger_result on_processing_time(timestamp, const W&,
                                    trigger_context<W>&) override {
    return trigger_result::continue_;
  }

  bool can_merge() const override { return true; }

  void on_merge(const W& window, trigger_context<W>& ctx) override {
    if (window.max_timestamp() > ctx.current_watermark())
      ctx.register_event_time_timer(window.max_timestamp());
  }

  void clear(const W& window, trigger_context<W>& ctx) override {
    ctx.delete_event_time_timer(window.max_timestamp());
  }
};

/// Fires once the processing clock passes the window's max timestamp, as
/// Flink's ProcessingTimeTrigger.
template <class W>
class processing_time_trigger final : public trigger<W> {
public:
  static std::shared_ptr<processing_time_trigger> create() {
    return std::make_shared<processing_time_trigger>();
  }

  trigger_result on_element(timestamp, const W& window,
                            trigger_context<W>& ctx) override {
    ctx.register_processing_time_timer(window.max_timestamp());
    return trigger_result::continue_;
  }

  trigger_result on_event_time(timestamp, const W&,
                               trigger_context<W>&) override {
    return trigger_result::continue_;
  }

  trigger_result on_processing_time(timestamp, const W&,
                                    trigger_context<W>&) override {
    return trigger_result::fire;
  }

  bool can_merge() const override { return true; }

  void on_merge(const W& window, trigger_context<W>& ctx) override {
    if (window.max_timestamp() > ctx.current_processing_time())
      ctx.register_processing_time_timer(window.max_timestamp());
  }

  void clear(const W& window, trigger_context<W>& ctx) override {
    ctx.delete_processing_time_timer(window.max_timestamp());
  }
};

/// Fires every `n` elements of a window, as Flink's CountTrigger (usually
/// with global windows). Keeps its count in the trigger state "count".
template <class W>
class count_trigger final : public trigger<W> {
public:
  explicit count_trigger(int64_t n) : n_(n) {
    if (n <= 0)
      throw std::invalid_argument("count_trigger::of: the count must be "
                                  "positive, got "
                                  + std::to_string(n));
  }

  static std::shared_ptr<count_trigger> of(int64_t n) {
    return std::make_shared<count_trigger>(n);
  }

  trigger_result on_element(timestamp, const W&,
                            trigger_context<W>& ctx) override {
    auto& count = ctx.state("count");
    if (++count >= n_) {
      count = 0;
      return trigger_result::fire;
    }
    return trigger_result::continue_;
  }

  trigger_result on_event_time(timestamp, const W&,
                               trigger_context<W>&) override {
    return trigger_result::continue_;
  }

  trigger_result on_processing_time(timestamp, const W&,
                                    trigger_context<W>&) override {
    return trigger_result::continue_;
  }

  bool can_merge() const override { return true; }

  /// The operator has summed the counts of the merged windows already.
  void on_merge(const W&, trigger_context<W>&) override {}

  void clear(const W&, trigger_context<W>& ctx) override {
    ctx.clear_state("count");
  }

  int64_t count() const noexcept { return n_; }

private:
  int64_t n_;
};

/// Never fires: the default trigger of global windows (Flink's
/// NeverTrigger). Global windows need an explicit trigger to emit anything.
template <class W>
class never_trigger final : public trigger<W> {
public:
  static std::shared_ptr<never_trigger> create() {
    return std::make_shared<never_trigger>();
  }

  trigger_result on_element(timestamp, const W&, trigger_context<W>&) override {
    return trigger_result::continue_;
  }
  trigger_result on_event_time(timestamp, const W&,
                               trigger_context<W>&) override {
    return trigger_result::continue_;
  }
  trigger_result on_processing_time(timestamp, const W&,
                                    trigger_context<W>&) override {
    return trigger_result::continue_;
  }
  bool can_merge() const override { return true; }
  void on_merge(const W&, trigger_context<W>&) override {}
  void clear(const W&, trigger_context<W>&) override {}
};

/// Turns every firing of the wrapped trigger into fire-and-purge, as Flink's
/// PurgingTrigger: each result covers only the elements since the last one.
template <class W>
class purging_trigger final : public trigger<W> {
public:
  explicit purging_trigger(trigger_ptr<W> nested) : nested_(std::move(nested)) {
    if (nested_ == nullptr)
      throw std::invalid_argument("purging_trigger::of: the nested trigger "
                                  "is null");
  }

  static std::shared_ptr<purging_trigger> of(trigger_ptr<W> nested) {
    return std::make_shared<purging_trigger>(std::move(nested));
  }

  trigger_result on_element(timestamp ts, const W& window,
                            trigger_context<W>& ctx) override {
    return purged(nested_->on_element(ts, window, ctx));
  }

  trigger_result on_event_time(timestamp time, const W& window,
                               trigger_context<W>& ctx) override {
    return purged(nested_->on_event_time(time, window, ctx));
  }

  trigger_result on_processing_time(timestamp time, const W& window,
                                    trigger_context<W>& ctx) override {
    return purged(nested_->on_processing_time(time, window, ctx));
  }

  bool can_merge() const override { return nested_->can_merge(); }

  void on_merge(const W& window, trigger_context<W>& ctx) override {
    nested_->on_merge(window, ctx);
  }

  void clear(const W& window, trigger_context<W>& ctx) override {
    nested_->clear(window, ctx);
  }

private:
  static trigger_result purged(trigger_result r) noexcept {
    return is_fire(r) ? trigger_result::fire_and_purge : r;
  }

  trigger_ptr<W> nested_;
};

} // namespace libstream
