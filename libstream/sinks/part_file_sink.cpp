#include "libstream/sinks/part_file_sink.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <string_view>
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

part_file_writer::part_file_writer(std::string dir, std::string header,
                                   bool buckets, size_t max_open_parts)
    : dir_(std::move(dir)), header_(std::move(header)), buckets_(buckets),
      max_open_parts_(std::max<size_t>(max_open_parts, 1)) {
  if (dir_.empty())
    throw std::invalid_argument("a part file sink needs a directory");
}

part_file_writer::~part_file_writer() {
  abort();
}

std::string part_file_writer::bucket_dir(const std::string& base,
                                         const std::string& bucket) const {
  return bucket.empty() ? base : base + "/" + bucket;
}

std::string part_file_writer::name(const std::string& bucket, uint64_t seq,
                                   const char* state) const {
  return bucket_dir(dir_, bucket) + "/" + part_name(subtask_, seq, state);
}

void part_file_writer::open(int subtask, int parallelism) {
  subtask_ = subtask;
  parallelism_ = parallelism;
  make_directory_or_throw(dir_);
  char buf[PATH_MAX];
  abs_dir_ = ::realpath(dir_.c_str(), buf) != nullptr ? buf : dir_;
}

void part_file_writer::ensure_clean() {
  if (cleaned_)
    return;
  remove_leftovers([this](int j) { return j == subtask_; }, {});
  cleaned_ = true;
}

namespace {

void check_bucket(const std::string& bucket) {
  auto bad = [&](const char* why) {
    throw std::invalid_argument("bad bucket '" + bucket + "' for a part file "
                                "sink: " + why);
  };
  if (bucket.front() == '/')
    bad("it is absolute");
  size_t begin = 0;
  while (begin <= bucket.size()) {
    auto end = bucket.find('/', begin);
    if (end == std::string::npos)
      end = bucket.size();
    auto part = std::string_view{bucket}.substr(begin, end - begin);
    if (part.empty())
      bad("an empty directory name");
    if (part == "." || part == "..")
      bad("a '.' or '..' directory");
    if (part.front() == '.')
      bad("a hidden directory (a leading dot)");
    begin = end + 1;
  }
}

} // namespace

std::map<std::string, part_file_writer::open_part>::iterator
part_file_writer::part_for(const std::string& bucket) {
  auto i = open_.find(bucket);
  if (i != open_.end())
    return i;
  ensure_clean();
  if (!bucket.empty() && created_.count(bucket) == 0) {
    if (!buckets_)
      throw std::logic_error("a part file writer without buckets was given "
                             "bucket '" + bucket + "'");
    check_bucket(bucket);
    create_directories(bucket_dir(dir_, bucket));
    // The new directories' entries durable too (a committed part in a
    // bucket whose directory entry is lost would be lost with it).
    for (auto slash = bucket.find('/'); slash != std::string::npos;
         slash = bucket.find('/', slash + 1))
      sync_directory(bucket_dir(dir_, bucket.substr(0, slash)));
    sync_directory(dir_);
    created_.insert(bucket);
  }
  if (open_.size() >= max_open_parts_) {
    // The part written least recently is closed now; the next checkpoint
    // records it as pending.
    auto lru = std::min_element(open_.begin(), open_.end(),
                                [](const auto& a, const auto& b) {
                                  return a.second.last_write
                                         < b.second.last_write;
                                });
    close_part(lru->first, last_snapshot_ + 1, false);
  }
  open_part part;
  part.seq = next_seq_++;
  auto path = name(bucket, part.seq, "inprogress");
  part.fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                   0666);
  if (part.fd < 0)
    throw std::runtime_error("cannot create part file '" + path
                             + "': " + reason());
  if (!header_.empty()) {
    part.buffer += header_;
    part.buffer += '\n';
  }
  return open_.emplace(bucket, std::move(part)).first;
}

void part_file_writer::write_line(const std::string& bucket,
                                  const std::string& line) {
  if (last_ == open_.end() || last_->first != bucket)
    last_ = part_for(bucket);
  auto& part = last_->second;
  part.last_write = ++writes_;
  part.buffer += line;
  part.buffer += '\n';
  if (part.buffer.size() >= buffer_limit)
    write_buffer(bucket, part);
}

void part_file_writer::write_buffer(const std::string& bucket,
                                    open_part& part) {
  if (!write_all(part.fd, part.buffer))
    throw std::runtime_error("error writing part file '"
                             + name(bucket, part.seq, "inprogress")
                             + "': " + reason());
  part.buffer.clear();
}

void part_file_writer::close_part(std::string bucket, uint64_t checkpoint,
                                  bool sync) {
  auto i = open_.find(bucket);
  auto& part = i->second;
  write_buffer(bucket, part);
  auto path = name(bucket, part.seq, "inprogress");
  if (sync && ::fsync(part.fd) != 0 && errno != EINVAL)
    throw std::runtime_error("error syncing part file '" + path
                             + "': " + reason());
  auto rc = ::close(part.fd);
  part.fd = -1;
  auto seq = part.seq;
  if (last_ == i)
    last_ = open_.end();
  open_.erase(i);
  if (rc != 0)
    throw std::runtime_error("error closing part file '" + path
                             + "': " + reason());
  auto pending = name(bucket, seq, "pending");
  if (::rename(path.c_str(), pending.c_str()) != 0)
    throw std::runtime_error("cannot move part file '" + path + "' to '"
                             + pending + "': " + reason());
  if (!sync)
    unsynced_.push_back(pending);
  pending_.push_back({seq, checkpoint, bucket});
}

void part_file_writer::sync_closed() {
  for (auto& path : unsynced_)
    sync_file(path);
  unsynced_.clear();
}

void part_file_writer::close_all(uint64_t checkpoint) {
  while (!open_.empty())
    close_part(open_.begin()->first, checkpoint);
}

namespace {

// The snapshot: the next part number, the pending parts of the directory
// itself (part number, checkpoint), the directory, and the pending parts
// in buckets (part number, checkpoint, bucket). Snapshots written before
// buckets have the first three fields only.
using unbucketed_parts = std::vector<std::pair<uint64_t, uint64_t>>;
using bucketed_parts = std::vector<std::tuple<uint64_t, uint64_t, std::string>>;
using snapshot_v1 = std::tuple<uint64_t, unbucketed_parts, std::string>;
using snapshot_v2
    = std::tuple<uint64_t, unbucketed_parts, std::string, bucketed_parts>;

snapshot_v2 decode_snapshot(const std::string& bytes) {
  try {
    auto [next, parts, dir] = decode_value<snapshot_v1>(bytes);
    return {next, std::move(parts), std::move(dir), {}};
  } catch (const std::exception&) {
    return decode_value<snapshot_v2>(bytes);
  }
}

} // namespace

std::string part_file_writer::snapshot(uint64_t id) {
  last_snapshot_ = std::max(last_snapshot_, id);
  ensure_clean();
  close_all(id);
  sync_closed();
  unbucketed_parts plain;
  bucketed_parts in_buckets;
  for (auto& p : pending_) {
    if (p.bucket.empty())
      plain.emplace_back(p.seq, p.checkpoint);
    else
      in_buckets.emplace_back(p.seq, p.checkpoint, p.bucket);
  }
  // The directory too: a restore with another --output commits these
  // where they were written.
  return encode_value(snapshot_v2{next_seq_, plain, abs_dir_, in_buckets});
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
  std::set<std::string> touched;
  for (auto i = pending_.begin(); i != pending_.end();) {
    if (i->checkpoint != 0 && i->checkpoint <= id) {
      auto dir = bucket_dir(dir_, i->bucket);
      publish(dir, subtask_, i->seq);
      touched.insert(std::move(dir));
      i = pending_.erase(i);
    } else {
      ++i;
    }
  }
  for (auto& dir : touched)
    sync_directory(dir);
}

void part_file_writer::restore(const operator_restore& from) {
  // Old subtask j's parts are this subtask's business when j maps here.
  std::set<std::pair<int, uint64_t>> committed;
  std::set<std::string> touched;
  uint64_t next = 0;
  for (int j = 0; j < from.old_parallelism(); ++j) {
    auto bytes = from.operator_state(j);
    if (bytes.empty())
      continue;
    auto [old_next, parts, old_dir, in_buckets] = decode_snapshot(bytes);
    // Part numbers go on after every old subtask's (not only those that
    // map here): names carry the subtask index, which the parallelism
    // reassigns.
    next = std::max(next, old_next);
    if (j % parallelism_ != subtask_)
      continue;
    // Pre-committed at (or before) the restored checkpoint: commit, in
    // the directory they were written to.
    bool here = old_dir == abs_dir_;
    for (auto& [seq, checkpoint] : parts)
      in_buckets.emplace_back(seq, checkpoint, std::string{});
    for (auto& [seq, checkpoint, bucket] : in_buckets) {
      auto dir = bucket_dir(old_dir, bucket);
      publish(dir, j, seq);
      touched.insert(std::move(dir));
      if (here)
        committed.emplace(j, seq);
    }
  }
  next_seq_ = std::max(next_seq_, next);
  // Hidden parts of every old or new subtask that maps here, and are not
  // the restored checkpoint's, are a failed run's: removed.
  remove_leftovers([this](int j) { return j % parallelism_ == subtask_; },
                   committed);
  cleaned_ = true;
  touched.insert(dir_);
  for (auto& dir : touched)
    sync_directory(dir);
}

namespace {

/// The subtask and part number of a hidden part,
/// `.part-<subtask>-<seq>.inprogress` or `.pending`; nothing for other
/// names.
std::optional<std::pair<int, uint64_t>> hidden_part(const std::string& n) {
  static const std::string prefix = ".part-";
  if (n.compare(0, prefix.size(), prefix) != 0)
    return std::nullopt;
  auto dot = n.rfind('.');
  auto state = n.substr(dot + 1);
  if (dot == 0 || (state != "inprogress" && state != "pending"))
    return std::nullopt;
  auto middle = n.substr(prefix.size(), dot - prefix.size());
  auto dash = middle.find('-');
  if (dash == std::string::npos)
    return std::nullopt;
  char* end = nullptr;
  auto subtask_text = middle.substr(0, dash);
  auto subtask = std::strtol(subtask_text.c_str(), &end, 10);
  if (subtask_text.empty() || *end != '\0' || subtask < 0 || subtask > INT_MAX)
    return std::nullopt;
  auto seq_text = middle.substr(dash + 1);
  auto seq = std::strtoull(seq_text.c_str(), &end, 10);
  if (seq_text.empty() || *end != '\0')
    return std::nullopt;
  return std::make_pair(static_cast<int>(subtask), uint64_t{seq});
}

bool is_directory(const std::string& dir, const dirent& e) {
  if (e.d_type != DT_UNKNOWN)
    return e.d_type == DT_DIR;
  struct stat st {};
  return ::lstat((dir + "/" + e.d_name).c_str(), &st) == 0
         && S_ISDIR(st.st_mode);
}

} // namespace

void part_file_writer::remove_leftovers(
    const std::function<bool(int)>& mine,
    const std::set<std::pair<int, uint64_t>>& keep) {
  // Hidden parts in the directory and, with buckets, in its (visible)
  // subdirectories.
  std::vector<std::string> doomed;
  std::vector<std::string> dirs{dir_};
  while (!dirs.empty()) {
    auto dir = std::move(dirs.back());
    dirs.pop_back();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr)
      continue;
    while (auto* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n.empty() || n[0] == '.') {
        auto part = hidden_part(n);
        if (part && mine(part->first) && keep.count(*part) == 0)
          doomed.push_back(dir + "/" + n);
      } else if (buckets_ && is_directory(dir, *e)) {
        dirs.push_back(dir + "/" + n);
      }
    }
    ::closedir(d);
  }
  for (auto& path : doomed)
    ::unlink(path.c_str());
}

void part_file_writer::finish() {
  ensure_clean();
  // Every checkpoint after the last one this subtask took at a barrier
  // holds its final state, which records these parts: any of them that
  // completes may publish them (else the end of the job does).
  close_all(last_snapshot_ + 1);
  sync_closed();
}

void part_file_writer::commit_all() {
  sync_closed();
  std::set<std::string> touched{dir_};
  for (auto& p : pending_) {
    auto dir = bucket_dir(dir_, p.bucket);
    publish(dir, subtask_, p.seq);
    touched.insert(std::move(dir));
  }
  pending_.clear();
  for (auto& dir : touched)
    sync_directory(dir);
}

void part_file_writer::abort() noexcept {
  for (auto& [bucket, part] : open_) {
    if (part.fd >= 0) {
      ::close(part.fd);
      ::unlink(name(bucket, part.seq, "inprogress").c_str());
    }
  }
  open_.clear();
  last_ = open_.end();
}

} // namespace libstream
