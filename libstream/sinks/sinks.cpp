#include "libstream/sinks/sinks.hpp"

#include <cerrno>
#include <cstring>

#include <sys/stat.h>

namespace libstream {

std::mutex& output_mutex() {
  static std::mutex mtx;
  return mtx;
}

void make_directory_or_throw(const std::string& path) {
  if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
    throw std::runtime_error("cannot create output directory '" + path
                             + "': " + std::strerror(errno));
}

} // namespace libstream
