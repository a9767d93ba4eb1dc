#include "daemon.hpp"

#include <csignal>
#include <sstream>
#include <stdexcept>

#include "caf/actor_system_config.hpp"
#include "caf/error.hpp"
#include <ctime>

namespace daemons {

std::vector<std::string> take_caf_options(std::vector<std::string>& args) {
  std::vector<std::string> caf_options;
  std::vector<std::string> rest;
  for (auto& a : args)
    (a.rfind("--caf#", 0) == 0 ? caf_options : rest).push_back(a);
  args = std::move(rest);
  return caf_options;
}

void apply_caf_options(caf::actor_system_config& cfg,
                       const std::vector<std::string>& options) {
  if (options.empty())
    return;
  std::istringstream no_file;
  if (auto err = cfg.parse(options, no_file))
    throw std::invalid_argument("CAF option: " + caf::to_string(err));
  if (cfg.cli_helptext_printed)
    throw std::invalid_argument("CAF option: unknown or malformed in "
                                + options.front());
}

void block_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_signal(long ms) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (ms < 0) {
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
  }
  timespec ts{ms / 1000, (ms % 1000) * 1000000};
  auto sig = sigtimedwait(&set, nullptr, &ts);
  return sig < 0 ? 0 : sig;
}

} // namespace daemons
