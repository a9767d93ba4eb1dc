#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace libstream {

/// How a subtask with several input channels treats checkpoint barriers.
enum class checkpointing_mode {
  /// Barrier alignment (Flink's default): a channel that delivered barrier
  /// n is held until every channel has, so the snapshot reflects exactly
  /// the records before the barrier on every channel.
  exactly_once,
  /// No holding: the snapshot is taken when the last channel delivers the
  /// barrier; records after the barrier on faster channels are in it, so
  /// after a restore they count twice.
  at_least_once,
};

/// The per-subtask barrier handler (Flink's CheckpointBarrierHandler): it
/// sees barriers and ends of channels in arrival order and says when the
/// subtask snapshots its state and which channels it holds meanwhile. A
/// plain class, so that alignment is tested without actors; the subtask
/// actor routes its input through it.
///
/// Rules:
/// - Barrier n on a channel starts checkpoint n if none is pending. In
///   exactly-once mode the channel is held (its events wait, in order, in
///   the subtask) until the checkpoint is taken or abandoned.
/// - When every channel that has not ended delivered barrier n, the result
///   says `snapshot` n; all channels are released.
/// - A barrier newer than the pending checkpoint (the pending one was
///   abandoned upstream) abandons the pending one: its channels are
///   released and the newer one starts. Barriers older than the last
///   checkpoint started are ignored.
/// - An ended channel counts as having delivered every barrier.
class barrier_aligner {
public:
  /// What the subtask does after an event.
  struct decision {
    std::optional<uint64_t> snapshot;  // take checkpoint n now
    std::optional<uint64_t> abandoned; // checkpoint n will not be taken
    bool release = false;              // process the held channels again
  };

  barrier_aligner(size_t channels, checkpointing_mode mode)
      : mode_(mode), received_(channels, false), ended_(channels, false) {}

  checkpointing_mode mode() const noexcept { return mode_; }

  /// Checkpoint being aligned, if any.
  std::optional<uint64_t> pending() const noexcept { return pending_; }

  /// True while events of `ch` must wait (exactly-once, barrier delivered
  /// for the pending checkpoint).
  bool held(size_t ch) const {
    return mode_ == checkpointing_mode::exactly_once && pending_
           && received_.at(ch);
  }

  bool any_held() const noexcept {
    return mode_ == checkpointing_mode::exactly_once && pending_.has_value();
  }

  decision on_barrier(size_t ch, uint64_t id) {
    check(ch);
    decision d;
    if (last_started_ && id <= *last_started_ && pending_ != id)
      return d; // stale: that checkpoint was taken or abandoned here
    if (pending_ && id > *pending_) {
      d.abandoned = pending_;
      d.release = mode_ == checkpointing_mode::exactly_once;
      reset();
    }
    if (!pending_) {
      pending_ = id;
      last_started_ = id;
    }
    if (received_[ch])
      throw std::logic_error("input channel " + std::to_string(ch)
                             + " delivered barrier " + std::to_string(id)
                             + " twice");
    received_[ch] = true;
    complete(d);
    return d;
  }

  /// Channel `ch` ended: it no longer holds back a checkpoint.
  decision on_end(size_t ch) {
    check(ch);
    ended_[ch] = true;
    decision d;
    if (pending_)
      complete(d);
    return d;
  }

  /// The coordinator abandoned checkpoint `id` (timeout, failure): stop
  /// aligning it.
  decision abandon(uint64_t id) {
    decision d;
    // Its barriers may still arrive (from another sender than the abort):
    // they are stale from now on, whether or not alignment had started.
    last_started_ = std::max(last_started_.value_or(0), id);
    if (pending_ == id) {
      d.abandoned = id;
      d.release = mode_ == checkpointing_mode::exactly_once;
      reset();
    }
    return d;
  }

private:
  void check(size_t ch) const {
    if (ch >= received_.size())
      throw std::out_of_range("input channel " + std::to_string(ch)
                              + " does not exist (the subtask has "
                              + std::to_string(received_.size()) + ")");
  }

  void complete(decision& d) {
    for (size_t i = 0; i < received_.size(); ++i)
      if (!received_[i] && !ended_[i])
        return;
    d.snapshot = pending_;
    d.release = d.release || mode_ == checkpointing_mode::exactly_once;
    reset();
  }

  void reset() {
    pending_.reset();
    std::fill(received_.begin(), received_.end(), false);
  }

  checkpointing_mode mode_;
  std::vector<bool> received_;
  std::vector<bool> ended_;
  std::optional<uint64_t> pending_;
  std::optional<uint64_t> last_started_;
};

} // namespace libstream
