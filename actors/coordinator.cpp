#include "actors/coordinator.hpp"

#include "actors/cluster.hpp"

#include <algorithm>
#include <ctime>
#include <cstdio>
#include <random>

#include "caf/atom.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/duration.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/message_priority.hpp"
#include "caf/send.hpp"
#include "caf/system_messages.hpp"

#include "libstream/app.hpp"
#include "libstream/checkpoint/restore.hpp"
#include "libstream/checkpoint/storage.hpp"
#include "libstream/plan_codec.hpp"
#include "libstream/codec.hpp"
#include "libstream/key_hash.hpp"

namespace libstream::runtime {

namespace {

using job_info = coordinator_state::job_info;
using self_ptr = caf::stateful_actor<coordinator_state>*;

int parallelism_of(const job_graph& g, int v) {
  return g.vertices()[static_cast<size_t>(v)].parallelism;
}

// Wiring asks for the index of every channel of a job: on all-to-all edges
// it is the peer's index (at parallelism 128, building the target or source
// lists to search them made wiring cubic).

/// The index of channel (producer p -> consumer c) among the output channels
/// of producer subtask p of vertex v.
uint32_t output_index(const job_graph& g, int v, int p, int edge, int c) {
  uint32_t base = 0;
  for (auto e : g.vertices()[static_cast<size_t>(v)].outputs) {
    if (g.all_to_all(e)) {
      if (e == edge)
        return base + static_cast<uint32_t>(c);
      base += static_cast<uint32_t>(parallelism_of(g, g.consumer_vertex(e)));
      continue;
    }
    auto targets = g.channel_targets(e, p);
    if (e == edge) {
      auto i = std::find(targets.begin(), targets.end(), c);
      return base + static_cast<uint32_t>(i - targets.begin());
    }
    base += static_cast<uint32_t>(targets.size());
  }
  throw std::logic_error("edge is not an output of the vertex");
}

/// The index of channel (producer p -> consumer c) among the input channels
/// of consumer subtask c of vertex v.
uint32_t input_index(const job_graph& g, int v, int c, int edge, int p) {
  uint32_t base = 0;
  for (auto e : g.vertices()[static_cast<size_t>(v)].inputs) {
    if (g.all_to_all(e)) {
      if (e == edge)
        return base + static_cast<uint32_t>(p);
      base += static_cast<uint32_t>(parallelism_of(g, g.producer_vertex(e)));
      continue;
    }
    auto sources = g.channel_sources(e, c);
    if (e == edge) {
      auto i = std::find(sources.begin(), sources.end(), p);
      return base + static_cast<uint32_t>(i - sources.begin());
    }
    base += static_cast<uint32_t>(sources.size());
  }
  throw std::logic_error("edge is not an input of the vertex");
}

subtask_wiring wiring_of(const job_info& job, int v, int i) {
  auto& g = *job.graph;
  auto& vx = g.vertices()[static_cast<size_t>(v)];
  subtask_wiring w;
  for (auto e : vx.inputs) {
    auto pv = g.producer_vertex(e);
    for (auto p : g.channel_sources(e, i))
      w.inputs.push_back(channel_peer{
          job.subtasks[static_cast<size_t>(pv)][static_cast<size_t>(p)],
          output_index(g, pv, p, e, i)});
  }
  for (auto e : vx.outputs) {
    subtask_wiring::gate gate;
    gate.edge = e;
    auto cv = g.consumer_vertex(e);
    for (auto c : g.channel_targets(e, i))
      gate.channels.push_back(channel_peer{
          job.subtasks[static_cast<size_t>(cv)][static_cast<size_t>(c)],
          input_index(g, cv, c, e, i)});
    w.outputs.push_back(std::move(gate));
  }
  return w;
}

void release_slots(self_ptr self, job_info& job) {
  for (auto& [node, n] : job.slots)
    if (self->state.nodes[node].alive)
      self->state.nodes[node].free += n;
  job.slots.clear();
}

/// Slot sharing: subtask i of every vertex goes to the i-th slot. Takes the
/// slots the job needs from live nodes, first fit. Returns why it cannot
/// ("" when placed).
std::string place_job(self_ptr self, job_info& job) {
  auto& st = self->state;
  auto needed = job.graph->max_vertex_parallelism();
  int32_t free = 0;
  for (auto& n : st.nodes)
    if (n.alive)
      free += n.free;
  if (free < needed)
    return "not enough task slots: the job needs " + std::to_string(needed)
           + " (its highest parallelism), the cluster has "
           + std::to_string(free)
           + " free; add nodes or slots, or lower the parallelism";
  std::vector<size_t> slot_node; // slot -> node index
  for (size_t n = 0;
       n < st.nodes.size() && static_cast<int32_t>(slot_node.size()) < needed;
       ++n) {
    if (!st.nodes[n].alive)
      continue;
    auto take = std::min(st.nodes[n].free,
                         needed - static_cast<int32_t>(slot_node.size()));
    if (take <= 0)
      continue;
    st.nodes[n].free -= take;
    job.slots.emplace_back(n, take);
    for (int32_t k = 0; k < take; ++k)
      slot_node.push_back(n);
  }
  job.slot_node = std::move(slot_node);
  return "";
}

/// Tells the listener, frees the slots and forgets the job. `note` is
/// appended to the error (subtasks that did not stop).
void complete_job(self_ptr self, uint64_t id, const std::string& note = "") {
  auto i = self->state.jobs.find(id);
  if (i == self->state.jobs.end())
    return;
  auto& job = i->second;
  release_slots(self, job);
  if (job.spec)
    for (auto& node : self->state.nodes)
      if (node.prepared.erase(id) > 0 && node.alive)
        self->send(node.actor, release_atom_v, id);
  job_result r;
  r.job_name = job.name;
  r.status = job.status;
  r.error = job.error;
  if (!note.empty())
    r.error += (r.error.empty() ? "" : "; ") + note;
  r.duration_ms = (monotonic_now_ns() - job.start_ns) / 1000000;
  r.restarts = job.restart_count;
  r.restarts_from_checkpoint = job.restarts_from_checkpoint;
  auto& hist = self->state.history;
  hist[id] = coordinator_state::ended_job{r.job_name, r.status, r.error,
                                          job.start_ms, system_now_ms()};
  while (hist.size() > 100)
    hist.erase(hist.begin());
  if (job.listener)
    self->send(job.listener, job_done_atom_v, std::move(r));
  for (auto k = self->state.subtasks.begin(); k != self->state.subtasks.end();)
    k = k->second.job == id ? self->state.subtasks.erase(k) : std::next(k);
  self->state.jobs.erase(i);
}

/// Completes the job once its outcome is decided and no subtask of it runs
/// or is being deployed any more.
void maybe_complete(self_ptr self, uint64_t id) {
  auto i = self->state.jobs.find(id);
  if (i == self->state.jobs.end())
    return;
  auto& job = i->second;
  if (job.ended && job.alive == 0 && job.outstanding == 0)
    complete_job(self, id);
}

/// Decides the outcome of a job (the first decision wins) and cancels its
/// subtasks unless it finished. Completion follows when they are gone.
void end_job(self_ptr self, job_info& job, job_status status,
             std::string error) {
  if (job.ended)
    return;
  job.ended = true;
  job.status = status;
  job.error = std::move(error);
  // Checkpoints still pending will not complete.
  for (auto& kvp : job.pending) {
    if (kvp.second.promise.pending())
      kvp.second.promise.deliver(caf::make_error(
          caf::sec::runtime_error, "savepoint failed: the job ended"));
    try {
      remove_tree(kvp.second.dir);
    } catch (const std::exception&) {
    }
  }
  job.pending.clear();
  if (status != job_status::finished) {
    for (auto& row : job.subtasks)
      for (auto& st : row)
        if (st)
          self->send<caf::message_priority::high>(st, cancel_atom_v);
  }
  self->delayed_send(self, self->state.stop_timeout, stop_timeout_atom_v,
                     job.id);
  maybe_complete(self, job.id);
}

void start_checkpoint(self_ptr self, job_info& job,
                      coordinator_state::pending_checkpoint pc);
void complete_checkpoint(self_ptr self, job_info& job, uint64_t id);
void commit_job(self_ptr self, job_info& job);

/// The job's next checkpoint, started now, written into `dir` (empty: the
/// job's checkpoint directory, chk-<id>).
coordinator_state::pending_checkpoint next_checkpoint(job_info& job,
                                                      std::string dir = {}) {
  coordinator_state::pending_checkpoint pc;
  pc.id = job.next_checkpoint++;
  pc.dir = dir.empty() ? job.checkpoint_dir + "/" + checkpoint_dir_name(pc.id)
                       : std::move(dir);
  pc.start_ms = system_now_ms();
  return pc;
}

/// Every subtask finished its input. Two-phase sinks staged their last
/// output (prepared transactions) in their final state: a final checkpoint
/// made of the final states records it before anything is committed, so
/// that a crash during the commits restores to that checkpoint (which
/// commits again) instead of replaying input into a sink that published
/// part of it already (DESIGN: final checkpoints). Then the commits.
void finish_job(self_ptr self, job_info& job) {
  if (job.committers.empty()) {
    end_job(self, job, job_status::finished, "");
    return;
  }
  auto& cp = job.graph->config().checkpointing;
  if (job.checkpoint_dir.empty() || cp.interval <= 0
      || job.final_state_missing || job.final_states.size() != job.total) {
    commit_job(self, job);
    return;
  }
  auto pc = next_checkpoint(job);
  auto id = pc.id;
  pc.final = true;
  try {
    make_directories(pc.dir);
  } catch (const std::exception&) {
    commit_job(self, job);
    return;
  }
  start_checkpoint(self, job, std::move(pc));
  // Every subtask is in with its final state: complete at once.
  auto p = job.pending.find(id);
  if (p != job.pending.end() && p->second.acks.size() == job.total)
    complete_checkpoint(self, job, id);
}

/// Asks the two-phase subtasks to publish what they staged. The job is finished when all of them did.
void commit_job(self_ptr self, job_info& job) {
  auto id = job.id;
  // The point of no return: a cancel now could leave some sinks published
  // and others not, so the commits decide the outcome.
  job.committing = true;
  for (auto& sub : job.committers) {
    self->request(sub, caf::infinite, commit_atom_v)
        .then(
            [self, id, addr = sub.address()](std::string& error) {
              auto& st = self->state;
              if (auto k = st.subtasks.find(addr); k != st.subtasks.end())
                k->second.finished = true;
              auto i = st.jobs.find(id);
              if (i == st.jobs.end() || i->second.ended)
                return;
              auto& job = i->second;
              if (!error.empty())
                end_job(self, job, job_status::failed, std::move(error));
              else if (++job.committed == job.committers.size())
                end_job(self, job, job_status::finished, "");
            },
            [self, id](caf::error& err) {
              auto i = self->state.jobs.find(id);
              if (i != self->state.jobs.end())
                end_job(self, i->second, job_status::failed,
                        "committing a subtask's output failed: "
                            + self->system().render(err));
            });
  }
}

void fail_or_restart(self_ptr self, job_info& job, std::string error);

// -- checkpoints
// --------------------------------------------------------------------

/// A random 32-hex-digit job id for checkpoint paths (as Flink's JobID):
/// two runs of one job never write into each other's checkpoints.
std::string make_job_key(uint64_t id) {
  std::random_device rd;
  uint64_t hi = (static_cast<uint64_t>(rd()) << 32) ^ rd()
                ^ static_cast<uint64_t>(monotonic_now_ns());
  uint64_t lo = (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ id;
  char buf[33];
  std::snprintf(buf, sizeof(buf), "%016llx%016llx",
                static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo));
  return buf;
}

void schedule_checkpoint(self_ptr self, job_info& job, duration_ms delay) {
  self->delayed_send(self, std::chrono::milliseconds{std::max<int64_t>(0,
                                                                       delay)},
                     checkpoint_timer_atom_v, job.id);
}

template <class F>
void for_each_subtask(job_info& job, F f) {
  for (auto& row : job.subtasks)
    for (auto& sub : row)
      if (sub)
        f(sub);
}

/// Abandons a pending checkpoint: subtasks stop aligning it, its directory
/// goes. Counts as a failure unless `failure` is false.
void abort_checkpoint(self_ptr self, job_info& job, uint64_t id,
                      const std::string& why, bool failure = true) {
  auto i = job.pending.find(id);
  if (i == job.pending.end())
    return;
  auto dir = i->second.dir;
  auto final = i->second.final;
  if (i->second.promise.pending())
    i->second.promise.deliver(caf::make_error(caf::sec::runtime_error,
                                              "savepoint failed: " + why));
  job.pending.erase(i);
  for_each_subtask(job,
                   [&](caf::actor& sub) {
                     self->send(sub, abort_checkpoint_atom_v, id);
                   });
  try {
    remove_tree(dir);
  } catch (const std::exception&) {
    // Left for the retention of a later checkpoint.
  }
  if (final && !job.ended && !job.restarting) {
    // Without it the commits still go ahead: only a crash during them
    // could then publish twice (after a restore from an older checkpoint).
    commit_job(self, job);
    return;
  }
  if (!failure)
    return;
  auto& cp = job.graph->config().checkpointing;
  if (++job.failed_checkpoints > cp.tolerable_failures)
    fail_or_restart(self, job,
            "checkpoint " + std::to_string(id) + " failed: " + why + " ("
                + std::to_string(job.failed_checkpoints)
                + " failed checkpoint(s) in a row, "
                + std::to_string(cp.tolerable_failures) + " tolerated)");
}

void complete_checkpoint(self_ptr self, job_info& job, uint64_t id);

/// True while a source subtask still runs and every finished subtask left
/// its final state, so that a checkpoint can cover the whole job.
bool sources_running(const job_info& job) {
  if (job.final_state_missing)
    return false;
  for (auto& vx : job.graph->vertices())
    if (vx.is_source)
      for (int i = 0; i < vx.parallelism; ++i)
        if (job.final_states.count({vx.id, i}) == 0)
          return true;
  return false;
}

/// Counts `ack` for checkpoint `id` (once per subtask); completes it when
/// every subtask is in.
void add_ack(self_ptr self, job_info& job, uint64_t id,
             subtask_checkpoint ack) {
  auto p = job.pending.find(id);
  if (p == job.pending.end())
    return;
  if (!p->second.acked.emplace(ack.vertex, ack.index).second)
    return;
  p->second.acks.push_back(std::move(ack));
  if (p->second.acks.size() == job.total)
    complete_checkpoint(self, job, id);
}

/// Registers `pc` and sends its trigger to every source subtask that still
/// runs; finished subtasks are in with their final state.
void start_checkpoint(self_ptr self, job_info& job,
                      coordinator_state::pending_checkpoint pc) {
  auto id = pc.id;
  auto dir = pc.dir;
  for (auto& [key, state] : job.final_states) {
    pc.acked.insert(key);
    pc.acks.push_back(state);
  }
  job.pending.emplace(id, std::move(pc));
  for (auto& vx : job.graph->vertices())
    if (vx.is_source)
      for (int i = 0; i < vx.parallelism; ++i)
        if (job.final_states.count({vx.id, i}) == 0)
          self->send(job.subtasks[static_cast<size_t>(vx.id)]
                                 [static_cast<size_t>(i)],
                     checkpoint_atom_v, id, dir);
}

void trigger_checkpoint(self_ptr self, job_info& job) {
  auto& cp = job.graph->config().checkpointing;
  if (job.ended)
    return;
  schedule_checkpoint(self, job, cp.interval);
  // Not while a restart redeploys the job, nor when a finished subtask
  // left no final state, nor once every source has finished (the job ends
  // by itself then).
  if (job.restarting || job.wired < job.total || !sources_running(job))
    return;
  if (static_cast<int>(job.pending.size()) >= cp.max_concurrent)
    return;
  if (job.last_completed_ns > 0
      && (monotonic_now_ns() - job.last_completed_ns) / 1000000 < cp.min_pause)
    return;
  auto pc = next_checkpoint(job);
  auto id = pc.id;
  try {
    make_directories(pc.dir);
  } catch (const std::exception& e) {
    job.pending.emplace(id, pc);
    abort_checkpoint(self, job, id, e.what());
    return;
  }
  start_checkpoint(self, job, std::move(pc));
  self->delayed_send(self, std::chrono::milliseconds{cp.timeout},
                     checkpoint_timeout_atom_v, job.id, id);
}

/// Every subtask acknowledged: the metadata makes the checkpoint complete
/// (Flink's CompletedCheckpoint), then subtasks hear of it.
void complete_checkpoint(self_ptr self, job_info& job, uint64_t id) {
  auto i = job.pending.find(id);
  auto pc = std::move(i->second);
  job.pending.erase(i);
  auto& g = *job.graph;
  checkpoint_metadata meta;
  meta.job_id = job.key;
  meta.job_name = job.name;
  meta.checkpoint_id = id;
  meta.timestamp_ms = pc.start_ms;
  meta.is_savepoint = pc.savepoint;
  meta.key_hash = key_hash_name;
  meta.codec = codec_format_name;
  std::map<std::string, size_t> by_uid;
  for (auto& ack : pc.acks) {
    auto& vx = g.vertices()[static_cast<size_t>(ack.vertex)];
    for (size_t k = 0; k < ack.uids.size(); ++k) {
      auto [it, added] = by_uid.emplace(ack.uids[k], meta.operators.size());
      if (added)
        meta.operators.push_back(operator_snapshot{
            ack.uids[k], ack.names[k], vx.parallelism, vx.max_parallelism, {}});
      meta.operators[it->second].subtasks.push_back(ack.states[k]);
    }
  }
  for (auto& op : meta.operators)
    std::sort(op.subtasks.begin(), op.subtasks.end(),
              [](const subtask_snapshot& x, const subtask_snapshot& y) {
                return x.index < y.index;
              });
  try {
    write_metadata(pc.dir, meta);
  } catch (const std::exception& e) {
    job.pending.emplace(id, std::move(pc));
    abort_checkpoint(self, job, id, e.what());
    return;
  }
  job.failed_checkpoints = 0;
  job.last_completed_dir = pc.dir;
  job.last_completed_ns = monotonic_now_ns();
  // Older pending checkpoints are subsumed.
  // Older pending checkpoints are subsumed; savepoints are not (someone
  // waits for each, as in Flink).
  std::vector<uint64_t> older;
  for (auto& kvp : job.pending)
    if (kvp.first < id && !kvp.second.savepoint)
      older.push_back(kvp.first);
  for (auto old : older)
    abort_checkpoint(self, job, old, "subsumed", false);
  if (!job.checkpoint_dir.empty())
    try {
      prune_checkpoints(job.checkpoint_dir,
                        static_cast<size_t>(g.config().checkpointing.retained));
    } catch (const std::exception&) {
      // Retention is best effort; the next checkpoint tries again.
    }
  for_each_subtask(job, [&](caf::actor& sub) {
    self->send(sub, checkpoint_done_atom_v, id);
  });
  if (pc.promise.pending())
    pc.promise.deliver(pc.dir);
  if (pc.final) {
    // The subtasks heard of the completion first: two-phase sinks commit
    // up to it in that order, and the commit requests find nothing left.
    commit_job(self, job);
    return;
  }
  if (pc.stop_after) {
    // Stop with savepoint: the subtasks hear of the completion first (sinks
    // commit up to it), then stop, in that order (normal priority).
    for_each_subtask(job, [&](caf::actor& sub) {
      self->send(sub, cancel_atom_v);
    });
    end_job(self, job, job_status::finished, "");
  }
}

/// A savepoint: a checkpoint triggered by hand into `dir`, self-contained
/// (relative file names) and never pruned; with `stop`, the job ends with
/// it (Flink's stop-with-savepoint).
caf::result<std::string> trigger_savepoint(self_ptr self, job_info& job,
                                           const std::string& dir,
                                           bool stop) {
  if (job.ended || job.restarting || job.wired < job.total
      || !sources_running(job))
    return caf::make_error(caf::sec::runtime_error,
                           "cannot take a savepoint: the job is not running "
                           "(starting, restarting, finishing or ended)");
  // Named after the id it gets (job.next_checkpoint).
  auto pc = next_checkpoint(job, dir + "/savepoint-" + job.key.substr(0, 8)
                                      + "-"
                                      + std::to_string(job.next_checkpoint));
  auto id = pc.id;
  pc.savepoint = true;
  pc.stop_after = stop;
  try {
    make_directories(pc.dir);
  } catch (const std::exception& e) {
    return caf::make_error(caf::sec::runtime_error,
                           std::string{"cannot take a savepoint: "}
                               + e.what());
  }
  pc.promise = self->make_response_promise();
  auto promise = pc.promise;
  start_checkpoint(self, job, std::move(pc));
  self->delayed_send(
      self, std::chrono::milliseconds{job.graph->config().checkpointing.timeout},
      checkpoint_timeout_atom_v, job.id, id);
  return promise;
}

// -- restarts
// -----------------------------------------------------------------------

void deploy_subtasks(self_ptr self, job_info& job);

/// A task failed: restart the job from its latest completed checkpoint if
/// the restart strategy allows, else fail it. A restart cancels the
/// attempt's subtasks and redeploys once all of them are gone; messages of
/// the old attempt are recognised by their sender and ignored.
void fail_or_restart(self_ptr self, job_info& job, std::string error) {
  if (job.ended || job.restarting)
    return;
  if (job.committing) {
    // Past the point of no return: commits decide; a failure now fails.
    end_job(self, job, job_status::failed, std::move(error));
    return;
  }
  auto delay = job.restarts->on_failure(system_now_ms());
  if (!delay) {
    if (job.restarts->restarts() > 0)
      error += " (after " + std::to_string(job.restarts->restarts())
               + " restart(s); " + job.restarts->exhausted_reason() + ")";
    end_job(self, job, job_status::failed, std::move(error));
    return;
  }
  job.restarting = true;
  job.restart_wait_ns = 0; // the wait for stragglers starts after the delay
  job.restart_killed = false;
  job.last_failure = error;
  for (auto& kvp : job.pending) {
    if (kvp.second.promise.pending())
      kvp.second.promise.deliver(caf::make_error(
          caf::sec::runtime_error,
          "savepoint failed: the job restarts after a failure: " + error));
    try {
      remove_tree(kvp.second.dir);
    } catch (const std::exception&) {
    }
  }
  job.pending.clear();
  for (auto& kvp : self->state.subtasks)
    if (kvp.second.job == job.id)
      kvp.second.stale = true;
  for_each_subtask(job, [&](caf::actor& sub) {
    self->send<caf::message_priority::high>(sub, cancel_atom_v);
  });
  auto d = *delay;
  auto id = job.id;
  // Redeploy once every subtask of the attempt is gone and the delay passed.
  self->delayed_send(self, std::chrono::milliseconds{d}, restart_atom_v, id,
                     job.attempt);
}

void restart_job(self_ptr self, job_info& job) {
  job.restarting = false;
  ++job.attempt;
  ++job.restart_count;
  job.deployed = job.wired = job.finished = job.committed = 0;
  job.committers.clear();
  job.committing = false;
  job.final_states.clear();
  job.final_state_missing = false;
  for (auto& row : job.subtasks)
    for (auto& sub : row)
      sub = nullptr;
  // From the latest completed checkpoint of this job, else from where the
  // job started.
  if (!job.last_completed_dir.empty()) {
    try {
      auto ref = std::make_shared<checkpoint_ref>();
      ref->dir = job.last_completed_dir;
      ref->meta = read_metadata(ref->dir);
      job.restore = std::move(ref);
      ++job.restarts_from_checkpoint;
    } catch (const std::exception& e) {
      end_job(self, job, job_status::failed,
              job.last_failure + "; the restart cannot read checkpoint '"
                  + job.last_completed_dir + "': " + e.what());
      return;
    }
  }
  deploy_subtasks(self, job);
}

void start_job(self_ptr self, job_info& job) {
  job.status = job_status::running;
  if (job.graph->config().checkpointing.interval > 0
      && !job.checkpoint_timer_armed) {
    job.checkpoint_timer_armed = true;
    schedule_checkpoint(self, job,
                        job.graph->config().checkpointing.interval);
  }
  for (auto& row : job.subtasks)
    for (auto& st : row)
      self->send(st, start_atom_v);
}

void wire_job(self_ptr self, uint64_t id) {
  auto& job = self->state.jobs.at(id);
  auto attempt = job.attempt;
  auto& g = *job.graph;
  for (size_t v = 0; v < g.vertices().size(); ++v)
    for (int i = 0; i < g.vertices()[v].parallelism; ++i) {
      auto w = wiring_of(job, static_cast<int>(v), i);
      self->request(job.subtasks[v][static_cast<size_t>(i)], caf::infinite,
                    wire_atom_v, std::move(w))
          .then(
              [self, id, attempt](bool ok) {
                auto i = self->state.jobs.find(id);
                if (i == self->state.jobs.end() || i->second.ended
                    || i->second.attempt != attempt || i->second.restarting)
                  return;
                // A subtask that failed to open reports why itself.
                if (ok && ++i->second.wired == i->second.total)
                  start_job(self, i->second);
              },
              [self, id, attempt](caf::error& err) {
                auto i = self->state.jobs.find(id);
                if (i != self->state.jobs.end()
                    && i->second.attempt == attempt)
                  fail_or_restart(self, i->second,
                                  "wiring a subtask failed: "
                                      + self->system().render(err));
              });
    }
}

void submit(self_ptr self, job_submission& sub, uint64_t id,
            std::shared_ptr<const job_spec> spec = nullptr) {
  auto& st = self->state;
  auto& job = st.jobs[id];
  job.id = id;
  job.spec = std::move(spec);
  job.name = sub.name;
  job.graph = sub.graph;
  job.listener = sub.listener;
  job.start_ns = monotonic_now_ns();
  job.key = make_job_key(id);
  job.start_ms = system_now_ms();
  auto strategy = job.graph->config().effective_restarts();
  if (!job.graph->config().restarts && st.cluster.default_restarts)
    strategy = *st.cluster.default_restarts;
  job.restarts = std::make_unique<restart_tracker>(
      strategy, static_cast<uint64_t>(monotonic_now_ns()));
  job.restore = sub.restore;
  if (job.restore)
    job.next_checkpoint = job.restore->meta.checkpoint_id + 1;
  if (job.graph->config().checkpointing.interval > 0)
    job.checkpoint_dir
        = job.graph->config().checkpointing.dir + "/" + job.key;
  auto& g = *job.graph;
  if (auto why = place_job(self, job); !why.empty()) {
    end_job(self, job, job_status::failed, why);
    return;
  }
  job.subtasks.resize(g.vertices().size());
  for (auto& vx : g.vertices()) {
    job.subtasks[static_cast<size_t>(vx.id)].resize(
        static_cast<size_t>(vx.parallelism));
    job.total += static_cast<size_t>(vx.parallelism);
  }
  deploy_subtasks(self, job);
}

/// Sends one subtask's deployment to its node; the answer registers it.
template <class Deployment>
void deploy_one(self_ptr self, job_info& job, size_t n, int v, int i,
                Deployment d, caf::duration timeout) {
  auto id = job.id;
  auto attempt = job.attempt;
  ++job.outstanding;
  ++job.outstanding_on[n];
  // An answer counts only while its node lives: a lost node's outstanding
  // requests were written off when it was lost.
  auto answered = [self, n](job_info& job) {
    if (!self->state.nodes[n].alive)
      return false;
    --job.outstanding;
    if (--job.outstanding_on[n] == 0)
      job.outstanding_on.erase(n);
    return true;
  };
  self->request(self->state.nodes[n].actor, timeout, deploy_atom_v,
                std::move(d))
      .then(
          [self, id, v, i, attempt, answered](caf::actor& sub) {
            auto it = self->state.jobs.find(id);
            if (it == self->state.jobs.end() || !answered(it->second)) {
              // Gave up on this job (or its node) already: stop the
              // straggler.
              self->send<caf::message_priority::high>(sub, cancel_atom_v);
              return;
            }
            auto& job = it->second;
            ++job.alive;
            self->monitor(sub);
            auto stale = job.attempt != attempt || job.restarting;
            self->state.subtasks[sub.address()] = {id, v, i, false, stale};
            if (job.ended || stale) {
              self->send<caf::message_priority::high>(sub, cancel_atom_v);
              return;
            }
            job.subtasks[static_cast<size_t>(v)][static_cast<size_t>(i)] = sub;
            if (job.stop_requested
                && job.graph->vertices()[static_cast<size_t>(v)].is_source)
              self->send(sub, stop_atom_v);
            if (++job.deployed == job.total)
              wire_job(self, id);
          },
          [self, id, attempt, answered](caf::error& err) {
            auto it = self->state.jobs.find(id);
            if (it == self->state.jobs.end() || !answered(it->second))
              return;
            if (it->second.attempt == attempt)
              fail_or_restart(self, it->second,
                              "deploying a subtask failed: "
                                  + error_text(self->system(), err));
            maybe_complete(self, id);
          });
}

/// Deploys the subtasks of a cluster job that go to node `n` (prepared).
void deploy_on_node(self_ptr self, job_info& job, size_t n) {
  caf::actor me = caf::actor_cast<caf::actor>(self);
  for (auto& vx : job.graph->vertices())
    for (int i = 0; i < vx.parallelism; ++i) {
      if (job.slot_node[static_cast<size_t>(i)] != n)
        continue;
      remote_deployment d;
      d.job = job.id;
      d.vertex = vx.id;
      d.index = i;
      d.coordinator = me;
      d.checkpoint_dir = job.checkpoint_dir;
      d.restore_dir = job.restore ? job.restore->dir : "";
      d.job_key = job.key;
      d.attempt = job.attempt;
      deploy_one(self, job, n, vx.id, i, std::move(d),
                 caf::duration{std::chrono::seconds{60}});
    }
}

/// A cluster job: each node it uses first loads the module and rebuilds
/// the graph (once per job), then gets its subtasks.
void prepare_and_deploy(self_ptr self, job_info& job) {
  auto& st = self->state;
  std::set<size_t> used(job.slot_node.begin(), job.slot_node.end());
  auto id = job.id;
  auto attempt = job.attempt;
  // The nodes connect to each other before anything flows between them.
  auto spec = std::make_shared<job_spec>(*job.spec);
  spec->peers.clear();
  for (auto n : used)
    if (!st.nodes[n].address.empty())
      spec->peers.push_back(st.nodes[n].address);
  for (auto n : used) {
    if (st.nodes[n].prepared.count(id) && spec->peers.size() <= 1) {
      deploy_on_node(self, job, n);
      continue;
    }
    ++job.outstanding;
    ++job.outstanding_on[n];
    self->request(st.nodes[n].actor, std::chrono::seconds{120}, prepare_atom_v,
                  *spec)
        .then(
            [self, id, attempt, n](bool) {
              auto& st = self->state;
              auto it = st.jobs.find(id);
              if (it == st.jobs.end()) {
                // The job is gone: the node may drop what it prepared.
                if (st.nodes[n].alive)
                  self->send(st.nodes[n].actor, release_atom_v, id);
                return;
              }
              auto& job = it->second;
              if (!st.nodes[n].alive)
                return; // written off when the node was lost
              --job.outstanding;
              if (--job.outstanding_on[n] == 0)
                job.outstanding_on.erase(n);
              st.nodes[n].prepared.insert(id);
              if (job.ended || job.restarting || job.attempt != attempt) {
                maybe_complete(self, id);
                return;
              }
              deploy_on_node(self, job, n);
            },
            [self, id, attempt, n](caf::error& err) {
              auto& st = self->state;
              auto it = st.jobs.find(id);
              if (it == st.jobs.end() || !st.nodes[n].alive)
                return;
              auto& job = it->second;
              --job.outstanding;
              if (--job.outstanding_on[n] == 0)
                job.outstanding_on.erase(n);
              // What the node may have kept of the job goes; the next
              // attempt prepares it again.
              self->send(st.nodes[n].actor, release_atom_v, id);
              st.nodes[n].prepared.erase(id);
              if (job.attempt == attempt && !job.restarting && !job.ended) {
                // A module that does not load or a graph that does not
                // match (the node answers runtime_error) fails the job: no
                // restart fixes them. A node that did not answer in time,
                // could not reach a peer or went away may be gone.
                auto fatal = err.category() == caf::atom("system")
                             && err.code()
                                    == static_cast<uint8_t>(
                                        caf::sec::runtime_error);
                if (fatal)
                  end_job(self, job, job_status::failed,
                          error_text(self->system(), err));
                else
                  fail_or_restart(self, job,
                                  "node '" + st.nodes[n].name
                                      + "' did not prepare the job: "
                                      + error_text(self->system(), err));
              }
              maybe_complete(self, id);
            });
  }
}

void deploy_subtasks(self_ptr self, job_info& job) {
  if (job.spec) {
    prepare_and_deploy(self, job);
    return;
  }
  caf::actor me = caf::actor_cast<caf::actor>(self);
  for (auto& vx : job.graph->vertices())
    for (int i = 0; i < vx.parallelism; ++i) {
      deployment d{job.id,  job.graph, vx.id,   i,           me,
                   job.checkpoint_dir, job.restore, job.key, job.attempt};
      deploy_one(self, job, job.slot_node[static_cast<size_t>(i)], vx.id, i,
                 std::move(d), caf::duration{caf::infinite});
    }
}

/// A node died (its connection dropped) or stopped heartbeating: its slots
/// are gone, its subtasks count as terminated, and every job that ran on it
/// restarts (or fails, per its restart strategy).
void node_lost(self_ptr self, size_t n, const std::string& why) {
  auto& st = self->state;
  auto& node = st.nodes[n];
  if (!node.alive)
    return;
  node.alive = false;
  node.free = 0;
  node.prepared.clear();
  std::fprintf(stderr, "stream-coordinator: node '%s' lost: %s\n",
               node.name.c_str(), why.c_str());
  auto lost_node = node.actor.node();
  // Its subtasks cannot report any more (a hung node not even their end):
  // they count as terminated now, and whatever they still send is ignored.
  std::set<uint64_t> jobs;
  for (auto& [addr, ref] : st.subtasks) {
    if (addr.node() != lost_node || ref.lost)
      continue;
    ref.lost = true;
    ref.stale = true;
    if (auto j = st.jobs.find(ref.job); j != st.jobs.end()) {
      --j->second.alive;
      jobs.insert(ref.job);
    }
  }
  // Its answers to prepare and deploy requests never come.
  for (auto& [id, job] : st.jobs)
    if (auto k = job.outstanding_on.find(n); k != job.outstanding_on.end()) {
      job.outstanding -= k->second;
      job.outstanding_on.erase(k);
      jobs.insert(id);
    }
  for (auto& [id, job] : st.jobs)
    for (auto& [idx, count] : job.slots)
      if (idx == n)
        jobs.insert(id);
  for (auto id : jobs) {
    auto j = st.jobs.find(id);
    if (j == st.jobs.end())
      continue;
    fail_or_restart(self, j->second,
                    "node '" + node.name + "' was lost: " + why);
    maybe_complete(self, id);
  }
}

std::string format_time_ms(int64_t ms) {
  auto secs = static_cast<time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string state_of(const job_info& job) {
  if (job.ended)
    return job.status == job_status::finished ? "FINISHING" : "CANCELLING";
  if (job.waiting_for_slots)
    return "RESTARTING (waiting for slots)";
  if (job.restarting)
    return "RESTARTING";
  if (job.status == job_status::running)
    return "RUNNING";
  return "DEPLOYING";
}

} // namespace

caf::actor spawn_coordinator(caf::actor_system& sys,
                             caf::timespan stop_timeout) {
  return sys.spawn(coordinator_actor, stop_timeout, cluster_settings{});
}

caf::actor spawn_cluster_coordinator(caf::actor_system& sys,
                                     caf::timespan stop_timeout,
                                     cluster_settings settings) {
  return sys.spawn(coordinator_actor, stop_timeout, std::move(settings));
}

caf::behavior coordinator_actor(caf::stateful_actor<coordinator_state>* self,
                                caf::timespan stop_timeout,
                                cluster_settings cluster) {
  self->state.stop_timeout = stop_timeout;
  self->state.cluster = std::move(cluster);
  if (self->state.cluster.heartbeat_timeout.count() > 0)
    self->delayed_send(self, self->state.cluster.heartbeat_interval,
                       heartbeat_check_atom_v);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    for (size_t n = 0; n < st.nodes.size(); ++n)
      if (st.nodes[n].alive && st.nodes[n].actor.address() == dm.source) {
        node_lost(self, n,
                  "its process is gone (" + self->system().render(dm.reason)
                      + ")");
        return;
      }
    auto i = st.subtasks.find(dm.source);
    if (i == st.subtasks.end())
      return;
    auto ref = i->second;
    st.subtasks.erase(i);
    if (ref.lost)
      return; // counted when its node was lost
    auto j = st.jobs.find(ref.job);
    if (j == st.jobs.end())
      return;
    auto& job = j->second;
    --job.alive;
    if (!ref.finished && !ref.stale) {
      auto& vx = job.graph->vertices()[static_cast<size_t>(ref.vertex)];
      fail_or_restart(self, job,
              "task '" + vx.name + "' (" + std::to_string(ref.index + 1) + "/"
                  + std::to_string(vx.parallelism)
                  + ") terminated unexpectedly: "
                  + self->system().render(dm.reason));
    }
    maybe_complete(self, ref.job);
  });
  self->set_exit_handler([self](caf::exit_msg& msg) {
    // Shutting down: cancel every job still running, tell every listener
    // at once (there is no waiting for subtasks any more), then quit.
    std::vector<uint64_t> ids;
    for (auto& kvp : self->state.jobs)
      ids.push_back(kvp.first);
    for (auto id : ids) {
      // end_job may complete (and erase) the job itself.
      if (auto i = self->state.jobs.find(id); i != self->state.jobs.end())
        end_job(self, i->second, job_status::canceled,
                "the coordinator shut down");
      complete_job(self, id);
    }
    self->quit(msg.reason);
  });
  return {
      [self](register_atom, caf::actor& node, int32_t slots) -> bool {
        if (slots < 1)
          return false;
        self->state.nodes.push_back({node, slots, slots});
        return true;
      },
      [self](caf::get_atom) -> int32_t {
        // The free task slots of all nodes.
        int32_t free = 0;
        for (auto& n : self->state.nodes)
          free += n.free;
        return free;
      },
      [self](submit_atom, job_submission& sub) -> uint64_t {
        auto id = self->state.next_job++;
        submit(self, sub, id);
        return id;
      },
      [self](cancel_atom, uint64_t id) {
        auto i = self->state.jobs.find(id);
        if (i != self->state.jobs.end() && !i->second.committing)
          end_job(self, i->second, job_status::canceled, "");
      },
      [self](stop_atom, uint64_t id) {
        // Flink's stop (with drain): every source ends its input now; the
        // job then finishes as a bounded job does, committing its sinks.
        auto i = self->state.jobs.find(id);
        if (i == self->state.jobs.end() || i->second.ended)
          return;
        auto& job = i->second;
        job.stop_requested = true;
        for (auto& vx : job.graph->vertices())
          if (vx.is_source)
            for (auto& sub : job.subtasks[static_cast<size_t>(vx.id)])
              if (sub)
                self->send(sub, stop_atom_v);
      },
      [self](finished_atom, uint64_t id, int32_t v, int32_t idx,
             bool awaits_commit, subtask_checkpoint& final_state,
             uint64_t last_checkpoint) {
        auto& st = self->state;
        auto j = st.jobs.find(id);
        if (j == st.jobs.end() || j->second.ended)
          return;
        auto& job = j->second;
        if (job.restarting)
          return;
        auto k0 = st.subtasks.find(
            caf::actor_cast<caf::actor_addr>(self->current_sender()));
        if (k0 != st.subtasks.end() && k0->second.stale)
          return;
        auto& sub
            = job.subtasks[static_cast<size_t>(v)][static_cast<size_t>(idx)];
        // A subtask awaiting its commit has not finished its work yet: if
        // it terminates before committing, the job fails.
        if (!awaits_commit)
          if (auto k = st.subtasks.find(sub.address()); k != st.subtasks.end())
            k->second.finished = true;
        if (awaits_commit)
          job.committers.push_back(sub);
        // Its final state answers pending and later checkpoints for it.
        if (final_state.vertex < 0) {
          // Checkpoints it did not take cannot complete without it.
          job.final_state_missing = true;
          std::vector<uint64_t> ids;
          for (auto& kvp : job.pending)
            if (kvp.first > last_checkpoint)
              ids.push_back(kvp.first);
          for (auto cid : ids)
            abort_checkpoint(self, job, cid,
                             "a finished subtask left no final state", false);
        } else {
          job.final_states[{v, idx}] = final_state;
          // Not for checkpoints it took at their barrier: their own
          // acknowledgement (from its writer) may still be on the way.
          std::vector<uint64_t> ids;
          for (auto& kvp : job.pending)
            if (kvp.first > last_checkpoint)
              ids.push_back(kvp.first);
          for (auto cid : ids)
            add_ack(self, job, cid, final_state);
          if (job.ended || job.restarting)
            return;
        }
        if (++job.finished == job.total)
          finish_job(self, job);
      },
      // -- checkpoints
      // ------------------------------------------------------------
      [self](checkpoint_timer_atom, uint64_t id) {
        auto i = self->state.jobs.find(id);
        if (i != self->state.jobs.end())
          trigger_checkpoint(self, i->second);
      },
      [self](ack_checkpoint_atom, uint64_t job_id, uint64_t id,
             subtask_checkpoint& ack) {
        auto i = self->state.jobs.find(job_id);
        if (i == self->state.jobs.end() || i->second.ended)
          return;
        add_ack(self, i->second, id, std::move(ack));
      },
      [self](decline_checkpoint_atom, uint64_t job_id, uint64_t id,
             std::string& why) {
        auto i = self->state.jobs.find(job_id);
        if (i == self->state.jobs.end() || i->second.ended)
          return;
        // A source that finished its input: its final state (with its
        // finished message) stands in for it, unless it has none.
        auto finished = why.find("has finished its input") != std::string::npos;
        if (finished && !i->second.final_state_missing)
          return;
        abort_checkpoint(self, i->second, id, why, !finished);
      },
      [self](checkpoint_timeout_atom, uint64_t job_id, uint64_t id) {
        auto i = self->state.jobs.find(job_id);
        if (i == self->state.jobs.end() || i->second.ended)
          return;
        abort_checkpoint(self, i->second, id,
                         "it did not complete within "
                             + std::to_string(i->second.graph->config()
                                                  .checkpointing.timeout)
                             + " ms");
      },
      [self](stop_timeout_atom, uint64_t id) {
        auto i = self->state.jobs.find(id);
        if (i == self->state.jobs.end())
          return;
        auto n = i->second.alive + i->second.outstanding;
        // Stragglers stuck in user code must not keep running on slots that
        // are handed out again.
        for (auto& row : i->second.subtasks)
          for (auto& sub : row)
            if (sub)
              self->send_exit(sub, caf::exit_reason::kill);
        complete_job(self, id,
                     std::to_string(n) + " subtask(s) did not stop within "
                         + caf::deep_to_string(self->state.stop_timeout));
      },
      [self](failed_atom, uint64_t id, std::string& what) {
        auto& st = self->state;
        auto j = st.jobs.find(id);
        if (j == st.jobs.end())
          return;
        // From a subtask of an earlier attempt: ignored.
        auto k = st.subtasks.find(
            caf::actor_cast<caf::actor_addr>(self->current_sender()));
        if (k != st.subtasks.end() && k->second.stale)
          return;
        // The failed subtask quits on its own; the down message that
        // follows is expected.
        if (k != st.subtasks.end())
          k->second.finished = true;
        fail_or_restart(self, j->second, std::move(what));
      },
      [self](savepoint_atom, uint64_t id, std::string& dir,
             bool stop) -> caf::result<std::string> {
        auto i = self->state.jobs.find(id);
        if (i == self->state.jobs.end())
          return caf::make_error(caf::sec::runtime_error,
                                 "cannot take a savepoint: no job "
                                     + std::to_string(id));
        if (dir.empty())
          dir = self->state.cluster.savepoint_dir;
        if (dir.empty())
          return caf::make_error(caf::sec::runtime_error,
                                 "cannot take a savepoint: no directory "
                                 "given, and the coordinator has no "
                                 "savepoint-dir");
        return trigger_savepoint(self, i->second, dir, stop);
      },
      [self](restart_atom, uint64_t id, uint32_t attempt) {
        auto i = self->state.jobs.find(id);
        if (i == self->state.jobs.end())
          return;
        auto& job = i->second;
        if (job.ended || !job.restarting || job.attempt != attempt)
          return;
        if (job.alive > 0 || job.outstanding > 0) {
          // Old subtasks still stopping: look again shortly. One stuck in
          // user code past the stop timeout is killed; if even that does
          // not end it, the job fails rather than wait forever.
          if (job.restart_wait_ns == 0)
            job.restart_wait_ns = monotonic_now_ns();
          auto waited = std::chrono::nanoseconds{monotonic_now_ns()
                                                 - job.restart_wait_ns};
          auto limit = self->state.stop_timeout;
          // Outstanding requests alone end by their own timeouts.
          if (job.restart_killed && waited > 2 * limit && job.alive > 0) {
            end_job(self, job, job_status::failed,
                    job.last_failure + "; the restart gave up: "
                        + std::to_string(job.alive)
                        + " subtask(s) of the failed attempt did not stop");
            return;
          }
          if (waited > limit && !job.restart_killed) {
            job.restart_killed = true;
            for (auto& kvp : self->state.subtasks)
              if (kvp.second.job == id)
                if (auto hdl = caf::actor_cast<caf::actor>(kvp.first))
                  self->send_exit(hdl, caf::exit_reason::kill);
          }
          self->delayed_send(self, std::chrono::milliseconds{10},
                             restart_atom_v, id, attempt);
          return;
        }
        // Placed again: a lost node's slots are gone, and the job waits
        // until enough slots are free (a node that comes back rejoins).
        release_slots(self, job);
        if (auto why = place_job(self, job); !why.empty()) {
          auto now = monotonic_now_ns();
          if (!job.waiting_for_slots)
            job.waiting_since_ns = now;
          job.waiting_for_slots = true;
          job.waiting_reason = why;
          auto waited = std::chrono::nanoseconds{now - job.waiting_since_ns};
          if (waited > self->state.cluster.slot_wait_timeout) {
            end_job(self, job, job_status::failed,
                    job.last_failure + "; the restart waited "
                        + std::to_string(waited.count() / 1000000)
                        + " ms for task slots: " + why);
            return;
          }
          self->delayed_send(self, std::chrono::milliseconds{200},
                             restart_atom_v, id, attempt);
          return;
        }
        job.waiting_for_slots = false;
        restart_job(self, job);
      },
      // -- the cluster
      // ------------------------------------------------------------
      [self](register_atom, caf::actor& node, int32_t slots,
             std::string& name, std::string& address) -> caf::result<bool> {
        auto& st = self->state;
        if (slots < 1)
          return caf::make_error(caf::sec::runtime_error,
                                 "a node needs at least one task slot");
        for (auto& n : st.nodes)
          if (n.alive && n.name == name)
            return caf::make_error(caf::sec::runtime_error,
                                   "a node named '" + name
                                       + "' is registered already");
        coordinator_state::node_info info;
        info.actor = node;
        info.slots = slots;
        info.free = slots;
        info.name = name;
        info.address = address;
        info.remote = true;
        info.last_seen_ns = monotonic_now_ns();
        st.nodes.push_back(std::move(info));
        self->monitor(node);
        std::fprintf(stderr,
                     "stream-coordinator: node '%s' registered with %d "
                     "slot(s)\n",
                     name.c_str(), slots);
        return true;
      },
      [self](heartbeat_atom, caf::actor& node) -> bool {
        // False for a node unknown here (lost after a heartbeat timeout):
        // it stops its subtasks and registers again.
        for (auto& n : self->state.nodes)
          if (n.alive && n.actor == node) {
            n.last_seen_ns = monotonic_now_ns();
            return true;
          }
        return false;
      },
      [self](heartbeat_check_atom) {
        auto& st = self->state;
        auto timeout = st.cluster.heartbeat_timeout;
        auto now = monotonic_now_ns();
        for (size_t n = 0; n < st.nodes.size(); ++n) {
          auto& node = st.nodes[n];
          if (!node.alive || !node.remote)
            continue;
          auto silent = std::chrono::nanoseconds{now - node.last_seen_ns};
          if (silent > timeout)
            node_lost(self, n,
                      "no heartbeat for "
                          + std::to_string(silent.count() / 1000000) + " ms");
        }
        self->delayed_send(self, st.cluster.heartbeat_interval,
                           heartbeat_check_atom_v);
      },
      [self](settings_atom) -> int32_t {
        return self->state.cluster.default_parallelism;
      },
      [self](submit_atom, cluster_submission& sub) -> caf::result<uint64_t> {
        auto& st = self->state;
        decoded_graph d;
        try {
          d = decode_job_graph(sub.plan);
        } catch (const std::exception& e) {
          return caf::make_error(caf::sec::runtime_error, e.what());
        }
        if (sub.module_bytes.empty())
          return caf::make_error(caf::sec::runtime_error,
                                 "the submission has no app module");
        auto graph = d.graph;
        std::shared_ptr<const checkpoint_ref> restore;
        try {
          auto& cp = graph->config().checkpointing;
          if (cp.interval > 0)
            make_directories(cp.dir);
          auto from = !sub.restore_from.empty() ? sub.restore_from
                                                : cp.restore_from;
          if (!from.empty()) {
            auto rp = find_restore_point(from);
            check_restore(rp.chosen, *graph, cp.allow_non_restored_state);
            restore = std::make_shared<const checkpoint_ref>(
                std::move(rp.chosen));
          }
        } catch (const std::exception& e) {
          return caf::make_error(caf::sec::runtime_error, e.what());
        }
        auto id = st.next_job++;
        auto spec = std::make_shared<job_spec>();
        spec->job = id;
        spec->name = d.name;
        spec->module_hash = content_hash(sub.module_bytes);
        spec->module_bytes = std::move(sub.module_bytes);
        spec->args = std::move(sub.args);
        spec->parallelism = graph->config().default_parallelism;
        spec->fingerprint = d.fingerprint;
        job_submission js{d.name, graph, sub.listener, restore};
        submit(self, js, id, std::move(spec));
        return id;
      },
      [self](cancel_job_atom, uint64_t id) -> caf::result<bool> {
        auto i = self->state.jobs.find(id);
        if (i == self->state.jobs.end())
          return caf::make_error(caf::sec::runtime_error,
                                 "no job " + std::to_string(id));
        if (i->second.committing)
          return caf::make_error(caf::sec::runtime_error,
                                 "job " + std::to_string(id)
                                     + " is committing its output; it ends "
                                       "on its own");
        end_job(self, i->second, job_status::canceled, "cancelled");
        return true;
      },
      [self](nodes_atom) -> std::string {
        std::string out = "NODE                 SLOTS  FREE  STATE\n";
        char buf[256];
        for (auto& n : self->state.nodes) {
          if (!n.remote)
            continue;
          std::snprintf(buf, sizeof buf, "%-20s %5d %5d  %s\n",
                        n.name.c_str(), n.alive ? n.slots : 0,
                        n.alive ? n.free : 0, n.alive ? "ALIVE" : "LOST");
          out += buf;
        }
        return out;
      },
      [self](list_atom) -> std::string {
        auto& st = self->state;
        std::string out = "ID    NAME                      STATE      STARTED\n";
        char buf[512];
        for (auto& [id, job] : st.history) {
          std::string state = job.status == job_status::finished ? "FINISHED"
                              : job.status == job_status::canceled
                                  ? "CANCELED"
                                  : "FAILED";
          std::snprintf(buf, sizeof buf, "%-5llu %-25s %-10s %s\n",
                        static_cast<unsigned long long>(id), job.name.c_str(),
                        state.c_str(), format_time_ms(job.start_ms).c_str());
          out += buf;
        }
        for (auto& [id, job] : st.jobs) {
          std::snprintf(buf, sizeof buf, "%-5llu %-25s %-10s %s\n",
                        static_cast<unsigned long long>(id), job.name.c_str(),
                        state_of(job).c_str(),
                        format_time_ms(job.start_ms).c_str());
          out += buf;
        }
        if (!st.cluster.checkpoint_dir.empty()) {
          std::vector<std::string> found;
          try {
            found = list_checkpointed_jobs(st.cluster.checkpoint_dir);
          } catch (const std::exception& e) {
            out += "cannot list " + st.cluster.checkpoint_dir + ": "
                   + e.what() + "\n";
          }
          if (!found.empty()) {
            out += "checkpointed jobs in " + st.cluster.checkpoint_dir
                   + " (resume with streamctl run --from-savepoint PATH):\n";
            for (auto& line : found)
              out += "  " + line + "\n";
          }
        }
        return out;
      },
      [self](info_atom, uint64_t id) -> caf::result<std::string> {
        auto& st = self->state;
        auto i = st.jobs.find(id);
        if (i == st.jobs.end()) {
          auto h = st.history.find(id);
          if (h == st.history.end())
            return caf::make_error(caf::sec::runtime_error,
                                   "no job " + std::to_string(id));
          auto& e = h->second;
          return "job " + std::to_string(id) + " '" + e.name + "': "
                 + to_string(e.status) + ", started "
                 + format_time_ms(e.start_ms) + ", ended "
                 + format_time_ms(e.end_ms)
                 + (e.error.empty() ? std::string{} : ": " + e.error) + "\n";
        }
        auto& job = i->second;
        std::string out = "job " + std::to_string(id) + " '" + job.name
                          + "': " + state_of(job) + ", started "
                          + format_time_ms(job.start_ms) + ", "
                          + std::to_string(job.restart_count)
                          + " restart(s)\n";
        if (job.waiting_for_slots)
          out += "  waiting: " + job.waiting_reason + "\n";
        out += "operators:\n";
        for (auto& vx : job.graph->vertices()) {
          out += "  " + std::to_string(vx.id) + " " + vx.name
                 + " (parallelism " + std::to_string(vx.parallelism)
                 + "): ";
          std::map<std::string, int> on;
          for (int k = 0; k < vx.parallelism; ++k)
            if (static_cast<size_t>(k) < job.slot_node.size())
              ++on[st.nodes[job.slot_node[static_cast<size_t>(k)]].name];
          bool first = true;
          for (auto& [name, count] : on) {
            out += (first ? "" : ", ") + name + " x" + std::to_string(count);
            first = false;
          }
          out += "\n";
        }
        out += "checkpoints: ";
        if (job.checkpoint_dir.empty())
          out += "off\n";
        else
          out += "latest "
                 + (job.last_completed_dir.empty() ? std::string{"none yet"}
                                                   : job.last_completed_dir)
                 + ", " + std::to_string(job.pending.size()) + " pending\n";
        return out;
      },
  };
}

} // namespace libstream::runtime
