#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "libstream/config.hpp"
#include "libstream/data_stream.hpp"
#include "libstream/executor.hpp"
#include "libstream/job_builder.hpp"
#include "libstream/sources/collection.hpp"
#include "libstream/sources/file_source.hpp"
#include "libstream/sources/text.hpp"

namespace libstream {

/// The entry point of every job, as Flink's StreamExecutionEnvironment:
/// create sources, build the pipeline, execute(). By default a job runs on
/// an embedded mini-cluster (coordinator and node actors in this process).
class stream_execution_environment {
public:
  stream_execution_environment() : builder_(std::make_shared<job_builder>()) {}

  execution_config& config() { return builder_->config; }

  stream_execution_environment& set_parallelism(int p) {
    if (p < 1)
      throw std::invalid_argument("parallelism must be at least 1, got "
                                  + std::to_string(p));
    builder_->config.default_parallelism = p;
    return *this;
  }

  stream_execution_environment& set_max_parallelism(int p) {
    builder_->config.max_parallelism = p;
    return *this;
  }

  /// Milliseconds a partly filled buffer waits before it is sent; 0 sends
  /// every record at once.
  stream_execution_environment& set_buffer_timeout(duration_ms ms) {
    if (ms < 0)
      throw std::invalid_argument("the buffer timeout must not be negative");
    builder_->config.buffer_timeout = ms;
    return *this;
  }

  /// Runs jobs with `exec` instead of the embedded mini-cluster (for example
  /// inside an actor system the application already has).
  void set_executor(std::shared_ptr<job_executor> exec) {
    executor_ = std::move(exec);
  }

  // -- sources
  // ------------------------------------------------------------------

  /// The elements of `xs`, in order (non-parallel, bounded).
  template <class T>
  data_stream<T> from_collection(std::vector<T> xs,
                                 std::string name = "Collection Source") {
    auto shared = std::make_shared<const std::vector<T>>(std::move(xs));
    auto s = add_source<T>(std::move(name), [shared] {
      return std::make_unique<collection_source<T>>(shared);
    });
    builder_->node(s.id()).non_parallel = true;
    return s;
  }

  template <class T>
  data_stream<T> from_elements(std::initializer_list<T> xs) {
    return from_collection(std::vector<T>(xs));
  }

  /// f(i) for i in [0, count) (count 0 = unbounded), spread over the
  /// source's subtasks; `rate` > 0 limits records per second in total.
  template <class F, class T = std::decay_t<std::invoke_result_t<F&, uint64_t>>>
  data_stream<T> from_generator(uint64_t count, F f, double rate = 0,
                                std::string name = "Generator Source") {
    if (rate < 0)
      throw std::invalid_argument("the generator rate must not be negative");
    return add_source<T>(std::move(name), [count, f, rate] {
      return std::make_unique<generator_source<T, F>>(count, f, rate);
    });
  }

  /// The lines of a text file with their line numbers (bounded). A line
  /// longer than `max_line_bytes` fails the job naming file and line.
  data_stream<text_line>
  read_text_lines(std::string path,
                  size_t max_line_bytes = default_max_line_bytes,
                  double rate = 0) {
    auto s = add_source<text_line>(
        "Text File " + path, [path, max_line_bytes, rate] {
          return std::make_unique<text_file_source>(path, max_line_bytes,
                                                    rate);
        });
    builder_->node(s.id()).files_read.push_back(path);
    builder_->node(s.id()).non_parallel = true;
    return s;
  }

  /// Records decoded by `format` (text_lines_format, csv_format<T>) from
  /// the files and directories of `opts`, read in parallel splits by the
  /// source's subtasks (see file_source). Malformed records go to the
  /// `dead_letters` side output when given, else fail the job.
  template <class Format>
  data_stream<typename Format::record_type>
  read_files(file_source_options opts, Format format,
             std::optional<output_tag<text_line>> dead_letters = std::nullopt,
             std::string name = "File Source") {
    using R = typename Format::record_type;
    // Bad options fail here, before anything runs.
    file_source<Format> check{opts, format, dead_letters};
    auto paths = opts.paths;
    // A bounded source lists its input once, when the job is submitted.
    std::shared_ptr<detail::file_listing> listing;
    if (opts.monitor_interval == 0)
      listing = std::make_shared<detail::file_listing>();
    auto s = add_source<R>(std::move(name),
                           [opts, format, dead_letters, listing] {
                             return std::make_unique<file_source<Format>>(
                                 opts, format, dead_letters, listing);
                           });
    auto& node = builder_->node(s.id());
    for (auto& p : paths)
      node.files_read.push_back(p);
    if (listing)
      node.on_submit = [listing, opts] { listing->take(opts); };
    return s;
  }

  /// Records of type T from CSV files (see csv_format), in parallel.
  template <class T>
  data_stream<T>
  read_csv(std::string path, csv_format<T> format,
           std::optional<output_tag<text_line>> dead_letters = std::nullopt) {
    file_source_options opts;
    opts.paths.push_back(path);
    return read_files(std::move(opts), std::move(format),
                      std::move(dead_letters), "CSV File " + path);
  }

  /// The lines of a text file or of the files in a directory, as Flink's
  /// readTextFile, read in parallel splits.
  data_stream<std::string>
  read_text_file(std::string path,
                 size_t max_line_bytes = default_max_line_bytes) {
    file_source_options opts;
    opts.paths.push_back(path);
    opts.max_record_bytes = max_line_bytes;
    return read_files(std::move(opts), text_lines_format{}, std::nullopt,
                      "Text File " + path);
  }

  /// Lines from a TCP server, until it closes the connection.
  data_stream<text_line>
  socket_text_lines(std::string host, uint16_t port, char delimiter = '\n',
                    size_t max_line_bytes = default_max_line_bytes) {
    auto s = add_source<text_line>(
        "Socket " + host + ":" + std::to_string(port),
        [host, port, delimiter, max_line_bytes] {
          return std::make_unique<socket_text_source>(host, port, delimiter,
                                                      max_line_bytes);
        });
    builder_->node(s.id()).non_parallel = true;
    return s;
  }

  data_stream<std::string> socket_text_stream(std::string host, uint16_t port,
                                              char delimiter = '\n') {
    return socket_text_lines(std::move(host), port, delimiter)
        .map([](const text_line& l) { return l.text; }, "Line Text");
  }

  /// A source from a factory of source operators (one per subtask).
  template <class T, class Make>
  data_stream<T> add_source(std::string name, Make make) {
    auto& t = builder_->add(transformation_kind::source, std::move(name), {});
    t.output_type = typeid(T);
    t.make_operator
        = [make]() -> std::unique_ptr<operator_base> { return make(); };
    t.make_output = plain_output_factory<T>();
    return data_stream<T>{builder_, t.id};
  }

  // -- execution
  // ------------------------------------------------------------------

  /// The physical plan the job would run with: chains and partitioning.
  std::string explain() const { return builder_->plan().describe(); }

  /// Runs the job and blocks until it ends (bounded inputs). Throws
  /// job_failed with the cause when it fails; std::invalid_argument when the
  /// job is misconfigured (before anything runs).
  job_result execute(std::string job_name = "libstream job");

  /// Starts the job and returns at once; use the client to cancel or wait.
  std::shared_ptr<job_client> execute_async(std::string job_name
                                            = "libstream job");

  const std::shared_ptr<job_builder>& builder() const { return builder_; }

private:
  std::shared_ptr<job_builder> builder_;
  std::shared_ptr<job_executor> executor_;
};

} // namespace libstream
