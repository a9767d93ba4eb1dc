#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace libstream {

/// An output file that never shows a torn state: it is written under a
/// hidden temporary name in the target's directory
/// (`.<name>.inprogress.<host>.<pid>.<n>`), synced, and renamed over the target
/// only by publish(), the way LevelDB publishes its CURRENT file. Until
/// then the target, and any earlier file at that path, is untouched;
/// discard() or the destructor removes the temporary. open() also removes
/// the temporaries of the same target left behind by processes that no
/// longer run (a run killed with SIGKILL cannot clean up after itself).
///
/// A symlink at the target stays: the file it points to is replaced. An
/// existing file keeps its mode. A device, pipe or socket at the target
/// (/dev/null, /dev/stdout) cannot be replaced: it is written directly, as
/// the job goes, and publish() has nothing left to do.
///
/// Every error (open, write, sync, rename) throws std::runtime_error naming
/// the target and the system's reason. Not thread-safe.
class staged_file {
public:
  explicit staged_file(std::string target);
  ~staged_file();

  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;

  /// Creates the temporary. Cleans up stale temporaries of the target first.
  void open();

  /// Appends `data` (buffered).
  void write(std::string_view data);

  /// Appends `line` and a newline (buffered).
  void write_line(std::string_view line) {
    write(line);
    write("\n");
  }

  /// Writes out the buffer, syncs and closes the temporary. Nothing is
  /// visible at the target yet.
  void finish();

  /// Renames the finished temporary over the target and syncs the
  /// directory. Requires finish().
  void publish();

  /// Removes the temporary if it exists and was not published.
  void discard() noexcept;

  const std::string& target() const noexcept { return target_; }
  const std::string& temporary() const noexcept { return temp_; }
  bool published() const noexcept { return published_; }

private:
  void flush_buffer();

  std::string target_;
  std::string real_; // the file a symlink at the target points to
  std::string temp_;
  std::string buffer_;
  int fd_ = -1;
  bool finished_ = false;
  bool published_ = false;
  bool direct_ = false; // a device or pipe: written in place
};

/// The directory part and the file-name part of `path` ("." when it has no
/// directory part).
std::pair<std::string, std::string> split_path(const std::string& path);

/// Removes `.<name>.inprogress.<host>.<pid>.*` files of `target` made on
/// this host by a process that is gone. Returns how many it removed. Errors are ignored (best effort).
size_t remove_stale_temporaries(const std::string& target);

} // namespace libstream
