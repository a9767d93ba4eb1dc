// stream-coordinator: the job manager daemon of a libstream cluster.
//
//   stream-coordinator --config configs/coordinator.ini
//   stream-coordinator --port 0          (a free port, printed)
//   stream-coordinator --application build/apps/word_count.so -- --input x
//                                        (an application cluster: runs the
//                                         one app, exits with it)
//
// Nodes (stream-node) register with it; streamctl deploys apps to it.

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <boost/program_options.hpp>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/exit_reason.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

#include "actors/cluster.hpp"
#include "actors/coordinator.hpp"
#include "common/options.hpp"
#include "daemon.hpp"
#include "libstream/app.hpp"
#include "libstream/plan_codec.hpp"

namespace po = boost::program_options;
using namespace libstream;
using namespace libstream::runtime;

namespace {

constexpr const char* prog = "stream-coordinator";

struct options {
  std::string bind = "127.0.0.1";
  int port = 6123;
  std::string checkpoint_dir;
  std::string savepoint_dir;
  int default_parallelism = 1;
  std::string restart_strategy = "fixed-delay";
  int restart_attempts = 3;
  int64_t restart_delay_ms = 1000;
  int64_t restart_max_delay_ms = 60000;
  int64_t heartbeat_interval_ms = 1000;
  int64_t heartbeat_timeout_ms = 5000;
  int64_t cancellation_timeout_ms = 30000;
  int64_t slot_wait_ms = 300000;
  int worker_threads = 0;
  std::string application;
  std::vector<std::string> app_args;
};

restart_strategy parse_restart(const options& o) {
  if (o.restart_attempts < 0 || o.restart_delay_ms < 0)
    throw std::invalid_argument("restart-attempts and restart-delay-ms must "
                                "not be negative");
  if (o.restart_strategy == "none")
    return restart_strategy::no_restart();
  if (o.restart_strategy == "fixed-delay")
    return restart_strategy::fixed(o.restart_attempts, o.restart_delay_ms);
  if (o.restart_strategy == "exponential-delay") {
    if (o.restart_max_delay_ms < o.restart_delay_ms)
      throw std::invalid_argument("restart-max-delay-ms must be at least "
                                  "restart-delay-ms");
    return restart_strategy::backoff(o.restart_delay_ms,
                                     o.restart_max_delay_ms, 2.0);
  }
  throw std::invalid_argument("restart-strategy must be none, fixed-delay or "
                              "exponential-delay, got '"
                              + o.restart_strategy + "'");
}

/// Application mode: submits the app once the nodes offer enough slots,
/// waits for its end; returns the exit status.
int run_application(caf::actor_system& sys, const caf::actor& coordinator,
                    const options& o) {
  std::string name;
  cluster_submission sub;
  try {
    sub = make_cluster_submission(o.application, o.app_args, 0,
                                  o.default_parallelism, &name);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", prog, e.what());
    return 2;
  }
  caf::scoped_actor self{sys};
  sub.listener = self;
  auto needed = decode_job_graph(sub.plan).graph->max_vertex_parallelism();
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds{o.slot_wait_ms};
  for (;;) {
    int32_t free = 0;
    self->request(coordinator, std::chrono::seconds{5}, caf::get_atom_v)
        .receive([&](int32_t x) { free = x; }, [&](caf::error&) {});
    if (free >= needed)
      break;
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr,
                   "%s: error: %s needs %d task slot(s); the nodes offer %d "
                   "after %lld ms\n",
                   prog, name.c_str(), needed, free,
                   static_cast<long long>(o.slot_wait_ms));
      return 1;
    }
    if (auto sig = daemons::wait_for_signal(100); sig != 0)
      return 128 + sig;
  }
  uint64_t id = 0;
  std::string error;
  self->request(coordinator, std::chrono::seconds{120}, submit_atom_v,
                std::move(sub))
      .receive([&](uint64_t x) { id = x; },
               [&](caf::error& err) { error = error_text(sys, err); });
  if (!error.empty()) {
    std::fprintf(stderr, "%s: error: submitting %s failed: %s\n", prog,
                 name.c_str(), error.c_str());
    return 1;
  }
  std::printf("%s: job %llu (%s) submitted\n", prog,
              static_cast<unsigned long long>(id), name.c_str());
  std::fflush(stdout);
  for (;;) {
    bool done = false;
    job_result result;
    self->receive(
        [&](job_done_atom, job_result& r) {
          result = std::move(r);
          done = true;
        },
        caf::after(std::chrono::milliseconds{100}) >> [] {});
    if (done) {
      if (result.status == job_status::finished) {
        std::printf("%s: job %llu finished\n", prog,
                    static_cast<unsigned long long>(id));
        return 0;
      }
      std::fprintf(stderr, "%s: job %llu %s: %s\n", prog,
                   static_cast<unsigned long long>(id),
                   to_string(result.status), result.error.c_str());
      return 1;
    }
    if (auto sig = daemons::wait_for_signal(0); sig != 0) {
      caf::anon_send(coordinator, cancel_atom_v, id);
      return 128 + sig;
    }
  }
}

} // namespace

int main(int argc, char** argv) {
  daemons::block_signals();
  // Everything after "--" belongs to the application (--application).
  std::vector<std::string> app_args;
  for (int i = 1; i < argc; ++i)
    if (std::string{argv[i]} == "--") {
      app_args.assign(argv + i + 1, argv + argc);
      argc = i;
      break;
    }
  options o;
  po::options_description desc{
      "stream-coordinator: the job manager of a libstream cluster.\n"
      "Every option is also a key of the --config file (key = value); the "
      "command line wins. CAF's own options pass through as "
      "--caf#KEY=VALUE (e.g. --caf#scheduler.max-threads=4). Defaults: configs/coordinator.ini documents them.\n\n"
      "Options"};
  desc.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(), "INI file with these options")(
      "bind", po::value(&o.bind)->default_value(o.bind),
      "address to listen on")(
      "port", po::value(&o.port)->default_value(o.port),
      "port to listen on (0: a free one, printed)")(
      "checkpoint-dir", po::value(&o.checkpoint_dir),
      "where `streamctl list` looks for checkpointed jobs to resume")(
      "savepoint-dir", po::value(&o.savepoint_dir),
      "where `streamctl stop` and `savepoint` write without a directory")(
      "default-parallelism",
      po::value(&o.default_parallelism)->default_value(o.default_parallelism),
      "parallelism of jobs that set none")(
      "restart-strategy",
      po::value(&o.restart_strategy)->default_value(o.restart_strategy),
      "for jobs that set none: none, fixed-delay or exponential-delay")(
      "restart-attempts",
      po::value(&o.restart_attempts)->default_value(o.restart_attempts),
      "fixed-delay: restarts before the job fails")(
      "restart-delay-ms",
      po::value(&o.restart_delay_ms)->default_value(o.restart_delay_ms),
      "delay before a restart (exponential-delay: the first)")(
      "restart-max-delay-ms",
      po::value(&o.restart_max_delay_ms)->default_value(o.restart_max_delay_ms),
      "exponential-delay: the longest delay")(
      "heartbeat-interval-ms",
      po::value(&o.heartbeat_interval_ms)
          ->default_value(o.heartbeat_interval_ms),
      "how often node heartbeats are checked")(
      "heartbeat-timeout-ms",
      po::value(&o.heartbeat_timeout_ms)->default_value(o.heartbeat_timeout_ms),
      "a node silent this long is lost: its jobs restart elsewhere")(
      "cancellation-timeout-ms",
      po::value(&o.cancellation_timeout_ms)
          ->default_value(o.cancellation_timeout_ms),
      "how long subtasks may take to stop")(
      "worker-threads",
      po::value(&o.worker_threads)->default_value(o.worker_threads),
      "threads of the coordinator's actor system (0: the cores)")(
      "application", po::value(&o.application),
      "application cluster: run this app module (arguments after --), "
      "exit with it")(
      "slot-wait-ms", po::value(&o.slot_wait_ms)->default_value(o.slot_wait_ms),
      "how long a job waits for enough task slots: a restarting job (after "
      "a node was lost), and the app of an application cluster");
  std::vector<std::string> args(argv + 1, argv + argc);
  auto caf_options = daemons::take_caf_options(args);
  try {
    auto vm = apps::parse_options(args, desc);
    if (vm.count("help")) {
      std::cout << desc << '\n';
      return 0;
    }
    if (o.port < 0 || o.port > 65535)
      throw std::invalid_argument("--port must be in 0..65535, got "
                                  + std::to_string(o.port));
    if (o.default_parallelism < 1 || o.default_parallelism > 32768)
      throw std::invalid_argument("--default-parallelism must be in "
                                  "1..32768, got "
                                  + std::to_string(o.default_parallelism));
    if (o.heartbeat_interval_ms < 1
        || o.heartbeat_timeout_ms < o.heartbeat_interval_ms)
      throw std::invalid_argument("--heartbeat-interval-ms must be positive "
                                  "and --heartbeat-timeout-ms at least as "
                                  "long");
    if (o.cancellation_timeout_ms < 1)
      throw std::invalid_argument("--cancellation-timeout-ms must be "
                                  "positive");
    if (o.worker_threads < 0)
      throw std::invalid_argument("--worker-threads must not be negative");
    if (o.slot_wait_ms < 0)
      throw std::invalid_argument("--slot-wait-ms must not be negative");
    if (!app_args.empty() && o.application.empty())
      throw std::invalid_argument("arguments after -- need --application");
    o.app_args = app_args;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", prog, e.what());
    return 2;
  }
  cluster_settings settings;
  try {
    settings.default_restarts = parse_restart(o);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", prog, e.what());
    return 2;
  }
  settings.heartbeat_interval = std::chrono::milliseconds{o.heartbeat_interval_ms};
  settings.heartbeat_timeout = std::chrono::milliseconds{o.heartbeat_timeout_ms};
  settings.checkpoint_dir = o.checkpoint_dir;
  settings.savepoint_dir = o.savepoint_dir;
  settings.default_parallelism = o.default_parallelism;
  settings.slot_wait_timeout = std::chrono::milliseconds{o.slot_wait_ms};
  caf::actor_system_config cfg;
  configure_cluster_process(cfg, o.worker_threads);
  try {
    daemons::apply_caf_options(cfg, caf_options);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: error: %s\n", prog, e.what());
    return 2;
  }
  caf::actor_system sys{cfg};
  auto coordinator = spawn_cluster_coordinator(
      sys, std::chrono::milliseconds{o.cancellation_timeout_ms}, settings);
  auto port = sys.middleman().publish(coordinator,
                                      static_cast<uint16_t>(o.port),
                                      o.bind.c_str(), true);
  if (!port) {
    std::fprintf(stderr, "%s: error: cannot listen on %s:%d: %s\n", prog,
                 o.bind.c_str(), o.port, sys.render(port.error()).c_str());
    caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
    return 1;
  }
  std::printf("%s: listening on %s:%u\n", prog, o.bind.c_str(),
              static_cast<unsigned>(*port));
  std::fflush(stdout);
  int status = 0;
  if (!o.application.empty()) {
    status = run_application(sys, coordinator, o);
  } else {
    auto sig = daemons::wait_for_signal(-1);
    std::printf("%s: %s, shutting down\n", prog,
                sig == SIGINT ? "SIGINT" : "SIGTERM");
  }
  caf::anon_send_exit(coordinator, caf::exit_reason::user_shutdown);
  return status;
}
