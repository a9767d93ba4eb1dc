#pragma once

// Joins of two keyed streams. The interval join (Flink's
// KeyedStream#intervalJoin): a left element at time ta joins every right
// element of the same key at time tb with ta + lower <= tb <= ta + upper
// (either bound exclusive on request), in event time; the pair is emitted
// with the larger of the two timestamps. Elements wait in keyed map state
// by timestamp and go once the watermark has passed the last time a
// partner could still arrive. An element behind the watermark when it
// arrives (timestamp < watermark, as Flink) is late: dropped, or sent to a
// side output.

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/connected_streams.hpp"
#include "libstream/windowed_stream.hpp"

namespace libstream {

/// A function over the pairs a join produces, as Flink's
/// ProcessJoinFunction.
template <class A, class B, class Out>
class process_join_function {
public:
  /// The pair's timestamps, and side outputs.
  class context {
  public:
    timestamp left_timestamp() const noexcept { return left_; }
    timestamp right_timestamp() const noexcept { return right_; }
    /// The timestamp of the records emitted: the larger of the two.
    timestamp result_timestamp() const noexcept {
      return std::max(left_, right_);
    }

    /// Emits `value` to the side output `tag` (with the result timestamp).
    template <class T>
    void output(const output_tag<T>& tag, T value) {
      outs_->side(tag).collect(std::move(value), result_timestamp());
    }

    /// For the join operator.
    void reset(operator_outputs<Out>* outs, timestamp left,
               timestamp right) noexcept {
      outs_ = outs;
      left_ = left;
      right_ = right;
    }

  private:
    operator_outputs<Out>* outs_ = nullptr;
    timestamp left_ = no_timestamp;
    timestamp right_ = no_timestamp;
  };

  virtual ~process_join_function() = default;
  virtual void open(const runtime_info& info) {}
  virtual void process_element(const A& left, const B& right, context& ctx,
                               collector<Out>& out)
      = 0;
  virtual void close() {}
};

/// The bounds of an interval join, in milliseconds relative to the left
/// element's timestamp.
struct interval_bounds {
  duration_ms lower = 0;
  duration_ms upper = 0;
  bool lower_inclusive = true;
  bool upper_inclusive = true;

  /// The bounds made inclusive; throws when the interval holds no time.
  std::pair<duration_ms, duration_ms> inclusive() const {
    auto lo = lower_inclusive ? lower : lower + 1;
    auto hi = upper_inclusive ? upper : upper - 1;
    if (lo > hi)
      throw std::invalid_argument(
          "interval join: the interval " + std::string{lower_inclusive ? "[" : "("}
          + std::to_string(lower) + ", " + std::to_string(upper)
          + (upper_inclusive ? "]" : ")") + " holds no time");
    return {lo, hi};
  }
};

/// The keyed co-process function behind an interval join.
template <class K, class A, class B, class Out>
class interval_join_function final
    : public keyed_co_process_function<K, A, B, Out> {
public:
  using join_fn = process_join_function<A, B, Out>;
  using context = typename keyed_co_process_function<K, A, B, Out>::context;

  interval_join_function(interval_bounds bounds, std::unique_ptr<join_fn> fn,
                         std::optional<output_tag<A>> left_late = {},
                         std::optional<output_tag<B>> right_late = {})
      : fn_(std::move(fn)), left_late_(std::move(left_late)),
        right_late_(std::move(right_late)) {
    if (fn_ == nullptr)
      throw std::invalid_argument("interval join: no join function");
    std::tie(lower_, upper_) = bounds.inclusive();
  }

  void open(keyed_state_store<K>& st, const runtime_info& info) override {
    left_ = st.template get_map_state<timestamp, std::vector<A>>(
        "interval-join-left");
    right_ = st.template get_map_state<timestamp, std::vector<B>>(
        "interval-join-right");
    fn_->open(info);
  }

  void close() override { fn_->close(); }

  void process_element1(const A& a, context& ctx,
                        collector<Out>& out) override {
    auto ts = event_time(ctx, "left");
    if (late(ts, ctx)) {
      if (left_late_)
        ctx.output(*left_late_, a);
      return;
    }
    add(left_, ts, a);
    // Right elements at tb with lower <= tb - ts <= upper.
    right_.for_each([&](timestamp tb, const std::vector<B>& bs) {
      if (tb - ts >= lower_ && tb - ts <= upper_)
        for (auto& b : bs)
          emit(a, b, ts, tb, ctx, out);
    });
    ctx.timer_service().register_event_time_timer(left_cleanup(ts));
  }

  void process_element2(const B& b, context& ctx,
                        collector<Out>& out) override {
    auto ts = event_time(ctx, "right");
    if (late(ts, ctx)) {
      if (right_late_)
        ctx.output(*right_late_, b);
      return;
    }
    add(right_, ts, b);
    left_.for_each([&](timestamp ta, const std::vector<A>& as) {
      if (ts - ta >= lower_ && ts - ta <= upper_)
        for (auto& a : as)
          emit(a, b, ta, ts, ctx, out);
    });
    ctx.timer_service().register_event_time_timer(right_cleanup(ts));
  }

  /// Every timer is a cleanup time: the left and the right bucket whose
  /// cleanup falls on it go (either may not exist).
  void on_timer(timestamp t, time_domain, context&,
                collector<Out>&) override {
    if (t == max_watermark)
      return; // saturated: the buckets go with the operator at the end
    left_.remove(upper_ > 0 ? t - 1 - upper_ : t - 1);
    right_.remove(lower_ < 0 ? t - 1 + lower_ : t - 1);
  }

private:
  timestamp event_time(context& ctx, const char* side) const {
    auto ts = ctx.element_timestamp();
    if (ts == no_timestamp)
      throw std::runtime_error(std::string{"interval join: a "} + side
                               + " element has no timestamp; assign "
                                 "timestamps and watermarks before the "
                                 "join (it runs in event time)");
    return ts;
  }

  static bool late(timestamp ts, context& ctx) {
    auto wm = ctx.timer_service().current_watermark();
    return wm != min_watermark && ts < wm;
  }

  template <class V>
  static void add(map_state<timestamp, std::vector<V>>& state, timestamp ts,
                  const V& v) {
    state.get_or_create(ts).push_back(v);
  }

  // A left element at ta can meet right elements up to ta + upper: once
  // the watermark is past that, none can come (they would be late). The
  // timer is one past it, so that a right element exactly at ta + upper
  // that is not late (timestamp == watermark) still finds it.
  // Saturated: at the end of time the final watermark fires it.
  timestamp left_cleanup(timestamp ta) const {
    return saturating_add(saturating_add(ta, std::max<duration_ms>(upper_, 0)),
                          1);
  }
  timestamp right_cleanup(timestamp tb) const {
    return saturating_add(saturating_add(tb, std::max<duration_ms>(-lower_, 0)),
                          1);
  }

  void emit(const A& a, const B& b, timestamp ta, timestamp tb, context& ctx,
            collector<Out>& out) {
    jctx_.reset(&ctx.outputs(), ta, tb);
    out.set_timestamp(std::max(ta, tb));
    fn_->process_element(a, b, jctx_, out);
  }

  std::unique_ptr<join_fn> fn_;
  std::optional<output_tag<A>> left_late_;
  std::optional<output_tag<B>> right_late_;
  duration_ms lower_ = 0;
  duration_ms upper_ = 0;
  map_state<timestamp, std::vector<A>> left_;
  map_state<timestamp, std::vector<B>> right_;
  typename join_fn::context jctx_;
};


/// An interval join being configured: bounds, exclusive ends, late data.
template <class A, class B, class K>
class interval_join {
public:
  interval_join(keyed_stream<A, K> left, keyed_stream<B, K> right,
                interval_bounds bounds)
      : left_(std::move(left)), right_(std::move(right)), bounds_(bounds) {
    bounds_.inclusive(); // checks
  }

  interval_join& lower_bound_exclusive() {
    bounds_.lower_inclusive = false;
    bounds_.inclusive();
    return *this;
  }

  interval_join& upper_bound_exclusive() {
    bounds_.upper_inclusive = false;
    bounds_.inclusive();
    return *this;
  }

  /// Left elements that arrive behind the watermark go to `tag` (else
  /// they are dropped); read them with get_side_output on the result.
  interval_join& side_output_left_late_data(output_tag<A> tag) {
    left_late_ = std::move(tag);
    return *this;
  }

  interval_join& side_output_right_late_data(output_tag<B> tag) {
    right_late_ = std::move(tag);
    return *this;
  }

  /// Runs the join function `make()` returns (a std::unique_ptr to a
  /// process_join_function<A, B, R>) on every pair.
  template <class R, class Make>
  data_stream<R> process(Make make, std::string name = "Interval Join") {
    auto bounds = bounds_;
    auto ll = left_late_;
    auto rl = right_late_;
    return connect(detail::unkeyed(left_), detail::unkeyed(right_))
        .key_by(left_.key(), right_.key())
        .template process<R>(
            [make, bounds, ll, rl] {
              std::unique_ptr<process_join_function<A, B, R>> fn = make();
              return std::make_unique<interval_join_function<K, A, B, R>>(
                  bounds, std::move(fn), ll, rl);
            },
            std::move(name));
  }

private:
  keyed_stream<A, K> left_;
  keyed_stream<B, K> right_;
  interval_bounds bounds_;
  std::optional<output_tag<A>> left_late_;
  std::optional<output_tag<B>> right_late_;
};

/// Starts an interval join of two keyed streams with the same key type
/// (Flink's left.intervalJoin(right).between(lower, upper)).
template <class A, class B, class K>
class interval_join_start {
public:
  interval_join_start(keyed_stream<A, K> left, keyed_stream<B, K> right)
      : left_(std::move(left)), right_(std::move(right)) {}

  /// Right elements at left time + [lower, upper] (milliseconds).
  interval_join<A, B, K> between(duration_ms lower, duration_ms upper) {
    return interval_join<A, B, K>{left_, right_,
                                  interval_bounds{lower, upper}};
  }

private:
  keyed_stream<A, K> left_;
  keyed_stream<B, K> right_;
};

template <class T, class K>
template <class B>
interval_join_start<T, B, K>
keyed_stream<T, K>::interval_join(keyed_stream<B, K> other) {
  return interval_join_start<T, B, K>{*this, std::move(other)};
}

// -- window join and co-group -------------------------------------------------
//
// Flink's a.join(b) / a.coGroup(b) .where(ka).equalTo(kb).window(assigner):
// both inputs tagged and keyed as by connect().key_by(), then one window
// operator over the tagged records, so windows (also merging session
// windows, which merge across both sides), triggers and allowed lateness
// are the window operator's. Each firing window hands its elements split
// by side to the co-group function; a join calls its function for every
// pair (an inner join: nothing for a window with one side empty). Results
// carry the window's max timestamp.

namespace detail {

/// The process window function that splits a window's tagged elements by
/// side and calls f(as, bs, out).
template <class K, class A, class B, class R, class W, class F>
class co_group_window_function final
    : public process_window_function<K, tagged<A, B>, R, W> {
public:
  using context =
      typename process_window_function<K, tagged<A, B>, R, W>::context;

  explicit co_group_window_function(F f) : f_(std::move(f)) {}

  void process(const K&, const context&,
               const std::vector<tagged<A, B>>& elements,
               collector<R>& out) override {
    as_.clear();
    bs_.clear();
    for (auto& e : elements) {
      if (e.index() == 0)
        as_.push_back(std::get<0>(e));
      else
        bs_.push_back(std::get<1>(e));
    }
    f_(static_cast<const std::vector<A>&>(as_),
       static_cast<const std::vector<B>&>(bs_), out);
  }

private:
  F f_;
  std::vector<A> as_;
  std::vector<B> bs_;
};

} // namespace detail

/// Both inputs keyed and windowed, before the function: trigger and
/// allowed lateness as on any windowed stream.
template <class A, class B, class K, class Assigner>
class windowed_co_group {
public:
  using window_type = typename Assigner::window_type;
  using windowed_type = windowed_stream<tagged<A, B>, K, Assigner>;

  explicit windowed_co_group(windowed_type ws) : ws_(std::move(ws)) {}

  template <class Tr>
  windowed_co_group& trigger(Tr t) {
    ws_.trigger(std::move(t));
    return *this;
  }

  windowed_co_group& allowed_lateness(duration_ms ms) {
    ws_.allowed_lateness(ms);
    return *this;
  }

  /// Co-group: void f(const std::vector<A>&, const std::vector<B>&,
  /// collector<R>&) once per key and firing window with at least one
  /// element (either side may be empty), as Flink's CoGroupFunction.
  template <class R, class F>
  data_stream<R> apply(F f, std::string name = "Window CoGroup") {
    using fn = detail::co_group_window_function<K, A, B, R, window_type, F>;
    return ws_.process([f] { return std::make_unique<fn>(f); },
                       std::move(name));
  }

protected:
  windowed_type ws_;
};

/// A window join: the pairs of each key and window.
template <class A, class B, class K, class Assigner>
class windowed_join : private windowed_co_group<A, B, K, Assigner> {
  using base = windowed_co_group<A, B, K, Assigner>;

public:
  explicit windowed_join(typename base::windowed_type ws)
      : base(std::move(ws)) {}

  template <class Tr>
  windowed_join& trigger(Tr t) {
    base::trigger(std::move(t));
    return *this;
  }

  windowed_join& allowed_lateness(duration_ms ms) {
    base::allowed_lateness(ms);
    return *this;
  }

  /// R f(const A&, const B&) for every pair (Flink's JoinFunction).
  template <class F, class R = std::decay_t<
                         std::invoke_result_t<F&, const A&, const B&>>>
  data_stream<R> apply(F f, std::string name = "Window Join") {
    return base::template apply<R>(
        [f](const std::vector<A>& as, const std::vector<B>& bs,
            collector<R>& out) {
          for (auto& a : as)
            for (auto& b : bs)
              out.collect(f(a, b));
        },
        std::move(name));
  }

  /// void f(const A&, const B&, collector<R>&) for every pair (Flink's
  /// FlatJoinFunction).
  template <class R, class F>
  data_stream<R> flat_apply(F f, std::string name = "Window Join") {
    return base::template apply<R>(
        [f](const std::vector<A>& as, const std::vector<B>& bs,
            collector<R>& out) {
          for (auto& a : as)
            for (auto& b : bs)
              f(a, b, out);
        },
        std::move(name));
  }
};

/// a.join(b) or a.co_group(b) with both keys given.
template <class A, class B, class K, bool Join>
class keyed_two_streams {
public:
  keyed_two_streams(keyed_connected_streams<A, B, K> keyed)
      : keyed_(std::move(keyed)) {}

  template <class Assigner>
  auto window(Assigner assigner) {
    auto ws = keyed_.keyed().window(std::move(assigner));
    if constexpr (Join)
      return windowed_join<A, B, K, Assigner>{std::move(ws)};
    else
      return windowed_co_group<A, B, K, Assigner>{std::move(ws)};
  }

private:
  keyed_connected_streams<A, B, K> keyed_;
};

/// a.join(b).where(ka): waiting for equal_to(kb).
template <class A, class B, class KA, bool Join>
class two_streams_where {
public:
  two_streams_where(data_stream<A> a, data_stream<B> b, KA ka)
      : a_(std::move(a)), b_(std::move(b)), ka_(std::move(ka)) {}

  /// The second input's key; the same key type as the first's.
  template <class KB>
  auto equal_to(KB kb) {
    using K = detail::selected_key_t<KA, A>;
    return keyed_two_streams<A, B, K, Join>{
        connect(a_, b_).key_by(ka_, std::move(kb))};
  }

private:
  data_stream<A> a_;
  data_stream<B> b_;
  KA ka_;
};

/// a.join(b) / a.co_group(b), before where().
template <class A, class B, bool Join>
class two_streams {
public:
  two_streams(data_stream<A> a, data_stream<B> b)
      : a_(std::move(a)), b_(std::move(b)) {}

  /// The first input's key.
  template <class KA>
  two_streams_where<A, B, KA, Join> where(KA ka) {
    return {a_, b_, std::move(ka)};
  }

private:
  data_stream<A> a_;
  data_stream<B> b_;
};

template <class T>
template <class B>
join_start<T, B> data_stream<T>::join(data_stream<B> other) {
  return join_start<T, B>{*this, std::move(other)};
}

template <class T>
template <class B>
co_group_start<T, B> data_stream<T>::co_group(data_stream<B> other) {
  return co_group_start<T, B>{*this, std::move(other)};
}

} // namespace libstream
