#include "libstream/sinks/part_file_sink.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <set>
#include <tuple>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libstream/file_io.hpp"
#include "libstream/sinks/sinks.hpp"

namespace libstream {

namespace {

constexpr size_t buffer_limit = 256 * 1024;

std::string reason() {
  return std::strerror(errno);
}

std::string part_name(int subtask, uint64_t seq, const char* state) {
  auto base = "part-" + std::to_string(subtask) + "-" + std::to_string(seq);
  if (state == nullptr)
    return base;
  return "." + base + "." + state;
}

} // namespace

part_file_writer::part_file_writer(std::string dir, std::string header)
    : dir_(std::move(dir)), header_(std::move(header)) {
  if (dir_.empty())
    throw std::invalid_argument("a part file sink needs a directory");
}

part_file_writer::~part_file_writer() {
  abort();
}

std::string part_file_writer::name(uint64_t seq, const char* state) const {
  return dir_ + "/" + part_name(subtask_, seq, state);
}

void part_file_writer::open(int subtask, int parallelism) {
  subtask_ = subtask;
  parallelism_ = parallelism;
  make_directory_or_throw(dir_);
  char buf[PATH_MAX];
  abs_dir_ = ::realpath(dir_.c_str(), buf) != nullptr ? buf : dir_;
}

void part_file_writer::write_line(const std::string& line) {
  if (fd_ < 0) {
    if (!cleaned_) {
      remove_leftovers(subtask_, {});
      cleaned_ = true;
    }
    seq_ = next_seq_++;
    auto path = name(seq_, "inprogress");
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                 0666);
    if (fd_ < 0)
      throw std::runtime_error("cannot create part file '" + path
                               + "': " + reason());
    if (!header_.empty()) {
      buffer_ += header_;
      buffer_ += '\n';
    }
  }
  buffer_ += line;
  buffer_ += '\n';
  if (buffer_.size() >= buffer_limit)
    write_buffer();
}

void part_file_writer::write_buffer() {
  if (!write_all(fd_, buffer_))
    throw std::runtime_error("error writing part file '"
                             + name(seq_, "inprogress") + "': " + reason());
  buffer_.clear();
}

void part_file_writer::close_part() {
  write_buffer();
  auto path = name(seq_, "inprogress");
  if (::fsync(fd_) != 0 && errno != EINVAL)
    throw std::runtime_error("error syncing part file '" + path
                             + "': " + reason());
  auto rc = ::close(fd_);
  fd_ = -1;
  if (rc != 0)
    throw std::runtime_error("error closing part file '" + path
                             + "': " + reason());
  auto pending = name(seq_, "pending");
  if (::rename(path.c_str(), pending.c_str()) != 0)
    throw std::runtime_error("cannot move part file '" + path + "' to '"
                             + pending + "': " + reason());
}

std::string part_file_writer::snapshot(uint64_t id) {
  last_snapshot_ = std::max(last_snapshot_, id);
  if (!cleaned_) {
    remove_leftovers(subtask_, {});
    cleaned_ = true;
  }
  if (fd_ >= 0) {
    close_part();
    pending_.push_back({seq_, id});
  }
  std::vector<std::pair<uint64_t, uint64_t>> parts;
  for (auto& p : pending_)
    parts.emplace_back(p.seq, p.checkpoint);
  // The directory too: a restore with another --output commits these
  // where they were written.
  return encode_value(std::make_tuple(next_seq_, parts, abs_dir_));
}

void part_file_writer::publish(const std::string& dir, int subtask,
                               uint64_t seq) {
  auto from = dir + "/" + part_name(subtask, seq, "pending");
  auto to = dir + "/" + part_name(subtask, seq, nullptr);
  if (::rename(from.c_str(), to.c_str()) == 0)
    return;
  auto err = errno;
  struct stat st {};
  if (err == ENOENT && ::stat(to.c_str(), &st) == 0)
    return; // committed before (a restore commits again)
  throw std::runtime_error("cannot commit part file '" + from
                           + "': " + std::strerror(err)
                           + (err == ENOENT ? " (the pending part is lost)"
                                            : ""));
}

void part_file_writer::checkpoint_complete(uint64_t id) {
  bool any = false;
  for (auto i = pending_.begin(); i != pending_.end();) {
    if (i->checkpoint != 0 && i->checkpoint <= id) {
      publish(dir_, subtask_, i->seq);
      i = pending_.erase(i);
      any = true;
    } else {
      ++i;
    }
  }
  if (any)
    sync_directory(dir_);
}

void part_file_writer::restore(const operator_restore& from) {
  // Old subtask j's parts are this subtask's business when j maps here.
  std::set<std::pair<int, uint64_t>> committed;
  uint64_t next = 0;
  for (int j = 0; j < from.old_parallelism(); ++j) {
    auto bytes = from.operator_state(j);
    if (bytes.empty())
      continue;
    auto [old_next, parts, old_dir]
        = decode_value<std::tuple<uint64_t,
                                  std::vector<std::pair<uint64_t, uint64_t>>,
                                  std::string>>(bytes);
    // Part numbers go on after every old subtask's (not only those that
    // map here): names carry the subtask index, which the parallelism
    // reassigns.
    next = std::max(next, old_next);
    if (j % parallelism_ != subtask_)
      continue;
    // Pre-committed at (or before) the restored checkpoint: commit, in
    // the directory they were written to.
    bool here = old_dir == abs_dir_;
    for (auto& [seq, checkpoint] : parts) {
      publish(old_dir, j, seq);
      if (here)
        committed.emplace(j, seq);
    }
    if (!here && !parts.empty())
      sync_directory(old_dir);
  }
  next_seq_ = std::max(next_seq_, next);
  for (int j = 0; j < std::max(from.old_parallelism(), parallelism_); ++j)
    if (j % parallelism_ == subtask_)
      remove_leftovers(j, committed);
  cleaned_ = true;
  sync_directory(dir_);
}

void part_file_writer::remove_leftovers(
    int subtask, const std::set<std::pair<int, uint64_t>>& keep) {
  auto prefix = ".part-" + std::to_string(subtask) + "-";
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr)
    return;
  std::vector<std::string> doomed;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.compare(0, prefix.size(), prefix) != 0)
      continue;
    auto dot = n.rfind('.');
    if (dot == 0)
      continue;
    auto state = n.substr(dot + 1);
    if (state != "inprogress" && state != "pending")
      continue;
    auto seq_text = n.substr(prefix.size(), dot - prefix.size());
    char* end = nullptr;
    auto seq = std::strtoull(seq_text.c_str(), &end, 10);
    if (seq_text.empty() || *end != '\0')
      continue;
    if (keep.count({subtask, seq}) == 0)
      doomed.push_back(dir_ + "/" + n);
  }
  ::closedir(d);
  for (auto& path : doomed)
    ::unlink(path.c_str());
}

void part_file_writer::finish() {
  if (!cleaned_) {
    remove_leftovers(subtask_, {});
    cleaned_ = true;
  }
  if (fd_ >= 0) {
    close_part();
    // Every checkpoint after the last one this subtask took at a barrier
    // holds its final state, which records this part: any of them that
    // completes may publish it (else the end of the job does).
    pending_.push_back({seq_, last_snapshot_ + 1});
  }
}

void part_file_writer::commit_all() {
  for (auto& p : pending_)
    publish(dir_, subtask_, p.seq);
  pending_.clear();
  sync_directory(dir_);
}

void part_file_writer::abort() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    ::unlink(name(seq_, "inprogress").c_str());
  }
  buffer_.clear();
}

} // namespace libstream
