#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "libstream/operator.hpp"

namespace libstream {

/// A line of text and where it came from, so that a parse error can name
/// the file (or socket) and the line.
struct text_line {
  std::string origin;  // file path or host:port
  uint64_t number = 0; // 1-based line number
  std::string text;
};

/// Reads a text file line by line (bounded, non-parallel). A missing or
/// unreadable file fails the job at open() with the path in the message.
/// Trailing '\r' is stripped (CRLF files).
class text_file_source final : public source_operator<text_line> {
public:
  explicit text_file_source(std::string path);
  ~text_file_source() override;

  void open(operator_context& ctx) override;
  poll_result poll() override;
  void cancel() override;
  void close() override;

private:
  struct impl;
  std::string path_;
  std::unique_ptr<impl> impl_;
};

/// Reads lines from a TCP server (unbounded until the peer closes the
/// connection, as Flink's socketTextStream). Non-parallel. Connection
/// errors fail the job at open() naming host and port.
class socket_text_source final : public source_operator<text_line> {
public:
  socket_text_source(std::string host, uint16_t port, char delimiter = '\n');
  ~socket_text_source() override;

  void open(operator_context& ctx) override;
  poll_result poll() override;
  void cancel() override;
  void close() override;

private:
  std::string host_;
  uint16_t port_;
  char delimiter_;
  int fd_ = -1;
  std::string pending_;
  uint64_t line_ = 0;
  bool cancelled_ = false;
  bool eof_ = false;
};

} // namespace libstream
