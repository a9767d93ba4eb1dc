#define CAF_SUITE postgres_sink
#include "caf/test/unit_test.hpp"

// The exactly-once PostgreSQL sink against a real PostgreSQL 15 started by
// the test (initdb in a temporary directory): rows exactly once after an
// injected failure and restore, leftovers of a failed run rolled back, a
// clear error without prepared transactions or when the server goes away.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "libstream/connectors/postgres.hpp"
#include "libstream/libstream.hpp"
#include "servers.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

pg::sink_options number_columns(std::string prefix) {
  pg::sink_options o;
  o.columns = {"n bigint", "label"};
  o.prefix = std::move(prefix);
  o.batch_rows = 64;
  return o;
}

/// Writes `stream` into `table` of `server` through the sink.
void write_numbers(data_stream<int64_t> stream, const postgres_server& server,
                   const std::string& table, const std::string& prefix) {
  auto where = server.where(table);
  pg::add_sink(
      stream, where,
      [](const int64_t& n) {
        return std::vector<std::string>{std::to_string(n),
                                        "n'" + std::to_string(n)};
      },
      number_columns(prefix), "Postgres")
      .uid("postgres");
}

/// Throws once, at the `fail_at`-th record overall.
auto fail_once(std::shared_ptr<std::atomic<int64_t>> seen, int64_t fail_at) {
  return [seen, fail_at](const int64_t& n) {
    if (seen->fetch_add(1) + 1 == fail_at)
      throw std::runtime_error("injected failure");
    return n;
  };
}

/// Passes values on; its snapshot of checkpoint `fail_at` throws, once
/// (`failed` is shared by all subtasks and attempts).
struct failing_snapshot final : process_function<int64_t, int64_t> {
  failing_snapshot(std::shared_ptr<std::atomic<bool>> failed, uint64_t fail_at)
      : failed_(std::move(failed)), fail_at_(fail_at) {}

  void process_element(const int64_t& v, context&,
                       collector<int64_t>& out) override {
    out.collect(v);
  }

  void snapshot_state(uint64_t checkpoint_id) override {
    if (checkpoint_id == fail_at_ && !failed_->exchange(true))
      throw std::runtime_error("injected snapshot failure");
  }

  std::shared_ptr<std::atomic<bool>> failed_;
  uint64_t fail_at_;
};

/// Checks that `table` holds 0..n-1 exactly once, labels intact.
void check_exactly_once(pg::connection& c, const std::string& table,
                        int64_t n) {
  auto stats = c.query("SELECT count(*), count(DISTINCT n), min(n), max(n), "
                       "count(*) FILTER (WHERE label <> 'n''' || n) FROM "
                       + table);
  CAF_REQUIRE_EQUAL(stats.size(), 1u);
  CAF_CHECK_EQUAL(*stats[0][0], std::to_string(n));
  CAF_CHECK_EQUAL(*stats[0][1], std::to_string(n));
  CAF_CHECK_EQUAL(*stats[0][2], "0");
  CAF_CHECK_EQUAL(*stats[0][3], std::to_string(n - 1));
  CAF_CHECK_EQUAL(*stats[0][4], "0");
}

} // namespace

CAF_TEST(postgresql urls are parsed and bad ones named) {
  auto u = pg::parse_url("postgresql://app%40x@db.local:6543/sales?table=rows",
                         "--output");
  CAF_CHECK_EQUAL(u.user, "app@x");
  CAF_CHECK_EQUAL(u.host, "db.local");
  CAF_CHECK_EQUAL(u.port, 6543);
  CAF_CHECK_EQUAL(u.db, "sales");
  CAF_CHECK_EQUAL(u.table, "rows");
  CAF_CHECK_EQUAL(u.where(), "db.local:6543/sales");
  for (auto [bad, why] : std::vector<std::pair<std::string, std::string>>{
           {"postgres://u@h:1/d?table=t", "not a postgresql:// URL"},
           {"postgresql://h:1/d?table=t", "no USER@"},
           {"postgresql://u@h:1?table=t", "no /DB"},
           {"postgresql://u@h:1/?table=t", "no database name"},
           {"postgresql://u@h:1/d", "no ?table=NAME"},
           {"postgresql://u@h:1/d?table=", "no ?table=NAME"},
           {"postgresql://u@h:x/d?table=t", "port"},
           {"postgresql://u@h:1/d%4?table=t", "bad %-escape"},
           {"postgresql://u:secret@h:1/d?table=t", "a password in the URL"},
           {"postgresql://u@h:1/d?table=t&sslmode=require",
            "unknown parameter 'sslmode'"}}) {
    auto msg = message_of<std::invalid_argument>(
        [&] { pg::parse_url(bad, "--output"); });
    CAF_CHECK(contains(msg, "--output"));
    CAF_CHECK(contains(msg, why));
    if (!contains(msg, why))
      CAF_MESSAGE(bad << ": " << msg);
  }
}

// Checkpoints every 30 ms at parallelism 2; the job fails once mid-way and
// restarts from its latest checkpoint: the table holds every number once
// (prepared transactions of the failed attempt rolled back, those of the
// restored checkpoint committed), and nothing stays prepared.
CAF_TEST(rows go in exactly once across a failure and restore) {
  temp_dir dir{"postgres_sink"};
  postgres_server server{dir};
  auto c = server.client();
  const int64_t n = 20000;
  stream_execution_environment env;
  env.set_parallelism(2);
  auto& cp = env.config().checkpointing;
  cp.interval = 30;
  cp.dir = dir.file("chk");
  env.config().restarts = restart_strategy::fixed(2, 20);
  auto seen = std::make_shared<std::atomic<int64_t>>(0);
  auto numbers = env.from_generator(
                        n, [](uint64_t i) { return static_cast<int64_t>(i); },
                        40000)
                     .uid("numbers")
                     .map(fail_once(seen, 12000), "Fail Once")
                     .uid("fail");
  write_numbers(numbers, server, "numbers", "job1-numbers");
  auto r = env.execute("postgres exactly once");
  CAF_CHECK(r.status == job_status::finished);
  CAF_CHECK_EQUAL(r.restarts_from_checkpoint, 1);
  CAF_CHECK_GREATER(seen->load(), n);
  check_exactly_once(*c, "numbers", n);
  CAF_CHECK_EQUAL(pg_scalar(*c, "SELECT count(*) FROM pg_prepared_xacts"), "0");
}

// Checkpoint 5 fails in another branch after the sink prepared its
// transactions for it (the sink is chained to the source, the failing
// operator is not): the job restarts from checkpoint 4, and the restore
// must roll back those prepared transactions, not commit them.
CAF_TEST(transactions prepared for a checkpoint that failed are rolled back) {
  temp_dir dir{"postgres_sink"};
  postgres_server server{dir};
  auto c = server.client();
  const int64_t n = 20000;
  stream_execution_environment env;
  env.set_parallelism(2);
  auto& cp = env.config().checkpointing;
  cp.interval = 30;
  cp.dir = dir.file("chk");
  env.config().restarts = restart_strategy::fixed(2, 20);
  auto failed = std::make_shared<std::atomic<bool>>(false);
  auto numbers = env.from_generator(
                        n, [](uint64_t i) { return static_cast<int64_t>(i); },
                        40000)
                     .uid("numbers");
  write_numbers(numbers, server, "numbers", "job6-numbers");
  numbers.rebalance()
      .process<int64_t>(
          [failed] { return std::make_unique<failing_snapshot>(failed, 5); },
          "Failing Snapshot")
      .uid("failing")
      .add_sink([] {
        struct discard final : sink_function<int64_t> {
          void invoke(const int64_t&, timestamp) override {}
        };
        return std::make_unique<discard>();
      })
      .uid("discard");
  auto r = env.execute("postgres failed checkpoint");
  CAF_CHECK(r.status == job_status::finished);
  CAF_CHECK(failed->load());
  CAF_CHECK_EQUAL(r.restarts_from_checkpoint, 1);
  check_exactly_once(*c, "numbers", n);
  CAF_CHECK_EQUAL(pg_scalar(*c, "SELECT count(*) FROM pg_prepared_xacts"), "0");
}

// A failed earlier run left transactions prepared, from subtasks 0 and 3
// of a run at parallelism 4. A new run (not restored) at parallelism 2
// rolls back those of its prefix; another job's stay.
CAF_TEST(a fresh run rolls back what a failed run left prepared) {
  temp_dir dir{"postgres_sink"};
  postgres_server server{dir};
  auto c = server.client();
  c->exec("CREATE TABLE numbers (n bigint, label text)");
  for (auto gid : {"job2-numbers-s0-c4", "job2-numbers-s3-c9",
                   "other-numbers-s0-c1"}) {
    c->exec("BEGIN");
    c->exec("INSERT INTO numbers VALUES (-1, 'left over')");
    c->exec(std::string{"PREPARE TRANSACTION '"} + gid + "'");
  }
  const int64_t n = 3000;
  stream_execution_environment env;
  env.set_parallelism(2);
  write_numbers(env.from_generator(n, [](uint64_t i) {
    return static_cast<int64_t>(i);
  }),
                server, "numbers", "job2-numbers");
  CAF_CHECK(env.execute("postgres leftovers").status == job_status::finished);
  check_exactly_once(*c, "numbers", n);
  CAF_CHECK_EQUAL(pg_scalar(*c, "SELECT string_agg(gid, ',') FROM "
                             "pg_prepared_xacts"),
                  "other-numbers-s0-c1");
  c->exec("ROLLBACK PREPARED 'other-numbers-s0-c1'");
}

CAF_TEST(a server without prepared transactions is refused clearly) {
  temp_dir dir{"postgres_sink"};
  postgres_server server{dir, 0};
  stream_execution_environment env;
  env.set_parallelism(1);
  env.config().restarts = restart_strategy::no_restart();
  write_numbers(env.from_generator(10, [](uint64_t i) {
    return static_cast<int64_t>(i);
  }),
                server, "numbers", "job3");
  auto error = message_of<job_failed>([&] { env.execute("postgres no 2pc"); });
  CAF_CHECK(contains(error, "max_prepared_transactions is 0"));
  CAF_CHECK(contains(error, "postgresql 127.0.0.1:"
                                + std::to_string(server.port())));
}

CAF_TEST(an unreachable server fails the job naming it) {
  temp_dir dir{"postgres_sink"};
  auto port = free_port();
  stream_execution_environment env;
  env.set_parallelism(1);
  env.config().restarts = restart_strategy::no_restart();
  auto where = pg::parse_url("postgresql://postgres@127.0.0.1:"
                                 + std::to_string(port) + "/postgres?table=t",
                             "test");
  auto o = number_columns("job4");
  o.connect.retries = 2;
  pg::add_sink(
      env.from_generator(10, [](uint64_t i) { return static_cast<int64_t>(i); }),
      where,
      [](const int64_t& n) {
        return std::vector<std::string>{std::to_string(n), "x"};
      },
      o);
  auto start = std::chrono::steady_clock::now();
  auto error = message_of<job_failed>([&] { env.execute("postgres absent"); });
  auto took = std::chrono::steady_clock::now() - start;
  CAF_CHECK(contains(error, "postgresql 127.0.0.1:" + std::to_string(port)
                                + "/postgres: cannot connect after 3 "
                                  "attempts"));
  CAF_CHECK(contains(error, "refused"));
  CAF_CHECK(took < std::chrono::seconds(10));
}

// The server stops (immediate shutdown) while the job writes: the job fails
// within seconds, naming the server, instead of hanging.
CAF_TEST(a server that goes away mid-job fails the job within seconds) {
  temp_dir dir{"postgres_sink"};
  postgres_server server{dir};
  stream_execution_environment env;
  env.set_parallelism(2);
  env.config().checkpointing.interval = 100;
  env.config().checkpointing.dir = dir.file("chk");
  env.config().restarts = restart_strategy::no_restart();
  // 2,000 numbers a second: ten seconds of input.
  write_numbers(env.from_generator(
                       20000,
                       [](uint64_t i) { return static_cast<int64_t>(i); },
                       2000)
                    .uid("numbers"),
                server, "numbers", "job5");
  std::atomic<bool> gone{false};
  std::chrono::steady_clock::time_point stopped;
  std::thread stopper{[&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    stopped = std::chrono::steady_clock::now();
    gone = true; // from here on the job may fail
    server.stop();
  }};
  struct joiner {
    std::thread& t;
    ~joiner() {
      if (t.joinable())
        t.join();
    }
  } join_stopper{stopper};
  auto error = message_of<job_failed>([&] { env.execute("postgres gone"); });
  auto ended = std::chrono::steady_clock::now();
  CAF_CHECK(gone.load()); // it did not fail before the server went
  stopper.join();
  auto took = ended - stopped;
  CAF_MESSAGE("failed after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took)
                     .count()
              << " ms: " << error);
  CAF_CHECK(contains(error, "postgresql 127.0.0.1:"
                                + std::to_string(server.port())
                                + "/postgres"));
  CAF_CHECK(took < std::chrono::seconds(10));
}

CAF_TEST(prepared transactions are told apart and lost ones reported) {
  temp_dir dir{"postgres_sink"};
  postgres_server server{dir};
  auto c = server.client();
  auto admin = server.client();
  c->exec("CREATE TABLE t (n bigint)");
  auto prepare = [&](const std::string& gid) {
    c->exec("BEGIN");
    c->exec("INSERT INTO t VALUES (1)");
    pg::prepared_txn txn{gid, 0};
    pg::detail::prepare(*c, txn);
    CAF_CHECK_NOT_EQUAL(txn.xid, 0u);
    return txn;
  };
  // Committed twice: the second finds it gone, and committed.
  auto a = prepare("job7-s0-c1");
  pg::detail::commit_prepared(*admin, a);
  pg::detail::commit_prepared(*admin, a);
  CAF_CHECK_EQUAL(pg_scalar(*c, "SELECT count(*) FROM t"), "1");
  // Rolled back behind the sink's back: its commit says the rows are lost.
  auto b = prepare("job7-s0-c2");
  admin->exec("ROLLBACK PREPARED 'job7-s0-c2'");
  auto lost = message_of<pg::pg_error>(
      [&] { pg::detail::commit_prepared(*admin, b); });
  CAF_CHECK(contains(lost, "'job7-s0-c2'"));
  CAF_CHECK(contains(lost, "gone without being committed (aborted)"));
  // PREPARE outside a transaction prepares nothing: an error, not a no-op.
  pg::prepared_txn none{"job7-s0-c9", 0};
  CAF_CHECK(contains(message_of<pg::pg_error>(
                         [&] { pg::detail::prepare(*c, none); }),
                     "did not prepare"));
  // The sweep takes exactly <prefix>-s<j>-c<n> with j mod p = subtask,
  // also for a prefix that is not ASCII.
  prepare("job7-s1-c3");
  prepare("job7-s1-cX-s0-c3");
  prepare("job7-s3-c4");
  prepare("jöb7-s0-c1");
  CAF_CHECK_EQUAL(pg::detail::prepared_of(*admin, "job7", 1, 2),
                  (std::vector<std::string>{"job7-s1-c3", "job7-s3-c4"}));
  CAF_CHECK_EQUAL(pg::detail::prepared_of(*admin, "job7", 0, 2),
                  std::vector<std::string>{});
  CAF_CHECK_EQUAL(pg::detail::prepared_of(*admin, "jöb7", 0, 1),
                  std::vector<std::string>{"jöb7-s0-c1"});
  for (auto gid : {"job7-s1-c3", "job7-s1-cX-s0-c3", "job7-s3-c4",
                   "jöb7-s0-c1"})
    pg::detail::rollback_prepared(*admin, gid);
  pg::detail::rollback_prepared(*admin, "job7-s1-c3"); // gone: fine
  // Too few prepared transactions for the sink's subtasks (20 here).
  CAF_CHECK(contains(message_of<pg::pg_error>([&] {
                       pg::detail::check_prepared_transactions(*c, 30);
                     }),
                     "max_prepared_transactions is 20, below the sink's 30 "
                     "subtasks"));
  pg::detail::check_prepared_transactions(*c, 20);
}

CAF_TEST(a statement never waits without bound) {
  temp_dir dir{"postgres_sink"};
  postgres_server server{dir};
  auto owner = server.client();
  owner->exec("CREATE TABLE t (n bigint)");
  pg::connect_options o;
  o.lock_timeout = 300;
  o.answer_timeout = 1500;
  pg::connection c{server.where(), o};
  // A lock held elsewhere: the server gives up at lock_timeout.
  owner->exec("BEGIN");
  owner->exec("LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
  auto start = std::chrono::steady_clock::now();
  auto locked = message_of<pg::pg_error>(
      [&] { c.exec("INSERT INTO t VALUES (1)"); });
  CAF_CHECK(contains(locked, "lock timeout"));
  CAF_CHECK(std::chrono::steady_clock::now() - start
            < std::chrono::seconds(3));
  owner->exec("ROLLBACK");
  // A server process that cannot answer (stopped): the client gives up at
  // the answer timeout, and the connection refuses further use.
  auto pid = std::stoi(pg_scalar(c, "SELECT pg_backend_pid()"));
  ::kill(pid, SIGSTOP);
  start = std::chrono::steady_clock::now();
  auto silent = message_of<pg::pg_error>([&] { c.exec("SELECT 1"); });
  auto took = std::chrono::steady_clock::now() - start;
  ::kill(pid, SIGCONT);
  CAF_CHECK(contains(silent, "no answer within 1500 ms"));
  CAF_CHECK(took >= std::chrono::milliseconds(1400));
  CAF_CHECK(took < std::chrono::seconds(4));
  CAF_CHECK(contains(message_of<pg::pg_error>([&] { c.exec("SELECT 1"); }),
                     "unusable"));
}
