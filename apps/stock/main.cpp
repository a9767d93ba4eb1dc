// stock_aggregator: trades and average price per industry per minute.
//
//   stock_aggregator                       built-in generator, prints rows
//   stock_aggregator --input trades.csv    reads CSV, writes CSV to stdout
//
// Run with --help for every flag.

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "libstream/app.hpp"
#include "libstream/executor.hpp"
#include "libstream/signals.hpp"
#include "stock/stock_job.hpp"

int main(int argc, char** argv) {
  // Before any thread starts: SIGINT and SIGTERM cancel the job cleanly
  // (libstream::wait_interruptible), they do not kill the process mid-line.
  libstream::block_termination_signals();
  stock::job_options o;
  try {
    o = stock::parse_args({argv + 1, argv + argc});
  } catch (const libstream::app_usage_error& e) {
    if (e.help()) {
      std::cout << e.what() << '\n';
      return 0;
    }
    std::cerr << "stock_aggregator: error: " << e.what() << '\n';
    return 2;
  }
  try {
    auto s = stock::run(o);
    if (o.plan_only) {
      std::cout << s.plan << std::flush;
      if (!std::cout) {
        std::cerr << "stock_aggregator: error: cannot write the plan to "
                     "stdout\n";
        return 1;
      }
      return 0;
    }
    if (s.cancelled) {
      std::fprintf(stderr,
                   "stock_aggregator: %s: the job was cancelled; output "
                   "files are left as they were\n",
                   s.signal == SIGINT ? "interrupted (SIGINT)"
                                      : "terminated (SIGTERM)");
      return 128 + s.signal;
    }
    std::fprintf(stderr,
                 "stock_aggregator: %llu records, %llu result rows, %.3f s, "
                 "%.0f records/s",
                 static_cast<unsigned long long>(s.records),
                 static_cast<unsigned long long>(s.rows), s.seconds,
                 s.seconds > 0 ? static_cast<double>(s.records) / s.seconds
                               : 0.0);
    if (o.dead_letter)
      std::fprintf(stderr, ", %llu malformed lines written to %s",
                   static_cast<unsigned long long>(s.malformed),
                   o.dead_letter->c_str());
    std::fprintf(stderr, "\n");
    if (s.signal != 0)
      std::fprintf(stderr, "stock_aggregator: the job had finished when the "
                           "signal came; its output is complete\n");
    if (!s.savepoint_error.empty())
      std::fprintf(stderr,
                   "stock_aggregator: no savepoint was taken (the job ran to "
                   "its end): %s\n",
                   s.savepoint_error.c_str());
    if (!s.savepoint.empty())
      std::fprintf(stderr,
                   "stock_aggregator: stopped with savepoint %s (resume "
                   "with --from-savepoint)\n",
                   s.savepoint.c_str());
    return 0;
  } catch (const std::invalid_argument& e) {
    std::cerr << "stock_aggregator: error: " << e.what() << '\n';
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "stock_aggregator: error: " << e.what() << '\n';
    return 1;
  }
}
