#include "common/fault_tolerance.hpp"

#include <chrono>
#include <stdexcept>

#include <boost/program_options.hpp>

namespace po = boost::program_options;

namespace apps {

void fault_tolerance::add_options(po::options_description& desc) {
  desc.add_options()(
      "checkpoint-dir", po::value<std::string>(),
      "take checkpoints into this directory (<dir>/<job id>/chk-<n>); file "
      "outputs then name directories of exactly-once part files")(
      "checkpoint-interval-ms",
      po::value(&checkpoint_interval_ms)->default_value(checkpoint_interval_ms),
      "milliseconds between checkpoints (with --checkpoint-dir)")(
      "checkpointing-mode",
      po::value(&checkpointing_mode)->default_value(checkpointing_mode),
      "exactly-once or at-least-once")(
      "state-backend", po::value(&state_backend)->default_value(state_backend),
      "where keyed state lives: memory, or leveldb (on local disk, for "
      "state larger than memory)")(
      "state-dir", po::value(&state_dir),
      "local directory of the LevelDB state (default: $TMPDIR or /tmp)")(
      "from-savepoint", po::value<std::string>(),
      "start from this savepoint, chk-<n> directory, or checkpoint root "
      "(its most recently completed checkpoint)")(
      "savepoint-dir", po::value<std::string>(),
      "where --stop-with-savepoint-after-ms writes its savepoint")(
      "stop-with-savepoint-after-ms",
      po::value(&stop_with_savepoint_after_ms)
          ->default_value(stop_with_savepoint_after_ms),
      "after this many ms, take a savepoint and stop (resume with "
      "--from-savepoint); 0: never")(
      "rate", po::value(&rate)->default_value(rate),
      "cap the input at this many records per second (0: no cap)");
}

void fault_tolerance::read(const po::variables_map& vm) {
  if (vm.count("checkpoint-dir"))
    checkpoint_dir = vm["checkpoint-dir"].as<std::string>();
  if (vm.count("savepoint-dir"))
    savepoint_dir = vm["savepoint-dir"].as<std::string>();
  if (vm.count("from-savepoint"))
    from_savepoint = vm["from-savepoint"].as<std::string>();
}

void fault_tolerance::validate() const {
  if (checkpoint_interval_ms <= 0)
    throw std::invalid_argument("--checkpoint-interval-ms must be positive, "
                                "got "
                                + std::to_string(checkpoint_interval_ms));
  if (checkpointing_mode != "exactly-once"
      && checkpointing_mode != "at-least-once")
    throw std::invalid_argument("--checkpointing-mode is exactly-once or "
                                "at-least-once, not '"
                                + checkpointing_mode + "'");
  if (!libstream::parse_state_backend(state_backend))
    throw std::invalid_argument("--state-backend is memory or leveldb, not '"
                                + state_backend + "'");
  if (checkpoint_dir && checkpoint_dir->empty())
    throw std::invalid_argument("--checkpoint-dir needs a directory");
  if (from_savepoint && from_savepoint->empty())
    throw std::invalid_argument("--from-savepoint needs a path");
  if (rate < 0)
    throw std::invalid_argument("--rate must not be negative");
  if (stop_with_savepoint_after_ms < 0)
    throw std::invalid_argument("--stop-with-savepoint-after-ms must not be "
                                "negative");
  if (stop_with_savepoint_after_ms > 0 && !savepoint_dir)
    throw std::invalid_argument("--stop-with-savepoint-after-ms needs "
                                "--savepoint-dir");
}

void fault_tolerance::apply(libstream::execution_config& cfg) const {
  if (checkpoint_dir) {
    auto& cp = cfg.checkpointing;
    cp.dir = *checkpoint_dir;
    cp.interval = checkpoint_interval_ms;
    cp.mode = checkpointing_mode == "exactly-once"
                  ? libstream::checkpointing_mode::exactly_once
                  : libstream::checkpointing_mode::at_least_once;
  }
  if (from_savepoint)
    cfg.checkpointing.restore_from = *from_savepoint;
  cfg.state_backend.kind = *libstream::parse_state_backend(state_backend);
  cfg.state_backend.dir = state_dir;
}

savepoint_stopper::savepoint_stopper(
    std::shared_ptr<libstream::job_client> client, const fault_tolerance& ft) {
  if (ft.stop_with_savepoint_after_ms <= 0)
    return;
  auto after = std::chrono::milliseconds{ft.stop_with_savepoint_after_ms};
  auto dir = *ft.savepoint_dir;
  thread_ = std::thread{[this, client, after, dir] {
    auto deadline = std::chrono::steady_clock::now() + after;
    while (std::chrono::steady_clock::now() < deadline) {
      if (client->status() != libstream::job_status::running)
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    try {
      path_ = client->stop_with_savepoint(dir);
    } catch (const std::exception& e) {
      error_ = e.what();
    }
  }};
}

savepoint_stopper::~savepoint_stopper() {
  join();
}

void savepoint_stopper::join() {
  if (thread_.joinable())
    thread_.join();
}

} // namespace apps
