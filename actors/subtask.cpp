#include "actors/subtask.hpp"

#include <algorithm>
#include <cstdio>
#include <cctype>
#include <chrono>
#include <exception>
#include <set>

#include "caf/actor_cast.hpp"
#include "caf/actor_clock.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/send.hpp"
#include "caf/weak_intrusive_ptr.hpp"

#include "actors/node.hpp"
#include "actors/spawn.hpp"
#include "libstream/key_hash.hpp"
#include "libstream/checkpoint/restore.hpp"
#include "libstream/checkpoint/storage.hpp"

namespace libstream::runtime {

namespace {

std::chrono::milliseconds ms(int64_t x) {
  return std::chrono::milliseconds{std::max<int64_t>(0, x)};
}

} // namespace

// -- output gate --------------------------------------------------------------

void output_gate::send_batch(size_t channel, erased_batch_ptr batch) {
  st_->send_event(channels_[channel],
                  pending_event{pending_event::batch, std::move(batch), 0, {}});
}

void output_gate::send_watermark(timestamp wm) {
  for (auto ch : channels_)
    st_->send_event(ch, pending_event{pending_event::watermark, nullptr, wm, {}});
}

void output_gate::send_idleness(bool idle) {
  for (auto ch : channels_)
    st_->send_event(
        ch, pending_event{pending_event::idleness, nullptr, idle ? 1 : 0, {}});
}

void output_gate::send_end_of_partition() {
  for (auto ch : channels_)
    st_->send_event(ch, pending_event{pending_event::end, nullptr, 0, {}});
}

void output_gate::send_barrier(uint64_t id, const std::string& dir) {
  for (auto ch : channels_)
    st_->send_event(ch, pending_event{pending_event::barrier, nullptr,
                                      static_cast<int64_t>(id), dir});
}

// -- sending
// ---------------------------------------------------------------------

void subtask_state::send_event(uint32_t out, pending_event ev) {
  auto& ch = outputs[out];
  if (ch.pending.empty()
      && (ev.kind != pending_event::batch || ch.credits > 0)) {
    deliver(ch, ev);
    return;
  }
  if (ch.pending.empty())
    ++blocked_channels;
  ch.pending.push_back(std::move(ev));
}

void subtask_state::deliver(output_channel& ch, pending_event& ev) {
  switch (ev.kind) {
    case pending_event::batch:
      --ch.credits;
      if (ch.remote) {
        // Another node: the batch goes encoded with its record type's
        // codec; in-process batches are moved, never copied.
        self->send(ch.consumer, remote_batch_atom_v, ch.consumer_channel,
                   ch.next_seq++, ch.encoder->encode(*ev.payload));
        ev.payload.reset();
        break;
      }
      self->send(ch.consumer, batch_msg{ch.consumer_channel, ch.next_seq++,
                                        std::move(ev.payload)});
      break;
    case pending_event::watermark:
      self->send(ch.consumer, watermark_atom_v, ch.consumer_channel,
                 static_cast<int64_t>(ev.value));
      break;
    case pending_event::idleness:
      self->send(ch.consumer, idle_atom_v, ch.consumer_channel, ev.value != 0);
      break;
    case pending_event::end:
      self->send(ch.consumer, end_atom_v, ch.consumer_channel);
      break;
    case pending_event::barrier:
      self->send(ch.consumer, barrier_atom_v, ch.consumer_channel,
                 static_cast<uint64_t>(ev.value), ev.dir);
      break;
  }
}

// -- receiving
// -------------------------------------------------------------------

void subtask_state::on_input(input_event ev) {
  if (done)
    return;
  if (blocked() || !queued.empty()) {
    queued.push_back(std::move(ev));
    return;
  }
  process_input(ev);
  drain_queue(); // events released by a completed alignment
}

void subtask_state::process_input(input_event& ev) {
  if (ev.channel >= inputs.size())
    throw std::runtime_error(
        "an event arrived on input channel " + std::to_string(ev.channel)
        + ", but the subtask has " + std::to_string(inputs.size())
        + " input channels");
  // Exactly-once alignment: a channel that delivered the pending barrier
  // waits, in order, until the checkpoint is taken.
  if (aligner && aligner->held(ev.channel)) {
    held.push_back(std::move(ev));
    return;
  }
  arm_flush(); // what this event makes the chain emit goes out in time
  auto& in = inputs[ev.channel];
  auto& head = *chain.operators.front();
  auto apply = [&](const watermark_valve::change& c) {
    if (c.idle && !*c.idle)
      head.process_idleness(false);
    if (c.watermark)
      head.process_watermark(*c.watermark);
    if (c.idle && *c.idle)
      head.process_idleness(true);
  };
  switch (ev.kind) {
    case input_event::batch: {
      if (ev.seq != in.next_seq)
        throw std::runtime_error("batch sequence gap on input channel "
                                 + std::to_string(ev.channel) + ": expected "
                                 + std::to_string(in.next_seq) + ", got "
                                 + std::to_string(ev.seq));
      ++in.next_seq;
      apply(valve->on_record(ev.channel));
      chain.input->process(*ev.payload);
      ev.payload.reset();
      if (flush_each)
        flush_chain();
      self->send(in.producer, credit_atom_v, in.producer_channel, int32_t{1});
      break;
    }
    case input_event::watermark:
      apply(valve->on_watermark(ev.channel, ev.value));
      break;
    case input_event::idleness:
      apply(valve->on_idleness(ev.channel, ev.value != 0));
      break;
    case input_event::end:
      if (in.ended)
        throw std::runtime_error("input channel " + std::to_string(ev.channel)
                                 + " ended twice");
      in.ended = true;
      ++ended_inputs;
      apply(valve->on_end(ev.channel));
      if (aligner)
        this->apply(aligner->on_end(ev.channel));
      if (ended_inputs == inputs.size())
        end_chain();
      break;
    case input_event::barrier: {
      if (!aligner)
        throw std::logic_error("a barrier arrived at a subtask without "
                               "input channels");
      auto id = static_cast<uint64_t>(ev.value);
      if (!aligner->pending() || *aligner->pending() != id)
        barrier_dirs[id] = ev.dir;
      this->apply(aligner->on_barrier(ev.channel, id));
      break;
    }
  }
}

void subtask_state::drain_queue() {
  while (!done && !blocked() && !queued.empty()) {
    auto ev = std::move(queued.front());
    queued.pop_front();
    process_input(ev);
  }
}

void subtask_state::resume() {
  // Timers and wake-ups that came due while an output channel lacked
  // credit run as soon as every channel has credit again, also while an
  // operator holds the input: a wake-up may be what releases the hold.
  if (!done && blocked_channels == 0 && timers_deferred)
    fire_timers();
  while (!done && blocked_channels == 0 && !deferred_wakeups.empty()) {
    auto token = *deferred_wakeups.begin();
    deferred_wakeups.erase(deferred_wakeups.begin());
    wake(token);
  }
  drain_queue();
  if (!done && !blocked() && source_waiting) {
    source_waiting = false;
    self->send(self, poll_atom_v);
  }
  maybe_finish();
}

// -- checkpoints
// --------------------------------------------------------------------

void subtask_state::apply(const barrier_aligner::decision& d) {
  if (d.abandoned)
    barrier_dirs.erase(*d.abandoned);
  if (d.snapshot) {
    std::string dir;
    auto i = barrier_dirs.find(*d.snapshot);
    if (i != barrier_dirs.end()) {
      dir = i->second;
      barrier_dirs.erase(barrier_dirs.begin(), std::next(i));
    }
    take_checkpoint(*d.snapshot, dir);
  }
  if (d.release && !held.empty()) {
    // Held events are older than anything queued: they go first, in order.
    queued.insert(queued.begin(), std::make_move_iterator(held.begin()),
                  std::make_move_iterator(held.end()));
    held.clear();
  }
}

namespace {

/// A file name for an operator's data file: the uid with anything but
/// letters, digits, '-' and '_' replaced.
std::string file_name_of(const std::string& uid, int32_t index,
                         const std::string& suffix = ".keyed") {
  std::string out;
  for (char c : uid)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-'
            || c == '_')
               ? c
               : '_';
  // Uids that differ only in replaced characters must not share a file.
  if (out != uid) {
    char h[20];
    std::snprintf(h, sizeof(h), "-%08x",
                  static_cast<unsigned>(hash_bytes(uid.data(), uid.size())));
    out += h;
  }
  return out + "-" + std::to_string(index) + suffix;
}

} // namespace

void subtask_state::take_checkpoint(uint64_t id, const std::string& dir) {
  if (dir.empty()) {
    decline_checkpoint(id, "task " + task + " got barrier "
                               + std::to_string(id)
                               + " without a checkpoint directory");
    return;
  }
  auto& vx = dep.graph->vertices().at(static_cast<size_t>(dep.vertex));
  last_checkpoint = std::max(last_checkpoint, id);
  // The synchronous part: every operator's state as bytes, at the barrier.
  struct part {
    std::string uid;
    std::string name;
    operator_state_snapshot snap;
  };
  std::vector<part> parts;
  try {
    for (size_t i = 0; i < vx.operators.size(); ++i) {
      auto& t = dep.graph->node(vx.operators[i]);
      part p{t.uid, t.name, {}};
      chain.operators[i]->snapshot_state(id, p.snap);
      if (!p.snap.empty())
        parts.push_back(std::move(p));
    }
  } catch (const std::exception& e) {
    decline_checkpoint(id, "task " + task + " cannot snapshot its state: "
                               + e.what());
    return;
  }
  // Records emitted before the barrier go before it, on every channel.
  for (auto& op : chain.operators)
    op->flush();
  for (auto& out : chain.outputs)
    out.op->emit_barrier(id, dir);
  // The asynchronous part: data files are written by a detached actor, which
  // acknowledges to the coordinator.
  auto coordinator = dep.coordinator;
  auto job = dep.job;
  auto vertex = dep.vertex;
  auto index = dep.index;
  auto my_task = task;
  auto range = key_groups();
  // Deferred snapshots run the app module's code: the module stays loaded
  // until they are gone (a pair destroys its second member first).
  auto work = std::make_shared<
      std::pair<std::shared_ptr<const void>, decltype(parts)>>(dep.code,
                                                               std::move(parts));
  spawn_fn<caf::event_based_actor, caf::detached>(
      self->home_system(),
      [=](caf::event_based_actor* writer) mutable -> caf::behavior {
        auto& parts = work->second;
        subtask_checkpoint ack;
        ack.vertex = vertex;
        ack.index = index;
        try {
          for (auto& p : parts) {
            if (p.snap.keyed_deferred)
              p.snap.keyed = p.snap.keyed_deferred(p.snap.key_group_offsets);
            subtask_snapshot s;
            s.index = index;
            s.key_groups = range;
            if (!p.snap.key_group_offsets.empty()) {
              s.keyed_file = write_data_file(dir, file_name_of(p.uid, index),
                                             p.snap.keyed);
              s.key_group_offsets = std::move(p.snap.key_group_offsets);
            }
            s.operator_state = std::move(p.snap.operator_state);
            s.source_position = std::move(p.snap.source_position);
            ack.uids.push_back(p.uid);
            ack.names.push_back(p.name);
            ack.states.push_back(std::move(s));
          }
          writer->send(coordinator, ack_checkpoint_atom_v, job, id,
                       std::move(ack));
        } catch (const std::exception& e) {
          writer->send(coordinator, decline_checkpoint_atom_v, job, id,
                       "task " + my_task + " could not write its state: "
                           + e.what());
        }
        writer->quit();
        return {};
      });
}

subtask_checkpoint subtask_state::final_snapshot() {
  subtask_checkpoint out;
  out.vertex = -1; // none, unless every operator snapshots
  if (dep.checkpoint_dir.empty())
    return out;
  auto& vx = dep.graph->vertices().at(static_cast<size_t>(dep.vertex));
  std::vector<std::string> uids, names;
  std::vector<subtask_snapshot> states;
  try {
    for (size_t i = 0; i < vx.operators.size(); ++i) {
      auto& t = dep.graph->node(vx.operators[i]);
      operator_state_snapshot snap;
      snap.at_finish = true;
      chain.operators[i]->snapshot_state(0, snap);
      subtask_snapshot s;
      s.index = dep.index;
      s.key_groups = key_groups();
      s.operator_state = std::move(snap.operator_state);
      s.source_position = std::move(snap.source_position);
      s.finished = true;
      uids.push_back(t.uid);
      names.push_back(t.name);
      states.push_back(std::move(s));
    }
  } catch (const std::exception&) {
    return out; // later checkpoints cannot include this subtask
  }
  out.vertex = dep.vertex;
  out.index = dep.index;
  out.uids = std::move(uids);
  out.names = std::move(names);
  out.states = std::move(states);
  return out;
}

void subtask_state::decline_checkpoint(uint64_t id, const std::string& why) {
  self->send(dep.coordinator, decline_checkpoint_atom_v, dep.job, id, why);
  // Downstream subtasks learn of it from the next barrier (or the abort).
}

// -- time
// ---------------------------------------------------------------------------

void subtask_state::request_processing_time(operator_base* op, timestamp t) {
  time_requests.emplace(t, op);
  arm_timer();
}

namespace {

int64_t clock_ms(caf::event_based_actor* self) {
  using namespace std::chrono;
  return duration_cast<milliseconds>(self->clock().now().time_since_epoch())
      .count();
}

} // namespace

timestamp subtask_state::current_processing_time() {
  return clock_offset_ms + clock_ms(self);
}

void subtask_state::hold_input(operator_base* op, bool hold) {
  // Releasing only records the fact: the handler that ran the operator
  // resumes the subtask afterwards (never from inside processing).
  if (hold)
    holders.insert(op);
  else
    holders.erase(op);
}

std::function<void()> subtask_state::make_waker(operator_base* op) {
  auto token = static_cast<uint64_t>(wakers.size()) + 1;
  wakers.emplace(token, op);
  caf::weak_actor_ptr weak = self->ctrl();
  return [weak, token] {
    if (auto hdl = caf::actor_cast<caf::actor>(weak))
      caf::anon_send(hdl, wakeup_atom_v, token);
  };
}

uint32_t subtask_state::attempt() const {
  return dep.attempt;
}

state_backend_config subtask_state::state_backend() const {
  return dep.graph->config().state_backend;
}

std::string subtask_state::local_state_path(const operator_base& op) const {
  auto& vx = dep.graph->vertices().at(static_cast<size_t>(dep.vertex));
  std::string uid = "operator";
  for (size_t i = 0; i < chain.operators.size() && i < vx.operators.size(); ++i)
    if (chain.operators[i].get() == &op)
      uid = dep.graph->node(vx.operators[i]).uid;
  auto base = local_state_root(dep.graph->config().state_backend);
  return base + "/libstream-" + dep.job_key + "/"
         + file_name_of(uid, dep.index, "-a" + std::to_string(dep.attempt));
}

void subtask_state::arm_timer() {
  // Timers start with the job: before start_atom the consumers of this
  // subtask may not be wired yet.
  if (done || !started || time_requests.empty() || timers_deferred)
    return;
  auto t = time_requests.begin()->first;
  if (t >= timer_armed_for)
    return;
  timer_armed_for = t;
  // At most a day ahead (a far timestamp would overflow the clock); firing
  // early finds nothing due and arms again. A timer for t fires once the
  // clock reads t + 1 (see fire_timers).
  constexpr int64_t max_delay = 24 * 3600 * 1000;
  auto delay = std::min(t + 1 - current_processing_time(), max_delay);
  self->delayed_send(self, ms(delay), timer_atom_v);
}

void subtask_state::fire_timers() {
  timer_armed_for = max_watermark;
  // After the end of the input only an operator that holds the input
  // (waiting for an external system: async I/O) still needs its timers.
  auto live = [this] { return !done && (!input_ended || !holders.empty()); };
  if (!live())
    return;
  if (blocked_channels > 0) {
    // No firing while output waits for credit: what a timer emits would
    // queue beyond the memory bound. resume() fires them.
    timers_deferred = true;
    return;
  }
  timers_deferred = false;
  // A timer for t fires once the clock has passed t, as in Flink: while
  // the clock still reads t, records stamped t may arrive, and a window
  // ending at t would open again after firing.
  auto now = current_processing_time() - 1;
  std::vector<operator_base*> due;
  while (!time_requests.empty() && time_requests.begin()->first <= now) {
    auto* op = time_requests.begin()->second;
    time_requests.erase(time_requests.begin());
    if (std::find(due.begin(), due.end(), op) == due.end())
      due.push_back(op);
  }
  for (auto* op : due)
    if (live())
      op->on_processing_time(now);
  // What timers emitted must not wait for the next input batch.
  if (!due.empty() && live())
    for (auto& op : chain.operators)
      op->flush();
  arm_timer();
}

void subtask_state::flush_chain() {
  for (auto& op : chain.operators)
    op->flush();
}

void subtask_state::wake(uint64_t token) {
  auto i = wakers.find(token);
  if (done || i == wakers.end())
    return;
  i->second->on_wakeup();
  for (auto& op : chain.operators)
    op->flush();
}

void subtask_state::arm_flush() {
  auto timeout = dep.graph->config().buffer_timeout;
  if (timeout <= 0 || flush_armed || done)
    return;
  flush_armed = true;
  if (dep.flush_request)
    dep.flush_request->store(true, std::memory_order_release);
  else
    self->delayed_send(self, ms(timeout), flush_atom_v);
}

// -- lifecycle
// ---------------------------------------------------------------------

void subtask_state::poll_source() {
  if (done || input_ended)
    return;
  if (blocked()) {
    source_waiting = true;
    return;
  }
  auto polled = chain.source->poll();
  if (flush_each && polled != source_operator_base::poll_result::finished)
    flush_chain();
  switch (polled) {
    case source_operator_base::poll_result::more:
      idle_polls = 0;
      arm_flush();
      self->send(self, poll_atom_v);
      break;
    case source_operator_base::poll_result::idle:
      // Polled every millisecond, and every 10 ms after a second without
      // input: idle sources of many subtasks must not keep the pool busy.
      ++idle_polls;
      for (auto& op : chain.operators)
        if (op->holds_output()) {
          arm_flush(); // it emitted before it ran dry
          break;
        }
      self->delayed_send(self, ms(idle_polls > 1000 ? 10 : 1), poll_atom_v);
      break;
    case source_operator_base::poll_result::finished:
      end_chain();
      break;
  }
}

void subtask_state::end_chain() {
  if (input_ended)
    return;
  input_ended = true;
  chain.operators.front()->input_ended();
  maybe_finish();
}

void subtask_state::maybe_finish() {
  if (done || !input_ended || blocked())
    return;
  done = true;
  // Two-phase operators (file sinks) staged their output at end_input; it
  // is published only when the whole job has finished, so the subtask
  // waits for the coordinator's commit (or cancel) with its operators open.
  for (auto& op : chain.operators)
    if (op->transactional())
      awaiting_commit = true;
  if (awaiting_commit) {
    self->send(dep.coordinator, finished_atom_v, dep.job, dep.vertex,
               dep.index, true, final_snapshot(), last_checkpoint);
    return;
  }
  auto final_state = final_snapshot();
  // A close() that throws (a sink failing to write out) fails the job: the
  // subtask is not finished until its operators are.
  auto error = close_operators();
  if (error.empty())
    self->send(dep.coordinator, finished_atom_v, dep.job, dep.vertex,
               dep.index, false, std::move(final_state), last_checkpoint);
  else
    self->send(dep.coordinator, failed_atom_v, dep.job,
               "task " + task + " failed: " + error);
  self->quit();
}

std::string subtask_state::commit_and_close() {
  std::string error;
  for (auto& op : chain.operators) {
    if (!op->transactional() || !opened.count(op.get()))
      continue;
    try {
      op->commit();
    } catch (const std::exception& e) {
      error = e.what();
      break;
    } catch (...) {
      error = "unknown exception in commit()";
      break;
    }
  }
  auto close_error = close_operators();
  if (error.empty())
    error = close_error;
  awaiting_commit = false;
  return error.empty() ? error : "task " + task + " failed: " + error;
}

std::string subtask_state::close_operators() {
  std::string first_error;
  for (auto& op : chain.operators) {
    if (opened.erase(op.get()) == 0)
      continue;
    try {
      op->close();
    } catch (const std::exception& e) {
      if (first_error.empty())
        first_error = e.what();
    } catch (...) {
      if (first_error.empty())
        first_error = "unknown exception in close()";
    }
  }
  return first_error;
}

void subtask_state::fail(const std::string& what) {
  // A finished subtask awaiting its commit can still fail (a commit at a
  // checkpoint that throws): that is reported, not swallowed.
  if (done && !awaiting_commit)
    return;
  done = true;
  awaiting_commit = false;
  auto msg = "task " + task + " failed: " + what;
  if (chain.source != nullptr)
    chain.source->cancel();
  close_operators(); // the first error is the one reported
  self->send(dep.coordinator, failed_atom_v, dep.job, msg);
  self->quit();
}

// -- behavior
// ------------------------------------------------------------------------

namespace {

/// Runs `f`; an exception fails the subtask with its message.
template <class F>
void guarded(subtask_state& st, F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    st.fail(e.what());
  } catch (...) {
    st.fail("unknown exception");
  }
}

} // namespace

caf::behavior subtask_actor(caf::stateful_actor<subtask_state>* self,
                            deployment dep) {
  auto& st = self->state;
  st.self = self;
  st.clock_offset_ms = system_now_ms() - clock_ms(self);
  st.dep = std::move(dep);
  auto& vx = st.dep.graph->vertices().at(static_cast<size_t>(st.dep.vertex));
  st.task = "'" + vx.name + "' (" + std::to_string(st.dep.index + 1) + "/"
            + std::to_string(vx.parallelism) + ")";
  st.parallelism_ = vx.parallelism;
  st.max_parallelism_ = vx.max_parallelism;
  guarded(st, [&] { st.chain = st.dep.graph->instantiate(st.dep.vertex); });
  return {
      // -- control plane
      // --------------------------------------------------------
      [self](wire_atom, subtask_wiring& w) -> bool {
        auto& st = self->state;
        if (st.done)
          return false;
        guarded(st, [&] {
          auto& cfg = st.dep.graph->config();
          // Buffer timeout 0: every record goes on at once, also out of
          // operators that buffer for an external system (print, actors).
          st.flush_each = cfg.buffer_timeout == 0;
          for (auto& in : w.inputs)
            st.inputs.push_back(
                subtask_state::input_channel{in.actor, in.channel, 0, false});
          st.valve = std::make_unique<watermark_valve>(st.inputs.size());
          if (!st.inputs.empty())
            st.aligner = std::make_unique<barrier_aligner>(
                st.inputs.size(), cfg.checkpointing.mode);
          for (auto& g : w.outputs) {
            std::vector<uint32_t> idx;
            auto credits = channel_credits(cfg.credits_per_channel,
                                           g.channels.size());
            for (auto& peer : g.channels) {
              idx.push_back(static_cast<uint32_t>(st.outputs.size()));
              subtask_state::output_channel ch;
              if (!peer.actor)
                throw std::runtime_error("an output channel's consumer is "
                                         "gone before the job started");
              ch.consumer = peer.actor;
              ch.consumer_channel = peer.channel;
              ch.remote = peer.actor.node() != self->node();
              ch.credits = credits;
              st.outputs.push_back(std::move(ch));
            }
            st.gates.push_back(
                std::make_unique<output_gate>(&st, std::move(idx)));
          }
          // Open from the end of the chain to its head, so that every
          // operator's downstream is ready before it can emit.
          for (auto i = st.chain.operators.rbegin();
               i != st.chain.operators.rend(); ++i) {
            (*i)->open(st);
            st.opened.insert(i->get());
          }
          // Starting from a checkpoint: each operator takes its state (by
          // uid) before any input.
          if (st.dep.restore) {
            auto& vx
                = st.dep.graph->vertices().at(static_cast<size_t>(st.dep.vertex));
            for (size_t k = 0; k < vx.operators.size(); ++k) {
              auto& uid = st.dep.graph->node(vx.operators[k]).uid;
              if (auto* op = st.dep.restore->meta.find(uid)) {
                checkpoint_restore from{st.dep.restore->dir, *op};
                st.chain.operators[k]->restore_state(from);
                // It emitted what it emits at the end of its input
                // already: every subtask of it had finished, or, at the
                // same parallelism, the subtask it takes over had.
                bool all_finished
                    = !op->subtasks.empty()
                      && op->subtasks.size()
                             == static_cast<size_t>(op->parallelism);
                bool mine_finished = false;
                for (auto& sub : op->subtasks) {
                  all_finished = all_finished && sub.finished;
                  if (sub.index == st.dep.index && sub.finished)
                    mine_finished = true;
                }
                if (all_finished
                    || (mine_finished && op->parallelism == st.parallelism()))
                  st.chain.operators[k]->set_finished_on_restore();
              }
            }
          }
          for (auto& out : st.chain.outputs) {
            output_gate* gate = nullptr;
            for (size_t k = 0; k < w.outputs.size(); ++k)
              if (w.outputs[k].edge == out.edge)
                gate = st.gates[k].get();
            if (gate == nullptr)
              throw std::logic_error("no output channels wired for edge "
                                     + std::to_string(out.edge));
            auto size = out.op->record_size();
            out.op->bind(*gate, cfg.batch_records(size),
                         cfg.batch_records(size, st.dep.batch_budget));
            for (auto idx : gate->channel_indices()) {
              st.outputs[idx].encoder = out.op;
              if (st.outputs[idx].remote && !out.op->encodable())
                throw std::runtime_error(
                    "records of type " + out.op->record_type()
                    + " cannot be sent to another node: the type has no "
                      "codec (define libstream::codec<T>, e.g. with "
                      "member_codec, see libstream/codec.hpp)");
            }
          }
        });
        return !st.done;
      },
      [self](start_atom) {
        auto& st = self->state;
        if (st.done || st.started)
          return;
        st.started = true;
        st.arm_timer();
        if (!st.deferred_wakeups.empty())
          guarded(st, [&] { st.resume(); });
        if (st.chain.source != nullptr)
          self->send(self, poll_atom_v);
        else if (st.inputs.empty())
          guarded(st, [&] { st.end_chain(); });
      },
      [self](commit_atom) -> std::string {
        auto& st = self->state;
        if (!st.awaiting_commit)
          return "task " + st.task + " has nothing to commit";
        auto error = st.commit_and_close();
        self->quit();
        return error;
      },
      [self](stop_atom) {
        // Flink's stop: the source ends its input as if it were exhausted,
        // and the job finishes (committing its sinks) from there.
        auto& st = self->state;
        if (st.done || st.chain.source == nullptr)
          return;
        st.chain.source->cancel();
        if (st.started)
          self->send(self, poll_atom_v);
      },
      [self](cancel_atom) {
        auto& st = self->state;
        if (st.done && !st.awaiting_commit)
          return;
        st.done = true;
        st.awaiting_commit = false;
        if (st.chain.source != nullptr)
          st.chain.source->cancel();
        st.close_operators(); // cancellation does not report close errors
        self->quit();
      },
      // -- data plane
      // -------------------------------------------------------------
      [self](batch_msg& m) {
        auto& st = self->state;
        guarded(st, [&] {
          st.on_input(input_event{input_event::batch, m.channel, m.seq,
                                  std::move(m.payload), 0, {}});
        });
      },
      [self](remote_batch_atom, uint32_t ch, uint64_t seq, std::string& bytes) {
        auto& st = self->state;
        guarded(st, [&] {
          if (st.chain.input == nullptr)
            throw std::runtime_error("a batch arrived at a source subtask");
          erased_batch_ptr batch;
          try {
            batch = st.chain.input->decode(bytes);
          } catch (const std::exception& e) {
            throw std::runtime_error("a batch from another node on input "
                                     "channel "
                                     + std::to_string(ch)
                                     + " cannot be decoded: " + e.what());
          }
          st.on_input(input_event{input_event::batch, ch, seq,
                                  std::move(batch), 0, {}});
        });
      },
      [self](watermark_atom, uint32_t ch, int64_t wm) {
        auto& st = self->state;
        guarded(st, [&] {
          st.on_input(
              input_event{input_event::watermark, ch, 0, nullptr, wm, {}});
        });
      },
      [self](idle_atom, uint32_t ch, bool idle) {
        auto& st = self->state;
        guarded(st, [&] {
          st.on_input(input_event{input_event::idleness, ch, 0, nullptr,
                                  idle ? 1 : 0, {}});
        });
      },
      [self](end_atom, uint32_t ch) {
        auto& st = self->state;
        guarded(st, [&] {
          st.on_input(input_event{input_event::end, ch, 0, nullptr, 0, {}});
        });
      },
      [self](barrier_atom, uint32_t ch, uint64_t id, std::string& dir) {
        auto& st = self->state;
        guarded(st, [&] {
          st.on_input(input_event{input_event::barrier, ch, 0, nullptr,
                                  static_cast<int64_t>(id), std::move(dir)});
        });
      },
      // -- checkpoints
      // ------------------------------------------------------------
      [self](checkpoint_atom, uint64_t id, std::string& dir) {
        // The coordinator triggers a source subtask: snapshot between two
        // polls, then the barrier goes out after what was read.
        auto& st = self->state;
        if (st.done || st.input_ended || st.chain.source == nullptr) {
          st.decline_checkpoint(id, "task " + st.task
                                        + " has finished its input");
          return;
        }
        guarded(st, [&] { st.take_checkpoint(id, dir); });
      },
      [self](checkpoint_done_atom, uint64_t id) {
        auto& st = self->state;
        if (st.done && !st.awaiting_commit)
          return;
        guarded(st, [&] {
          for (auto& op : st.chain.operators)
            op->notify_checkpoint_complete(id);
        });
      },
      [self](abort_checkpoint_atom, uint64_t id) {
        auto& st = self->state;
        if (st.done || !st.aligner)
          return;
        guarded(st, [&] {
          st.apply(st.aligner->abandon(id));
          st.drain_queue();
        });
      },
      [self](credit_atom, uint32_t out, int32_t n) {
        auto& st = self->state;
        if (st.done || out >= st.outputs.size())
          return;
        guarded(st, [&] {
          auto& ch = st.outputs[out];
          ch.credits += n;
          auto had_pending = !ch.pending.empty();
          while (!ch.pending.empty()
                 && (ch.pending.front().kind != pending_event::batch
                     || ch.credits > 0)) {
            auto ev = std::move(ch.pending.front());
            ch.pending.pop_front();
            st.deliver(ch, ev);
          }
          if (had_pending && ch.pending.empty()) {
            --st.blocked_channels;
            if (st.blocked_channels == 0)
              st.resume(); // also when held: deferred wake-ups may release
          }
        });
      },
      // -- self messages
      // -------------------------------------------------------------
      [self](poll_atom) {
        auto& st = self->state;
        guarded(st, [&] { st.poll_source(); });
      },
      [self](flush_atom) {
        auto& st = self->state;
        st.flush_armed = false;
        if (st.done)
          return;
        if (!st.started) {
          st.arm_flush(); // input came before the start: keep the timeout
          return;
        }
        // Network outputs send partly filled batches; operators that buffer
        // for an external system (the actor sink) hand theirs over too.
        // Armed again only by the next input, poll or wake-up: an idle
        // subtask has no timer running.
        guarded(st, [&] { st.flush_chain(); });
      },
      [self](timer_atom) {
        auto& st = self->state;
        guarded(st, [&] {
          st.fire_timers();
          st.resume(); // a timer may have released a hold on the input
        });
      },
      [self](wakeup_atom, uint64_t token) {
        auto& st = self->state;
        if (st.done)
          return;
        guarded(st, [&] {
          // Deferred while output waits for credit (not while an operator
          // holds the input: its wake-up may be what releases the hold),
          // and until the job starts (consumers may not be wired yet).
          if (st.blocked_channels > 0 || !st.started) {
            st.deferred_wakeups.insert(token);
            return;
          }
          st.wake(token);
          st.resume();
        });
      },
  };
}

} // namespace libstream::runtime
