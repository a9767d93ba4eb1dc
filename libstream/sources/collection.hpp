#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/operator.hpp"

namespace libstream {

/// Emits the elements of a vector in order, then ends (non-parallel).
template <class T>
class collection_source final : public source_operator<T> {
public:
  explicit collection_source(std::shared_ptr<const std::vector<T>> xs)
      : xs_(std::move(xs)) {}

  typename source_operator<T>::poll_result poll() override {
    using poll_result = typename source_operator<T>::poll_result;
    if (cancelled_ || pos_ >= xs_->size())
      return poll_result::finished;
    auto end = std::min(xs_->size(), pos_ + default_batch_records);
    auto& out = this->out_.main();
    for (; pos_ < end; ++pos_)
      out.collect((*xs_)[pos_], no_timestamp);
    out.flush();
    return pos_ < xs_->size() ? poll_result::more : poll_result::finished;
  }

  void cancel() override { cancelled_ = true; }

  /// The position: the index of the next element.
  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    out.source_position = encode_value(static_cast<uint64_t>(pos_));
  }

  void restore_state(const operator_restore& from) override {
    auto pos = from.source_position(0);
    if (pos.empty())
      return;
    pos_ = static_cast<size_t>(decode_value<uint64_t>(pos));
    if (pos_ > xs_->size())
      throw std::runtime_error("the collection source's checkpointed "
                               "position "
                               + std::to_string(pos_) + " lies beyond its "
                               + std::to_string(xs_->size()) + " elements");
  }

private:
  std::shared_ptr<const std::vector<T>> xs_;
  size_t pos_ = 0;
  bool cancelled_ = false;
};

/// Emits f(i) for i in [0, count) (count 0 = unbounded), split over the
/// subtasks: subtask k of p emits the indices k, k + p, k + 2p, ...
/// With a rate (records/s for the whole source) it paces itself.
template <class T, class F>
class generator_source final : public source_operator<T> {
public:
  generator_source(uint64_t count, F fn, double rate)
      : count_(count), fn_(std::move(fn)), rate_(rate) {}

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    index_ = static_cast<uint64_t>(ctx.subtask_index());
    stride_ = static_cast<uint64_t>(ctx.parallelism());
    start_ns_ = monotonic_now_ns();
  }

  typename source_operator<T>::poll_result poll() override {
    using poll_result = typename source_operator<T>::poll_result;
    if (cancelled_ || (count_ > 0 && index_ >= count_))
      return poll_result::finished;
    size_t budget = default_batch_records;
    if (rate_ > 0) {
      // Records this subtask may have emitted by now at its share of the rate.
      auto elapsed_s
          = static_cast<double>(monotonic_now_ns() - start_ns_) / 1e9;
      auto allowed = static_cast<uint64_t>(elapsed_s * rate_
                                           / static_cast<double>(stride_))
                     + 1;
      if (emitted_ >= allowed)
        return poll_result::idle;
      budget
          = static_cast<size_t>(std::min<uint64_t>(budget, allowed - emitted_));
    }
    auto& out = this->out_.main();
    for (size_t n = 0; n < budget; ++n) {
      if (count_ > 0 && index_ >= count_)
        break;
      out.collect(fn_(index_), no_timestamp);
      index_ += stride_;
      ++emitted_;
    }
    out.flush();
    if (count_ > 0 && index_ >= count_)
      return poll_result::finished;
    return poll_result::more;
  }

  void cancel() override { cancelled_ = true; }

  /// The position: the next index of this subtask and how many it emitted.
  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    out.source_position = encode_value(std::make_pair(index_, emitted_));
  }

  /// Resumes where subtask i of the checkpointed run stopped. The indices
  /// are split by stride, so the parallelism must be the same.
  void restore_state(const operator_restore& from) override {
    if (from.old_parallelism() != static_cast<int>(stride_))
      throw std::runtime_error(
          "the generator source was checkpointed with parallelism "
          + std::to_string(from.old_parallelism())
          + " and cannot resume with "
          + std::to_string(stride_)
          + " (its indices are split by stride): restore it with the same "
            "parallelism");
    auto pos = from.source_position(static_cast<int>(index_ % stride_));
    if (pos.empty())
      return;
    auto [index, emitted] = decode_value<std::pair<uint64_t, uint64_t>>(pos);
    if (index % stride_ != index_ % stride_)
      throw std::runtime_error("the generator source's checkpointed "
                               "position does not belong to this subtask");
    index_ = index;
    emitted_ = 0; // the rate counts from the restart
    start_ns_ = monotonic_now_ns();
    (void) emitted;
  }

private:
  uint64_t count_;
  F fn_;
  double rate_;
  uint64_t index_ = 0;
  uint64_t stride_ = 1;
  uint64_t emitted_ = 0;
  int64_t start_ns_ = 0;
  bool cancelled_ = false;
};

} // namespace libstream
