#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libstream/key_group.hpp"
#include "libstream/record.hpp"
#include "libstream/record_buffer.hpp"
#include "libstream/state/state_backend.hpp"
#include "libstream/time.hpp"

namespace libstream {

class operator_base;
class side_outputs;

/// What an operator sees of the subtask that runs it: identity, clocks and
/// the processing-time callback service. Implemented by the runtime's
/// subtask actor and by the operator test harness.
class operator_context {
public:
  virtual ~operator_context() = default;

  virtual const std::string& task_name() const = 0;
  virtual int subtask_index() const = 0;
  virtual int parallelism() const = 0;
  virtual int max_parallelism() const = 0;

  /// The key groups this subtask owns (meaningful for keyed operators).
  key_group_range key_groups() const {
    return key_group_range_of(subtask_index(), parallelism(),
                              max_parallelism());
  }

  /// The processing-time clock, in milliseconds since the epoch.
  virtual timestamp current_processing_time() = 0;

  /// Asks for `op->on_processing_time(now)` once the processing-time clock
  /// reaches `t`. Several requests for one operator may be coalesced into
  /// one call; the operator must check what is due itself.
  virtual void request_processing_time(operator_base* op, timestamp t) = 0;

  /// Holds (`true`) or releases the subtask's input on behalf of `op`, for
  /// operators that wait for something outside the job (an external
  /// system's acknowledgements): while any operator holds it, the subtask
  /// processes no input and reads no source, exactly as when an output
  /// channel has no credit, and it does not finish. Idempotent per operator.
  virtual void hold_input(operator_base* op, bool hold) = 0;

  /// Returns a function that any thread may call to have the subtask call
  /// `op->on_wakeup()` on its own thread soon after. Valid until the
  /// operator is closed; calls after that are ignored.
  virtual std::function<void()> make_waker(operator_base* op) = 0;

  /// The attempt of the job this subtask belongs to: 0 for the first run,
  /// then one more for every restart after a failure.
  virtual uint32_t attempt() const { return 0; }

  /// Where keyed operators keep their state (kind, directory, cache).
  virtual state_backend_config state_backend() const { return {}; }

  /// The directory for `op`'s LevelDB database: unique per operator,
  /// subtask and attempt, under the local state directory.
  virtual std::string local_state_path(const operator_base& op) const {
    throw std::logic_error("this operator context has no local state "
                           "directory");
  }
};

/// A receiver of record batches of type T: the next operator of a chain or
/// the network output at a chain's end.
template <class T>
class record_sink {
public:
  virtual ~record_sink() = default;

  /// Processes `batch`. The callee may move from the elements and shrink
  /// the batch; the caller owns it afterwards and reuses its storage.
  virtual void process_batch(record_batch<T>& batch) = 0;
};

/// Implemented by keyed operators: the key hashes a hash partitioner sent
/// with a batch, valid while the batch is processed (null otherwise).
class key_hash_receiver {
public:
  virtual ~key_hash_receiver() = default;
  virtual void set_key_hashes(const std::vector<uint32_t>* hashes) = 0;
};

/// What one operator subtask writes at a checkpoint barrier (the
/// synchronous part: encoded bytes; files are written off the subtask's
/// thread afterwards).
struct operator_state_snapshot {
  /// Keyed state with the key groups one after the other, and where each
  /// group starts (plus the end); both empty without keyed state.
  std::string keyed;
  std::vector<uint64_t> key_group_offsets;
  /// Or, when set, a function that produces `keyed` and the offsets later,
  /// on the checkpoint writer's thread (the LevelDB backend reads its
  /// database snapshot there).
  std::function<std::string(std::vector<uint64_t>&)> keyed_deferred;
  /// Non-keyed state, encoded by the operator.
  std::string operator_state;
  /// A source's read position, encoded by the source.
  std::string source_position;
  /// Set by the runtime: the final snapshot of a subtask that finished its
  /// input (see keyed_operator: keyed state is not kept then).
  bool at_finish = false;

  bool empty() const noexcept {
    return keyed.empty() && key_group_offsets.empty() && !keyed_deferred
           && operator_state.empty() && source_position.empty();
  }
};

/// What an operator subtask restores from: its operator's state at a
/// checkpoint, of every subtask of the run that took it (which may have had
/// another parallelism). Implemented by the runtime.
class operator_restore {
public:
  virtual ~operator_restore() = default;

  /// The parallelism of the operator when the checkpoint was taken.
  virtual int old_parallelism() const = 0;

  /// The keyed state of key group `key_group` (a section of a snapshot),
  /// empty when the checkpoint has none for it. Throws when a data file is
  /// missing or corrupt.
  virtual std::string key_group_section(int key_group) const = 0;

  /// The source position written by old subtask `index` ("" if none).
  virtual std::string source_position(int index) const = 0;

  /// The operator state written by old subtask `index` ("" if none).
  virtual std::string operator_state(int index) const = 0;
};

/// The type-erased part of every operator: lifecycle, time and wiring.
/// Exceptions thrown from any of these functions fail the job with their
/// message (see the subtask actor).
class operator_base {
public:
  virtual ~operator_base() = default;

  /// Called once, before any input.
  virtual void open(operator_context& ctx) { ctx_ = &ctx; }

  /// The watermark of this operator's input advanced to `wm`. Fires what is
  /// due and forwards the watermark.
  virtual void process_watermark(timestamp wm) = 0;

  /// The input became idle (`true`) or active again (`false`).
  virtual void process_idleness(bool idle) = 0;

  /// A processing time requested through the context arrived.
  virtual void on_processing_time(timestamp now) {}

  /// A waker made by the context was called (see make_waker).
  virtual void on_wakeup() {}

  /// The (bounded) input ended. Emits what is still held and forwards.
  virtual void end_input() = 0;

  /// What the runtime calls when the input ended: end_input(), or, for an
  /// operator restored as finished, only forward_end().
  void input_ended() {
    if (finished_on_restore_)
      forward_end();
    else
      end_input();
  }

  /// The operator finished its input before the checkpoint it was restored
  /// from (every subtask of it had): it already emitted everything it
  /// would emit at the end of its input, so that is not done again (as
  /// Flink's operators finished on restore).
  void set_finished_on_restore() { finished_on_restore_ = true; }
  bool finished_on_restore() const noexcept { return finished_on_restore_; }

  /// Tells downstream operators that the input ended, without emitting
  /// anything else (see input_ended).
  virtual void forward_end() {}

  /// Writes the operator's state for checkpoint `checkpoint_id`. Called on
  /// the subtask's thread at the barrier, between records: all input before
  /// the barrier is reflected, nothing after it. Throws when the state
  /// cannot be encoded (a type without a codec); the checkpoint then fails.
  virtual void snapshot_state(uint64_t checkpoint_id,
                              operator_state_snapshot& out) {}

  /// Restores the state a checkpoint holds for this operator. Called once,
  /// after open() and before any input, only when the job starts from a
  /// checkpoint that has state for the operator's uid. Throws when the
  /// state cannot be restored (the job then fails with the message).
  virtual void restore_state(const operator_restore& from) {}

  /// Checkpoint `checkpoint_id` is complete: every subtask's state and the
  /// metadata are durable. Two-phase operators commit what they staged
  /// up to it.
  virtual void notify_checkpoint_complete(uint64_t checkpoint_id) {}

  /// True when the operator stages output at end_input that commit()
  /// publishes once the whole job has finished (a two-phase sink). The
  /// subtask then stays alive after its input ended until the coordinator
  /// tells it to commit, or cancels it.
  virtual bool transactional() const { return false; }

  /// Publishes what was staged (see transactional). Called at most once,
  /// after end_input and before close.
  virtual void commit() {}

  /// Called once after end_input (and commit) or on cancellation; releases
  /// resources. A transactional operator closed without commit() discards
  /// what it staged.
  virtual void close() {}

  /// Connects `downstream` to the output named `tag` ("" = main output).
  /// Throws std::logic_error when the types do not line up.
  virtual void connect(const std::string& tag, operator_base& downstream) = 0;

  /// Flushes records held in output buffers to the downstream operators.
  virtual void flush() = 0;

  /// True while flush() has records to pass on that no full buffer will
  /// send: the subtask then keeps a buffer timeout running.
  virtual bool holds_output() const noexcept { return false; }

  /// The side outputs of this operator, or nullptr if it has none.
  virtual side_outputs* sides() { return nullptr; }

  operator_context& context() const { return *ctx_; }

protected:
  operator_context* ctx_ = nullptr;

private:
  bool finished_on_restore_ = false;
};

// -- outputs ------------------------------------------------------------------

/// The type-erased part of an operator output.
class output_base {
public:
  virtual ~output_base() = default;
  virtual void add_target(operator_base& op) = 0;
  virtual void flush() = 0;
  const std::vector<operator_base*>& targets() const { return targets_; }

protected:
  std::vector<operator_base*> targets_;
};

namespace detail {

/// The storage of chain buffers of type T that this thread's outputs are
/// not filling (see output<T>). Hidden, as batch_pool<T>::shared().
template <class T>
__attribute__((visibility("hidden"))) batch_pool<T>& idle_chain_buffers() {
  thread_local batch_pool<T> pool{8};
  return pool;
}

} // namespace detail

/// A typed operator output: buffers records and hands them to every
/// connected downstream operator in batches.
///
/// The buffer takes storage on its first record and gives it back to its
/// thread's pool when flushed, which every operator does at the end of the
/// batch or poll it handles. So a chain holds buffers only while it runs:
/// the subtasks on a worker thread fill the same few, cache-hot buffers in
/// turn, instead of 32 KiB per output of each subtask, touched fresh (with
/// 256 subtasks on two cores, a fifth of the start-up time went to the
/// page faults of buffers that idle subtasks never filled).
template <class T>
class output final : public output_base {
public:
  output() = default;

  void add_target(operator_base& op) override {
    auto* sink = dynamic_cast<record_sink<T>*>(&op);
    if (sink == nullptr)
      throw std::logic_error("output type does not match the input type of "
                             "the downstream operator");
    targets_.push_back(&op);
    sinks_.push_back(sink);
  }

  /// Emits one record.
  LIBSTREAM_HOT_INLINE void collect(T&& value, timestamp ts) {
    if (!buffer_.started())
      start();
    if (buffer_.push(std::move(value), ts))
      flush();
  }

  LIBSTREAM_HOT_INLINE void collect(const T& value, timestamp ts) {
    if (!buffer_.started())
      start();
    if (buffer_.push(value, ts))
      flush();
  }

  /// The record the next commit() emits, to fill in place (decoders
  /// assign into it, reusing the capacity its strings kept).
  LIBSTREAM_HOT_INLINE T& next_slot() {
    if (!buffer_.started())
      start();
    return buffer_.next_slot().value;
  }

  /// Emits the record filled through next_slot().
  LIBSTREAM_HOT_INLINE void commit(timestamp ts) {
    buffer_.next_slot().ts = ts;
    if (buffer_.commit_slot())
      flush();
  }

  /// Emits a whole batch, after what is buffered. May move from `batch`.
  void collect_batch(record_batch<T>& batch) {
    flush();
    deliver(batch);
  }

  void flush() override {
    if (buffer_.empty())
      return;
    deliver(buffer_.filled());
    buffer_.reuse();
    detail::idle_chain_buffers<T>().give(buffer_.release_storage());
  }

private:
  __attribute__((noinline)) void start() {
    buffer_.start(chain_batch_records<T>(), &detail::idle_chain_buffers<T>());
  }

  void deliver(record_batch<T>& batch) {
    auto n = sinks_.size();
    for (size_t i = 0; i + 1 < n; ++i) {
      auto copy = batch;
      sinks_[i]->process_batch(copy);
    }
    if (n > 0)
      sinks_[n - 1]->process_batch(batch);
  }

  std::vector<record_sink<T>*> sinks_;
  record_buffer<T> buffer_;
};

/// Names a side output and its element type, as Flink's OutputTag.
template <class T>
struct output_tag {
  std::string id;
  explicit output_tag(std::string name) : id(std::move(name)) {
    if (id.empty())
      throw std::invalid_argument("an output tag needs a non-empty name");
  }
};

/// The side outputs of an operator, by tag name. A side output exists once
/// it is declared (when the job graph connects a consumer to it) or first
/// used; emitting to a side output without consumers drops the record, as in
/// Flink.
class side_outputs {
public:
  template <class T>
  output<T>& get(const output_tag<T>& tag) {
    auto i = outputs_.find(tag.id);
    if (i == outputs_.end())
      i = outputs_.emplace(tag.id, std::make_unique<output<T>>()).first;
    auto* ptr = dynamic_cast<output<T>*>(i->second.get());
    if (ptr == nullptr)
      throw std::logic_error("side output '" + tag.id
                             + "' is used with two different types");
    return *ptr;
  }

  /// Connects `op` to the side output `id`, which must be declared.
  void connect(const std::string& id, operator_base& op) {
    auto i = outputs_.find(id);
    if (i == outputs_.end())
      throw std::logic_error("no side output named '" + id
                             + "' was declared for this operator");
    i->second->add_target(op);
  }

  void flush() {
    for (auto& kvp : outputs_)
      kvp.second->flush();
  }

  template <class F>
  void for_each_target(F&& f) {
    for (auto& kvp : outputs_)
      for (auto* op : kvp.second->targets())
        f(*op);
  }

private:
  std::unordered_map<std::string, std::unique_ptr<output_base>> outputs_;
};

/// The outputs of an operator: the main output of type Out plus side
/// outputs. Every output is flushed before a control event is forwarded.
template <class Out>
class operator_outputs {
public:
  output<Out>& main() { return main_; }

  template <class T>
  output<T>& side(const output_tag<T>& tag) {
    return sides_.get(tag);
  }

  side_outputs& sides() { return sides_; }

  void connect(const std::string& tag, operator_base& op) {
    if (tag.empty())
      main_.add_target(op);
    else
      sides_.connect(tag, op);
  }

  void flush() {
    main_.flush();
    sides_.flush();
  }

  template <class F>
  void for_each_target(F&& f) {
    for (auto* op : main_.targets())
      f(*op);
    sides_.for_each_target(f);
  }

  void emit_watermark(timestamp wm) {
    flush();
    for_each_target([wm](operator_base& op) { op.process_watermark(wm); });
  }

  void emit_idleness(bool idle) {
    flush();
    for_each_target([idle](operator_base& op) { op.process_idleness(idle); });
  }

  void emit_end() {
    flush();
    for_each_target([](operator_base& op) { op.input_ended(); });
  }

private:
  output<Out> main_;
  side_outputs sides_;
};

// -- base classes for operators ----------------------------------------------

/// An operator with one output of type Out. Tracks the current watermark and
/// forwards control events; subclasses override what they need.
template <class Out>
class emitting_operator : public operator_base {
public:
  void process_watermark(timestamp wm) override {
    current_watermark_ = wm;
    on_watermark(wm);
    out_.emit_watermark(wm);
  }

  void process_idleness(bool idle) override { out_.emit_idleness(idle); }

  void end_input() override {
    on_end_input();
    out_.emit_end();
  }

  void forward_end() override { out_.emit_end(); }

  void connect(const std::string& tag, operator_base& downstream) override {
    out_.connect(tag, downstream);
  }

  void flush() override { out_.flush(); }

  side_outputs* sides() override { return &out_.sides(); }

  operator_outputs<Out>& outputs() { return out_; }

  timestamp current_watermark() const noexcept { return current_watermark_; }

protected:
  /// Hook: the watermark advanced; fire event-time timers here.
  virtual void on_watermark(timestamp wm) {}

  /// Hook: input ended; emit whatever is held.
  virtual void on_end_input() {}

  operator_outputs<Out> out_;
  timestamp current_watermark_ = min_watermark;
};

/// An operator with one input of type In and one output of type Out.
template <class In, class Out>
class one_input_operator : public emitting_operator<Out>,
                           public record_sink<In> {
public:
  void process_batch(record_batch<In>& batch) override {
    process(batch);
    this->out_.flush();
  }

protected:
  /// Processes the records of one batch (may move from them).
  virtual void process(record_batch<In>& batch) = 0;
};

/// An operator that produces records without input: the head of a source
/// chain. The subtask calls `poll` while downstream has credit.
class source_operator_base : public operator_base {
public:
  enum class poll_result {
    more,     // call again soon
    idle,     // nothing available now; poll again after a short pause
    finished, // the source is exhausted (bounded input)
  };

  /// Emits up to about one batch of records.
  virtual poll_result poll() = 0;

  /// Stops an unbounded source: the next poll returns finished.
  virtual void cancel() = 0;

  void process_watermark(timestamp) override {}
  void process_idleness(bool) override {}
};

/// A source emitting records of type T. At the end of its input it emits
/// the final watermark, so that every event-time timer downstream fires.
template <class T>
class source_operator : public source_operator_base {
public:
  void end_input() override {
    out_.emit_watermark(max_watermark);
    out_.emit_end();
  }

  void forward_end() override { end_input(); }

  void connect(const std::string& tag, operator_base& downstream) override {
    out_.connect(tag, downstream);
  }

  void flush() override { out_.flush(); }

  side_outputs* sides() override { return &out_.sides(); }

protected:
  operator_outputs<T> out_;
};

} // namespace libstream
