// nexmark: the Nexmark benchmark's events and queries on libstream.
//
//   nexmark --query q5 --events 10000000             measure one query
//   nexmark --all --events 10000000                  measure every query
//   nexmark --query q2 --events 100000 --output q2.csv   the result rows
//   nexmark --events 100000 --dump-events DIR        the events as CSV
//
// Run with --help for every flag.

#include <csignal>
#include <cstdio>
#include <iostream>

#include "libstream/app.hpp"
#include "libstream/executor.hpp"
#include "libstream/signals.hpp"
#include "nexmark/nexmark_job.hpp"
#include "nexmark/queries.hpp"

namespace {

void print_row(const nexmark::measurement& m) {
  std::printf("%-5s %12llu %9.3f %9.3f %6.2f %14.0f %14.0f\n",
              m.query.c_str(), static_cast<unsigned long long>(m.events),
              m.wall_s, m.cpu_s, m.cores(), m.events_per_s(),
              m.events_per_core_s());
  std::fflush(stdout);
}

void print_header() {
  std::printf("%-5s %12s %9s %9s %6s %14s %14s\n", "query", "events",
              "wall s", "cpu s", "cores", "events/s", "events/s/core");
}

} // namespace

/// Says what became of a run that a signal or a savepoint ended; true
/// when it was cancelled (the caller exits with 128 + signal).
bool report_end(const nexmark::measurement& m) {
  if (m.cancelled) {
    std::fprintf(stderr,
                 "nexmark: %s: the job was cancelled; output files are left "
                 "as they were\n",
                 m.signal == SIGINT ? "interrupted (SIGINT)"
                                    : "terminated (SIGTERM)");
    return true;
  }
  if (!m.savepoint_error.empty())
    std::fprintf(stderr,
                 "nexmark: no savepoint was taken (the job ran to its end): "
                 "%s\n",
                 m.savepoint_error.c_str());
  if (!m.savepoint.empty())
    std::fprintf(stderr,
                 "nexmark: stopped with savepoint %s (resume with "
                 "--from-savepoint)\n",
                 m.savepoint.c_str());
  return false;
}

int main(int argc, char** argv) {
  nexmark::options o;
  try {
    o = nexmark::parse_args({argv + 1, argv + argc});
  } catch (const libstream::app_usage_error& e) {
    if (e.help()) {
      std::cout << e.what() << '\n';
      return 0;
    }
    std::cerr << "nexmark: error: " << e.what() << '\n';
    return 2;
  }
  try {
    if (o.dump_events) {
      // No threads, files renamed into place at the end: a signal may end
      // it as it comes.
      nexmark::dump_events(o, *o.dump_events);
      std::fprintf(stderr, "nexmark: %llu events written to %s\n",
                   static_cast<unsigned long long>(o.events),
                   o.dump_events->c_str());
      return 0;
    }
    // Jobs run threads: from here on SIGINT and SIGTERM are taken by
    // wait_interruptible (cancel the job, then exit 128 + signal).
    libstream::block_termination_signals();
    if (o.all) {
      print_header();
      for (auto& q : nexmark::queries()) {
        auto m = nexmark::run(o, q.name);
        if (report_end(m))
          return 128 + m.signal;
        print_row(m);
      }
      return 0;
    }
    auto m = nexmark::run(o, o.query);
    if (report_end(m))
      return 128 + m.signal;
    if (o.output) {
      std::fprintf(stderr, "nexmark: %s over %llu events in %.3f s\n",
                   o.query.c_str(), static_cast<unsigned long long>(m.events),
                   m.wall_s);
      return 0;
    }
    print_header();
    print_row(m);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "nexmark: error: " << e.what() << '\n';
    return 1;
  }
}
