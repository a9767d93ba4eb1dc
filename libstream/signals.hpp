#pragma once

#include <chrono>

#include "libstream/executor.hpp"

namespace libstream {

/// Blocks SIGINT and SIGTERM in the calling thread and so in every thread
/// it starts afterwards (the actor system's workers included), so that
/// only wait_interruptible() receives them. Call it first thing in main(),
/// before anything starts a thread.
void block_termination_signals();

/// What the first SIGINT or SIGTERM does to a job.
enum class on_signal {
  cancel, // cancel: nothing staged is published (file sinks write nothing)
  stop,   // stop with drain: sources end, the job finishes and commits
};

struct interruptible_result {
  job_result result;
  int signal = 0; // the first signal that arrived, 0 = none
};

/// Waits for the job to end, handling SIGINT and SIGTERM (blocked with
/// block_termination_signals): the first one cancels or stops the job as
/// `action` says; a stopped job that has not ended after `stop_grace` is
/// cancelled. A second signal, or a job that has not ended `exit_deadline`
/// after the first (a subtask blocked in a system call), ends the process
/// at once with exit status 128 + signal, without running destructors or
/// flushing anything: output files are never published then (their hidden
/// temporaries stay for the next run to remove).
/// The result's status tells what became of the job: `canceled`, or
/// `finished` when it was stopped (or ended before the signal took
/// effect). The caller exits with 128 + `signal` when it is not 0.
interruptible_result
wait_interruptible(job_client& client, on_signal action,
                   std::chrono::milliseconds stop_grace
                   = std::chrono::milliseconds{1000},
                   std::chrono::milliseconds exit_deadline
                   = std::chrono::milliseconds{1800});

} // namespace libstream
