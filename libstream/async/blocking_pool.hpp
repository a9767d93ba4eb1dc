#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "libstream/async/async_function.hpp"

namespace libstream {

/// A fixed set of threads that run blocking calls, so that a client
/// without an asynchronous API serves an async operator with bounded
/// concurrency (the way Flink's documentation suggests for such clients).
/// Tasks run in submission order on the first free thread; the
/// destructor finishes the tasks running and drops those still queued.
class blocking_pool {
public:
  /// Starts `threads` threads (at least 1).
  explicit blocking_pool(size_t threads);
  ~blocking_pool();

  blocking_pool(const blocking_pool&) = delete;
  blocking_pool& operator=(const blocking_pool&) = delete;

  /// Queues `task`; it gets the index of the thread that runs it
  /// (0 .. threads() - 1), for per-thread clients.
  void submit(std::function<void(size_t thread)> task);

  size_t threads() const noexcept { return workers_.size(); }

  /// Tasks queued and not started.
  size_t queued() const;

private:
  void run(size_t index);

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void(size_t)>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

/// An async function over a blocking client: `call` runs on one of
/// `threads` pool threads, each with its own client made by `connect` on
/// first use (a connection per thread, reused for every call). What
/// `call` returns completes the request; what it throws fails it with the
/// exception's message (retried if the retry strategy says so). close()
/// stops the threads (the async operator calls it, also when it is
/// destroyed unclosed); a derived class used on its own calls close() in
/// its destructor, since the threads call its members.
template <class In, class Out, class Client>
class blocking_async_function : public async_function<In, Out> {
public:
  explicit blocking_async_function(size_t threads) : threads_(threads) {
    if (threads == 0)
      throw std::invalid_argument("blocking_async_function: at least one "
                                  "thread");
  }

  ~blocking_async_function() override { pool_.reset(); }

  void open(const runtime_info& info) override {
    info_ = info;
    clients_.clear();
    clients_.resize(threads_);
    pool_ = std::make_unique<blocking_pool>(threads_);
  }

  void async_invoke(const In& input, result_future<Out> future) override {
    pool_->submit([this, input, future](size_t thread) {
      try {
        auto& client = clients_[thread];
        if (!client)
          client = connect(info_);
        future.complete(call(*client, input));
      } catch (const std::exception& e) {
        clients_[thread].reset(); // reconnect on the next call
        future.complete_exceptionally(e.what());
      } catch (...) {
        clients_[thread].reset();
        future.complete_exceptionally("unknown exception");
      }
    });
  }

  /// Stops the threads (after the calls running) and drops the clients.
  void close() override {
    pool_.reset();
    clients_.clear();
  }

protected:
  /// Makes the client of one pool thread (runs on that thread).
  virtual std::unique_ptr<Client> connect(const runtime_info& info) = 0;

  /// The blocking call for one record (runs on a pool thread).
  virtual std::vector<Out> call(Client& client, const In& input) = 0;

private:
  size_t threads_;
  runtime_info info_;
  std::vector<std::unique_ptr<Client>> clients_; // one per pool thread
  std::unique_ptr<blocking_pool> pool_;
};

} // namespace libstream
