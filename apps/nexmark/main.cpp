// nexmark: the Nexmark benchmark's events and queries on libstream.
//
//   nexmark --query q5 --events 10000000             measure one query
//   nexmark --all --events 10000000                  measure every query
//   nexmark --query q2 --events 100000 --output q2.csv   the result rows
//   nexmark --events 100000 --dump-events DIR        the events as CSV
//
// Run with --help for every flag.

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

int main(int argc, char** argv) {
  libstream::block_termination_signals();
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
      nexmark::dump_events(o, *o.dump_events);
      std::fprintf(stderr, "nexmark: %llu events written to %s\n",
                   static_cast<unsigned long long>(o.events),
                   o.dump_events->c_str());
      return 0;
    }
    if (o.all) {
      print_header();
      for (auto& q : nexmark::queries())
        print_row(nexmark::run(o, q.name));
      return 0;
    }
    auto m = nexmark::run(o, o.query);
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
