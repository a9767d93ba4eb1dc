#pragma once

// What the daemons share: CAF's own options, and waiting for SIGINT or
// SIGTERM. (Their options are read by apps::parse_options, as the apps'
// are.)

#include <string>
#include <vector>

namespace caf {
class actor_system_config;
} // namespace caf

namespace daemons {

/// Takes CAF's own options out of `args` (--caf#KEY=VALUE, e.g.
/// --caf#scheduler.max-threads=4: they pass through to the actor system)
/// and returns them.
std::vector<std::string> take_caf_options(std::vector<std::string>& args);

/// Applies options taken by take_caf_options to `cfg` (after libstream's
/// own settings, so they win). Throws std::invalid_argument naming a bad
/// one.
void apply_caf_options(caf::actor_system_config& cfg,
                       const std::vector<std::string>& options);

/// Blocks SIGINT and SIGTERM (call first thing in main), so that
/// wait_for_signal receives them.
void block_signals();

/// Waits up to `ms` milliseconds (forever when < 0) for SIGINT or SIGTERM;
/// returns it, or 0 after the timeout.
int wait_for_signal(long ms);

} // namespace daemons
