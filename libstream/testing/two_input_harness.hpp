#pragma once

// Drives a two-input operator (connect(), joins) without actors: records,
// watermarks, idleness and the end of each input separately, combined the
// way the runtime combines channels (the operator sees the minimum
// watermark of the inputs that are not idle, an ended input counts as
// done), as Flink's TwoInputStreamOperatorTestHarness.

#include <algorithm>
#include <memory>
#include <utility>
#include <vector>

#include "libstream/connected_streams.hpp"
#include "libstream/testing/harness.hpp"

namespace libstream::testing {

template <class In1, class In2, class Out>
class two_input_harness {
public:
  using tagged_type = tagged<In1, In2>;

  /// `op` takes tagged<In1, In2> records (make_co_process_operator,
  /// make_keyed_co_process_operator, the join operators).
  explicit two_input_harness(std::unique_ptr<operator_base> op,
                             int subtask_index = 0, int parallelism = 1,
                             int max_parallelism = default_max_parallelism)
      : h_(std::move(op), subtask_index, parallelism, max_parallelism) {}

  void open() { h_.open(); }
  void close() { h_.close(); }

  void process_element1(In1 value, timestamp ts) {
    h_.process_element(tagged_type{std::in_place_index<0>, std::move(value)},
                       ts);
  }
  void process_element2(In2 value, timestamp ts) {
    h_.process_element(tagged_type{std::in_place_index<1>, std::move(value)},
                       ts);
  }

  void process_watermark1(timestamp wm) { advance(0, wm); }
  void process_watermark2(timestamp wm) { advance(1, wm); }

  void process_idleness1(bool idle) { set_idle(0, idle); }
  void process_idleness2(bool idle) { set_idle(1, idle); }

  /// The end of one input; the operator's input ends with both.
  void end_input1() { end(0); }
  void end_input2() { end(1); }

  void set_processing_time(timestamp t) { h_.set_processing_time(t); }

  template <class T>
  capture<T>& side_output(const output_tag<T>& tag) {
    return h_.side_output(tag);
  }
  capture<Out>& output() { return h_.output(); }
  std::vector<Out> output_values() const { return h_.output_values(); }
  std::vector<Out> take_output() { return h_.take_output(); }
  /// The watermarks the operator emitted.
  const std::vector<timestamp>& watermarks() { return h_.output().watermarks; }
  operator_base& op() { return h_.op(); }
  one_input_harness<tagged_type, Out>& inner() { return h_; }

private:
  struct input {
    timestamp wm = min_watermark;
    bool idle = false;
    bool ended = false;
  };

  void advance(int i, timestamp wm) {
    in_[i].wm = std::max(in_[i].wm, wm);
    if (in_[i].idle)
      set_idle(i, false);
    else
      forward();
  }

  void set_idle(int i, bool idle) {
    in_[i].idle = idle;
    bool all_idle = std::all_of(std::begin(in_), std::end(in_),
                                [](const input& x) {
                                  return x.idle || x.ended;
                                });
    if (all_idle != idle_) {
      idle_ = all_idle;
      h_.process_idleness(all_idle);
    }
    if (!all_idle)
      forward();
  }

  void end(int i) {
    in_[i].ended = true;
    in_[i].wm = max_watermark;
    if (in_[0].ended && in_[1].ended) {
      forward();
      h_.end_input();
    } else {
      forward();
    }
  }

  /// The combined watermark: the minimum over inputs that are neither idle
  /// nor ended (an ended input's watermark is the maximum), when it moved.
  void forward() {
    timestamp wm = max_watermark;
    bool any = false;
    for (auto& x : in_)
      if (!x.idle || x.ended) {
        wm = std::min(wm, x.wm);
        any = true;
      }
    if (!any || wm <= combined_)
      return;
    combined_ = wm;
    h_.process_watermark(wm);
  }

  one_input_harness<tagged_type, Out> h_;
  input in_[2];
  timestamp combined_ = min_watermark;
  bool idle_ = false;
};

} // namespace libstream::testing
