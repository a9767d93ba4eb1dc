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

#include <boost/program_options.hpp>

#include "libstream/executor.hpp"
#include "libstream/signals.hpp"
#include "stock/stock_job.hpp"

namespace po = boost::program_options;

int main(int argc, char** argv) {
  // Before any thread starts: SIGINT and SIGTERM cancel the job cleanly
  // (libstream::wait_interruptible), they do not kill the process mid-line.
  libstream::block_termination_signals();
  stock::job_options o;
  po::options_description desc{"stock_aggregator options"};
  std::string input, output, dead_letter;
  desc.add_options()("help,h", "show this help")(
      "input", po::value(&input),
      "CSV file, or directory of CSV files, with header "
      "timestamp_ms,symbol,industry,price,quantity, read in parallel "
      "splits (default: the built-in generator)")(
      "split-bytes", po::value(&o.split_bytes)->default_value(0),
      "cut input files into splits of this many bytes (0: about four "
      "per subtask)")("output", po::value(&output),
                                           "CSV result file (default: stdout)")(
      "dead-letter", po::value(&dead_letter),
      "write malformed input lines here instead of failing the job")(
      "window-ms", po::value(&o.window_ms)->default_value(o.window_ms),
      "tumbling event-time window size in milliseconds")(
      "max-out-of-orderness-ms",
      po::value(&o.max_out_of_orderness_ms)
          ->default_value(o.max_out_of_orderness_ms),
      "how late (ms) a trade may arrive and still count in its window")(
      "parallelism", po::value(&o.parallelism)->default_value(o.parallelism),
      "parallelism of the job's operators")(
      "records", po::value(&o.records)->default_value(o.records),
      "trades the generator produces (generator only)")(
      "quiet", "generator: print only the summary, not the rows")(
      "print-plan", "print the job's chains, parallelism and partitioning, "
                    "then exit without running it")(
      "config", po::value<std::string>(),
      "INI file with any of these options (key = value); the command line "
      "wins (see configs/stock_aggregator.ini)");
  o.ft.add_options(desc);
  po::variables_map vm;
  try {
    // No positional arguments: a file name without --input is an error,
    // not a silent run of the generator.
    po::store(po::command_line_parser(argc, argv)
                  .options(desc)
                  .positional(po::positional_options_description{})
                  .run(),
              vm);
    if (vm.count("config")) {
      auto path = vm["config"].as<std::string>();
      std::ifstream in{path};
      if (!in) {
        std::cerr << "stock_aggregator: error: cannot open config file '"
                  << path << "'\n";
        return 2;
      }
      po::store(po::parse_config_file(in, desc), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "stock_aggregator: error: " << e.what() << " (see --help)\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << '\n';
    return 0;
  }
  if (vm.count("input"))
    o.input = input;
  if (vm.count("output"))
    o.output = output;
  if (vm.count("dead-letter"))
    o.dead_letter = dead_letter;
  o.ft.read(vm);
  o.print_rows = vm.count("quiet") == 0;
  o.records_given = !vm["records"].defaulted();
  o.plan_only = vm.count("print-plan") > 0;
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
