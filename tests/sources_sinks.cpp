#define CAF_SUITE sources_sinks
#include "caf/test/unit_test.hpp"

// The text file and socket sources and the print, file and collect sinks,
// run as real jobs against real files and a real loopback TCP server.

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child_process.hpp"
#include "libstream/environment.hpp"
#include "libstream/sinks/staged_file.hpp"
#include "line_server.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

std::vector<std::string> texts(const std::vector<text_line>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.text);
  return out;
}

std::vector<uint64_t> numbers(const std::vector<text_line>& xs) {
  std::vector<uint64_t> out;
  for (auto& x : xs)
    out.push_back(x.number);
  return out;
}

std::vector<uint64_t> one_to(uint64_t n) {
  std::vector<uint64_t> out;
  for (uint64_t i = 1; i <= n; ++i)
    out.push_back(i);
  return out;
}

/// The message of the job_failed that execute() throws, or "" if it
/// finished (or threw something else).
std::string failure_of(stream_execution_environment& env) {
  try {
    env.execute();
  } catch (const job_failed& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string{"unexpected exception: "} + e.what();
  }
  return "";
}

/// The lines `path` holds, read with the source into a vector.
std::vector<text_line> read_with_source(const std::string& path) {
  stream_execution_environment env;
  env.set_parallelism(1); // the default is one subtask per core
  auto out = std::make_shared<collected<text_line>>();
  env.read_text_lines(path).collect_into(out);
  env.execute("read " + path);
  return out->values();
}

// -- stdout capture -----------------------------------------------------------

/// Redirects file descriptor 1 into a file while it lives. The test
/// framework does not print while execute() blocks the test's thread, so
/// everything written meanwhile is the job's.
class stdout_capture {
public:
  explicit stdout_capture(std::string path) : path_(std::move(path)) {
    std::cout.flush();
    std::fflush(stdout);
    saved_ = ::dup(1);
    int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, 1);
    ::close(fd);
  }

  ~stdout_capture() { restore(); }

  /// Restores stdout and returns what was captured.
  std::string finish() {
    restore();
    return read_file(path_);
  }

private:
  void restore() {
    if (saved_ < 0)
      return;
    std::cout.flush();
    std::fflush(stdout);
    ::dup2(saved_, 1);
    ::close(saved_);
    saved_ = -1;
  }

  std::string path_;
  int saved_ = -1;
};

bool is_directory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::vector<std::string> ints_as_text(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back(std::to_string(i));
  std::sort(out.begin(), out.end());
  return out;
}

struct fixture {
  temp_dir dir{"sources_sinks"};
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(sources_sinks_tests, fixture)

// -- text file source ---------------------------------------------------------

CAF_TEST(text file lines come with their numbers and without CR) {
  auto path = dir.file("lines.txt");
  write_file(path, "alpha\r\nbeta\n\n  gamma  \r\nlast without newline");
  auto xs = read_with_source(path);
  CAF_CHECK_EQUAL(texts(xs),
                  (std::vector<std::string>{"alpha", "beta", "", "  gamma  ",
                                            "last without newline"}));
  CAF_CHECK_EQUAL(numbers(xs), one_to(5));
  for (auto& x : xs)
    CAF_CHECK_EQUAL(x.origin, path);
}

CAF_TEST(a large text file arrives whole and in order) {
  auto path = dir.file("large.txt");
  std::string content;
  std::vector<std::string> expected;
  for (int i = 0; i < 20000; ++i) {
    expected.push_back("line " + std::to_string(i));
    content += expected.back() + "\n";
  }
  write_file(path, content);
  auto xs = read_with_source(path);
  CAF_CHECK(texts(xs) == expected);
  CAF_CHECK(numbers(xs) == one_to(20000));
}

CAF_TEST(an empty text file gives no lines) {
  auto path = dir.file("empty.txt");
  write_file(path, "");
  CAF_CHECK_EQUAL(read_with_source(path).size(), 0u);
  // A single newline is one empty line.
  write_file(path, "\n");
  auto xs = read_with_source(path);
  CAF_REQUIRE_EQUAL(xs.size(), 1u);
  CAF_CHECK_EQUAL(xs[0].text, "");
  CAF_CHECK_EQUAL(xs[0].number, 1u);
}

CAF_TEST(a missing text file fails the job naming the path) {
  auto path = dir.file("missing.txt");
  stream_execution_environment env;
  env.read_text_lines(path).collect_into(
      std::make_shared<collected<text_line>>());
  auto what = failure_of(env);
  CAF_CHECK(contains(what, "'" + path + "'"));
  CAF_MESSAGE("message: " << what);
}

CAF_TEST(a directory as text file fails the job naming the path) {
  // An ifstream opens a directory without complaint on Linux; reading it
  // then fails. The source must not treat that as an empty file.
  auto path = dir.path();
  stream_execution_environment env;
  auto out = std::make_shared<collected<text_line>>();
  env.read_text_lines(path).collect_into(out);
  auto what = failure_of(env);
  CAF_CHECK(contains(what, path));
  CAF_MESSAGE("message: '" << what << "'");
}

// -- socket source ------------------------------------------------------------

CAF_TEST(socket lines arrive in order until the server closes) {
  line_server server;
  std::vector<std::string> expected;
  std::vector<std::string> chunks;
  std::string all;
  for (int i = 0; i < 5000; ++i) {
    expected.push_back("record " + std::to_string(i));
    all += expected.back() + (i % 3 == 0 ? "\r\n" : "\n");
  }
  expected.push_back("");
  all += "\n";
  expected.push_back("final line without newline");
  all += expected.back();
  // Odd chunk sizes so that lines (and a CRLF) are split between reads.
  for (size_t off = 0; off < all.size(); off += 7919)
    chunks.push_back(all.substr(off, 7919));
  chunks.insert(chunks.begin(), "first ");
  expected.front() = "first " + expected.front();
  server.serve(chunks);
  stream_execution_environment env;
  env.set_parallelism(1);
  auto out = std::make_shared<collected<text_line>>();
  env.socket_text_lines("127.0.0.1", server.port()).collect_into(out);
  env.execute("socket");
  auto xs = out->values();
  CAF_CHECK(server.accepted());
  CAF_CHECK_EQUAL(xs.size(), expected.size());
  CAF_CHECK(texts(xs) == expected);
  CAF_CHECK(numbers(xs) == one_to(expected.size()));
  auto origin = "127.0.0.1:" + std::to_string(server.port());
  CAF_CHECK(std::all_of(xs.begin(), xs.end(), [&](const text_line& x) {
    return x.origin == origin;
  }));
}

CAF_TEST(socket source with parallel consumers receives every line) {
  line_server server;
  std::string all;
  for (int i = 0; i < 3000; ++i)
    all += std::to_string(i) + "\n";
  server.serve({all});
  stream_execution_environment env;
  env.set_parallelism(3);
  auto out = std::make_shared<collected<std::string>>();
  env.socket_text_stream("127.0.0.1", server.port()).collect_into(out);
  env.execute("socket-parallel");
  auto xs = out->values();
  std::sort(xs.begin(), xs.end());
  CAF_CHECK(xs == ints_as_text(3000));
}

CAF_TEST(a refused connection fails the job naming host and port) {
  auto port = free_port();
  stream_execution_environment env;
  env.socket_text_lines("127.0.0.1", port)
      .collect_into(std::make_shared<collected<text_line>>());
  auto what = failure_of(env);
  CAF_CHECK(contains(what, "127.0.0.1:" + std::to_string(port)));
  CAF_MESSAGE("message: " << what);
}

// -- file sink ----------------------------------------------------------------

CAF_TEST(file sink with parallelism 1 writes one file with header) {
  auto path = dir.file("out.txt");
  stream_execution_environment env;
  env.set_parallelism(1);
  std::vector<int> xs(5000);
  for (int i = 0; i < 5000; ++i)
    xs[static_cast<size_t>(i)] = i;
  env.from_collection(xs).write_as_text(
      path, [](const int& x) { return std::to_string(x); }, "number");
  env.execute("file-sink-1");
  CAF_REQUIRE(!is_directory(path));
  auto lines = split_lines(read_file(path));
  CAF_REQUIRE(!lines.empty());
  CAF_CHECK_EQUAL(lines.front(), "number");
  lines.erase(lines.begin());
  std::vector<std::string> expected;
  for (int i = 0; i < 5000; ++i)
    expected.push_back(std::to_string(i));
  CAF_CHECK(lines == expected); // one subtask after one source: in order
}

CAF_TEST(file sink with parallelism 2 writes a directory of part files) {
  auto path = dir.file("out-dir");
  stream_execution_environment env;
  env.set_parallelism(2);
  env.from_generator(10000, [](uint64_t i) { return static_cast<int>(i); })
      .write_as_text(
          path, [](const int& x) { return std::to_string(x); }, "number");
  env.execute("file-sink-2");
  CAF_REQUIRE(is_directory(path));
  std::vector<std::string> all;
  for (int i = 0; i < 2; ++i) {
    auto part = path + "/part-" + std::to_string(i);
    auto lines = split_lines(read_file(part));
    CAF_REQUIRE(!lines.empty());
    CAF_CHECK_EQUAL(lines.front(), "number");
    CAF_CHECK(lines.size() > 1); // both subtasks got records
    all.insert(all.end(), lines.begin() + 1, lines.end());
  }
  CAF_CHECK(!is_directory(path + "/part-2"));
  CAF_CHECK(read_file(path + "/part-2").empty());
  std::sort(all.begin(), all.end());
  CAF_CHECK(all == ints_as_text(10000));
}

CAF_TEST(file sink into an unwritable path fails naming the path) {
  auto path = dir.file("no-such-dir/out.txt");
  stream_execution_environment env;
  env.from_elements({1, 2, 3}).write_as_text(
      path, [](const int& x) { return std::to_string(x); });
  auto what = failure_of(env);
  CAF_CHECK(contains(what, path));
  CAF_MESSAGE("message: " << what);
}

CAF_TEST(a parallel file sink removes part files of a wider earlier run) {
  auto path = dir.file("parts");
  for (int p : {3, 2}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    env.from_generator(100, [](uint64_t i) { return static_cast<int>(i); })
        .write_as_text(path, [](const int& x) { return std::to_string(x); });
    env.execute();
  }
  CAF_CHECK_EQUAL(list_dir(path), (std::vector<std::string>{"part-0",
                                                            "part-1"}));
}

// -- staged files -------------------------------------------------------------

CAF_TEST(a staged file appears only when published) {
  auto path = dir.file("staged.txt");
  write_file(path, "earlier\n");
  ::chmod(path.c_str(), 0640);
  {
    staged_file f{path};
    f.open();
    f.write_line("new");
    f.finish();
    CAF_CHECK_EQUAL(read_file(path), "earlier\n");
    f.publish();
  }
  CAF_CHECK_EQUAL(read_file(path), "new\n");
  struct stat st {};
  CAF_REQUIRE_EQUAL(::stat(path.c_str(), &st), 0);
  CAF_CHECK_EQUAL(st.st_mode & 0777, 0640u); // the file's mode is kept
  {
    staged_file f{path};
    f.open();
    f.write_line("discarded");
  } // destroyed unpublished: discarded
  CAF_CHECK_EQUAL(read_file(path), "new\n");
  CAF_CHECK_EQUAL(list_dir(dir.path()), (std::vector<std::string>{
                                            "staged.txt"}));
}

CAF_TEST(a staged file behind a symlink replaces the file and keeps the link) {
  auto real = dir.file("real.txt");
  auto link = dir.file("link.txt");
  write_file(real, "earlier\n");
  CAF_REQUIRE_EQUAL(::symlink(real.c_str(), link.c_str()), 0);
  staged_file f{link};
  f.open();
  f.write_line("new");
  f.finish();
  f.publish();
  struct stat st {};
  CAF_REQUIRE_EQUAL(::lstat(link.c_str(), &st), 0);
  CAF_CHECK(S_ISLNK(st.st_mode));
  CAF_CHECK_EQUAL(read_file(real), "new\n");
}

// Found in review: /dev/null as output was replaced by a regular file when
// run as root.
CAF_TEST(a device as staged file target is written in place) {
  staged_file f{"/dev/null"};
  f.open();
  f.write_line("gone");
  f.finish();
  f.publish();
  struct stat st {};
  CAF_REQUIRE_EQUAL(::stat("/dev/null", &st), 0);
  CAF_CHECK(S_ISCHR(st.st_mode));
}

CAF_TEST(stale temporaries of dead processes on this host are removed) {
  auto path = dir.file("out.csv");
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  std::string tag;
  for (char* c = host; *c != '\0'; ++c)
    if (std::isalnum(static_cast<unsigned char>(*c)) || *c == '-')
      tag += *c;
  // A process that is gone: a child that exited and was reaped.
  auto dead = ::fork();
  if (dead == 0)
    ::_exit(0);
  int status = 0;
  ::waitpid(dead, &status, 0);
  auto stale = dir.file(".out.csv.inprogress." + tag + "."
                        + std::to_string(dead) + ".0");
  auto alive = dir.file(".out.csv.inprogress." + tag + ".1.0"); // init runs
  auto remote = dir.file(".out.csv.inprogress.elsewhere."
                         + std::to_string(dead) + ".0");
  for (auto& f : {stale, alive, remote})
    write_file(f, "partial");
  CAF_CHECK_EQUAL(remove_stale_temporaries(path), 1u);
  CAF_CHECK(!file_exists(stale));
  CAF_CHECK(file_exists(alive));
  CAF_CHECK(file_exists(remote));
}

// -- print sink ---------------------------------------------------------------

CAF_TEST(print sink prefixes lines with the subtask when parallel) {
  for (int p : {1, 2}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    env.from_generator(2000, [](uint64_t i) { return static_cast<int>(i); })
        .print();
    stdout_capture capture{dir.file("stdout-" + std::to_string(p))};
    env.execute("print");
    auto lines = split_lines(capture.finish());
    CAF_CHECK_EQUAL(lines.size(), 2000u);
    std::vector<std::string> payload;
    size_t first = 0, second = 0;
    for (auto& l : lines) {
      if (p == 1) {
        payload.push_back(l);
      } else if (l.rfind("1> ", 0) == 0) {
        ++first;
        payload.push_back(l.substr(3));
      } else if (l.rfind("2> ", 0) == 0) {
        ++second;
        payload.push_back(l.substr(3));
      } else {
        CAF_FAIL("line without subtask prefix: '" << l << "'");
      }
    }
    if (p == 2) {
      CAF_CHECK(first > 0);
      CAF_CHECK(second > 0);
    }
    std::sort(payload.begin(), payload.end());
    CAF_CHECK(payload == ints_as_text(2000));
  }
}

CAF_TEST(print sink with a prefix and a format function) {
  stream_execution_environment env;
  env.set_parallelism(2);
  env.from_elements({1, 2, 3})
      .print("n", [](const int& x) { return "<" + std::to_string(x) + ">"; })
      .set_parallelism(1);
  stdout_capture capture{dir.file("stdout-format")};
  env.execute("print-format");
  auto lines = split_lines(capture.finish());
  CAF_CHECK_EQUAL(lines, (std::vector<std::string>{"n<1>", "n<2>", "n<3>"}));
}

// -- collect sink -------------------------------------------------------------

CAF_TEST(collect sink gathers every record of every subtask) {
  for (int p : {1, 3}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<uint64_t>>();
    // More records than one buffer of the sink (4096) per subtask.
    env.from_generator(30000, [](uint64_t i) { return i; }).collect_into(out);
    env.execute("collect");
    auto xs = out->values();
    CAF_CHECK_EQUAL(out->size(), 30000u);
    std::sort(xs.begin(), xs.end());
    std::vector<uint64_t> expected(30000);
    for (uint64_t i = 0; i < 30000; ++i)
      expected[i] = i;
    CAF_CHECK(xs == expected);
  }
}

CAF_TEST(collect sink of an empty stream is empty) {
  stream_execution_environment env;
  auto out = std::make_shared<collected<int>>();
  env.from_collection(std::vector<int>{}).collect_into(out);
  env.execute("collect-empty");
  CAF_CHECK_EQUAL(out->size(), 0u);
}

CAF_TEST_FIXTURE_SCOPE_END()
