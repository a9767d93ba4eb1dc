#pragma once

#include <set>
#include <tuple>
#include <utility>

#include "libstream/operator.hpp"
#include "libstream/time.hpp"

namespace libstream {

/// The namespace of timers that belong to no window.
struct void_namespace {
  friend bool operator<(void_namespace, void_namespace) { return false; }
  friend bool operator==(void_namespace, void_namespace) { return true; }
};

/// A registered timer: at most one per (timestamp, key, namespace).
template <class K, class N>
struct timer {
  timestamp time;
  K key;
  N ns;
  int key_group;

  friend bool operator<(const timer& x, const timer& y) {
    return std::tie(x.time, x.key, x.ns) < std::tie(y.time, y.key, y.ns);
  }
};

/// Event-time and processing-time timers of one keyed operator subtask.
/// Registering a timer that exists is a no-op; event-time timers fire when
/// the watermark reaches their time, processing-time timers when the
/// processing clock does. Keys and namespaces need operator<.
template <class K, class N = void_namespace>
class timer_service {
public:
  using timer_type = timer<K, N>;

  /// `owner` receives on_processing_time calls through `ctx`.
  void bind(operator_context& ctx, operator_base& owner) {
    ctx_ = &ctx;
    owner_ = &owner;
  }

  void register_event_time(timestamp t, const K& key, const N& ns, int kg) {
    event_.insert(timer_type{t, key, ns, kg});
  }

  void delete_event_time(timestamp t, const K& key, const N& ns) {
    event_.erase(timer_type{t, key, ns, 0});
  }

  void register_processing_time(timestamp t, const K& key, const N& ns,
                                int kg) {
    auto first = processing_.empty() || t < processing_.begin()->time;
    processing_.insert(timer_type{t, key, ns, kg});
    if (first && ctx_ != nullptr)
      ctx_->request_processing_time(owner_, t);
  }

  void delete_processing_time(timestamp t, const K& key, const N& ns) {
    processing_.erase(timer_type{t, key, ns, 0});
  }

  /// Fires, in time order, every event-time timer with time <= wm. `f` may
  /// register new timers; those that are due fire in the same call.
  template <class F>
  void advance_watermark(timestamp wm, F&& f) {
    fire_due(event_, wm, f);
  }

  /// Fires every processing-time timer with time <= now, then asks for a
  /// callback at the next one.
  template <class F>
  void advance_processing_time(timestamp now, F&& f) {
    fire_due(processing_, now, f);
    if (!processing_.empty() && ctx_ != nullptr)
      ctx_->request_processing_time(owner_, processing_.begin()->time);
  }

  size_t event_timers() const noexcept { return event_.size(); }
  size_t processing_timers() const noexcept { return processing_.size(); }

private:
  template <class F>
  static void fire_due(std::set<timer_type>& timers, timestamp limit, F& f) {
    while (!timers.empty() && timers.begin()->time <= limit) {
      auto t = *timers.begin();
      timers.erase(timers.begin());
      f(t);
    }
  }

  operator_context* ctx_ = nullptr;
  operator_base* owner_ = nullptr;
  std::set<timer_type> event_;
  std::set<timer_type> processing_;
};

} // namespace libstream
