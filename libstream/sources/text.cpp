#include "libstream/sources/text.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

namespace libstream {

namespace {

/// A socket line longer than this fails the job rather than growing the
/// buffer without bound.
constexpr size_t max_line_bytes = 16 * 1024 * 1024;

} // namespace

// -- text file
// ------------------------------------------------------------------

struct text_file_source::impl {
  std::ifstream in;
  uint64_t line = 0;
  bool cancelled = false;
};

text_file_source::text_file_source(std::string path) : path_(std::move(path)) {}

text_file_source::~text_file_source() = default;

void text_file_source::open(operator_context& ctx) {
  operator_base::open(ctx);
  impl_ = std::make_unique<impl>();
  impl_->in.open(path_, std::ios::in | std::ios::binary);
  if (!impl_->in)
    throw std::runtime_error("cannot open input file '" + path_
                             + "': " + std::strerror(errno));
}

source_operator_base::poll_result text_file_source::poll() {
  if (impl_->cancelled)
    return poll_result::finished;
  auto& out = out_.main();
  std::string text;
  for (size_t n = 0; n < default_batch_records; ++n) {
    if (!std::getline(impl_->in, text)) {
      if (impl_->in.bad())
        throw std::runtime_error("error reading '" + path_ + "' after line "
                                 + std::to_string(impl_->line));
      out.flush();
      return poll_result::finished;
    }
    ++impl_->line;
    if (!text.empty() && text.back() == '\r')
      text.pop_back();
    out.collect(text_line{path_, impl_->line, std::move(text)}, no_timestamp);
    text = std::string{};
  }
  out.flush();
  return poll_result::more;
}

void text_file_source::cancel() {
  if (impl_)
    impl_->cancelled = true;
}

void text_file_source::close() {
  if (impl_)
    impl_->in.close();
}

// -- socket
// -----------------------------------------------------------------------

socket_text_source::socket_text_source(std::string host, uint16_t port,
                                       char delimiter)
    : host_(std::move(host)), port_(port), delimiter_(delimiter) {}

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
  if (pending_.size() > max_line_bytes)
    throw std::runtime_error("socket source " + origin + ": line "
                             + std::to_string(line_ + 1) + " is longer than "
                             + std::to_string(max_line_bytes)
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
