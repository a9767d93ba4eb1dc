#pragma once

#include <cstddef>
#include <type_traits>
#include <utility>

#include "libstream/record.hpp"

/// Forces inlining on the per-record hot path: a record built by the caller
/// then copied through an out-of-line call stalls on store forwarding.
#if defined(__GNUC__)
#define LIBSTREAM_HOT_INLINE inline __attribute__((always_inline))
#else
#define LIBSTREAM_HOT_INLINE inline
#endif

namespace libstream {

/// Collects records into a batch of at most `capacity`, the buffer behind
/// every operator output and network channel.
///
/// For default-constructible T the storage is `capacity` pre-constructed
/// slots and a fill count: adding a record is an assignment the compiler
/// keeps in registers (no growth check, no out-of-line push_back), and
/// record() initialises nothing, so fresh storage costs an allocation only.
/// Other types are appended to reserved storage.
template <class T>
class record_buffer {
public:
  static constexpr bool slots = std::is_default_constructible_v<T>;

  explicit record_buffer(size_t capacity) : capacity_(capacity) { fresh(); }

  /// A buffer without storage: call start() before adding records (a
  /// network channel that never gets a record holds no memory).
  record_buffer() noexcept : capacity_(0) {}

  size_t size() const noexcept { return size_; }
  size_t capacity() const noexcept { return capacity_; }
  bool empty() const noexcept { return size_ == 0; }
  /// Whether the buffer has storage to add records to.
  bool started() const noexcept { return capacity_ != 0; }

  /// Gives an empty buffer storage for `capacity` records, from `pool`
  /// when it has a batch.
  void start(size_t capacity, batch_pool<T>* pool = nullptr) {
    capacity_ = capacity < 1 ? 1 : capacity;
    fresh(pool);
  }

  /// Adds a record; returns true when the buffer is now full.
  template <class V>
  LIBSTREAM_HOT_INLINE bool push(V&& value, timestamp ts) {
    if constexpr (slots) {
      auto& slot = storage_[size_];
      slot.value = std::forward<V>(value);
      slot.ts = ts;
    } else {
      storage_.emplace_back(std::forward<V>(value), ts);
    }
    return ++size_ == capacity_;
  }

  /// Adds a record by swapping it into the slot: the caller's value gets
  /// what the slot held (a recycled record's strings with their capacity)
  /// instead of being left empty. Returns true when the buffer is full.
  LIBSTREAM_HOT_INLINE bool push_swap(T& value, timestamp ts) {
    if constexpr (slots && !std::is_trivially_copyable_v<T>) {
      auto& slot = storage_[size_];
      using std::swap;
      swap(slot.value, value);
      slot.ts = ts;
      return ++size_ == capacity_;
    } else {
      return push(std::move(value), ts);
    }
  }

  /// The next free slot, to fill in place (its value keeps what it held:
  /// strings keep their capacity); commit() adds it. Slot storage only.
  LIBSTREAM_HOT_INLINE record<T>& next_slot() noexcept {
    static_assert(slots, "next_slot needs a default-constructible type");
    return storage_[size_];
  }

  /// Adds the slot next_slot() returned; true when the buffer is now full.
  LIBSTREAM_HOT_INLINE bool commit_slot() noexcept {
    return ++size_ == capacity_;
  }

  /// The filled records, to hand on in place; call reuse() afterwards.
  /// Receivers may move from the records or shrink the batch.
  record_batch<T>& filled() {
    if constexpr (slots)
      storage_.resize(size_);
    return storage_;
  }

  /// Starts over on the same storage after filled() was handed on.
  void reuse() {
    if constexpr (slots)
      storage_.resize(capacity_); // constructs only what was shrunk away
    else
      storage_.clear();
    size_ = 0;
  }

  /// Gives up the storage of an empty buffer as it is (its slots keep
  /// what they hold, strings their capacity), for a pool; start() again
  /// before adding records.
  record_batch<T> release_storage() noexcept {
    capacity_ = 0;
    size_ = 0;
    return std::move(storage_);
  }

  /// Moves the filled records out and leaves the buffer without storage
  /// (start() it again before adding records).
  record_batch<T> release() {
    auto result = std::move(filled());
    storage_ = record_batch<T>{};
    capacity_ = 0;
    size_ = 0;
    return result;
  }

private:
  void fresh(batch_pool<T>* pool = nullptr) {
    storage_ = pool != nullptr ? pool->take() : record_batch<T>{};
    // A pooled batch from an edge with larger batches would keep memory
    // beyond what this one's budget allows.
    if (storage_.capacity() > 2 * capacity_)
      storage_ = record_batch<T>{};
    if constexpr (slots) {
      storage_.resize(capacity_);
    } else {
      storage_.clear(); // a pooled batch still holds its records
      storage_.reserve(capacity_);
    }
    size_ = 0;
  }

  size_t capacity_;
  record_batch<T> storage_;
  size_t size_ = 0;
};

} // namespace libstream
