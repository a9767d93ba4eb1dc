#define CAF_SUITE word_count_cli
#include "caf/test/unit_test.hpp"

// Runs the real word_count executable as a child process on real files and
// checks its counts against a plain loop.

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "child_process.hpp"

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

CAF_TEST_FIXTURE_SCOPE_END()
