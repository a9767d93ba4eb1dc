#define CAF_SUITE stock_aggregator_cli
#include "caf/test/unit_test.hpp"

// Runs the real stock_aggregator executable as a child process on real
// files in a fresh temporary directory and checks its output against a
// plain loop over the same trades.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "child_process.hpp"
#include "stock_reference.hpp"

using namespace libstream::test;
using namespace stock_test;

#ifndef STOCK_AGGREGATOR
#error "STOCK_AGGREGATOR must name the stock_aggregator executable"
#endif

namespace {

const std::string exe = STOCK_AGGREGATOR;

/// One malformed line of each kind the parser must reject.
const std::vector<std::string> malformed_lines = {
    "1000,Tec0,Technology,1.5",     // too few fields
    "12x4,Tec0,Technology,1.5,10",  // timestamp not an integer
    "1000,Tec0,Technology,-1.5,10", // negative price
    "1000,Tec0,Technology,abc,10",  // alphabetic price
    "1000,Tec0,Technology,1.5,0",   // zero quantity
};

struct fixture {
  temp_dir dir{"stock_cli"};
  std::vector<gen_trade> trades = make_trades(3000);

  std::string write_input(const std::string& name,
                          const std::vector<std::string>& lines,
                          const std::string& eol = "\n") {
    auto path = dir.file(name);
    write_file(path, to_csv(lines, eol));
    return path;
  }

  run_result run(std::vector<std::string> args) {
    return run_child(dir, exe, args);
  }

  /// Runs with `args` and checks that stdout holds exactly `expected`.
  void check_rows(std::vector<std::string> args,
                  const std::vector<std::string>& expected) {
    auto r = run(std::move(args));
    CAF_CHECK_EQUAL(r.exit_code, 0);
    if (r.exit_code != 0)
      CAF_MESSAGE("stderr: " << r.err);
    std::vector<std::string> rows;
    CAF_CHECK(output_rows(r.out, rows));
    CAF_CHECK(same_rows(expected, rows));
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(stock_aggregator_cli_tests, fixture)

// -- correct input ------------------------------------------------------------

CAF_TEST(output rows match a plain loop for parallelism 1 2 and 4) {
  auto input = write_input("trades.csv", lines_of(trades));
  auto expected = expected_rows(trades, 60000);
  CAF_REQUIRE(expected.size() > 20);
  for (int p : {1, 2, 4}) {
    CAF_MESSAGE("parallelism " << p);
    // Small splits: every subtask reads several, cut mid-line.
    for (auto split : {"0", "1000"})
      check_rows({"--input", input, "--parallelism", std::to_string(p),
                  "--split-bytes", split},
                 expected);
  }
}

CAF_TEST(a directory of files gives the rows of their trades) {
  // Three files (one with CRLF, one with quoted fields), and files the
  // source skips: names starting with '.' or '_'.
  std::vector<gen_trade> a(trades.begin(), trades.begin() + 300);
  std::vector<gen_trade> b(trades.begin() + 300, trades.begin() + 700);
  std::vector<gen_trade> c(trades.begin() + 700, trades.end());
  auto in = dir.file("in");
  CAF_REQUIRE_EQUAL(::mkdir(in.c_str(), 0755), 0);
  write_file(in + "/a.csv", to_csv(lines_of(a)));
  write_file(in + "/b.csv", to_csv(lines_of(b), "\r\n"));
  // c.csv quotes every symbol and industry field (RFC 4180).
  std::string quoted = header + "\n";
  for (auto& t : c) {
    auto f = split(t.line, ',');
    quoted += f[0] + ",\"" + f[1] + "\",\"" + f[2] + "\"," + f[3] + "," + f[4]
              + "\n";
  }
  write_file(in + "/c.csv", quoted);
  write_file(in + "/.hidden.csv", "not,a,trade\n");
  write_file(in + "/_writing.csv", "not,a,trade\n");
  auto expected = expected_rows(trades, 60000);
  for (int p : {1, 3})
    check_rows({"--input", in, "--parallelism", std::to_string(p),
                "--split-bytes", "2000"},
               expected);
}

CAF_TEST(ten second windows written to an output file) {
  auto input = write_input("trades.csv", lines_of(trades));
  auto expected = expected_rows(trades, 10000);
  for (int p : {1, 3}) {
    CAF_MESSAGE("parallelism " << p);
    auto output = dir.file("out-" + std::to_string(p) + ".csv");
    auto r = run({"--input", input, "--window-ms", "10000", "--parallelism",
                  std::to_string(p), "--output", output});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    CAF_CHECK_EQUAL(r.out, "");
    std::vector<std::string> rows;
    CAF_CHECK(output_rows(read_file(output), rows));
    CAF_CHECK(same_rows(expected, rows));
  }
}

CAF_TEST(crlf input gives the same rows) {
  auto input = write_input("crlf.csv", lines_of(trades), "\r\n");
  auto r = run({"--input", input, "--parallelism", "2"});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  std::vector<std::string> rows;
  CAF_CHECK(output_rows(r.out, rows));
  CAF_CHECK(same_rows(expected_rows(trades, 60000), rows));
}

CAF_TEST(a header only input gives no rows) {
  auto input = write_input("empty.csv", {});
  auto r = run({"--input", input});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK_EQUAL(r.out, out_header + "\n");
}

CAF_TEST(a larger input at the out of orderness bound with small windows) {
  // 5000 ms late is still in time: the watermark is max_ts - 5000 - 1.
  auto many = make_trades(40000, 7, 5000);
  auto input = write_input("many.csv", lines_of(many));
  auto expected = expected_rows(many, 1000);
  for (int p : {1, 4}) {
    CAF_MESSAGE("parallelism " << p);
    auto r = run({"--input", input, "--window-ms", "1000", "--parallelism",
                  std::to_string(p)});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    std::vector<std::string> rows;
    CAF_CHECK(output_rows(r.out, rows));
    CAF_CHECK(same_rows(expected, rows));
  }
}

// -- malformed input ----------------------------------------------------------

CAF_TEST(a malformed line fails the job naming file and line) {
  auto good = lines_of(trades);
  for (size_t i = 0; i < malformed_lines.size(); ++i) {
    auto lines = good;
    // Line numbers are 1-based and the header is line 1.
    size_t pos = 500 + i * 400;
    lines.insert(lines.begin() + static_cast<ptrdiff_t>(pos),
                 malformed_lines[i]);
    auto line_no = pos + 2;
    auto input = write_input("bad-" + std::to_string(i) + ".csv", lines);
    for (int p : {1, 2}) {
      CAF_MESSAGE("'" << malformed_lines[i] << "' at line " << line_no
                      << ", parallelism " << p);
      auto r = run({"--input", input, "--parallelism", std::to_string(p)});
      CAF_CHECK_NOT_EQUAL(r.exit_code, 0);
      CAF_CHECK_NOT_EQUAL(r.exit_code, 124); // not a hang
      CAF_CHECK(is_one_line(r.err));
      CAF_CHECK(contains(r.err, input + ":" + std::to_string(line_no)));
      if (!contains(r.err, input + ":" + std::to_string(line_no)))
        CAF_MESSAGE("stderr: " << r.err);
    }
  }
}

CAF_TEST(dead letter file holds exactly the malformed lines) {
  auto good = lines_of(trades);
  auto lines = good;
  // Spread the malformed lines over the file, one of them right after the
  // header and one at the end.
  std::vector<size_t> positions = {0, 700, 1500, 2200, 3000};
  for (size_t i = malformed_lines.size(); i-- > 0;)
    lines.insert(lines.begin() + static_cast<ptrdiff_t>(positions[i]),
                 malformed_lines[i]);
  auto input = write_input("mixed.csv", lines);
  auto expected = expected_rows(trades, 60000);
  auto expected_dead = malformed_lines;
  std::sort(expected_dead.begin(), expected_dead.end());
  for (int p : {1, 2, 4}) {
    CAF_MESSAGE("parallelism " << p);
    auto dead = dir.file("dead-" + std::to_string(p) + ".txt");
    auto r = run({"--input", input, "--parallelism", std::to_string(p),
                  "--dead-letter", dead});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    if (r.exit_code != 0)
      CAF_MESSAGE("stderr: " << r.err);
    auto dead_lines = split_lines(read_file(dead));
    std::sort(dead_lines.begin(), dead_lines.end());
    CAF_CHECK_EQUAL(dead_lines, expected_dead);
    std::vector<std::string> rows;
    CAF_CHECK(output_rows(r.out, rows));
    CAF_CHECK(same_rows(expected, rows));
  }
}

CAF_TEST(a wrong header fails naming line 1) {
  auto input = dir.file("noheader.csv");
  std::string text = "ts,symbol,industry,price,quantity\n";
  for (auto& t : trades)
    text += t.line + "\n";
  write_file(input, text);
  auto r = run({"--input", input});
  CAF_CHECK_NOT_EQUAL(r.exit_code, 0);
  CAF_CHECK_NOT_EQUAL(r.exit_code, 124);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, input + ":1:"));
}

CAF_TEST(a missing input file is a one line error naming the path) {
  auto input = dir.file("does-not-exist.csv");
  for (int p : {1, 4}) {
    auto r = run({"--input", input, "--parallelism", std::to_string(p)});
    CAF_CHECK_NOT_EQUAL(r.exit_code, 0);
    CAF_CHECK_NOT_EQUAL(r.exit_code, 124);
    CAF_CHECK(is_one_line(r.err));
    CAF_CHECK(contains(r.err, input));
  }
}

// Regression: a timestamp whose window does not fit in int64 (window start
// below INT64_MIN or window end above INT64_MAX) overflows in
// libstream/window/assigners.hpp (window_start_with_offset, tumbling) and
// yields rows with window_end < window_start and exit code 0. Either the
// line is rejected with file and line, or the rows must be consistent.
CAF_TEST(timestamps at the ends of int64 give no overflowed windows) {
  for (auto ts : {std::string{"-9223372036854775000"},
                  std::string{"9223372036854775000"}}) {
    auto input = write_input("extreme.csv", {ts + ",A,Tech,1.5,10"});
    auto r = run({"--input", input});
    CAF_MESSAGE(ts << " -> exit " << r.exit_code << ", out: " << r.out
                   << "err: " << r.err);
    if (r.exit_code != 0) {
      CAF_CHECK(contains(r.err, input + ":2"));
      continue;
    }
    std::vector<std::string> rows;
    CAF_CHECK(output_rows(r.out, rows));
    for (auto& row : rows) {
      auto c1 = row.find(',');
      auto start = std::stoll(row.substr(0, c1));
      auto end = std::stoll(row.substr(c1 + 1));
      CAF_CHECK(start < end);
    }
  }
}

// Regression: trade.cpp accepts any positive int64 quantity and
// stock_job.cpp sums volume in int64 (trade_stats::add), so a large volume
// silently wraps to a negative number. Either the line is rejected with
// file and line, or the volume must be the exact sum.
CAF_TEST(a volume beyond int64 is not silently wrapped) {
  auto input = write_input("volume.csv", {"1000,A,Tech,1.5,9223372036854775807",
                                          "1001,A,Tech,1.5,1"});
  auto r = run({"--input", input});
  CAF_MESSAGE("exit " << r.exit_code << ", out: " << r.out << "err: " << r.err);
  if (r.exit_code != 0) {
    CAF_CHECK(contains(r.err, input + ":"));
  } else {
    std::vector<std::string> rows;
    CAF_CHECK(output_rows(r.out, rows));
    CAF_CHECK_EQUAL(rows, std::vector<std::string>{
                              "0,60000,Tech,2,9223372036854775808,1.500000"});
  }
}

// -- command line -------------------------------------------------------------

CAF_TEST(bad flags and values are one line errors with exit code 2) {
  auto input = write_input("trades.csv", lines_of(trades));
  std::vector<std::vector<std::string>> cases = {
      {"--no-such-flag"},
      {"--input", input, "--window-ms", "abc"},
      {"--input", input, "--window-ms", "0"},
      {"--input", input, "--window-ms", "-5"},
      {"--input", input, "--parallelism", "0"},
      {"--input", input, "--parallelism", "x"},
  };
  for (auto& args : cases) {
    auto r = run(args);
    CAF_MESSAGE("args " << args.back() << " -> " << r.exit_code << ": "
                        << r.err);
    CAF_CHECK_EQUAL(r.exit_code, 2);
    CAF_CHECK(is_one_line(r.err));
    CAF_CHECK(contains(r.err, "error"));
  }
}

// Regression: main.cpp uses po::parse_command_line, which drops positional
// tokens, so `stock_aggregator trades.csv` (a forgotten --input) silently
// runs the 5-million-trade generator instead of failing.
CAF_TEST(a stray positional argument is a one line error with exit code 2) {
  auto input = write_input("trades.csv", lines_of(trades));
  auto r = run({input, "--records", "10", "--quiet"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, "error"));
  CAF_MESSAGE("stderr: " << r.err);
}

CAF_TEST(generator mode prints a summary line) {
  auto r = run({"--records", "200000", "--quiet"});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK_EQUAL(r.out, "");
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, "200000 records"));
}

// -- data safety --------------------------------------------------------------

// Regression: --output naming the input file emptied the input and exited
// 0. Paths are compared as files: another spelling or a hard link counts.
CAF_TEST(an output that is the input file is refused and the input kept) {
  auto input = write_input("trades.csv", lines_of(trades));
  auto before = read_file(input);
  auto link = dir.file("link.csv");
  CAF_REQUIRE_EQUAL(::link(input.c_str(), link.c_str()), 0);
  auto other = dir.path() + "/./../" + split_path_name(dir.path())
               + "/trades.csv";
  std::vector<std::vector<std::string>> cases = {
      {"--input", input, "--output", input},
      {"--input", input, "--output", other},
      {"--input", input, "--output", link},
      {"--input", input, "--dead-letter", link},
      {"--input", input, "--output", dir.file("o.csv"), "--dead-letter",
       dir.file("o.csv")},
  };
  for (auto& args : cases) {
    auto r = run(args);
    CAF_MESSAGE(args[3] << " -> " << r.exit_code << ": " << r.err);
    CAF_CHECK_EQUAL(r.exit_code, 2);
    CAF_CHECK(is_one_line(r.err));
    CAF_CHECK(contains(r.err, "choose another output path")
              || contains(r.err, "give each output its own path"));
    CAF_CHECK_EQUAL(read_file(input), before);
  }
  CAF_CHECK(!file_exists(dir.file("o.csv")));
}

// Regression: a failed run left a partial output file that looked finished.
CAF_TEST(a failed run leaves the earlier output and no temporary) {
  auto lines = lines_of(trades);
  lines.insert(lines.begin() + 2000, "1000,Tec0,Technology,abc,10");
  auto input = write_input("bad.csv", lines);
  auto output = dir.file("out.csv");
  write_file(output, "earlier result\n");
  auto dead = dir.file("dead.txt");
  write_file(dead, "earlier dead letters\n");
  auto r = run({"--input", input, "--output", output});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK_EQUAL(read_file(output), "earlier result\n");
  // A successful run replaces it whole.
  r = run({"--input", write_input("good.csv", lines_of(trades)), "--output",
           output, "--dead-letter", dead});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  std::vector<std::string> rows;
  CAF_CHECK(output_rows(read_file(output), rows));
  CAF_CHECK(same_rows(expected_rows(trades, 60000), rows));
  CAF_CHECK_EQUAL(read_file(dead), "");
  for (auto& name : list_dir(dir.path()))
    CAF_CHECK(!contains(name, ".inprogress."));
}

CAF_TEST(a run killed with SIGKILL leaves no visible file and the next run
           cleans up) {
  auto output = dir.file("gen.csv");
  {
    background_child child{dir, exe,
                           {"--records", "2000000000", "--output", output}};
    // Running: its temporary exists.
    CAF_REQUIRE(background_child::wait_until([&] {
      return count_prefixed(dir.path(), ".gen.csv.inprogress.") == 1;
    }));
    child.signal(SIGKILL);
    CAF_CHECK_EQUAL(child.wait_for(5000), background_child::killed_by(SIGKILL));
  }
  CAF_CHECK(!file_exists(output));
  // The killed run's temporary stays, hidden.
  CAF_CHECK_EQUAL(count_prefixed(dir.path(), ".gen.csv.inprogress."), 1u);
  auto r = run({"--records", "10000", "--output", output});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(file_exists(output));
  for (auto& name : list_dir(dir.path()))
    CAF_CHECK(!contains(name, ".inprogress."));
}

// Regression: with stdout on a full disk the app printed its summary and
// exited 0.
CAF_TEST(a failed write to stdout fails the run) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"--records", "300000"},
           {"--input", write_input("t.csv", lines_of(trades))}}) {
    background_child child{dir, exe, args, "/dev/full"};
    auto rc = child.wait_for(30000);
    CAF_MESSAGE("exit " << rc << ": " << child.err());
    CAF_CHECK_EQUAL(rc, 1);
    CAF_CHECK(contains(child.err(), "error writing to stdout"));
    CAF_CHECK(contains(child.err(), "No space left on device"));
  }
}

// Regression: SIGINT and SIGTERM killed the app mid-line.
CAF_TEST(sigint and sigterm cancel cleanly within two seconds) {
  for (int sig : {SIGINT, SIGTERM}) {
    CAF_MESSAGE("signal " << sig);
    // To a file: nothing appears, the earlier file stays.
    auto output = dir.file("sig.csv");
    write_file(output, "earlier\n");
    {
      background_child child{dir, exe,
                             {"--records", "2000000000", "--output", output}};
      CAF_REQUIRE(background_child::wait_until([&] {
        return count_prefixed(dir.path(), ".sig.csv.inprogress.") == 1;
      }));
      auto t0 = now_ms();
      child.signal(sig);
      CAF_CHECK_EQUAL(child.wait_for(5000), 128 + sig);
      CAF_CHECK_LESS(now_ms() - t0, 2000);
      CAF_CHECK(contains(child.err(), "cancelled"));
    }
    CAF_CHECK_EQUAL(read_file(output), "earlier\n");
    for (auto& name : list_dir(dir.path()))
      CAF_CHECK(!contains(name, ".inprogress."));
    // To stdout: only whole rows.
    background_child child{dir, exe, {"--records", "2000000000"}};
    CAF_REQUIRE(background_child::wait_until(
        [&] { return child.out().size() > out_header.size() + 1; }));
    auto t0 = now_ms();
    child.signal(sig);
    CAF_CHECK_EQUAL(child.wait_for(5000), 128 + sig);
    CAF_CHECK_LESS(now_ms() - t0, 2000);
    auto out = child.out();
    CAF_REQUIRE(!out.empty());
    CAF_CHECK_EQUAL(out.back(), '\n');
    auto lines = split_lines(out);
    CAF_CHECK_EQUAL(lines.front(), out_header);
    for (size_t i = 1; i < lines.size(); ++i)
      CAF_CHECK_EQUAL(std::count(lines[i].begin(), lines[i].end(), ','), 5);
  }
}

CAF_TEST(a second signal exits at once) {
  background_child child{dir, exe, {"--records", "2000000000"}};
  CAF_REQUIRE(background_child::wait_until(
      [&] { return child.out().size() > out_header.size() + 1; }));
  // Both pending when the process continues: SIGINT (the lower number) is
  // taken first and starts the cancellation, SIGTERM then ends the process
  // at once with its own status, before the cancellation completes.
  child.signal(SIGSTOP);
  child.signal(SIGINT);
  child.signal(SIGTERM);
  child.signal(SIGCONT);
  CAF_CHECK_EQUAL(child.wait_for(5000), 128 + SIGTERM);
}

// -- fault tolerance ----------------------------------------------------------

// The process is killed with SIGKILL mid-run and started again from its
// checkpoint root: the output directory holds every row exactly once.
CAF_TEST(a killed run resumes from its checkpoints with exactly once output) {
  auto many = make_trades(20000, 5);
  auto input = write_input("many.csv", lines_of(many));
  for (std::string backend : {"memory", "leveldb"}) {
    CAF_MESSAGE("state backend " << backend);
    auto out = dir.file("out-" + backend);
    auto chk = dir.file("chk-" + backend);
    auto state = dir.file("state-" + backend);
    std::vector<std::string> args = {"--input", input, "--output", out,
                                      "--checkpoint-dir", chk,
                                      "--checkpoint-interval-ms", "100",
                                      "--parallelism", "2",
                                      "--state-backend", backend,
                                      "--state-dir", state};
    {
      auto slow = args;
      slow.insert(slow.end(), {"--rate", "8000"});
      background_child child{dir, exe, slow};
      CAF_REQUIRE(background_child::wait_until(
          [&] { return has_checkpoint(chk); }, 20000));
      ::usleep(300 * 1000); // some more, and some output committed
      child.signal(SIGKILL);
      CAF_CHECK_EQUAL(child.wait_for(5000),
                      background_child::killed_by(SIGKILL));
    }
    if (backend == "leveldb") // the killed run's databases are left
      CAF_CHECK_EQUAL(count_prefixed(state, "libstream-"), 1u);
    auto resumed = args;
    resumed.insert(resumed.end(), {"--from-savepoint", chk});
    auto r = run(resumed);
    CAF_CHECK_EQUAL(r.exit_code, 0);
    if (r.exit_code != 0)
      CAF_MESSAGE("stderr: " << r.err);
    CAF_CHECK(same_rows(expected_rows(many, 60000), part_rows(out)));
    CAF_CHECK_EQUAL(count_prefixed(out, ".part-"), 0u);
    // The next run removed them, and its own when it ended.
    if (backend == "leveldb")
      CAF_CHECK_EQUAL(count_prefixed(state, ""), 0u);
  }
}

CAF_TEST(stop with a savepoint and resume from it) {
  auto many = make_trades(20000, 9);
  auto input = write_input("many.csv", lines_of(many));
  auto out = dir.file("out");
  auto sp = dir.file("savepoints");
  std::vector<std::string> args = {"--input", input, "--output", out,
                                    "--checkpoint-dir", dir.file("chk")};
  auto first = args;
  first.insert(first.end(), {"--rate", "10000", "--savepoint-dir", sp,
                             "--stop-with-savepoint-after-ms", "600"});
  auto r = run(first);
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains(r.err, "stopped with savepoint"));
  auto saved = list_dir(sp);
  CAF_REQUIRE_EQUAL(saved.size(), 1u);
  auto second = args;
  second.insert(second.end(), {"--from-savepoint", sp + "/" + saved[0]});
  r = run(second);
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(same_rows(expected_rows(many, 60000), part_rows(out)));
}

CAF_TEST(bad checkpoint options and paths are one line errors) {
  auto input = write_input("t.csv", lines_of(trades));
  auto r = run({"--input", input, "--from-savepoint", dir.file("none")});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, "does not exist"));
  write_file(dir.file("blocker"), "x");
  r = run({"--input", input, "--checkpoint-dir", dir.file("blocker")});
  CAF_CHECK_NOT_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains(r.err, "is a file"));
  r = run({"--input", input, "--checkpointing-mode", "sometimes"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "exactly-once or at-least-once"));
  r = run({"--input", input, "--state-backend", "rocksdb"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "memory or leveldb"));
  // A local state directory that cannot be one: refused before running.
  r = run({"--input", input, "--state-backend", "leveldb", "--state-dir",
           dir.file("blocker") + "/sub"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, "local state directory"));
  CAF_CHECK(contains(r.err, "is a file"));
  // A damaged checkpoint named directly is refused, naming the file.
  auto chk = dir.file("chk");
  r = run({"--input", input, "--output", dir.file("o"), "--checkpoint-dir",
           chk, "--checkpoint-interval-ms", "50", "--rate", "6000"});
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  std::string newest;
  for (auto& job : list_dir(chk))
    for (auto& c : list_dir(chk + "/" + job))
      newest = chk + "/" + job + "/" + c;
  CAF_REQUIRE(!newest.empty());
  auto meta = newest + "/_metadata";
  auto bytes = read_file(meta);
  write_file(meta, bytes.substr(0, bytes.size() / 2));
  r = run({"--input", input, "--output", dir.file("o2"), "--checkpoint-dir",
           chk, "--from-savepoint", newest});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, meta));
  CAF_CHECK(contains(r.err, "truncated"));
}

// -- unclear errors -----------------------------------------------------------

// Given a checkpoint root whose newest checkpoint is damaged, recovery
// does not silently fall back to an older one when the job has exactly-once
// part files: that would publish again what was committed after it.
CAF_TEST(a damaged newest checkpoint is not silently replaced by an older) {
  auto many = make_trades(20000, 3);
  auto input = write_input("many.csv", lines_of(many));
  auto chk = dir.file("chk");
  auto r = run({"--input", input, "--output", dir.file("o1"),
                "--checkpoint-dir", chk, "--checkpoint-interval-ms", "50",
                "--rate", "40000"});
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  std::vector<std::string> complete;
  for (auto& job : list_dir(chk))
    for (auto& c : list_dir(chk + "/" + job))
      if (file_exists(chk + "/" + job + "/" + c + "/_metadata"))
        complete.push_back(chk + "/" + job + "/" + c);
  CAF_REQUIRE_GREATER_OR_EQUAL(complete.size(), 2u);
  std::sort(complete.begin(), complete.end(), [](auto& a, auto& b) {
    return std::stoull(a.substr(a.rfind('-') + 1))
           < std::stoull(b.substr(b.rfind('-') + 1));
  });
  auto newest = complete.back();
  auto older = complete[complete.size() - 2];
  // Damage a data file of the newest (a bit flipped in the middle), or
  // its metadata when it has none (taken after every keyed subtask had
  // finished, it holds only final non-keyed state).
  std::string victim;
  for (auto& name : list_dir(newest))
    if (name != "_metadata")
      victim = newest + "/" + name;
  if (victim.empty())
    victim = newest + "/_metadata";
  auto bytes = read_file(victim);
  CAF_REQUIRE(!bytes.empty());
  bytes[bytes.size() / 2] ^= 0x10;
  write_file(victim, bytes);
  r = run({"--input", input, "--output", dir.file("o2"), "--checkpoint-dir",
           chk, "--from-savepoint", chk});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, newest));
  CAF_CHECK(contains(r.err, "publish again"));
  CAF_CHECK(contains(r.err, "--from-savepoint"));
  CAF_CHECK(!file_exists(dir.file("o2")) || list_dir(dir.file("o2")).empty());
  // Naming the older checkpoint is the user's informed choice: it runs.
  r = run({"--input", input, "--output", dir.file("o3"), "--checkpoint-dir",
           chk, "--from-savepoint", older});
  CAF_CHECK_EQUAL(r.exit_code, 0);
}

CAF_TEST(unreadable inputs and outputs say why) {
  auto input = write_input("t.csv", lines_of(trades));
  auto missing_dir = dir.file("no/such/dir/out.csv");
  auto r = run({"--input", input, "--output", missing_dir});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, "No such file or directory"));
  r = run({"--input", input, "--dead-letter", dir.path()});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(contains(r.err, "is a directory"));
}

// Regression: an empty file (no header) was accepted as zero records.
CAF_TEST(an empty input file is an error for its missing header) {
  auto input = dir.file("empty.csv");
  write_file(input, "");
  auto r = run({"--input", input, "--parallelism", "2"});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, "empty"));
  CAF_CHECK(contains(r.err, header));
}

// Regression: a 10 MB line read as the header was echoed whole, and binary
// input raw.
CAF_TEST(a huge or binary header is quoted short and escaped) {
  auto input = dir.file("huge.csv");
  write_file(input, std::string(10 * 1024 * 1024, 'x'));
  auto r = run({"--input", input});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK_LESS(r.err.size(), 600u);
  CAF_CHECK(contains(r.err, "10485760 bytes"));
  std::string binary = "\x01\x02\xff\x1b[31m";
  write_file(input, binary + "\n");
  r = run({"--input", input});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, "\\x01\\x02\\xff\\x1b[31m"));
  CAF_CHECK(!contains(r.err, "\x1b"));
}

// Regression: the text source had no line-length limit (a 200 MB line took
// 5.3 GB).
CAF_TEST(a line beyond 16 MiB fails naming file and line) {
  auto input = dir.file("long.csv");
  write_file(input, header + "\n" + std::string(17 * 1024 * 1024, '7'));
  auto r = run({"--input", input});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, input));
  CAF_CHECK(contains(r.err, "line 2 is longer than 16777216 bytes"));
}

CAF_TEST_FIXTURE_SCOPE_END()
