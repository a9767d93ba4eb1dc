#pragma once

#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string_view>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "libstream/sinks/sink.hpp"
#include "libstream/sinks/staged_file.hpp"

namespace libstream {

/// Creates directory `path` unless it exists; throws with the reason.
void make_directory_or_throw(const std::string& path);

/// The file of subtask `index` of a parallel file sink writing to `dir`.
std::string part_file_path(const std::string& dir, int index);

/// Removes `dir/part-<i>` for every i >= `first` (left by an earlier run
/// with a higher parallelism). Best effort.
void remove_part_files_from(const std::string& dir, int first);

template <class T, class = void>
struct is_printable : std::false_type {};

template <class T>
struct is_printable<T, std::void_t<decltype(std::declval<std::ostream&>()
                                            << std::declval<const T&>())>>
    : std::true_type {};

/// Writes whole lines to the process's standard output (file descriptor
/// 1) with write(2), under a process-wide lock, so that lines of
/// concurrent subtasks never interleave and a line is never cut by a
/// buffer boundary. Every write is checked: a failure (a full disk, a
/// closed pipe with SIGPIPE ignored) throws std::runtime_error with the
/// system's reason. Flushes std::cout first, so output the application
/// printed through it keeps its place.
void write_stdout(std::string_view whole_lines);

/// Writes each record with operator<< (or `format`) as one line to stdout;
/// with parallelism > 1 each line is prefixed by "<subtask>> " as in Flink.
/// Lines are buffered per subtask and written whole (see write_stdout) when
/// the buffer fills, at the buffer timeout and at the end; a failed write
/// fails the job.
template <class T>
class print_sink final : public sink_function<T> {
public:
  using format_fn = std::function<std::string(const T&)>;

  /// `header`, if any, is printed once, by the first subtask, at open().
  explicit print_sink(std::string prefix = "", format_fn format = nullptr,
                      std::string header = "")
      : prefix_(std::move(prefix)), format_(std::move(format)),
        header_(std::move(header)) {
    if constexpr (!is_printable<T>::value)
      if (!format_)
        throw std::invalid_argument("print() of a type without operator<< "
                                    "needs a format function");
  }

  void open(const runtime_info& info) override {
    if (info.parallelism > 1)
      prefix_ += std::to_string(info.subtask_index + 1) + "> ";
    if (!header_.empty() && info.subtask_index == 0)
      write_stdout(header_ + "\n");
  }

  void invoke(const T& value, timestamp) override {
    buffer_ += prefix_;
    if (format_) {
      buffer_ += format_(value);
    } else if constexpr (is_printable<T>::value) {
      std::ostringstream os;
      os << value;
      buffer_ += os.str();
    }
    buffer_ += '\n';
    if (buffer_.size() >= flush_bytes)
      write_out();
  }

  /// The buffer timeout passed: what was printed shows now.
  void flush() override { write_out(); }

  void finish() override { write_out(); }

  /// Also on cancellation: the whole lines printed so far are written.
  void close() override {
    try {
      write_out();
    } catch (...) {
      buffer_.clear(); // close() of a cancelled job reports nothing
    }
  }

private:
  static constexpr size_t flush_bytes = 64 * 1024;

  void write_out() {
    if (buffer_.empty())
      return;
    std::string lines;
    lines.swap(buffer_);
    write_stdout(lines);
  }

  std::string prefix_;
  format_fn format_;
  std::string header_;
  std::string buffer_;
};

/// Writes one line per record to a file, as a two-phase sink: the file is
/// staged under a hidden temporary name and appears at its path only when
/// the whole job has finished without error (see staged_file); a failed
/// or cancelled job leaves any earlier file at the path untouched. With
/// parallelism 1 the file is `path`; with more, `path` is a directory
/// holding one `part-<i>` file per subtask (and part files of an earlier
/// run with a higher parallelism are removed when the job commits). An
/// optional header line starts each file. Errors name the path and the
/// system's reason.
template <class T>
class file_sink final : public sink_function<T> {
public:
  using format_fn = std::function<std::string(const T&)>;

  file_sink(std::string path, format_fn format, std::string header = "")
      : path_(std::move(path)), format_(std::move(format)),
        header_(std::move(header)) {
    if (!format_)
      throw std::invalid_argument("file_sink needs a format function");
  }

  void open(const runtime_info& info) override {
    auto file = path_;
    parallelism_ = info.parallelism;
    index_ = info.subtask_index;
    if (info.parallelism > 1) {
      make_directory_or_throw(path_);
      file = part_file_path(path_, info.subtask_index);
    }
    out_ = std::make_unique<staged_file>(file);
    out_->open();
    if (!header_.empty())
      out_->write_line(header_);
  }

  void invoke(const T& value, timestamp) override {
    out_->write_line(format_(value));
  }

  void finish() override { out_->finish(); }

  bool transactional() const override { return true; }

  void commit() override {
    out_->publish();
    if (parallelism_ > 1 && index_ == 0)
      remove_part_files_from(path_, parallelism_);
  }

  void close() override {
    if (out_)
      out_->discard();
  }

private:
  std::string path_;
  format_fn format_;
  std::string header_;
  std::unique_ptr<staged_file> out_;
  int parallelism_ = 1;
  int index_ = 0;
};

/// Records collected by collect_sink, shared by all its subtasks; read them
/// after execute() returned.
template <class T>
class collected {
public:
  void add(std::vector<T> xs) {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& x : xs)
      values_.push_back(std::move(x));
  }

  std::vector<T> values() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return values_;
  }

  size_t size() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return values_.size();
  }

private:
  mutable std::mutex mtx_;
  std::vector<T> values_;
};

/// Collects every record into a shared vector (for tests and small jobs).
template <class T>
class collect_sink final : public sink_function<T> {
public:
  explicit collect_sink(std::shared_ptr<collected<T>> target)
      : target_(std::move(target)) {}

  void invoke(const T& value, timestamp) override {
    buffer_.push_back(value);
    if (buffer_.size() >= 4096) {
      target_->add(std::move(buffer_));
      buffer_.clear();
    }
  }

  void finish() override {
    target_->add(std::move(buffer_));
    buffer_.clear();
  }

  /// After finish() nothing is left; a failed or cancelled job's partial
  /// buffer is dropped, not added to the results.
  void close() override { buffer_.clear(); }

private:
  std::shared_ptr<collected<T>> target_;
  std::vector<T> buffer_;
};

} // namespace libstream
