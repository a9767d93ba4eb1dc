#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "libstream/app.hpp"
#include "libstream/executor.hpp"
#include "libstream/signals.hpp"

namespace libstream {

int run_app_main(app_define_fn define, int argc, char** argv) {
  block_termination_signals();
  std::string prog = argc > 0 ? argv[0] : "app";
  if (auto slash = prog.rfind('/'); slash != std::string::npos)
    prog = prog.substr(slash + 1);
  app_args args(argv + (argc > 0 ? 1 : 0), argv + argc);
  // Bad arguments and misconfigured jobs (std::invalid_argument, from the
  // entry point or from planning in execute_async) exit 2; other errors 1.
  try {
    stream_execution_environment env;
    define(env, args);
    auto client = env.execute_async(prog);
    auto outcome = wait_interruptible(*client, on_signal::cancel);
    auto& r = outcome.result;
    if (r.status == job_status::failed) {
      std::fprintf(stderr, "%s: error: job failed: %s\n", prog.c_str(),
                   r.error.c_str());
      return 1;
    }
    if (r.status == job_status::canceled) {
      std::fprintf(stderr, "%s: the job was cancelled\n", prog.c_str());
      return outcome.signal != 0 ? 128 + outcome.signal : 1;
    }
    return 0;
  } catch (const app_usage_error& e) {
    if (e.help()) {
      std::printf("%s\n", e.what());
      return 0;
    }
    std::fprintf(stderr, "%s: error: %s\n", prog.c_str(), e.what());
    return 2;
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "%s: error: %s\n", prog.c_str(), e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", prog.c_str(), e.what());
    return 1;
  }
}

} // namespace libstream
