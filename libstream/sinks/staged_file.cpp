#include "libstream/sinks/staged_file.hpp"

#include "libstream/file_io.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <utility>

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

namespace libstream {

namespace {

constexpr size_t buffer_limit = 256 * 1024;

std::string reason() {
  return std::strerror(errno);
}

std::string marker(const std::string& name) {
  return "." + name + ".inprogress.";
}

/// This machine's name as it appears in temporary names (letters, digits
/// and '-' only), so that a run never judges another machine's process
/// ids (a shared network directory).
const std::string& host_tag() {
  static const std::string tag = [] {
    char buf[256] = {};
    std::string out;
    if (::gethostname(buf, sizeof(buf) - 1) == 0)
      for (char* c = buf; *c != '\0'; ++c)
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')
            || (*c >= '0' && *c <= '9') || *c == '-')
          out += *c;
    return out.empty() ? std::string{"host"} : out;
  }();
  return tag;
}

} // namespace

std::pair<std::string, std::string> split_path(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos)
    return {".", path};
  if (slash == 0)
    return {"/", path.substr(1)};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

size_t remove_stale_temporaries(const std::string& target) {
  auto [dir, name] = split_path(target);
  auto prefix = marker(name);
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    return 0;
  size_t removed = 0;
  while (auto* e = ::readdir(d)) {
    std::string entry = e->d_name;
    if (entry.compare(0, prefix.size(), prefix) != 0)
      continue;
    auto rest = entry.substr(prefix.size());
    auto host = host_tag() + ".";
    if (rest.compare(0, host.size(), host) != 0)
      continue; // another machine's (or an unknown) temporary
    rest = rest.substr(host.size());
    char* end = nullptr;
    auto pid = std::strtol(rest.c_str(), &end, 10);
    if (end == rest.c_str() || *end != '.' || pid <= 0)
      continue;
    if (pid == ::getpid())
      continue; // ours: another staged file of this process may be open
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH)
      continue; // that process still runs (or is not ours to judge)
    if (::unlink((dir + "/" + entry).c_str()) == 0)
      ++removed;
  }
  ::closedir(d);
  return removed;
}

staged_file::staged_file(std::string target) : target_(std::move(target)) {
  if (target_.empty())
    throw std::invalid_argument("an output file needs a non-empty path");
}

staged_file::~staged_file() {
  discard();
}

void staged_file::open() {
  if (fd_ >= 0 || !temp_.empty())
    throw std::logic_error("staged_file::open called twice for '" + target_
                           + "'");
  // What is at the target decides where the temporary goes: next to the
  // file a symlink points to (the link stays), nowhere for a device, pipe
  // or socket (/dev/null, /dev/stdout: written directly, nothing to
  // publish), and a directory is refused.
  auto real = target_;
  bool existed = false;
  mode_t mode = 0;
  struct stat st {};
  if (::stat(target_.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode))
      throw std::runtime_error("cannot write output file '" + target_
                               + "': it is a directory; name a file");
    if (!S_ISREG(st.st_mode)) {
      direct_ = true;
      fd_ = ::open(target_.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd_ < 0)
        throw std::runtime_error("cannot open output '" + target_
                                 + "': " + reason());
      buffer_.reserve(buffer_limit);
      return;
    }
    existed = true;
    mode = st.st_mode & 07777; // the replacement keeps the file's mode
    if (char* resolved = ::realpath(target_.c_str(), nullptr)) {
      real = resolved;
      std::free(resolved);
    }
  }
  real_ = real;
  remove_stale_temporaries(real_);
  static std::atomic<uint64_t> counter{0};
  auto [dir, name] = split_path(real_);
  temp_ = dir + "/" + marker(name) + host_tag() + "."
          + std::to_string(::getpid()) + "." + std::to_string(counter++);
  // Created as the file would be in place (0666 less the umask).
  fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    auto why = reason();
    temp_.clear();
    throw std::runtime_error("cannot create output file '" + target_
                             + "' (in directory '" + dir + "'): " + why);
  }
  if (existed)
    ::fchmod(fd_, mode);
  buffer_.reserve(buffer_limit);
}

void staged_file::write(std::string_view data) {
  if (fd_ < 0)
    throw std::logic_error("staged_file '" + target_ + "' is not open");
  buffer_.append(data.data(), data.size());
  if (buffer_.size() >= buffer_limit)
    flush_buffer();
}

void staged_file::flush_buffer() {
  if (!write_all(fd_, buffer_))
    throw std::runtime_error("error writing output file '" + target_
                             + "': " + reason());
  buffer_.clear();
}

void staged_file::finish() {
  if (fd_ < 0)
    throw std::logic_error("staged_file '" + target_ + "' is not open");
  flush_buffer();
  // EINVAL: the file system (or the device) cannot sync; nothing to wait
  // for then.
  if (!direct_ && ::fsync(fd_) != 0 && errno != EINVAL)
    throw std::runtime_error("error syncing output file '" + target_
                             + "': " + reason());
  auto rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0)
    throw std::runtime_error("error closing output file '" + target_
                             + "': " + reason());
  finished_ = true;
}

void staged_file::publish() {
  if (!finished_)
    throw std::logic_error("staged_file '" + target_
                           + "' published before finish()");
  if (published_)
    return;
  published_ = true;
  if (direct_)
    return; // written in place already
  if (::rename(temp_.c_str(), real_.c_str()) != 0) {
    published_ = false;
    throw std::runtime_error("cannot move the finished output into place at '"
                             + target_ + "': " + reason());
  }
  sync_directory(split_path(real_).first);
}

void staged_file::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!published_ && !temp_.empty())
    ::unlink(temp_.c_str());
  temp_.clear();
  buffer_.clear();
  finished_ = false;
}

} // namespace libstream
