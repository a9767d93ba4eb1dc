#pragma once

// Every message of the libstream runtime protocol, in one place.
//
// Data plane (producer subtask -> consumer subtask, in channel order, all at
// normal priority so that control events never overtake records):
//   batch_msg                                   records of one channel
//   (remote_batch_atom, uint32 channel, uint64 seq, std::string bytes)
//                                               the same between nodes,
//                                               encoded (encode_batch)
//   (watermark_atom, uint32 channel, int64 wm)   watermark
//   (idle_atom, uint32 channel, bool idle)       channel idle / active again
//   (end_atom, uint32 channel)                   end of partition
//   (barrier_atom, uint32 channel, uint64 id, std::string dir)
//                                                checkpoint barrier; dir is
//                                                where checkpoint id goes
// Consumer -> producer:
//   (credit_atom, uint32 out_channel, int32 n)   n more batches may be sent
// Subtask to itself:
//   (poll_atom)      read more from the source
//   (flush_atom)     buffer timeout: send partly filled buffers
//   (timer_atom)     a requested processing time is due
// Any thread to a subtask (made by operator_context::make_waker):
//   (wakeup_atom, uint64 token)  call on_wakeup() of the operator `token`
// Application actors and the actor source and sink (actors/actor_io.hpp):
//   source -> feeder         (demand_atom, actor inbox, int32 n)
//   source -> feeder         (seek_atom, actor inbox, uint64 seq)
//   feeder -> inbox          std::vector<T>, then (end_atom, uint32 0)
//   sink relay -> target     request std::vector<T> -> (empty reply)
// Control plane:
//   node -> coordinator      (register_atom, actor node, int32 slots)
//   coordinator -> node      (deploy_atom, deployment) -> actor subtask
//   coordinator -> subtask   (wire_atom, subtask_wiring) -> ok
//                            (start_atom)
//                            (cancel_atom)  [high priority: no ordering duty]
//                            (commit_atom) -> std::string error ("" = ok)
//                              publish staged output: the job finished
//                            (stop_atom)  sources end their input now
//                            (checkpoint_atom, uint64 id, std::string dir)
//                              a source subtask
//                              snapshots and emits barrier id
//                            (checkpoint_done_atom, uint64 id)  complete
//                            (abort_checkpoint_atom, uint64 id)  abandoned
//   subtask -> coordinator   (decline_checkpoint_atom, uint64 job,
//                             uint64 id, std::string why)
//   writer -> coordinator    (ack_checkpoint_atom, uint64 job, uint64 id,
//                             subtask_checkpoint)  a subtask's state is
//                              written (the writer is a detached actor the
//                              subtask spawned at the barrier)
//   subtask -> coordinator   (finished_atom, uint64 job, int32 vertex,
//                             int32 index, bool awaits_commit,
//                             subtask_checkpoint final_state,
//                             uint64 last_checkpoint)
//                              input ended; with awaits_commit the subtask
//                              stays alive for commit_atom or cancel_atom;
//                              final_state (vertex -1: none) stands in for
//                              the subtask in checkpoints after
//                              last_checkpoint (the newest it snapshotted)
//                            (failed_atom, uint64 job, std::string what)
//   client -> coordinator    (submit_atom, job_submission) -> uint64 job id
//                            (cancel_atom, uint64 job)
//                            (stop_atom, uint64 job)
//                            (savepoint_atom, uint64 job, std::string dir,
//                             bool stop) -> std::string savepoint path
//   coordinator -> listener  (job_done_atom, libstream::job_result)
//   coordinator -> itself    (checkpoint_timer_atom, uint64 job)  trigger
//                            (checkpoint_timeout_atom, uint64 job, uint64 id)
//                            (restart_atom, uint64 job, uint32 attempt)
//                              redeploy a failed job after its delay
//                            (stop_timeout_atom, uint64 job)  give up waiting
//                            for the subtasks of an ended job to terminate

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/fwd.hpp"
#include "caf/allowed_unsafe_message_type.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/type_id.hpp"

#include "libstream/checkpoint/storage.hpp"
#include "libstream/executor.hpp"
#include "libstream/job_graph.hpp"
#include "libstream/record.hpp"

namespace libstream::runtime {

/// One batch of records on one channel. The payload is moved between actors
/// of one process, never copied or serialized.
struct batch_msg {
  uint32_t channel = 0; // the consumer's input channel index
  uint64_t seq = 0;     // per channel, from 0, without gaps
  erased_batch_ptr payload;
};

/// Where a subtask runs and what it runs.
struct deployment {
  uint64_t job = 0;
  std::shared_ptr<const job_graph> graph;
  int32_t vertex = 0;
  int32_t index = 0;
  caf::actor coordinator;
  /// <checkpoint dir>/<job id>: checkpoint n goes to chk-<n> below it
  /// (empty without checkpoints).
  std::string checkpoint_dir;
  /// The checkpoint to restore from, or null.
  std::shared_ptr<const checkpoint_ref> restore;
  /// The job's key (random hex, as in checkpoint paths) and the attempt:
  /// they name the subtask's local state (LevelDB) directories.
  std::string job_key;
  uint32_t attempt = 0;
  /// Bytes one batch of an output channel may take: the node's share of
  /// network memory for this subtask's channels (set by the node).
  size_t batch_budget = SIZE_MAX;
  /// A cluster job: the app module whose code the graph's operators run,
  /// kept loaded while the subtask and its checkpoint writers live.
  std::shared_ptr<const void> code;
  /// The buffer timeout's flag (set by the node): the subtask raises it
  /// when it buffered output, and the node's output flusher, ticking every
  /// buffer timeout, sends it a flush. Null: the subtask times its own.
  std::shared_ptr<std::atomic<bool>> flush_request;
};

/// What one subtask wrote for one checkpoint: the state of each operator
/// of its chain (by uid), with the keyed data files written.
struct subtask_checkpoint {
  int32_t vertex = 0;
  int32_t index = 0;
  std::vector<std::string> uids;  // per operator of the chain with state
  std::vector<std::string> names;
  std::vector<subtask_snapshot> states;
};

/// The peer of one channel.
struct channel_peer {
  caf::actor actor;
  uint32_t channel = 0; // the peer's channel index
};

/// The channels of one subtask: its input channels (in index order) and, per
/// outgoing edge of its vertex, its output channels.
struct subtask_wiring {
  std::vector<channel_peer> inputs;
  struct gate {
    int32_t edge = 0;
    std::vector<channel_peer> channels;
  };
  std::vector<gate> outputs;
};

/// A cluster job's code and arguments: what a node needs to rebuild the
/// job's graph (prepare_atom) before subtasks of it are deployed there.
struct job_spec {
  uint64_t job = 0;
  std::string name;
  std::string module_hash;  // content hash of module_bytes
  std::string module_bytes; // the app module (a shared library)
  std::vector<std::string> args;
  int32_t parallelism = 0; // the default parallelism, resolved
  std::string fingerprint; // plan_fingerprint of the submitted graph
  /// HOST:PORT of every node the job runs on: a node connects to them
  /// before it answers, so that records between nodes travel on direct
  /// connections from the first batch on (a route that changed mid-job
  /// could reorder a channel's events).
  std::vector<std::string> peers;
};

/// One subtask of a cluster job, for a node that prepared the job.
struct remote_deployment {
  uint64_t job = 0;
  int32_t vertex = 0;
  int32_t index = 0;
  caf::actor coordinator;
  std::string checkpoint_dir;
  std::string restore_dir; // the checkpoint to restore from, or ""
  std::string job_key;
  uint32_t attempt = 0;
};

/// A job submitted to a cluster coordinator (streamctl run).
struct cluster_submission {
  std::string plan;         // encode_job_plan of the submitter's graph
  std::string module_bytes; // the app module
  std::vector<std::string> args;
  std::string restore_from; // savepoint, chk-<n> or checkpoint root, or ""
  caf::actor listener;      // gets job_done; invalid: detached
};

/// A job sent to the coordinator; `listener` receives job_done.
struct job_submission {
  std::string name;
  std::shared_ptr<const job_graph> graph;
  caf::actor listener;
  std::shared_ptr<const checkpoint_ref> restore; // start from it, or null
};

// -- serialization (messages between processes) ------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, channel_peer& x) {
  return f(caf::meta::type_name("channel_peer"), x.actor, x.channel);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        subtask_wiring::gate& x) {
  return f(caf::meta::type_name("gate"), x.edge, x.channels);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subtask_wiring& x) {
  return f(caf::meta::type_name("subtask_wiring"), x.inputs, x.outputs);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subtask_checkpoint& x) {
  return f(caf::meta::type_name("subtask_checkpoint"), x.vertex, x.index,
           x.uids, x.names, x.states);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_spec& x) {
  return f(caf::meta::type_name("job_spec"), x.job, x.name, x.module_hash,
           x.module_bytes, x.args, x.parallelism, x.fingerprint, x.peers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, remote_deployment& x) {
  return f(caf::meta::type_name("remote_deployment"), x.job, x.vertex,
           x.index, x.coordinator, x.checkpoint_dir, x.restore_dir, x.job_key,
           x.attempt);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_submission& x) {
  return f(caf::meta::type_name("cluster_submission"), x.plan,
           x.module_bytes, x.args, x.restore_from, x.listener);
}

} // namespace libstream::runtime

namespace libstream {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, key_group_range& x) {
  return f(caf::meta::type_name("key_group_range"), x.first, x.last);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, data_file_ref& x) {
  return f(caf::meta::type_name("data_file_ref"), x.name, x.size, x.checksum);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, subtask_snapshot& x) {
  return f(caf::meta::type_name("subtask_snapshot"), x.index, x.key_groups,
           x.keyed_file, x.key_group_offsets, x.operator_state,
           x.source_position, x.finished);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_result& x) {
  return f(caf::meta::type_name("job_result"), x.job_name, x.status, x.error,
           x.duration_ms, x.restarts, x.restarts_from_checkpoint);
}

} // namespace libstream

namespace libstream::runtime {

/// Registers the message types that cross process boundaries with `cfg`
/// (daemons, streamctl, and applications that talk to a cluster).
void add_cluster_message_types(caf::actor_system_config& cfg);

} // namespace libstream::runtime

CAF_BEGIN_TYPE_ID_BLOCK(libstream, caf::first_custom_type_id)

CAF_ADD_TYPE_ID(libstream, (libstream::runtime::batch_msg))
CAF_ADD_TYPE_ID(libstream, (libstream::runtime::deployment))
CAF_ADD_TYPE_ID(libstream, (libstream::runtime::subtask_wiring))
CAF_ADD_TYPE_ID(libstream, (libstream::runtime::job_submission))
CAF_ADD_TYPE_ID(libstream, (libstream::job_result))
CAF_ADD_TYPE_ID(libstream, (libstream::runtime::subtask_checkpoint))
CAF_ADD_TYPE_ID(libstream, (libstream::runtime::job_spec))
CAF_ADD_TYPE_ID(libstream, (libstream::runtime::remote_deployment))
CAF_ADD_TYPE_ID(libstream, (libstream::runtime::cluster_submission))

CAF_ADD_ATOM(libstream, libstream::runtime, remote_batch_atom, "rbatch")
CAF_ADD_ATOM(libstream, libstream::runtime, watermark_atom, "watermark")
CAF_ADD_ATOM(libstream, libstream::runtime, idle_atom, "idle")
CAF_ADD_ATOM(libstream, libstream::runtime, end_atom, "end")
CAF_ADD_ATOM(libstream, libstream::runtime, credit_atom, "credit")
CAF_ADD_ATOM(libstream, libstream::runtime, poll_atom, "poll")
CAF_ADD_ATOM(libstream, libstream::runtime, flush_atom, "flush")
CAF_ADD_ATOM(libstream, libstream::runtime, timer_atom, "timer")
CAF_ADD_ATOM(libstream, libstream::runtime, register_atom, "register")
CAF_ADD_ATOM(libstream, libstream::runtime, deploy_atom, "deploy")
CAF_ADD_ATOM(libstream, libstream::runtime, wire_atom, "wire")
CAF_ADD_ATOM(libstream, libstream::runtime, start_atom, "start")
CAF_ADD_ATOM(libstream, libstream::runtime, cancel_atom, "cancel")
CAF_ADD_ATOM(libstream, libstream::runtime, finished_atom, "finished")
CAF_ADD_ATOM(libstream, libstream::runtime, failed_atom, "failed")
CAF_ADD_ATOM(libstream, libstream::runtime, submit_atom, "submit")
CAF_ADD_ATOM(libstream, libstream::runtime, job_done_atom, "jobdone")
CAF_ADD_ATOM(libstream, libstream::runtime, wakeup_atom, "wakeup")
CAF_ADD_ATOM(libstream, libstream::runtime, demand_atom, "demand")
CAF_ADD_ATOM(libstream, libstream::runtime, seek_atom, "seek")
CAF_ADD_ATOM(libstream, libstream::runtime, stop_timeout_atom, "stoptime")
CAF_ADD_ATOM(libstream, libstream::runtime, commit_atom, "commit")
CAF_ADD_ATOM(libstream, libstream::runtime, stop_atom, "stop")
CAF_ADD_ATOM(libstream, libstream::runtime, barrier_atom, "barrier")
CAF_ADD_ATOM(libstream, libstream::runtime, checkpoint_atom, "chkpoint")
CAF_ADD_ATOM(libstream, libstream::runtime, checkpoint_done_atom, "chkdone")
CAF_ADD_ATOM(libstream, libstream::runtime, abort_checkpoint_atom, "chkabort")
CAF_ADD_ATOM(libstream, libstream::runtime, decline_checkpoint_atom,
             "chkdecl")
CAF_ADD_ATOM(libstream, libstream::runtime, ack_checkpoint_atom, "chkack")
CAF_ADD_ATOM(libstream, libstream::runtime, checkpoint_timer_atom, "chktimer")
CAF_ADD_ATOM(libstream, libstream::runtime, checkpoint_timeout_atom,
             "chktmout")
CAF_ADD_ATOM(libstream, libstream::runtime, restart_atom, "restart")
CAF_ADD_ATOM(libstream, libstream::runtime, savepoint_atom, "savepoint")
CAF_ADD_ATOM(libstream, libstream::runtime, prepare_atom, "prepare")
CAF_ADD_ATOM(libstream, libstream::runtime, release_atom, "release")
CAF_ADD_ATOM(libstream, libstream::runtime, heartbeat_atom, "heartbeat")
CAF_ADD_ATOM(libstream, libstream::runtime, heartbeat_check_atom, "hbcheck")
CAF_ADD_ATOM(libstream, libstream::runtime, list_atom, "list")
CAF_ADD_ATOM(libstream, libstream::runtime, info_atom, "info")
CAF_ADD_ATOM(libstream, libstream::runtime, nodes_atom, "nodes")
CAF_ADD_ATOM(libstream, libstream::runtime, cancel_job_atom, "canceljob")
CAF_ADD_ATOM(libstream, libstream::runtime, settings_atom, "settings")
CAF_ADD_ATOM(libstream, libstream::runtime, wait_slots_atom, "waitslots")

CAF_END_TYPE_ID_BLOCK(libstream)

// In-process only: these carry pointers (batches are moved, job graphs
// shared). Between processes batches go encoded (remote_batch_atom), jobs
// as job_spec and remote_deployment, submissions as cluster_submission.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(libstream::runtime::batch_msg)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(libstream::runtime::deployment)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(libstream::runtime::job_submission)
