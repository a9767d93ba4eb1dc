#include "daemon.hpp"

#include <csignal>
#include <ctime>
#include <fstream>
#include <stdexcept>

namespace po = boost::program_options;

namespace daemons {

po::variables_map parse_options(int argc, char** argv,
                                const po::options_description& desc) {
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv)
                  .options(desc)
                  .positional(po::positional_options_description{})
                  .run(),
              vm);
    if (vm.count("config")) {
      auto path = vm["config"].as<std::string>();
      std::ifstream in{path};
      if (!in)
        throw std::invalid_argument("cannot open config file '" + path + "'");
      po::store(po::parse_config_file(in, desc), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw std::invalid_argument(e.what());
  }
  return vm;
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
