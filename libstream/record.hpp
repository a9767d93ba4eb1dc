#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <type_traits>
#include <utility>
#include <vector>

#include "libstream/time.hpp"

namespace libstream {

/// One element of a stream: a value and its event timestamp.
template <class T>
struct record {
  T value;
  timestamp ts;

  /// Leaves a trivial T and the timestamp uninitialised: buffers of
  /// records are allocated as slots that are assigned before they are read,
  /// and zeroing them cost as much as filling them.
  record() noexcept(std::is_nothrow_default_constructible_v<T>) {}
  record(T v, timestamp t) : value(std::move(v)), ts(t) {}
};

/// A batch of records: the unit an operator processes and a channel ships.
template <class T>
using record_batch = std::vector<record<T>>;

/// The number of records a batch holds before it is flushed (default).
constexpr size_t default_batch_records = 1024;

/// The batch size of an operator's output inside a chain: 1024 records,
/// fewer for records over 32 bytes (at least 64), so that a chain's
/// buffers take about 32 KiB each: with many subtasks on a node their
/// buffers add up.
template <class T>
constexpr size_t chain_batch_records() {
  constexpr size_t n = (size_t{32} << 10) / sizeof(record<T>);
  return n < 64 ? 64 : (n > default_batch_records ? default_batch_records : n);
}

/// A batch with its element type erased, so that the runtime can move it
/// between subtask actors without knowing the type. In-process it is moved,
/// never serialized.
class erased_batch {
public:
  virtual ~erased_batch() = default;
  virtual size_t size() const noexcept = 0;
};

/// Batches a consumer is done with, kept for a producer to fill again:
/// their storage, and the strings and vectors inside their records with
/// their capacity, are reused instead of freed and allocated per batch
/// (as Flink's network buffer pool). Thread-safe: batches come back on the
/// consumer's thread.
template <class T>
class batch_pool {
public:
  explicit batch_pool(size_t max_batches) : max_(max_batches) {}

  /// The pool every producer of T in this process shares, alive while a
  /// producer or a batch holds it. A producer sends only a fraction of a
  /// job's batches, so with one pool each it would keep batches it rarely
  /// fills again (at parallelism 128 on one node: a third of the network
  /// memory, all of it touched fresh); shared, a batch back from any
  /// consumer goes to the next producer that needs one, newest (cache-hot)
  /// first. Producers reserve() their share of the batches it keeps.
  /// Hidden: each shared library and app module has its own, as two app
  /// modules may name different types alike (a GNU unique symbol would
  /// merge their pools across RTLD_LOCAL).
  __attribute__((visibility("hidden"))) static std::shared_ptr<batch_pool>
  shared() {
    static std::mutex mtx;
    static std::weak_ptr<batch_pool> current;
    std::lock_guard<std::mutex> guard{mtx};
    auto pool = current.lock();
    if (!pool) {
      pool = std::make_shared<batch_pool>(0);
      current = pool;
    }
    return pool;
  }

  /// A returned batch, or an empty one when none is left.
  record_batch<T> take() {
    std::lock_guard<std::mutex> guard{mtx_};
    if (free_.empty())
      return {};
    auto result = std::move(free_.back());
    free_.pop_back();
    return result;
  }

  /// Keeps `batch` (up to the limit; beyond it, it is freed).
  void give(record_batch<T>&& batch) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (free_.size() < max_)
      free_.push_back(std::move(batch));
  }

  /// Keeps up to `n` more batches.
  void reserve(size_t n) {
    std::lock_guard<std::mutex> guard{mtx_};
    max_ += n;
  }

  /// Keeps up to `n` fewer batches, freeing what is over the limit.
  void unreserve(size_t n) {
    std::vector<record_batch<T>> excess;
    std::lock_guard<std::mutex> guard{mtx_};
    max_ -= n < max_ ? n : max_;
    while (free_.size() > max_) {
      excess.push_back(std::move(free_.back()));
      free_.pop_back();
    }
  }

private:
  std::mutex mtx_;
  std::vector<record_batch<T>> free_;
  size_t max_;
};

template <class T>
class typed_batch final : public erased_batch {
public:
  explicit typed_batch(record_batch<T>&& xs,
                       std::shared_ptr<batch_pool<T>> pool = nullptr)
      : records(std::move(xs)), pool_(std::move(pool)) {}
  ~typed_batch() override {
    if (pool_)
      pool_->give(std::move(records));
  }
  size_t size() const noexcept override { return records.size(); }
  record_batch<T> records;
  /// From a hash partitioner: the key hash (key_hash) of each record, so
  /// that the keyed operator receiving the batch does not hash again.
  /// Empty otherwise.
  std::vector<uint32_t> key_hashes;

private:
  std::shared_ptr<batch_pool<T>> pool_;
};

using erased_batch_ptr = std::shared_ptr<erased_batch>;

} // namespace libstream
