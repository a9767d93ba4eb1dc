// stream-node: a task manager daemon of a libstream cluster. It offers task
// slots to a coordinator, runs the subtasks placed on it, and exchanges
// records with other nodes directly.
//
//   stream-node --config configs/node-1.ini
//   stream-node --coordinator 127.0.0.1:6123 --slots 4 --state-dir /tmp/n1

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>
#include <thread>

#include <unistd.h>

#include <boost/program_options.hpp>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

#include "actors/cluster.hpp"
#include "actors/node.hpp"
#include "actors/spawn.hpp"
#include "common/options.hpp"
#include "daemon.hpp"
#include "libstream/checkpoint/storage.hpp"

namespace po = boost::program_options;
using namespace libstream;
using namespace libstream::runtime;

namespace {

constexpr const char* prog = "stream-node";

struct options {
  std::string coordinator = "127.0.0.1:6123";
  std::string name;
  std::string bind = "127.0.0.1";
  int port = 0;
  int slots = 0;
  std::string state_dir;
  int worker_threads = 0;
  int64_t network_memory_mb = 128;
  int64_t heartbeat_interval_ms = 1000;
  int64_t connect_timeout_ms = 5000;
};

/// Heartbeats to the coordinator while it lives. When it goes, or no
/// longer knows this node (lost after a heartbeat timeout), the node's
/// subtasks stop (nobody takes their reports) and this actor quits: the
/// node then registers again.
caf::behavior heartbeat_actor(caf::event_based_actor* self, caf::actor coord,
                              caf::actor node, std::chrono::milliseconds every,
                              std::string name) {
  auto give_up = [self, node, name](const char* why) {
    std::fprintf(stderr, "%s: '%s' %s; stopping its subtasks\n", prog,
                 name.c_str(), why);
    self->send(node, cancel_atom_v);
    self->quit();
  };
  self->monitor(coord);
  self->set_down_handler(
      [give_up](caf::down_msg&) { give_up("lost its coordinator"); });
  self->send(self, heartbeat_atom_v);
  return {
      [self, coord, node, every, give_up](heartbeat_atom) {
        self->request(coord, every * 5, heartbeat_atom_v, node)
            .then(
                [give_up](bool known) {
                  if (!known)
                    give_up("is no longer known to the coordinator");
                },
                [](caf::error&) {
                  // A slow answer: the coordinator decides by its timeout.
                });
        self->delayed_send(self, every, heartbeat_atom_v);
      },
  };
}

} // namespace

int main(int argc, char** argv) {
  daemons::block_signals();
  options o;
  po::options_description desc{
      "stream-node: a task manager of a libstream cluster.\n"
      "Every option is also a key of the --config file (key = value); the "
      "command line wins. CAF's own options pass through as "
      "--caf#KEY=VALUE (e.g. --caf#scheduler.max-threads=4). configs/node-1.ini documents the defaults.\n\n"
      "Options"};
  desc.add_options()("help,h", "show this help")(
      "config", po::value<std::string>(), "INI file with these options")(
      "coordinator", po::value(&o.coordinator)->default_value(o.coordinator),
      "HOST:PORT of the coordinator")(
      "name", po::value(&o.name),
      "the node's name in the cluster (default: node-<host>-<pid>)")(
      "bind", po::value(&o.bind)->default_value(o.bind),
      "address other nodes reach this one at")(
      "port", po::value(&o.port)->default_value(o.port),
      "port other nodes connect to (0: a free one)")(
      "slots", po::value(&o.slots)->default_value(o.slots),
      "task slots offered (0: the number of cores)")(
      "state-dir", po::value(&o.state_dir),
      "local directory: app module cache and LevelDB state (default: "
      "$TMPDIR/libstream-<name>)")(
      "worker-threads",
      po::value(&o.worker_threads)->default_value(o.worker_threads),
      "threads that run the subtasks (0: the cores)")(
      "network-memory-mb",
      po::value(&o.network_memory_mb)->default_value(o.network_memory_mb),
      "memory for records in flight between subtasks, shared by the slots")(
      "heartbeat-interval-ms",
      po::value(&o.heartbeat_interval_ms)
          ->default_value(o.heartbeat_interval_ms),
      "how often the node tells the coordinator it lives")(
      "connect-timeout-ms",
      po::value(&o.connect_timeout_ms)->default_value(o.connect_timeout_ms),
      "give up when the coordinator cannot be reached for this long");
  host_port coord_addr;
  std::vector<std::string> args(argv + 1, argv + argc);
  auto caf_options = daemons::take_caf_options(args);
  try {
    auto vm = apps::parse_options(args, desc);
    if (vm.count("help")) {
      std::cout << desc << '\n';
      return 0;
    }
    coord_addr = parse_host_port(o.coordinator, "--coordinator");
    // Other nodes connect to this address: a wildcard names no machine.
    if (o.bind.empty() || o.bind == "0.0.0.0" || o.bind == "::"
        || o.bind == "[::]")
      throw std::invalid_argument("--bind must be an address other nodes "
                                  "can reach this node at, not '"
                                  + o.bind + "'");
    if (o.port < 0 || o.port > 65535)
      throw std::invalid_argument("--port must be in 0..65535, got "
                                  + std::to_string(o.port));
    if (o.slots < 0 || o.slots > 32768)
      throw std::invalid_argument("--slots must be in 0..32768, got "
                                  + std::to_string(o.slots));
    if (o.network_memory_mb < 1)
      throw std::invalid_argument("--network-memory-mb must be positive");
    if (o.heartbeat_interval_ms < 1 || o.connect_timeout_ms < 0)
      throw std::invalid_argument("--heartbeat-interval-ms must be positive "
                                  "and --connect-timeout-ms not negative");
    if (o.worker_threads < 0)
      throw std::invalid_argument("--worker-threads must not be negative");
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: error: %s (see --help)\n", prog, e.what());
    return 2;
  }
  if (o.slots == 0)
    o.slots = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (o.name.empty()) {
    char host[256] = "localhost";
    ::gethostname(host, sizeof host - 1);
    o.name = "node-" + std::string{host} + "-" + std::to_string(::getpid());
  }
  if (o.state_dir.empty()) {
    auto* tmp = std::getenv("TMPDIR");
    o.state_dir = std::string{tmp != nullptr && *tmp != '\0' ? tmp : "/tmp"}
                  + "/libstream-" + o.name;
  }
  try {
    make_directories(o.state_dir);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: state directory: %s\n", prog, e.what());
    return 1;
  }
  caf::actor_system_config cfg;
  configure_cluster_process(cfg, o.worker_threads);
  try {
    daemons::apply_caf_options(cfg, caf_options);
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: error: %s\n", prog, e.what());
    return 2;
  }
  caf::actor_system sys{cfg};
  auto node = sys.spawn(node_actor, o.name, static_cast<int32_t>(o.slots),
                        static_cast<size_t>(o.network_memory_mb) << 20,
                        o.state_dir, std::string{});
  auto shutdown = [&](int status) {
    caf::anon_send(node, cancel_atom_v);
    caf::anon_send_exit(node, caf::exit_reason::user_shutdown);
    return status;
  };
  // Other nodes connect here to send records to this node's subtasks.
  auto port = sys.middleman().publish(node, static_cast<uint16_t>(o.port),
                                      o.bind.c_str(), true);
  if (!port) {
    std::fprintf(stderr, "%s: error: cannot listen on %s:%d: %s\n", prog,
                 o.bind.c_str(), o.port, sys.render(port.error()).c_str());
    return shutdown(1);
  }
  auto address = o.bind + ":" + std::to_string(*port);
  caf::anon_send(node, caf::put_atom_v, address);
  bool registered_once = false;
  for (;;) {
    // Connect (retrying while the coordinator starts), then register.
    caf::actor coord;
    std::string why;
    auto deadline = std::chrono::steady_clock::now()
                    + std::chrono::milliseconds{o.connect_timeout_ms};
    for (;;) {
      auto x = sys.middleman().remote_actor(coord_addr.host, coord_addr.port);
      if (x) {
        coord = *x;
        break;
      }
      why = sys.render(x.error());
      if (registered_once ? false
                          : std::chrono::steady_clock::now() > deadline) {
        std::fprintf(stderr, "%s: error: cannot reach the coordinator at "
                             "%s: %s\n",
                     prog, o.coordinator.c_str(), why.c_str());
        return shutdown(1);
      }
      if (auto sig = daemons::wait_for_signal(200); sig != 0)
        return shutdown(128 + sig);
    }
    caf::scoped_actor self{sys};
    std::string error;
    self->request(coord, std::chrono::seconds{10}, register_atom_v, node,
                  static_cast<int32_t>(o.slots), o.name, address)
        .receive([](bool) {},
                 [&](caf::error& err) { error = error_text(sys, err); });
    if (!error.empty()) {
      std::fprintf(stderr, "%s: error: the coordinator at %s refused '%s': "
                           "%s\n",
                   prog, o.coordinator.c_str(), o.name.c_str(),
                   error.c_str());
      if (!registered_once)
        return shutdown(1);
      if (auto sig = daemons::wait_for_signal(1000); sig != 0)
        return shutdown(128 + sig);
      continue;
    }
    std::printf("%s: '%s' registered with %s: %d slot(s), listening on "
                "%s:%u\n",
                prog, o.name.c_str(), o.coordinator.c_str(), o.slots,
                o.bind.c_str(), static_cast<unsigned>(*port));
    std::fflush(stdout);
    registered_once = true;
    auto hb = sys.spawn(heartbeat_actor, coord, node,
                        std::chrono::milliseconds{o.heartbeat_interval_ms},
                        o.name);
    self->monitor(hb);
    // Until a signal, or the coordinator is lost (then: connect again).
    for (;;) {
      bool lost = false;
      self->receive([&](caf::down_msg&) { lost = true; },
                    caf::after(std::chrono::milliseconds{0}) >> [] {});
      if (lost)
        break;
      if (auto sig = daemons::wait_for_signal(200); sig != 0) {
        caf::anon_send_exit(hb, caf::exit_reason::user_shutdown);
        std::printf("%s: '%s' leaves the cluster (%s)\n", prog,
                    o.name.c_str(), sig == SIGINT ? "SIGINT" : "SIGTERM");
        return shutdown(0);
      }
    }
  }
}
