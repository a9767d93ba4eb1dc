#pragma once

// What the benchmark programs share: daemons they start and kill, and
// medians.

#include <algorithm>
#include <chrono>
#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bench {

inline std::string slurp(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// A daemon started for the benchmark, killed when it goes.
struct daemon_process {
  pid_t pid = -1;
  std::string out;

  daemon_process(const std::string& exe, const std::vector<std::string>& args,
                 const std::string& out_file)
      : out(out_file) {
    std::vector<std::string> argv_s{exe};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid = ::fork();
    if (pid == 0) {
      int fd = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int null = ::open("/dev/null", O_RDWR);
      ::dup2(null, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
  }

  ~daemon_process() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }

  /// Waits until the output contains `what`; false after 10 s.
  bool wait_for(const std::string& what) const {
    for (int i = 0; i < 1000; ++i) {
      if (slurp(out).find(what) != std::string::npos)
        return true;
      std::this_thread::sleep_for(std::chrono::milliseconds{10});
    }
    return false;
  }
};

inline double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs.empty() ? 0 : xs[xs.size() / 2];
}


} // namespace bench
