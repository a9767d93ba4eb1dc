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

/// A generator's position: the splits a subtask reads, each the next index
/// and the stride of an arithmetic sequence (split k of p: k, k + p, ...).
using generator_position = std::vector<std::pair<uint64_t, uint64_t>>;

/// How many indices the splits of an encoded generator position have
/// emitted since the job first started (for tests and tools).
inline uint64_t generator_emitted(const std::string& position) {
  uint64_t n = 0;
  for (auto& [next, stride] : decode_value<generator_position>(position))
    n += next / stride; // the split's first index is below its stride
  return n;
}

/// Emits f(i) for i in [0, count) (count 0 = unbounded), split over the
/// subtasks: subtask k of p reads split k, the indices k, k + p, k + 2p,
/// ... With a rate (records/s for the whole source) it paces itself.
///
/// The splits are the unit of state, as Flink's source splits: a restore
/// with another parallelism gives old subtask j's splits to subtask
/// j mod p, and a subtask with several reads them merged in index order
/// (so event times derived from the index stay ordered per subtask); one
/// with none ends at once.
template <class T, class F>
class generator_source final : public source_operator<T> {
public:
  generator_source(uint64_t count, F fn, double rate)
      : count_(count), fn_(std::move(fn)), rate_(rate) {}

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    parallelism_ = static_cast<uint64_t>(ctx.parallelism());
    splits_ = {{static_cast<uint64_t>(ctx.subtask_index()), parallelism_}};
    start_ns_ = monotonic_now_ns();
  }

  typename source_operator<T>::poll_result poll() override {
    using poll_result = typename source_operator<T>::poll_result;
    if (cancelled_)
      return poll_result::finished;
    size_t budget = default_batch_records;
    if (rate_ > 0) {
      // Records this subtask may have emitted by now at its share of the rate.
      auto elapsed_s
          = static_cast<double>(monotonic_now_ns() - start_ns_) / 1e9;
      auto allowed = static_cast<uint64_t>(elapsed_s * rate_
                                           / static_cast<double>(parallelism_))
                     + 1;
      if (emitted_ >= allowed)
        return next_split() == nullptr ? poll_result::finished
                                       : poll_result::idle;
      budget
          = static_cast<size_t>(std::min<uint64_t>(budget, allowed - emitted_));
    }
    auto& out = this->out_.main();
    if (splits_.size() == 1) {
      auto& sp = splits_.front();
      for (size_t n = 0; n < budget && !done(sp); ++n) {
        out.collect(fn_(sp.first), no_timestamp);
        sp.first += sp.second;
        ++emitted_;
      }
    } else {
      for (size_t n = 0; n < budget; ++n) {
        auto* sp = next_split();
        if (sp == nullptr)
          break;
        out.collect(fn_(sp->first), no_timestamp);
        sp->first += sp->second;
        ++emitted_;
      }
    }
    out.flush();
    return next_split() == nullptr ? poll_result::finished : poll_result::more;
  }

  void cancel() override { cancelled_ = true; }

  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    out.source_position = encode_value(splits_);
  }

  /// Takes the splits of every old subtask j with j mod the parallelism
  /// = this subtask's index (as the sinks take their old subtasks' state):
  /// at the same parallelism each subtask resumes exactly its own splits.
  void restore_state(const operator_restore& from) override {
    splits_.clear();
    auto me = static_cast<uint64_t>(this->context().subtask_index());
    for (int j = 0; j < from.old_parallelism(); ++j) {
      if (static_cast<uint64_t>(j) % parallelism_ != me)
        continue;
      auto pos = from.source_position(j);
      if (pos.empty())
        continue;
      for (auto& sp : decode_value<generator_position>(pos)) {
        if (sp.second == 0)
          throw std::runtime_error("the generator source's checkpointed "
                                   "position has a split with stride 0");
        splits_.push_back(sp);
      }
    }
    emitted_ = 0; // the rate counts from the restart
    start_ns_ = monotonic_now_ns();
  }

private:
  bool done(const std::pair<uint64_t, uint64_t>& sp) const noexcept {
    return count_ > 0 && sp.first >= count_;
  }

  /// The split with the lowest next index that is not done, or null.
  std::pair<uint64_t, uint64_t>* next_split() noexcept {
    std::pair<uint64_t, uint64_t>* best = nullptr;
    for (auto& sp : splits_)
      if (!done(sp) && (best == nullptr || sp.first < best->first))
        best = &sp;
    return best;
  }

  uint64_t count_;
  F fn_;
  double rate_;
  uint64_t parallelism_ = 1;
  generator_position splits_;
  uint64_t emitted_ = 0; // since open or restore: for the rate
  int64_t start_ns_ = 0;
  bool cancelled_ = false;
};

} // namespace libstream
