#pragma once

// What the daemons and streamctl share: reading options from the command
// line and an INI file (the command line wins), and waiting for SIGINT or
// SIGTERM.

#include <string>

#include <boost/program_options.hpp>

namespace daemons {

/// Parses `argv` with `desc` (no positional arguments) and, when --config
/// names a file, that INI file too. Throws std::invalid_argument with a
/// one-line message (unknown option, bad value, unreadable file).
boost::program_options::variables_map
parse_options(int argc, char** argv,
              const boost::program_options::options_description& desc);

/// Blocks SIGINT and SIGTERM (call first thing in main), so that
/// wait_for_signal receives them.
void block_signals();

/// Waits up to `ms` milliseconds (forever when < 0) for SIGINT or SIGTERM;
/// returns it, or 0 after the timeout.
int wait_for_signal(long ms);

} // namespace daemons
