#pragma once

// The nexmark app: generates the Nexmark events and runs a query on them,
// writing its rows (--output) or measuring it like the Nexmark runner.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/fault_tolerance.hpp"
#include "libstream/environment.hpp"
#include "nexmark/generator.hpp"

namespace nexmark {

struct options {
  std::string query = "q0";
  bool all = false;
  uint64_t events = 1'000'000;
  int parallelism = 1;
  std::optional<std::string> output;      // CSV rows (a directory for q10)
  std::optional<std::string> dump_events; // directory for the event CSVs
  std::string side_input;                 // q13's key,value CSV file
  generator_config generator;
  apps::fault_tolerance ft;
};

/// Parses the command line (without the program name); throws
/// libstream::app_usage_error.
options parse_args(const std::vector<std::string>& args);

/// Defines the job of `o.query` in `env`.
void define_job(libstream::stream_execution_environment& env,
                const options& o, const std::string& query);

/// The module entry point: the job from the command line's arguments.
void define_app(libstream::stream_execution_environment& env,
                const std::vector<std::string>& args);

/// What a measured run took, like the Nexmark runner reports it.
struct measurement {
  std::string query;
  uint64_t events = 0;
  double wall_s = 0;
  double cpu_s = 0; // this process's user + system time
  int signal = 0;       // SIGINT or SIGTERM that came, 0 = none
  bool cancelled = false; // by that signal: no output was written
  std::string savepoint;       // stopped with this savepoint
  std::string savepoint_error; // --stop-with-savepoint-after-ms failed
  double cores() const { return wall_s > 0 ? cpu_s / wall_s : 0; }
  double events_per_s() const { return wall_s > 0 ? events / wall_s : 0; }
  double events_per_core_s() const {
    return cpu_s > 0 ? events / cpu_s : 0;
  }
};

/// Runs query `query` until it ends, or until SIGINT or SIGTERM cancels
/// it (blocked with libstream::block_termination_signals); throws
/// libstream::job_failed. With checkpoints, --output FILE's rows are
/// exactly-once part files in parts_dir(FILE) while the job runs, merged
/// into FILE when it finished (a run stopped with a savepoint keeps
/// them for the resumed one).
measurement run(const options& o, const std::string& query);

/// Where the part files of --output FILE are while a checkpointed job
/// runs: FILE.parts.
std::string parts_dir(const std::string& output);

/// Writes person.csv, auction.csv and bid.csv of the first `o.events`
/// events into `dir` (created if missing).
void dump_events(const options& o, const std::string& dir);

/// The CSV headers of the dumped events.
extern const char* const person_header;
extern const char* const auction_header;
extern const char* const bid_header;

} // namespace nexmark
