#include "stock/stock_job.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <chrono>
#include <stdexcept>
#include <fstream>
#include <sstream>
#include <thread>

#include <boost/program_options.hpp>

#include "libstream/app.hpp"
#include "libstream/connectors/postgres.hpp"
#include "libstream/connectors/redis_streams.hpp"
#include "libstream/libstream.hpp"
#include "libstream/plan_codec.hpp"
#include "libstream/quote.hpp"
#include "libstream/signals.hpp"
#include "common/options.hpp"
#include "stock/trade.hpp"

using namespace libstream;

namespace stock {

namespace {

bool is_redis_input(const std::string& input) {
  return input.rfind("redis://", 0) == 0;
}

bool is_postgres_output(const std::string& output) {
  // postgres:// too, for parse_url to name the expected form.
  return output.rfind("postgresql://", 0) == 0
         || output.rfind("postgres://", 0) == 0;
}

__extension__ typedef __int128 int128;
__extension__ typedef unsigned __int128 uint128;

struct trade_acc {
  int64_t trades = 0;
  int64_t volume = 0;
  int128 price_nanos = 0; // exact: the average does not depend on order
};

} // namespace
} // namespace stock

/// The accumulator is window state: checkpoints encode it.
template <>
struct libstream::codec<stock::trade_acc> {
  static void encode(const stock::trade_acc& a, byte_writer& w) {
    codec<int64_t>::encode(a.trades, w);
    codec<int64_t>::encode(a.volume, w);
    auto bits = static_cast<stock::uint128>(a.price_nanos);
    w.put_fixed64(static_cast<uint64_t>(bits));
    w.put_fixed64(static_cast<uint64_t>(bits >> 64));
  }
  static stock::trade_acc decode(byte_reader& r) {
    stock::trade_acc a;
    a.trades = codec<int64_t>::decode(r);
    a.volume = codec<int64_t>::decode(r);
    auto lo = r.get_fixed64();
    auto hi = r.get_fixed64();
    a.price_nanos = static_cast<stock::int128>(
        (static_cast<stock::uint128>(hi) << 64) | lo);
    return a;
  }
};

namespace stock {
namespace {

struct trade_stats : aggregate_function<trade, trade_acc, trade_acc> {
  trade_acc create_accumulator() const { return {}; }
  void add(const trade& t, trade_acc& acc) const {
    ++acc.trades;
    if (__builtin_add_overflow(acc.volume, t.quantity, &acc.volume))
      throw std::overflow_error("the volume of industry '" + t.industry
                                + "' in one window exceeds int64");
    acc.price_nanos += t.price_nanos;
  }
  trade_acc get_result(const trade_acc& acc) const { return acc; }
  void merge(trade_acc& into, const trade_acc& from) const {
    into.trades += from.trades;
    if (__builtin_add_overflow(into.volume, from.volume, &into.volume))
      throw std::overflow_error("a window's volume exceeds int64");
    into.price_nanos += from.price_nanos;
  }
};

class emit_row final
    : public process_window_function<std::string, trade_acc, industry_window,
                                     time_window> {
public:
  void process(const std::string& industry, const context& ctx,
               const std::vector<trade_acc>& elements,
               collector<industry_window>& out) override {
    for (auto& acc : elements) {
      industry_window row;
      row.window_start_ms = ctx.window().start;
      row.window_end_ms = ctx.window().end;
      row.industry = industry;
      row.trades = acc.trades;
      row.volume = acc.volume;
      row.avg_price = static_cast<double>(
          static_cast<long double>(acc.price_nanos) / acc.trades / 1e9L);
      out.collect(std::move(row));
    }
  }
};

constexpr const char* industries[] = {
    "Technology", "Finance",     "Healthcare",       "Energy",      "Utilities",
    "Materials",  "Industrials", "Consumer Staples", "Real Estate", "Telecom",
};
constexpr int num_industries = 10;
constexpr int symbols_per_industry = 5;

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// Trades with bursty volume (some minutes carry five times the base rate)
/// and timestamps up to 3 s out of order, deterministic per index.
class trade_generator {
public:
  explicit trade_generator(uint64_t records) {
    for (int i = 0; i < num_industries; ++i) {
      names_->industries.emplace_back(industries[i]);
      for (int k = 0; k < symbols_per_industry; ++k)
        names_->symbols.push_back(std::string{industries[i]}.substr(0, 3)
                                  + std::to_string(k));
    }
    constexpr uint64_t base = 100000; // trades per quiet minute
    uint64_t total = 0;
    for (uint64_t m = 0; total < records; ++m) {
      auto volume = (mix(m) % 5 == 0) ? base * 5 : base;
      starts_->push_back(total);
      total += volume;
    }
    starts_->push_back(total);
  }

  trade operator()(uint64_t i) const {
    auto& starts = *starts_;
    auto it = std::upper_bound(starts.begin(), starts.end(), i) - 1;
    auto minute = static_cast<int64_t>(it - starts.begin());
    auto pos = i - *it;
    auto len = *(it + 1) - *it;
    auto h = mix(i);
    trade t;
    auto in_minute = static_cast<int64_t>(pos * 60000 / len);
    auto jitter = static_cast<int64_t>(h % 3000);
    t.timestamp_ms = epoch_ + minute * 60000 + in_minute - jitter;
    auto ind = static_cast<int>((h >> 16) % num_industries);
    auto sym = static_cast<int>((h >> 24) % symbols_per_industry);
    t.industry = names_->industries[static_cast<size_t>(ind)];
    t.symbol
        = names_
              ->symbols[static_cast<size_t>(ind * symbols_per_industry + sym)];
    auto cents = 1000 + static_cast<int64_t>((h >> 32) % 90000);
    t.price_nanos = cents * 10000000;
    t.price = static_cast<double>(cents) / 100.0;
    t.quantity = 1 + static_cast<int64_t>((h >> 48) % 500);
    return t;
  }

private:
  std::shared_ptr<std::vector<uint64_t>> starts_
      = std::make_shared<std::vector<uint64_t>>();
  struct names {
    std::vector<std::string> industries;
    std::vector<std::string> symbols;
  };
  std::shared_ptr<names> names_ = std::make_shared<names>();
  int64_t epoch_ = 1700000040000; // a minute boundary
};

} // namespace

job_options parse_args(const std::vector<std::string>& args) {
  namespace po = boost::program_options;
  job_options o;
  po::options_description desc{"stock_aggregator options"};
  std::string input, output, dead_letter, industry_from, lookup_order,
      transaction_prefix;
  lookup_options lookup;
  desc.add_options()("help,h", "show this help")(
      "input", po::value(&input),
      "CSV file, or directory of CSV files, with header "
      "timestamp_ms,symbol,industry,price,quantity, read in parallel "
      "splits; or redis://HOST:PORT/STREAM, a Redis stream whose entries "
      "have those fields, read from its start up to its last entry when "
      "the job starts (default: the built-in generator)")(
      "follow", "with a Redis stream --input: keep reading new entries "
      "(unbounded) instead of ending at the last one")(
      "split-bytes", po::value(&o.split_bytes)->default_value(0),
      "cut input files into splits of this many bytes (0: about four "
      "per subtask)")(
      "output", po::value(&output),
      "CSV result file (a directory of part files with checkpoints), or "
      "postgresql://USER@HOST:PORT/DB?table=NAME: rows into that table, "
      "created if missing, exactly once with checkpoints (default: "
      "stdout)")(
      "transaction-prefix", po::value(&transaction_prefix),
      "with a postgresql:// --output: names the sink's prepared "
      "transactions (<prefix>-s<subtask>-c<checkpoint>); unique per job "
      "writing the table, since a job rolls back what others of its "
      "prefix left prepared (default: stock_aggregator-<db>.<table>)")(
      "dead-letter", po::value(&dead_letter),
      "write malformed input lines (and, with --industry-from, trades "
      "whose symbol has no industry) here instead of failing the job")(
      "industry-from", po::value(&industry_from),
      "look each trade's industry up asynchronously: redis://HOST:PORT "
      "(the string at key industry:<SYMBOL>) or http://HOST:PORT/PATH "
      "(GET with {symbol} in PATH replaced; the body is the industry, 404 "
      "is none). The input's header is then "
      "timestamp_ms,symbol,price,quantity")(
      "lookup-capacity",
      po::value(&lookup.capacity)->default_value(lookup.capacity),
      "lookups in flight per subtask at most (backpressure beyond)")(
      "lookup-timeout-ms",
      po::value(&lookup.timeout_ms)->default_value(lookup.timeout_ms),
      "a lookup (with its retries) fails the job after this long")(
      "lookup-order",
      po::value(&lookup_order)->default_value("unordered"),
      "unordered (results as they come, never across a watermark) or "
      "ordered (in input order)")(
      "lookup-retries",
      po::value(&lookup.retries)->default_value(lookup.retries),
      "retries of a lookup after a connection failure or a 5xx answer, "
      "with exponential backoff from 50 ms")(
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
    vm = apps::parse_options(args, desc);
  } catch (const std::invalid_argument& e) {
    throw app_usage_error(std::string{e.what()} + " (see --help)");
  }
  if (vm.count("help")) {
    std::ostringstream text;
    text << desc;
    throw app_usage_error(text.str(), true);
  }
  if (vm.count("input"))
    o.input = input;
  if (vm.count("output"))
    o.output = output;
  if (vm.count("dead-letter"))
    o.dead_letter = dead_letter;
  if (vm.count("transaction-prefix"))
    o.transaction_prefix = transaction_prefix;
  if (lookup_order != "unordered" && lookup_order != "ordered")
    throw app_usage_error("--lookup-order must be ordered or unordered, got '"
                          + lookup_order + "'");
  lookup.ordered = lookup_order == "ordered";
  if (vm.count("industry-from")) {
    lookup.from = industry_from;
    o.lookup = lookup;
  }
  o.ft.read(vm);
  o.print_rows = vm.count("quiet") == 0;
  o.follow = vm.count("follow") > 0;
  o.records_given = !vm["records"].defaulted();
  o.plan_only = vm.count("print-plan") > 0;
  return o;
}

void define_app(stream_execution_environment& env,
                const std::vector<std::string>& args) {
  define_job(env, parse_args(args));
}

job_counters define_job(stream_execution_environment& env,
                        const job_options& o) {
  if (o.window_ms <= 0)
    throw std::invalid_argument("--window-ms must be positive, got "
                                + std::to_string(o.window_ms));
  if (o.max_out_of_orderness_ms < 0)
    throw std::invalid_argument("--max-out-of-orderness-ms must not be "
                                "negative, got "
                                + std::to_string(o.max_out_of_orderness_ms));
  if (o.parallelism < 1 || o.parallelism > default_max_parallelism)
    throw std::invalid_argument("--parallelism must be between 1 and "
                                + std::to_string(default_max_parallelism)
                                + ", got " + std::to_string(o.parallelism));
  if (o.dead_letter && !o.input)
    throw std::invalid_argument("--dead-letter needs --input");
  if (o.lookup && !o.input)
    throw std::invalid_argument("--industry-from needs --input (a CSV file "
                                "without the industry column)");
  if (o.lookup)
    validate(*o.lookup);
  if (o.follow && !(o.input && is_redis_input(*o.input)))
    throw std::invalid_argument("--follow applies to --input "
                                "redis://HOST:PORT/STREAM only");
  if (o.input && is_redis_input(*o.input)) {
    auto u = redis::parse_url(*o.input, "--input");
    if (u.path.empty())
      throw std::invalid_argument("--input " + *o.input
                                  + " names no stream: use "
                                    "redis://HOST:PORT/STREAM");
    if (o.lookup)
      throw std::invalid_argument("--industry-from needs a CSV --input; the "
                                  "entries of a Redis stream carry their "
                                  "industry");
  }
  if (o.records_given && o.input)
    throw std::invalid_argument("--records applies to the generator only, "
                                "not to --input");
  std::optional<pg::url> table;
  if (o.output && is_postgres_output(*o.output))
    table = pg::parse_url(*o.output, "--output");
  if (o.transaction_prefix && !table)
    throw std::invalid_argument("--transaction-prefix applies to a "
                                "postgresql:// --output only");
  pg::sink_options pg_options;
  if (table) {
    pg_options.columns = output_columns();
    pg_options.prefix = o.transaction_prefix.value_or(
        "stock_aggregator-" + table->db + "." + table->table);
    pg::detail::validate(pg_options);
  }
  o.ft.validate();
  env.set_parallelism(o.parallelism);
  o.ft.apply(env.config());
  auto checkpointed = o.ft.checkpointed();
  job_counters counters;
  auto malformed = counters.malformed;
  auto counted = counters.counted;
  auto rows = counters.rows;
  auto strategy = watermark_strategy<trade>::for_bounded_out_of_orderness(
                      o.max_out_of_orderness_ms)
                      .with_timestamp_assigner([](const trade& t, timestamp) {
                        return t.timestamp_ms;
                      });
  std::optional<data_stream<trade>> trades;
  std::optional<output_tag<text_line>> dead;
  if (o.input) {
    if (o.dead_letter)
      dead.emplace("dead-letter");
    std::optional<data_stream<trade>> source;
    if (is_redis_input(*o.input)) {
      // A Redis stream, read by one subtask from its checkpointed id.
      auto u = redis::parse_url(*o.input, "--input");
      redis_stream_options so;
      so.stream = u.path;
      so.bounded = !o.follow;
      so.rate = o.ft.rate;
      source = read_redis_stream<trade>(env, u, so, decode_stream_entry, dead,
                                        "Trades Stream");
      source->uid("trades-stream");
    } else {
      // Parallel splits of the file, decoded straight into trades.
      file_source_options files;
      files.paths.push_back(*o.input);
      files.rate = o.ft.rate;
      files.split_bytes = o.split_bytes;
      source = env.read_files(files, trade_format(!o.lookup), dead,
                              "Trades File");
      source->uid("trades-file");
    }
    auto parsed = *source;
    auto line_text = [malformed](const text_line& l) {
      malformed->fetch_add(1, std::memory_order_relaxed);
      return l.text;
    };
    // Watermarks come before the lookup: unordered lookups reorder
    // trades, but never across a watermark, so none turns late.
    auto stamped = parsed.assign_timestamps_and_watermarks(strategy);
    std::optional<data_stream<trade>> enriched;
    std::optional<output_tag<text_line>> missing;
    if (o.lookup) {
      if (dead)
        missing.emplace("no-industry");
      enriched = look_up_industries(stamped, *o.lookup, missing);
    }
    std::optional<data_stream<text_line>> dead_letters;
    if (dead) {
      dead_letters = parsed.get_side_output(*dead);
      if (missing)
        dead_letters = dead_letters->union_with(
            enriched->get_side_output(*missing));
    }
    if (dead && checkpointed)
      dead_letters
          ->sink_to_files(*o.dead_letter, line_text)
          .set_parallelism(1)
          .name("Dead Letter")
          .uid("dead-letter");
    else if (dead)
      dead_letters
          ->write_as_text(*o.dead_letter, line_text)
          .set_parallelism(1)
          .name("Dead Letter");
    trades = enriched ? *enriched : stamped;
  } else {
    trades = env.from_generator(o.records, trade_generator{o.records}, o.ft.rate,
                                "Trade Generator");
    trades->uid("trade-generator");
    trades = trades->assign_timestamps_and_watermarks(strategy);
  }
  auto results
      = trades->key_by([](const trade& t) -> const std::string& {
              return t.industry;
            })
            .window(tumbling_event_time_windows::of(o.window_ms))
            .aggregate(
                trade_stats{}, [] { return std::make_unique<emit_row>(); },
                "Industry Window")
            .map(
                [rows, counted](const industry_window& w) {
                  rows->fetch_add(1, std::memory_order_relaxed);
                  counted->fetch_add(static_cast<uint64_t>(w.trades),
                                     std::memory_order_relaxed);
                  return w;
                },
                "Rows");
  results.uid("industry-window");
  auto csv = [](const industry_window& w) { return to_csv(w); };
  if (table) {
    // One transaction per subtask and checkpoint (or one per subtask for
    // the whole run without checkpoints), prepared at the barrier and
    // committed when the checkpoint completes.
    pg::add_sink(results, *table, to_fields, pg_options, "PostgreSQL Output")
        .uid("postgres-output");
  } else if (o.output && checkpointed) {
    results.sink_to_files(*o.output, csv, std::string{output_header})
        .set_parallelism(1)
        .name("CSV Output")
        .uid("csv-output");
  } else if (o.output) {
    results.write_as_text(*o.output, csv, std::string{output_header})
        .set_parallelism(1)
        .name("CSV Output");
  } else if (o.input || o.print_rows) {
    results.print("", csv, std::string{output_header}).set_parallelism(1);
  } else {
    results.add_sink([] {
      struct discard final : sink_function<industry_window> {
        void invoke(const industry_window&, timestamp) override {}
      };
      return std::make_unique<discard>();
    });
  }
  return counters;
}

job_summary run(const job_options& o) {
  stream_execution_environment env;
  auto counters = define_job(env, o);
  if (o.plan_only) {
    // Through the Cap'n Proto plan a coordinator receives.
    job_summary s;
    s.plan = to_string(decode_job_plan(
        encode_job_plan(env.builder()->plan(), "stock aggregator")));
    return s;
  }
  auto start = monotonic_now_ns();
  auto client = env.execute_async("stock aggregator");
  apps::savepoint_stopper stopper{client, o.ft};
  auto outcome = wait_interruptible(*client, on_signal::cancel);
  stopper.join();
  if (outcome.result.status == job_status::failed)
    throw job_failed("job '" + outcome.result.job_name
                     + "' failed: " + outcome.result.error);
  job_summary s;
  s.signal = outcome.signal;
  s.savepoint = stopper.path();
  s.savepoint_error = stopper.error();
  s.cancelled = outcome.result.status == job_status::canceled;
  s.seconds = static_cast<double>(monotonic_now_ns() - start) / 1e9;
  // The trades the windows counted; the generator makes exactly `records`.
  s.records = o.input ? counters.counted->load() : o.records;
  s.malformed = counters.malformed->load();
  s.rows = counters.rows->load();
  return s;
}

} // namespace stock
