#include "libstream/sinks/sinks.hpp"

#include <cerrno>
#include <cstring>
#include <iostream>

#include <sys/stat.h>
#include <unistd.h>

#include "libstream/file_io.hpp"

namespace libstream {

namespace {

std::mutex& stdout_mutex() {
  static std::mutex mtx;
  return mtx;
}

} // namespace

void write_stdout(std::string_view whole_lines) {
  std::lock_guard<std::mutex> guard{stdout_mutex()};
  std::cout.flush();
  if (!write_all(STDOUT_FILENO, whole_lines))
    throw std::runtime_error(std::string{"error writing to stdout: "}
                             + std::strerror(errno));
}

void make_directory_or_throw(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) == 0)
    return;
  auto err = errno;
  struct stat st {};
  if (err == EEXIST && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    return;
  throw std::runtime_error("cannot create output directory '" + path + "': "
                           + (err == EEXIST ? std::string{"a file of that "
                                                          "name exists"}
                                            : std::strerror(err)));
}

std::string part_file_path(const std::string& dir, int index) {
  return dir + "/part-" + std::to_string(index);
}

void remove_part_files_from(const std::string& dir, int first) {
  for (int i = first;; ++i) {
    auto file = part_file_path(dir, i);
    if (::unlink(file.c_str()) != 0)
      break;
  }
}

} // namespace libstream
