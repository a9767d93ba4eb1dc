#pragma once

#include <set>
#include <tuple>
#include <utility>

#include "libstream/codec.hpp"
#include "libstream/operator.hpp"
#include "libstream/state/keyed_table.hpp"
#include "libstream/time.hpp"

namespace libstream {

/// The namespace of timers that belong to no window.
struct void_namespace {
  friend bool operator<(void_namespace, void_namespace) { return false; }
  friend bool operator==(void_namespace, void_namespace) { return true; }
};

template <>
struct codec<void_namespace> {
  static void encode(void_namespace, byte_writer& w) { w.put_u8(0); }
  static void_namespace decode(byte_reader& r) {
    if (r.get_u8() != 0)
      r.fail("a timer without namespace is encoded as 0");
    return {};
  }
};

/// The name under which an operator's timers are kept with its keyed
/// state. Names starting with '_' are the library's.
inline constexpr const char* timers_state_name = "_timers";

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
///
/// Timers are keyed state: attached to the operator's keyed state backend
/// (as a table of its own), they are snapshotted and restored by key group
/// with the rest of the keyed state.
template <class K, class N = void_namespace>
class timer_service final : public keyed_table_base {
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

  // -- keyed_table_base: timers as keyed state --------------------------------

  /// The key groups this service owns (set by the operator at open).
  void set_range(key_group_range range) { range_ = range; }

  size_t size() const noexcept override {
    return event_.size() + processing_.size();
  }

  void clear_key_group(int key_group) override {
    auto drop = [key_group](std::set<timer_type>& xs) {
      for (auto i = xs.begin(); i != xs.end();)
        i = i->key_group == key_group ? xs.erase(i) : std::next(i);
    };
    drop(event_);
    drop(processing_);
  }

  /// Per key group: the number of timers, then each as domain (0 event,
  /// 1 processing), time, key and namespace.
  void snapshot(std::vector<byte_writer>& groups) const override {
    if constexpr (has_codec_v<K> && has_codec_v<N>) {
      std::vector<std::vector<std::pair<uint8_t, const timer_type*>>> by(
          groups.size());
      auto add = [&](const std::set<timer_type>& xs, uint8_t domain) {
        for (auto& t : xs) {
          auto g = static_cast<size_t>(t.key_group - range_.first);
          if (g >= by.size())
            throw std::logic_error("a timer of key group "
                                   + std::to_string(t.key_group)
                                   + " lies outside the subtask's range");
          by[g].emplace_back(domain, &t);
        }
      };
      add(event_, 0);
      add(processing_, 1);
      for (size_t g = 0; g < groups.size(); ++g) {
        auto& w = groups[g];
        w.put_varint(by[g].size());
        for (auto& [domain, t] : by[g]) {
          w.put_u8(domain);
          codec<timestamp>::encode(t->time, w);
          codec<K>::encode(t->key, w);
          codec<N>::encode(t->ns, w);
        }
      }
    } else {
      throw std::logic_error("timers of a key or window type without a "
                             "codec cannot be snapshotted: give it a "
                             "libstream::codec");
    }
  }

  void restore(int key_group, byte_reader& r) override {
    if constexpr (has_codec_v<K> && has_codec_v<N>) {
      auto n = r.get_length(3);
      for (size_t i = 0; i < n; ++i) {
        auto domain = r.get_u8();
        if (domain > 1)
          r.fail("a timer's domain is " + std::to_string(domain));
        auto time = codec<timestamp>::decode(r);
        auto key = codec<K>::decode(r);
        auto ns = codec<N>::decode(r);
        if (domain == 0)
          register_event_time(time, key, ns, key_group);
        else
          register_processing_time(time, key, ns, key_group);
      }
    } else {
      throw std::logic_error("timers of a key or window type without a "
                             "codec cannot be restored");
    }
  }

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
  key_group_range range_;
  std::set<timer_type> event_;
  std::set<timer_type> processing_;
};

} // namespace libstream
