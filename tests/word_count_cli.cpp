#define CAF_SUITE word_count_cli
#include "caf/test/unit_test.hpp"

// Runs the real word_count executable as a child process on real files and
// checks its counts against a plain loop.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child_process.hpp"
#include "line_server.hpp"

using namespace libstream::test;

#ifndef WORD_COUNT
#error "WORD_COUNT must name the word_count executable"
#endif

namespace {

const std::string exe = WORD_COUNT;

/// Lines of words in mixed case, with punctuation, digits and CRLF endings.
std::string make_text(size_t lines, std::map<std::string, int64_t>& counts) {
  static const char* words[]
      = {"Stream", "window", "KEY", "barrier", "state", "flink",
         "caf",    "x42",    "7",   "Actor",   "slot",  "chain"};
  static const char* seps[] = {" ", ", ", "--", ";", "  ", "!?", "\t"};
  std::mt19937 rng{11};
  std::string text;
  for (size_t i = 0; i < lines; ++i) {
    auto n = rng() % 12;
    for (size_t j = 0; j < n; ++j) {
      std::string w = words[rng() % 12];
      text += w;
      text += seps[rng() % 7];
      std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) {
        return static_cast<char>(std::tolower(c));
      });
      ++counts[w];
    }
    text += (i % 2 == 0) ? "\r\n" : "\n";
  }
  return text;
}

std::vector<std::string> count_lines(const std::map<std::string, int64_t>& m) {
  std::vector<std::string> out;
  for (auto& [w, n] : m)
    out.push_back(w + "," + std::to_string(n));
  return out;
}

struct fixture {
  temp_dir dir{"word_count_cli"};

  run_result run(const std::vector<std::string>& args) {
    return run_child(dir, exe, args);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(word_count_cli_tests, fixture)

CAF_TEST(final counts match a plain loop) {
  std::map<std::string, int64_t> counts;
  auto input = dir.file("text.txt");
  write_file(input, make_text(5000, counts));
  auto expected = count_lines(counts);
  for (int p : {1, 2, 4}) {
    CAF_MESSAGE("parallelism " << p);
    auto r = run({"--input", input, "--parallelism", std::to_string(p)});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    CAF_CHECK(split_lines(r.out) == expected);
    auto output = dir.file("counts-" + std::to_string(p));
    r = run({"--input", input, "--parallelism", std::to_string(p), "--output",
             output});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    CAF_CHECK_EQUAL(r.out, "");
    CAF_CHECK(split_lines(read_file(output)) == expected);
  }
}

CAF_TEST(a file of several splits is counted in parallel) {
  // About 4 MB: the source cuts it into 1 MiB splits that the subtasks
  // read at once, lines cut at the split ends.
  std::map<std::string, int64_t> counts;
  auto input = dir.file("big.txt");
  write_file(input, make_text(100000, counts));
  auto expected = count_lines(counts);
  for (int p : {2, 4}) {
    auto r = run({"--input", input, "--parallelism", std::to_string(p)});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    CAF_CHECK(split_lines(r.out) == expected);
  }
}

CAF_TEST(window counts add up to the totals) {
  std::map<std::string, int64_t> counts;
  auto input = dir.file("text.txt");
  write_file(input, make_text(5000, counts));
  auto r = run({"--input", input, "--window-ms", "50", "--parallelism", "2"});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  std::map<std::string, int64_t> sums;
  for (auto& line : split_lines(r.out)) {
    // window_start_ms,window_end_ms,word,count
    auto c1 = line.find(',');
    auto c2 = line.find(',', c1 + 1);
    auto c3 = line.find(',', c2 + 1);
    CAF_REQUIRE(c3 != std::string::npos);
    CAF_CHECK_EQUAL(std::stoll(line.substr(c1 + 1, c2 - c1 - 1))
                        - std::stoll(line.substr(0, c1)),
                    50);
    sums[line.substr(c2 + 1, c3 - c2 - 1)] += std::stoll(line.substr(c3 + 1));
  }
  CAF_CHECK(sums == counts);
}

CAF_TEST(the built in text is counted without flags) {
  auto r = run({});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains("\n" + r.out, "\nto,13\n"));
  CAF_CHECK(contains("\n" + r.out, "\nthe,7\n"));
}

CAF_TEST(a missing input file is a one line error naming it) {
  auto input = dir.file("missing.txt");
  auto r = run({"--input", input});
  CAF_CHECK_EQUAL(r.exit_code, 1);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, input));
}

CAF_TEST(bad flags and values exit with 2 and one line) {
  std::vector<std::vector<std::string>> cases = {
      {"--bogus"},
      {"stray"},
      {"--window-ms", "abc"},
      {"--window-ms", "0"},
      {"--parallelism", "0"},
      {"--parallelism", "1000"},
      {"--socket", "nohost"},
      {"--socket", "localhost:0"},
      {"--socket", "localhost:x"},
      {"--input", "a", "--socket", "localhost:1"},
  };
  for (auto& args : cases) {
    auto r = run(args);
    CAF_MESSAGE(args.back() << " -> " << r.exit_code << ": " << r.err);
    CAF_CHECK_EQUAL(r.exit_code, 2);
    CAF_CHECK(is_one_line(r.err));
  }
}

namespace {

/// window_start_ms,window_end_ms,word,count rows, split; fails the test on
/// a malformed row.
struct window_row {
  int64_t start;
  int64_t end;
  std::string word;
  int64_t count;
};

std::vector<window_row> window_rows(const std::string& text) {
  std::vector<window_row> rows;
  for (auto& line : split_lines(text)) {
    auto c1 = line.find(',');
    auto c2 = line.find(',', c1 + 1);
    auto c3 = line.find(',', c2 + 1);
    CAF_REQUIRE(c3 != std::string::npos);
    rows.push_back({std::stoll(line.substr(0, c1)),
                    std::stoll(line.substr(c1 + 1, c2 - c1 - 1)),
                    line.substr(c2 + 1, c3 - c2 - 1),
                    std::stoll(line.substr(c3 + 1))});
  }
  return rows;
}

/// How many (window, word) pairs occur more than once.
size_t repeated_windows(const std::vector<window_row>& rows) {
  std::map<std::pair<int64_t, std::string>, int> seen;
  size_t repeats = 0;
  for (auto& r : rows)
    if (++seen[{r.start, r.word}] == 2)
      ++repeats;
  return repeats;
}

} // namespace

// Regression: with --window-ms 100 over 200,000 lines about 100 of 700
// rows were second firings of a window that had fired already.
CAF_TEST(processing time windows fire each word and window once) {
  std::map<std::string, int64_t> counts;
  auto input = dir.file("big.txt");
  write_file(input, make_text(200000, counts));
  for (int p : {1, 2}) {
    auto r = run({"--input", input, "--window-ms", "20", "--parallelism",
                  std::to_string(p)});
    CAF_CHECK_EQUAL(r.exit_code, 0);
    auto rows = window_rows(r.out);
    CAF_CHECK(!rows.empty());
    CAF_CHECK_EQUAL(repeated_windows(rows), 0u);
    std::map<std::string, int64_t> sums;
    for (auto& row : rows)
      sums[row.word] += row.count;
    CAF_CHECK(sums == counts);
  }
}

// Regression: a word after a UTF-8 byte order mark counted as another word.
CAF_TEST(a byte order mark is not part of the first word) {
  auto input = dir.file("bom.txt");
  write_file(input, "\xEF\xBB\xBFhello world\nhello\n");
  auto r = run({"--input", input});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK_EQUAL(r.out, "hello,2\nworld,1\n");
}

CAF_TEST(an output that is the input file is refused) {
  auto input = dir.file("text.txt");
  write_file(input, "a b c\n");
  auto r = run({"--input", input, "--output", dir.path() + "/../"
                                                  + split_path_name(dir.path())
                                                  + "/text.txt"});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(is_one_line(r.err));
  CAF_CHECK(contains(r.err, "choose another output path"));
  CAF_CHECK_EQUAL(read_file(input), "a b c\n");
}

// A FIFO whose writer stays open keeps the bounded file input running (and
// shows that a pipe without data does not block the subtask's thread, so
// the cancel is heard).
CAF_TEST(a cancelled bounded run leaves the earlier output) {
  auto fifo = dir.file("input.fifo");
  CAF_REQUIRE_EQUAL(::mkfifo(fifo.c_str(), 0600), 0);
  int writer = ::open(fifo.c_str(), O_RDWR); // never blocks, never closes
  CAF_REQUIRE(writer >= 0);
  std::string lines = "one two three\nfour five\n";
  CAF_REQUIRE_EQUAL(::write(writer, lines.data(), lines.size()),
                    static_cast<ssize_t>(lines.size()));
  auto output = dir.file("counts.txt");
  write_file(output, "earlier\n");
  {
    background_child child{dir, exe, {"--input", fifo, "--output", output}};
    CAF_REQUIRE(background_child::wait_until([&] {
      return count_prefixed(dir.path(), ".counts.txt.inprogress.") == 1;
    }));
    // Still running: the FIFO has not ended.
    CAF_CHECK_EQUAL(child.wait_for(200), -1);
    auto t0 = now_ms();
    child.signal(SIGINT);
    CAF_CHECK_EQUAL(child.wait_for(5000), 130);
    CAF_CHECK_LESS(now_ms() - t0, 2000);
    CAF_CHECK(contains(child.err(), "cancelled"));
  }
  ::close(writer);
  CAF_CHECK_EQUAL(read_file(output), "earlier\n");
  CAF_CHECK_EQUAL(count_prefixed(dir.path(), ".counts.txt.inprogress."), 0u);
}

// Regression: word_count --socket with --output and --window-ms lost every
// window already fired when it was stopped. A signal stops the input now,
// and what was counted reaches the file.
CAF_TEST(a signal stops socket input and keeps what was counted) {
  for (int sig : {SIGINT, SIGTERM}) {
    line_server server;
    server.serve_repeating("alpha beta beta", 50, 1);
    auto output = dir.file("stream-" + std::to_string(sig) + ".csv");
    background_child child{
        dir,
        exe,
        {"--socket", "127.0.0.1:" + std::to_string(server.port()),
         "--window-ms", "50", "--output", output, "--parallelism", "2"}};
    // Running and counting: the server sent a good part of a second's worth.
    CAF_REQUIRE(background_child::wait_until(
        [&] { return server.accepted() && server.sent() > 20000; }));
    ::usleep(200 * 1000); // a few 50 ms windows fire
    auto t0 = now_ms();
    child.signal(sig);
    CAF_CHECK_EQUAL(child.wait_for(5000), 128 + sig);
    CAF_CHECK_LESS(now_ms() - t0, 2000);
    CAF_MESSAGE("stderr: " << child.err());
    auto rows = window_rows(read_file(output));
    CAF_REQUIRE(!rows.empty());
    CAF_CHECK_EQUAL(repeated_windows(rows), 0u);
    int64_t alpha = 0, beta = 0;
    for (auto& row : rows) {
      CAF_CHECK_EQUAL(row.end - row.start, 50);
      (row.word == "alpha" ? alpha : beta) += row.count;
    }
    // Every line read was counted: twice as many betas as alphas, and no
    // more lines than the server sent.
    CAF_CHECK_GREATER(alpha, 0);
    CAF_CHECK_EQUAL(beta, 2 * alpha);
    CAF_CHECK_LESS_OR_EQUAL(static_cast<uint64_t>(alpha), server.sent());
  }
}

// With checkpoints the counts are state: a run killed with SIGKILL and
// resumed from its checkpoint root (at another parallelism, on LevelDB)
// writes every final count exactly once into the part-file directory.
CAF_TEST(a killed checkpointed run resumes with exactly once counts) {
  std::map<std::string, int64_t> counts;
  auto input = dir.file("text.txt");
  write_file(input, make_text(15000, counts));
  auto expected = count_lines(counts);
  auto out = dir.file("out");
  auto chk = dir.file("chk");
  std::vector<std::string> args = {
      "--input", input, "--output", out, "--checkpoint-dir", chk,
      "--checkpoint-interval-ms", "50", "--state-backend", "leveldb",
      "--state-dir", dir.file("state")};
  {
    auto slow = args;
    slow.insert(slow.end(), {"--rate", "10000", "--parallelism", "2"});
    background_child child{dir, exe, slow};
    CAF_REQUIRE(background_child::wait_until(
        [&] { return has_checkpoint(chk); }, 20000));
    ::usleep(150 * 1000);
    child.signal(SIGKILL);
    CAF_CHECK_EQUAL(child.wait_for(5000),
                    background_child::killed_by(SIGKILL));
  }
  // Nothing visible yet: the counts come at the end of the input.
  CAF_CHECK_EQUAL(count_prefixed(out, "part-"), 0u);
  auto resumed = args;
  resumed.insert(resumed.end(), {"--from-savepoint", chk, "--parallelism", "3"});
  auto r = run(resumed);
  CAF_CHECK_EQUAL(r.exit_code, 0);
  if (r.exit_code != 0)
    CAF_MESSAGE("stderr: " << r.err);
  std::vector<std::string> lines;
  for (auto& name : list_dir(out)) {
    if (name[0] == '.')
      continue;
    auto content = split_lines(read_file(out + "/" + name));
    CAF_REQUIRE(!content.empty());
    CAF_CHECK_EQUAL(content.front(), "word,count");
    lines.insert(lines.end(), content.begin() + 1, content.end());
  }
  CAF_CHECK(lines == expected);
}

// Without exactly-once output a damaged newest checkpoint only costs
// repeated work: recovery falls back to the one before, with a warning.
CAF_TEST(a damaged newest checkpoint falls back when output is not exactly once) {
  std::map<std::string, int64_t> counts;
  auto input = dir.file("text.txt");
  write_file(input, make_text(3000, counts));
  auto chk = dir.file("chk");
  auto r = run({"--input", input, "--checkpoint-dir", chk,
                "--checkpoint-interval-ms", "30", "--rate", "20000"});
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  std::vector<std::pair<uint64_t, std::string>> complete;
  for (auto& job : list_dir(chk))
    for (auto& c : list_dir(chk + "/" + job))
      if (file_exists(chk + "/" + job + "/" + c + "/_metadata"))
        complete.emplace_back(std::stoull(c.substr(4)),
                              chk + "/" + job + "/" + c);
  CAF_REQUIRE_GREATER_OR_EQUAL(complete.size(), 2u);
  std::sort(complete.begin(), complete.end());
  auto newest = complete.back().second;
  auto meta = newest + "/_metadata";
  auto bytes = read_file(meta);
  write_file(meta, bytes.substr(0, bytes.size() - 7)); // truncated
  r = run({"--input", input, "--from-savepoint", chk});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains(r.err, "warning"));
  CAF_CHECK(contains(r.err, newest));
  CAF_CHECK(split_lines(r.out) == count_lines(counts));
}

CAF_TEST(checkpoint options come from a config file too) {
  std::map<std::string, int64_t> counts;
  auto input = dir.file("text.txt");
  write_file(input, make_text(200, counts));
  auto cfg = dir.file("wc.ini");
  write_file(cfg, "checkpoint-dir = " + dir.file("chk") + "\n"
                      + "state-backend = leveldb\n" + "state-dir = "
                      + dir.file("state") + "\n");
  auto r = run({"--input", input, "--output", dir.file("out"), "--config",
                cfg});
  CAF_CHECK_EQUAL(r.exit_code, 0);
  // With a checkpoint directory the output is a part-file directory.
  CAF_CHECK_EQUAL(count_prefixed(dir.file("out"), "part-"), 1u);
  write_file(cfg, "state-backend = paper\n");
  r = run({"--input", input, "--config", cfg});
  CAF_CHECK_EQUAL(r.exit_code, 2);
  CAF_CHECK(contains(r.err, "memory or leveldb"));
}

CAF_TEST_FIXTURE_SCOPE_END()
