#pragma once

#include <functional>
#include <memory>
#include <utility>

#include "libstream/functions.hpp"
#include "libstream/operator.hpp"

namespace libstream {

/// One output record per input record: Out f(const In&).
template <class In, class Out, class F>
class map_operator final : public one_input_operator<In, Out> {
public:
  explicit map_operator(F fn) : fn_(std::move(fn)) {}

protected:
  void process(record_batch<In>& batch) override {
    auto& out = this->out_.main();
    for (auto& r : batch)
      out.collect(fn_(r.value), r.ts);
  }

private:
  F fn_;
};

/// Keeps the records for which the predicate holds.
template <class T, class F>
class filter_operator final : public one_input_operator<T, T> {
public:
  explicit filter_operator(F fn) : fn_(std::move(fn)) {}

protected:
  void process(record_batch<T>& batch) override {
    // Compacts in place and hands the batch on without copying it.
    size_t kept = 0;
    for (size_t i = 0; i < batch.size(); ++i)
      if (fn_(batch[i].value)) {
        if (kept != i)
          batch[kept] = std::move(batch[i]);
        ++kept;
      }
    batch.erase(batch.begin() + static_cast<std::ptrdiff_t>(kept), batch.end());
    if (kept > 0)
      this->out_.main().collect_batch(batch);
  }

private:
  F fn_;
};

/// Zero or more output records per input: void f(const In&, collector<Out>&).
template <class In, class Out, class F>
class flat_map_operator final : public one_input_operator<In, Out> {
public:
  explicit flat_map_operator(F fn) : fn_(std::move(fn)) {}

protected:
  void process(record_batch<In>& batch) override {
    collector<Out> out{this->out_.main(), no_timestamp};
    for (auto& r : batch) {
      out.set_timestamp(r.ts);
      fn_(r.value, out);
    }
  }

private:
  F fn_;
};

/// Runs a non-keyed process function with side outputs and operator state.
/// The function's initialize_state runs once, before the first element:
/// at the restore, or else at the first element, end of input or
/// checkpoint.
template <class In, class Out>
class process_operator final : public one_input_operator<In, Out> {
public:
  explicit process_operator(std::unique_ptr<process_function<In, Out>> fn)
      : fn_(std::move(fn)), pctx_(this->out_) {}

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    fn_->open(info_of(ctx));
  }

  void close() override { fn_->close(); }

protected:
  void process(record_batch<In>& batch) override {
    ensure_initialized();
    collector<Out> out{this->out_.main(), no_timestamp};
    for (auto& r : batch) {
      out.set_timestamp(r.ts);
      pctx_.reset(r.ts, this->current_watermark_);
      fn_->process_element(r.value, pctx_, out);
    }
    this->out_.flush();
  }

  void on_end_input() override {
    ensure_initialized();
    collector<Out> out{this->out_.main(), no_timestamp};
    fn_->end_input(out);
  }

  void snapshot_state(uint64_t id, operator_state_snapshot& out) override {
    ensure_initialized();
    fn_->snapshot_state(id);
    out.operator_state = store_.snapshot();
  }

  void restore_state(const operator_restore& from) override {
    std::vector<std::string> states;
    for (int i = 0; i < from.old_parallelism(); ++i)
      states.push_back(from.operator_state(i));
    auto& ctx = this->context();
    store_.restore(states, ctx.subtask_index(), ctx.parallelism());
    ensure_initialized();
  }

private:
  void ensure_initialized() {
    if (initialized_)
      return;
    initialized_ = true;
    fn_->initialize_state(store_);
  }

  std::unique_ptr<process_function<In, Out>> fn_;
  process_context<Out> pctx_;
  operator_state_store store_;
  bool initialized_ = false;
};

} // namespace libstream
