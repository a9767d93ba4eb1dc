#include "libstream/async/blocking_pool.hpp"

namespace libstream {

blocking_pool::blocking_pool(size_t threads) {
  if (threads == 0)
    threads = 1;
  workers_.reserve(threads);
  for (size_t i = 0; i < threads; ++i)
    workers_.emplace_back([this, i] { run(i); });
}

blocking_pool::~blocking_pool() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
    tasks_.clear();
  }
  cv_.notify_all();
  for (auto& t : workers_)
    t.join();
}

void blocking_pool::submit(std::function<void(size_t)> task) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopping_)
      return;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
}

size_t blocking_pool::queued() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return tasks_.size();
}

void blocking_pool::run(size_t index) {
  for (;;) {
    std::function<void(size_t)> task;
    {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait(guard, [this] { return stopping_ || !tasks_.empty(); });
      if (stopping_)
        return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task(index);
  }
}

} // namespace libstream
