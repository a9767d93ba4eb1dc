#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_addr.hpp"
#include "caf/behavior.hpp"
#include "caf/response_promise.hpp"
#include "caf/stateful_actor.hpp"
#include "caf/timespan.hpp"

#include "actors/messages.hpp"
#include "libstream/checkpoint/restart_strategy.hpp"

namespace libstream::runtime {

/// Settings of a coordinator that runs as a cluster's daemon.
struct cluster_settings {
  /// Remote nodes not heard of for this long are lost (0 = never checked,
  /// as in the embedded mini-cluster).
  caf::timespan heartbeat_timeout{0};
  caf::timespan heartbeat_interval = std::chrono::seconds{1};
  /// For jobs that set no restart strategy of their own.
  std::optional<restart_strategy> default_restarts;
  /// Where `list` looks for checkpointed jobs to resume (jobs name their
  /// own checkpoint directories).
  std::string checkpoint_dir;
  /// Where stop and savepoint requests without a directory write.
  std::string savepoint_dir;
  int default_parallelism = 0;
  /// How long a restarting job waits for enough free task slots before it
  /// fails (Flink's slot request timeout).
  caf::timespan slot_wait_timeout = std::chrono::minutes{5};
};

/// The job manager: places the subtasks of submitted jobs into the task
/// slots of registered nodes (subtask i of every vertex shares slot i, as
/// Flink's default slot sharing), wires their channels, starts them, and
/// reports each job's end to its listener. A failing subtask fails its job:
/// the others are cancelled and the listener gets the first error. The
/// listener hears of the end, and the slots are free again, only when every
/// subtask of the job has terminated (or after stop_timeout, with the
/// number of subtasks that did not stop in the error).
///
/// Subtasks with two-phase operators (file sinks) report the end of their
/// input and stay alive; once every subtask of the job has finished, the
/// coordinator asks each of them to commit, and the job is finished only
/// when all commits succeeded (a failed commit fails the job).
struct coordinator_state {
  static inline const char* name = "libstream.coordinator";

  struct node_info {
    caf::actor actor;
    int32_t slots = 0;
    int32_t free = 0;
    std::string name;
    std::string address;  // HOST:PORT other nodes connect to
    bool remote = false;  // a node process (heartbeats, cluster jobs)
    bool alive = true;    // lost nodes keep their index, without slots
    int64_t last_seen_ns = 0; // last heartbeat (remote nodes)
    std::set<uint64_t> prepared; // cluster jobs prepared on the node
  };

  /// A checkpoint waiting for the acknowledgements of all subtasks
  /// (Flink's PendingCheckpoint).
  struct pending_checkpoint {
    uint64_t id = 0;
    std::string dir;
    int64_t start_ms = 0; // epoch ms at the trigger
    std::vector<subtask_checkpoint> acks;
    std::set<std::pair<int32_t, int32_t>> acked; // (vertex, index)
    bool savepoint = false;  // triggered by hand, not pruned
    bool stop_after = false; // stop with savepoint: the job ends with it
    bool final = false; // of a finished job: its commits follow it
    caf::response_promise promise; // savepoints: the requester
  };

  struct job_info {
    uint64_t id = 0;
    std::string name;
    std::shared_ptr<const job_graph> graph;
    caf::actor listener;
    std::vector<std::vector<caf::actor>> subtasks; // [vertex][index]
    std::vector<std::pair<size_t, int32_t>> slots; // node index, count
    size_t total = 0;
    size_t deployed = 0;
    size_t wired = 0;
    size_t finished = 0;
    size_t outstanding = 0; // deploy requests without an answer yet
    size_t alive = 0;       // deployed subtasks not yet terminated
    std::vector<caf::actor> committers; // finished, awaiting commit
    size_t committed = 0;
    bool committing = false; // commits asked for: no cancel any more
    // -- checkpoints (Flink's CheckpointCoordinator, per job) --
    std::string key;            // the job id in checkpoint paths
    std::string checkpoint_dir; // <checkpoint dir>/<key>, or empty
    std::shared_ptr<const checkpoint_ref> restore;
    uint64_t next_checkpoint = 1;
    std::map<uint64_t, pending_checkpoint> pending;
    int failed_checkpoints = 0; // in a row
    std::string last_completed_dir;
    int64_t last_completed_ns = 0;
    // -- restarts --
    std::unique_ptr<restart_tracker> restarts;
    std::vector<size_t> slot_node; // slot -> node index
    uint32_t attempt = 0;
    // Subtasks that finished their input: their final state stands in for
    // them in every later checkpoint (Flink's checkpoints after tasks
    // finished). One without a final state ends checkpointing.
    std::map<std::pair<int32_t, int32_t>, subtask_checkpoint> final_states;
    bool final_state_missing = false;
    int restart_count = 0;            // restarts after failures
    int restarts_from_checkpoint = 0; // of those, from a checkpoint
    bool restarting = false; // cancelling the attempt to redeploy
    int64_t restart_wait_ns = 0; // when the restart began waiting
    bool restart_killed = false; // stragglers of the attempt were killed
    bool checkpoint_timer_armed = false; // the periodic trigger runs
    std::string last_failure;
    // -- cluster jobs (submitted by streamctl): their code and arguments,
    // prepared on each node before subtasks are deployed there.
    std::shared_ptr<const job_spec> spec;
    int64_t start_ms = 0;       // wall clock, for listings
    bool waiting_for_slots = false; // a restart lacks free slots
    int64_t waiting_since_ns = 0;
    // Requests (prepare, deploy) without an answer yet, per node: a lost
    // node's are written off at once (its answers never come).
    std::map<size_t, size_t> outstanding_on;
    std::string waiting_reason;
    bool stop_requested = false; // sources deployed later stop at once
    bool ended = false;     // the outcome is decided (status, error)
    job_status status = job_status::created;
    std::string error;
    int64_t start_ns = 0;
  };

  struct subtask_ref {
    uint64_t job;
    int32_t vertex;
    int32_t index;
    bool finished = false;
    bool stale = false; // of an attempt that was restarted: ignored
    bool lost = false;  // its node was lost: already not counted alive
  };

  /// An ended job, for listings (the newest 100 are kept).
  struct ended_job {
    std::string name;
    job_status status = job_status::finished;
    std::string error;
    int64_t start_ms = 0;
    int64_t end_ms = 0;
  };

  std::vector<node_info> nodes;
  std::map<uint64_t, job_info> jobs;
  std::map<uint64_t, ended_job> history;
  std::map<caf::actor_addr, subtask_ref> subtasks;
  uint64_t next_job = 1;
  caf::timespan stop_timeout = std::chrono::seconds{30};
  cluster_settings cluster;
};

/// `stop_timeout`: how long an ended job's subtasks may take to terminate.
caf::behavior coordinator_actor(caf::stateful_actor<coordinator_state>* self,
                                caf::timespan stop_timeout,
                                cluster_settings cluster = {});

/// Spawns a coordinator. (Always with an argument: CAF 0.17.6 dereferences
/// a null argument pack when a stateful actor is spawned without one,
/// which AddressSanitizer reports in caf/detail/init_fun_factory.hpp.)
caf::actor spawn_coordinator(caf::actor_system& sys,
                             caf::timespan stop_timeout
                             = std::chrono::seconds{30});

/// Spawns the coordinator of a cluster (stream-coordinator): remote nodes
/// register and heartbeat, streamctl submits jobs as plans and modules.
caf::actor spawn_cluster_coordinator(caf::actor_system& sys,
                                     caf::timespan stop_timeout,
                                     cluster_settings settings);

} // namespace libstream::runtime
