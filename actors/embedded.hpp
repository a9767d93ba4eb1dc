#pragma once

// The CAF-facing entry points: run libstream jobs inside an actor system the
// application owns.

#include <memory>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

#include "libstream/config.hpp"
#include "libstream/executor.hpp"

namespace libstream {

/// A mini-cluster (one coordinator, nodes with task slots) running in `sys`,
/// which must outlive the executor and every job it runs. Nodes are added
/// as jobs need slots, unless cfg.slots_per_node is set.
std::shared_ptr<job_executor>
make_embedded_executor(caf::actor_system& sys, const execution_config& cfg);

} // namespace libstream
