#pragma once

// Command lines with an INI file behind them, as every executable here
// takes them (the apps and the daemons): every option is also a key of the
// file that --config names, and the command line wins.

#include <string>
#include <vector>

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

namespace apps {

/// Parses `args` (without the program name) with `desc`, then the INI file
/// that --config names. Positional arguments are refused: a stray word (a
/// file name without its flag) is an error, not silently ignored. Throws
/// std::invalid_argument with a one-line message (unknown option, bad
/// value, unreadable file).
boost::program_options::variables_map
parse_options(const std::vector<std::string>& args,
              const boost::program_options::options_description& desc);

} // namespace apps
