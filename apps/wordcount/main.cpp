// word_count: the classic streaming word count.
//
//   word_count                            counts the built-in text
//   word_count --input book.txt           final count per word
//   word_count --socket localhost:9999    rolling counts from a TCP server
//   word_count --input book.txt --window-ms 1000
//                                         counts per 1 s processing-time window
//
// Run with --help for every flag and what is printed in each mode.

#include <csignal>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include "libstream/app.hpp"
#include "libstream/libstream.hpp"
#include "libstream/signals.hpp"
#include "wordcount/word_count_job.hpp"

using namespace libstream;
using namespace wordcount;

namespace {

constexpr const char* prog = "word_count";

/// Runs the job; says whether a signal stopped or cancelled it.
interruptible_result run(const options& o, std::string& savepoint) {
  stream_execution_environment env;
  define_job(env, o);
  // A bounded input is cancelled by the first signal (a partial count
  // must not look like a result); an unbounded one is stopped: the source
  // ends as if the server had closed the connection, and what was counted
  // is written out.
  auto client = env.execute_async("word count");
  apps::savepoint_stopper stopper{client, o.ft};
  auto outcome = wait_interruptible(
      *client, o.socket ? on_signal::stop : on_signal::cancel);
  stopper.join();
  if (!stopper.error().empty())
    std::cerr << prog << ": no savepoint was taken: " << stopper.error()
              << '\n';
  savepoint = stopper.path();
  if (outcome.result.status == job_status::failed)
    throw job_failed("job '" + outcome.result.job_name
                     + "' failed: " + outcome.result.error);
  return outcome;
}

} // namespace

int main(int argc, char** argv) {
  // Before any thread starts (see wait_interruptible in run()).
  block_termination_signals();
  options o;
  try {
    o = parse_args({argv + 1, argv + argc});
  } catch (const app_usage_error& e) {
    if (e.help()) {
      std::cout << e.what() << '\n';
      return 0;
    }
    std::cerr << prog << ": error: " << e.what() << '\n';
    return 2;
  }
  if (o.input) {
    // Fail before the job starts, with a message about the file only.
    std::ifstream probe{*o.input};
    if (!probe) {
      std::cerr << prog << ": error: cannot open input file '" << *o.input
                << "': " << std::strerror(errno) << '\n';
      return 1;
    }
  }
  try {
    std::string savepoint;
    auto outcome = run(o, savepoint);
    if (!savepoint.empty())
      std::cerr << prog << ": stopped with savepoint " << savepoint
                << " (resume with --from-savepoint)\n";
    auto sig = outcome.signal;
    if (sig == 0)
      return 0;
    auto cancelled = outcome.result.status == job_status::canceled;
    if (!cancelled && !o.socket) {
      std::cerr << prog << ": the job had finished when the signal came; "
                           "its output is complete\n";
      return 0;
    }
    std::cerr << prog << ": "
              << (sig == SIGINT ? "interrupted (SIGINT)"
                                : "terminated (SIGTERM)")
              << (cancelled ? ": the job was cancelled; output files are "
                              "left as they were"
                            : ": the input was stopped and what was counted "
                              "is written")
              << '\n';
    return 128 + sig;
  } catch (const std::invalid_argument& e) {
    std::cerr << prog << ": error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << prog << ": error: " << e.what() << '\n';
    return 1;
  }
}
