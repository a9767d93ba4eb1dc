#pragma once

// The fault-tolerance options every example app takes (checkpoints, state
// backend, savepoints, input rate), declared, checked and applied in one
// place so that the apps agree on flags, config keys and messages.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/program_options/options_description.hpp>
#include <boost/program_options/variables_map.hpp>

#include "libstream/config.hpp"
#include "libstream/executor.hpp"

namespace apps {

struct fault_tolerance {
  // With a checkpoint directory: checkpoints every interval, and the apps'
  // file outputs are directories of exactly-once part files.
  std::optional<std::string> checkpoint_dir;
  int64_t checkpoint_interval_ms = 1000;
  std::string checkpointing_mode = "exactly-once";
  std::string state_backend = "memory"; // memory or leveldb
  std::string state_dir;                // LevelDB's local directory
  std::optional<std::string> from_savepoint; // savepoint, chk-<n> or root
  double rate = 0;                           // input records/s, 0 = no cap
  // Stop with a savepoint into savepoint_dir after this many ms (0 = no).
  int64_t stop_with_savepoint_after_ms = 0;
  std::optional<std::string> savepoint_dir;

  /// Declares --checkpoint-dir, --checkpoint-interval-ms,
  /// --checkpointing-mode, --state-backend, --state-dir, --from-savepoint,
  /// --savepoint-dir, --stop-with-savepoint-after-ms and --rate (each also
  /// a config-file key), bound to this object, which must outlive parsing.
  void add_options(boost::program_options::options_description& desc);

  /// Takes the optional values from a parsed command line.
  void read(const boost::program_options::variables_map& vm);

  /// Throws std::invalid_argument naming the flag for a bad value.
  void validate() const;

  bool checkpointed() const { return checkpoint_dir.has_value(); }

  /// Sets checkpointing, restore and the state backend of `cfg`.
  void apply(libstream::execution_config& cfg) const;
};

/// Stops a job with a savepoint after a delay, from a thread of its own (the
/// main thread waits for signals), unless the job ended before.
class savepoint_stopper {
public:
  savepoint_stopper(std::shared_ptr<libstream::job_client> client,
                    const fault_tolerance& ft);
  ~savepoint_stopper();

  /// Waits for the thread; then path() or error() says what happened.
  void join();
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }

private:
  std::thread thread_;
  std::string path_;
  std::string error_;
};

} // namespace apps
