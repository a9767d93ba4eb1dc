#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/data_stream.hpp"
#include "libstream/functions.hpp"
#include "libstream/operator.hpp"
#include "libstream/sinks/sink.hpp"

namespace libstream {

/// The transactions of an exactly-once sink into an external system, as
/// Flink's TwoPhaseCommitSinkFunction: records go into the open
/// transaction; at a checkpoint barrier it is pre-committed (made durable
/// and ready to commit, e.g. PREPARE TRANSACTION) and a new one begins;
/// when the checkpoint completes, the transactions pre-committed up to it
/// are committed. `Txn` is the handle of a transaction (an id, a file
/// name): it is part of the checkpoint, so it needs a codec.
///
/// commit() must be idempotent and must succeed for a pre-committed
/// transaction: after a failure, a restore commits again what its
/// checkpoint recorded as pre-committed (the checkpoint may have completed
/// without the commit having happened). Transactions begun or
/// pre-committed after that checkpoint are not in it: abort_leftovers()
/// is where a sink finds and aborts them in the external system (by an id
/// prefix of its own, for example); a transaction that was merely open
/// dies with its connection in most systems.
template <class T, class Txn>
class two_phase_commit_function {
public:
  using value_type = T;
  using transaction_type = Txn;

  virtual ~two_phase_commit_function() = default;
  virtual void open(const runtime_info& info) {}
  virtual Txn begin_transaction() = 0;
  virtual void invoke(Txn& txn, const T& value, timestamp ts) = 0;
  /// Makes `txn` durable and ready to commit (PREPARE TRANSACTION). It
  /// belongs to checkpoint `checkpoint_id` (the one whose barrier closes
  /// it; at the end of a bounded input, the next one): systems that name
  /// prepared transactions derive the name from it.
  virtual void pre_commit(Txn& txn, uint64_t checkpoint_id) = 0;
  virtual void commit(const Txn& txn) = 0;
  virtual void abort(const Txn& txn) = 0;
  /// A transaction a restored checkpoint had pre-committed (it may have
  /// been committed already: commit is idempotent).
  virtual void recover_and_commit(const Txn& txn) { commit(txn); }
  /// Before the first record of a run after a failure (or of any run):
  /// abort what earlier runs left prepared by the old subtasks `olds` (the
  /// subtasks of the run before whose state this subtask takes: j with
  /// j mod parallelism = its index), except `committed`, which a restore
  /// just committed. Subtasks sweep disjoint sets of old subtasks.
  virtual void abort_leftovers(const std::vector<Txn>& committed,
                               const std::vector<int>& olds) {}
  virtual void close() {}
};

/// Runs a two_phase_commit_function as a sink operator. At the end of a
/// bounded input the open transaction is pre-committed; it is committed by
/// the next checkpoint that holds the subtask's final state, or when the
/// job finishes (the subtask waits for that). Without checkpoints every
/// transaction of the job is committed at its end.
template <class T, class Txn>
class two_phase_commit_sink final : public sink_base<T> {
public:
  using function_type = two_phase_commit_function<T, Txn>;

  explicit two_phase_commit_sink(std::unique_ptr<function_type> fn)
      : fn_(std::move(fn)) {
    if (fn_ == nullptr)
      throw std::invalid_argument("two-phase commit sink: no function");
  }

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    fn_->open(info_of(ctx));
  }

  ~two_phase_commit_sink() override {
    // Killed without close(): the open transaction goes.
    if (open_)
      try {
        fn_->abort(*open_);
      } catch (...) {
      }
  }

  void process_batch(record_batch<T>& batch) override {
    prepare_run();
    if (!open_)
      open_ = fn_->begin_transaction();
    for (auto& r : batch)
      fn_->invoke(*open_, r.value, r.ts);
  }

  /// Pre-commits the open transaction for checkpoint `id`. The state: the
  /// pre-committed transactions not yet committed (with the checkpoint
  /// that may commit them), and the one open now (none: it begins with the
  /// next record).
  void snapshot_state(uint64_t id, operator_state_snapshot& out) override {
    prepare_run();
    last_snapshot_ = std::max(last_snapshot_, id);
    if (open_) {
      // A pre-commit that fails leaves the transaction in an unknown
      // state: the task fails (at its next record), not just this
      // checkpoint.
      auto closing = out.at_finish ? last_snapshot_ + 1 : id;
      try {
        fn_->pre_commit(*open_, closing);
      } catch (const std::exception& e) {
        broken_ = e.what();
        throw;
      }
      pending_.emplace_back(closing, std::move(*open_));
      open_.reset();
    }
    out.operator_state = encode_value(pending_);
  }

  void notify_checkpoint_complete(uint64_t id) override {
    auto i = pending_.begin();
    while (i != pending_.end()) {
      if (i->first <= id) {
        fn_->commit(i->second);
        i = pending_.erase(i);
      } else {
        ++i;
      }
    }
  }

  /// Commits what the checkpoint recorded as pre-committed by the old
  /// subtasks that map here (j mod parallelism), at any parallelism.
  void restore_state(const operator_restore& from) override {
    auto& ctx = this->context();
    std::vector<Txn> committed;
    std::vector<int> olds;
    for (int j = 0; j < from.old_parallelism(); ++j) {
      if (j % ctx.parallelism() != ctx.subtask_index())
        continue;
      olds.push_back(j);
      auto bytes = from.operator_state(j);
      if (bytes.empty())
        continue;
      auto txns = decode_value<std::vector<std::pair<uint64_t, Txn>>>(bytes);
      for (auto& [checkpoint, txn] : txns) {
        // Ids go on from the restored checkpoint's: at least past these.
        last_snapshot_ = std::max(last_snapshot_, checkpoint);
        fn_->recover_and_commit(txn);
        committed.push_back(std::move(txn));
      }
    }
    fn_->abort_leftovers(committed, olds);
    prepared_ = true;
  }

  void end_input() override {
    prepare_run();
    if (open_) {
      fn_->pre_commit(*open_, last_snapshot_ + 1);
      // Any checkpoint after the last one taken at a barrier holds the
      // final state, which records this transaction.
      pending_.emplace_back(last_snapshot_ + 1, std::move(*open_));
      open_.reset();
    }
  }

  bool transactional() const override { return true; }

  void commit() override {
    for (auto& p : pending_)
      fn_->commit(p.second);
    pending_.clear();
  }

  /// Restored as finished yet given input (not expected): whatever is
  /// open is pre-committed as at a normal end.
  void forward_end() override { end_input(); }

  /// A failed or cancelled run: the open transaction is aborted;
  /// pre-committed ones stay for a restore to commit.
  void close() override {
    if (open_) {
      auto txn = std::move(*open_);
      open_.reset();
      try {
        fn_->abort(txn);
      } catch (...) {
        fn_->close();
        throw;
      }
    }
    fn_->close();
  }


private:
  /// Once per run, before anything is written: a run that was not
  /// restored sweeps what an earlier attempt (of the same parallelism)
  /// left prepared. Fails the task after a failed pre-commit.
  void prepare_run() {
    if (!broken_.empty())
      throw std::runtime_error("a pre-commit failed: " + broken_);
    if (prepared_)
      return;
    prepared_ = true;
    fn_->abort_leftovers({}, {this->context().subtask_index()});
  }

  bool prepared_ = false; // leftovers swept (or restored)
  std::string broken_;    // a pre-commit failed with this

  std::unique_ptr<function_type> fn_;
  std::optional<Txn> open_;
  std::vector<std::pair<uint64_t, Txn>> pending_;
  uint64_t last_snapshot_ = 0;
};

/// Writes `stream` through the two-phase commit function `make()` creates
/// (one per subtask): exactly-once into an external system with
/// checkpoints.
template <class T, class Make>
data_stream_sink<T> add_two_phase_commit_sink(data_stream<T> stream, Make make,
                                              std::string name
                                              = "Two-Phase Commit Sink") {
  auto& b = *stream.builder();
  auto& t = b.add(transformation_kind::sink, std::move(name), {stream.id()});
  t.input_type = typeid(T);
  t.commits_on_checkpoint = true;
  t.make_operator = [make]() -> std::unique_ptr<operator_base> {
    auto fn = make();
    using txn = typename decltype(fn)::element_type::transaction_type;
    return std::make_unique<two_phase_commit_sink<T, txn>>(std::move(fn));
  };
  t.make_input = typed_input_factory<T>();
  return data_stream_sink<T>{stream.builder(), t.id};
}

} // namespace libstream
