#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "libstream/time.hpp"

namespace libstream {

/// A byte range of one file: the unit the file source hands out to its
/// subtasks and keeps in checkpoints (as Flink's FileSourceSplit).
struct file_split {
  static constexpr uint64_t to_eof = std::numeric_limits<uint64_t>::max();

  std::string path;
  uint64_t index = 0;  // the split's number within its file
  uint64_t offset = 0; // where reading starts, or resumes
  uint64_t end = to_eof; // records starting before `end` belong here
  /// `offset` is a record start (a resumed position). Otherwise the first
  /// record of the split is the first one that starts at or after
  /// `offset` (see docs/files.md).
  bool at_record = false;

  friend bool operator==(const file_split& x, const file_split& y) {
    return x.path == y.path && x.index == y.index && x.offset == y.offset
           && x.end == y.end && x.at_record == y.at_record;
  }
};

/// What the file source reads and how it cuts and watches it.
struct file_source_options {
  /// Files and directories. A file named here is read whatever its name;
  /// in a directory, names starting with '.' or '_' are skipped (files
  /// being written, as Flink's default filter), and with `pattern` only
  /// names matching it (fnmatch(3) glob, e.g. "*.csv") are read.
  std::vector<std::string> paths;
  std::string pattern;
  bool recursive = false; // descend into subdirectories
  /// Regular files larger than this are cut into splits of this size.
  /// 0 (the default): a bounded source cuts its input into about four
  /// splits per subtask (1 MiB to 128 MiB each); a watching one into
  /// 32 MiB splits.
  uint64_t split_bytes = 0;
  /// > 0: unbounded; the directories are listed again every interval and
  /// files not seen before are read (they must be complete when they
  /// appear: move them in). 0: bounded, the files listed at the start.
  duration_ms monitor_interval = 0;
  /// > 0: at most this many records per second for the whole source.
  double rate = 0;
  /// A record (line) longer than this fails the job.
  size_t max_record_bytes = size_t{16} << 20;
};

namespace detail {

/// A file the source reads: its path and size (to_eof for pipes and other
/// files that are not regular, which are read whole and never split).
struct listed_file {
  std::string path;
  uint64_t size = 0;
  bool regular = true;
};

/// Lists the input files of `opts` in path order. A path named in the
/// options that does not exist or cannot be read throws naming it; files
/// that vanish while listing a directory are skipped.
std::vector<listed_file> list_input_files(const file_source_options& opts);

/// Cuts a file into splits of `split_bytes` (one split for an empty file,
/// a file that is not regular, or a small one).
std::vector<file_split> split_file(const listed_file& f, uint64_t split_bytes);

/// A stable hash of a path (to spread files over subtasks).
uint64_t path_hash(std::string_view path) noexcept;

/// The first '\n' in [p, e) that ends a record, or null: with `quoted`,
/// one outside double quotes, where `in_quotes` says whether p is inside
/// them (and is updated to the position returned, or to e). The one rule
/// that delimits records, finds a split's first record and reads headers.
const char* find_record_end(const char* p, const char* e, bool quoted,
                            bool& in_quotes) noexcept;

/// Reads one split: a regular file through a read-only memory map of the
/// whole file (a file truncated while it is read is not supported: the
/// process would fault), a pipe or device through a buffer. Finds the
/// split's first record, refills, and
/// counts lines and quotes before a position when asked (lazily: only an
/// error or a quoted-format split start needs them).
class split_reader {
public:
  enum class fill_result { got, eof, would_block };

  split_reader();
  ~split_reader();
  split_reader(const split_reader&) = delete;
  split_reader& operator=(const split_reader&) = delete;

  /// Opens the split's file and seeks to its offset. Throws naming the file.
  void open(const file_split& s, size_t max_record_bytes);
  void close();
  bool is_open() const noexcept { return fd_ >= 0; }

  /// Moves to the split's first record (see file_split::at_record): after
  /// the first record delimiter at or after offset - 1, where with `quoted`
  /// a '\n' counts only outside double quotes (quote parity from the start
  /// of the file). A UTF-8 byte order mark at offset 0 is skipped. Returns
  /// false while a pipe has no data yet.
  bool sync(bool quoted);

  /// The unread buffered bytes.
  const char* data() const noexcept { return window_ + begin_; }
  const char* limit() const noexcept { return window_ + end_; }
  /// Marks the bytes before `p` (within the buffer) as read.
  void consume(const char* p) noexcept {
    begin_ = static_cast<size_t>(p - window_);
  }
  /// The file offset of buffered byte `p`.
  uint64_t offset_of(const char* p) const noexcept {
    return base_ + static_cast<uint64_t>(p - window_);
  }
  /// A mapped file: maps the pages ahead of `p` in one call per few MiB
  /// (one fault per page is slow, in VMs especially). Cheap otherwise.
  void prefault(const char* p) noexcept {
    if (map_ != nullptr && p + prefault_ahead > prefaulted_)
      prefault_from(p);
  }

  /// Reads more after the unread bytes (keeping them).
  fill_result fill();
  bool eof() const noexcept { return eof_; }
  const std::string& path() const noexcept { return path_; }
  /// A regular file (else a pipe or device: line_of cannot count).
  bool regular() const noexcept { return regular_; }

  /// The 1-based physical line of file offset `offset` (counts '\n'
  /// before it; incremental from the last call on the same file). 0 for
  /// a file that is not regular.
  uint64_t line_of(uint64_t offset);

  /// The first record of the open regular file (for a header), delimited
  /// as sync() does, without its delimiter and a trailing '\r', BOM
  /// removed. Empty with `empty_file` set when the file has no bytes.
  std::string first_record(bool quoted, bool& empty_file);

  /// Remembers that `offset` of the open file is a record start (outside
  /// quotes): a later sync of the same file counts quotes from there.
  void note_record_start(uint64_t offset) noexcept;

private:
  void unmap() noexcept;
  void prefault_from(const char* p) noexcept;
  static constexpr size_t prefault_ahead = size_t{2} << 20;
  /// Counts '\n' and '"' in [from, to) of the open regular file.
  void count(uint64_t from, uint64_t to, uint64_t& newlines,
             uint64_t& quotes);

  int fd_ = -1;
  std::string path_;
  bool regular_ = true;
  std::vector<char> buf_; // pipes and devices are read into it
  // A regular file is mapped whole (kept while splits of it follow).
  const char* map_ = nullptr;
  size_t map_size_ = 0;
  std::string map_path_;
  const char* window_ = nullptr; // buf_ or the map
  const char* prefaulted_ = nullptr; // the map's pages before it are mapped
  size_t begin_ = 0;
  size_t end_ = 0;
  uint64_t base_ = 0; // file offset of window_[0]
  uint64_t split_offset_ = 0;
  bool eof_ = false;
  size_t max_record_bytes_ = 0;
  // Lazy counts, kept across splits of one file: the number of '\n'
  // before line_pos_, and an offset known to be outside quotes.
  std::string counted_path_;
  uint64_t line_pos_ = 0;
  uint64_t line_count_ = 0;
  uint64_t even_pos_ = 0;
};

} // namespace detail
} // namespace libstream
