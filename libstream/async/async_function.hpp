#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/functions.hpp"
#include "libstream/time.hpp"

namespace libstream {

namespace detail {

/// Where result futures of one async operator subtask deliver: any thread
/// may complete a future; the subtask takes the completions on its own
/// thread (woken through the runtime's waker, once per batch of them).
template <class Out>
class async_inbox {
public:
  struct completion {
    uint64_t entry = 0;
    uint32_t attempt = 0;
    bool ok = true;
    std::vector<Out> results;
    std::string error;
  };

  explicit async_inbox(std::function<void()> waker)
      : waker_(std::move(waker)) {}

  void post(completion c) {
    bool wake = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        return;
      items_.push_back(std::move(c));
      wake = !wake_pending_;
      wake_pending_ = true;
    }
    if (wake && waker_)
      waker_();
  }

  /// The completions posted so far (the next post wakes again).
  std::vector<completion> take() {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<completion> result;
    result.swap(items_);
    wake_pending_ = false;
    return result;
  }

  /// Wakes the subtask without a completion (unless a wake-up is pending).
  void poke() {
    bool wake = false;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      wake = !wake_pending_ && !closed_;
      wake_pending_ = true;
    }
    if (wake && waker_)
      waker_();
  }

  /// Completions after this are dropped (the operator closed).
  void close() {
    std::lock_guard<std::mutex> guard{mtx_};
    closed_ = true;
    items_.clear();
  }

private:
  std::mutex mtx_;
  std::vector<completion> items_;
  bool wake_pending_ = false;
  bool closed_ = false;
  std::function<void()> waker_;
};

} // namespace detail

/// The handle an async function completes a request through, as Flink's
/// ResultFuture: with the request's results (zero or more records, each
/// emitted with the input record's timestamp) or with an error. Any thread
/// may complete it, once: later calls are ignored. Cheap to copy; a copy
/// completes the same request.
template <class Out>
class result_future {
public:
  result_future() = default;
  result_future(std::shared_ptr<detail::async_inbox<Out>> inbox,
                uint64_t entry, uint32_t attempt)
      : state_(std::make_shared<state>(std::move(inbox), entry, attempt)) {}

  /// Completes the request with `results`.
  void complete(std::vector<Out> results) const {
    finish(true, std::move(results), {});
  }

  /// Completes the request with one result.
  void complete_one(Out result) const {
    std::vector<Out> xs;
    xs.push_back(std::move(result));
    finish(true, std::move(xs), {});
  }

  /// Fails the request: it is retried if the retry strategy says so, else
  /// the job fails with `what`.
  void complete_exceptionally(std::string what) const {
    finish(false, {}, std::move(what));
  }

  /// True once the request was completed through this future or a copy.
  bool done() const {
    if (!state_)
      return true;
    std::lock_guard<std::mutex> guard{state_->mtx};
    return state_->done;
  }

private:
  struct state {
    std::shared_ptr<detail::async_inbox<Out>> inbox;
    uint64_t entry;
    uint32_t attempt;
    std::mutex mtx;
    bool done = false;
    state(std::shared_ptr<detail::async_inbox<Out>> i, uint64_t e,
          uint32_t a)
        : inbox(std::move(i)), entry(e), attempt(a) {}
  };

  void finish(bool ok, std::vector<Out> results, std::string error) const {
    if (!state_)
      throw std::logic_error("result_future: completed without a request");
    {
      std::lock_guard<std::mutex> guard{state_->mtx};
      if (state_->done)
        return;
      state_->done = true;
    }
    typename detail::async_inbox<Out>::completion c;
    c.entry = state_->entry;
    c.attempt = state_->attempt;
    c.ok = ok;
    c.results = std::move(results);
    c.error = std::move(error);
    state_->inbox->post(std::move(c));
  }

  std::shared_ptr<state> state_;
};

/// A function that handles each record with a request to an external
/// system and completes a result_future later (Flink's AsyncFunction).
/// async_invoke runs on the subtask's thread and must not block: it starts
/// the request and returns; the client completes the future from its own
/// thread (or at once). One instance per subtask.
template <class In, class Out>
class async_function {
public:
  using input_type = In;
  using output_type = Out;

  virtual ~async_function() = default;

  /// Called once before the first request (connect clients here).
  virtual void open(const runtime_info& info) {}

  /// Starts the request for `input`.
  virtual void async_invoke(const In& input, result_future<Out> future) = 0;

  /// The request for `input` did not complete within the timeout (retries
  /// included). The default fails it, which fails the job; override to
  /// complete it with a fallback instead. `future` completes the request
  /// (a late answer of the original request is then ignored).
  virtual void timeout(const In& input, result_future<Out> future) {
    future.complete_exceptionally("async request timed out");
  }

  /// Called once after the last request (close clients here). Requests
  /// still running are abandoned: their futures complete into nothing.
  virtual void close() {}
};

/// In which order an async operator emits results (Flink's orderedWait and
/// unorderedWait).
enum class async_output_mode {
  /// In the order of the input records.
  ordered,
  /// As the requests complete; never across a watermark: the results of
  /// records before a watermark are emitted before it, those of records
  /// after it only after it.
  unordered,
};

/// When and how often a failed request is tried again (Flink's
/// AsyncRetryStrategy). A request is retried when it failed and
/// `retry_on_error` accepts the error, or when it succeeded and
/// `retry_on_result` accepts the results, at most `max_retries` times,
/// each after a delay; the timeout covers the first attempt and every
/// retry together.
template <class Out>
struct async_retry_strategy {
  /// Retries after the first attempt (0: no retries).
  uint32_t max_retries = 0;
  /// Delay before the first retry.
  duration_ms delay = 0;
  /// Each further retry waits this many times longer (1: fixed delay) ...
  double multiplier = 1.0;
  /// ... up to this delay.
  duration_ms max_delay = 0;
  /// Whether an error is worth retrying (default: every error).
  std::function<bool(const std::string&)> retry_on_error;
  /// Whether a result calls for a retry (default: none does).
  std::function<bool(const std::vector<Out>&)> retry_on_result;

  /// No retries.
  static async_retry_strategy none() { return {}; }

  /// Up to `retries` retries, `delay` ms apart, on every error.
  static async_retry_strategy fixed_delay(uint32_t retries, duration_ms delay) {
    async_retry_strategy s;
    s.max_retries = retries;
    s.delay = delay;
    s.max_delay = delay;
    s.retry_on_error = [](const std::string&) { return true; };
    return s;
  }

  /// Up to `retries` retries on every error, the first after `initial` ms,
  /// each next one `multiplier` times later, at most `max` ms.
  static async_retry_strategy exponential_backoff(uint32_t retries,
                                                  duration_ms initial,
                                                  duration_ms max,
                                                  double multiplier = 2.0) {
    async_retry_strategy s;
    s.max_retries = retries;
    s.delay = initial;
    s.multiplier = multiplier;
    s.max_delay = max;
    s.retry_on_error = [](const std::string&) { return true; };
    return s;
  }

  /// Retries only errors that `pred` accepts.
  async_retry_strategy& if_error(std::function<bool(const std::string&)> pred) {
    retry_on_error = std::move(pred);
    return *this;
  }

  /// Also retries successful requests whose results `pred` accepts.
  async_retry_strategy&
  if_result(std::function<bool(const std::vector<Out>&)> pred) {
    retry_on_result = std::move(pred);
    return *this;
  }

  /// The delay before retry `n` (1 for the first).
  duration_ms delay_before(uint32_t n) const {
    double d = static_cast<double>(delay);
    for (uint32_t i = 1; i < n; ++i)
      d *= multiplier;
    auto cap = static_cast<double>(std::max(max_delay, delay));
    return static_cast<duration_ms>(std::min(d, cap));
  }

  /// Throws std::invalid_argument for settings that cannot work.
  void validate() const {
    if (delay < 0 || max_delay < 0)
      throw std::invalid_argument("async retry: delays must not be negative");
    if (!(multiplier >= 1.0) || !std::isfinite(multiplier))
      throw std::invalid_argument("async retry: the multiplier must be a "
                                  "finite number >= 1");
  }
};

/// The settings of an async operator.
template <class Out>
struct async_options {
  async_output_mode mode = async_output_mode::unordered;
  /// A request (with its retries) fails after this many milliseconds
  /// (see async_function::timeout). Must be positive.
  duration_ms timeout = 10000;
  /// Requests in flight per subtask at most; at capacity the subtask takes
  /// no input (backpressure). Must be positive.
  size_t capacity = 100;
  async_retry_strategy<Out> retry;

  void validate() const {
    if (timeout <= 0)
      throw std::invalid_argument("async I/O: the timeout must be positive, "
                                  "got "
                                  + std::to_string(timeout) + " ms");
    if (capacity == 0)
      throw std::invalid_argument("async I/O: the capacity must be at least "
                                  "1");
    retry.validate();
  }
};

} // namespace libstream
