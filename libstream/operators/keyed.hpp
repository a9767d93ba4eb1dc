#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "libstream/functions.hpp"
#include "libstream/key_group.hpp"
#include "libstream/operator.hpp"
#include "libstream/operators/basic.hpp"
#include "libstream/state/keyed_state.hpp"
#include "libstream/timer_service.hpp"

namespace libstream {

/// The key type a key selector of result type R keys state by: the
/// selector's decayed result, with std::string_view kept as std::string.
template <class R>
using key_type_of = std::conditional_t<
    std::is_same_v<std::decay_t<R>, std::string_view>, std::string,
    std::decay_t<R>>;

/// Extracts the key of a record, as Flink's KeySelector. A selector may
/// return its key by value, as a reference into the record (`const K&`,
/// the cheapest: nothing is copied), or, for std::string keys, as a
/// std::string_view into the record (copied into a reused buffer per
/// record: no allocation), or as `const K& f(const T&, K& scratch)`, a
/// reference into the record or into `scratch` (how selectors compose
/// without copying keys). State keeps a copy of a key once per key, never
/// per record.
template <class T, class K>
class key_selector {
public:
  key_selector() = default;

  template <class F, class = std::enable_if_t<
                         !std::is_same_v<std::decay_t<F>, key_selector>>>
  key_selector(F f) { // NOLINT: converts like std::function
    if constexpr (std::is_invocable_r_v<const K&, F&, const T&, K&>) {
      with_scratch_ = std::move(f);
      return;
    } else {
      from_one_argument(std::move(f));
    }
  }

  explicit operator bool() const noexcept {
    return by_ref_ || by_view_ || by_value_ || with_scratch_;
  }

  /// The key of `x`: a reference into `x`, or `scratch` holding it. Valid
  /// while both are.
  const K& operator()(const T& x, K& scratch) const {
    if (by_ref_)
      return by_ref_(x);
    if (with_scratch_)
      return with_scratch_(x, scratch);
    if constexpr (std::is_same_v<K, std::string>) {
      if (by_view_) {
        auto v = by_view_(x);
        scratch.assign(v.data(), v.size());
        return scratch;
      }
    }
    scratch = by_value_(x);
    return scratch;
  }

  /// The key of `x` as a value.
  K operator()(const T& x) const {
    K scratch{};
    return (*this)(x, scratch);
  }

private:
  template <class F>
  void from_one_argument(F f) {
    using R = std::invoke_result_t<F&, const T&>;
    if constexpr (std::is_lvalue_reference_v<R>
                  && std::is_same_v<std::decay_t<R>, K>)
      by_ref_ = std::move(f);
    else if constexpr (std::is_same_v<K, std::string>
                       && std::is_same_v<std::decay_t<R>, std::string_view>)
      by_view_ = std::move(f);
    else
      by_value_ = std::move(f);
  }

  std::function<const K&(const T&)> by_ref_;
  std::function<std::string_view(const T&)> by_view_;
  std::function<K(const T&)> by_value_;
  std::function<const K&(const T&, K&)> with_scratch_;
};

/// The common part of operators on a keyed stream: the key selector, the
/// keyed state backend over the subtask's key groups, and the current key.
template <class K, class In, class Out>
class keyed_operator : public one_input_operator<In, Out>,
                       public key_hash_receiver {
public:
  explicit keyed_operator(key_selector<In, K> key) : key_(std::move(key)) {}

  void set_key_hashes(const std::vector<uint32_t>* hashes) override {
    hashes_ = hashes;
  }

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    max_parallelism_ = ctx.max_parallelism();
    std::shared_ptr<kv_store> store;
    auto sb = ctx.state_backend();
    if (sb.kind == state_backend_kind::leveldb)
      store = kv_store::open_fresh(ctx.local_state_path(*this));
    backend_ = std::make_unique<keyed_state_backend>(
        ctx.key_groups(), max_parallelism_, std::move(store),
        sb.cache_entries);
  }

  keyed_state_backend& backend() { return *backend_; }

  /// LevelDB: the cache is written back between batches once it is full.
  void process_batch(record_batch<In>& batch) override {
    backend_->maybe_flush();
    one_input_operator<In, Out>::process_batch(batch);
  }

  /// Keyed state (and timers) by key group. On LevelDB the database is
  /// read on the checkpoint writer's thread, from a database snapshot.
  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    // A finished subtask's keyed state is not kept: keyed operators finish
    // only once every upstream subtask has, and are then restored as
    // finished.
    if (out.at_finish)
      return;
    if (backend_->store())
      out.keyed_deferred = backend_->snapshot_deferred();
    else
      out.keyed = backend_->snapshot(out.key_group_offsets);
  }

  /// The key groups of this subtask, from whichever old subtask had them.
  void restore_state(const operator_restore& from) override {
    auto range = backend_->range();
    for (int g = range.first; g < range.last; ++g) {
      auto section = from.key_group_section(g);
      if (!section.empty())
        backend_->restore_key_group(g, section);
    }
  }

protected:
  /// Sets the current key; `key` must outlive the use of keyed state.
  /// Sets the current key: its hash and key group are computed here, once
  /// per record, for every state access that follows.
  void set_current_key(const K& key) {
    set_current_key(key, key_hash(key));
  }

  void set_current_key(const K& key, uint32_t h) {
    current_.key = &key;
    current_.hash = h;
    current_.key_group = key_group_of_hash(h, max_parallelism_);
  }

  /// The key hash of record `i` of the batch being processed: the one the
  /// hash partitioner sent, or computed.
  uint32_t hash_at(size_t i, const K& key) const {
    return hashes_ != nullptr ? (*hashes_)[i] : key_hash(key);
  }

  key_selector<In, K> key_;
  K key_scratch_{}; // holds keys that selectors return by value
  const std::vector<uint32_t>* hashes_ = nullptr; // see set_key_hashes
  int max_parallelism_ = default_max_parallelism;
  std::unique_ptr<keyed_state_backend> backend_;
  current_key<K> current_;
};

/// Rolling reduce on a keyed stream: emits the updated aggregate after every
/// element, as Flink's KeyedStream.reduce.
template <class K, class T>
class rolling_reduce_operator final : public keyed_operator<K, T, T> {
public:
  using reduce_fn = std::function<T(const T&, const T&)>;

  rolling_reduce_operator(key_selector<T, K> key, reduce_fn fn)
      : keyed_operator<K, T, T>(std::move(key)), fn_(std::move(fn)) {}

  void open(operator_context& ctx) override {
    keyed_operator<K, T, T>::open(ctx);
    table_ = &this->backend().template table<K, T>("rolling-reduce");
  }

protected:
  void process(record_batch<T>& batch) override {
    auto& out = this->out_.main();
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& r = batch[i];
      const K& key = this->key_(r.value, this->key_scratch_);
      auto h = this->hash_at(i, key);
      auto kg = key_group_of_hash(h, this->max_parallelism_);
      if (auto* acc = table_->find(key, kg, h)) {
        *acc = fn_(*acc, r.value);
        out.collect(*acc, r.ts);
      } else {
        table_->put(key, kg, h, r.value);
        out.collect(std::move(r.value), r.ts);
      }
    }
  }

private:
  reduce_fn fn_;
  keyed_table<K, T>* table_ = nullptr;
};

/// A keyed operator with keyed state for a user function and per-key
/// event- and processing-time timers (Flink's InternalTimerService with
/// the void namespace): the common part of keyed_process_operator and the
/// keyed broadcast operator. Subclasses handle their elements and
/// on_timer(); the current key is set while a timer fires.
///
/// At the end of a bounded input, event-time timers fire from the final
/// watermark, and then every pending processing-time timer fires in time
/// order as if the clock had reached the end of time (as Flink does at the
/// end of input in BATCH execution, and as the window operator does);
/// processing-time timers registered during that pass are ignored, so a
/// timer that re-registers itself cannot loop forever.
template <class K, class In, class Out>
class keyed_timer_operator : public keyed_operator<K, In, Out>,
                             protected timer_access {
public:
  using keyed_operator<K, In, Out>::keyed_operator;

  void open(operator_context& ctx) override {
    keyed_operator<K, In, Out>::open(ctx);
    timers_.bind(ctx, *this);
    timers_.set_range(ctx.key_groups());
    this->backend().attach(timers_state_name, timers_);
    store_ = std::make_unique<keyed_state_store<K>>(
        this->backend(), this->current_,
        [&ctx] { return ctx.current_processing_time(); });
  }

  void on_processing_time(timestamp now) override {
    timers_.advance_processing_time(
        now, [this](auto& t) { fire(t, time_domain::processing_time); });
    this->out_.flush();
  }

protected:
  /// A timer of `key` (the current key) fired at `time`; records emitted
  /// get `out_ts` (the time of an event-time timer, none else).
  virtual void on_timer(const K& key, timestamp time, time_domain domain,
                        timestamp out_ts)
      = 0;

  /// The keyed state of the user function (after open()).
  keyed_state_store<K>& state_store() { return *store_; }

  void on_watermark(timestamp wm) override {
    timers_.advance_watermark(
        wm, [this](auto& t) { fire(t, time_domain::event_time); });
  }

  void on_end_input() override {
    ending_ = true;
    timers_.advance_processing_time(max_watermark, [this](auto& t) {
      fire(t, time_domain::processing_time);
    });
  }

  // -- timer_access -----------------------------------------------------------

  timestamp current_processing_time() override {
    return this->context().current_processing_time();
  }
  timestamp current_watermark() override { return this->current_watermark_; }
  void register_event_time_timer(timestamp t) override {
    timers_.register_event_time(t, this->current_.get(), void_namespace{},
                                this->current_.key_group);
  }
  void register_processing_time_timer(timestamp t) override {
    if (!ending_)
      timers_.register_processing_time(t, this->current_.get(),
                                       void_namespace{},
                                       this->current_.key_group);
  }
  void delete_event_time_timer(timestamp t) override {
    timers_.delete_event_time(t, this->current_.get(), void_namespace{});
  }
  void delete_processing_time_timer(timestamp t) override {
    timers_.delete_processing_time(t, this->current_.get(), void_namespace{});
  }

private:
  template <class Timer>
  void fire(const Timer& t, time_domain domain) {
    this->backend().maybe_flush(); // LevelDB: bounded also while timers fire
    this->set_current_key(t.key);
    auto out_ts = domain == time_domain::event_time ? t.time : no_timestamp;
    on_timer(t.key, t.time, domain, out_ts);
    this->current_.key = nullptr;
  }

  timer_service<K> timers_;
  std::unique_ptr<keyed_state_store<K>> store_;
  bool ending_ = false; // the input ended: pending timers fire
};

/// Runs a keyed process function: keyed state, event- and processing-time
/// timers per key, side outputs.
///
/// Records emitted from an event-time timer carry the timer's time as their
/// timestamp; records emitted from a processing-time timer carry none (as
/// Flink). The end of input is keyed_timer_operator's.
template <class K, class In, class Out>
class keyed_process_operator final : public keyed_timer_operator<K, In, Out> {
public:
  using function_type = keyed_process_function<K, In, Out>;

  keyed_process_operator(key_selector<In, K> key,
                         std::unique_ptr<function_type> fn)
      : keyed_timer_operator<K, In, Out>(std::move(key)), fn_(std::move(fn)),
        pctx_(this->out_, *this) {}

  void open(operator_context& ctx) override {
    keyed_timer_operator<K, In, Out>::open(ctx);
    fn_->open(this->state_store(), info_of(ctx));
  }

  void close() override { fn_->close(); }

protected:
  void process(record_batch<In>& batch) override {
    collector<Out> out{this->out_.main(), no_timestamp};
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& r = batch[i];
      const K& key = this->key_(r.value, this->key_scratch_);
      this->set_current_key(key, this->hash_at(i, key));
      out.set_timestamp(r.ts);
      pctx_.reset(&key, r.ts, r.ts);
      fn_->process_element(r.value, pctx_, out);
    }
    this->current_.key = nullptr;
  }

  void on_timer(const K& key, timestamp time, time_domain domain,
                timestamp out_ts) override {
    collector<Out> out{this->out_.main(), out_ts};
    pctx_.reset(&key, time, out_ts);
    fn_->on_timer(time, domain, pctx_, out);
  }

private:
  std::unique_ptr<function_type> fn_;
  keyed_process_context<K, Out> pctx_;
};

} // namespace libstream
