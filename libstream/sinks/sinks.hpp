#pragma once

#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "libstream/sinks/sink.hpp"

namespace libstream {

template <class T, class = void>
struct is_printable : std::false_type {};

template <class T>
struct is_printable<T, std::void_t<decltype(std::declval<std::ostream&>()
                                            << std::declval<const T&>())>>
    : std::true_type {};

/// Serialises whole lines written by concurrent subtasks to one stream.
std::mutex& output_mutex();

/// Writes each record with operator<< (or `format`) as one line to stdout;
/// with parallelism > 1 each line is prefixed by "<subtask>> " as in Flink.
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
    if (!header_.empty() && info.subtask_index == 0) {
      std::lock_guard<std::mutex> guard{output_mutex()};
      std::cout << header_ << '\n';
    }
  }

  void invoke(const T& value, timestamp) override {
    std::string line = prefix_;
    if (format_) {
      line += format_(value);
    } else if constexpr (is_printable<T>::value) {
      std::ostringstream os;
      os << value;
      line += os.str();
    }
    line += '\n';
    std::lock_guard<std::mutex> guard{output_mutex()};
    std::cout << line;
  }

  void finish() override {
    std::lock_guard<std::mutex> guard{output_mutex()};
    std::cout.flush();
  }

private:
  std::string prefix_;
  format_fn format_;
  std::string header_;
};

/// Writes one line per record to a file. With parallelism 1 the file is
/// `path`; with more, `path` is a directory holding one `part-<i>` file per
/// subtask. An optional header line starts each file. Errors name the path.
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
    if (info.parallelism > 1) {
      make_directory(path_);
      file = path_ + "/part-" + std::to_string(info.subtask_index);
    }
    out_.open(file, std::ios::out | std::ios::trunc | std::ios::binary);
    if (!out_)
      throw std::runtime_error("cannot open output file '" + file + "'");
    file_ = file;
    if (!header_.empty())
      out_ << header_ << '\n';
  }

  void invoke(const T& value, timestamp) override {
    out_ << format_(value) << '\n';
  }

  void finish() override {
    out_.flush();
    if (!out_)
      throw std::runtime_error("error writing output file '" + file_ + "'");
  }

  void close() override { out_.close(); }

private:
  static void make_directory(const std::string& path);

  std::string path_;
  std::string file_;
  format_fn format_;
  std::string header_;
  std::ofstream out_;
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

void make_directory_or_throw(const std::string& path);

template <class T>
void file_sink<T>::make_directory(const std::string& path) {
  make_directory_or_throw(path);
}

} // namespace libstream
