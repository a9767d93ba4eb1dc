// libstream's worker pool: CAF's scheduler coordinator with a policy that
// runs a subtask woken by another soon after, while what it was sent is
// still in the caches.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <utility>
#include <mutex>
#include <condition_variable>

#include "caf/actor_system_config.hpp"
#include "caf/policy/unprofiled.hpp"
#include "caf/resumable.hpp"
#include "caf/scheduler/coordinator.hpp"
#include "caf/scheduler/worker.hpp"

#include "actors/embedded.hpp"

namespace libstream {
namespace {

/// One queue shared by all workers (as CAF's work sharing: an idle worker
/// takes a ready subtask at once), in two parts:
/// - woken: actors an actor on a worker just sent to (internal enqueues),
///   newest first, so that a consumer runs while the batch its producer
///   filled is hot, and the batch goes back to the producer's pool at once;
/// - ready: everything else (actors that used up their throughput and
///   yield, messages from timers, other threads and the network), oldest
///   first.
/// Woken actors go first, but never more than `woken_streak` in a row while
/// ready ones wait, so a producer and consumer waking each other cannot
/// starve the rest; and an actor woken `woken_max_age` dispatches ago and
/// still waiting joins the ready ones, so none waits at the bottom of the
/// stack for as long as newer wake-ups keep coming. The bound is loose on
/// purpose: newest-first makes a wide job run a few producers at a time,
/// and tighter bounds undid that (at p=128 of the stock job, all 256
/// subtasks woken at its start then started together from the ready
/// queue: a stack of at most 64 gave 100-117 MB and 0.63 of p=8's speed,
/// an age of 4,096 dispatches 78-86 MB and 0.73; 65,536 gives 31-37 MB and
/// 0.85-0.91).
///
/// The pool is installed as the actor system's scheduler module: it takes
/// precedence over CAF's `scheduler.policy`.
///
/// An enqueue notifies the condition variable only when a worker sleeps on
/// it (CAF's work sharing notifies on every enqueue). Workers do not spin
/// before they sleep: polling the queue for 50 us cost the keyed pipeline
/// at p=1 5% of its speed (the spinning worker took the core the other
/// needed) and gained nothing measurable at p=128.
class woken_first : public caf::policy::unprofiled {
public:
  static constexpr size_t woken_streak = 16;
  static constexpr uint64_t woken_max_age = 65536;

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {}
    std::mutex lock;
    std::condition_variable cv;
    std::deque<std::pair<caf::resumable*, uint64_t>> woken; // and when
    uint64_t dispatches = 0;
    std::deque<caf::resumable*> ready;
    size_t streak = 0;
    size_t sleepers = 0;
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {}
  };

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    push(d(self), job, false);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    push(d(self->parent()), job, false);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    push(d(self->parent()), job, true);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    push(d(self->parent()), job, false);
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& q = d(self->parent());
    std::unique_lock<std::mutex> guard{q.lock};
    if (q.woken.empty() && q.ready.empty()) {
      ++q.sleepers;
      q.cv.wait(guard, [&] { return !q.woken.empty() || !q.ready.empty(); });
      --q.sleepers;
    }
    ++q.dispatches;
    while (!q.woken.empty()
           && q.dispatches - q.woken.front().second > woken_max_age) {
      q.ready.push_back(q.woken.front().first);
      q.woken.pop_front();
    }
    caf::resumable* job;
    if (!q.woken.empty() && (q.ready.empty() || q.streak < woken_streak)) {
      job = q.woken.back().first;
      q.woken.pop_back();
      if (!q.ready.empty())
        ++q.streak;
    } else {
      job = q.ready.front();
      q.ready.pop_front();
      q.streak = 0;
    }
    return job;
  }

  template <class Worker, class F>
  void foreach_resumable(Worker*, F) {
    // no per-worker queues
  }

  template <class Coordinator, class F>
  void foreach_central_resumable(Coordinator* self, F f) {
    auto& q = d(self);
    std::unique_lock<std::mutex> guard{q.lock};
    while (!q.woken.empty()) {
      auto* job = q.woken.front().first;
      q.woken.pop_front();
      f(job);
    }
    while (!q.ready.empty()) {
      auto* job = q.ready.front();
      q.ready.pop_front();
      f(job);
    }
  }

private:
  static void push(coordinator_data& q, caf::resumable* job, bool woken) {
    bool wake;
    {
      std::lock_guard<std::mutex> guard{q.lock};
      if (woken) {
        q.woken.emplace_back(job, q.dispatches);
      } else {
        q.ready.push_back(job);
      }
      wake = q.sleepers > 0;
    }
    if (wake)
      q.cv.notify_one();
  }
};

} // namespace

void configure_worker_pool(caf::actor_system_config& cfg, int threads) {
  cfg.module_factories.emplace_back(
      [](caf::actor_system& sys) -> caf::actor_system::module* {
        return new caf::scheduler::coordinator<woken_first>(sys);
      });
  // A subtask yields its worker after this many messages, so that a
  // source polling itself cannot hold a worker while consumers wait (CAF's
  // default is unlimited).
  cfg.set("scheduler.max-throughput", size_t{worker_pool_max_throughput});
  if (threads > 0)
    cfg.set("scheduler.max-threads", static_cast<size_t>(threads));
}

} // namespace libstream
