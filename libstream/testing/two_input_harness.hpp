#pragma once

// Drives a two-input operator (connect(), joins) without actors: records,
// watermarks, idleness and the end of each input separately, combined by
// the runtime's own watermark_valve with one channel per input (the
// operator sees the minimum watermark of the inputs that are neither idle
// nor ended; a record makes its idle input active again; when every open
// input is idle the operator is idle), as Flink's
// TwoInputStreamOperatorTestHarness.

#include <memory>
#include <utility>
#include <vector>

#include "libstream/connected_streams.hpp"
#include "libstream/testing/harness.hpp"
#include "libstream/watermark_valve.hpp"

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
    apply(valve_.on_record(0));
    h_.process_element(tagged_type{std::in_place_index<0>, std::move(value)},
                       ts);
  }
  void process_element2(In2 value, timestamp ts) {
    apply(valve_.on_record(1));
    h_.process_element(tagged_type{std::in_place_index<1>, std::move(value)},
                       ts);
  }

  void process_watermark1(timestamp wm) { apply(valve_.on_watermark(0, wm)); }
  void process_watermark2(timestamp wm) { apply(valve_.on_watermark(1, wm)); }

  void process_idleness1(bool idle) { apply(valve_.on_idleness(0, idle)); }
  void process_idleness2(bool idle) { apply(valve_.on_idleness(1, idle)); }

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
  /// Passes on what the inputs' valve decided: idleness first, then the
  /// watermark (as the subtask actor does).
  void apply(const watermark_valve::change& c) {
    if (c.idle)
      h_.process_idleness(*c.idle);
    if (c.watermark)
      h_.process_watermark(*c.watermark);
  }

  void end(size_t i) {
    ended_[i] = true;
    apply(valve_.on_end(i));
    if (ended_[0] && ended_[1])
      h_.end_input();
  }

  one_input_harness<tagged_type, Out> h_;
  // The runtime's per-channel logic, one channel per input.
  watermark_valve valve_{2};
  bool ended_[2] = {false, false};
};

} // namespace libstream::testing
