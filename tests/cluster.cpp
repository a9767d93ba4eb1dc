#define CAF_SUITE cluster
#include "caf/test/unit_test.hpp"

// The cluster with real processes: a stream-coordinator and stream-nodes on
// loopback ports chosen free at run time, apps deployed with streamctl,
// nodes killed with SIGKILL. Results are compared with the app run embedded
// and with a plain loop. Every process is killed when its test ends, also
// when the test fails (background_child's destructor).

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "child_process.hpp"

using namespace libstream::test;

namespace {

const std::string bin = BUILD_DIR;
const std::string coordinator_exe = bin + "/nodes/stream-coordinator";
const std::string node_exe = bin + "/nodes/stream-node";
const std::string streamctl_exe = bin + "/nodes/streamctl";
const std::string stock_module = bin + "/apps/stock_aggregator.so";
const std::string word_count_module = bin + "/apps/word_count.so";
const std::string stock_exe = bin + "/apps/stock_aggregator";

/// The port in "...listening on HOST:PORT" of `text`, or 0.
int listening_port(const std::string& text) {
  auto at = text.find("listening on ");
  if (at == std::string::npos)
    return 0;
  auto colon = text.find(':', at);
  auto end = text.find_first_not_of("0123456789", colon + 1);
  if (colon == std::string::npos || end == colon + 1)
    return 0;
  return std::stoi(text.substr(colon + 1, end - colon - 1));
}

std::vector<std::string> sorted_lines(const std::string& text) {
  auto xs = split_lines(text);
  xs.erase(std::remove(xs.begin(), xs.end(), std::string{}), xs.end());
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// The rows of a part-file directory (exactly-once output), headers
/// dropped, sorted.
std::vector<std::string> part_rows(const std::string& dir,
                                   const std::string& header) {
  std::vector<std::string> rows;
  for (auto& name : list_dir(dir)) {
    if (name.compare(0, 5, "part-") != 0)
      continue;
    for (auto& line : split_lines(read_file(dir + "/" + name)))
      if (!line.empty() && line != header)
        rows.push_back(line);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

struct fixture {
  temp_dir dir{"cluster"};
  std::unique_ptr<background_child> coordinator;
  std::map<std::string, std::unique_ptr<background_child>> nodes;
  int port = 0;

  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  void start_coordinator(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--heartbeat-timeout-ms", "3000",
                                  "--restart-delay-ms", "200"};
    if (std::find(extra.begin(), extra.end(), "--port") == extra.end())
      extra.insert(extra.end(), {"--port", "0"});
    args.insert(args.end(), extra.begin(), extra.end());
    coordinator = std::make_unique<background_child>(dir, coordinator_exe,
                                                     args);
    auto ok = background_child::wait_until(
        [&] { return (port = listening_port(coordinator->out())) > 0; });
    if (!ok)
      CAF_FAIL("the coordinator did not start: " << coordinator->err());
  }

  void start_node(const std::string& name, int slots) {
    // CAF's own options pass through (a node with one worker thread).
  auto node = std::make_unique<background_child>(
        dir, node_exe,
        std::vector<std::string>{"--caf#scheduler.max-threads=1",
                                 "--coordinator", address(), "--name", name,
                                 "--slots", std::to_string(slots),
                                 "--state-dir", dir.file(name),
                                 "--heartbeat-interval-ms", "200"});
    auto* n = node.get();
    nodes[name] = std::move(node);
    if (!background_child::wait_until(
            [&] { return n->out().find("registered") != std::string::npos; }))
      CAF_FAIL("node " << name << " did not register: " << n->err());
  }

  run_result ctl(std::vector<std::string> args, int seconds = 120) {
    args.insert(args.begin(), {"--coordinator", address()});
    return run_child(dir, streamctl_exe, args, seconds);
  }

  /// Waits until a checkpoint below `chk` (<chk>/<job>/chk-<n>) completed.
  bool wait_for_checkpoint(const std::string& chk) {
    return background_child::wait_until(
        [&] {
          for (auto& job : list_dir(chk))
            for (auto& c : list_dir(chk + "/" + job))
              if (file_exists(chk + "/" + job + "/" + c + "/_metadata"))
                return true;
          return false;
        },
        20000);
  }

  /// The rows of the stock aggregator's exactly-once output directory.
  static std::vector<std::string> stock_rows(const std::string& out) {
    return part_rows(out, "window_start_ms,window_end_ms,industry,trades,"
                          "volume,avg_price");
  }

  /// The rows of the checkpointed stock aggregator job the tests deploy
  /// (1 s windows over `records` generated trades), run embedded at p=2
  /// without any failure.
  std::vector<std::string> embedded_rows(uint64_t records) {
    auto out = dir.file("ref");
    auto e = run_child(dir, stock_exe,
                       {"--parallelism", "2", "--records",
                        std::to_string(records), "--window-ms", "1000",
                        "--checkpoint-dir", dir.file("ref-chk"), "--output",
                        out});
    if (e.exit_code != 0)
      CAF_FAIL("the embedded reference run failed: " << e.err);
    return stock_rows(out);
  }

  /// Waits until `streamctl nodes` shows `alive` live nodes.
  bool wait_for_nodes(size_t alive) {
    return background_child::wait_until(
        [&] {
          auto out = ctl({"nodes"}, 10).out;
          size_t n = 0;
          for (auto& line : split_lines(out))
            n += line.find("ALIVE") != std::string::npos ? 1 : 0;
          return n == alive;
        },
        15000);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(cluster_tests, fixture)

CAF_TEST(an app deployed on two nodes gives the rows of its embedded run) {
  start_coordinator();
  start_node("n1", 2);
  start_node("n2", 2);
  CAF_REQUIRE(wait_for_nodes(2));
  auto out = dir.file("cluster.csv");
  auto r = ctl({"run", "--parallelism", "4", stock_module, "--", "--records",
                "300000", "--output", out});
  CAF_MESSAGE("streamctl: " << r.out << r.err);
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains(r.out, "Job has been submitted with JobID"));
  CAF_CHECK(contains(r.out, "finished"));
  auto embedded = dir.file("embedded.csv");
  auto e = run_child(dir, stock_exe,
                     {"--parallelism", "4", "--records", "300000", "--output",
                      embedded});
  CAF_REQUIRE_EQUAL(e.exit_code, 0);
  auto rows = sorted_lines(read_file(out));
  CAF_CHECK_GREATER(rows.size(), 10u);
  CAF_CHECK(rows == sorted_lines(read_file(embedded)));
}

CAF_TEST(word_count across nodes equals a plain loop over the text) {
  start_coordinator();
  start_node("a", 1);
  start_node("b", 2);
  CAF_REQUIRE(wait_for_nodes(2));
  // A text with repeated words on many lines; the reference counts them.
  std::string text;
  std::map<std::string, int64_t> expected;
  for (int i = 0; i < 20000; ++i) {
    std::string line;
    for (int k = 0; k < 5; ++k) {
      auto w = "w" + std::to_string((i * 7 + k * 13) % 997);
      line += (k ? " " : "") + w;
      ++expected[w];
    }
    text += line + "\n";
  }
  auto input = dir.file("text.txt");
  write_file(input, text);
  auto out = dir.file("counts.txt");
  auto r = ctl({"run", "--parallelism", "3", word_count_module, "--",
                "--input", input, "--output", out});
  CAF_MESSAGE("streamctl: " << r.out << r.err);
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  std::vector<std::string> want;
  for (auto& [w, n] : expected)
    want.push_back(w + "," + std::to_string(n));
  std::sort(want.begin(), want.end());
  CAF_CHECK(sorted_lines(read_file(out)) == want);
}

CAF_TEST(list info nodes and cancel describe and control a running job) {
  start_coordinator();
  start_node("n1", 2);
  CAF_REQUIRE(wait_for_nodes(1));
  // A slow generator: the job runs until cancelled.
  auto r = ctl({"run", "--detached", "--parallelism", "2", stock_module, "--",
                "--records", "100000000", "--rate", "2000", "--quiet"});
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  CAF_REQUIRE(contains(r.out, "JobID 1"));
  CAF_CHECK(background_child::wait_until(
      [&] { return contains(ctl({"list"}, 10).out, "RUNNING"); }));
  auto list = ctl({"list"}).out;
  CAF_MESSAGE(list);
  CAF_CHECK(contains(list, "stock_aggregator"));
  auto info = ctl({"info", "1"});
  CAF_MESSAGE(info.out);
  CAF_CHECK_EQUAL(info.exit_code, 0);
  CAF_CHECK(contains(info.out, "n1 x2"));
  CAF_CHECK(contains(info.out, "parallelism 2"));
  auto nodes = ctl({"nodes"}).out;
  CAF_CHECK(contains(nodes, "n1"));
  CAF_CHECK(contains(nodes, "    2     0  ALIVE")); // both slots taken
  auto c = ctl({"cancel", "1"});
  CAF_CHECK_EQUAL(c.exit_code, 0);
  CAF_CHECK(background_child::wait_until([&] {
    return contains(ctl({"nodes"}, 10).out, "    2     2  ALIVE");
  }));
  // Ended jobs stay listed with their outcome.
  CAF_CHECK(contains(ctl({"list"}).out, "CANCELED"));
  CAF_CHECK(contains(ctl({"info", "1"}).out, "CANCELED"));
  // Unknown jobs and commands: clear errors, non-zero.
  auto bad = ctl({"info", "77"});
  CAF_CHECK_NOT_EQUAL(bad.exit_code, 0);
  CAF_CHECK(contains(bad.err, "no job 77"));
  auto unknown = ctl({"frobnicate"});
  CAF_CHECK_EQUAL(unknown.exit_code, 2);
  CAF_CHECK(contains(unknown.err, "unknown command 'frobnicate'"));
}

CAF_TEST(a node killed mid job: the job resumes on the others exactly once) {
  start_coordinator();
  // One slot each: the job's two subtasks of each vertex land on n1 and
  // n2; n3 stands by.
  start_node("n1", 1);
  start_node("n2", 1);
  start_node("n3", 1);
  CAF_REQUIRE(wait_for_nodes(3));
  auto out = dir.file("out");
  auto chk = dir.file("chk");
  std::vector<std::string> app{"--records", "60000", "--rate", "20000",
                               "--window-ms", "1000", "--checkpoint-dir", chk,
                               "--checkpoint-interval-ms", "200", "--output",
                               out};
  std::vector<std::string> run{"run", "--parallelism", "2", stock_module, "--"};
  run.insert(run.end(), app.begin(), app.end());
  // streamctl waits for the job in the background while n1 is killed.
  background_child ctl_run{dir, streamctl_exe, [&] {
                             std::vector<std::string> a{"--coordinator",
                                                        address()};
                             a.insert(a.end(), run.begin(), run.end());
                             return a;
                           }()};
  // After a checkpoint completed: kill n1 with SIGKILL.
  CAF_REQUIRE(wait_for_checkpoint(chk));
  nodes["n1"]->signal(SIGKILL);
  CAF_CHECK_EQUAL(nodes["n1"]->wait_for(5000), background_child::killed_by(SIGKILL));
  auto rc = ctl_run.wait_for(90000);
  CAF_MESSAGE("streamctl: " << ctl_run.out() << ctl_run.err());
  CAF_REQUIRE_EQUAL(rc, 0);
  CAF_CHECK(contains(ctl_run.out(), "restart"));
  CAF_CHECK(contains(ctl({"nodes"}).out, "LOST"));
  // The same job embedded, without a failure.
  auto rows = stock_rows(out);
  CAF_CHECK_GREATER(rows.size(), 10u);
  CAF_CHECK(rows == embedded_rows(60000));
  // A node that comes back rejoins.
  nodes.erase("n1");
  start_node("n1", 1);
  CAF_CHECK(wait_for_nodes(3));
}

CAF_TEST(a hung node is lost after the heartbeat timeout and rejoins) {
  start_coordinator();
  start_node("n1", 1);
  start_node("n2", 1);
  start_node("n3", 1);
  CAF_REQUIRE(wait_for_nodes(3));
  auto out = dir.file("out");
  auto chk = dir.file("chk");
  std::vector<std::string> app{"--records", "40000", "--rate", "10000",
                               "--window-ms", "1000", "--checkpoint-dir", chk,
                               "--checkpoint-interval-ms", "200", "--output",
                               out};
  std::vector<std::string> a{"--coordinator", address(), "run",
                             "--parallelism", "2", stock_module, "--"};
  a.insert(a.end(), app.begin(), app.end());
  background_child ctl_run{dir, streamctl_exe, a};
  CAF_REQUIRE(background_child::wait_until(
      [&] { return contains(ctl({"list"}, 10).out, "RUNNING"); }));
  std::this_thread::sleep_for(std::chrono::milliseconds{600});
  // Stopped, not killed: its connections stay open, only heartbeats stop.
  nodes["n1"]->signal(SIGSTOP);
  CAF_CHECK(background_child::wait_until(
      [&] { return contains(ctl({"nodes"}, 10).out, "LOST"); }, 15000));
  auto rc = ctl_run.wait_for(60000);
  CAF_MESSAGE("streamctl: " << ctl_run.out() << ctl_run.err());
  CAF_CHECK_EQUAL(rc, 0);
  CAF_CHECK(contains(ctl_run.out(), "restart"));
  // Running again, n1 hears that it is unknown and registers anew.
  nodes["n1"]->signal(SIGCONT);
  CAF_CHECK(wait_for_nodes(3));
  CAF_CHECK(background_child::wait_until([&] {
    return contains(nodes["n1"]->err(), "no longer known to the coordinator");
  }));
  auto rows = stock_rows(out);
  CAF_CHECK_GREATER(rows.size(), 10u);
  CAF_CHECK(rows == embedded_rows(40000));
}

CAF_TEST(a restart without enough slots fails after the slot wait) {
  start_coordinator({"--slot-wait-ms", "1500"});
  start_node("n1", 1);
  start_node("n2", 1);
  CAF_REQUIRE(wait_for_nodes(2));
  background_child run{dir, streamctl_exe,
                       {"--coordinator", address(), "run", "--parallelism",
                        "2", stock_module, "--", "--records", "100000000",
                        "--rate", "5000", "--quiet"}};
  CAF_REQUIRE(background_child::wait_until(
      [&] { return contains(ctl({"list"}, 10).out, "RUNNING"); }));
  nodes["n2"]->signal(SIGKILL);
  CAF_CHECK(background_child::wait_until(
      [&] { return contains(ctl({"list"}, 10).out, "waiting for slots"); },
      15000));
  CAF_CHECK_EQUAL(run.wait_for(30000), 1);
  CAF_MESSAGE(run.err());
  CAF_CHECK(contains(run.err(), "for task slots: not enough task slots"));
  CAF_CHECK(contains(run.err(), "node 'n2' was lost"));
}

CAF_TEST(stop with a savepoint and resume it at another parallelism) {
  start_coordinator();
  start_node("n1", 2);
  start_node("n2", 1);
  CAF_REQUIRE(wait_for_nodes(2));
  auto out = dir.file("out");
  auto chk = dir.file("chk");
  auto sp = dir.file("savepoints");
  std::vector<std::string> app{"--records", "40000", "--window-ms", "1000",
                               "--checkpoint-dir", chk,
                               "--checkpoint-interval-ms", "300", "--output",
                               out};
  auto args = [&](std::vector<std::string> head) {
    std::vector<std::string> a{"--coordinator", address()};
    a.insert(a.end(), head.begin(), head.end());
    a.push_back(stock_module);
    a.push_back("--");
    a.insert(a.end(), app.begin(), app.end());
    return a;
  };
  auto slow = args({"run", "--parallelism", "3"});
  slow.push_back("--rate");
  slow.push_back("10000");
  background_child first{dir, streamctl_exe, slow};
  CAF_REQUIRE(background_child::wait_until(
      [&] { return contains(ctl({"list"}, 10).out, "RUNNING"); }));
  std::this_thread::sleep_for(std::chrono::milliseconds{800});
  auto stop = ctl({"stop", "1", "--savepoint-dir", sp});
  CAF_MESSAGE("stop: " << stop.out << stop.err);
  CAF_REQUIRE_EQUAL(stop.exit_code, 0);
  CAF_REQUIRE(contains(stop.out, "Stopped with savepoint "));
  auto path = stop.out.substr(stop.out.find(sp));
  path = path.substr(0, path.find('\n'));
  CAF_CHECK_EQUAL(first.wait_for(30000), 0);
  // Resumed at parallelism 1 on the other node's slots too.
  auto resumed = run_child(dir, streamctl_exe,
                           args({"run", "--parallelism", "1",
                                 "--from-savepoint", path}));
  CAF_MESSAGE("resume: " << resumed.out << resumed.err);
  CAF_REQUIRE_EQUAL(resumed.exit_code, 0);
  auto rows = stock_rows(out);
  CAF_CHECK_GREATER(rows.size(), 10u);
  CAF_CHECK(rows == embedded_rows(40000));
}

CAF_TEST(nodes outlive their coordinator and a new one resumes its jobs) {
  // A fixed port, so that the restarted coordinator is found again.
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  CAF_REQUIRE_EQUAL(::bind(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa),
                    0);
  socklen_t len = sizeof sa;
  ::getsockname(probe, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(probe);
  auto fixed = std::to_string(ntohs(sa.sin_port));
  auto chk = dir.file("chk");
  start_coordinator({"--port", fixed, "--checkpoint-dir", chk});
  CAF_REQUIRE_EQUAL(std::to_string(port), fixed);
  start_node("n1", 2);
  CAF_REQUIRE(wait_for_nodes(1));
  auto out = dir.file("out");
  std::vector<std::string> app{"--records", "40000", "--window-ms", "1000",
                               "--checkpoint-dir", chk,
                               "--checkpoint-interval-ms", "200", "--output",
                               out};
  std::vector<std::string> run{"run", "--detached", "--parallelism", "2",
                               stock_module, "--"};
  run.insert(run.end(), app.begin(), app.end());
  run.push_back("--rate");
  run.push_back("8000");
  CAF_REQUIRE_EQUAL(ctl(run).exit_code, 0);
  CAF_REQUIRE(wait_for_checkpoint(chk));
  coordinator->signal(SIGKILL);
  coordinator->wait_for(5000);
  auto* n1 = nodes["n1"].get();
  CAF_CHECK(background_child::wait_until(
      [&] { return contains(n1->err(), "lost its coordinator"); }));
  CAF_CHECK_EQUAL(n1->wait_for(0), -1); // the node lives on
  // A new coordinator on the port: the node registers again, and the job
  // is listed from its checkpoints.
  start_coordinator({"--port", fixed, "--checkpoint-dir", chk});
  CAF_REQUIRE(wait_for_nodes(1));
  auto list = ctl({"list"}).out;
  CAF_MESSAGE(list);
  CAF_REQUIRE(contains(list, "checkpointed jobs in " + chk));
  auto at = list.find(chk + "/");
  auto path = list.substr(at, list.find(':', at) - at);
  std::vector<std::string> resume{"run", "--parallelism", "2",
                                  "--from-savepoint", path, stock_module,
                                  "--"};
  resume.insert(resume.end(), app.begin(), app.end());
  auto r = ctl(resume);
  CAF_MESSAGE("resume: " << r.out << r.err);
  CAF_REQUIRE_EQUAL(r.exit_code, 0);
  auto rows = stock_rows(out);
  CAF_CHECK_GREATER(rows.size(), 10u);
  CAF_CHECK(rows == embedded_rows(40000));
}

CAF_TEST(what is not a fitting app is refused and brings nothing down) {
  start_coordinator();
  start_node("n1", 2);
  CAF_REQUIRE(wait_for_nodes(1));
  // Not a libstream app.
  auto r = ctl({"run", bin + "/libstream/libstream.so"});
  CAF_CHECK_NOT_EQUAL(r.exit_code, 0);
  CAF_CHECK(contains(r.err, "is not a libstream app"));
  // A graph that differs on the node from the submitted plan.
  auto m = run_child(dir, "/usr/bin/env",
                     {"LIBSTREAM_TEST_SIDE=submitter", streamctl_exe,
                      "--coordinator", address(), "run", MISMATCH_MODULE});
  CAF_MESSAGE("mismatch: " << m.err);
  CAF_CHECK_EQUAL(m.exit_code, 1);
  CAF_CHECK(contains(m.err, "does not match the submitted plan"));
  CAF_CHECK(contains(m.err, "n1"));
  // Garbage bytes on the coordinator's and the node's port, and
  // connections cut short.
  auto node_port = listening_port(nodes["n1"]->out());
  CAF_REQUIRE_GREATER(node_port, 0);
  for (auto target : {port, node_port})
    for (auto payload : {std::string(4096, '\xff'),
                         std::string{"GET / HTTP/1.0\r\n\r\n"},
                         std::string("\x00\x00\x00\x10", 4)}) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_port = htons(static_cast<uint16_t>(target));
      sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      CAF_REQUIRE_EQUAL(
          ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
      auto n = ::write(fd, payload.data(), payload.size());
      CAF_CHECK_GREATER(n, 0);
      ::close(fd);
    }
  // Still serving: the node is there and a job runs.
  CAF_CHECK(wait_for_nodes(1));
  auto out = dir.file("after.csv");
  auto ok = ctl({"run", stock_module, "--", "--records", "1000", "--output", out});
  CAF_CHECK_EQUAL(ok.exit_code, 0);
  CAF_CHECK_EQUAL(coordinator->wait_for(0), -1); // still running
  CAF_CHECK_EQUAL(nodes["n1"]->wait_for(0), -1);
}

CAF_TEST(daemons refuse bad settings with one line and a non-zero exit) {
  start_coordinator();
  // The port is taken.
  auto taken = run_child(dir, coordinator_exe,
                         {"--port", std::to_string(port)}, 20);
  CAF_CHECK_EQUAL(taken.exit_code, 1);
  CAF_CHECK(contains(taken.err, "cannot listen on 127.0.0.1:"
                                    + std::to_string(port)));
  // No coordinator there: within the connect timeout.
  auto lonely = run_child(dir, node_exe,
                          {"--coordinator", "127.0.0.1:1", "--connect-timeout-ms",
                           "500", "--state-dir", dir.file("x")},
                          20);
  CAF_CHECK_EQUAL(lonely.exit_code, 1);
  CAF_CHECK(contains(lonely.err, "cannot reach the coordinator at 127.0.0.1:1"));
  auto bad_caf = run_child(dir, coordinator_exe,
                           {"--port", "0", "--caf#scheduler.max-threads=x"},
                           20);
  CAF_CHECK_EQUAL(bad_caf.exit_code, 2);
  CAF_CHECK(contains(bad_caf.err, "CAF option"));
  auto bad = run_child(dir, node_exe, {"--slots", "-3"}, 20);
  CAF_CHECK_EQUAL(bad.exit_code, 2);
  CAF_CHECK(contains(bad.err, "--slots must be in 0..32768"));
  auto cfg = dir.file("bad.ini");
  write_file(cfg, "heartbeat-timeout-ms = soon\n");
  auto badcfg = run_child(dir, coordinator_exe, {"--config", cfg}, 20);
  CAF_CHECK_EQUAL(badcfg.exit_code, 2);
  CAF_CHECK(contains(badcfg.err, "heartbeat-timeout-ms"));
  // A second node with a name in use.
  start_node("twin", 1);
  auto twin = run_child(dir, node_exe,
                        {"--coordinator", address(), "--name", "twin",
                         "--state-dir", dir.file("twin2")},
                        20);
  CAF_CHECK_EQUAL(twin.exit_code, 1);
  CAF_CHECK(contains(twin.err, "a node named 'twin' is registered already"));
}

CAF_TEST(an application cluster runs one app and exits with it) {
  std::string text = "b a b\nc b a\n";
  auto input = dir.file("in.txt");
  write_file(input, text);
  auto out = dir.file("out.txt");
  coordinator = std::make_unique<background_child>(
      dir, coordinator_exe,
      std::vector<std::string>{"--port", "0", "--application",
                               word_count_module, "--", "--input", input,
                               "--output", out, "--parallelism", "2"});
  CAF_REQUIRE(background_child::wait_until(
      [&] { return (port = listening_port(coordinator->out())) > 0; }));
  start_node("solo", 2);
  CAF_CHECK_EQUAL(coordinator->wait_for(60000), 0);
  CAF_MESSAGE(coordinator->out() << coordinator->err());
  CAF_CHECK(sorted_lines(read_file(out))
            == (std::vector<std::string>{"a,2", "b,3", "c,1"}));
}

CAF_TEST_FIXTURE_SCOPE_END()
