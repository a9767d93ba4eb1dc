#include "libstream/checkpoint/storage.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include "libstream/codec.hpp"
#include "libstream/file_io.hpp"
#include "libstream/key_hash.hpp"
#include "libstream/schema/checkpoint.capnp.h"

namespace libstream {

namespace {

constexpr char metadata_name[] = "_metadata";
constexpr char magic[8] = {'L', 'S', 'T', 'R', 'M', 'E', 'T', 'A'};
constexpr size_t header_size = 32; // magic, version, reserved, length, sum
constexpr uint32_t format_version = 1;

std::string reason() {
  return std::strerror(errno);
}

std::string join(const std::string& dir, const std::string& name) {
  return dir.empty() || dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool is_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    throw checkpoint_error("cannot list directory '" + dir + "': " + reason());
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..")
      names.push_back(std::move(n));
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

/// Writes `bytes` to `path` (created or truncated) and syncs it.
void write_synced(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
                  0644);
  if (fd < 0)
    throw checkpoint_error("cannot create '" + path + "': " + reason());
  if (!write_all(fd, bytes)) {
    auto why = reason();
    ::close(fd);
    throw checkpoint_error("cannot write '" + path + "': " + why);
  }
  if (::fsync(fd) != 0 && errno != EINVAL) {
    auto why = reason();
    ::close(fd);
    throw checkpoint_error("cannot sync '" + path + "': " + why);
  }
  if (::close(fd) != 0)
    throw checkpoint_error("cannot close '" + path + "': " + reason());
}

std::string read_whole(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    throw checkpoint_error("cannot open '" + path + "': " + reason());
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    auto n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR)
        continue;
      auto why = reason();
      ::close(fd);
      throw checkpoint_error("cannot read '" + path + "': " + why);
    }
    if (n == 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

void put_u32(std::string& out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, uint64_t x) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
}

uint64_t get_u64(const char* p, int bytes) {
  uint64_t x = 0;
  for (int i = 0; i < bytes; ++i)
    x |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return x;
}

std::string encode(const checkpoint_metadata& meta) {
  capnp::MallocMessageBuilder message;
  auto m = message.initRoot<schema::CheckpointMetadata>();
  m.setFormatVersion(meta.format_version);
  m.setJobId(meta.job_id);
  m.setJobName(meta.job_name);
  m.setCheckpointId(meta.checkpoint_id);
  m.setTimestampMs(meta.timestamp_ms);
  m.setIsSavepoint(meta.is_savepoint);
  m.setKeyHash(meta.key_hash);
  m.setCodec(meta.codec);
  auto ops = m.initOperators(static_cast<unsigned>(meta.operators.size()));
  for (unsigned i = 0; i < meta.operators.size(); ++i) {
    auto& src = meta.operators[i];
    auto op = ops[i];
    op.setUid(src.uid);
    op.setName(src.name);
    op.setParallelism(static_cast<uint32_t>(src.parallelism));
    op.setMaxParallelism(static_cast<uint32_t>(src.max_parallelism));
    auto subs = op.initSubtasks(static_cast<unsigned>(src.subtasks.size()));
    for (unsigned k = 0; k < src.subtasks.size(); ++k) {
      auto& s = src.subtasks[k];
      auto sub = subs[k];
      sub.setIndex(static_cast<uint32_t>(s.index));
      sub.setKeyGroupFirst(static_cast<uint32_t>(s.key_groups.first));
      sub.setKeyGroupLast(static_cast<uint32_t>(s.key_groups.last));
      auto file = sub.initKeyedFile();
      file.setName(s.keyed_file.name);
      file.setSize(s.keyed_file.size);
      file.setChecksum(s.keyed_file.checksum);
      auto offs = sub.initKeyGroupOffsets(
          static_cast<unsigned>(s.key_group_offsets.size()));
      for (unsigned j = 0; j < s.key_group_offsets.size(); ++j)
        offs.set(j, s.key_group_offsets[j]);
      sub.setOperatorState(capnp::Data::Reader{
          reinterpret_cast<const kj::byte*>(s.operator_state.data()),
          s.operator_state.size()});
      sub.setSourcePosition(capnp::Data::Reader{
          reinterpret_cast<const kj::byte*>(s.source_position.data()),
          s.source_position.size()});
      sub.setFinished(s.finished);
    }
  }
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string{reinterpret_cast<const char*>(bytes.begin()),
                     bytes.size()};
}

checkpoint_metadata decode(const std::string& path, std::string_view payload) {
  auto bad = [&](const std::string& what) {
    return checkpoint_error("checkpoint metadata '" + path
                            + "' is corrupt: " + what);
  };
  if (payload.empty() || payload.size() % sizeof(capnp::word) != 0)
    throw bad("its message is not a whole number of 8-byte words");
  kj::Array<capnp::word> words
      = kj::heapArray<capnp::word>(payload.size() / sizeof(capnp::word));
  std::memcpy(words.begin(), payload.data(), payload.size());
  try {
    capnp::FlatArrayMessageReader reader{words};
    auto m = reader.getRoot<schema::CheckpointMetadata>();
    checkpoint_metadata meta;
    meta.format_version = m.getFormatVersion();
    meta.job_id = m.getJobId();
    meta.job_name = m.getJobName();
    meta.checkpoint_id = m.getCheckpointId();
    meta.timestamp_ms = m.getTimestampMs();
    meta.is_savepoint = m.getIsSavepoint();
    meta.key_hash = m.getKeyHash();
    meta.codec = m.getCodec();
    for (auto op : m.getOperators()) {
      operator_snapshot o;
      o.uid = op.getUid();
      o.name = op.getName();
      o.parallelism = static_cast<int>(op.getParallelism());
      o.max_parallelism = static_cast<int>(op.getMaxParallelism());
      if (o.max_parallelism < 1 || o.parallelism < 1
          || o.parallelism > o.max_parallelism)
        throw bad("operator '" + o.uid + "' has parallelism "
                  + std::to_string(o.parallelism) + " of max "
                  + std::to_string(o.max_parallelism));
      for (auto sub : op.getSubtasks()) {
        subtask_snapshot s;
        s.index = static_cast<int>(sub.getIndex());
        s.key_groups.first = static_cast<int>(sub.getKeyGroupFirst());
        s.key_groups.last = static_cast<int>(sub.getKeyGroupLast());
        auto file = sub.getKeyedFile();
        s.keyed_file.name = file.getName();
        s.keyed_file.size = file.getSize();
        s.keyed_file.checksum = file.getChecksum();
        for (auto off : sub.getKeyGroupOffsets())
          s.key_group_offsets.push_back(off);
        auto ops = sub.getOperatorState();
        s.operator_state.assign(reinterpret_cast<const char*>(ops.begin()),
                                ops.size());
        s.finished = sub.getFinished();
        auto pos = sub.getSourcePosition();
        s.source_position.assign(reinterpret_cast<const char*>(pos.begin()),
                                 pos.size());
        if (s.index < 0 || s.index >= o.parallelism
            || s.key_groups.first > s.key_groups.last
            || s.key_groups.last > o.max_parallelism)
          throw bad("operator '" + o.uid + "' subtask "
                    + std::to_string(s.index) + " has key groups ["
                    + std::to_string(s.key_groups.first) + ", "
                    + std::to_string(s.key_groups.last) + ")");
        if (!s.keyed_file.name.empty()) {
          auto n = static_cast<size_t>(s.key_groups.size()) + 1;
          if (s.key_group_offsets.size() != n)
            throw bad("operator '" + o.uid + "' subtask "
                      + std::to_string(s.index) + " has "
                      + std::to_string(s.key_group_offsets.size())
                      + " key group offsets, not " + std::to_string(n));
          if (!std::is_sorted(s.key_group_offsets.begin(),
                              s.key_group_offsets.end())
              || s.key_group_offsets.back() > s.keyed_file.size)
            throw bad("operator '" + o.uid + "' subtask "
                      + std::to_string(s.index)
                      + " has key group offsets outside its file");
        }
        o.subtasks.push_back(std::move(s));
      }
      meta.operators.push_back(std::move(o));
    }
    return meta;
  } catch (const kj::Exception& e) {
    throw bad(e.getDescription().cStr());
  }
}

} // namespace

const operator_snapshot*
checkpoint_metadata::find(const std::string& uid) const {
  for (auto& op : operators)
    if (op.uid == uid)
      return &op;
  return nullptr;
}

std::string checkpoint_dir_name(uint64_t id) {
  return "chk-" + std::to_string(id);
}

std::optional<uint64_t> parse_checkpoint_dir_name(std::string_view name) {
  if (name.substr(0, 4) != "chk-" || name.size() == 4 || name.size() > 24)
    return std::nullopt;
  uint64_t id = 0;
  for (char c : name.substr(4)) {
    if (c < '0' || c > '9')
      return std::nullopt;
    id = id * 10 + static_cast<uint64_t>(c - '0');
  }
  return id;
}

void make_directories(const std::string& path) {
  if (path.empty())
    throw checkpoint_error("a checkpoint directory needs a non-empty path");
  try {
    create_directories(path);
  } catch (const std::runtime_error& e) {
    throw checkpoint_error(e.what());
  }
}

data_file_ref write_data_file(const std::string& dir, const std::string& name,
                              std::string_view bytes) {
  write_synced(join(dir, name), bytes);
  return {name, bytes.size(), hash_bytes(bytes.data(), bytes.size())};
}

std::string read_data_file(const std::string& dir, const data_file_ref& ref) {
  auto path = join(dir, ref.name);
  auto bytes = read_whole(path);
  if (bytes.size() != ref.size)
    throw checkpoint_error("checkpoint data file '" + path + "' has "
                           + std::to_string(bytes.size())
                           + " bytes, the metadata says "
                           + std::to_string(ref.size)
                           + ": it is truncated or was replaced");
  if (hash_bytes(bytes.data(), bytes.size()) != ref.checksum)
    throw checkpoint_error("checkpoint data file '" + path
                           + "' is corrupt: its checksum does not match "
                             "the metadata");
  return bytes;
}

void write_metadata(const std::string& dir, const checkpoint_metadata& meta) {
  auto payload = encode(meta);
  std::string file{magic, sizeof(magic)};
  put_u32(file, format_version);
  put_u32(file, 0);
  put_u64(file, payload.size());
  put_u64(file, hash_bytes(payload.data(), payload.size()));
  file += payload;
  auto tmp = join(dir, std::string{metadata_name} + ".inprogress");
  write_synced(tmp, file);
  auto final_path = join(dir, metadata_name);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    auto why = reason();
    ::unlink(tmp.c_str());
    throw checkpoint_error("cannot publish '" + final_path + "': " + why);
  }
  sync_directory(dir);
}

checkpoint_metadata read_metadata(const std::string& dir) {
  auto path = join(dir, metadata_name);
  if (!is_dir(dir))
    throw checkpoint_error("'" + dir + "' is not a checkpoint directory"
                           + (exists(dir) ? ": it is a file"
                                          : ": it does not exist"));
  if (!exists(path))
    throw checkpoint_error("'" + dir + "' has no " + metadata_name
                           + ": it is not a complete checkpoint");
  auto file = read_whole(path);
  auto n = std::min(file.size(), sizeof(magic));
  if (file.size() < sizeof(magic) && std::memcmp(file.data(), magic, n) == 0)
    throw checkpoint_error("checkpoint metadata '" + path + "' is truncated: "
                           + std::to_string(file.size()) + " bytes");
  if (std::memcmp(file.data(), magic, n) != 0)
    throw checkpoint_error("'" + path
                           + "' is not a libstream checkpoint metadata file");
  if (file.size() < header_size)
    throw checkpoint_error("checkpoint metadata '" + path
                           + "' is truncated: " + std::to_string(file.size())
                           + " bytes, shorter than its header");
  auto version = static_cast<uint32_t>(get_u64(file.data() + 8, 4));
  if (version != format_version)
    throw checkpoint_error("checkpoint metadata '" + path + "' has format "
                           + std::to_string(version) + "; this build reads "
                           + std::to_string(format_version));
  auto length = get_u64(file.data() + 16, 8);
  auto sum = get_u64(file.data() + 24, 8);
  if (file.size() - header_size != length)
    throw checkpoint_error("checkpoint metadata '" + path + "' is "
                           + (file.size() - header_size < length
                                  ? std::string{"truncated"}
                                  : std::string{"longer than it says"})
                           + ": " + std::to_string(file.size() - header_size)
                           + " bytes of message, the header says "
                           + std::to_string(length));
  std::string_view payload{file.data() + header_size, length};
  if (hash_bytes(payload.data(), payload.size()) != sum)
    throw checkpoint_error("checkpoint metadata '" + path
                           + "' is corrupt: its checksum does not match");
  auto meta = decode(path, payload);
  if (meta.key_hash != key_hash_name)
    throw checkpoint_error("checkpoint '" + dir + "' placed keys with the key "
                           "hash '" + meta.key_hash + "'; this build uses '"
                           + key_hash_name + "' and cannot restore it");
  if (meta.codec != codec_format_name)
    throw checkpoint_error("checkpoint '" + dir + "' encodes state as '"
                           + meta.codec + "'; this build reads '"
                           + codec_format_name + "'");
  return meta;
}

void verify_data_files(const std::string& dir,
                       const checkpoint_metadata& meta) {
  for (auto& op : meta.operators)
    for (auto& s : op.subtasks)
      if (!s.keyed_file.name.empty())
        read_data_file(dir, s.keyed_file);
}

std::vector<std::string> complete_checkpoints(const std::string& job_dir) {
  std::vector<std::pair<uint64_t, std::string>> found;
  for (auto& name : list_dir(job_dir)) {
    auto id = parse_checkpoint_dir_name(name);
    auto dir = join(job_dir, name);
    if (id && is_dir(dir) && exists(join(dir, metadata_name)))
      found.emplace_back(*id, dir);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found)
    out.push_back(std::move(f.second));
  return out;
}

restore_point find_restore_point(const std::string& path) {
  if (!exists(path))
    throw checkpoint_error("no checkpoint at '" + path
                           + "': it does not exist");
  if (!is_dir(path))
    throw checkpoint_error("no checkpoint at '" + path
                           + "': it is a file, not a checkpoint, savepoint "
                             "or checkpoint directory");
  // A checkpoint or savepoint directory itself: no fallback, it was named.
  if (exists(join(path, metadata_name))) {
    restore_point rp;
    rp.chosen.dir = path;
    rp.chosen.meta = read_metadata(path);
    verify_data_files(path, rp.chosen.meta);
    return rp;
  }
  // A job directory (chk-<n> below) or a root (jobs below, chk-<n> below
  // them): every complete checkpoint, newest first by completion time.
  std::vector<std::string> candidates = complete_checkpoints(path);
  for (auto& name : list_dir(path)) {
    auto sub = join(path, name);
    if (!parse_checkpoint_dir_name(name) && is_dir(sub))
      for (auto& c : complete_checkpoints(sub))
        candidates.push_back(c);
  }
  if (candidates.empty())
    throw checkpoint_error("no complete checkpoint under '" + path
                           + "': no chk-<n> directory with a _metadata file "
                             "in it or in its job directories");
  struct read_one {
    std::string dir;
    std::optional<checkpoint_metadata> meta;
    std::string error; // set: not usable (metadata or a data file)
  };
  std::vector<read_one> all;
  for (auto& dir : candidates) {
    read_one r{dir, std::nullopt, ""};
    try {
      r.meta = read_metadata(dir);
      verify_data_files(dir, *r.meta);
    } catch (const checkpoint_error& e) {
      r.error = e.what();
    }
    all.push_back(std::move(r));
  }
  // Newest first: by the trigger time in the metadata, then by id. One
  // whose metadata cannot be read goes by when its _metadata was written
  // (its completion, not earlier than its trigger): a damaged checkpoint
  // rather counts as newer, so recovery rather refuses than silently
  // falls back past it (see the executor's fallback rule).
  auto when = [](const read_one& r) -> std::pair<int64_t, uint64_t> {
    if (r.meta)
      return {r.meta->timestamp_ms, r.meta->checkpoint_id};
    struct stat st {};
    if (::stat(join(r.dir, metadata_name).c_str(), &st) != 0)
      ::stat(r.dir.c_str(), &st);
    auto id = parse_checkpoint_dir_name(r.dir.substr(r.dir.rfind('/') + 1));
    return {static_cast<int64_t>(st.st_mtim.tv_sec) * 1000
                + st.st_mtim.tv_nsec / 1000000,
            id.value_or(0)};
  };
  std::stable_sort(all.begin(), all.end(),
                   [&](const read_one& x, const read_one& y) {
                     return when(x) > when(y);
                   });
  restore_point rp;
  for (auto& r : all) {
    if (!r.error.empty()) {
      rp.skipped.emplace_back(r.dir, r.error);
      continue;
    }
    rp.chosen.dir = r.dir;
    rp.chosen.meta = std::move(*r.meta);
    return rp;
  }
  std::string why;
  for (auto& [dir, error] : rp.skipped)
    why += (why.empty() ? "" : "; ") + error;
  throw checkpoint_error("no usable checkpoint under '" + path + "': " + why);
}

void remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0)
    return;
  if (S_ISDIR(st.st_mode)) {
    for (auto& name : list_dir(path))
      remove_tree(join(path, name));
    if (::rmdir(path.c_str()) != 0)
      throw checkpoint_error("cannot remove '" + path + "': " + reason());
  } else if (::unlink(path.c_str()) != 0) {
    throw checkpoint_error("cannot remove '" + path + "': " + reason());
  }
}

std::vector<std::string> prune_checkpoints(const std::string& job_dir,
                                           size_t keep) {
  std::vector<std::string> removed;
  auto complete = complete_checkpoints(job_dir);
  std::optional<uint64_t> newest;
  if (!complete.empty())
    newest = parse_checkpoint_dir_name(
        complete.back().substr(complete.back().rfind('/') + 1));
  for (size_t i = 0; i + keep < complete.size(); ++i) {
    remove_tree(complete[i]);
    removed.push_back(complete[i]);
  }
  // Incomplete ones older than the newest complete: aborted or crashed.
  if (newest)
    for (auto& name : list_dir(job_dir)) {
      auto id = parse_checkpoint_dir_name(name);
      auto dir = join(job_dir, name);
      if (id && *id < *newest && !exists(join(dir, metadata_name))) {
        remove_tree(dir);
        removed.push_back(dir);
      }
    }
  return removed;
}

} // namespace libstream

namespace libstream {

std::vector<std::string> list_checkpointed_jobs(const std::string& root) {
  std::vector<std::string> out;
  if (!exists(root) || !is_dir(root))
    return out;
  std::vector<std::string> names;
  try {
    names = list_dir(root);
  } catch (const std::exception&) {
    return out; // unreadable: nothing to offer
  }
  for (auto& name : names) {
    auto dir = root + "/" + name;
    if (!is_dir(dir))
      continue;
    try {
      auto rp = find_restore_point(dir);
      auto& m = rp.chosen.meta;
      auto secs = static_cast<time_t>(m.timestamp_ms / 1000);
      std::tm tm{};
      gmtime_r(&secs, &tm);
      char when[32];
      std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
      out.push_back(dir + ": job '" + m.job_name + "', checkpoint "
                    + std::to_string(m.checkpoint_id) + " of " + when);
    } catch (const std::exception&) {
      // No complete checkpoint there: not a resumable job.
    }
  }
  return out;
}

} // namespace libstream
