#include "libstream/signals.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>

#include <pthread.h>
#include <unistd.h>

namespace libstream {

namespace {

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

} // namespace

void block_termination_signals() {
  auto set = termination_signals();
  if (auto rc = ::pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0)
    throw std::runtime_error(std::string{"cannot block SIGINT and SIGTERM: "}
                             + std::strerror(rc));
}

interruptible_result wait_interruptible(job_client& client, on_signal action,
                                        std::chrono::milliseconds stop_grace,
                                        std::chrono::milliseconds exit_deadline) {
  using clock = std::chrono::steady_clock;
  auto set = termination_signals();
  interruptible_result out;
  clock::time_point signalled_at{};
  bool cancelled = false;
  // Takes every pending signal, then waits on the job's end (so that its
  // end is seen at once, not at the next tick) for up to 20 ms.
  timespec no_wait{0, 0};
  for (;;) {
    for (;;) {
      auto sig = ::sigtimedwait(&set, nullptr, &no_wait);
      if (sig < 0) {
        if (errno == EAGAIN)
          break;
        if (errno == EINTR)
          continue;
        throw std::runtime_error(std::string{"waiting for signals failed: "}
                                 + std::strerror(errno));
      }
      if (out.signal != 0)
        ::_exit(128 + sig); // the second signal: at once
      out.signal = sig;
      signalled_at = clock::now();
      if (action == on_signal::stop) {
        client.stop();
      } else {
        client.cancel();
        cancelled = true;
      }
    }
    if (client.wait_for(std::chrono::milliseconds{20}))
      break;
    if (out.signal == 0)
      continue;
    auto since = clock::now() - signalled_at;
    if (!cancelled && since > stop_grace) {
      client.cancel();
      cancelled = true;
    }
    if (since > exit_deadline && client.status() == job_status::running) {
      static constexpr char msg[]
          = "libstream: the job did not stop in time after the signal; "
            "exiting without publishing its output\n";
      [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, sizeof(msg) - 1);
      ::_exit(128 + out.signal);
    }
  }
  out.result = client.wait();
  return out;
}

} // namespace libstream
