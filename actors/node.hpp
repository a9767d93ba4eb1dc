#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "libstream/app.hpp"
#include "libstream/job_graph.hpp"

#include "caf/behavior.hpp"
#include "caf/stateful_actor.hpp"

namespace libstream::runtime {

/// A task manager: owns task slots and network memory, and spawns the
/// subtasks the coordinator deploys to it. Whoever spawns a node registers
/// it with the coordinator (register_atom, node, slots).
///
/// A node of a cluster also prepares cluster jobs (prepare_atom,
/// job_spec): it caches the app module by content hash below its state
/// directory, loads it, rebuilds the job graph from the job's arguments and
/// checks it against the plan's fingerprint; then it deploys subtasks of
/// the job (deploy_atom, remote_deployment) from that graph. A job's
/// module and graph are dropped with (release_atom, job).
struct node_state {
  static inline const char* name = "libstream.node";

  struct prepared_job {
    app_module module; // keeps the code of the graph's operators loaded
    std::shared_ptr<const job_graph> graph;
  };

  std::string id;
  int32_t slots = 0;
  size_t network_memory = 0;
  std::string state_dir; // cluster nodes: module cache and local state
  std::string address;   // HOST:PORT other nodes reach this one at
  std::map<uint64_t, prepared_job> jobs;
  /// Subtasks spawned for cluster jobs, by job, to stop them.
  std::map<uint64_t, std::vector<caf::actor>> subtasks;
  /// The output flusher (Flink's): subtasks with a buffer timeout, by the
  /// timeout in ms. Every timeout, those that raised their flag since the
  /// last tick get a flush. One timer per node and timeout instead of one
  /// per subtask and timeout: each CAF timer wakes the clock thread, which
  /// with hundreds of subtasks on two cores preempted them thousands of
  /// times a second.
  struct flushable {
    caf::weak_actor_ptr subtask;
    std::shared_ptr<std::atomic<bool>> request;
  };
  std::map<int64_t, std::vector<flushable>> flushables;
};

caf::behavior node_actor(caf::stateful_actor<node_state>* self, std::string id,
                         int32_t slots, size_t network_memory,
                         std::string state_dir, std::string address);

/// The credits (batches in flight) of each channel of an outgoing edge of
/// `channels` channels: `credits_per_channel` (C) on an edge of one or two
/// channels, max(1, 2C / channels) on wider edges, so that an edge holds
/// at most max(2C, channels) batches in flight instead of C x channels.
/// Spare credits keep a producer running while a consumer is scheduled,
/// which matters on narrow edges; on a wide edge its many consumers run in
/// turn anyway, and every credit a channel does not hold makes room for
/// larger batches in the network memory (see batch_budget). The same on
/// channels to other nodes and on broadcast edges (not measured there).
int channel_credits(int credits_per_channel, size_t channels) noexcept;

/// What one batch of subtask `index` of `graph` may take when its slot has
/// `slot_memory` bytes of network memory: every job vertex's subtask
/// `index` shares the slot (slot sharing), and each of their output
/// channels holds an open buffer and its credits' batches in flight
/// (channel_credits).
size_t batch_budget(const job_graph& graph, int32_t index,
                    size_t slot_memory);

} // namespace libstream::runtime
