#pragma once

// Helpers for suites that run a real executable as a child process with
// real files: a fresh temporary directory, a run with a time limit that
// captures stdout and stderr into files, and small file utilities.

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <algorithm>
#include <chrono>
#include <csignal>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.hpp"

namespace libstream::test {

/// A fresh directory under $TMPDIR (or /tmp), removed with its contents
/// when the object goes away.
class temp_dir {
public:
  explicit temp_dir(const std::string& prefix = "libstream") {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string{base != nullptr && *base ? base : "/tmp"}
                       + "/" + prefix + ".XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      throw std::runtime_error("mkdtemp failed for " + tmpl);
    path_ = buf.data();
  }

  ~temp_dir() {
    auto cmd = "rm -rf '" + path_ + "'";
    [[maybe_unused]] auto rc = std::system(cmd.c_str());
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }

  /// `name` inside the directory.
  std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
  std::string path_;
};

/// Quotes `x` for /bin/sh.
inline std::string shell_quote(const std::string& x) {
  std::string out = "'";
  for (char c : x) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return std::string{std::istreambuf_iterator<char>{in},
                     std::istreambuf_iterator<char>{}};
}

inline void write_file(const std::string& path, const std::string& content) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << content;
  if (!out)
    throw std::runtime_error("cannot write " + path);
}

/// The lines of `text` without their '\n' (a last line without '\n' counts).
inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::string line;
  std::istringstream in{text};
  while (std::getline(in, line))
    out.push_back(line);
  return out;
}

/// What a finished child process left behind.
struct run_result {
  int exit_code = -1; // 124 = killed by the time limit (coreutils timeout)
  std::string out;
  std::string err;
};

/// Runs `exe` with `args` under `timeout <seconds>`, stdout and stderr
/// captured into files of `dir`, stdin from /dev/null.
inline run_result run_child(const temp_dir& dir, const std::string& exe,
                            const std::vector<std::string>& args,
                            int seconds = 60) {
  static int counter = 0;
  auto id = std::to_string(++counter);
  auto out_file = dir.file("child-" + id + ".out");
  auto err_file = dir.file("child-" + id + ".err");
  std::string cmd
      = "timeout " + std::to_string(seconds) + " " + shell_quote(exe);
  for (auto& a : args)
    cmd += " " + shell_quote(a);
  cmd += " </dev/null >" + shell_quote(out_file) + " 2>"
         + shell_quote(err_file);
  auto status = std::system(cmd.c_str());
  run_result r;
  if (status != -1 && WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  r.out = read_file(out_file);
  r.err = read_file(err_file);
  return r;
}

/// A child process started in the background (fork + exec), its stdout
/// and stderr in files of the test's directory (or stdout to `stdout_to`).
/// The destructor kills it (SIGKILL) if it still runs, so a failing test
/// leaves no process behind.
class background_child {
public:
  background_child(const temp_dir& dir, const std::string& exe,
                   const std::vector<std::string>& args,
                   const std::string& stdout_to = "") {
    static int counter = 0;
    auto id = std::to_string(++counter);
    out_file_ = stdout_to.empty() ? dir.file("bg-" + id + ".out") : stdout_to;
    err_file_ = dir.file("bg-" + id + ".err");
    std::vector<std::string> argv_s{exe};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0)
      throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      int in = ::open("/dev/null", O_RDONLY);
      int out = ::open(out_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int err = ::open(err_file_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (in < 0 || out < 0 || err < 0)
        ::_exit(127);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
  }

  ~background_child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }

  background_child(const background_child&) = delete;
  background_child& operator=(const background_child&) = delete;

  pid_t pid() const { return pid_; }

  static constexpr int killed_by(int sig) { return 256 + sig; }

  /// Waits up to `ms` milliseconds until `ready()` holds (polling every
  /// 10 ms); false when it never did.
  template <class Pred>
  static bool wait_until(Pred ready, int ms = 10000) {
    for (int waited = 0; waited < ms; waited += 10) {
      if (ready())
        return true;
      ::usleep(10 * 1000);
    }
    return ready();
  }

  void signal(int sig) { ::kill(pid_, sig); }

  /// Waits up to `ms` milliseconds. Returns the exit code (0..255),
  /// killed_by(signal) when a signal ended it (so a process that died of
  /// an unhandled SIGINT is not mistaken for one that exited 130), or -1
  /// when it still runs.
  int wait_for(int ms) {
    for (int waited = 0;; waited += 10) {
      int status = 0;
      auto rc = ::waitpid(pid_, &status, WNOHANG);
      if (rc == pid_) {
        reaped_ = true;
        if (WIFEXITED(status))
          return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
          return killed_by(WTERMSIG(status));
        return -2;
      }
      if (waited >= ms)
        return -1;
      ::usleep(10 * 1000);
    }
  }

  std::string out() const { return read_file(out_file_); }
  std::string err() const { return read_file(err_file_); }

private:
  std::string out_file_;
  std::string err_file_;
  pid_t pid_ = -1;
  bool reaped_ = false;
};

inline bool file_exists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

/// The last component of `path`.
inline std::string split_path_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

/// The number of names in `dir` that start with `prefix`.
inline size_t count_prefixed(const std::string& dir, const std::string& prefix);

/// The names in `dir` (without . and ..), sorted.
inline std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..")
        names.push_back(n);
    }
    ::closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline size_t count_prefixed(const std::string& dir, const std::string& prefix) {
  size_t n = 0;
  for (auto& name : list_dir(dir))
    n += name.compare(0, prefix.size(), prefix) == 0 ? 1 : 0;
  return n;
}

/// The lines after the header of every visible part file of `dir` (names
/// not starting with '.'), file by file. Throws when a file does not start
/// with `header`.
inline std::vector<std::string> visible_part_lines(const std::string& dir,
                                                   const std::string& header) {
  std::vector<std::string> lines;
  for (auto& name : list_dir(dir)) {
    if (name[0] == '.')
      continue;
    auto content = split_lines(read_file(dir + "/" + name));
    if (content.empty() || content.front() != header)
      throw std::runtime_error("part file " + dir + "/" + name
                               + " does not start with the header '" + header
                               + "'");
    lines.insert(lines.end(), content.begin() + 1, content.end());
  }
  return lines;
}

/// A TCP port on 127.0.0.1 nobody listened on a moment ago: bound, then
/// closed again.
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

/// True once a completed checkpoint (<root>/<job>/chk-<n>/_metadata)
/// exists under `root`.
inline bool has_checkpoint(const std::string& root) {
  for (auto& job : list_dir(root))
    for (auto& chk : list_dir(root + "/" + job))
      if (file_exists(root + "/" + job + "/" + chk + "/_metadata"))
        return true;
  return false;
}

/// Milliseconds on a monotonic clock.
inline int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch())
      .count();
}

/// True if `s` contains exactly one '\n' and it is the last character.
inline bool is_one_line(const std::string& s) {
  return !s.empty() && s.find('\n') == s.size() - 1;
}

} // namespace libstream::test
