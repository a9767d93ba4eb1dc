#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/operator.hpp"
#include "libstream/sinks/sink.hpp"

namespace libstream {

/// The file work of part_file_sink, independent of the record type.
///
/// A directory of part files, as Flink's FileSink: subtask i writes
/// `.part-<i>-<n>.inprogress`; at a checkpoint barrier the part is closed
/// and becomes `.part-<i>-<n>.pending` (recorded in the checkpoint); when
/// that checkpoint completes it is renamed to `part-<i>-<n>` and visible.
/// Hidden files (a leading dot) are never results. Every visible part is a
/// complete file with the header line. At the end of a bounded input the
/// last part is committed when the job finishes. On restore, the parts the
/// checkpoint recorded as pending are committed (their checkpoint may have
/// completed after the snapshot was written, or not been notified), and
/// in-progress or pending leftovers of the failed run are removed.
///
/// Buckets (Flink's bucket assigner): a line may go to a bucket, a
/// relative subdirectory such as `dt=2024-01-01/hm=10:05`, which has its
/// own open part. Part numbers count per subtask across all buckets, so
/// `(subtask, n)` names one part wherever it is. At most `max_open_parts`
/// parts are open at once; past that the one written least recently is
/// closed as pending for the next checkpoint (synced when that checkpoint
/// is taken, not at once: buckets written in turn cost a file each, not a
/// sync each).
class part_file_writer {
public:
  /// `buckets`: lines may go to buckets (leftovers are then looked for
  /// in subdirectories too).
  part_file_writer(std::string dir, std::string header, bool buckets = false,
                   size_t max_open_parts = 64);
  ~part_file_writer();

  part_file_writer(const part_file_writer&) = delete;
  part_file_writer& operator=(const part_file_writer&) = delete;

  void open(int subtask, int parallelism);
  void write_line(const std::string& line) { write_line({}, line); }
  /// Writes `line` into bucket `bucket` ("" for the directory itself).
  /// Throws std::invalid_argument for a bucket that is absolute, empty
  /// between slashes, or holds `.` or `..` components.
  void write_line(const std::string& bucket, const std::string& line);
  /// Closes the open parts as pending for checkpoint `id`, and returns
  /// the state to snapshot.
  std::string snapshot(uint64_t id);
  void checkpoint_complete(uint64_t id);
  void restore(const operator_restore& from);
  /// End of input: the open parts are pending for the end of the job.
  void finish();
  /// The job finished: every pending part becomes visible.
  void commit_all();
  /// Failure or cancel: the in-progress parts go; pending parts stay for
  /// a restore to commit.
  void abort() noexcept;

private:
  struct open_part {
    int fd = -1;
    uint64_t seq = 0;
    uint64_t last_write = 0; // write counter when last written
    std::string buffer;
  };

  struct pending_part {
    uint64_t seq;
    uint64_t checkpoint; // published when a checkpoint >= this completes
    std::string bucket;
  };

  std::string bucket_dir(const std::string& base,
                         const std::string& bucket) const;
  std::string name(const std::string& bucket, uint64_t seq,
                   const char* state) const;
  /// The open part of `bucket`, opened if there is none.
  std::map<std::string, open_part>::iterator
  part_for(const std::string& bucket);
  void write_buffer(const std::string& bucket, open_part& part);
  /// Closes the open part of `bucket` as pending until `checkpoint`;
  /// `sync`: fsync it now, else at the next sync_closed().
  void close_part(std::string bucket, uint64_t checkpoint, bool sync = true);
  /// Syncs the parts closed without a sync.
  void sync_closed();
  void close_all(uint64_t checkpoint);
  /// Renames old or own subtask `subtask`'s pending part `seq` in `dir`
  /// to visible.
  void publish(const std::string& dir, int subtask, uint64_t seq);
  /// Removes hidden parts under the directory (buckets included) of the
  /// subtasks `mine` selects, except those in `keep`.
  void remove_leftovers(const std::function<bool(int)>& mine,
                        const std::set<std::pair<int, uint64_t>>& keep);
  void ensure_clean();

  std::string dir_;
  std::string abs_dir_; // dir_ resolved at open(): recorded in snapshots
  std::string header_;
  bool buckets_;
  size_t max_open_parts_;
  int subtask_ = 0;
  int parallelism_ = 1;
  std::map<std::string, open_part> open_;
  // The part written last (most lines go where the one before went).
  std::map<std::string, open_part>::iterator last_ = open_.end();
  uint64_t writes_ = 0;   // counts write_line calls (for closing the LRU)
  uint64_t next_seq_ = 0; // the next part's number
  std::vector<pending_part> pending_;
  std::set<std::string> created_; // bucket directories made this run
  std::vector<std::string> unsynced_; // pending parts closed without fsync
  bool cleaned_ = false; // leftovers of an earlier run removed
  uint64_t last_snapshot_ = 0; // the newest checkpoint snapshotted
};

/// A sink writing one line per record into part files with exactly-once
/// semantics under checkpoints (see part_file_writer); without checkpoints
/// it commits everything when the job finishes, as write_as_text does.
template <class T>
class part_file_sink final : public sink_base<T> {
public:
  using format_fn = std::function<std::string(const T&)>;

  /// `bucket`, when given, names each record's bucket (a relative
  /// subdirectory of `dir`).
  part_file_sink(std::string dir, format_fn format, std::string header,
                 format_fn bucket = nullptr)
      : writer_(std::move(dir), std::move(header), bucket != nullptr),
        format_(std::move(format)), bucket_(std::move(bucket)) {
    if (!format_)
      throw std::invalid_argument("a part file sink needs a format function");
  }

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    writer_.open(ctx.subtask_index(), ctx.parallelism());
  }

  void process_batch(record_batch<T>& batch) override {
    if (bucket_) {
      for (auto& r : batch)
        writer_.write_line(bucket_(r.value), format_(r.value));
    } else {
      for (auto& r : batch)
        writer_.write_line(format_(r.value));
    }
  }

  void snapshot_state(uint64_t id, operator_state_snapshot& out) override {
    out.operator_state = writer_.snapshot(id);
  }

  void notify_checkpoint_complete(uint64_t id) override {
    writer_.checkpoint_complete(id);
  }

  void restore_state(const operator_restore& from) override {
    writer_.restore(from);
  }

  void end_input() override { writer_.finish(); }
  /// Restored as finished yet given input: its part is finished as usual.
  void forward_end() override { end_input(); }
  bool transactional() const override { return true; }
  void commit() override {
    writer_.commit_all();
    committed_ = true;
  }
  void close() override {
    if (!committed_)
      writer_.abort();
  }


private:
  part_file_writer writer_;
  format_fn format_;
  format_fn bucket_;
  bool committed_ = false;
};

} // namespace libstream
