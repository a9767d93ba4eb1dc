#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "libstream/functions.hpp"
#include "libstream/operator.hpp"

namespace libstream {

/// The end of a pipeline, as Flink's SinkFunction.
template <class T>
class sink_function {
public:
  virtual ~sink_function() = default;
  virtual void open(const runtime_info& info) {}
  virtual void invoke(const T& value, timestamp ts) = 0;
  /// The buffer timeout passed: hand on what is buffered, if the sink
  /// buffers for latency's sake (optional).
  virtual void flush() {}

  /// The input ended (bounded stream): write out what is buffered.
  virtual void finish() {}

  /// True for a two-phase sink: what it writes up to finish() is staged,
  /// and published by commit() only once the whole job has finished
  /// without error (Flink's TwoPhaseCommitSinkFunction, with the end of
  /// the job as its one checkpoint). Its subtask waits for that before
  /// close().
  virtual bool transactional() const { return false; }

  /// Publishes what finish() staged. Called at most once, after finish()
  /// and before close(), when every subtask of the job finished its input.
  /// A close() without commit() (a failed or cancelled job) discards it.
  virtual void commit() {}

  virtual void close() {}
};

/// The common part of sink operators: records of type T in, no outputs,
/// watermarks and idleness end here, nothing buffered to flush unless a
/// sink says otherwise.
template <class T>
class sink_base : public operator_base, public record_sink<T> {
public:
  void process_watermark(timestamp) override {}
  void process_idleness(bool) override {}
  void flush() override {}
  void connect(const std::string&, operator_base&) override {
    throw std::logic_error("a sink has no outputs");
  }
};

template <class T>
class sink_operator final : public sink_base<T> {
public:
  explicit sink_operator(std::unique_ptr<sink_function<T>> fn)
      : fn_(std::move(fn)) {}

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    fn_->open(info_of(ctx));
  }

  void process_batch(record_batch<T>& batch) override {
    for (auto& r : batch)
      fn_->invoke(r.value, r.ts);
  }

  void end_input() override { fn_->finish(); }
  bool transactional() const override { return fn_->transactional(); }
  void commit() override { fn_->commit(); }
  void close() override { fn_->close(); }
  void flush() override { fn_->flush(); }

private:
  std::unique_ptr<sink_function<T>> fn_;
};

} // namespace libstream
