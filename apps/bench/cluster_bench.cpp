#include "bench/cluster_bench.hpp"
#include "bench/bench_util.hpp"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libstream/checkpoint/storage.hpp"
#include "stock/stock_job.hpp"

namespace bench {

namespace {

std::string self_dir() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return ".";
  std::string path{buf, static_cast<size_t>(n)};
  return path.substr(0, path.rfind('/'));
}

} // namespace

void cluster_pipeline(uint64_t records, int repeat) {
  auto apps = self_dir();
  auto nodes_dir = apps + "/../nodes";
  char tmpl[] = "/tmp/stream-bench-cluster.XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    std::printf("8. cannot create a temporary directory\n");
    return;
  }
  std::string dir = tmpl;
  {
    daemon_process coord{nodes_dir + "/stream-coordinator", {"--port", "0"},
                         dir + "/coordinator.out"};
    if (!coord.wait_for("listening on")) {
      std::printf("8. the coordinator did not start: %s\n",
                  slurp(coord.out).c_str());
      libstream::remove_tree(dir);
      return;
    }
    auto text = slurp(coord.out);
    auto at = text.find("listening on ") + 13;
    auto address = text.substr(at, text.find('\n', at) - at);
    std::vector<std::unique_ptr<daemon_process>> nodes;
    for (auto name : {"bench-1", "bench-2"}) {
      nodes.push_back(std::make_unique<daemon_process>(
          nodes_dir + "/stream-node",
          std::vector<std::string>{"--coordinator", address, "--name", name,
                                   "--slots", "1", "--state-dir",
                                   dir + "/" + name},
          dir + "/" + name + ".out"));
      if (!nodes.back()->wait_for("registered")) {
        std::printf("8. node %s did not register: %s\n", name,
                    slurp(nodes.back()->out).c_str());
        libstream::remove_tree(dir);
        return;
      }
    }
    std::vector<double> cluster_s, embedded_s;
    bool ok = true;
    for (int r = 0; r < repeat && ok; ++r) {
      auto cmd = nodes_dir + "/streamctl --coordinator " + address
                 + " run --parallelism 2 " + apps
                 + "/stock_aggregator.so -- --quiet --records "
                 + std::to_string(records) + " 2>&1";
      std::string out;
      if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[512];
        while (std::fgets(buf, sizeof buf, p) != nullptr)
          out += buf;
        ok = ::pclose(p) == 0;
      } else {
        ok = false;
      }
      auto at = out.find("finished in ");
      if (!ok || at == std::string::npos) {
        std::printf("8. the cluster run failed: %s\n", out.c_str());
        ok = false;
        break;
      }
      cluster_s.push_back(std::stod(out.substr(at + 12)) / 1000.0);
      stock::job_options o;
      o.parallelism = 2;
      o.records = records;
      o.print_rows = false;
      embedded_s.push_back(stock::run(o).seconds);
    }
    if (ok) {
      auto n = static_cast<double>(records);
      auto c = n / median(cluster_s);
      auto e = n / median(embedded_s);
      std::printf("8. keyed windows across two node processes, p=2 "
                  "(stock_aggregator.so, %llu generated trades)\n",
                  static_cast<unsigned long long>(records));
      std::printf("   cluster  %6.2f M rec/s | embedded %6.2f M rec/s | "
                  "ratio %.2f\n",
                  c / 1e6, e / 1e6, c / e);
    }
  }
  std::fflush(stdout);
  libstream::remove_tree(dir);
}

} // namespace bench
