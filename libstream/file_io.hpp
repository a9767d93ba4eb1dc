#pragma once

#include <string>
#include <string_view>

namespace libstream {

/// Writes all of `data` to file descriptor `fd`, retrying after short
/// writes and EINTR. Returns false with errno set when a write fails; the
/// caller names the file in its error.
bool write_all(int fd, std::string_view data);

/// Syncs directory `dir`, so that a rename in it is durable. Best effort:
/// some file systems refuse to sync directories.
void sync_directory(const std::string& dir);

/// Syncs the file at `path` to disk (after it was written and closed).
/// Throws std::runtime_error naming the file and the cause.
void sync_file(const std::string& path);

/// Creates directory `path` and its missing parents (mode 0755). Throws
/// std::runtime_error naming the component that is a file or cannot be
/// created.
void create_directories(const std::string& path);

/// Writes `data` to a new file at `path` (replacing one), synced. Throws
/// std::runtime_error naming the file and the cause.
void write_file(const std::string& path, std::string_view data);

/// Reads the whole file at `path`. Throws std::runtime_error naming the
/// file and the cause.
std::string read_file(const std::string& path);

} // namespace libstream
