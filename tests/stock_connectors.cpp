#define CAF_SUITE stock_connectors
#include "caf/test/unit_test.hpp"

// The stock_aggregator executable with --industry-from: trades without an
// industry column, their industries looked up in a real redis-server or
// over HTTP, the result rows against a plain loop over the same trades.

#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "servers.hpp"
#include "stock_reference.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;
using namespace stock_test;

#ifndef STOCK_AGGREGATOR
#error "STOCK_AGGREGATOR must name the stock_aggregator executable"
#endif

namespace {

const std::string exe = STOCK_AGGREGATOR;

struct split_trade {
  std::string symbol;
  std::string industry;
  std::string line_without_industry;
};

/// ts,symbol,industry,price,quantity -> its parts.
split_trade split_line(const std::string& line) {
  auto f = split(line, ',');
  return split_trade{f[1], f[2], f[0] + "," + f[1] + "," + f[3] + "," + f[4]};
}

/// The trades as a file without the industry column, and each symbol's
/// industry.
std::map<std::string, std::string>
write_without_industry(const std::vector<gen_trade>& trades,
                       const std::string& path,
                       const std::vector<std::string>& extra_lines = {}) {
  std::map<std::string, std::string> industries;
  std::string text = "timestamp_ms,symbol,price,quantity\n";
  for (auto& t : trades) {
    auto s = split_line(t.line);
    industries[s.symbol] = s.industry;
    text += s.line_without_industry + "\n";
  }
  for (auto& l : extra_lines)
    text += l + "\n";
  write_file(path, text);
  return industries;
}

void store_industries(redis_server& server,
                      const std::map<std::string, std::string>& industries) {
  auto c = server.client();
  std::vector<std::vector<std::string>> sets;
  for (auto& [symbol, industry] : industries)
    sets.push_back({"SET", "industry:" + symbol, industry});
  c.pipeline(sets);
}

} // namespace

CAF_TEST(industries from redis give the rows of a plain loop) {
  temp_dir dir{"stock_connectors"};
  redis_server server{dir};
  auto trades = make_trades(20000);
  auto input = dir.file("trades.csv");
  store_industries(server, write_without_industry(trades, input));
  auto expected = expected_rows(trades, 60000);
  struct variant {
    std::string parallelism;
    std::string order;
  };
  for (auto v : {variant{"1", "ordered"}, variant{"2", "unordered"},
                 variant{"4", "unordered"}}) {
    auto out = dir.file("out-" + v.parallelism + v.order + ".csv");
    auto r = run_child(dir, exe,
                       {"--input", input, "--industry-from", server.url(),
                        "--parallelism", v.parallelism, "--lookup-order",
                        v.order, "--lookup-capacity", "50", "--output", out});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    if (r.exit_code != 0)
      CAF_MESSAGE("stderr: " << r.err);
    std::vector<std::string> rows;
    CAF_REQUIRE(output_rows(read_file(out), rows));
    CAF_CHECK(same_rows(expected, rows));
  }
}

CAF_TEST(a symbol without an industry fails the job or goes to the dead
         letters) {
  temp_dir dir{"stock_connectors"};
  redis_server server{dir};
  auto trades = make_trades(3000, 7);
  auto input = dir.file("trades.csv");
  std::vector<std::string> unknown = {"1000,NOPE1,1.5,10", "2000,NOPE2,2,3"};
  store_industries(server, write_without_industry(trades, input, unknown));
  auto failed = run_child(dir, exe,
                          {"--input", input, "--industry-from", server.url(),
                           "--output", dir.file("never.csv")});
  CAF_CHECK_EQUAL(failed.exit_code, 1);
  CAF_CHECK(contains(failed.err, "no industry for symbol 'NOPE"));
  CAF_CHECK(contains(failed.err, server.url()));
  auto dead = dir.file("dead.txt");
  auto out = dir.file("out.csv");
  auto r = run_child(dir, exe,
                     {"--input", input, "--industry-from", server.url(),
                      "--dead-letter", dead, "--output", out,
                      "--parallelism", "2"});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  auto dead_lines = split_lines(read_file(dead));
  std::sort(dead_lines.begin(), dead_lines.end());
  CAF_CHECK_EQUAL(dead_lines, unknown);
  std::vector<std::string> rows;
  CAF_REQUIRE(output_rows(read_file(out), rows));
  CAF_CHECK(same_rows(expected_rows(trades, 60000), rows));
}

CAF_TEST(industries over http give the same rows) {
  temp_dir dir{"stock_connectors"};
  auto trades = make_trades(5000, 11);
  auto input = dir.file("trades.csv");
  auto industries = write_without_industry(trades, input);
  httplib::Server http;
  // A thread per keep-alive connection: 2 subtasks x 16 client threads.
  http.new_task_queue = [] { return new httplib::ThreadPool(64); };
  http.set_keep_alive_max_count(100000);
  http.set_tcp_nodelay(true);
  http.Get(R"(/industry/([^/]+))",
           [&](const httplib::Request& req, httplib::Response& res) {
             auto i = industries.find(req.matches[1]);
             if (i == industries.end())
               res.status = 404;
             else
               res.set_content(i->second + "\n", "text/plain");
           });
  auto port = http.bind_to_any_port("127.0.0.1");
  std::thread serve([&] { http.listen_after_bind(); });
  auto out = dir.file("out.csv");
  auto r = run_child(dir, exe,
                     {"--input", input, "--industry-from",
                      "http://127.0.0.1:" + std::to_string(port)
                          + "/industry/{symbol}",
                      "--parallelism", "2", "--output", out});
  http.stop();
  serve.join();
  CAF_CHECK_EQUAL(r.exit_code, 0);
  if (r.exit_code != 0)
    CAF_MESSAGE("stderr: " << r.err);
  std::vector<std::string> rows;
  CAF_REQUIRE(output_rows(read_file(out), rows));
  CAF_CHECK(same_rows(expected_rows(trades, 60000), rows));
}

CAF_TEST(a redis server that dies mid-run fails the run within seconds) {
  temp_dir dir{"stock_connectors"};
  redis_server server{dir};
  auto trades = make_trades(20000, 3);
  auto input = dir.file("trades.csv");
  store_industries(server, write_without_industry(trades, input));
  // 2,000 trades a second: ten seconds of input.
  background_child run{dir, exe,
                       {"--input", input, "--industry-from", server.url(),
                        "--rate", "2000", "--output", dir.file("out.csv")}};
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  server.kill();
  auto killed = std::chrono::steady_clock::now();
  auto code = run.wait_for(20000);
  auto took = std::chrono::steady_clock::now() - killed;
  CAF_CHECK_EQUAL(code, 1);
  CAF_CHECK(contains(run.err(), "redis 127.0.0.1:"
                                    + std::to_string(server.port())));
  CAF_CHECK(contains(run.err(), "refused"));
  CAF_CHECK(took < std::chrono::seconds(10));
  CAF_MESSAGE("exit after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took)
                     .count()
              << " ms: " << run.err());
}

CAF_TEST(bad lookup options are refused before the job runs) {
  temp_dir dir{"stock_connectors"};
  auto input = dir.file("trades.csv");
  write_file(input, "timestamp_ms,symbol,price,quantity\n1,A,1,1\n");
  auto r = run_child(dir, exe,
                     {"--input", input, "--industry-from", "ftp://x:1"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "--industry-from"));
  r = run_child(dir, exe,
                {"--industry-from", "redis://127.0.0.1:1"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "--industry-from needs --input"));
  r = run_child(dir, exe,
                {"--input", input, "--industry-from", "redis://127.0.0.1:1",
                 "--lookup-order", "sideways"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "--lookup-order"));
  r = run_child(dir, exe,
                {"--input", input, "--industry-from", "redis://127.0.0.1:1",
                 "--lookup-capacity", "0"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "--lookup-capacity"));
}

// -- trades from a Redis stream ------------------------------------------------

namespace {

/// Appends the trades to `stream` as entries with the CSV's fields.
void add_trades(redis_server& server, const std::string& stream,
                const std::vector<gen_trade>& trades) {
  auto c = server.client();
  std::vector<std::vector<std::string>> cmds;
  for (auto& t : trades) {
    auto f = split(t.line, ',');
    cmds.push_back({"XADD", stream, "*", "timestamp_ms", f[0], "symbol", f[1],
                    "industry", f[2], "price", f[3], "quantity", f[4]});
    if (cmds.size() == 1000) {
      c.pipeline(cmds);
      cmds.clear();
    }
  }
  if (!cmds.empty())
    c.pipeline(cmds);
}

} // namespace

CAF_TEST(trades from a redis stream give the rows of a plain loop) {
  temp_dir dir{"stock_connectors"};
  redis_server server{dir};
  auto trades = make_trades(20000, 21);
  add_trades(server, "trades", trades);
  auto c = server.client();
  c.command({"XADD", "trades", "*", "timestamp_ms", "1", "symbol", "X"});
  auto out = dir.file("out.csv");
  auto dead = dir.file("dead.txt");
  auto r = run_child(dir, exe,
                     {"--input", server.url() + "/trades", "--parallelism",
                      "2", "--output", out, "--dead-letter", dead});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  if (r.exit_code != 0)
    CAF_MESSAGE("stderr: " << r.err);
  std::vector<std::string> rows;
  CAF_REQUIRE(output_rows(read_file(out), rows));
  CAF_CHECK(same_rows(expected_rows(trades, 60000), rows));
  auto letters = split_lines(read_file(dead));
  CAF_REQUIRE_EQUAL(letters.size(), 1u);
  CAF_CHECK(contains(letters[0], " timestamp_ms=1 symbol=X"));
  // Without the dead-letter file the entry fails the run, named.
  r = run_child(dir, exe, {"--input", server.url() + "/trades"});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(contains(r.err, "/trades: entry "));
  CAF_CHECK(contains(r.err, "no field 'industry'"));
}

// The run is killed with SIGKILL mid-stream and started again from its
// checkpoints: the stream is read on from the checkpointed id, and the
// exactly-once part files hold every row once.
CAF_TEST(a run over a redis stream killed and resumed writes every row once) {
  temp_dir dir{"stock_connectors"};
  redis_server server{dir};
  auto trades = make_trades(20000, 22);
  add_trades(server, "trades", trades);
  auto out = dir.file("out");
  auto chk = dir.file("chk");
  std::vector<std::string> args = {"--input", server.url() + "/trades",
                                   "--output", out, "--checkpoint-dir", chk,
                                   "--checkpoint-interval-ms", "100",
                                   "--parallelism", "2"};
  {
    auto slow = args;
    slow.insert(slow.end(), {"--rate", "8000"});
    background_child child{dir, exe, slow};
    CAF_REQUIRE(background_child::wait_until(
        [&] { return has_checkpoint(chk); }, 20000));
    ::usleep(300 * 1000);
    child.signal(SIGKILL);
    CAF_CHECK_EQUAL(child.wait_for(5000),
                    background_child::killed_by(SIGKILL));
  }
  // Entries added after the first start are beyond the bounded end.
  add_trades(server, "trades", make_trades(100, 23));
  auto resumed = args;
  resumed.insert(resumed.end(), {"--from-savepoint", chk});
  auto r = run_child(dir, exe, resumed);
  CAF_CHECK_EQUAL(r.exit_code, 0);
  if (r.exit_code != 0)
    CAF_MESSAGE("stderr: " << r.err);
  CAF_CHECK(same_rows(expected_rows(trades, 60000), part_rows(out)));
  CAF_CHECK_EQUAL(count_prefixed(out, ".part-"), 0u);
}

CAF_TEST(redis stream input options are checked) {
  temp_dir dir{"stock_connectors"};
  auto r = run_child(dir, exe, {"--input", "redis://127.0.0.1:1"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "names no stream"));
  r = run_child(dir, exe, {"--follow"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "--follow"));
}

namespace {

/// The result rows in `table` as CSV lines, sorted; empty while the table
/// does not exist.
std::vector<std::string> table_rows(pg::connection& c,
                                    const std::string& table) {
  if (!c.query("SELECT to_regclass(" + c.literal(table) + ")")[0][0])
    return {};
  std::vector<std::string> rows;
  for (auto& r : c.query("SELECT window_start_ms, window_end_ms, industry, "
                         "trades, volume, avg_price FROM "
                         + c.identifier(table))) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i)
      line += (i > 0 ? "," : "") + r[i].value_or("NULL");
    rows.push_back(line);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

} // namespace

CAF_TEST(rows into postgresql equal a plain loop) {
  temp_dir dir{"stock_connectors"};
  postgres_server server{dir};
  auto trades = make_trades(20000, 31);
  auto input = dir.file("trades.csv");
  write_file(input, to_csv(lines_of(trades)));
  auto r = run_child(dir, exe,
                     {"--input", input, "--parallelism", "2", "--output",
                      server.url("industry_rows")});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  if (r.exit_code != 0)
    CAF_MESSAGE("stderr: " << r.err);
  auto c = server.client();
  CAF_CHECK(same_rows(expected_rows(trades, 60000),
                      table_rows(*c, "industry_rows")));
  // Typed columns, named as the CSV header.
  CAF_CHECK_EQUAL(pg_scalar(*c, "SELECT string_agg(column_name || ' ' || "
                            "data_type, ',' ORDER BY ordinal_position) FROM "
                            "information_schema.columns WHERE table_name = "
                            "'industry_rows'"),
                  "window_start_ms bigint,window_end_ms bigint,industry "
                  "text,trades bigint,volume bigint,avg_price numeric");
}

// Killed with SIGKILL after some rows were committed, then resumed from
// its checkpoints at another parallelism: the table holds every row once,
// and no transaction stays prepared.
CAF_TEST(a run into postgresql killed and resumed writes every row once) {
  temp_dir dir{"stock_connectors"};
  postgres_server server{dir};
  auto c = server.client();
  auto trades = make_trades(20000, 37);
  auto input = dir.file("trades.csv");
  write_file(input, to_csv(lines_of(trades)));
  auto chk = dir.file("chk");
  std::vector<std::string> args = {"--input", input, "--output",
                                   server.url("rows"), "--checkpoint-dir", chk,
                                   "--checkpoint-interval-ms", "100"};
  {
    auto slow = args;
    slow.insert(slow.end(), {"--rate", "6000", "--parallelism", "2"});
    background_child child{dir, exe, slow};
    CAF_REQUIRE(background_child::wait_until(
        [&] { return !table_rows(*c, "rows").empty(); }, 20000));
    child.signal(SIGKILL);
    CAF_CHECK_EQUAL(child.wait_for(5000),
                    background_child::killed_by(SIGKILL));
  }
  auto expected = expected_rows(trades, 60000);
  auto before = table_rows(*c, "rows");
  CAF_MESSAGE(before.size() << " of " << expected.size()
                            << " rows committed before the kill");
  CAF_CHECK_LESS(before.size(), expected.size());
  auto resumed = args;
  resumed.insert(resumed.end(),
                 {"--from-savepoint", chk, "--parallelism", "3"});
  auto r = run_child(dir, exe, resumed);
  CAF_CHECK_EQUAL(r.exit_code, 0);
  if (r.exit_code != 0)
    CAF_MESSAGE("stderr: " << r.err);
  CAF_CHECK(same_rows(expected, table_rows(*c, "rows")));
  CAF_CHECK_EQUAL(pg_scalar(*c, "SELECT count(*) FROM pg_prepared_xacts"),
                  "0");
}

CAF_TEST(postgresql output problems are named) {
  temp_dir dir{"stock_connectors"};
  auto input = dir.file("trades.csv");
  write_file(input, to_csv(lines_of(make_trades(100, 41))));
  auto r = run_child(dir, exe,
                     {"--input", input, "--output",
                      "postgresql://u@127.0.0.1:1/db"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "--output expects postgresql://"));
  CAF_CHECK(contains(r.err, "no ?table=NAME"));
  r = run_child(dir, exe,
                {"--input", input, "--transaction-prefix", "x"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "--transaction-prefix applies to a "
                            "postgresql:// --output only"));
  auto port = std::to_string(free_port());
  r = run_child(dir, exe,
                {"--input", input, "--output",
                 "postgresql://postgres@127.0.0.1:" + port + "/db?table=t"});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(contains(r.err, "postgresql 127.0.0.1:" + port
                                + "/db: cannot connect after 4 attempts"));
}

// The run finishes; resumed from its checkpoint directory (as after a crash
// while it committed), it must not add rows: its last checkpoint is the
// final one, which records the last transactions (committed again, a
// no-op), not one from before the end whose replay would insert again.
CAF_TEST(a finished run into postgresql resumed from its checkpoints adds
         nothing) {
  temp_dir dir{"stock_connectors"};
  postgres_server server{dir};
  auto c = server.client();
  auto trades = make_trades(10000, 43);
  auto input = dir.file("trades.csv");
  write_file(input, to_csv(lines_of(trades)));
  auto chk = dir.file("chk");
  std::vector<std::string> args = {"--input", input, "--output",
                                   server.url("rows"), "--checkpoint-dir", chk,
                                   "--checkpoint-interval-ms", "100",
                                   "--parallelism", "2"};
  auto slow = args;
  slow.insert(slow.end(), {"--rate", "10000"});
  auto r = run_child(dir, exe, slow);
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  auto expected = expected_rows(trades, 60000);
  CAF_CHECK(same_rows(expected, table_rows(*c, "rows")));
  auto resumed = args;
  resumed.insert(resumed.end(), {"--from-savepoint", chk});
  r = run_child(dir, exe, resumed);
  CAF_CHECK_EQUAL(r.exit_code, 0);
  if (r.exit_code != 0)
    CAF_MESSAGE("stderr: " << r.err);
  CAF_CHECK(same_rows(expected, table_rows(*c, "rows")));
}
