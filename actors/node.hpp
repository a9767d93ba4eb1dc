#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "libstream/job_graph.hpp"

#include "caf/behavior.hpp"
#include "caf/stateful_actor.hpp"

namespace libstream::runtime {

/// A task manager: owns task slots and network memory, and spawns the
/// subtasks the coordinator deploys to it. Whoever spawns a node registers
/// it with the coordinator (register_atom, node, slots).
struct node_state {
  static inline const char* name = "libstream.node";
  std::string id;
  int32_t slots = 0;
  size_t network_memory = 0;
};

caf::behavior node_actor(caf::stateful_actor<node_state>* self, std::string id,
                         int32_t slots, size_t network_memory);

/// What one batch of subtask `index` of `graph` may take when its slot has
/// `slot_memory` bytes of network memory: every job vertex's subtask
/// `index` shares the slot (slot sharing), and each of their output
/// channels holds an open buffer and `credits_per_channel` batches in
/// flight.
size_t batch_budget(const job_graph& graph, int32_t index,
                    size_t slot_memory);

} // namespace libstream::runtime
