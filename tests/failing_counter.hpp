#pragma once

// A keyed count that fails once: the user-code fault the fault-tolerance
// suites inject.

#include <atomic>
#include <cstdint>
#include <memory>
#include <stdexcept>

#include "libstream/functions.hpp"

namespace libstream::test {

/// Counts records per key and throws once, at its `fail_at`-th record
/// overall (a fault in user code), in the first attempt only. Emits
/// key * 1000000 + the key's count.
struct failing_counter final
    : keyed_process_function<int64_t, int64_t, int64_t> {
  failing_counter(std::shared_ptr<std::atomic<int64_t>> seen, int64_t fail_at)
      : seen_(std::move(seen)), fail_at_(fail_at) {}

  value_state<int64_t> count;

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    count = st.get_state<int64_t>("count");
  }

  void process_element(const int64_t&, context& ctx,
                       collector<int64_t>& out) override {
    if (seen_->fetch_add(1) + 1 == fail_at_)
      throw std::runtime_error("injected failure");
    auto n = count.value_or(0) + 1;
    count.update(n);
    out.collect(ctx.current_key() * 1000000 + n);
  }

  std::shared_ptr<std::atomic<int64_t>> seen_;
  int64_t fail_at_;
};

} // namespace libstream::test
