#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "libstream/async/async_function.hpp"
#include "libstream/codec.hpp"
#include "libstream/network_output.hpp"
#include "libstream/operator.hpp"

namespace libstream {

/// Runs an async_function (Flink's AsyncWaitOperator): starts a request
/// per record, keeps at most `capacity` records in its queue, and emits
/// results as the options say. Completions arrive through the subtask's
/// waker; no thread blocks.
///
/// - Backpressure: a batch that brings more records than there is room
///   for is kept (at most one batch) and the subtask's input is held until
///   requests complete.
/// - Watermarks enter the queue: they are emitted after the results of
///   every record before them; in unordered mode results never cross one.
/// - Checkpoints hold every record whose results were not emitted yet (and
///   the watermarks between them); a restore issues their requests again,
///   so that nothing is lost and nothing counted twice downstream.
/// - At the end of a bounded input the operator waits for its requests
///   before it ends its output.
/// - A request that fails (after its retries) or times out with the
///   default timeout handler fails the job, naming the record's timestamp
///   and the cause.
template <class In, class Out>
class async_wait_operator final : public one_input_operator<In, Out> {
public:
  using function_type = async_function<In, Out>;

  async_wait_operator(std::unique_ptr<function_type> fn,
                      async_options<Out> options)
      : fn_(std::move(fn)), opts_(std::move(options)) {
    if (fn_ == nullptr)
      throw std::invalid_argument("async I/O: no async function");
    opts_.validate();
  }

  /// A subtask killed without close() still stops the function's clients
  /// and threads before the function goes.
  ~async_wait_operator() override {
    if (inbox_)
      inbox_->close();
    if (opened_ && !closed_)
      try {
        fn_->close();
      } catch (...) {
      }
  }

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    inbox_ = std::make_shared<detail::async_inbox<Out>>(ctx.make_waker(this));
    fn_->open(info_of(ctx));
    opened_ = true;
  }

  void close() override {
    if (inbox_)
      inbox_->close();
    if (opened_ && !closed_) {
      closed_ = true;
      fn_->close();
    }
  }

  /// Idleness waits behind the queue like a watermark: an input that goes
  /// idle while records are in flight is idle downstream only once their
  /// results are out (else the watermark downstream could pass them).
  void process_idleness(bool idle) override {
    if (!idle && idle_pending_) {
      idle_pending_ = false; // it never went out
      return;
    }
    if (idle && (!queue_.empty() || !stash_.empty())) {
      idle_pending_ = true;
      return;
    }
    emitting_operator<Out>::process_idleness(idle);
  }

  void process_watermark(timestamp wm) override {
    if (!stash_.empty()) {
      stash_.push_back(element{true, wm, std::nullopt});
      return;
    }
    if (queue_.empty()) {
      emitting_operator<Out>::process_watermark(wm);
      return;
    }
    add_watermark(wm);
  }

  void end_input() override {
    ending_ = true;
    step();
  }

  void on_wakeup() override { step(); }

  void on_processing_time(timestamp now) override {
    requested_for_ = no_request;
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      auto id = deadlines_.begin()->second;
      deadlines_.erase(deadlines_.begin());
      auto i = queue_.find(id);
      if (i == queue_.end() || i->second.done || i->second.timed_out)
        continue;
      auto& e = i->second;
      e.deadline = deadlines_.end(); // erased above
      e.timed_out = true;
      ++e.attempt; // a retry waiting for its turn is off
      fn_->timeout(*e.value, result_future<Out>{inbox_, id, e.attempt});
    }
    while (!retries_.empty() && retries_.begin()->first <= now) {
      auto [id, attempt] = retries_.begin()->second;
      retries_.erase(retries_.begin());
      auto i = queue_.find(id);
      if (i == queue_.end() || i->second.done || i->second.attempt != attempt)
        continue;
      invoke(id, i->second);
    }
    step();
    request_next_time();
  }

  /// The records whose results were not emitted (with the watermarks
  /// between them), in input order.
  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    if constexpr (has_codec_v<In>) {
      byte_writer w;
      w.put_u8(state_version);
      w.put_varint(queue_.size() + stash_.size());
      for (auto& [id, e] : queue_)
        put(w, e.watermark, e.ts, e.value);
      for (auto& e : stash_)
        put(w, e.watermark, e.ts, e.value);
      out.operator_state = w.take();
    } else {
      throw std::runtime_error(
          "the async operator cannot checkpoint its requests in flight: "
          "records of type "
          + type_name_of(typeid(In))
          + " have no codec (define libstream::codec<T>, see "
            "libstream/codec.hpp)");
    }
  }

  /// Takes the records of old subtasks j with j mod parallelism = this
  /// subtask's index and issues their requests again. Their watermarks
  /// come back only when one old subtask maps here: the watermarks of
  /// several, one queue after the other, would let the first one pass
  /// records of the next that are behind it.
  void restore_state(const operator_restore& from) override {
    if constexpr (has_codec_v<In>) {
      auto& ctx = this->context();
      int sources = 0;
      for (int j = 0; j < from.old_parallelism(); ++j)
        if (j % ctx.parallelism() == ctx.subtask_index())
          ++sources;
      for (int j = 0; j < from.old_parallelism(); ++j) {
        if (j % ctx.parallelism() != ctx.subtask_index())
          continue;
        auto bytes = from.operator_state(j);
        if (bytes.empty())
          continue;
        byte_reader r{bytes};
        auto version = r.get_u8();
        if (version != state_version)
          throw codec_error("async operator state of version "
                            + std::to_string(version) + ", expected "
                            + std::to_string(state_version));
        auto n = r.get_length(1);
        for (size_t k = 0; k < n; ++k) {
          bool wm = r.get_u8() != 0;
          auto ts = codec<int64_t>::decode(r);
          std::optional<In> value;
          if (!wm)
            value.emplace(codec<In>::decode(r));
          if (!wm || sources == 1)
            stash_.push_back(element{wm, ts, std::move(value)});
        }
        if (!r.at_end())
          r.fail("bytes left over after the async operator state");
      }
      if (!stash_.empty()) {
        update_hold();
        inbox_->poke(); // issue them from the subtask's thread
      }
    }
  }

  /// Records in the queue (requests in flight or results not yet emitted).
  size_t queued_records() const noexcept {
    return queue_.size() - watermark_ids_.size();
  }

protected:
  void process(record_batch<In>& batch) override {
    for (auto& r : batch) {
      if (!stash_.empty() || queued_records() >= opts_.capacity)
        stash_.push_back(element{false, r.ts, std::move(r.value)});
      else
        issue(std::move(r.value), r.ts);
    }
    step();
  }

private:
  static constexpr uint8_t state_version = 1;
  static constexpr timestamp no_request = std::numeric_limits<timestamp>::max();

  struct entry {
    bool watermark = false;
    timestamp ts = 0; // the record's timestamp, or the watermark
    std::optional<In> value;
    uint32_t attempt = 0;
    uint32_t retries = 0;
    bool done = false;
    bool timed_out = false;
    std::vector<Out> results;
    std::string last_error; // of an attempt that was retried
    /// Its place in deadlines_ while it waits (end() once done).
    std::multimap<timestamp, uint64_t>::iterator deadline;
  };

  struct element {
    bool watermark;
    timestamp ts;
    std::optional<In> value;
  };

  static void put(byte_writer& w, bool wm, timestamp ts,
                  const std::optional<In>& value) {
    w.put_u8(wm ? 1 : 0);
    codec<int64_t>::encode(ts, w);
    if (!wm)
      codec<In>::encode(*value, w);
  }

  void issue(In value, timestamp ts) {
    auto id = next_id_++;
    auto& e = queue_[id];
    e.ts = ts;
    e.value.emplace(std::move(value));
    auto deadline = this->context().current_processing_time() + opts_.timeout;
    e.deadline = deadlines_.emplace(deadline, id);
    request_time(deadline);
    invoke(id, e);
  }

  void invoke(uint64_t id, entry& e) {
    fn_->async_invoke(*e.value, result_future<Out>{inbox_, id, e.attempt});
  }

  void add_watermark(timestamp wm) {
    auto id = next_id_++;
    auto& e = queue_[id];
    e.watermark = true;
    e.ts = wm;
    e.done = true;
    e.deadline = deadlines_.end();
    watermark_ids_.push_back(id);
  }

  /// Takes completions, emits what may go, refills from the stash, and
  /// ends the output once an ended input has drained.
  void step() {
    take_completions();
    emit_ready();
    while (!stash_.empty()
           && (stash_.front().watermark
               || queued_records() < opts_.capacity)) {
      auto el = std::move(stash_.front());
      stash_.pop_front();
      if (el.watermark) {
        if (queue_.empty())
          emitting_operator<Out>::process_watermark(el.ts);
        else
          add_watermark(el.ts);
      } else {
        issue(std::move(*el.value), el.ts);
      }
      // Requests may complete at once (a cache, a failed connect).
      take_completions();
      emit_ready();
    }
    if (idle_pending_ && queue_.empty() && stash_.empty()) {
      idle_pending_ = false;
      emitting_operator<Out>::process_idleness(true);
    }
    if (ending_ && queue_.empty() && stash_.empty()) {
      ending_ = false;
      emitting_operator<Out>::end_input();
    }
    update_hold();
    request_next_time();
  }

  void take_completions() {
    for (auto& c : inbox_->take()) {
      auto i = queue_.find(c.entry);
      if (i == queue_.end() || i->second.done
          || i->second.attempt != c.attempt)
        continue; // late: timed out, retried, or emitted already
      auto& e = i->second;
      auto& retry = opts_.retry;
      bool may_retry = !e.timed_out && e.retries < retry.max_retries;
      if (c.ok) {
        if (may_retry && retry.retry_on_result
            && retry.retry_on_result(c.results)) {
          schedule_retry(c.entry, e);
          continue;
        }
        e.done = true;
        e.results = std::move(c.results);
        if (e.deadline != deadlines_.end()) {
          deadlines_.erase(e.deadline);
          e.deadline = deadlines_.end();
        }
      } else {
        if (may_retry && retry.retry_on_error && retry.retry_on_error(c.error)) {
          e.last_error = std::move(c.error);
          schedule_retry(c.entry, e);
          continue;
        }
        std::string what = "async request failed";
        if (e.ts != no_timestamp)
          what = "async request for the record at timestamp "
                 + std::to_string(e.ts) + " failed";
        if (e.timed_out)
          what += " after its timeout of " + std::to_string(opts_.timeout)
                  + " ms";
        else if (e.retries > 0)
          what += " after " + std::to_string(e.retries) + " retries";
        what += ": " + c.error;
        if (e.timed_out && !e.last_error.empty())
          what += " (the attempt before failed: " + e.last_error + ")";
        throw std::runtime_error(what);
      }
    }
  }

  void schedule_retry(uint64_t id, entry& e) {
    ++e.retries;
    ++e.attempt;
    auto at = this->context().current_processing_time()
              + opts_.retry.delay_before(e.retries);
    retries_.emplace(at, std::make_pair(id, e.attempt));
    request_time(at);
  }

  void emit(entry& e) {
    auto& out = this->out_.main();
    for (auto& x : e.results)
      out.collect(std::move(x), e.ts);
  }

  void emit_watermark_entry(typename std::map<uint64_t, entry>::iterator i) {
    // Watermarks leave only from the front of the queue: this is the
    // first queued one.
    auto wm = i->second.ts;
    queue_.erase(i);
    watermark_ids_.pop_front();
    emitting_operator<Out>::process_watermark(wm);
  }

  void emit_ready() {
    if (opts_.mode == async_output_mode::ordered) {
      while (!queue_.empty() && queue_.begin()->second.done) {
        auto i = queue_.begin();
        if (i->second.watermark) {
          emit_watermark_entry(i);
        } else {
          emit(i->second);
          queue_.erase(i);
        }
      }
      return;
    }
    // Unordered: what completed in the first segment (before the first
    // watermark) goes; a watermark goes once its segment is empty.
    for (;;) {
      auto end = watermark_ids_.empty() ? queue_.end()
                                        : queue_.find(watermark_ids_.front());
      for (auto i = queue_.begin(); i != end;) {
        if (i->second.done) {
          emit(i->second);
          i = queue_.erase(i);
        } else {
          ++i;
        }
      }
      if (queue_.empty() || !queue_.begin()->second.watermark)
        return;
      emit_watermark_entry(queue_.begin());
    }
  }

  void update_hold() {
    bool hold = !stash_.empty() || ending_;
    if (hold != held_) {
      held_ = hold;
      this->context().hold_input(this, hold);
    }
  }

  void request_time(timestamp t) {
    if (t < requested_for_) {
      requested_for_ = t;
      this->context().request_processing_time(this, t);
    }
  }

  void request_next_time() {
    auto next = no_request;
    if (!deadlines_.empty())
      next = deadlines_.begin()->first;
    if (!retries_.empty() && retries_.begin()->first < next)
      next = retries_.begin()->first;
    if (next != no_request)
      request_time(next);
  }

  std::unique_ptr<function_type> fn_;
  async_options<Out> opts_;
  std::shared_ptr<detail::async_inbox<Out>> inbox_;
  std::map<uint64_t, entry> queue_; // by arrival: records and watermarks
  std::deque<uint64_t> watermark_ids_; // the watermarks in queue_, in order
  std::deque<element> stash_; // input beyond the capacity, in order
  uint64_t next_id_ = 1;
  std::multimap<timestamp, uint64_t> deadlines_;
  std::multimap<timestamp, std::pair<uint64_t, uint32_t>> retries_;
  timestamp requested_for_ = no_request;
  bool ending_ = false;
  bool held_ = false;
  bool idle_pending_ = false;
  bool opened_ = false;
  bool closed_ = false;
};

} // namespace libstream
