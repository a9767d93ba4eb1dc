#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "libstream/async/async_function.hpp"
#include "libstream/async/async_wait_operator.hpp"
#include "libstream/data_stream.hpp"

namespace libstream {

/// Async I/O on a stream, as Flink's AsyncDataStream. `make` creates the
/// async function of each subtask: a std::unique_ptr to a class derived
/// from async_function<In, Out>. `timeout` is in milliseconds and covers a
/// request with its retries; `capacity` bounds the requests in flight per
/// subtask (backpressure beyond it).
///
///   auto enriched = async_data_stream::unordered_wait(
///       trades, [] { return std::make_unique<industry_lookup>(url); },
///       1000, 100);
struct async_data_stream {
  template <class Make>
  using function_of =
      typename std::invoke_result_t<Make&>::element_type;

  template <class Make>
  using output_of = typename function_of<Make>::output_type;

  /// Results as the requests complete, never across a watermark.
  template <class In, class Make>
  static data_stream<output_of<Make>>
  unordered_wait(data_stream<In> in, Make make, duration_ms timeout,
                 size_t capacity = 100, std::string name = "Async Wait") {
    return wait(std::move(in), std::move(make),
                options_of<Make>(async_output_mode::unordered, timeout,
                                 capacity, {}),
                std::move(name));
  }

  /// Results in the order of the input records.
  template <class In, class Make>
  static data_stream<output_of<Make>>
  ordered_wait(data_stream<In> in, Make make, duration_ms timeout,
               size_t capacity = 100, std::string name = "Async Wait") {
    return wait(std::move(in), std::move(make),
                options_of<Make>(async_output_mode::ordered, timeout,
                                 capacity, {}),
                std::move(name));
  }

  /// unordered_wait with retries.
  template <class In, class Make>
  static data_stream<output_of<Make>>
  unordered_wait_with_retry(data_stream<In> in, Make make, duration_ms timeout,
                            size_t capacity,
                            async_retry_strategy<output_of<Make>> retry,
                            std::string name = "Async Wait") {
    return wait(std::move(in), std::move(make),
                options_of<Make>(async_output_mode::unordered, timeout,
                                 capacity, std::move(retry)),
                std::move(name));
  }

  /// ordered_wait with retries.
  template <class In, class Make>
  static data_stream<output_of<Make>>
  ordered_wait_with_retry(data_stream<In> in, Make make, duration_ms timeout,
                          size_t capacity,
                          async_retry_strategy<output_of<Make>> retry,
                          std::string name = "Async Wait") {
    return wait(std::move(in), std::move(make),
                options_of<Make>(async_output_mode::ordered, timeout,
                                 capacity, std::move(retry)),
                std::move(name));
  }

  /// Any of the above, from options (checked here, at job definition).
  template <class In, class Make>
  static data_stream<output_of<Make>>
  wait(data_stream<In> in, Make make, async_options<output_of<Make>> opts,
       std::string name = "Async Wait") {
    using Out = output_of<Make>;
    static_assert(
        std::is_base_of_v<async_function<In, Out>, function_of<Make>>,
        "make() must return a std::unique_ptr to an async_function<In, Out> "
        "whose In is the stream's element type");
    opts.validate();
    return in.template transform<Out>(
        std::move(name), [make, opts]() {
          std::unique_ptr<async_function<In, Out>> fn = make();
          return std::make_unique<async_wait_operator<In, Out>>(std::move(fn),
                                                                opts);
        });
  }

private:
  template <class Make>
  static async_options<output_of<Make>>
  options_of(async_output_mode mode, duration_ms timeout, size_t capacity,
             async_retry_strategy<output_of<Make>> retry) {
    async_options<output_of<Make>> opts;
    opts.mode = mode;
    opts.timeout = timeout;
    opts.capacity = capacity;
    opts.retry = std::move(retry);
    return opts;
  }
};

} // namespace libstream
