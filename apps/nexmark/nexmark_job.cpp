#include "nexmark/nexmark_job.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <boost/program_options.hpp>

#include "common/options.hpp"
#include "libstream/file_io.hpp"
#include "libstream/signals.hpp"
#include "libstream/app.hpp"
#include "libstream/libstream.hpp"
#include "nexmark/queries.hpp"

using namespace libstream;

namespace nexmark {

const char* const person_header
    = "id,name,email_address,credit_card,city,state,date_time,extra";
const char* const auction_header
    = "id,item_name,description,initial_bid,reserve,date_time,expires,"
      "seller,category,extra";
const char* const bid_header
    = "auction,bidder,price,channel,url,date_time,extra";

options parse_args(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  options o;
  std::string output, dump;
  po::options_description desc{"nexmark options"};
  desc.add_options()("help,h", "show this help")(
      "query", po::value(&o.query)->default_value(o.query),
      "the query to run: q0, q1, ... (see --help for those built)")(
      "all", "run every query in turn and print one table")(
      "events", po::value(&o.events)->default_value(o.events),
      "events to generate")(
      "parallelism", po::value(&o.parallelism)->default_value(o.parallelism),
      "parallelism of the job's operators")(
      "output", po::value(&output),
      "write the query's result rows as CSV to this file (a directory of "
      "part files with checkpoints; for q10 a directory partitioned "
      "dt=yyyy-MM-dd/hm=HH:mm); without it the run is measured")(
      "side-input", po::value(&o.side_input),
      "q13's side input: a CSV file of key,value lines (default: the "
      "reference's table, key i and value i for i below 10000)")(
      "dump-events", po::value(&dump),
      "write the generated events as person.csv, auction.csv and bid.csv "
      "into this directory, then exit")(
      "event-rate",
      po::value(&o.generator.events_per_second)
          ->default_value(o.generator.events_per_second),
      "events per second of event time (the reference's first-event "
      "rate; it does not slow the run)")(
      "base-time-ms",
      po::value(&o.generator.base_time_ms)
          ->default_value(o.generator.base_time_ms),
      "event time of the first event (epoch ms)")(
      "config", po::value<std::string>(),
      "INI file with any of these options (key = value); the command line "
      "wins");
  o.ft.add_options(desc);
  po::variables_map vm;
  try {
    vm = apps::parse_options(args, desc);
  } catch (const std::invalid_argument& e) {
    throw app_usage_error(std::string{e.what()} + " (see --help)");
  }
  if (vm.count("help")) {
    std::ostringstream text;
    text << desc << "\nqueries:";
    for (auto& q : queries())
      text << "\n  " << q.name << "  " << q.title;
    throw app_usage_error(text.str(), true);
  }
  o.ft.read(vm);
  o.all = vm.count("all") > 0;
  if (vm.count("output"))
    o.output = output;
  if (vm.count("dump-events"))
    o.dump_events = dump;
  try {
    if (!o.all)
      query_named(o.query);
    if (o.parallelism < 1)
      throw std::invalid_argument("--parallelism must be at least 1, got "
                                  + std::to_string(o.parallelism));
    if (!(o.generator.events_per_second >= 0.001
          && o.generator.events_per_second <= 1e12))
      throw std::invalid_argument("--event-rate must be between 0.001 and "
                                  "1e12 events per second");
    if (o.events > (uint64_t{1} << 53))
      throw std::invalid_argument("--events must be at most 2^53, got "
                                  + std::to_string(o.events)
                                  + " (a negative number?)");
    if (!o.side_input.empty() && o.query != "q13" && !o.all)
      throw std::invalid_argument("--side-input applies to q13 only");
    if (o.all && (o.ft.from_savepoint || o.ft.stop_with_savepoint_after_ms > 0))
      throw std::invalid_argument("--all runs every query afresh: it takes "
                                  "no --from-savepoint or "
                                  "--stop-with-savepoint-after-ms");
    if (o.all && o.output)
      throw std::invalid_argument("--all measures every query: it takes no "
                                  "--output");
    o.ft.validate();
  } catch (const std::invalid_argument& e) {
    throw app_usage_error(e.what());
  }
  return o;
}

void define_job(stream_execution_environment& env, const options& o,
                const std::string& query) {
  env.set_parallelism(o.parallelism);
  o.ft.apply(env.config());
  auto cfg = o.generator;
  auto events
      = env.from_generator(
               o.events, [cfg](uint64_t k) { return generate(cfg, k); },
               o.ft.rate, "Nexmark Source")
            .uid("nexmark-source");
  // The reference's watermark: the event time minus 4 seconds.
  auto timed = events.assign_timestamps_and_watermarks(
      watermark_strategy<event>::for_bounded_out_of_orderness(4000)
          .with_timestamp_assigner(
              [](const event& e, timestamp) { return date_time_of(e); }));
  auto rows = build_query(query, timed, o.side_input);
  rows.uid(query + "-rows");
  auto header = query_named(query).header;
  auto line = [](const std::string& s) { return s; };
  // One CSV file (written when the job finished); with checkpoints
  // exactly-once part files in FILE.parts, one writer, which run() merges
  // into FILE when the job finished. q10 writes files
  // partitioned by dt and hm, at the job's parallelism, as its reference
  // does (a filesystem sink PARTITIONED BY (dt, hm)).
  if (o.output && query == "q10") {
    rows.sink_to_bucketed_files(
            *o.output,
            [](const std::string& row) {
              return split_q10_row(row).partition;
            },
            [](const std::string& row) { return split_q10_row(row).line; },
            q10_file_header)
        .uid("output")
        .name("Partitioned Files");
  } else if (o.output && o.ft.checkpointed()) {
    rows.sink_to_files(parts_dir(*o.output), line, header)
        .set_parallelism(1)
        .uid("output")
        .name("CSV");
  } else if (o.output) {
    rows.write_as_text(*o.output, line, header).set_parallelism(1).name("CSV");
  } else {
    rows.add_sink(
        [] {
          struct discard final : sink_function<std::string> {
            void invoke(const std::string&, timestamp) override {}
          };
          return std::make_unique<discard>();
        },
        "Discard");
  }
}

void define_app(stream_execution_environment& env,
                const std::vector<std::string>& args) {
  auto o = parse_args(args);
  define_job(env, o, o.query);
}

namespace {

double cpu_seconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto tv = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6;
  };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

/// The committed parts of `dir` (part-<subtask>-<n>, each starting with
/// the header) as one CSV file at `file`: written under a hidden
/// temporary name, synced, renamed into place; then the parts go.
void merge_parts(const std::string& dir, const std::string& file,
                 const std::string& header) {
  namespace fs = std::filesystem;
  std::vector<std::pair<std::pair<long long, long long>, fs::path>> parts;
  for (auto& e : fs::directory_iterator{dir}) {
    auto name = e.path().filename().string();
    long long subtask = 0, seq = 0;
    if (std::sscanf(name.c_str(), "part-%lld-%lld", &subtask, &seq) == 2)
      parts.push_back({{subtask, seq}, e.path()});
  }
  std::sort(parts.begin(), parts.end());
  auto target = fs::path{file};
  auto tmp = target.parent_path()
             / ("." + target.filename().string() + ".tmp");
  {
    std::ofstream out{tmp, std::ios::binary | std::ios::trunc};
    out << header << '\n';
    for (auto& [key, path] : parts) {
      std::ifstream in{path, std::ios::binary};
      std::string first;
      std::getline(in, first); // the part's own header
      out << in.rdbuf();
      if (!in && !in.eof())
        throw std::runtime_error("cannot read the part file "
                                 + path.string());
    }
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(tmp, ec);
      throw std::runtime_error("cannot write " + tmp.string()
                               + " (disk full?)");
    }
  }
  sync_file(tmp.string());
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec)
    throw std::runtime_error("cannot rename " + tmp.string() + " to "
                             + file + ": " + ec.message());
  sync_directory(target.parent_path().empty() ? "."
                                              : target.parent_path().string());
  fs::remove_all(dir, ec);
}

} // namespace

std::string parts_dir(const std::string& output) {
  return output + ".parts";
}

measurement run(const options& o, const std::string& query) {
  // A fresh run starts its part files afresh; a restored one keeps those
  // its checkpoint committed.
  bool merged_output = o.output && o.ft.checkpointed() && query != "q10";
  if (merged_output && !o.ft.from_savepoint) {
    std::error_code ec;
    std::filesystem::remove_all(parts_dir(*o.output), ec);
  }
  stream_execution_environment env;
  define_job(env, o, query);
  measurement m;
  m.query = query;
  m.events = o.events;
  auto cpu0 = cpu_seconds();
  auto t0 = std::chrono::steady_clock::now();
  auto client = env.execute_async("nexmark " + query);
  apps::savepoint_stopper stopper{client, o.ft};
  auto outcome = wait_interruptible(*client, on_signal::cancel);
  stopper.join();
  m.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                           - t0)
                 .count();
  m.cpu_s = cpu_seconds() - cpu0;
  if (outcome.result.status == job_status::failed)
    throw job_failed("job '" + outcome.result.job_name
                     + "' failed: " + outcome.result.error);
  m.signal = outcome.signal;
  m.cancelled = outcome.result.status == job_status::canceled;
  m.savepoint = stopper.path();
  m.savepoint_error = stopper.error();
  // Stopped with a savepoint: the parts stay for the resumed run.
  if (merged_output && !m.cancelled && m.savepoint.empty())
    merge_parts(parts_dir(*o.output), *o.output, query_named(query).header);
  return m;
}

void dump_events(const options& o, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    throw std::runtime_error("cannot create the directory " + dir + ": "
                             + ec.message());
  // Written under hidden temporary names and renamed into place only when
  // all three are complete: a failed or killed run leaves earlier files
  // as they were.
  const char* names[] = {"person.csv", "auction.csv", "bid.csv"};
  auto tmp = [&](int i) { return dir + "/." + names[i] + ".tmp"; };
  std::ofstream persons{tmp(0)};
  std::ofstream auctions{tmp(1)};
  std::ofstream bids{tmp(2)};
  auto discard = [&] {
    for (int i = 0; i < 3; ++i)
      std::filesystem::remove(tmp(i), ec);
  };
  std::ofstream* files[] = {&persons, &auctions, &bids};
  for (auto* f : files)
    if (!*f) {
      discard();
      throw std::runtime_error("cannot create the event files in " + dir);
    }
  persons << person_header << '\n';
  auctions << auction_header << '\n';
  bids << bid_header << '\n';
  for (uint64_t k = 0; k < o.events; ++k) {
    auto e = generate(o.generator, k);
    if (auto* p = std::get_if<person>(&e)) {
      persons << p->id << ',' << csv_field(p->name) << ','
              << csv_field(p->email_address) << ','
              << csv_field(p->credit_card) << ',' << csv_field(p->city)
              << ',' << csv_field(p->state) << ',' << p->date_time << ','
              << csv_field(p->extra) << '\n';
    } else if (auto* a = std::get_if<auction>(&e)) {
      auctions << a->id << ',' << csv_field(a->item_name) << ','
               << csv_field(a->description) << ',' << a->initial_bid << ','
               << a->reserve << ',' << a->date_time << ',' << a->expires
               << ',' << a->seller << ',' << a->category << ','
               << csv_field(a->extra) << '\n';
    } else {
      auto& b = std::get<bid>(e);
      bids << b.auction << ',' << b.bidder << ',' << b.price << ','
           << csv_field(b.channel) << ',' << csv_field(b.url) << ','
           << b.date_time << ',' << csv_field(b.extra) << '\n';
    }
  }
  for (auto* f : files) {
    f->close();
    if (!*f) {
      discard();
      throw std::runtime_error("cannot write the events into " + dir
                               + " (disk full?)");
    }
  }
  for (int i = 0; i < 3; ++i) {
    std::filesystem::rename(tmp(i), dir + "/" + names[i], ec);
    if (ec) {
      discard();
      throw std::runtime_error("cannot rename " + tmp(i) + ": "
                               + ec.message());
    }
  }
}

} // namespace nexmark
