#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "libstream/codec.hpp"

#include "libstream/operator.hpp"

namespace libstream {

/// A line of text and where it came from, so that a parse error can name
/// the file (or socket) and the line.
struct text_line {
  std::string origin;  // file path or host:port
  uint64_t number = 0; // 1-based line number
  std::string text;
};

/// Dead letters cross nodes in a cluster.
template <>
struct codec<text_line> : member_codec<text_line, &text_line::origin,
                                       &text_line::number, &text_line::text> {};

/// Lines longer than this (without their delimiter) fail the job rather
/// than growing a buffer without bound; the text sources take another limit
/// as a constructor argument.
inline constexpr size_t default_max_line_bytes = 16 * 1024 * 1024;

/// Reads a text file line by line (bounded, non-parallel). A missing or
/// unreadable file (a directory, a device that fails to read) fails the
/// job with the path and the system's reason. A trailing '\r' is stripped
/// (CRLF files), and a UTF-8 byte order mark at the start of the file is
/// not part of line 1. A line longer than `max_line_bytes` fails the job
/// with the file and the line number. A pipe or FIFO is read without
/// blocking the subtask: while it has no data the source is idle.
class text_file_source final : public source_operator<text_line> {
public:
  /// `rate` > 0 caps the lines per second (for demos and fault tests).
  explicit text_file_source(std::string path,
                            size_t max_line_bytes = default_max_line_bytes,
                            double rate = 0);
  ~text_file_source() override;

  void open(operator_context& ctx) override;
  poll_result poll() override;
  void cancel() override;
  void close() override;
  /// The position: byte offset and number of the next line.
  void snapshot_state(uint64_t checkpoint_id,
                      operator_state_snapshot& out) override;
  /// Seeks to the checkpointed position (a regular file only).
  void restore_state(const operator_restore& from) override;

private:
  struct impl;
  std::string path_;
  size_t max_line_bytes_;
  double rate_;
  bool cancelled_ = false; // also before open()
  std::unique_ptr<impl> impl_;
};

/// Reads lines from a TCP server (unbounded until the peer closes the
/// connection, as Flink's socketTextStream). Not replayable: a checkpoint
/// records no position for it, and after a restore it reads on from
/// whatever the server sends then. Non-parallel. Connection
/// errors fail the job at open() naming host and port.
class socket_text_source final : public source_operator<text_line> {
public:
  socket_text_source(std::string host, uint16_t port, char delimiter = '\n',
                     size_t max_line_bytes = default_max_line_bytes);
  ~socket_text_source() override;

  void open(operator_context& ctx) override;
  poll_result poll() override;
  void cancel() override;
  void close() override;

private:
  std::string host_;
  uint16_t port_;
  char delimiter_;
  size_t max_line_bytes_;
  int fd_ = -1;
  std::string pending_;
  uint64_t line_ = 0;
  bool cancelled_ = false;
  bool eof_ = false;
};

} // namespace libstream
