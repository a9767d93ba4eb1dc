#pragma once

// Checkpoint storage: the layout of checkpoint directories, the `_metadata`
// file that makes a checkpoint complete, its data files, retention, and
// finding what to restore from. No actors here and no Cap'n Proto in this
// header (the library libstream_checkpoint has them).
//
// Layout: <checkpoint dir>/<job id>/chk-<n>/ with `_metadata` and data
// files. A savepoint directory has the same content. A directory is a
// complete checkpoint exactly when its `_metadata` exists: the metadata is
// written last, to a temporary name, synced, renamed, and the directory
// synced (nothing is acknowledged as durable before it is).

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libstream/key_group.hpp"

namespace libstream {

/// A checkpoint that cannot be written or read: names the file and what
/// is wrong with it.
class checkpoint_error : public std::runtime_error {
public:
  explicit checkpoint_error(const std::string& what)
      : std::runtime_error(what) {}
};

/// A data file of a checkpoint, with what its contents must match.
struct data_file_ref {
  std::string name; // relative to the checkpoint directory; "" = none
  uint64_t size = 0;
  uint64_t checksum = 0;
};

/// The state of one subtask of one operator.
struct subtask_snapshot {
  int index = 0;
  key_group_range key_groups;
  data_file_ref keyed_file;
  /// One offset per key group of `key_groups` plus the end.
  std::vector<uint64_t> key_group_offsets;
  std::string operator_state;  // encoded non-keyed state
  std::string source_position; // encoded source position
  bool finished = false; // the subtask had finished its input
};

/// The state of one operator, matched by uid on restore.
struct operator_snapshot {
  std::string uid;
  std::string name;
  int parallelism = 1;
  int max_parallelism = default_max_parallelism;
  std::vector<subtask_snapshot> subtasks;
};

/// The contents of `_metadata`.
struct checkpoint_metadata {
  uint32_t format_version = 1;
  std::string job_id;
  std::string job_name;
  uint64_t checkpoint_id = 0;
  int64_t timestamp_ms = 0;
  bool is_savepoint = false;
  std::string key_hash; // key_hash_name when written
  std::string codec;    // codec_format_name when written
  std::vector<operator_snapshot> operators;

  /// The operator with `uid`, or nullptr.
  const operator_snapshot* find(const std::string& uid) const;
};

/// "chk-<id>".
std::string checkpoint_dir_name(uint64_t id);

/// The id of a "chk-<id>" name, if it is one.
std::optional<uint64_t> parse_checkpoint_dir_name(std::string_view name);

/// Creates `path` and its missing parents. Throws checkpoint_error when a
/// component is a file or cannot be created.
void make_directories(const std::string& path);

/// Writes `bytes` as the data file `name` in `dir` (synced) and returns
/// its reference for the metadata.
data_file_ref write_data_file(const std::string& dir, const std::string& name,
                              std::string_view bytes);

/// Reads a data file and checks its size and checksum against `ref`.
std::string read_data_file(const std::string& dir, const data_file_ref& ref);

/// Writes `_metadata` into `dir` atomically (temporary, fsync, rename,
/// fsync of the directory). From then on `dir` is a complete checkpoint.
void write_metadata(const std::string& dir, const checkpoint_metadata& meta);

/// Reads and checks `dir/_metadata`: a missing, truncated, corrupt or
/// foreign file is a checkpoint_error naming the file and what is wrong.
checkpoint_metadata read_metadata(const std::string& dir);

/// Checks that every data file the metadata names exists with its size and
/// checksum. Throws checkpoint_error naming the first file that does not.
void verify_data_files(const std::string& dir, const checkpoint_metadata& meta);

/// A complete checkpoint found on disk.
struct checkpoint_ref {
  std::string dir;
  checkpoint_metadata meta;
};

/// What find_restore_point found: the checkpoint to restore, and newer
/// ones it passed over because they are unusable (with the reason).
struct restore_point {
  checkpoint_ref chosen;
  std::vector<std::pair<std::string, std::string>> skipped; // dir, why
};

/// Resolves what `--from-savepoint PATH` names: a checkpoint or savepoint
/// directory (it has `_metadata`), a job's checkpoint directory (its
/// chk-<n>), or a checkpoint root (its jobs' chk-<n>): then the most
/// recently completed checkpoint under it, of whichever job. Checkpoints
/// whose metadata or data files are unreadable are skipped and reported;
/// when nothing usable is left, a checkpoint_error says what was found.
restore_point find_restore_point(const std::string& path);

/// The jobs with a complete checkpoint below `root` (<root>/<job id>/),
/// one line each: "<root>/<job id>: job '<name>', checkpoint <n> of
/// <time>". A missing root gives none.
std::vector<std::string> list_checkpointed_jobs(const std::string& root);

/// The complete checkpoints in the job directory `job_dir`, oldest first.
std::vector<std::string> complete_checkpoints(const std::string& job_dir);

/// Removes complete checkpoints of `job_dir` beyond the newest `keep`, and
/// incomplete chk-<n> directories older than the newest complete one.
/// Returns the directories removed.
std::vector<std::string> prune_checkpoints(const std::string& job_dir,
                                           size_t keep);

/// Removes `path` and everything under it (no error if it does not exist).
void remove_tree(const std::string& path);

} // namespace libstream
