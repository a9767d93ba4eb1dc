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

#include <sys/wait.h>

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

/// True if `s` contains exactly one '\n' and it is the last character.
inline bool is_one_line(const std::string& s) {
  return !s.empty() && s.find('\n') == s.size() - 1;
}

} // namespace libstream::test
