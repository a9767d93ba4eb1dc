#pragma once

// CAF actors as the source and the sink of a libstream job, with
// backpressure in both directions.
//
// Source protocol (the feeder is the application's actor):
//   libstream -> feeder   (demand_atom, caf::actor inbox, int32 n)
//                         "send up to n more records to inbox"
//   feeder -> inbox       std::vector<T>  (never more than demanded in total)
//   feeder -> inbox       (end_atom, uint32 0)   the input is complete
// Demand is granted in steps so that at most `window` records are demanded
// but not yet emitted: memory stays bounded however fast the feeder is.
//
// Sink protocol (the target is the application's actor):
//   libstream -> target   request std::vector<T>; the target's handler
//                         returns void, and that (empty) reply acknowledges
//                         the batch
// The sink has at most `max_in_flight` unacknowledged batches; past that the
// subtask waits, which backpressures the job. finish() waits until every
// batch is acknowledged. T must be usable in CAF messages (an inspect
// overload, or CAF_ALLOW_UNSAFE_MESSAGE_TYPE for in-process use).

#include <condition_variable>
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
#include "caf/spawn_options.hpp"

#include "actors/messages.hpp"
#include "libstream/data_stream.hpp"
#include "libstream/environment.hpp"

CAF_BEGIN_TYPE_ID_BLOCK(libstream_io, caf::id_block::libstream::end)
  CAF_ADD_ATOM(libstream_io, libstream::runtime, demand_atom, "demand")
CAF_END_TYPE_ID_BLOCK(libstream_io)

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
    inbox_ = feeder_->home_system().spawn(
      [st](caf::event_based_actor* self) -> caf::behavior {
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
    grant();
  }

  typename source_operator<T>::poll_result poll() override {
    using poll_result = typename source_operator<T>::poll_result;
    if (cancelled_)
      return poll_result::finished;
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
      if (inbox_state_->received > granted_)
        throw std::runtime_error("actor source: the feeder sent "
                                 + std::to_string(inbox_state_->received)
                                 + " records but only "
                                 + std::to_string(granted_)
                                 + " were demanded");
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

  void close() override {
    if (inbox_)
      caf::anon_send_exit(inbox_, caf::exit_reason::user_shutdown);
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
  bool cancelled_ = false;
};

/// A sink that delivers records in batches to a CAF actor (see above).
template <class T>
class actor_sink final : public sink_function<T> {
public:
  actor_sink(caf::actor target, size_t batch_size, size_t max_in_flight)
    : target_(std::move(target)),
      batch_size_(batch_size),
      max_in_flight_(max_in_flight) {
    if (!target_)
      throw std::invalid_argument("actor sink: the target actor is invalid");
    if (batch_size_ == 0 || max_in_flight_ == 0)
      throw std::invalid_argument("actor sink: batch size and max in flight "
                                  "must be positive");
  }

  void open(const runtime_info&) override {
    acks_ = std::make_shared<ack_state>();
    auto acks = acks_;
    auto target = target_;
    // Detached: it must run even when every scheduler thread waits in a sink.
    relay_ = target_->home_system().template spawn<caf::detached>(
      [acks, target](caf::event_based_actor* self) -> caf::behavior {
        return {
          [=](std::vector<T>& xs) {
            self->request(target, caf::infinite, std::move(xs))
              .then(
                [acks]() { acks->done(""); },
                [acks](caf::error& err) { acks->done(to_string(err)); });
          },
        };
      });
  }

  void invoke(const T& value, timestamp) override {
    buffer_.push_back(value);
    if (buffer_.size() >= batch_size_)
      send();
  }

  void finish() override {
    if (!buffer_.empty())
      send();
    acks_->wait_below(1);
  }

  void close() override {
    if (relay_)
      caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
  }

private:
  struct ack_state {
    std::mutex mtx;
    std::condition_variable cv;
    size_t in_flight = 0;
    std::string error;

    void done(std::string err) {
      std::lock_guard<std::mutex> guard{mtx};
      --in_flight;
      if (!err.empty() && error.empty())
        error = std::move(err);
      cv.notify_all();
    }

    void wait_below(size_t n) {
      std::unique_lock<std::mutex> guard{mtx};
      cv.wait(guard, [&] { return in_flight < n || !error.empty(); });
      if (!error.empty())
        throw std::runtime_error("actor sink: the target failed: " + error);
    }
  };

  void send() {
    acks_->wait_below(max_in_flight_);
    {
      std::lock_guard<std::mutex> guard{acks_->mtx};
      ++acks_->in_flight;
    }
    caf::anon_send(relay_, std::move(buffer_));
    buffer_ = std::vector<T>{};
  }

  caf::actor target_;
  size_t batch_size_;
  size_t max_in_flight_;
  caf::actor relay_;
  std::shared_ptr<ack_state> acks_;
  std::vector<T> buffer_;
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
  return stream.add_sink(
    [target, batch_size, max_in_flight] {
      return std::make_unique<actor_sink<T>>(target, batch_size,
                                             max_in_flight);
    },
    "Actor Sink");
}

} // namespace libstream
