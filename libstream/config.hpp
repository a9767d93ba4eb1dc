#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "libstream/checkpoint/barrier_aligner.hpp"
#include "libstream/checkpoint/restart_strategy.hpp"
#include "libstream/key_group.hpp"
#include "libstream/state/state_backend.hpp"
#include "libstream/time.hpp"
#include "libstream/watermark_strategy.hpp"

namespace libstream {

/// Periodic checkpoints (Flink's CheckpointConfig). Off while the
/// interval is 0.
struct checkpoint_config {
  /// Milliseconds between the start of one checkpoint and the next; 0 = no
  /// checkpoints.
  duration_ms interval = 0;
  /// Where checkpoints go: <dir>/<job id>/chk-<n>/. Required with an
  /// interval.
  std::string dir;
  checkpointing_mode mode = checkpointing_mode::exactly_once;
  /// A checkpoint not complete after this long is abandoned.
  duration_ms timeout = 10 * 60 * 1000;
  /// At least this long between the end of one and the start of the next.
  duration_ms min_pause = 0;
  /// Checkpoints in flight at once.
  int max_concurrent = 1;
  /// Failed checkpoints in a row that the job tolerates; one more fails it.
  int tolerable_failures = 0;
  /// Complete checkpoints kept; older ones are removed.
  int retained = 3;
  /// Start from this savepoint, checkpoint (chk-<n>) or checkpoint root
  /// (then its most recently completed checkpoint); empty = fresh state.
  std::string restore_from;
  /// Start even when the checkpoint has state of operators (uids) the job
  /// does not have; that state is dropped.
  bool allow_non_restored_state = false;
};

/// Job-wide settings. Every value here is the default a user of Flink would
/// expect unless noted; each can be overridden per job.
struct execution_config {
  /// Parallelism of operators that set none. 0 = the number of cores.
  int default_parallelism = 0;

  /// Upper bound of any operator's parallelism: the number of key groups.
  int max_parallelism = default_max_parallelism;

  /// A channel's buffer is sent after at most this long (ms) even when it is
  /// not full. 0 sends every record at once (lowest latency).
  duration_ms buffer_timeout = 5;

  /// A channel's buffer is sent when it holds this many bytes of records.
  size_t batch_bytes = 32 * 1024;

  /// Batches a consumer accepts per input channel before the producer must
  /// wait for credit, on an edge of one or two channels; a wider edge of N
  /// channels gives each max(1, 2 x this / N) (runtime::channel_credits).
  /// Memory in flight <= channels x credits x batch size.
  int credits_per_channel = 4;

  /// How often periodic watermarks are emitted (ms).
  duration_ms auto_watermark_interval = default_auto_watermark_interval;

  /// Task slots of each node of the embedded mini-cluster. 0 = as many as
  /// the job's highest parallelism (every subtask gets a slot).
  int slots_per_node = 0;

  /// Nodes (task managers) of the embedded mini-cluster.
  int nodes = 1;

  checkpoint_config checkpointing;

  /// Where keyed state lives: memory (default) or LevelDB.
  state_backend_config state_backend;

  /// What happens when a task fails: restart from the latest completed
  /// checkpoint (or from the start) per the strategy, or fail the job.
  /// Unset: no restarts without checkpoints, and with checkpoints a fixed
  /// delay of 1 s for up to 3 restarts.
  std::optional<restart_strategy> restarts;

  restart_strategy effective_restarts() const {
    if (restarts)
      return *restarts;
    return checkpointing.interval > 0 ? restart_strategy::fixed(3, 1000)
                                      : restart_strategy::no_restart();
  }

  /// Runs every subtask actor on a thread of its own (CAF's detached
  /// actors) instead of the node's pool of worker threads. The pool is the
  /// default: a node's threads do not grow with its slots and jobs, and
  /// stream-bench measures the pool at least as fast on 2 cores (the
  /// pool's scheduler shares one queue among the workers, and a subtask
  /// woken by a producer runs on the next free worker, before those that
  /// were ready earlier: see configure_worker_pool).
  /// Subtasks with LevelDB state always get a thread of their own, as
  /// blocking work must not stall the pool: a LevelDB read or compaction
  /// stall blocks only that subtask.
  bool thread_per_subtask = false;

  /// Worker threads of the embedded executor's own actor system (CAF's
  /// scheduler.max-threads). 0 = the number of cores. Executors made on an
  /// application's actor system use that system's scheduler.
  int worker_threads = 0;

  /// Network memory of each node of the embedded mini-cluster, in bytes
  /// (Flink's taskmanager.memory.network): the bound on records buffered
  /// in channels and in flight. Each task slot gets an equal share; a
  /// subtask's output channels split its slot's share, each channel
  /// holding its open buffer and a batch per credit in flight,
  /// so batches shrink below `batch_bytes` when a slot has many channels
  /// (at high parallelism) instead of memory growing with parallelism
  /// squared. Channels take buffers only once they carry records, and only
  /// those divide the share (see network_output_base).
  size_t network_memory = size_t{128} << 20;

  /// How long subtasks may take to stop when their job ends or restarts
  /// (Flink's task cancellation timeout); then they are killed, and a
  /// restart still waiting after twice this fails the job. A setting of
  /// the executor (the config it is made with), not of single jobs.
  duration_ms cancellation_timeout = 30000;

  /// Batch capacity in records for a record of `record_size` bytes, when a
  /// channel's batch may hold at most `budget_bytes` (its share of the
  /// network memory; at least one record).
  size_t batch_records(size_t record_size,
                       size_t budget_bytes = SIZE_MAX) const noexcept {
    if (buffer_timeout == 0)
      return 1;
    if (record_size == 0)
      record_size = 1;
    auto n = batch_bytes / record_size;
    if (n < 16)
      n = 16;
    if (n > 4096)
      n = 4096;
    auto fit = budget_bytes / record_size;
    if (fit < n)
      n = fit < 1 ? 1 : fit;
    return n;
  }
};

/// Resolves default_parallelism 0 to the number of cores.
int effective_default_parallelism(const execution_config& cfg);

/// Throws std::invalid_argument naming the bad setting.
void validate(const execution_config& cfg);

} // namespace libstream
