#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "caf/behavior.hpp"
#include "caf/stateful_actor.hpp"

#include "actors/messages.hpp"
#include "libstream/job_graph.hpp"
#include "libstream/network_output.hpp"
#include "libstream/operator.hpp"
#include "libstream/checkpoint/barrier_aligner.hpp"
#include "libstream/watermark_valve.hpp"

namespace libstream::runtime {

/// An input event waiting in a blocked subtask, in channel arrival order.
struct input_event {
  enum kind_t { batch, watermark, idleness, end, barrier } kind;
  uint32_t channel = 0;
  uint64_t seq = 0;
  erased_batch_ptr payload;
  int64_t value = 0; // watermark, idle (1) / active (0), or barrier id
  std::string dir;   // barrier: where its checkpoint is written
};

/// An output event waiting for credit on one channel.
struct pending_event {
  enum kind_t { batch, watermark, idleness, end, barrier } kind;
  erased_batch_ptr payload;
  int64_t value = 0;
  std::string dir; // barrier: where its checkpoint is written
};

/// A first-in first-out queue that allocates nothing until its first
/// element (std::deque allocates a block up front, and a subtask of a
/// parallelism-128 job has 128 output channels, each with a queue).
template <class T>
class fifo {
public:
  bool empty() const noexcept { return head_ == items_.size(); }
  size_t size() const noexcept { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  void push_back(T x) { items_.push_back(std::move(x)); }
  void pop_front() {
    items_[head_] = T{};
    if (++head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      items_.erase(items_.begin(),
                   items_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

private:
  std::vector<T> items_;
  size_t head_ = 0;
};

struct subtask_state;

/// The channels of one outgoing edge, as the chain's network output sees
/// them. Sends when the channel has credit, queues otherwise.
class output_gate final : public channel_writer {
public:
  output_gate(subtask_state* st, std::vector<uint32_t> channels)
      : st_(st), channels_(std::move(channels)) {}

  size_t channels() const override { return channels_.size(); }
  const std::vector<uint32_t>& channel_indices() const { return channels_; }
  void send_batch(size_t channel, erased_batch_ptr batch) override;
  void send_watermark(timestamp wm) override;
  void send_idleness(bool idle) override;
  void send_end_of_partition() override;
  void send_barrier(uint64_t id, const std::string& dir) override;

private:
  subtask_state* st_;
  std::vector<uint32_t> channels_; // indices into subtask_state::outputs
};

/// The state of one operator subtask: its chain of operators, its input
/// channels (with the watermark valve) and its output channels (with
/// credits). A subtask whose output channel has no credit is blocked: it
/// queues its input events (bounded by the credits it granted upstream) and
/// pauses its source until credit returns.
struct subtask_state : operator_context {
  static inline const char* name = "libstream.subtask";

  struct input_channel {
    caf::actor producer;
    uint32_t producer_channel = 0;
    uint64_t next_seq = 0;
    bool ended = false;
  };

  struct output_channel {
    caf::actor consumer;
    uint32_t consumer_channel = 0;
    /// The consumer runs on another node: batches go encoded.
    bool remote = false;
    const network_output_base* encoder = nullptr; // for remote channels
    int credits = 0;
    uint64_t next_seq = 0;
    fifo<pending_event> pending;
  };

  caf::event_based_actor* self = nullptr;
  deployment dep;
  std::string task;
  int parallelism_ = 1;
  int max_parallelism_ = default_max_parallelism;
  chain_instance chain;
  std::vector<input_channel> inputs;
  std::unique_ptr<watermark_valve> valve;
  std::unique_ptr<barrier_aligner> aligner; // with input channels
  std::deque<input_event> held;   // of channels held for alignment
  std::map<uint64_t, std::string> barrier_dirs; // checkpoint id -> dir
  std::deque<input_event> queued;
  size_t ended_inputs = 0;
  std::vector<output_channel> outputs;
  std::vector<std::unique_ptr<output_gate>> gates;
  size_t blocked_channels = 0; // output channels with pending events
  std::multimap<timestamp, operator_base*> time_requests;
  std::set<operator_base*> opened;  // close() only what open() succeeded on
  std::set<operator_base*> holders; // operators holding the input
  std::map<uint64_t, operator_base*> wakers;
  timestamp timer_armed_for = max_watermark;
  bool timers_deferred = false;       // due while blocked on credits
  std::set<uint64_t> deferred_wakeups; // called while blocked on credits
  bool started = false;
  bool source_waiting = false; // a poll was skipped while blocked
  bool input_ended = false;    // end_input ran through the chain
  bool done = false;            // no more input, time or source work
  bool awaiting_commit = false; // done, operators open until commit/cancel
  bool flush_armed = false; // a buffer timeout is pending
  uint32_t idle_polls = 0;  // source polls in a row that found nothing
  bool flush_each = false; // buffer timeout 0: flush after every batch
  int64_t clock_offset_ms = 0; // epoch ms minus actor clock ms at spawn

  // -- operator_context
  // ---------------------------------------------------------

  const std::string& task_name() const override { return task; }
  int subtask_index() const override { return dep.index; }
  int parallelism() const override { return parallelism_; }
  int max_parallelism() const override { return max_parallelism_; }
  /// Wall-clock milliseconds read from the actor system's clock (steady,
  /// offset to the epoch at spawn), so that the deterministic test
  /// coordinator drives processing time like it drives delayed messages.
  timestamp current_processing_time() override;
  void request_processing_time(operator_base* op, timestamp t) override;
  void hold_input(operator_base* op, bool hold) override;
  std::function<void()> make_waker(operator_base* op) override;
  state_backend_config state_backend() const override;
  uint32_t attempt() const override;
  std::string local_state_path(const operator_base& op) const override;

  // -- data plane
  // -----------------------------------------------------------------

  /// No input is processed and no source read while an output channel
  /// lacks credit or an operator holds the input.
  bool blocked() const noexcept {
    return blocked_channels > 0 || !holders.empty();
  }
  void send_event(uint32_t out, pending_event ev);
  void deliver(output_channel& ch, pending_event& ev);
  void on_input(input_event ev);
  void process_input(input_event& ev);
  void drain_queue();
  void resume();
  void arm_flush();
  void arm_timer();
  void fire_timers();
  void wake(uint64_t token);
  void flush_chain();
  void poll_source();
  void end_chain();
  void maybe_finish();
  std::string close_operators();
  /// Commits the transactional operators, closes all; returns the first
  /// error ("" when none).
  std::string commit_and_close();
  void fail(const std::string& what);

  // -- checkpoints ------------------------------------------------------------

  /// Acts on what the barrier aligner decided.
  void apply(const barrier_aligner::decision& d);
  /// Snapshots the chain's state at barrier `id`, forwards the barrier on
  /// every output channel, and has the state written off this thread.
  void take_checkpoint(uint64_t id, const std::string& dir);
  void decline_checkpoint(uint64_t id, const std::string& why);
  /// The non-keyed state of every operator of the chain at the end of its
  /// input, marked finished (vertex -1 when it cannot be taken or the job
  /// takes no checkpoints).
  subtask_checkpoint final_snapshot();
  /// The newest checkpoint this subtask snapshotted at its barrier (its
  /// acknowledgement comes from the writer, possibly after the finished
  /// message: the final state must not stand in for it).
  uint64_t last_checkpoint = 0;
};

/// Spawned by a node for one subtask of a deployed job.
caf::behavior subtask_actor(caf::stateful_actor<subtask_state>* self,
                            deployment dep);

} // namespace libstream::runtime
