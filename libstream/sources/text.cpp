#include "libstream/sources/text.hpp"

#include "libstream/codec.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

namespace libstream {

// -- text file
// ------------------------------------------------------------------

struct text_file_source::impl {
  int fd = -1;
  std::vector<char> buf; // bytes [begin, end) are read and not yet emitted
  uint64_t base = 0;     // the file offset of buf[0]
  size_t begin = 0;
  size_t end = 0;
  uint64_t line = 0;
  bool eof = false;
  int64_t start_ns = 0;  // for the rate
  uint64_t emitted = 0;  // lines since start_ns

  ~impl() {
    if (fd >= 0)
      ::close(fd);
  }
};

namespace {

constexpr size_t read_chunk = 256 * 1024;

std::string system_error(int err) {
  return std::strerror(err);
}

} // namespace

text_file_source::text_file_source(std::string path, size_t max_line_bytes,
                                   double rate)
    : path_(std::move(path)), max_line_bytes_(max_line_bytes), rate_(rate) {
  if (max_line_bytes_ == 0)
    throw std::invalid_argument("the maximum line length must be positive");
  if (rate_ < 0)
    throw std::invalid_argument("the line rate must not be negative");
}

text_file_source::~text_file_source() = default;

void text_file_source::open(operator_context& ctx) {
  operator_base::open(ctx);
  impl_ = std::make_unique<impl>();
  // Non-blocking, so that a pipe without data (or a FIFO whose writer
  // waits) never blocks the subtask's thread: a cancel is always heard.
  impl_->fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (impl_->fd < 0)
    throw std::runtime_error("cannot open input file '" + path_
                             + "': " + system_error(errno));
  struct stat st {};
  if (::fstat(impl_->fd, &st) == 0 && S_ISDIR(st.st_mode))
    throw std::runtime_error("cannot read input file '" + path_
                             + "': it is a directory; name a file");
  impl_->buf.resize(read_chunk);
}

source_operator_base::poll_result text_file_source::poll() {
  auto& d = *impl_;
  if (cancelled_)
    return poll_result::finished;
  auto& out = out_.main();
  auto emit = [&](const char* first, size_t n) {
    ++d.line;
    if (n > 0 && first[n - 1] == '\r')
      --n;
    if (d.line == 1 && n >= 3 && std::memcmp(first, "\xEF\xBB\xBF", 3) == 0) {
      first += 3; // a UTF-8 byte order mark is not text
      n -= 3;
    }
    out.collect(text_line{path_, d.line, std::string{first, n}}, no_timestamp);
  };
  // The length of a line without a '\r' that ends it.
  auto text_length = [](const char* first, size_t n) {
    return n > 0 && first[n - 1] == '\r' ? n - 1 : n;
  };
  auto too_long = [&] {
    return std::runtime_error(
        "input file '" + path_ + "': line " + std::to_string(d.line + 1)
        + " is longer than " + std::to_string(max_line_bytes_)
        + " bytes; is it a text file? (the limit is the max_line_bytes "
          "argument of read_text_lines)");
  };
  size_t budget = default_batch_records;
  if (rate_ > 0) {
    if (d.start_ns == 0)
      d.start_ns = monotonic_now_ns();
    auto elapsed_s = static_cast<double>(monotonic_now_ns() - d.start_ns) / 1e9;
    auto allowed = static_cast<uint64_t>(elapsed_s * rate_) + 1;
    if (d.emitted >= allowed)
      return poll_result::idle;
    budget = static_cast<size_t>(
        std::min<uint64_t>(budget, allowed - d.emitted));
  }
  size_t emitted = 0;
  struct count_emitted {
    impl& d;
    size_t& n;
    ~count_emitted() { d.emitted += n; }
  } counter{d, emitted};
  while (emitted < budget) {
    // Emit the complete lines in the buffer.
    while (emitted < budget) {
      auto* first = d.buf.data() + d.begin;
      auto avail = d.end - d.begin;
      auto* nl = static_cast<const char*>(std::memchr(first, '\n', avail));
      if (nl == nullptr)
        break;
      auto n = static_cast<size_t>(nl - first);
      if (text_length(first, n) > max_line_bytes_)
        throw too_long();
      emit(first, n);
      d.begin += n + 1;
      ++emitted;
    }
    if (emitted >= budget)
      break;
    if (d.eof) {
      if (d.begin < d.end) {
        auto n = d.end - d.begin;
        if (text_length(d.buf.data() + d.begin, n) > max_line_bytes_)
          throw too_long();
        emit(d.buf.data() + d.begin, n);
        d.begin = d.end;
      }
      out.flush();
      return poll_result::finished;
    }
    // An incomplete line is left: move it to the front and read more.
    auto pending = d.end - d.begin;
    if (pending > max_line_bytes_ + 1)
      throw too_long();
    if (d.begin > 0) {
      std::memmove(d.buf.data(), d.buf.data() + d.begin, pending);
      d.base += d.begin;
      d.begin = 0;
      d.end = pending;
    }
    if (d.buf.size() - d.end < read_chunk / 2)
      d.buf.resize(std::max(d.buf.size() * 2, d.end + read_chunk));
    auto n = ::read(d.fd, d.buf.data() + d.end, d.buf.size() - d.end);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        out.flush();
        return poll_result::idle; // a pipe without data for now
      }
      throw std::runtime_error("error reading input file '" + path_
                               + "' after line " + std::to_string(d.line)
                               + ": " + system_error(errno));
    }
    if (n == 0)
      d.eof = true;
    d.end += static_cast<size_t>(n);
  }
  out.flush();
  return poll_result::more;
}

void text_file_source::cancel() {
  cancelled_ = true;
}

void text_file_source::restore_state(const operator_restore& from) {
  auto pos = from.source_position(0);
  if (pos.empty())
    return;
  auto [offset, line] = decode_value<std::pair<uint64_t, uint64_t>>(pos);
  struct stat st {};
  if (::fstat(impl_->fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw std::runtime_error("cannot resume reading '" + path_
                             + "' at a checkpointed position: it is not a "
                               "regular file");
  if (offset > static_cast<uint64_t>(st.st_size))
    throw std::runtime_error("cannot resume reading '" + path_ + "' at byte "
                             + std::to_string(offset) + ": the file has only "
                             + std::to_string(st.st_size)
                             + " bytes now (was it replaced?)");
  if (::lseek(impl_->fd, static_cast<off_t>(offset), SEEK_SET) < 0)
    throw std::runtime_error("cannot seek in '" + path_
                             + "': " + system_error(errno));
  impl_->base = offset;
  impl_->begin = impl_->end = 0;
  impl_->line = line;
}

void text_file_source::snapshot_state(uint64_t, operator_state_snapshot& out) {
  // The offset of the next line not emitted, and its number minus one.
  uint64_t offset = impl_ ? impl_->base + impl_->begin : 0;
  uint64_t line = impl_ ? impl_->line : 0;
  out.source_position = encode_value(std::make_pair(offset, line));
}

void text_file_source::close() {
  if (impl_ && impl_->fd >= 0) {
    ::close(impl_->fd);
    impl_->fd = -1;
  }
}

// -- socket
// -----------------------------------------------------------------------

socket_text_source::socket_text_source(std::string host, uint16_t port,
                                       char delimiter, size_t max_line_bytes)
    : host_(std::move(host)), port_(port), delimiter_(delimiter),
      max_line_bytes_(max_line_bytes) {
  if (max_line_bytes_ == 0)
    throw std::invalid_argument("the maximum line length must be positive");
}

socket_text_source::~socket_text_source() {
  if (fd_ >= 0)
    ::close(fd_);
}

void socket_text_source::open(operator_context& ctx) {
  operator_base::open(ctx);
  auto where = host_ + ":" + std::to_string(port_);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  auto port = std::to_string(port_);
  if (auto rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res);
      rc != 0)
    throw std::runtime_error("cannot resolve socket source " + where + ": "
                             + ::gai_strerror(rc));
  std::string last_error = "no address";
  for (auto* ai = res; ai != nullptr; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      fd_ = fd;
      break;
    }
    last_error = std::strerror(errno);
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (fd_ < 0)
    throw std::runtime_error("cannot connect socket source to " + where + ": "
                             + last_error);
  ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
}

source_operator_base::poll_result socket_text_source::poll() {
  if (cancelled_)
    return poll_result::finished;
  auto& out = out_.main();
  auto origin = host_ + ":" + std::to_string(port_);
  char buf[64 * 1024];
  bool got = false;
  while (!eof_) {
    auto n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      pending_.append(buf, static_cast<size_t>(n));
      got = true;
      if (pending_.size() > 1024 * 1024)
        break; // split what is there into lines first
      continue;
    }
    if (n == 0) {
      eof_ = true;
      break;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      break;
    if (errno == EINTR)
      continue;
    throw std::runtime_error("error reading socket source " + origin + ": "
                             + std::strerror(errno));
  }
  size_t start = 0;
  for (;;) {
    auto pos = pending_.find(delimiter_, start);
    if (pos == std::string::npos)
      break;
    auto text = pending_.substr(start, pos - start);
    if (!text.empty() && text.back() == '\r')
      text.pop_back();
    out.collect(text_line{origin, ++line_, std::move(text)}, no_timestamp);
    start = pos + 1;
  }
  pending_.erase(0, start);
  if (pending_.size() > max_line_bytes_)
    throw std::runtime_error("socket source " + origin + ": line "
                             + std::to_string(line_ + 1) + " is longer than "
                             + std::to_string(max_line_bytes_)
                             + " bytes without a delimiter");
  if (eof_) {
    if (!pending_.empty()) {
      if (pending_.back() == '\r')
        pending_.pop_back();
      out.collect(text_line{origin, ++line_, std::move(pending_)},
                  no_timestamp);
    }
    pending_.clear();
    out.flush();
    return poll_result::finished;
  }
  out.flush();
  return got ? poll_result::more : poll_result::idle;
}

void socket_text_source::cancel() {
  cancelled_ = true;
}

void socket_text_source::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

} // namespace libstream
