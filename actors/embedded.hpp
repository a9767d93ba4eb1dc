#pragma once

// The CAF-facing entry points: run libstream jobs inside an actor system the
// application owns.

#include <memory>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

#include "libstream/config.hpp"
#include "libstream/executor.hpp"

namespace caf {
class actor_system_config;
} // namespace caf

namespace libstream {

/// Messages a subtask handles before it yields its worker thread.
constexpr int worker_pool_max_throughput = 64;

/// Sets up `cfg`'s scheduler as libstream's worker pool: `threads` workers
/// (0 = the number of cores) sharing one queue, where an actor woken by
/// another runs before those ready earlier (actors/worker_pool.cpp), each
/// subtask yielding after worker_pool_max_throughput messages. Installed
/// as the system's scheduler module, it replaces CAF's
/// `scheduler.policy`. The embedded executor's own actor system and the
/// daemons use it; an application that runs jobs in its own actor system
/// calls it on that system's config for the same behaviour.
void configure_worker_pool(caf::actor_system_config& cfg, int threads = 0);

/// A mini-cluster (one coordinator, nodes with task slots) running in `sys`,
/// which must outlive the executor and every job it runs. Nodes are added
/// as jobs need slots, unless cfg.slots_per_node is set.
std::shared_ptr<job_executor>
make_embedded_executor(caf::actor_system& sys, const execution_config& cfg);

} // namespace libstream
