#pragma once

// CAF actors as the source and the sink of a libstream job, with
// backpressure in both directions and without blocking a thread.
//
// Source protocol (the feeder is the application's actor):
//   libstream -> feeder   (demand_atom, caf::actor inbox, int32 n)
//                         "you may send n more records to inbox"; demand
//                         adds up until it is filled (as in Reactive
//                         Streams), so a feeder with nothing to send now
//                         remembers it and sends later
//   feeder -> inbox       std::vector<T>  (never more than demanded in total)
//   feeder -> inbox       (end_atom, uint32 0)   the input is complete
//   libstream -> feeder   (seek_atom, caf::actor inbox, uint64 seq)
//                         when the job restarts after a failure (from a
//                         checkpoint, or from the start: seq 0), before
//                         any demand: "send from record number seq on"
//                         (records are numbered from 0 in the order the
//                         feeder sent them); demand given to earlier
//                         inboxes is void. The checkpoint holds the number
//                         of the next record the source emits. A feeder
//                         that can replay makes the source exactly-once;
//                         one that ignores seek_atom loses the records the
//                         failed run had taken after the checkpoint.
// Demand is granted so that at most `window` records are demanded but not
// yet emitted: memory stays bounded however fast the feeder is. A feeder
// that sends more than demanded, or terminates before sending end, fails
// the job.
//
// Sink protocol (the target is the application's actor):
//   libstream -> target   request std::vector<T>; the target's handler
//                         returns void, and that (empty) reply acknowledges
//                         the batch
// With `max_in_flight` batches unacknowledged, the sink holds its subtask's
// input (as an output channel without credit would), and the job does not
// finish before every batch is acknowledged. A target that replies with an
// error or terminates fails the job. T must be usable in CAF messages (an
// inspect overload, or CAF_ALLOW_UNSAFE_MESSAGE_TYPE for in-process use).

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"
#include "caf/system_messages.hpp"

#include "actors/messages.hpp"
#include "actors/spawn.hpp"
#include "libstream/data_stream.hpp"
#include "libstream/environment.hpp"
#include "libstream/sinks/sink.hpp"


namespace libstream {

namespace detail {

/// Records received from the feeder, shared by the inbox actor and the
/// source operator.
template <class T>
struct actor_inbox {
  std::mutex mtx;
  std::deque<T> records;
  size_t received = 0;
  bool ended = false;
  std::string error; // set when the feeder terminated before the end
};

} // namespace detail

/// A source whose records come from a CAF actor (see the protocol above).
template <class T>
class actor_source final : public source_operator<T> {
public:
  actor_source(caf::actor feeder, size_t window)
      : feeder_(std::move(feeder)), window_(window) {
    if (!feeder_)
      throw std::invalid_argument("actor source: the feeder actor is invalid");
    if (window_ == 0)
      throw std::invalid_argument("actor source: the window must be positive");
  }

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    inbox_state_ = std::make_shared<detail::actor_inbox<T>>();
    auto st = inbox_state_;
    auto feeder = feeder_;
    inbox_ = runtime::spawn_fn(
        feeder_->home_system(),
        [st, feeder](caf::event_based_actor* self) -> caf::behavior {
          self->monitor(feeder);
          self->set_down_handler([st, self](caf::down_msg& dm) {
            std::lock_guard<std::mutex> guard{st->mtx};
            if (!st->ended)
              st->error = "the feeder actor terminated before the end of its "
                          "input: "
                          + to_string(dm.reason);
            self->quit();
          });
          return {
              [st](std::vector<T>& xs) {
                std::lock_guard<std::mutex> guard{st->mtx};
                st->received += xs.size();
                for (auto& x : xs)
                  st->records.push_back(std::move(x));
              },
              [st, self](runtime::end_atom, uint32_t) {
                std::lock_guard<std::mutex> guard{st->mtx};
                st->ended = true;
                self->quit();
              },
          };
        });
    // The first demand goes out at the first poll: after a restore, the
    // seek must reach the feeder before it.
  }

  /// The number of the next record: what the source emitted since the
  /// feeder's first record.
  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    out.source_position = encode_value(static_cast<uint64_t>(base_ + emitted_));
  }

  void restore_state(const operator_restore& from) override {
    auto pos = from.source_position(0);
    if (pos.empty())
      return;
    base_ = decode_value<uint64_t>(pos);
    seek_ = true;
  }

  typename source_operator<T>::poll_result poll() override {
    using poll_result = typename source_operator<T>::poll_result;
    if (cancelled_)
      return poll_result::finished;
    if (!started_) {
      started_ = true;
      if (seek_ || this->context().attempt() > 0)
        caf::anon_send(feeder_, runtime::seek_atom_v, inbox_,
                       static_cast<uint64_t>(base_));
      grant();
    }
    std::vector<T> batch;
    bool ended = false;
    {
      std::lock_guard<std::mutex> guard{inbox_state_->mtx};
      auto& q = inbox_state_->records;
      auto n = std::min(q.size(), default_batch_records);
      for (size_t i = 0; i < n; ++i) {
        batch.push_back(std::move(q.front()));
        q.pop_front();
      }
      ended = inbox_state_->ended && q.empty();
      if (!inbox_state_->error.empty() && q.empty())
        throw std::runtime_error("actor source: " + inbox_state_->error);
      if (inbox_state_->received > granted_)
        throw std::runtime_error("actor source: the feeder sent "
                                 + std::to_string(inbox_state_->received)
                                 + " records but only "
                                 + std::to_string(granted_) + " were demanded");
    }
    emitted_ += batch.size();
    auto& out = this->out_.main();
    for (auto& x : batch)
      out.collect(std::move(x), no_timestamp);
    out.flush();
    if (ended)
      return poll_result::finished;
    grant();
    return batch.empty() ? poll_result::idle : poll_result::more;
  }

  void cancel() override { cancelled_ = true; }

  ~actor_source() override { close(); }

  void close() override {
    if (inbox_) {
      caf::anon_send_exit(inbox_, caf::exit_reason::user_shutdown);
      inbox_ = nullptr;
    }
  }

private:
  /// Tops the demand up to `window` records not yet emitted, in steps of at
  /// least half a window (fewer, larger demand messages).
  void grant() {
    auto open = granted_ - emitted_;
    if (open > window_ / 2)
      return;
    auto n = window_ - open;
    granted_ += n;
    caf::anon_send(feeder_, runtime::demand_atom_v, inbox_,
                   static_cast<int32_t>(n));
  }

  caf::actor feeder_;
  size_t window_;
  caf::actor inbox_;
  std::shared_ptr<detail::actor_inbox<T>> inbox_state_;
  size_t granted_ = 0;
  size_t emitted_ = 0;
  size_t base_ = 0;     // the number of the first record of this run
  bool seek_ = false;   // restored: ask the feeder to seek to base_
  bool started_ = false;
  bool cancelled_ = false;
};

/// A sink that delivers records in batches to a CAF actor (see above).
template <class T>
class actor_sink final : public sink_base<T> {
public:
  actor_sink(caf::actor target, size_t batch_size, size_t max_in_flight)
      : target_(std::move(target)), batch_size_(batch_size),
        max_in_flight_(max_in_flight) {
    if (!target_)
      throw std::invalid_argument("actor sink: the target actor is invalid");
    if (batch_size_ == 0 || max_in_flight_ == 0)
      throw std::invalid_argument("actor sink: batch size and max in flight "
                                  "must be positive");
  }

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    acks_ = std::make_shared<ack_state>();
    auto acks = acks_;
    auto target = target_;
    auto wake = ctx.make_waker(this);
    relay_ = runtime::spawn_fn(
        target_->home_system(),
        [acks, target, wake](caf::event_based_actor* self) -> caf::behavior {
          self->monitor(target);
          auto gone = std::make_shared<std::string>();
          self->set_down_handler([acks, wake, gone](caf::down_msg& dm) {
            *gone = dm.reason == caf::exit_reason::normal
                        ? std::string{"terminated normally"}
                        : "terminated: " + to_string(dm.reason);
            // The target's replies arrive before its down message, so batches
            // still unacknowledged now are lost. A target that quits after
            // acknowledging everything is fine until it is sent more.
            if (acks->in_flight.load() > 0) {
              acks->set_error("the target actor " + *gone
                              + " with batches unacknowledged");
              wake();
            }
          });
          return {
              [=](std::vector<T>& xs) {
                if (!gone->empty()) {
                  acks->set_error("the target actor " + *gone
                                  + " before all records were delivered");
                  wake();
                  return;
                }
                self->request(target, caf::infinite, std::move(xs))
                    .then(
                        [acks, wake]() {
                          --acks->in_flight;
                          wake();
                        },
                        [acks, wake](caf::error& err) {
                          acks->set_error("the target replied with an error: "
                                          + to_string(err));
                          wake();
                        });
              },
          };
        });
  }

  void process_batch(record_batch<T>& batch) override {
    for (auto& r : batch) {
      buffer_.push_back(std::move(r.value));
      if (buffer_.size() >= batch_size_) {
        ready_.push_back(std::move(buffer_));
        buffer_ = std::vector<T>{};
      }
    }
    pump();
  }

  void on_wakeup() override {
    acks_->check();
    pump();
  }

  void end_input() override {
    finishing_ = true;
    if (!buffer_.empty()) {
      ready_.push_back(std::move(buffer_));
      buffer_ = std::vector<T>{};
    }
    pump();
  }

  /// Also called when the subtask is torn down without close() (a killed
  /// actor destroys its operators): the relay must not outlive the sink.
  void close() override {
    if (relay_) {
      caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
      relay_ = nullptr;
    }
  }

  ~actor_sink() override { close(); }

  /// The buffer timeout: a partial batch goes out too, so that a slow
  /// unbounded stream reaches the target without waiting for a full batch.
  bool holds_output() const noexcept override { return !buffer_.empty(); }

  void flush() override {
    if (buffer_.empty() || relay_ == nullptr)
      return;
    ready_.push_back(std::move(buffer_));
    buffer_ = std::vector<T>{};
    pump();
  }

private:
  struct ack_state {
    std::atomic<size_t> in_flight{0};
    std::mutex mtx;
    std::string error;

    void set_error(std::string what) {
      std::lock_guard<std::mutex> guard{mtx};
      if (error.empty())
        error = std::move(what);
    }

    void check() {
      std::lock_guard<std::mutex> guard{mtx};
      if (!error.empty())
        throw std::runtime_error("actor sink: " + error);
    }
  };

  /// Sends ready batches while fewer than max_in_flight are unacknowledged,
  /// and holds the subtask's input while batches wait (or, at the end,
  /// until every batch is acknowledged).
  void pump() {
    while (!ready_.empty() && acks_->in_flight.load() < max_in_flight_) {
      ++acks_->in_flight;
      caf::anon_send(relay_, std::move(ready_.front()));
      ready_.pop_front();
    }
    auto waiting
        = !ready_.empty() || (finishing_ && acks_->in_flight.load() > 0);
    this->context().hold_input(this, waiting);
  }

  caf::actor target_;
  size_t batch_size_;
  size_t max_in_flight_;
  caf::actor relay_;
  std::shared_ptr<ack_state> acks_;
  std::vector<T> buffer_;
  std::deque<std::vector<T>> ready_;
  bool finishing_ = false;
};

/// Records sent by `feeder` (non-parallel source; see the protocol above).
template <class T>
data_stream<T> from_actor(stream_execution_environment& env, caf::actor feeder,
                          size_t window = 4096,
                          std::string name = "Actor Source") {
  auto s = env.add_source<T>(std::move(name), [feeder, window] {
    return std::make_unique<actor_source<T>>(feeder, window);
  });
  env.builder()->node(s.id()).non_parallel = true;
  return s;
}

/// Delivers the records of `stream` to `target` in batches.
template <class T>
data_stream_sink<T> sink_to_actor(data_stream<T> stream, caf::actor target,
                                  size_t batch_size = 1024,
                                  size_t max_in_flight = 4) {
  auto& b = *stream.builder();
  auto& t = b.add(transformation_kind::sink, "Actor Sink", {stream.id()});
  t.input_type = typeid(T);
  t.make_operator = [target, batch_size,
                     max_in_flight]() -> std::unique_ptr<operator_base> {
    return std::make_unique<actor_sink<T>>(target, batch_size, max_in_flight);
  };
  t.make_input = typed_input_factory<T>();
  return data_stream_sink<T>{stream.builder(), t.id};
}

} // namespace libstream
