#pragma once

#include <string>
#include <utility>

#include "libstream/operator.hpp"
#include "libstream/state/keyed_state.hpp"
#include "libstream/state/operator_state.hpp"
#include "libstream/time.hpp"

namespace libstream {

/// Incremental aggregation, as Flink's AggregateFunction. Derive and
/// implement (the operators call these without virtual dispatch):
///   Acc create_accumulator() const;
///   void add(const In& value, Acc& acc) const;      // folds in place
///   Out get_result(const Acc& acc) const;
///   void merge(Acc& into, const Acc& from) const;   // session windows
template <class In, class Acc, class Out>
struct aggregate_function {
  using input_type = In;
  using accumulator_type = Acc;
  using output_type = Out;
};

/// Emits records from user functions. A record gets the timestamp of the
/// element (or timer) being processed unless one is given.
template <class T>
class collector {
public:
  collector(output<T>& out, timestamp ts) : out_(&out), ts_(ts) {}

  void collect(T value) { out_->collect(std::move(value), ts_); }

  void collect_with_timestamp(T value, timestamp ts) {
    out_->collect(std::move(value), ts);
  }

  void set_timestamp(timestamp ts) noexcept { ts_ = ts; }

private:
  output<T>* out_;
  timestamp ts_;
};

/// Identity of the subtask a function runs in, handed to open().
struct runtime_info {
  std::string task_name;
  int subtask_index = 0;
  int parallelism = 1;
  int max_parallelism = default_max_parallelism;
};

/// The runtime_info of the subtask behind `ctx`.
inline runtime_info info_of(operator_context& ctx) {
  return runtime_info{ctx.task_name(), ctx.subtask_index(), ctx.parallelism(),
                      ctx.max_parallelism()};
}

// -- process functions --------------------------------------------------------

/// Timer access for the current key, as Flink's TimerService.
class timer_access {
public:
  virtual ~timer_access() = default;
  virtual timestamp current_processing_time() = 0;
  virtual timestamp current_watermark() = 0;
  virtual void register_event_time_timer(timestamp t) = 0;
  virtual void register_processing_time_timer(timestamp t) = 0;
  virtual void delete_event_time_timer(timestamp t) = 0;
  virtual void delete_processing_time_timer(timestamp t) = 0;
};

/// Per element (and per timer) context of a keyed process function.
template <class K, class Out>
class keyed_process_context {
public:
  keyed_process_context(operator_outputs<Out>& outs, timer_access& timers)
      : outs_(&outs), timers_(&timers) {}

  /// The timestamp of the element (or the firing time of the timer).
  timestamp element_timestamp() const noexcept { return ts_; }
  const K& current_key() const noexcept { return *key_; }
  timer_access& timer_service() { return *timers_; }

  /// Emits `value` to the side output `tag`, with the timestamp records
  /// of the main output get (none from a processing-time timer).
  template <class T>
  void output(const output_tag<T>& tag, T value) {
    outs_->side(tag).collect(std::move(value), out_ts_);
  }

  /// The operator's outputs (for functions built on this one, such as
  /// joins, that emit with timestamps of their own).
  operator_outputs<Out>& outputs() noexcept { return *outs_; }

  /// For the operator: sets what the accessors return. `out_ts` is the
  /// timestamp of emitted records.
  void reset(const K* key, timestamp ts, timestamp out_ts) noexcept {
    key_ = key;
    ts_ = ts;
    out_ts_ = out_ts;
  }

private:
  operator_outputs<Out>* outs_;
  timer_access* timers_;
  const K* key_ = nullptr;
  timestamp ts_ = no_timestamp;
  timestamp out_ts_ = no_timestamp;
};

/// Which clock fired a timer.
enum class time_domain { event_time, processing_time };

/// A function over a keyed stream with keyed state and timers, as Flink's
/// KeyedProcessFunction.
template <class K, class In, class Out>
class keyed_process_function {
public:
  using key_type = K;
  using input_type = In;
  using output_type = Out;
  using context = keyed_process_context<K, Out>;

  virtual ~keyed_process_function() = default;

  /// Called once per subtask before any element: create state handles here.
  virtual void open(keyed_state_store<K>& state, const runtime_info& info) {}

  virtual void process_element(const In& value, context& ctx,
                               collector<Out>& out)
      = 0;

  /// A timer registered for ctx.current_key() fired at `time`.
  virtual void on_timer(timestamp time, time_domain domain, context& ctx,
                        collector<Out>& out) {}

  virtual void close() {}
};

/// Per element context of a non-keyed process function.
template <class Out>
class process_context {
public:
  explicit process_context(operator_outputs<Out>& outs) : outs_(&outs) {}

  timestamp element_timestamp() const noexcept { return ts_; }
  timestamp current_watermark() const noexcept { return wm_; }

  template <class T>
  void output(const output_tag<T>& tag, T value) {
    outs_->side(tag).collect(std::move(value), ts_);
  }

  /// The operator's outputs (for functions built on this one).
  operator_outputs<Out>& outputs() noexcept { return *outs_; }

  void reset(timestamp ts, timestamp wm) noexcept {
    ts_ = ts;
    wm_ = wm;
  }

private:
  operator_outputs<Out>* outs_;
  timestamp ts_ = no_timestamp;
  timestamp wm_ = min_watermark;
};

/// A function over a non-keyed stream with side outputs, as Flink's
/// ProcessFunction (no keyed state, no timers).
template <class In, class Out>
class process_function {
public:
  using input_type = In;
  using output_type = Out;
  using context = process_context<Out>;

  virtual ~process_function() = default;
  virtual void open(const runtime_info& info) {}
  virtual void process_element(const In& value, context& ctx,
                               collector<Out>& out)
      = 0;
  /// The bounded input ended (not called when the job is cancelled or
  /// fails): emit what is held, or throw to fail the job, for example when
  /// the input lacked something it must have (as Flink's BoundedOneInput).
  virtual void end_input(collector<Out>& out) {}

  /// Non-keyed state, as Flink's CheckpointedFunction: called once after
  /// open() and before the first element. Register list, union list and
  /// broadcast state in `store` here; store.is_restored() says whether
  /// they hold what a checkpoint had (this subtask's share of it).
  virtual void initialize_state(operator_state_store& store) {}

  /// A checkpoint is taken now (between two elements): bring the state
  /// registered in initialize_state up to date; it is written after this.
  virtual void snapshot_state(uint64_t checkpoint_id) {}

  virtual void close() {}
};

} // namespace libstream
