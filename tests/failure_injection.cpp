#define CAF_SUITE failure_injection
#include "caf/test/unit_test.hpp"

// Failures injected at random points of a job with keyed state, event-time
// timers and windows over a replayable source, with exactly-once part files
// as its output: a source, an operator and a sink subtask each throw at a
// point drawn from a seed, several times per run, and the job restarts from
// its latest checkpoint each time. The visible part files must hold exactly
// the rows of a run without failures (computed here by a plain loop): no
// row missing, none twice. On both state backends.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "child_process.hpp"
#include "libstream/libstream.hpp"
#include "libstream/sinks/two_phase_commit.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

constexpr int64_t records = 24000;
constexpr int64_t keys = 13;
constexpr int64_t bucket_ms = 500;  // the timers' granularity
constexpr int64_t window_ms = 2000; // the windows over the timers' output

enum site { at_source, at_operator, at_sink, sites };

const char* site_name(int s) {
  return s == at_source ? "source" : s == at_operator ? "operator" : "sink";
}

/// Where the next failures go: at the n-th call of a site, counted over
/// every attempt, so that each failure point fires once.
struct injector {
  std::atomic<int64_t> calls[sites] = {};
  std::mutex mtx;
  std::multiset<int64_t> points[sites];
  std::atomic<int> fired{0};

  void maybe_fail(site s) {
    auto n = calls[s].fetch_add(1) + 1;
    std::lock_guard<std::mutex> guard{mtx};
    auto i = points[s].find(n);
    if (i == points[s].end())
      return;
    points[s].erase(i);
    ++fired;
    throw std::runtime_error(std::string{"injected failure in the "}
                             + site_name(s) + " at call "
                             + std::to_string(n));
  }
};

/// (key, buckets, sum of the buckets' values): one bucket from a timer,
/// more once reduced in a window.
using bucket_sum = std::tuple<int64_t, int64_t, int64_t>;

/// Sums each key's values per bucket of event time in map state and emits
/// a bucket's sum when the watermark passes it (an event-time timer), then
/// forgets it.
struct bucket_sums final
    : keyed_process_function<int64_t, int64_t, bucket_sum> {
  explicit bucket_sums(std::shared_ptr<injector> inj) : inj(std::move(inj)) {}

  std::shared_ptr<injector> inj;
  map_state<int64_t, int64_t> sums;

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    sums = st.get_map_state<int64_t, int64_t>("sums");
  }

  void process_element(const int64_t& x, context& ctx,
                       collector<bucket_sum>&) override {
    inj->maybe_fail(at_operator);
    auto end = (ctx.element_timestamp() / bucket_ms + 1) * bucket_ms - 1;
    sums.put(end, sums.get(end).value_or(0) + x);
    ctx.timer_service().register_event_time_timer(end);
  }

  void on_timer(timestamp t, time_domain, context& ctx,
                collector<bucket_sum>& out) override {
    out.collect(bucket_sum{ctx.current_key(), 1, sums.get(t).value_or(0)});
    sums.remove(t);
  }
};

bucket_sum add(const bucket_sum& a, const bucket_sum& b) {
  return bucket_sum{std::get<0>(a), std::get<1>(a) + std::get<1>(b),
                    std::get<2>(a) + std::get<2>(b)};
}

struct to_row final
    : process_window_function<int64_t, bucket_sum, std::string, time_window> {
  void process(const int64_t& key, const context& ctx,
               const std::vector<bucket_sum>& xs,
               collector<std::string>& out) override {
    for (auto& x : xs)
      out.collect(std::to_string(key) + "," + std::to_string(ctx.window().start)
                  + "," + std::to_string(std::get<1>(x)) + ","
                  + std::to_string(std::get<2>(x)));
  }
};

/// The rows of a run without failures, by a plain loop.
std::vector<std::string> expected_rows() {
  std::map<std::tuple<int64_t, int64_t>, std::pair<int64_t, int64_t>> rows;
  std::set<std::tuple<int64_t, int64_t>> buckets;
  for (int64_t i = 0; i < records; ++i) {
    auto key = i % keys;
    auto end = (i / bucket_ms + 1) * bucket_ms - 1;
    auto window = end / window_ms * window_ms;
    auto& r = rows[{key, window}];
    if (buckets.insert({key, end}).second)
      ++r.first;
    r.second += i;
  }
  std::vector<std::string> out;
  for (auto& [kw, r] : rows)
    out.push_back(std::to_string(std::get<0>(kw)) + ","
                  + std::to_string(std::get<1>(kw)) + ","
                  + std::to_string(r.first) + "," + std::to_string(r.second));
  std::sort(out.begin(), out.end());
  return out;
}

/// Every line of the visible part files of `dir`, without their headers
/// (each must start with `header`).
std::vector<std::string> visible_rows(const std::string& dir,
                                      const std::string& header,
                                      size_t& bad_headers) {
  std::vector<std::string> lines;
  for (auto& name : list_dir(dir)) {
    if (name[0] == '.')
      continue;
    auto content = split_lines(read_file(dir + "/" + name));
    if (content.empty() || content.front() != header) {
      ++bad_headers;
      continue;
    }
    lines.insert(lines.end(), content.begin() + 1, content.end());
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

struct run_result {
  job_result result;
  std::vector<std::string> rows;
  size_t bad_headers = 0;
  size_t hidden_left = 0;
  int failures = 0;
};

/// Runs the job with failures at the points `inj` holds.
/// An external system with transactions, as a database would have them:
/// rows of open transactions, of prepared ones, and the committed rows.
struct fake_database {
  std::mutex mtx;
  std::map<std::string, std::vector<std::string>> open, prepared;
  std::set<std::string> committed_txns;
  std::vector<std::string> rows;
  int leftovers_aborted = 0;
};

/// Exactly-once into fake_database through the two-phase commit sink; ids
/// are unique over attempts ("<subtask>-<counter>").
struct database_sink final
    : two_phase_commit_function<std::string, std::string> {
  database_sink(std::shared_ptr<fake_database> db,
                std::shared_ptr<injector> inj)
      : db(std::move(db)), inj(std::move(inj)) {}

  std::shared_ptr<fake_database> db;
  std::shared_ptr<injector> inj;
  int subtask = 0;

  void open(const runtime_info& info) override { subtask = info.subtask_index; }

  std::string begin_transaction() override {
    static std::atomic<int> counter{0};
    auto id = std::to_string(subtask) + "-" + std::to_string(counter++);
    std::lock_guard<std::mutex> guard{db->mtx};
    db->open[id];
    return id;
  }
  void invoke(std::string& txn, const std::string& row, timestamp) override {
    inj->maybe_fail(at_sink);
    std::lock_guard<std::mutex> guard{db->mtx};
    db->open[txn].push_back(row);
  }
  void pre_commit(std::string& txn, uint64_t) override {
    std::lock_guard<std::mutex> guard{db->mtx};
    db->prepared[txn] = std::move(db->open[txn]);
    db->open.erase(txn);
  }
  void commit(const std::string& txn) override {
    std::lock_guard<std::mutex> guard{db->mtx};
    if (db->committed_txns.count(txn) != 0)
      return; // again after a restore: done already
    auto& xs = db->prepared.at(txn); // a lost transaction fails loudly
    db->committed_txns.insert(txn);
    db->rows.insert(db->rows.end(), xs.begin(), xs.end());
    db->prepared.erase(txn);
  }
  void abort(const std::string& txn) override {
    std::lock_guard<std::mutex> guard{db->mtx};
    db->open.erase(txn);
    db->prepared.erase(txn);
  }
  void abort_leftovers(const std::vector<std::string>& committed,
                       const std::vector<int>& olds) override {
    // Prepared by the old subtasks this one takes over, after the restored
    // checkpoint (or in a run that restored nothing): never committed.
    std::lock_guard<std::mutex> guard{db->mtx};
    for (int j : olds) {
      auto prefix = std::to_string(j) + "-";
      for (auto i = db->prepared.begin(); i != db->prepared.end();) {
        if (i->first.compare(0, prefix.size(), prefix) == 0
            && std::find(committed.begin(), committed.end(), i->first)
                   == committed.end()) {
          i = db->prepared.erase(i);
          ++db->leftovers_aborted;
        } else {
          ++i;
        }
      }
    }
  }
};

run_result run(state_backend_kind backend, std::shared_ptr<injector> inj,
               const temp_dir& dir,
               std::shared_ptr<fake_database> db = nullptr) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto& cp = env.config().checkpointing;
  cp.interval = 25;
  cp.dir = dir.file("chk");
  env.config().state_backend.kind = backend;
  env.config().state_backend.dir = dir.file("state");
  env.config().restarts = restart_strategy::fixed(10, 5);
  auto out_dir = dir.file("out");
  const std::string header = "key,window_start,buckets,sum";
  auto rows = env.from_generator(
         records,
         [inj](uint64_t i) {
           inj->maybe_fail(at_source);
           return static_cast<int64_t>(i);
         },
         60000)
      .uid("numbers")
      .assign_timestamps_and_watermarks(
          watermark_strategy<int64_t>::for_bounded_out_of_orderness(5)
              .with_timestamp_assigner(
                  [](const int64_t& x, timestamp) { return x; }))
      .uid("timestamps")
      .key_by([](int64_t x) { return x % keys; })
      .process<bucket_sum>(
          [inj] { return std::make_unique<bucket_sums>(inj); }, "Buckets")
      .uid("buckets")
      .key_by([](const bucket_sum& b) { return std::get<0>(b); })
      .window(tumbling_event_time_windows::of(window_ms))
      .reduce(add, [] { return std::make_unique<to_row>(); })
      .uid("windows");
  if (db)
    add_two_phase_commit_sink(
        rows,
        [db, inj] { return std::make_unique<database_sink>(db, inj); })
        .uid("database");
  else
    rows.sink_to_files(
            out_dir,
            [inj](const std::string& row) {
              inj->maybe_fail(at_sink);
              return row;
            },
            header)
        .uid("files");
  run_result r;
  r.result = env.execute("failure injection");
  if (db) {
    std::lock_guard<std::mutex> guard{db->mtx};
    r.rows = db->rows;
    std::sort(r.rows.begin(), r.rows.end());
    r.hidden_left = db->prepared.size() + db->open.size();
  } else {
    r.rows = visible_rows(out_dir, header, r.bad_headers);
    r.hidden_left = count_prefixed(out_dir, ".");
  }
  r.failures = inj->fired.load();
  return r;
}

} // namespace

CAF_TEST(random failures in source operator and sink lose and repeat nothing) {
  auto expected = expected_rows();
  CAF_REQUIRE_GREATER(expected.size(), 100u);
  for (auto backend :
       {state_backend_kind::memory, state_backend_kind::leveldb}) {
    for (unsigned seed : {1u, 2u, 3u}) {
      std::mt19937_64 rng{seed * 7919 + (backend == state_backend_kind::leveldb)};
      auto inj = std::make_shared<injector>();
      // Two failures at the source, two in the operator, one in the sink,
      // anywhere in the run (the sink sees about expected.size() rows).
      auto pick = [&rng](int64_t hi) {
        return std::uniform_int_distribution<int64_t>{hi / 8, hi}(rng);
      };
      for (int k = 0; k < 2; ++k) {
        inj->points[at_source].insert(pick(records));
        inj->points[at_operator].insert(pick(records));
      }
      inj->points[at_sink].insert(
          pick(static_cast<int64_t>(expected.size())));
      temp_dir dir{"failure_injection"};
      auto r = run(backend, inj, dir);
      CAF_MESSAGE(to_string(backend)
                  << " seed " << seed << ": " << r.failures
                  << " failures injected, " << r.result.restarts_from_checkpoint
                  << " restarts from a checkpoint, " << r.rows.size()
                  << " rows");
      CAF_CHECK(r.result.status == job_status::finished);
      if (r.result.status != job_status::finished)
        CAF_MESSAGE("job error: " << r.result.error);
      CAF_CHECK_EQUAL(r.failures, 5);
      // Each failure restarted the job, from a checkpoint (the first may
      // come before any checkpoint completed). Two failures can land in
      // one attempt (a second subtask fails before the cancellation of the
      // first failure reaches it): one restart for both.
      CAF_CHECK_LESS_OR_EQUAL(r.result.restarts, 5);
      CAF_CHECK_GREATER_OR_EQUAL(r.result.restarts, 3);
      CAF_CHECK_GREATER_OR_EQUAL(r.result.restarts_from_checkpoint,
                                 r.result.restarts - 1);
      CAF_CHECK_EQUAL(r.bad_headers, 0u);
      CAF_CHECK_EQUAL(r.hidden_left, 0u);
      CAF_CHECK_EQUAL(r.rows.size(), expected.size());
      CAF_CHECK(r.rows == expected);
      if (r.rows != expected) {
        std::vector<std::string> missing, extra;
        std::set_difference(expected.begin(), expected.end(), r.rows.begin(),
                            r.rows.end(), std::back_inserter(missing));
        std::set_difference(r.rows.begin(), r.rows.end(), expected.begin(),
                            expected.end(), std::back_inserter(extra));
        CAF_MESSAGE(missing.size() << " rows missing, " << extra.size()
                                   << " extra; first missing: "
                                   << (missing.empty() ? "-" : missing[0])
                                   << ", first extra: "
                                   << (extra.empty() ? "-" : extra[0]));
      }
    }
  }
}

// The same through the two-phase commit sink interface, into a database
// with transactions: every row committed once, nothing left prepared.
CAF_TEST(random failures lose and repeat nothing through two phase commits) {
  auto expected = expected_rows();
  for (unsigned seed : {4u, 5u}) {
    std::mt19937_64 rng{seed};
    auto inj = std::make_shared<injector>();
    auto pick = [&rng](int64_t hi) {
      return std::uniform_int_distribution<int64_t>{hi / 8, hi}(rng);
    };
    for (int k = 0; k < 2; ++k) {
      inj->points[at_source].insert(pick(records));
      inj->points[at_operator].insert(pick(records));
    }
    inj->points[at_sink].insert(pick(static_cast<int64_t>(expected.size())));
    temp_dir dir{"failure_injection"};
    auto db = std::make_shared<fake_database>();
    auto r = run(state_backend_kind::memory, inj, dir, db);
    CAF_MESSAGE("seed " << seed << ": " << r.failures << " failures, "
                        << r.result.restarts_from_checkpoint
                        << " restarts from a checkpoint, " << r.rows.size()
                        << " rows committed, " << db->leftovers_aborted
                        << " leftover transactions aborted");
    CAF_CHECK(r.result.status == job_status::finished);
    if (r.result.status != job_status::finished)
      CAF_MESSAGE("job error: " << r.result.error);
    CAF_CHECK_EQUAL(r.failures, 5);
    CAF_CHECK_EQUAL(r.hidden_left, 0u);
    CAF_CHECK_EQUAL(r.rows.size(), expected.size());
    CAF_CHECK(r.rows == expected);
  }
}
