// streamctl: deploys apps to a libstream cluster and manages its jobs, in
// the spirit of Flink's CLI.
//
//   streamctl [--coordinator HOST:PORT] [--config FILE] COMMAND ...
//     run [--parallelism N] [--from-savepoint PATH] [--detached] MODULE
//         [-- APP ARGS]
//     list | info JOB | nodes | cancel JOB | savepoint JOB [DIR]
//     stop JOB [--savepoint-dir DIR]

#include <chrono>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"

#include "actors/cluster.hpp"
#include "daemon.hpp"
#include "libstream/app.hpp"

using namespace libstream;
using namespace libstream::runtime;

namespace {

constexpr const char* prog = "streamctl";

const char* usage =
    "usage: streamctl [--coordinator HOST:PORT] [--config FILE] COMMAND\n"
    "commands:\n"
    "  run [--parallelism N] [--from-savepoint PATH] [--detached] MODULE "
    "[-- APP ARGS]\n"
    "      deploy an app module; attached: wait for the job's end\n"
    "  list                     jobs (id, name, state, start time)\n"
    "  info JOB                 operators, placement, checkpoints\n"
    "  nodes                    registered nodes and their slots\n"
    "  cancel JOB               stop a job now\n"
    "  savepoint JOB [DIR]      take a savepoint\n"
    "  stop JOB [--savepoint-dir DIR]\n"
    "                           stop with a savepoint\n"
    "--coordinator defaults to the 'coordinator' key of --config, else "
    "127.0.0.1:6123.\n";

struct usage_error : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

uint64_t parse_job(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos)
    throw usage_error("JOB must be a job id (a number, see streamctl list), "
                      "got '" + s + "'");
  return std::stoull(s);
}

/// The coordinator key of an INI file (a node's or streamctl's own).
std::string coordinator_from_config(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    throw usage_error("cannot open config file '" + path + "'");
  std::string line;
  while (std::getline(in, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos)
      continue;
    auto key = line.substr(0, eq);
    auto trim = [](std::string x) {
      auto b = x.find_first_not_of(" \t\r");
      auto e = x.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string{} : x.substr(b, e - b + 1);
    };
    if (trim(key) == "coordinator")
      return trim(line.substr(eq + 1));
  }
  return "";
}

struct client {
  caf::actor_system& sys;
  caf::actor coordinator;

  /// A request with a reply of type T; throws std::runtime_error with the
  /// coordinator's message.
  template <class T, class... Ts>
  T ask(std::chrono::seconds timeout, Ts&&... xs) {
    caf::scoped_actor self{sys};
    T result{};
    std::string error;
    self->request(coordinator, timeout, std::forward<Ts>(xs)...)
        .receive([&](T& x) { result = std::move(x); },
                 [&](caf::error& err) { error = error_text(sys, err); });
    if (!error.empty())
      throw std::runtime_error(error);
    return result;
  }
};

int run(client& c, std::vector<std::string> args) {
  int parallelism = 0;
  std::string restore;
  bool detached = false;
  std::string module;
  std::vector<std::string> app_args;
  for (size_t i = 0; i < args.size(); ++i) {
    auto& a = args[i];
    auto value = [&](const std::string& flag) {
      if (i + 1 >= args.size())
        throw usage_error(flag + " needs a value");
      return args[++i];
    };
    if (a == "--") {
      app_args.assign(args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (a == "--parallelism" || a == "-p") {
      auto v = value(a);
      try {
        parallelism = std::stoi(v);
      } catch (const std::exception&) {
        parallelism = -1;
      }
      if (parallelism < 1 || parallelism > 32768)
        throw usage_error("--parallelism must be in 1..32768, got '" + v + "'");
    } else if (a == "--from-savepoint" || a == "-s") {
      restore = value(a);
    } else if (a == "--detached" || a == "-d") {
      detached = true;
    } else if (!a.empty() && a[0] == '-') {
      throw usage_error("run: unknown option '" + a + "'");
    } else if (module.empty()) {
      module = a;
    } else {
      throw usage_error("run: unexpected '" + a
                        + "' (app arguments go after --)");
    }
  }
  if (module.empty())
    throw usage_error("run needs an app MODULE (e.g. build/apps/"
                      "stock_aggregator.so)");
  auto fallback = c.ask<int32_t>(std::chrono::seconds{10}, settings_atom_v);
  std::string name;
  auto sub = make_cluster_submission(module, app_args, parallelism, fallback,
                                     &name);
  sub.restore_from = restore;
  caf::scoped_actor self{c.sys};
  if (!detached)
    sub.listener = self;
  uint64_t id = 0;
  std::string error;
  self->request(c.coordinator, std::chrono::seconds{120}, submit_atom_v,
                std::move(sub))
      .receive([&](uint64_t x) { id = x; },
               [&](caf::error& err) { error = error_text(c.sys, err); });
  if (!error.empty())
    throw std::runtime_error("submitting " + name + " failed: " + error);
  std::printf("Job has been submitted with JobID %llu (%s)\n",
              static_cast<unsigned long long>(id), name.c_str());
  std::fflush(stdout);
  if (detached)
    return 0;
  self->monitor(c.coordinator);
  for (;;) {
    bool done = false;
    bool lost = false;
    job_result r;
    self->receive(
        [&](job_done_atom, job_result& x) {
          r = std::move(x);
          done = true;
        },
        [&](caf::down_msg&) { lost = true; },
        caf::after(std::chrono::milliseconds{200}) >> [] {});
    if (lost) {
      std::fprintf(stderr, "%s: error: lost the coordinator while job %llu "
                           "ran\n",
                   prog, static_cast<unsigned long long>(id));
      return 1;
    }
    if (done) {
      if (r.status == job_status::finished) {
        std::printf("Job %llu finished in %lld ms", 
                    static_cast<unsigned long long>(id),
                    static_cast<long long>(r.duration_ms));
        if (r.restarts > 0)
          std::printf(" after %d restart(s)", r.restarts);
        std::printf("\n");
        return 0;
      }
      std::fprintf(stderr, "%s: job %llu %s: %s\n", prog,
                   static_cast<unsigned long long>(id), to_string(r.status),
                   r.error.c_str());
      return 1;
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  // Signals keep their default action: Ctrl-C ends streamctl at once,
  // also mid-request; an attached job keeps running on the cluster.
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string coordinator;
  std::string config;
  size_t i = 0;
  try {
    for (; i < args.size(); ++i) {
      auto& a = args[i];
      if (a == "--help" || a == "-h") {
        std::fputs(usage, stdout);
        return 0;
      }
      if (a == "--coordinator" || a == "--config") {
        if (i + 1 >= args.size())
          throw usage_error(a + " needs a value");
        (a == "--config" ? config : coordinator) = args[++i];
        continue;
      }
      if (!a.empty() && a[0] == '-')
        throw usage_error("unknown option '" + a + "'");
      break;
    }
    if (i >= args.size())
      throw usage_error("no command given");
    if (coordinator.empty() && !config.empty())
      coordinator = coordinator_from_config(config);
    if (coordinator.empty())
      coordinator = "127.0.0.1:6123";
  } catch (const usage_error& e) {
    std::fprintf(stderr, "%s: error: %s\n%s", prog, e.what(), usage);
    return 2;
  }
  auto command = args[i];
  std::vector<std::string> rest(args.begin() + static_cast<long>(i) + 1,
                                args.end());
  try {
    auto hp = parse_host_port(coordinator, "--coordinator");
    auto need = [&](size_t n, const char* what) {
      if (rest.size() < n)
        throw usage_error(command + " needs " + what);
    };
    static const std::vector<std::string> known
        = {"run", "list", "info", "nodes", "cancel", "savepoint", "stop"};
    if (std::find(known.begin(), known.end(), command) == known.end())
      throw usage_error("unknown command '" + command + "'");
    if (command == "info" || command == "cancel" || command == "savepoint"
        || command == "stop")
      need(1, "a JOB id");
    caf::actor_system_config cfg;
    configure_cluster_process(cfg, 2);
    caf::actor_system sys{cfg};
    auto coord = sys.middleman().remote_actor(hp.host, hp.port);
    if (!coord)
      throw std::runtime_error("cannot reach the coordinator at " + coordinator
                               + ": " + sys.render(coord.error()));
    client c{sys, *coord};
    auto secs = std::chrono::seconds{30};
    if (command == "run")
      return run(c, rest);
    if (command == "list") {
      std::fputs(c.ask<std::string>(secs, list_atom_v).c_str(), stdout);
    } else if (command == "nodes") {
      std::fputs(c.ask<std::string>(secs, nodes_atom_v).c_str(), stdout);
    } else if (command == "info") {
      std::fputs(
          c.ask<std::string>(secs, info_atom_v, parse_job(rest[0])).c_str(),
          stdout);
    } else if (command == "cancel") {
      auto id = parse_job(rest[0]);
      c.ask<bool>(secs, cancel_job_atom_v, id);
      std::printf("Cancelled job %llu\n", static_cast<unsigned long long>(id));
    } else if (command == "savepoint" || command == "stop") {
      auto id = parse_job(rest[0]);
      std::string dir;
      if (command == "savepoint") {
        if (rest.size() > 2)
          throw usage_error("savepoint takes JOB [DIR]");
        if (rest.size() == 2)
          dir = rest[1];
      } else {
        for (size_t k = 1; k < rest.size(); ++k) {
          if (rest[k] == "--savepoint-dir" && k + 1 < rest.size())
            dir = rest[++k];
          else
            throw usage_error("stop takes JOB [--savepoint-dir DIR]");
        }
      }
      auto path = c.ask<std::string>(std::chrono::seconds{600},
                                     savepoint_atom_v, id, dir,
                                     command == "stop");
      std::printf("%s %s\n",
                  command == "stop" ? "Stopped with savepoint"
                                    : "Savepoint completed:",
                  path.c_str());
    }
    return 0;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "%s: error: %s\n%s", prog, e.what(), usage);
    return 2;
  } catch (const app_usage_error& e) {
    std::fprintf(stderr, "%s: error: the app's arguments: %s\n", prog,
                 e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: error: %s\n", prog, e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", prog, e.what());
    return 1;
  }
}
