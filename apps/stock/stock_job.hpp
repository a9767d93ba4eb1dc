#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/fault_tolerance.hpp"

namespace stock {

/// What the stock aggregator runs: trades from a CSV file or the built-in
/// generator, counted and averaged per industry per event-time window.
struct job_options {
  std::optional<std::string> input; // CSV file or directory; none = generator
  std::optional<std::string> output;      // CSV file; none = stdout
  std::optional<std::string> dead_letter; // malformed lines go here
  uint64_t split_bytes = 0;               // 0: about four per subtask
  int64_t window_ms = 60000;
  int64_t max_out_of_orderness_ms = 5000;
  int parallelism = 1;
  uint64_t records = 5000000; // generator only
  bool records_given = false; // --records was on the command line
  bool print_rows = true;     // generator only: print result rows
  bool plan_only = false;     // build the job, describe its plan, run nothing
  // Checkpoints, state backend, savepoints, rate: with a checkpoint
  // directory, --output and --dead-letter name directories of
  // exactly-once part files.
  apps::fault_tolerance ft;
};

struct job_summary {
  uint64_t records = 0;   // trades that entered the windows
  uint64_t malformed = 0; // lines sent to the dead-letter file
  uint64_t rows = 0;      // result rows written
  double seconds = 0;
  int signal = 0;   // SIGINT or SIGTERM arrived (0 = none)
  bool cancelled = false; // the signal cancelled the job: nothing written
  std::string savepoint;  // the savepoint the job stopped with, if any
  std::string savepoint_error; // why the savepoint could not be taken
  std::string plan; // with plan_only: the decoded Cap'n Proto job plan
};

/// Runs the job to its end. Throws std::invalid_argument for bad options
/// (also an output path that is the input file, or two outputs on one
/// file), libstream::job_failed (naming file and line) for malformed input
/// without a dead-letter file. The first SIGINT or SIGTERM (blocked by the
/// caller with libstream::block_termination_signals) cancels the job:
/// nothing is written to the output files, and `signal` says which it was.
job_summary run(const job_options& opts);

} // namespace stock
