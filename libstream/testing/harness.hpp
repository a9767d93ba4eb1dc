#pragma once

#include <algorithm>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/operator.hpp"

namespace libstream::testing {

/// Captures what an operator emits on one output.
template <class T>
class capture final : public operator_base, public record_sink<T> {
public:
  void process_batch(record_batch<T>& batch) override {
    for (auto& r : batch)
      records.push_back(std::move(r));
  }
  void process_watermark(timestamp wm) override { watermarks.push_back(wm); }
  void process_idleness(bool idle) override { idleness.push_back(idle); }
  void end_input() override { ended = true; }
  void flush() override {}
  void connect(const std::string&, operator_base&) override {
    throw std::logic_error("capture has no outputs");
  }

  std::vector<T> values() const {
    std::vector<T> xs;
    for (auto& r : records)
      xs.push_back(r.value);
    return xs;
  }

  std::vector<record<T>> records;
  std::vector<timestamp> watermarks;
  std::vector<bool> idleness;
  bool ended = false;
};

/// Drives one operator without actors, as Flink's operator test harnesses:
/// push records and watermarks, move the processing-time clock by hand, and
/// read what the operator emitted (main output, side outputs, watermarks).
template <class In, class Out>
class one_input_harness final : public operator_context {
public:
  explicit one_input_harness(std::unique_ptr<operator_base> op,
                             int subtask_index = 0, int parallelism = 1,
                             int max_parallelism = default_max_parallelism)
      : op_(std::move(op)), index_(subtask_index), parallelism_(parallelism),
        max_parallelism_(max_parallelism) {
    input_ = dynamic_cast<record_sink<In>*>(op_.get());
    if (input_ == nullptr)
      throw std::logic_error("the operator does not take this input type");
    op_->connect("", main_);
  }

  /// Declares and captures the side output `tag`; call before open().
  template <class T>
  capture<T>& side_output(const output_tag<T>& tag) {
    auto i = sides_.find(tag.id);
    if (i != sides_.end())
      return dynamic_cast<capture<T>&>(*i->second);
    auto* registry = op_->sides();
    if (registry == nullptr)
      throw std::logic_error("the operator has no side outputs");
    registry->get(tag);
    auto ptr = std::make_unique<capture<T>>();
    auto& ref = *ptr;
    op_->connect(tag.id, ref);
    sides_.emplace(tag.id, std::move(ptr));
    return ref;
  }

  /// Keeps keyed state in a LevelDB database under `dir` (call before
  /// open()); the database is removed with the operator.
  void use_leveldb(std::string dir, size_t cache_entries = 4096) {
    leveldb_dir_ = std::move(dir);
    leveldb_cache_entries_ = cache_entries;
  }

  state_backend_config state_backend() const override {
    state_backend_config cfg;
    if (!leveldb_dir_.empty()) {
      cfg.kind = state_backend_kind::leveldb;
      cfg.dir = leveldb_dir_;
      cfg.cache_entries = leveldb_cache_entries_;
    }
    return cfg;
  }

  std::string local_state_path(const operator_base&) const override {
    if (leveldb_dir_.empty())
      return operator_context::local_state_path(*op_);
    return leveldb_dir_ + "/subtask-" + std::to_string(index_);
  }

  void open() { op_->open(*this); }

  void process_element(In value, timestamp ts) {
    record_batch<In> batch;
    batch.push_back(record<In>{std::move(value), ts});
    input_->process_batch(batch);
  }

  void process_batch(record_batch<In> batch) { input_->process_batch(batch); }

  void process_watermark(timestamp wm) { op_->process_watermark(wm); }

  void process_idleness(bool idle) { op_->process_idleness(idle); }

  /// Moves the processing-time clock to `t` and delivers the callbacks that
  /// became due, in time order.
  void set_processing_time(timestamp t) {
    now_ = t;
    while (!requests_.empty() && requests_.begin()->first <= now_) {
      auto i = requests_.begin();
      auto* op = i->second;
      requests_.erase(i);
      op->on_processing_time(now_);
    }
    op_->flush();
  }

  void end_input() { op_->end_input(); }
  void close() { op_->close(); }

  capture<Out>& output() { return main_; }
  std::vector<Out> output_values() const { return main_.values(); }
  operator_base& op() { return *op_; }

  /// Returns the values emitted so far and forgets them.
  std::vector<Out> take_output() {
    auto xs = main_.values();
    main_.records.clear();
    return xs;
  }

  // -- operator_context
  // ---------------------------------------------------------

  const std::string& task_name() const override { return name_; }
  int subtask_index() const override { return index_; }
  int parallelism() const override { return parallelism_; }
  int max_parallelism() const override { return max_parallelism_; }
  timestamp current_processing_time() override { return now_; }
  void request_processing_time(operator_base* op, timestamp t) override {
    requests_.emplace(t, op);
  }

  void hold_input(operator_base* op, bool hold) override {
    if (hold)
      holders_.insert(op);
    else
      holders_.erase(op);
  }

  /// Wakers queue the operator; deliver_wakeups() runs them (the harness
  /// has no thread of its own).
  std::function<void()> make_waker(operator_base* op) override {
    auto queue = wakeups_;
    return [queue, op] {
      std::lock_guard<std::mutex> guard{queue->mtx};
      queue->ops.push_back(op);
    };
  }

  /// Calls on_wakeup() for every waker called so far; returns how many.
  size_t deliver_wakeups() {
    std::vector<operator_base*> ops;
    {
      std::lock_guard<std::mutex> guard{wakeups_->mtx};
      ops.swap(wakeups_->ops);
    }
    for (auto* op : ops)
      op->on_wakeup();
    op_->flush();
    return ops.size();
  }

  /// True while an operator holds the input (see hold_input).
  bool input_held() const { return !holders_.empty(); }

  size_t pending_processing_time_requests() const { return requests_.size(); }

private:
  std::unique_ptr<operator_base> op_;
  record_sink<In>* input_ = nullptr;
  capture<Out> main_;
  std::map<std::string, std::unique_ptr<operator_base>> sides_;
  std::multimap<timestamp, operator_base*> requests_;
  std::set<operator_base*> holders_;
  struct wakeup_queue {
    std::mutex mtx;
    std::vector<operator_base*> ops;
  };
  std::shared_ptr<wakeup_queue> wakeups_ = std::make_shared<wakeup_queue>();
  std::string name_ = "harness";
  int index_;
  int parallelism_;
  int max_parallelism_;
  timestamp now_ = 0;
  std::string leveldb_dir_;
  size_t leveldb_cache_entries_ = 4096;
};

} // namespace libstream::testing
