#include "libstream/sources/file_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <stdexcept>

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace libstream::detail {

namespace {

constexpr size_t read_chunk = size_t{128} << 10;

std::string reason(int err) {
  return std::strerror(err);
}

bool hidden(const char* name) {
  return name[0] == '.' || name[0] == '_';
}

/// Directories already listed (device, inode): a symbolic link back up
/// the tree is not followed round.
using visited_dirs = std::set<std::pair<dev_t, ino_t>>;

void list_directory(const std::string& dir, const file_source_options& opts,
                    std::vector<listed_file>& out, visited_dirs& visited) {
  struct stat self {};
  if (::stat(dir.c_str(), &self) == 0) {
    if (!visited.emplace(self.st_dev, self.st_ino).second)
      return;
  }
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr)
    throw std::runtime_error("cannot list input directory '" + dir
                             + "': " + reason(errno));
  std::vector<std::string> names;
  errno = 0;
  while (auto* e = ::readdir(d)) {
    if (!hidden(e->d_name))
      names.emplace_back(e->d_name);
  }
  auto err = errno;
  ::closedir(d);
  if (err != 0)
    throw std::runtime_error("cannot list input directory '" + dir
                             + "': " + reason(err));
  // In name order, so that a directory reachable two ways is listed
  // under the same path on every file system.
  std::sort(names.begin(), names.end());
  for (auto& name : names) {
    auto path = dir;
    if (path.empty() || path.back() != '/')
      path += '/';
    path += name;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      continue; // vanished while listing
    if (S_ISDIR(st.st_mode)) {
      if (opts.recursive)
        list_directory(path, opts, out, visited);
      continue;
    }
    if (!opts.pattern.empty()
        && ::fnmatch(opts.pattern.c_str(), name.c_str(), 0) != 0)
      continue;
    out.push_back(listed_file{path, static_cast<uint64_t>(st.st_size),
                              S_ISREG(st.st_mode)});
  }
}

/// Adds the number of '\n' and '"' in [p, p + n).
void count_bytes(const char* p, size_t n, uint64_t& newlines,
                 uint64_t& quotes) {
  size_t i = 0;
#if defined(__SSE2__)
  // Per-byte counters (a match is -1, subtracted), summed every 255 blocks
  // before they can wrap.
  const __m128i nl = _mm_set1_epi8('\n');
  const __m128i qu = _mm_set1_epi8('"');
  const __m128i zero = _mm_setzero_si128();
  auto sum = [&](__m128i acc) {
    auto s = _mm_sad_epu8(acc, zero);
    return static_cast<uint64_t>(_mm_cvtsi128_si64(s))
           + static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(s, s)));
  };
  while (i + 16 <= n) {
    __m128i a = zero;
    __m128i b = zero;
    for (int k = 0; k < 255 && i + 16 <= n; ++k, i += 16) {
      auto v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      a = _mm_sub_epi8(a, _mm_cmpeq_epi8(v, nl));
      b = _mm_sub_epi8(b, _mm_cmpeq_epi8(v, qu));
    }
    newlines += sum(a);
    quotes += sum(b);
  }
#endif
  for (; i < n; ++i) {
    newlines += p[i] == '\n';
    quotes += p[i] == '"';
  }
}

} // namespace

std::vector<listed_file> list_input_files(const file_source_options& opts) {
  std::vector<listed_file> out;
  visited_dirs visited;
  for (auto& path : opts.paths) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      throw std::runtime_error("cannot read input '" + path
                               + "': " + reason(errno));
    if (S_ISDIR(st.st_mode))
      list_directory(path, opts, out, visited);
    else
      out.push_back(listed_file{path, static_cast<uint64_t>(st.st_size),
                                S_ISREG(st.st_mode)});
  }
  std::sort(out.begin(), out.end(),
            [](const listed_file& x, const listed_file& y) {
              return x.path < y.path;
            });
  out.erase(std::unique(out.begin(), out.end(),
                        [](const listed_file& x, const listed_file& y) {
                          return x.path == y.path;
                        }),
            out.end());
  return out;
}

std::vector<file_split> split_file(const listed_file& f,
                                   uint64_t split_bytes) {
  std::vector<file_split> out;
  uint64_t n = 1;
  if (f.regular && split_bytes > 0 && f.size > split_bytes)
    n = (f.size + split_bytes - 1) / split_bytes;
  for (uint64_t k = 0; k < n; ++k) {
    file_split s;
    s.path = f.path;
    s.index = k;
    s.offset = k * split_bytes;
    s.end = k + 1 == n ? file_split::to_eof : (k + 1) * split_bytes;
    s.at_record = k == 0;
    out.push_back(std::move(s));
  }
  return out;
}

uint64_t path_hash(std::string_view path) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a
  for (unsigned char c : path) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

const char* find_record_end(const char* p, const char* e, bool quoted,
                            bool& in_quotes) noexcept {
  if (!quoted)
    return static_cast<const char*>(
        std::memchr(p, '\n', static_cast<size_t>(e - p)));
  for (; p != e; ++p) {
    if (*p == '"')
      in_quotes = !in_quotes;
    else if (*p == '\n' && !in_quotes)
      return p;
  }
  return nullptr;
}

// -- split_reader -------------------------------------------------------------

split_reader::split_reader() = default;

split_reader::~split_reader() {
  close();
  unmap();
}

void split_reader::close() {
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = -1;
}

void split_reader::prefault_from(const char* p) noexcept {
  constexpr uintptr_t page = 4096;
  auto* end = map_ + map_size_;
  auto* from = std::max(p, prefaulted_);
  auto* to = std::min(end, p + 4 * prefault_ahead);
  if (from >= to)
    return;
  auto start = reinterpret_cast<uintptr_t>(from) & ~(page - 1);
#ifdef MADV_POPULATE_READ
  // Best effort: an older kernel refuses, and pages then fault one by one.
  ::madvise(reinterpret_cast<void*>(start),
            static_cast<size_t>(reinterpret_cast<uintptr_t>(to) - start),
            MADV_POPULATE_READ);
#endif
  prefaulted_ = to;
}

void split_reader::unmap() noexcept {
  if (map_ != nullptr)
    ::munmap(const_cast<char*>(map_), map_size_);
  map_ = nullptr;
  map_size_ = 0;
  map_path_.clear();
}

void split_reader::open(const file_split& s, size_t max_record_bytes) {
  close();
  path_ = s.path;
  max_record_bytes_ = max_record_bytes;
  // Non-blocking, so that a pipe without data never blocks the subtask.
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0)
    throw std::runtime_error("cannot open input file '" + path_
                             + "': " + reason(errno));
  struct stat st {};
  if (::fstat(fd_, &st) != 0)
    throw std::runtime_error("cannot read input file '" + path_
                             + "': " + reason(errno));
  if (S_ISDIR(st.st_mode))
    throw std::runtime_error("cannot read input file '" + path_
                             + "': it is a directory; name a file");
  regular_ = S_ISREG(st.st_mode);
  if (counted_path_ != path_) {
    counted_path_ = path_;
    line_pos_ = line_count_ = even_pos_ = 0;
  }
  split_offset_ = s.offset;
  uint64_t start = s.offset;
  if (!s.at_record && start > 0)
    --start; // sync() looks for a delimiter at offset - 1 onwards
  if (start > 0) {
    if (!regular_)
      throw std::runtime_error("cannot read '" + path_ + "' from byte "
                               + std::to_string(start)
                               + ": it is not a regular file");
    if (start > static_cast<uint64_t>(st.st_size))
      throw std::runtime_error(
          "cannot resume reading '" + path_ + "' at byte "
          + std::to_string(start) + ": the file has only "
          + std::to_string(st.st_size) + " bytes now (was it replaced?)");
  }
  eof_ = false;
  if (regular_) {
    auto size = static_cast<size_t>(st.st_size);
    if (map_ != nullptr && (map_path_ != path_ || map_size_ != size))
      unmap();
    if (map_ == nullptr && size > 0) {
      auto* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd_, 0);
      if (m == MAP_FAILED)
        throw std::runtime_error("cannot map input file '" + path_
                                 + "': " + reason(errno));
      ::madvise(m, size, MADV_SEQUENTIAL);
      map_ = static_cast<const char*>(m);
      map_size_ = size;
      map_path_ = path_;
    }
    // The whole file is there: no reading, no copying.
    window_ = map_;
    prefaulted_ = map_;
    base_ = 0;
    begin_ = static_cast<size_t>(start);
    end_ = size;
    eof_ = true;
    return;
  }
  unmap();
  if (buf_.size() < read_chunk)
    buf_.resize(read_chunk);
  window_ = buf_.data();
  base_ = start;
  begin_ = end_ = 0;
}

split_reader::fill_result split_reader::fill() {
  if (eof_)
    return fill_result::eof; // also every mapped file
  if (begin_ > 0) {
    auto pending = end_ - begin_;
    std::memmove(buf_.data(), buf_.data() + begin_, pending);
    base_ += begin_;
    begin_ = 0;
    end_ = pending;
  }
  if (buf_.size() - end_ < read_chunk / 2)
    buf_.resize(std::max(buf_.size() * 2, end_ + read_chunk));
  window_ = buf_.data();
  for (;;) {
    auto n = ::read(fd_, buf_.data() + end_, buf_.size() - end_);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return fill_result::got;
    }
    if (n == 0) {
      // A FIFO opened before any writer reads 0 bytes too: it has ended
      // only once a writer came and went (POLLHUP; a device that reads 0
      // while readable has ended as well). Until then it is idle.
      pollfd pfd{fd_, POLLIN, 0};
      auto ready = ::poll(&pfd, 1, 0);
      if (ready == 0 || (ready > 0 && (pfd.revents & (POLLHUP | POLLIN)) == 0))
        return fill_result::would_block;
      eof_ = true;
      return fill_result::eof;
    }
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return fill_result::would_block;
    throw std::runtime_error("error reading input file '" + path_
                             + "' at byte "
                             + std::to_string(base_ + end_) + ": "
                             + reason(errno));
  }
}

bool split_reader::sync(bool quoted) {
  if (split_offset_ == 0) {
    // The start of the file: a record starts here, after a BOM.
    while (end_ - begin_ < 3 && !eof_) {
      auto r = fill();
      if (r == fill_result::would_block)
        return false;
    }
    if (end_ - begin_ >= 3 && std::memcmp(data(), "\xEF\xBB\xBF", 3) == 0)
      begin_ += 3;
    return true;
  }
  // data() is at offset - 1 (a resumed record start is not synced): skip
  // to after the first record delimiter.
  bool in_quotes = false;
  if (quoted) {
    auto at = offset_of(data());
    uint64_t nl = 0;
    uint64_t quotes = 0;
    count(even_pos_ <= at ? even_pos_ : 0, at, nl, quotes);
    in_quotes = (quotes & 1) != 0;
  }
  for (;;) {
    if (auto* nl = find_record_end(data(), limit(), quoted, in_quotes)) {
      consume(nl + 1);
      note_record_start(offset_of(nl + 1));
      return true;
    }
    consume(limit());
    if (eof_)
      return true; // no record starts in the rest of the file
    if (fill() == fill_result::would_block)
      return false;
  }
}

void split_reader::note_record_start(uint64_t offset) noexcept {
  even_pos_ = offset;
}

void split_reader::count(uint64_t from, uint64_t to, uint64_t& newlines,
                         uint64_t& quotes) {
  // A regular file is mapped (or empty); pipes are never counted.
  to = std::min<uint64_t>(to, map_size_);
  if (map_ != nullptr && map_path_ == path_ && from < to)
    count_bytes(map_ + from, static_cast<size_t>(to - from), newlines,
                quotes);
}

uint64_t split_reader::line_of(uint64_t offset) {
  if (!regular_)
    return 0;
  if (offset < line_pos_) {
    line_pos_ = 0;
    line_count_ = 0;
  }
  uint64_t quotes = 0;
  count(line_pos_, offset, line_count_, quotes);
  line_pos_ = offset;
  return line_count_ + 1;
}

std::string split_reader::first_record(bool quoted, bool& empty_file) {
  const char* p = map_;
  const char* e = map_ + map_size_;
  if (e - p >= 3 && std::memcmp(p, "\xEF\xBB\xBF", 3) == 0)
    p += 3;
  empty_file = p == e;
  bool in_quotes = false;
  auto* nl = find_record_end(p, e, quoted, in_quotes);
  auto* end = nl != nullptr ? nl : e;
  if (static_cast<size_t>(end - p) > max_record_bytes_)
    throw std::runtime_error("the first line of '" + path_
                             + "' is longer than "
                             + std::to_string(max_record_bytes_)
                             + " bytes; is it a text file?");
  if (end != p && end[-1] == '\r')
    --end;
  return std::string{p, end};
}

} // namespace libstream::detail
