#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "libstream/environment.hpp"

#include "common/fault_tolerance.hpp"
#include "stock/enrich.hpp"

namespace stock {

/// What the stock aggregator runs: trades from a CSV file or the built-in
/// generator, counted and averaged per industry per event-time window.
struct job_options {
  std::optional<std::string> input; // CSV file or directory; none = generator
  std::optional<std::string> output;      // CSV file; none = stdout
  // postgresql:// output: names the prepared transactions; default
  // stock_aggregator-<db>.<table>.
  std::optional<std::string> transaction_prefix;
  std::optional<std::string> dead_letter; // malformed lines go here
  uint64_t split_bytes = 0;               // 0: about four per subtask
  // Industries looked up asynchronously (the input then has no industry
  // column).
  std::optional<lookup_options> lookup;
  bool follow = false; // a Redis stream input: unbounded
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

/// Counters the job's functions update (shared with their copies).
struct job_counters {
  std::shared_ptr<std::atomic<uint64_t>> counted
      = std::make_shared<std::atomic<uint64_t>>(0); // trades in windows
  std::shared_ptr<std::atomic<uint64_t>> malformed
      = std::make_shared<std::atomic<uint64_t>>(0);
  std::shared_ptr<std::atomic<uint64_t>> rows
      = std::make_shared<std::atomic<uint64_t>>(0);
};

/// Parses the stock aggregator's arguments (without the program name),
/// also from the --config file they name. Throws
/// libstream::app_usage_error for a bad argument, and for --help (with
/// the help text).
job_options parse_args(const std::vector<std::string>& args);

/// The app's entry point: defines the job in `env` (checks the options
/// first, throwing std::invalid_argument naming the flag).
job_counters define_job(libstream::stream_execution_environment& env,
                        const job_options& opts);

/// parse_args, then define_job: what the stock_aggregator module exports.
void define_app(libstream::stream_execution_environment& env,
                const std::vector<std::string>& args);

/// Runs the job to its end. Throws std::invalid_argument for bad options
/// (also an output path that is the input file, or two outputs on one
/// file), libstream::job_failed (naming file and line) for malformed input
/// without a dead-letter file. The first SIGINT or SIGTERM (blocked by the
/// caller with libstream::block_termination_signals) cancels the job:
/// nothing is written to the output files, and `signal` says which it was.
job_summary run(const job_options& opts);

} // namespace stock
