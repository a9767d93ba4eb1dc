#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "libstream/data_stream.hpp"
#include "libstream/window/assigners.hpp"
#include "libstream/window/triggers.hpp"
#include "libstream/window/window.hpp"
#include "libstream/window/window_operator.hpp"

namespace libstream {

/// A keyed stream grouped into windows, as Flink's WindowedStream (and
/// AllWindowedStream when made by window_all). Configure the trigger,
/// allowed lateness and late-data side output, then apply a window
/// function.
template <class T, class K, class Assigner>
class windowed_stream {
public:
  using window_type = typename Assigner::window_type;

  windowed_stream(keyed_stream<T, K> input, Assigner assigner,
                  bool non_parallel)
      : input_(std::move(input)), assigner_(std::move(assigner)),
        non_parallel_(non_parallel) {}

  /// Replaces the assigner's default trigger. Takes either a factory
  /// called once per subtask, `[] { return count_trigger<W>::of(3); }`, or
  /// a trigger by value, `count_trigger<W>{3}`, copied for each subtask.
  /// Never one trigger object for all subtasks: a trigger with member
  /// state would race between their threads.
  template <class Tr>
  windowed_stream& trigger(Tr t) {
    using W = window_type;
    if constexpr (std::is_base_of_v<libstream::trigger<W>, Tr>) {
      opts_.trigger = [t]() -> trigger_ptr<W> {
        return std::make_shared<Tr>(t);
      };
    } else {
      static_assert(std::is_invocable_v<Tr&>,
                    "trigger() takes a factory ([] { return "
                    "count_trigger<W>::of(3); }) or a trigger by value, not "
                    "a shared trigger object (it would be shared by all "
                    "subtasks)");
      opts_.trigger = [t]() mutable -> trigger_ptr<W> { return t(); };
    }
    return *this;
  }

  /// Keeps window state this long after the window's end (event time), so
  /// that late elements update the result with a late firing.
  windowed_stream& allowed_lateness(duration_ms ms) {
    if (ms < 0)
      throw std::invalid_argument("allowed lateness must not be negative");
    opts_.allowed_lateness = ms;
    return *this;
  }

  /// Sends elements that arrive after their window's allowed lateness to
  /// the side output `tag` (read it with get_side_output) instead of
  /// dropping them.
  windowed_stream& side_output_late_data(output_tag<T> tag) {
    opts_.late_data_tag = std::move(tag);
    return *this;
  }

  /// Evicts elements of a window before and/or after the window function
  /// (see window/evictors.hpp): a built-in (`count_evictor::of(3)`,
  /// `time_evictor::of(1000)`, `delta_evictor::of(threshold, delta)`), an
  /// evictor<T, W> by value (copied for each subtask), or a factory
  /// returning a std::unique_ptr<evictor<T, W>>. The window then keeps
  /// every element: reduce and aggregate run over what is left when it
  /// fires.
  template <class E>
  windowed_stream& evictor(E e) {
    using W = window_type;
    if constexpr (std::is_base_of_v<detail::evictor_spec, E>) {
      opts_.evictor = [e] { return e.template make<T, W>(); };
    } else if constexpr (std::is_base_of_v<libstream::evictor<T, W>, E>) {
      opts_.evictor = [e]() -> std::unique_ptr<libstream::evictor<T, W>> {
        return std::make_unique<E>(e);
      };
    } else {
      static_assert(std::is_invocable_v<E&>,
                    "evictor() takes a built-in evictor, an evictor<T, W> "
                    "by value, or a factory returning a "
                    "std::unique_ptr<evictor<T, W>>");
      opts_.evictor = [e]() mutable -> std::unique_ptr<libstream::evictor<T, W>> {
        return e();
      };
    }
    return *this;
  }

  /// Folds each window with T f(const T&, const T&).
  template <class F>
  data_stream<T> reduce(F f, std::string name = "Window Reduce") {
    auto key = input_.key();
    auto a = assigner_;
    auto opts = opts_;
    return add<T>(std::move(name), [key, a, opts, f] {
      return make_reduce_window_operator<K, T>(key, a, opts, f);
    });
  }

  /// Folds each window with `f`, then hands the result with the window's
  /// metadata to the process window function made by `make`.
  template <class F, class Make>
  auto reduce(F f, Make make, std::string name = "Window Reduce/Process") {
    using fn_type = typename std::invoke_result_t<Make&>::element_type;
    using out = typename fn_type::output_type;
    auto key = input_.key();
    auto a = assigner_;
    auto opts = opts_;
    return add<out>(std::move(name), [key, a, opts, f, make] {
      return make_reduce_process_window_operator<K, T, out>(key, a, opts, f,
                                                            make());
    });
  }

  /// Aggregates each window incrementally (see aggregate_function).
  template <class Agg>
  data_stream<typename Agg::output_type>
  aggregate(Agg agg, std::string name = "Window Aggregate") {
    auto key = input_.key();
    auto a = assigner_;
    auto opts = opts_;
    return add<typename Agg::output_type>(std::move(name), [key, a, opts, agg] {
      return make_aggregate_window_operator<K, T>(key, a, opts, agg);
    });
  }

  /// Aggregates incrementally, then hands the aggregate with the window's
  /// metadata to the process window function made by `make`.
  template <class Agg, class Make>
  auto aggregate(Agg agg, Make make,
                 std::string name = "Window Aggregate/Process") {
    using fn_type = typename std::invoke_result_t<Make&>::element_type;
    using out = typename fn_type::output_type;
    auto key = input_.key();
    auto a = assigner_;
    auto opts = opts_;
    return add<out>(std::move(name), [key, a, opts, agg, make] {
      return make_aggregate_process_window_operator<K, T, out>(key, a, opts,
                                                               agg, make());
    });
  }

  /// Buffers every element of a window and hands them all, with the
  /// window's metadata, to the process window function made by `make`.
  template <class Make>
  auto process(Make make, std::string name = "Window Process") {
    using fn_type = typename std::invoke_result_t<Make&>::element_type;
    using out = typename fn_type::output_type;
    auto key = input_.key();
    auto a = assigner_;
    auto opts = opts_;
    return add<out>(std::move(name), [key, a, opts, make] {
      return make_process_window_operator<K, T, out>(key, a, opts, make());
    });
  }

private:
  template <class R, class Make>
  data_stream<R> add(std::string name, Make make) {
    auto result = input_.template add_keyed<R>(std::move(name), make);
    if (non_parallel_)
      input_.builder()->node(result.id()).non_parallel = true;
    return result;
  }

  keyed_stream<T, K> input_;
  Assigner assigner_;
  window_options<window_type, T> opts_;
  bool non_parallel_;
};

template <class T, class K>
template <class Assigner>
windowed_stream<T, K, Assigner> keyed_stream<T, K>::window(Assigner assigner) {
  return windowed_stream<T, K, Assigner>{*this, std::move(assigner), false};
}

template <class T>
template <class Assigner>
windowed_stream<T, uint8_t, Assigner>
data_stream<T>::window_all(Assigner assigner) {
  auto keyed = key_by([](const T&) { return uint8_t{0}; });
  return windowed_stream<T, uint8_t, Assigner>{std::move(keyed),
                                               std::move(assigner), true};
}

} // namespace libstream
