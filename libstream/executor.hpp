#pragma once

#include <cstdint>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

#include "libstream/config.hpp"
#include "libstream/job_graph.hpp"

namespace libstream {

/// The state of a submitted job, as Flink's JobStatus (subset).
enum class job_status { created, running, finished, canceled, failed };

const char* to_string(job_status s) noexcept;

/// What execute() returns for a job that ended.
struct job_result {
  std::string job_name;
  job_status status = job_status::created;
  std::string error;       // why the job failed, empty otherwise
  int64_t duration_ms = 0; // from submission to the end
  int restarts = 0;         // restarts after task failures
  int restarts_from_checkpoint = 0; // of those, from a completed checkpoint
};

/// Thrown by execute() when the job failed; what() names the operator and
/// the cause.
class job_failed : public std::runtime_error {
public:
  explicit job_failed(const std::string& what) : std::runtime_error(what) {}
};

/// A submitted job: wait for it, or cancel it.
class job_client {
public:
  virtual ~job_client() = default;
  virtual job_status status() = 0;
  /// Stops the job's subtasks at once; wait() then reports `canceled`.
  /// Nothing a two-phase sink staged is published (file sinks leave any
  /// earlier file untouched). Thread-safe, also from a signal thread.
  virtual void cancel() = 0;
  /// Flink's stop with drain: every source ends its input now, as if it
  /// were exhausted; the job then finishes as a bounded job does (the
  /// final watermark fires every window, two-phase sinks commit), and
  /// wait() reports `finished`. Thread-safe.
  virtual void stop() = 0;
  /// Takes a savepoint into a new directory below `dir` and returns its
  /// path once it is complete; throws job_failed when it cannot be taken.
  virtual std::string trigger_savepoint(const std::string& dir) = 0;
  /// Takes a savepoint and ends the job with it (Flink's
  /// stop-with-savepoint): sinks commit up to it, then the job stops and
  /// wait() reports `finished`. Returns the savepoint's path.
  virtual std::string stop_with_savepoint(const std::string& dir) = 0;
  /// Blocks until the job ends.
  virtual job_result wait() = 0;
  /// Blocks until the job ends or `timeout` passed; true when it ended.
  virtual bool wait_for(std::chrono::milliseconds timeout) = 0;
};

/// Runs job graphs: the embedded mini-cluster, or a remote coordinator.
class job_executor {
public:
  virtual ~job_executor() = default;
  virtual std::shared_ptr<job_client> submit(std::shared_ptr<const job_graph> g,
                                             std::string job_name)
      = 0;
};

/// The default executor: a mini-cluster (coordinator + node actors) in an
/// actor system of its own. Defined by the runtime library
/// (libstream_runtime), which an application links.
std::shared_ptr<job_executor>
make_embedded_executor(const execution_config& cfg);

} // namespace libstream
