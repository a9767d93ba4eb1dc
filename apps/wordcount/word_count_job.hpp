#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/fault_tolerance.hpp"
#include "libstream/environment.hpp"
#include "libstream/host_port.hpp"

namespace wordcount {

struct options {
  std::optional<std::string> input;
  std::optional<libstream::host_port> socket;
  std::optional<std::string> output;
  std::optional<int> parallelism;
  std::optional<int64_t> window_ms;
  apps::fault_tolerance ft;
};

/// Parses word_count's arguments (without the program name), also from the
/// --config file they name. Throws libstream::app_usage_error for a bad
/// argument, and for --help (with the help text).
options parse_args(const std::vector<std::string>& args);

/// Defines the job in `env`.
void define_job(libstream::stream_execution_environment& env,
                const options& o);

/// parse_args, then define_job: what the word_count module exports.
void define_app(libstream::stream_execution_environment& env,
                const std::vector<std::string>& args);

} // namespace wordcount
