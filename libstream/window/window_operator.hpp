#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "libstream/functions.hpp"
#include "libstream/key_group.hpp"
#include "libstream/operator.hpp"
#include "libstream/operators/basic.hpp"
#include "libstream/operators/keyed.hpp"
#include "libstream/state/keyed_table.hpp"
#include "libstream/timer_service.hpp"
#include "libstream/window/assigners.hpp"
#include "libstream/window/evictors.hpp"
#include "libstream/window/triggers.hpp"
#include "libstream/window/window.hpp"

namespace libstream {

// -- user-facing types --------------------------------------------------------

/// How a window operator fires and what it does with late data, as the
/// options of Flink's WindowedStream.
template <class W, class In>
struct window_options {
  /// Makes the trigger of each subtask; empty means the assigner's default
  /// trigger.
  trigger_factory<W> trigger;

  /// How long after a window's end (event time) its state is kept so that
  /// late elements update the result. Must not be negative; ignored by
  /// processing-time assigners (as Flink).
  duration_ms allowed_lateness = 0;

  /// Where elements go that arrive after their windows' allowed lateness.
  /// Without a tag they are dropped and counted.
  std::optional<output_tag<In>> late_data_tag;

  /// Makes the evictor of each subtask; empty means none (see
  /// evictors.hpp).
  std::function<std::unique_ptr<libstream::evictor<In, W>>()> evictor;
};

/// What a process window function sees of the window being emitted.
template <class W>
class window_context {
public:
  const W& window() const noexcept { return *window_; }
  timestamp current_watermark() const noexcept { return watermark_; }
  timestamp current_processing_time() const {
    return ctx_->current_processing_time();
  }

  /// Emits `value` to the side output `tag`, with the window's max
  /// timestamp.
  template <class T>
  void output(const output_tag<T>& tag, T value) const {
    sides_->get(tag).collect(std::move(value), window_->max_timestamp());
  }

  /// For the operator: sets what the accessors return.
  void reset(const W* window, timestamp watermark, operator_context* ctx,
             side_outputs* sides) noexcept {
    window_ = window;
    watermark_ = watermark;
    ctx_ = ctx;
    sides_ = sides;
  }

private:
  const W* window_ = nullptr;
  timestamp watermark_ = min_watermark;
  operator_context* ctx_ = nullptr;
  side_outputs* sides_ = nullptr;
};

/// A function over all elements of one window of one key, as Flink's
/// ProcessWindowFunction. Combined with an incremental reduce or aggregate,
/// `elements` holds exactly one value: the pre-aggregated result.
template <class K, class In, class Out, class W>
class process_window_function {
public:
  using key_type = K;
  using input_type = In;
  using output_type = Out;
  using window_type = W;
  using context = window_context<W>;

  virtual ~process_window_function() = default;

  /// Called once per subtask before any element.
  virtual void open(const runtime_info& info) {}

  /// Emits the results of `ctx.window()` for `key`. Records collected
  /// without an explicit timestamp get the window's max timestamp.
  virtual void process(const K& key, const context& ctx,
                       const std::vector<In>& elements, collector<Out>& out)
      = 0;

  virtual void close() {}
};

template <class K, class In, class Out, class W>
using process_window_function_ptr
    = std::unique_ptr<process_window_function<K, In, Out, W>>;

/// The non-template view of a window operator, for tests and metrics.
class window_operator_base {
public:
  virtual ~window_operator_base() = default;

  /// Elements dropped because they arrived after the allowed lateness of
  /// all their windows while no late-data side output was given.
  virtual size_t late_records_dropped() const noexcept = 0;

  /// The number of live (key, window) states of this subtask.
  virtual size_t window_state_count() const = 0;

  virtual size_t event_timer_count() const noexcept = 0;
  virtual size_t processing_timer_count() const noexcept = 0;
};

// -- window contents ----------------------------------------------------------

namespace detail {

/// Window contents folded with a reduce function: In f(const In&, const In&).
template <class In, class F>
struct reduce_contents {
  using state_type = In;
  using result_type = In;
  static constexpr bool incremental = true;
  static constexpr bool evicting = false;

  F fn;

  state_type make(const In& x, timestamp) const { return x; }
  void add(state_type& s, const In& x, timestamp) const {
    s = fn(std::as_const(s), x);
  }
  void merge(state_type& into, state_type&& from) const {
    into = fn(std::as_const(into), std::as_const(from));
  }
  result_type result(const state_type& s) const { return s; }
};

/// Window contents as an accumulator of an aggregate_function.
template <class Agg>
struct aggregate_contents {
  using state_type = typename Agg::accumulator_type;
  using result_type = typename Agg::output_type;
  static constexpr bool incremental = true;
  static constexpr bool evicting = false;

  Agg agg;

  state_type make(const typename Agg::input_type& x, timestamp) const {
    auto acc = agg.create_accumulator();
    agg.add(x, acc);
    return acc;
  }
  void add(state_type& s, const typename Agg::input_type& x,
           timestamp) const {
    agg.add(x, s);
  }
  void merge(state_type& into, state_type&& from) const {
    agg.merge(into, std::as_const(from));
  }
  result_type result(const state_type& s) const { return agg.get_result(s); }
};

/// Window contents as the list of all elements, for a process window
/// function without pre-aggregation.
template <class In>
struct buffer_contents {
  using state_type = std::vector<In>;
  using result_type = In;
  static constexpr bool incremental = false;

  static constexpr bool evicting = false;

  state_type make(const In& x, timestamp) const { return state_type{x}; }
  void add(state_type& s, const In& x, timestamp) const { s.push_back(x); }
  void merge(state_type& into, state_type&& from) const {
    into.insert(into.end(), std::make_move_iterator(from.begin()),
                std::make_move_iterator(from.end()));
  }
};

/// Window contents with an evictor: every element with its timestamp;
/// when the window fires, the evictor removes some, `inner` folds the rest
/// (reduce, aggregate, or the list for a process window function), the
/// evictor may remove more, and what is left stays.
template <class In, class Inner, class W>
struct evicting_contents {
  using state_type = std::vector<timestamped_value<In>>;
  using result_type = typename Inner::result_type;
  static constexpr bool incremental = Inner::incremental;
  static constexpr bool evicting = true;

  Inner inner;
  std::shared_ptr<libstream::evictor<In, W>> ev;

  state_type make(const In& x, timestamp ts) const {
    return state_type{timestamped_value<In>{x, ts}};
  }
  void add(state_type& s, const In& x, timestamp ts) const {
    s.push_back(timestamped_value<In>{x, ts});
  }
  void merge(state_type& into, state_type&& from) const {
    into.insert(into.end(), std::make_move_iterator(from.begin()),
                std::make_move_iterator(from.end()));
  }
  /// The inner contents of `s` (not empty).
  typename Inner::state_type fold(const state_type& s) const {
    auto st = inner.make(s[0].value, s[0].ts);
    for (size_t i = 1; i < s.size(); ++i)
      inner.add(st, s[i].value, s[i].ts);
    return st;
  }
};

} // namespace detail

// -- window state -------------------------------------------------------------

namespace detail {

/// A trigger's named counters for one window (see trigger_context::state).
using trigger_state = std::vector<std::pair<std::string, int64_t>>;

/// The state of one window of one key. `contents` is empty after a purge;
/// the entry lives until the window's cleanup time (or a merge).
template <class W, class S>
struct window_entry {
  W window;
  std::optional<S> contents;
  trigger_state tstate;
};

} // namespace detail

/// The hash of a (key, window) pane, for its slot in the table: the key's
/// and the window's together, so that the panes of one key do not pile up
/// in one probe chain. The key group follows the key alone (group_hash),
/// so a pane lives in its key's key group.
template <class K, class W, class KeyHash = key_hasher<K>>
struct pane_hasher {
  uint64_t operator()(const std::pair<K, W>& p) const
      noexcept(noexcept(KeyHash{}(p.first))) {
    return of(key_hash<K, KeyHash>(p.first), p.second);
  }
  static uint64_t group_hash(const std::pair<K, W>& p) noexcept(
      noexcept(KeyHash{}(p.first))) {
    return KeyHash{}(p.first);
  }
  /// The pane hash from the key's hash (key_hash).
  static uint64_t of(uint32_t key_hash, const W& w) noexcept {
    return combine_hash(key_hash, window_hash(w));
  }
};

/// Window state snapshots when the window type and the contents (the
/// accumulator, reduced value or buffered elements) have codecs.
template <class W, class S>
struct codec<detail::window_entry<W, S>> {
  static void encode(const detail::window_entry<W, S>& e, byte_writer& w) {
    codec<W>::encode(e.window, w);
    codec<std::optional<S>>::encode(e.contents, w);
    codec<detail::trigger_state>::encode(e.tstate, w);
  }
  static detail::window_entry<W, S> decode(byte_reader& r) {
    detail::window_entry<W, S> e;
    e.window = codec<W>::decode(r);
    e.contents = codec<std::optional<S>>::decode(r);
    e.tstate = codec<detail::trigger_state>::decode(r);
    return e;
  }
};

template <class W, class S>
struct has_codec<detail::window_entry<W, S>>
    : std::bool_constant<has_codec_v<W> && has_codec_v<S>> {};

// -- the operator -------------------------------------------------------------

/// The keyed window operator, as Flink's WindowOperator: assigns each
/// element to windows, keeps the contents per (key, window) in keyed state
/// organised by key groups, and emits a window's result when its trigger
/// fires, with the window's max timestamp.
///
/// - `Contents` folds elements in (reduce, aggregate) or buffers them.
/// - With `WithFunction`, results go through a process window function;
///   otherwise the folded result is emitted as is (Out = result type).
/// - Merging assigners (sessions) merge intersecting windows of a key,
///   their contents, trigger state and timers, as Flink's MergingWindowSet.
/// - A window is late once max_timestamp + allowed lateness <= watermark
///   (event time only). An element all of whose windows are late goes to
///   the late-data side output, or is dropped and counted. Window state is
///   dropped by a cleanup timer at max_timestamp + allowed lateness.
/// - Timers are registered when a (key, window) state is created, not per
///   element. The built-in event_time_trigger runs inline, without virtual
///   calls; other triggers are called through trigger<W>.
/// - At end of input, event-time windows fire from the final watermark. The
///   pending processing-time timers then fire as if the processing clock had
///   reached the end of time, so processing-time windows emit what they hold
///   (as Flink does at the end of a bounded input in BATCH mode); triggers
///   cannot register new processing-time timers during that pass.
template <class K, class In, class Out, class Assigner, class Contents,
          bool WithFunction>
class window_operator final : public keyed_operator<K, In, Out>,
                              public window_operator_base {
public:
  using window_type = typename Assigner::window_type;
  using W = window_type;
  using state_type = typename Contents::state_type;
  using result_type = typename Contents::result_type;
  using function_type = process_window_function<K, result_type, Out, W>;
  using function_ptr = std::unique_ptr<function_type>;
  using options_type = window_options<W, In>;

  static_assert(WithFunction || Contents::incremental,
                "buffered window contents need a process window function");
  static_assert(WithFunction || std::is_same_v<Out, result_type>,
                "without a process window function, the output type is the "
                "result type of the reduce or aggregate function");

  window_operator(key_selector<In, K> key, Assigner assigner, options_type opts,
                  Contents contents, function_ptr fn)
      : keyed_operator<K, In, Out>(std::move(key)),
        assigner_(std::move(assigner)), contents_(std::move(contents)),
        fn_(std::move(fn)),
        trigger_(opts.trigger ? opts.trigger() : assigner_.default_trigger()),
        late_tag_(std::move(opts.late_data_tag)), tctx_(*this) {
    if (!this->key_)
      throw std::invalid_argument("window operator: the key selector is "
                                  "empty");
    if (trigger_ == nullptr)
      throw std::invalid_argument("window operator: the trigger factory "
                                  "returned no trigger");
    if (opts.allowed_lateness < 0)
      throw std::invalid_argument(
          "window operator: the allowed lateness must not be negative, got "
          + std::to_string(opts.allowed_lateness) + " ms");
    if constexpr (WithFunction) {
      if (fn_ == nullptr)
        throw std::invalid_argument("window operator: the process window "
                                    "function is null");
    }
    if (Assigner::merging && !trigger_->can_merge())
      throw std::invalid_argument("window operator: the trigger cannot merge "
                                  "windows, so it cannot be used with a "
                                  "merging (session) window assigner");
    lateness_ = Assigner::event_time ? opts.allowed_lateness : 0;
    fast_ = Assigner::event_time
            && dynamic_cast<event_time_trigger<W>*>(trigger_.get()) != nullptr;
    // Declare the late-data side output so it can be connected before use.
    if (late_tag_)
      this->out_.side(*late_tag_);
  }

  void open(operator_context& ctx) override {
    keyed_operator<K, In, Out>::open(ctx);
    timers_.bind(ctx, *this);
    timers_.set_range(ctx.key_groups());
    this->backend().attach(timers_state_name, timers_);
    if constexpr (Assigner::merging)
      table_ = &this->backend().template table<K, key_windows>("window-"
                                                               "contents");
    else
      panes_ = &this->backend().template table<pane_key, window_entry,
                                               pane_hasher<K, W>>("window-"
                                                                  "panes");
    if constexpr (WithFunction)
      fn_->open(info_of(ctx));
  }

  void close() override {
    if constexpr (WithFunction)
      fn_->close();
  }

  void on_processing_time(timestamp now) override {
    timers_.advance_processing_time(
        now, [this](const timer_type& t) { on_processing_timer(t); });
    this->out_.flush();
  }

  // -- window_operator_base ---------------------------------------------------

  size_t late_records_dropped() const noexcept override { return dropped_; }

  size_t window_state_count() const override {
    size_t n = 0;
    if (table_ != nullptr)
      table_->for_each(
          [&n](const K&, const key_windows& ws) { n += ws.size(); });
    if (panes_ != nullptr)
      n += panes_->size();
    return n;
  }

  size_t event_timer_count() const noexcept override {
    return timers_.event_timers();
  }

  size_t processing_timer_count() const noexcept override {
    return timers_.processing_timers();
  }

protected:
  void process(record_batch<In>& batch) override {
    // Processing-time assigners read the clock once per batch.
    timestamp now = 0;
    if constexpr (!Assigner::event_time)
      now = this->context().current_processing_time();
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& r = batch[i];
      const K& key = this->key_(r.value, this->key_scratch_);
      auto h = this->hash_at(i, key);
      auto kg = key_group_of_hash(h, this->max_parallelism_);
      auto windows = assigner_.assign(r.ts, now);
      bool accepted;
      if constexpr (Assigner::merging)
        accepted = process_merging(key, kg, h, r, windows);
      else
        accepted = process_plain(key, kg, h, r, windows);
      if (!accepted && is_element_late(r.ts)) {
        if (late_tag_)
          this->out_.side(*late_tag_).collect(std::move(r.value), r.ts);
        else
          ++dropped_;
      }
    }
  }

  void on_watermark(timestamp wm) override {
    timers_.advance_watermark(
        wm, [this](const timer_type& t) { on_event_timer(t); });
  }

  void on_end_input() override {
    if (this->current_watermark_ != max_watermark) {
      // The final watermark did not arrive: the input is complete anyway.
      this->current_watermark_ = max_watermark;
      on_watermark(max_watermark);
    }
    ending_ = true;
    timers_.advance_processing_time(
        max_watermark, [this](const timer_type& t) { on_processing_timer(t); });
  }

private:
  // -- state ------------------------------------------------------------------

  using trigger_state = detail::trigger_state;
  using window_entry = detail::window_entry<W, state_type>;

  /// Merging (session) windows: the windows of one key in one entry, as
  /// merging looks at all of them.
  using key_windows = std::vector<window_entry>;
  /// Other windows: an entry per (key, window) pane, so that a record
  /// reads and writes only the panes it falls into (on LevelDB too).
  using pane_key = std::pair<K, W>;
  using timer_type = timer<K, W>;

  static window_entry* find_entry(key_windows& ws, const W& w) noexcept {
    for (auto& e : ws)
      if (e.window == w)
        return &e;
    return nullptr;
  }

  // -- time -------------------------------------------------------------------

  timestamp cleanup_time(const W& w) const noexcept {
    if constexpr (Assigner::event_time)
      return saturating_add(w.max_timestamp(), lateness_);
    else
      return w.max_timestamp();
  }

  bool is_window_late(const W& w) const noexcept {
    return Assigner::event_time && cleanup_time(w) <= this->current_watermark_;
  }

  bool is_element_late(timestamp ts) const noexcept {
    return Assigner::event_time
           && saturating_add(ts, lateness_) <= this->current_watermark_;
  }

  void register_cleanup_timer(const K& key, int kg, const W& w) {
    auto t = cleanup_time(w);
    if (t == max_watermark)
      return; // never cleaned up (global window)
    if constexpr (Assigner::event_time) {
      // The inline trigger registered max_timestamp already.
      if (fast_ && t == w.max_timestamp())
        return;
      timers_.register_event_time(t, key, w, kg);
    } else {
      timers_.register_processing_time(t, key, w, kg);
    }
  }

  void delete_cleanup_timer(const K& key, const W& w) {
    auto t = cleanup_time(w);
    if (t == max_watermark)
      return;
    if constexpr (Assigner::event_time)
      timers_.delete_event_time(t, key, w);
    else
      timers_.delete_processing_time(t, key, w);
  }

  // -- elements ---------------------------------------------------------------

  /// Returns whether any window took the element.
  template <class Record>
  bool process_plain(const K& key, int kg, uint32_t key_hash,
                     const Record& r, const window_list<W>& windows) {
    bool accepted = false;
    for (auto& w : windows) {
      if (is_window_late(w))
        continue;
      accepted = true;
      auto h = spread_hash(pane_hasher<K, W>::of(key_hash, w));
      // The key is copied into a pane key only for a new pane (or a
      // LevelDB read), not per record.
      auto* e = panes_->find_with(
          kg, h,
          [&](const pane_key& pk) { return pk.second == w && pk.first == key; },
          [&] { return pane_key{key, w}; });
      bool created = false;
      if (e == nullptr) {
        e = &panes_->get_or_create(pane_key{key, w}, kg, h);
        e->window = w;
        created = true;
      }
      add_element(key, kg, *e, r, created);
      if (created)
        register_cleanup_timer(key, kg, w);
    }
    return accepted;
  }

  /// Adds the element's (single) session window to the key's windows,
  /// merging it with every window it intersects, then adds the element.
  template <class Record>
  bool process_merging(const K& key, int kg, uint32_t h, const Record& r,
                       const window_list<W>& windows) {
    bool accepted = false;
    for (auto& w : windows) {
      auto* entries = table_->find(key, kg, h);
      auto merged = w;
      small_vector<size_t, 4> hits;
      if (entries != nullptr) {
        for (size_t i = 0; i < entries->size(); ++i) {
          if ((*entries)[i].window.intersects(w)) {
            merged = merged.cover((*entries)[i].window);
            hits.push_back(i);
          }
        }
      }
      // Existing windows are never late (their cleanup timers fired before
      // this element), so a late result means the new window stands alone.
      if (is_window_late(merged))
        continue;
      accepted = true;
      if (entries == nullptr)
        entries = &table_->get_or_create(key, kg, h);
      window_entry* e = nullptr;
      bool created = false;
      if (hits.empty()) {
        entries->push_back(window_entry{w, std::nullopt, {}});
        e = &entries->back();
        created = true;
      } else if (hits.size() == 1 && (*entries)[hits[0]].window == merged) {
        e = &(*entries)[hits[0]]; // the new window lies inside an old one
      } else {
        e = &merge_windows(key, kg, *entries, hits, merged);
      }
      add_element(key, kg, *e, r, created);
      if (created)
        register_cleanup_timer(key, kg, merged);
    }
    return accepted;
  }

  /// Merges the windows at `hits` (ascending indices) into `merged`: folds
  /// their contents and trigger state into the first, drops their timers
  /// and registers the merged window's timers. Returns the merged entry.
  window_entry& merge_windows(const K& key, int kg, key_windows& entries,
                              const small_vector<size_t, 4>& hits,
                              const W& merged) {
    auto& target = entries[hits[0]];
    trigger_state summed;
    for (auto i : hits) {
      auto& e = entries[i];
      auto old = e.window;
      for (auto& [name, value] : e.tstate) {
        auto j = summed.begin();
        while (j != summed.end() && j->first != name)
          ++j;
        if (j == summed.end())
          summed.emplace_back(name, value);
        else
          j->second += value;
      }
      if (fast_) {
        timers_.delete_event_time(old.max_timestamp(), key, old);
      } else {
        tctx_.reset(&key, kg, &old, &e);
        trigger_->clear(old, tctx_);
      }
      delete_cleanup_timer(key, old);
      if (i != hits[0] && e.contents) {
        if (target.contents)
          contents_.merge(*target.contents, std::move(*e.contents));
        else
          target.contents = std::move(e.contents);
      }
    }
    target.window = merged;
    target.tstate = std::move(summed);
    for (size_t k = hits.size(); k-- > 1;)
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(hits[k]));
    auto& result = entries[hits[0]];
    if (fast_) {
      if (merged.max_timestamp() > this->current_watermark_)
        timers_.register_event_time(merged.max_timestamp(), key, merged, kg);
    } else {
      tctx_.reset(&key, kg, &result.window, &result);
      trigger_->on_merge(merged, tctx_);
    }
    register_cleanup_timer(key, kg, merged);
    return result;
  }

  /// Adds an element to one window and runs the trigger. `created` says the
  /// (key, window) state is new: the inline event-time trigger registers
  /// its timer only then.
  template <class Record>
  void add_element(const K& key, int kg, window_entry& e, const Record& r,
                   bool created) {
    if (e.contents)
      contents_.add(*e.contents, r.value, r.ts);
    else
      e.contents.emplace(contents_.make(r.value, r.ts));
    trigger_result res;
    if (fast_) {
      if (e.window.max_timestamp() <= this->current_watermark_) {
        res = trigger_result::fire; // late firing within allowed lateness
      } else {
        if (created)
          timers_.register_event_time(e.window.max_timestamp(), key, e.window,
                                      kg);
        return;
      }
    } else {
      tctx_.reset(&key, kg, &e.window, &e);
      res = trigger_->on_element(r.ts, e.window, tctx_);
    }
    apply(key, e, res);
  }

  void apply(const K& key, window_entry& e, trigger_result res) {
    if (is_fire(res) && e.contents)
      emit(key, e);
    if (is_purge(res))
      e.contents.reset();
  }

  // -- timers -----------------------------------------------------------------

  void on_event_timer(const timer_type& t) {
    // LevelDB: the cache stays bounded also while a watermark fires every
    // window (no pointer into it is held from one timer to the next).
    this->backend().maybe_flush();
    key_windows* entries = nullptr;
    window_entry* e = nullptr;
    if (!find_window(t, entries, e))
      return; // merged away or cleaned up
    trigger_result res;
    if (fast_) {
      res = t.time == e->window.max_timestamp() ? trigger_result::fire
                                                : trigger_result::continue_;
    } else {
      tctx_.reset(&t.key, t.key_group, &e->window, e);
      res = trigger_->on_event_time(t.time, e->window, tctx_);
    }
    apply(t.key, *e, res);
    if (Assigner::event_time && t.time == cleanup_time(e->window))
      clear_window(t.key, t.key_group, entries, *e);
  }

  /// The state of the window of timer `t`: in the key's windows (merging)
  /// or its pane. False when it is gone.
  bool find_window(const timer_type& t, key_windows*& entries,
                   window_entry*& e) {
    if constexpr (Assigner::merging) {
      entries = table_->find(t.key, t.key_group);
      e = entries != nullptr ? find_entry(*entries, t.ns) : nullptr;
    } else {
      e = panes_->find(pane_key{t.key, t.ns}, t.key_group);
    }
    return e != nullptr;
  }

  void on_processing_timer(const timer_type& t) {
    this->backend().maybe_flush();
    key_windows* entries = nullptr;
    window_entry* e = nullptr;
    if (!find_window(t, entries, e))
      return;
    tctx_.reset(&t.key, t.key_group, &e->window, e);
    apply(t.key, *e, trigger_->on_processing_time(t.time, e->window, tctx_));
    if (!Assigner::event_time && t.time == cleanup_time(e->window))
      clear_window(t.key, t.key_group, entries, *e);
  }

  /// Drops all state of one window of a key (its cleanup time came).
  /// `entries` is the key's windows (merging assigners) or null (panes).
  void clear_window(const K& key, int kg, key_windows* entries,
                    window_entry& e) {
    if (!fast_) {
      tctx_.reset(&key, kg, &e.window, &e);
      trigger_->clear(e.window, tctx_);
    }
    if constexpr (Assigner::merging) {
      entries->erase(entries->begin() + (&e - entries->data()));
      if (entries->empty())
        table_->erase(key, kg);
    } else {
      panes_->erase(pane_key{key, e.window}, kg);
    }
  }

  // -- emitting ---------------------------------------------------------------

  void emit(const K& key, window_entry& e) {
    if constexpr (Contents::evicting) {
      auto& elements = *e.contents;
      evictor_context ectx{this->current_watermark_,
                           this->context().current_processing_time()};
      contents_.ev->evict_before(elements, e.window, ectx);
      if (!elements.empty()) {
        emit_state(key, e.window, contents_.fold(elements), contents_.inner);
      } else if constexpr (WithFunction && !Contents::incremental) {
        // A process window function sees the empty window, as Flink's.
        emit_state(key, e.window, std::vector<In>{}, contents_.inner);
      }
      contents_.ev->evict_after(elements, e.window, ectx);
      // Nothing left: the window has no contents until its next element
      // (a trigger firing again does not call the function with nothing).
      if (elements.empty())
        e.contents.reset();
    } else {
      emit_state(key, e.window, *e.contents, contents_);
    }
  }

  template <class S, class C>
  void emit_state(const K& key, const W& window, const S& state,
                  const C& contents) {
    auto ts = window.max_timestamp();
    if constexpr (WithFunction) {
      wctx_.reset(&window, this->current_watermark_, this->ctx_,
                  &this->out_.sides());
      collector<Out> out{this->out_.main(), ts};
      if constexpr (Contents::incremental) {
        scratch_.clear();
        scratch_.push_back(contents.result(state));
        fn_->process(key, wctx_, scratch_, out);
      } else {
        fn_->process(key, wctx_, state, out);
      }
    } else {
      this->out_.main().collect(contents.result(state), ts);
    }
  }

  // -- trigger context --------------------------------------------------------

  /// The trigger context of the current key and window.
  class context_impl final : public trigger_context<W> {
  public:
    explicit context_impl(window_operator& self) : self_(&self) {}

    void reset(const K* key, int kg, const W* window,
               window_entry* entry) noexcept {
      key_ = key;
      kg_ = kg;
      window_ = window;
      entry_ = entry;
    }

    timestamp current_watermark() const override {
      return self_->current_watermark_;
    }
    timestamp current_processing_time() const override {
      return self_->context().current_processing_time();
    }
    void register_event_time_timer(timestamp t) override {
      self_->timers_.register_event_time(t, *key_, *window_, kg_);
    }
    void delete_event_time_timer(timestamp t) override {
      self_->timers_.delete_event_time(t, *key_, *window_);
    }
    void register_processing_time_timer(timestamp t) override {
      if (!self_->ending_)
        self_->timers_.register_processing_time(t, *key_, *window_, kg_);
    }
    void delete_processing_time_timer(timestamp t) override {
      self_->timers_.delete_processing_time(t, *key_, *window_);
    }
    int64_t& state(const std::string& name) override {
      auto& xs = entry_->tstate;
      for (auto& x : xs)
        if (x.first == name)
          return x.second;
      xs.emplace_back(name, 0);
      return xs.back().second;
    }
    void clear_state(const std::string& name) override {
      auto& xs = entry_->tstate;
      for (auto i = xs.begin(); i != xs.end(); ++i) {
        if (i->first == name) {
          xs.erase(i);
          return;
        }
      }
    }

  private:
    window_operator* self_;
    const K* key_ = nullptr;
    int kg_ = 0;
    const W* window_ = nullptr;
    window_entry* entry_ = nullptr;
  };

  Assigner assigner_;
  Contents contents_;
  function_ptr fn_;
  trigger_ptr<W> trigger_;
  std::optional<output_tag<In>> late_tag_;
  duration_ms lateness_ = 0;
  bool fast_ = false;
  bool ending_ = false;
  size_t dropped_ = 0;
  keyed_table<K, key_windows>* table_ = nullptr; // merging assigners
  keyed_table<pane_key, window_entry, pane_hasher<K, W>>* panes_ = nullptr;
  timer_service<K, W> timers_;
  context_impl tctx_;
  window_context<W> wctx_;
  std::vector<result_type> scratch_;
};

// -- factories ----------------------------------------------------------------

namespace detail {

/// The window operator over `inner` contents wrapped with the evictor of
/// `opts` (a fresh one for this subtask).
template <class K, class In, class Out, bool WithFunction, class Assigner,
          class Inner, class Fn>
std::unique_ptr<operator_base>
make_evicting(key_selector<In, K> key, Assigner a,
              window_options<typename Assigner::window_type, In> opts,
              Inner inner, Fn fn) {
  using W = typename Assigner::window_type;
  using contents = evicting_contents<In, Inner, W>;
  using op = window_operator<K, In, Out, Assigner, contents, WithFunction>;
  std::shared_ptr<evictor<In, W>> ev = opts.evictor();
  if (ev == nullptr)
    throw std::invalid_argument("window operator: the evictor factory "
                                "returned no evictor");
  return std::make_unique<op>(std::move(key), std::move(a), std::move(opts),
                              contents{std::move(inner), std::move(ev)},
                              std::move(fn));
}

} // namespace detail

/// Windows folded incrementally with `reduce`: In f(const In&, const In&).
/// Emits the reduced value of each window with its max timestamp.
template <class K, class In, class Assigner, class F>
std::unique_ptr<operator_base> make_reduce_window_operator(
    key_selector<In, K> key, Assigner a,
    window_options<typename Assigner::window_type, In> opts, F reduce) {
  using contents = detail::reduce_contents<In, F>;
  if (opts.evictor)
    return detail::make_evicting<K, In, In, false>(
        std::move(key), std::move(a), std::move(opts),
        contents{std::move(reduce)}, nullptr);
  using op = window_operator<K, In, In, Assigner, contents, false>;
  return std::make_unique<op>(std::move(key), std::move(a), std::move(opts),
                              contents{std::move(reduce)}, nullptr);
}

/// Windows folded incrementally with an aggregate_function (see
/// functions.hpp). Emits Agg::output_type per window.
template <class K, class In, class Assigner, class Agg>
std::unique_ptr<operator_base> make_aggregate_window_operator(
    key_selector<In, K> key, Assigner a,
    window_options<typename Assigner::window_type, In> opts, Agg agg) {
  static_assert(std::is_same_v<typename Agg::input_type, In>,
                "the aggregate function's input type is not the stream's "
                "element type");
  using contents = detail::aggregate_contents<Agg>;
  using out = typename Agg::output_type;
  if (opts.evictor)
    return detail::make_evicting<K, In, out, false>(
        std::move(key), std::move(a), std::move(opts),
        contents{std::move(agg)}, nullptr);
  using op = window_operator<K, In, out, Assigner, contents, false>;
  return std::make_unique<op>(std::move(key), std::move(a), std::move(opts),
                              contents{std::move(agg)}, nullptr);
}

/// Windows that buffer all elements and hand them to `fn` when they fire.
template <class K, class In, class Out, class Assigner>
std::unique_ptr<operator_base> make_process_window_operator(
    key_selector<In, K> key, Assigner a,
    window_options<typename Assigner::window_type, In> opts,
    std::unique_ptr<
        process_window_function<K, In, Out, typename Assigner::window_type>>
        fn) {
  using contents = detail::buffer_contents<In>;
  if (opts.evictor)
    return detail::make_evicting<K, In, Out, true>(
        std::move(key), std::move(a), std::move(opts), contents{},
        std::move(fn));
  using op = window_operator<K, In, Out, Assigner, contents, true>;
  return std::make_unique<op>(std::move(key), std::move(a), std::move(opts),
                              contents{}, std::move(fn));
}

/// Windows folded with `agg`; when a window fires, `fn` receives its one
/// aggregate result together with the window metadata.
template <class K, class In, class Out, class Assigner, class Agg>
std::unique_ptr<operator_base> make_aggregate_process_window_operator(
    key_selector<In, K> key, Assigner a,
    window_options<typename Assigner::window_type, In> opts, Agg agg,
    std::unique_ptr<process_window_function<K, typename Agg::output_type, Out,
                                            typename Assigner::window_type>>
        fn) {
  static_assert(std::is_same_v<typename Agg::input_type, In>,
                "the aggregate function's input type is not the stream's "
                "element type");
  using contents = detail::aggregate_contents<Agg>;
  if (opts.evictor)
    return detail::make_evicting<K, In, Out, true>(
        std::move(key), std::move(a), std::move(opts),
        contents{std::move(agg)}, std::move(fn));
  using op = window_operator<K, In, Out, Assigner, contents, true>;
  return std::make_unique<op>(std::move(key), std::move(a), std::move(opts),
                              contents{std::move(agg)}, std::move(fn));
}

/// Windows folded with `reduce`; when a window fires, `fn` receives its one
/// reduced value together with the window metadata.
template <class K, class In, class Out, class Assigner, class F>
std::unique_ptr<operator_base> make_reduce_process_window_operator(
    key_selector<In, K> key, Assigner a,
    window_options<typename Assigner::window_type, In> opts, F reduce,
    std::unique_ptr<
        process_window_function<K, In, Out, typename Assigner::window_type>>
        fn) {
  using contents = detail::reduce_contents<In, F>;
  if (opts.evictor)
    return detail::make_evicting<K, In, Out, true>(
        std::move(key), std::move(a), std::move(opts),
        contents{std::move(reduce)}, std::move(fn));
  using op = window_operator<K, In, Out, Assigner, contents, true>;
  return std::make_unique<op>(std::move(key), std::move(a), std::move(opts),
                              contents{std::move(reduce)}, std::move(fn));
}

} // namespace libstream
