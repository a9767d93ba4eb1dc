#pragma once

#include <cstdint>
#include <string>

#include "caf/behavior.hpp"
#include "caf/stateful_actor.hpp"

namespace libstream::runtime {

/// A task manager: owns task slots and spawns the subtasks the coordinator
/// deploys to it. Whoever spawns a node registers it with the coordinator
/// (register_atom, node, slots).
struct node_state {
  static inline const char* name = "libstream.node";
  std::string id;
  int32_t slots = 0;
};

caf::behavior node_actor(caf::stateful_actor<node_state>* self, std::string id,
                         int32_t slots);

} // namespace libstream::runtime
