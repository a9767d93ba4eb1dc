#pragma once

#include <algorithm>
#include <memory>
#include <utility>

#include "libstream/operator.hpp"
#include "libstream/watermark_strategy.hpp"

namespace libstream {

/// Assigns timestamps and generates watermarks in the stream, as Flink's
/// TimestampsAndWatermarksOperator. Watermarks from upstream are dropped,
/// except the final one at the end of a bounded input.
template <class T>
class timestamps_and_watermarks_operator final
    : public one_input_operator<T, T>,
      private watermark_output {
public:
  timestamps_and_watermarks_operator(watermark_strategy<T> strategy,
                                     duration_ms interval)
      : strategy_(std::move(strategy)), interval_(interval) {}

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    if (strategy_.generator())
      generator_ = strategy_.generator()();
    // The built-in generator never emits on events: observe timestamps
    // without a virtual call per record.
    bounded_
        = dynamic_cast<bounded_out_of_orderness_generator*>(generator_.get());
    auto now = ctx.current_processing_time();
    last_record_time_ = now;
    next_emit_ = now + interval_;
    if (generator_ || strategy_.idle_timeout() > 0)
      ctx.request_processing_time(this, next_emit_);
  }

  void process_watermark(timestamp wm) override {
    if (wm == max_watermark) {
      emitted_ = max_watermark;
      this->current_watermark_ = wm;
      this->out_.emit_watermark(wm);
    }
  }

  void on_processing_time(timestamp now) override {
    if (now >= next_emit_) {
      periodic(now);
    }
    if (emitted_ != max_watermark)
      this->context().request_processing_time(this, next_emit_);
  }

protected:
  void process(record_batch<T>& batch) override {
    if (batch.empty())
      return;
    if (idle_) {
      idle_ = false;
      this->out_.emit_idleness(false);
    }
    auto& assign = strategy_.assigner();
    timestamp now = no_timestamp;
    if (strategy_.ingestion_time() || !assign)
      now = this->context().current_processing_time();
    auto& out = this->out_.main();
    size_t forwarded = 0; // records already passed on (punctuated case)
    if (bounded_ != nullptr && !strategy_.ingestion_time() && assign) {
      // The built-in generator: no virtual call, no watermark per event.
      for (auto& r : batch) {
        r.ts = assign(r.value, r.ts);
        bounded_->observe(r.ts);
      }
    } else {
      // A watermark a generator emits on an event follows the record that
      // caused it and never overtakes the records before it: it is held
      // while the event is handled, the records up to it are forwarded,
      // then the watermark.
      for (size_t i = 0; i < batch.size(); ++i) {
        auto& r = batch[i];
        if (strategy_.ingestion_time())
          r.ts = now;
        else if (assign)
          r.ts = assign(r.value, r.ts);
        if (!generator_)
          continue;
        in_batch_ = true;
        generator_->on_event(r.ts, *this);
        in_batch_ = false;
        if (held_ != min_watermark) {
          for (; forwarded <= i; ++forwarded)
            out.collect(std::move(batch[forwarded].value), batch[forwarded].ts);
          auto wm = held_;
          held_ = min_watermark;
          emit_watermark(wm);
        }
      }
    }
    if (now == no_timestamp)
      now = this->context().current_processing_time();
    last_record_time_ = now;
    if (forwarded == 0) {
      out.collect_batch(batch);
    } else {
      for (; forwarded < batch.size(); ++forwarded)
        out.collect(std::move(batch[forwarded].value), batch[forwarded].ts);
    }
    if (now >= next_emit_)
      periodic(now);
  }

private:
  void periodic(timestamp now) {
    next_emit_ = now + interval_;
    if (generator_)
      generator_->on_periodic_emit(*this);
    auto timeout = strategy_.idle_timeout();
    if (timeout > 0 && !idle_ && now - last_record_time_ >= timeout)
      mark_idle();
  }

  // -- watermark_output
  // ----------------------------------------------------------

  void emit_watermark(timestamp wm) override {
    if (in_batch_) {
      held_ = std::max(held_, wm);
      return;
    }
    if (wm <= emitted_)
      return;
    emitted_ = wm;
    if (idle_) {
      idle_ = false;
      this->out_.emit_idleness(false);
    }
    this->current_watermark_ = wm;
    this->out_.emit_watermark(wm);
  }

  void mark_idle() override {
    if (idle_)
      return;
    idle_ = true;
    this->out_.emit_idleness(true);
  }

  watermark_strategy<T> strategy_;
  duration_ms interval_;
  std::unique_ptr<watermark_generator> generator_;
  bounded_out_of_orderness_generator* bounded_ = nullptr;
  timestamp emitted_ = min_watermark;
  timestamp next_emit_ = 0;
  timestamp last_record_time_ = 0;
  bool idle_ = false;
  bool in_batch_ = false;
  timestamp held_ = min_watermark;
};

} // namespace libstream
