#define CAF_SUITE file_source
#include "caf/test/unit_test.hpp"

// The parallel file source: splits on every boundary case, text lines and
// CSV, directories and monitoring, errors with file, line and column, and
// split positions through a snapshot and a restore at another parallelism.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "child_process.hpp"
#include "libstream/environment.hpp"
#include "libstream/testing/harness.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

/// The lines of `text` as a plain loop splits them: '\n' ends a line, a
/// '\r' before it is dropped, a last line without '\n' counts, a UTF-8 BOM
/// at the start is not text.
std::vector<std::string> reference_lines(std::string text) {
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0)
    text.erase(0, 3);
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    auto nl = text.find('\n', start);
    auto end = nl == std::string::npos ? text.size() : nl;
    auto line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    out.push_back(line);
    if (nl == std::string::npos)
      break;
    start = nl + 1;
  }
  return out;
}

std::vector<std::string> sorted(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// Reads `opts` with the text line format at parallelism `p`.
std::vector<std::string> read_lines(file_source_options opts, int p) {
  stream_execution_environment env;
  env.set_parallelism(p);
  auto out = std::make_shared<collected<std::string>>();
  env.read_files(std::move(opts), text_lines_format{}).collect_into(out);
  env.execute("read lines");
  return out->values();
}

file_source_options files(std::vector<std::string> paths,
                          uint64_t split_bytes = 0) {
  file_source_options o;
  o.paths = std::move(paths);
  o.split_bytes = split_bytes;
  return o;
}

std::string failure_of(stream_execution_environment& env) {
  return message_of<job_failed>([&] { env.execute(); });
}

struct row {
  int64_t id = 0;
  std::string name;
  double value = 0;
};

csv_format<row> row_format() {
  return csv_format<row>{}
      .column("id", &row::id)
      .column("name", &row::name)
      .column("value", &row::value);
}

std::string to_string(const row& r) {
  return std::to_string(r.id) + "|" + r.name + "|" + std::to_string(r.value);
}

std::vector<std::string> read_rows(file_source_options opts, int p,
                                   csv_format<row> format = row_format()) {
  stream_execution_environment env;
  env.set_parallelism(p);
  auto out = std::make_shared<collected<std::string>>();
  env.read_files(std::move(opts), std::move(format))
      .map([](const row& r) { return to_string(r); })
      .collect_into(out);
  env.execute("read rows");
  return out->values();
}

/// Reads `path` as rows at parallelism `p`, malformed lines to the dead
/// letters: the good rows (as strings) and the dead letters.
std::pair<std::vector<std::string>, std::vector<text_line>>
read_with_dead_letters(const std::string& path, uint64_t split, int p) {
  stream_execution_environment env;
  env.set_parallelism(p);
  output_tag<text_line> dead{"dead"};
  auto good = std::make_shared<collected<std::string>>();
  auto bad = std::make_shared<collected<text_line>>();
  auto rows = env.read_files(files({path}, split), row_format(), dead);
  rows.map([](const row& r) { return to_string(r); }).collect_into(good);
  rows.get_side_output(dead).collect_into(bad);
  env.execute();
  auto dead_lines = bad->values();
  std::sort(dead_lines.begin(), dead_lines.end(),
            [](const text_line& x, const text_line& y) {
              return x.number < y.number;
            });
  return {sorted(good->values()), dead_lines};
}

/// A context for driving source subtasks by hand.
struct source_context final : operator_context {
  source_context(int index, int parallelism)
      : index(index), parallelism_(parallelism) {}
  const std::string& task_name() const override { return name; }
  int subtask_index() const override { return index; }
  int parallelism() const override { return parallelism_; }
  int max_parallelism() const override { return default_max_parallelism; }
  timestamp current_processing_time() override { return 0; }
  void request_processing_time(operator_base*, timestamp) override {}
  void hold_input(operator_base*, bool) override {}
  std::function<void()> make_waker(operator_base*) override {
    return [] {};
  }
  std::string name = "file source";
  int index;
  int parallelism_;
};

struct positions final : operator_restore {
  std::vector<std::string> by_subtask;
  int old_parallelism() const override {
    return static_cast<int>(by_subtask.size());
  }
  std::string key_group_section(int) const override { return ""; }
  std::string source_position(int i) const override {
    return by_subtask.at(static_cast<size_t>(i));
  }
  std::string operator_state(int) const override { return ""; }
};

struct fixture {
  temp_dir dir{"file_source"};

  std::string write(const std::string& name, const std::string& text) {
    auto path = dir.file(name);
    write_file(path, text);
    return path;
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(file_source_tests, fixture)

CAF_TEST(every split boundary gives each line exactly once) {
  // Lines of many lengths (empty ones too), CRLF on some, no final
  // newline: every split size cuts lines at every position.
  std::string text;
  for (int i = 0; i < 300; ++i) {
    text += std::string(static_cast<size_t>(i % 13), 'a' + i % 26)
            + std::to_string(i);
    text += i % 7 == 0 ? "\r\n" : "\n";
  }
  text += "last line without newline";
  auto path = write("lines.txt", text);
  auto expected = sorted(reference_lines(text));
  for (uint64_t split : {1, 2, 3, 7, 64, 1000, 0}) {
    for (int p : {1, 2, 4}) {
      auto got = sorted(read_lines(files({path}, split), p));
      CAF_CHECK_EQUAL(got.size(), expected.size());
      if (got != expected)
        CAF_FAIL("split " << split << " p=" << p << ": lines differ");
    }
  }
}

CAF_TEST(a bom and empty files and a lone newline) {
  auto bom = write("bom.txt", "\xEF\xBB\xBF" "first\nsecond\n");
  auto empty = write("empty.txt", "");
  auto newline = write("newline.txt", "\n");
  CAF_CHECK_EQUAL(sorted(read_lines(files({bom}, 1), 2)),
                  (std::vector<std::string>{"first", "second"}));
  CAF_CHECK(read_lines(files({empty}), 2).empty());
  CAF_CHECK_EQUAL(read_lines(files({newline}, 1), 1),
                  std::vector<std::string>{""});
}

CAF_TEST(a directory with a pattern and subdirectories) {
  auto in = dir.file("in");
  CAF_REQUIRE_EQUAL(::mkdir(in.c_str(), 0755), 0);
  CAF_REQUIRE_EQUAL(::mkdir((in + "/sub").c_str(), 0755), 0);
  write_file(in + "/a.txt", "a1\na2\n");
  write_file(in + "/b.txt", "b1\n");
  write_file(in + "/c.log", "c1\n");
  write_file(in + "/.hidden.txt", "h1\n");
  write_file(in + "/_tmp.txt", "t1\n");
  write_file(in + "/sub/d.txt", "d1\n");
  auto opts = files({in}, 1);
  opts.pattern = "*.txt";
  CAF_CHECK_EQUAL(sorted(read_lines(opts, 2)),
                  (std::vector<std::string>{"a1", "a2", "b1"}));
  opts.recursive = true;
  CAF_CHECK_EQUAL(sorted(read_lines(opts, 3)),
                  (std::vector<std::string>{"a1", "a2", "b1", "d1"}));
  // A list of paths: a file named directly is read whatever its name.
  auto list = files({in + "/c.log", in + "/_tmp.txt"});
  CAF_CHECK_EQUAL(sorted(read_lines(list, 2)),
                  (std::vector<std::string>{"c1", "t1"}));
}

CAF_TEST(a missing path fails the job naming it) {
  stream_execution_environment env;
  env.set_parallelism(2);
  env.read_files(files({dir.file("nope.txt")}), text_lines_format{})
      .collect_into(std::make_shared<collected<std::string>>());
  auto msg = failure_of(env);
  CAF_CHECK(contains(msg, dir.file("nope.txt")));
  CAF_CHECK(contains(msg, "No such file or directory"));
}

CAF_TEST(csv by header name in any order with quoting) {
  // Columns in another order than declared, an extra column, quoted
  // fields with the delimiter, doubled quotes and line breaks inside.
  std::string text = "value,extra,name,id\r\n";
  std::vector<std::string> expected;
  for (int i = 0; i < 500; ++i) {
    std::string name = "n" + std::to_string(i);
    std::string field = name;
    if (i % 5 == 1) {
      name = "a, b " + std::to_string(i);
      field = "\"" + name + "\"";
    } else if (i % 5 == 2) {
      name = "say \"hi\"\nnext line " + std::to_string(i);
      field = "\"say \"\"hi\"\"\nnext line " + std::to_string(i) + "\"";
    } else if (i % 5 == 3) {
      name = "crlf\r\ninside " + std::to_string(i);
      field = "\"" + name + "\"";
    }
    text += std::to_string(i) + ".5,x," + field + "," + std::to_string(i)
            + (i % 2 ? "\r\n" : "\n");
    expected.push_back(to_string(row{i, name, i + 0.5}));
  }
  auto path = write("rows.csv", text);
  std::sort(expected.begin(), expected.end());
  for (uint64_t split : {1, 5, 97, 0})
    for (int p : {1, 2, 4}) {
      auto got = sorted(read_rows(files({path}, split), p));
      if (got != expected)
        CAF_FAIL("split " << split << " p=" << p << ": " << got.size()
                          << " rows, expected " << expected.size());
    }
}

CAF_TEST(csv without a header by position) {
  auto path = write("pos.csv", "1,skip,one,1.5\n2,skip,two,2.5\n");
  auto format = csv_format<row>{}
                    .header(false)
                    .column("id", &row::id)
                    .skip()
                    .column("name", &row::name)
                    .column("value", &row::value);
  CAF_CHECK_EQUAL(sorted(read_rows(files({path}), 2, format)),
                  (std::vector<std::string>{to_string(row{1, "one", 1.5}),
                                            to_string(row{2, "two", 2.5})}));
}

CAF_TEST(csv errors name file line and column) {
  auto check = [&](const std::string& text, const std::string& where,
                   const std::string& what) {
    auto path = write("bad.csv", text);
    stream_execution_environment env;
    env.set_parallelism(2);
    env.read_files(files({path}, 3), row_format())
        .collect_into(std::make_shared<collected<row>>());
    auto msg = failure_of(env);
    CAF_CHECK(contains(msg, path + ":" + where));
    CAF_CHECK(contains(msg, what));
    if (!contains(msg, path + ":" + where) || !contains(msg, what))
      CAF_MESSAGE("message: " << msg);
  };
  check("id,name,value\n1,a,1\n2,b,x\n", "3:5:", "field 'value' (column 3)");
  check("id,name,value\n1,a,1\nzz,b,2\n", "3:1:", "is not an integer");
  check("id,name,value\n1,a\n", "2:1:", "expected 3 fields");
  check("id,name,value\n1,\"a\nb\",1\n2,\"open,2\n", "4:3:",
        "the quoted field is not closed");
  check("id,name,value\n1,a\"b,1\n", "2:", "quote");
  check("id,value\n1,2\n", "1:", "lacks column 'name'");
  check("", "", "the file is empty");
}

CAF_TEST(malformed csv lines go to the dead letter side output) {
  auto path = write("mixed.csv", "id,name,value\n1,a,1\nbad\n2,b,2\n3,c,z\n");
  auto [good, dead_lines] = read_with_dead_letters(path, 4, 2);
  CAF_CHECK_EQUAL(good,
                  (std::vector<std::string>{to_string(row{1, "a", 1}),
                                            to_string(row{2, "b", 2})}));
  CAF_REQUIRE_EQUAL(dead_lines.size(), 2u);
  CAF_CHECK_EQUAL(dead_lines[0].text, "bad");
  CAF_CHECK_EQUAL(dead_lines[0].number, 3u);
  CAF_CHECK_EQUAL(dead_lines[1].text, "3,c,z");
  CAF_CHECK_EQUAL(dead_lines[1].number, 5u);
  CAF_CHECK_EQUAL(dead_lines[0].origin, path);
}

CAF_TEST(a malformed record with a quoted line break is one dead letter) {
  // The first field is bad and a later one holds a line break in quotes:
  // the record is delimited with quote parity before it is judged, at
  // every split size and parallelism.
  auto path = write("dead.csv", "id,name,value\nabc,\"S\nYM\",1\n"
                                "1,a,1\n2,\"b\nc\",2\n");
  for (uint64_t split : {0, 1, 8, 20})
    for (int p : {1, 2, 3}) {
      auto [good, lines] = read_with_dead_letters(path, split, p);
      CAF_CHECK_EQUAL(good,
                      (std::vector<std::string>{to_string(row{1, "a", 1}),
                                                to_string(row{2, "b\nc", 2})}));
      CAF_REQUIRE_EQUAL(lines.size(), 1u);
      CAF_CHECK_EQUAL(lines[0].text, "abc,\"S\nYM\",1");
      CAF_CHECK_EQUAL(lines[0].number, 2u);
    }
}

CAF_TEST(csv with a header from a pipe) {
  int fds[2];
  CAF_REQUIRE_EQUAL(::pipe(fds), 0);
  std::string text = "name,value,id\nx,1.5,1\n\"y\ny\",2.5,2\n";
  CAF_REQUIRE_EQUAL(::write(fds[1], text.data(), text.size()),
                    static_cast<ssize_t>(text.size()));
  ::close(fds[1]);
  auto path = "/dev/fd/" + std::to_string(fds[0]);
  CAF_CHECK_EQUAL(sorted(read_rows(files({path}), 2)),
                  (std::vector<std::string>{to_string(row{1, "x", 1.5}),
                                            to_string(row{2, "y\ny", 2.5})}));
  ::close(fds[0]);
}

CAF_TEST(a fifo is read once its writer comes and until it leaves) {
  // The job starts before any writer has opened the FIFO: that is no end
  // of input (it was read as an empty file).
  auto fifo = dir.file("fifo");
  CAF_REQUIRE_EQUAL(::mkfifo(fifo.c_str(), 0600), 0);
  stream_execution_environment env;
  env.set_parallelism(1);
  auto out = std::make_shared<collected<std::string>>();
  env.read_files(files({fifo}), text_lines_format{}).collect_into(out);
  auto client = env.execute_async("fifo");
  std::this_thread::sleep_for(std::chrono::milliseconds{300});
  CAF_CHECK(client->status() == job_status::running);
  {
    auto* w = std::fopen(fifo.c_str(), "w");
    CAF_REQUIRE(w != nullptr);
    std::fputs("one\ntwo\n", w);
    std::fflush(w);
    std::this_thread::sleep_for(std::chrono::milliseconds{100});
    std::fputs("three\n", w);
    std::fclose(w);
  }
  CAF_CHECK(client->wait().status == job_status::finished);
  CAF_CHECK_EQUAL(out->values(),
                  (std::vector<std::string>{"one", "two", "three"}));
}

CAF_TEST(a record slot gives back a large buffer) {
  std::string slot;
  assign_field(slot, std::string(1 << 20, 'x'));
  CAF_CHECK_GREATER_OR_EQUAL(slot.capacity(), size_t{1} << 20);
  assign_field(slot, "short");
  CAF_CHECK_EQUAL(slot, "short");
  CAF_CHECK_LESS(slot.capacity(), size_t{64} * 1024);
}

CAF_TEST(a symbolic link back up the tree is not followed round) {
  auto in = dir.file("tree");
  CAF_REQUIRE_EQUAL(::mkdir(in.c_str(), 0755), 0);
  write_file(in + "/a.txt", "a\n");
  CAF_REQUIRE_EQUAL(::symlink(in.c_str(), (in + "/loop").c_str()), 0);
  auto opts = files({in});
  opts.recursive = true;
  CAF_CHECK_EQUAL(read_lines(opts, 2), std::vector<std::string>{"a"});
}

CAF_TEST(a line beyond the limit fails naming the line) {
  auto path = write("long.txt", "short\n" + std::string(5000, 'x') + "\n");
  stream_execution_environment env;
  env.set_parallelism(1);
  auto opts = files({path});
  opts.max_record_bytes = 1000;
  env.read_files(opts, text_lines_format{})
      .collect_into(std::make_shared<collected<std::string>>());
  auto msg = failure_of(env);
  CAF_CHECK(contains(msg, path + ": line 2 is longer than 1000 bytes"));
}

CAF_TEST(monitoring picks up a new file) {
  auto in = dir.file("watched");
  CAF_REQUIRE_EQUAL(::mkdir(in.c_str(), 0755), 0);
  write_file(in + "/first.txt", "one\ntwo\n");
  stream_execution_environment env;
  env.set_parallelism(2);
  auto seen = std::make_shared<std::atomic<int>>(0);
  auto opts = files({in});
  opts.monitor_interval = 20;
  env.read_files(opts, text_lines_format{})
      .map([seen](const std::string& s) {
        seen->fetch_add(1);
        return s;
      })
      .add_sink([] {
        struct discard final : sink_function<std::string> {
          void invoke(const std::string&, timestamp) override {}
        };
        return std::make_unique<discard>();
      });
  auto client = env.execute_async("watch");
  auto wait_for = [&](int n) {
    for (int i = 0; i < 500 && seen->load() < n; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    return seen->load();
  };
  CAF_CHECK_EQUAL(wait_for(2), 2);
  // A file moved in complete, as it should be.
  write_file(in + "/.incoming", "three\nfour\nfive\n");
  CAF_REQUIRE_EQUAL(
      ::rename((in + "/.incoming").c_str(), (in + "/second.txt").c_str()), 0);
  CAF_CHECK_EQUAL(wait_for(5), 5);
  std::this_thread::sleep_for(std::chrono::milliseconds{100});
  CAF_CHECK_EQUAL(seen->load(), 5); // nothing read twice
  CAF_CHECK(client->status() == job_status::running);
  client->cancel();
  CAF_CHECK(client->wait().status == job_status::canceled);
}

CAF_TEST(split positions survive a restore at another parallelism) {
  std::string text;
  for (int i = 0; i < 5000; ++i)
    text += "line " + std::to_string(i) + "\n";
  auto path = write("many.txt", text);
  auto opts = files({path}, 997);
  std::vector<std::string> got;
  auto drive = [&](int index, int p, const positions* from, int polls,
                   std::string* snapshot) {
    source_context ctx{index, p};
    file_source<text_lines_format> src{opts, text_lines_format{}};
    testing::capture<std::string> out;
    src.connect("", out);
    src.open(ctx);
    if (from != nullptr)
      src.restore_state(*from);
    for (int i = 0; i < polls || polls < 0; ++i)
      if (src.poll() == source_operator_base::poll_result::finished)
        break;
    src.flush();
    if (snapshot != nullptr) {
      operator_state_snapshot snap;
      src.snapshot_state(1, snap);
      *snapshot = snap.source_position;
    }
    for (auto& x : out.values())
      got.push_back(x);
  };
  // Two subtasks read a part, then the job resumes with three.
  positions first;
  first.by_subtask.resize(2);
  drive(0, 2, nullptr, 1, &first.by_subtask[0]);
  drive(1, 2, nullptr, 2, &first.by_subtask[1]);
  auto after_first = got.size();
  CAF_CHECK(after_first > 0 && after_first < 5000);
  for (int i = 0; i < 3; ++i)
    drive(i, 3, &first, -1, nullptr);
  CAF_CHECK_EQUAL(sorted(got), sorted(reference_lines(text)));
}

CAF_TEST(subtasks share the listing taken when the job was submitted) {
  // A file that appears after the submission is not read by any subtask:
  // all cut and number the same files.
  auto in = dir.file("listed");
  CAF_REQUIRE_EQUAL(::mkdir(in.c_str(), 0755), 0);
  write_file(in + "/a.txt", "a1\na2\na3\n");
  auto opts = files({in}, 2);
  auto listing = std::make_shared<detail::file_listing>();
  listing->take(opts);
  write_file(in + "/b.txt", "b1\n");
  std::vector<std::string> got;
  for (int i = 0; i < 2; ++i) {
    source_context ctx{i, 2};
    file_source<text_lines_format> src{opts, text_lines_format{},
                                       std::nullopt, listing};
    testing::capture<std::string> out;
    src.connect("", out);
    src.open(ctx);
    while (src.poll() != source_operator_base::poll_result::finished) {
    }
    src.flush();
    for (auto& x : out.values())
      got.push_back(x);
  }
  CAF_CHECK_EQUAL(sorted(got), (std::vector<std::string>{"a1", "a2", "a3"}));
  // A listing that failed fails every subtask with its error.
  auto missing = std::make_shared<detail::file_listing>();
  missing->take(files({dir.file("gone")}));
  source_context ctx{0, 1};
  file_source<text_lines_format> src{files({dir.file("gone")}),
                                     text_lines_format{}, std::nullopt,
                                     missing};
  src.open(ctx);
  std::string msg;
  try {
    src.poll();
  } catch (const std::runtime_error& e) {
    msg = e.what();
  }
  CAF_CHECK(contains(msg, dir.file("gone")));
}

CAF_TEST_FIXTURE_SCOPE_END()
