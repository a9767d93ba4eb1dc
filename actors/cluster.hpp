#pragma once

// What the cluster's processes share: the message types that cross them,
// the actor system settings, and building a submission from an app module.

#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/fwd.hpp"

#include "actors/messages.hpp"
#include "libstream/host_port.hpp"

namespace libstream::runtime {

/// An actor system config for a cluster process: the middleman (CAF's
/// network layer, with direct connections between nodes), libstream's
/// message types, the worker pool (`threads` workers, 0 = cores) and a
/// quiet logger.
void configure_cluster_process(caf::actor_system_config& cfg, int threads);

/// The text of an error: the message a libstream actor gave it, else
/// CAF's rendering.
std::string error_text(caf::actor_system& sys, const caf::error& err);

/// Loads the app module at `path`, builds its job graph from `args` (with
/// `parallelism` as the default parallelism when > 0, else the app's own,
/// else `fallback_parallelism` when > 0, else the cores here), and returns
/// the submission: the plan, the module's bytes and the arguments. Throws
/// app_usage_error for bad app arguments, std::runtime_error for a module
/// that cannot be loaded, std::invalid_argument for a misconfigured job.
cluster_submission make_cluster_submission(const std::string& path,
                                           const std::vector<std::string>& args,
                                           int parallelism,
                                           int fallback_parallelism,
                                           std::string* job_name = nullptr);

} // namespace libstream::runtime
