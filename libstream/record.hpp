#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
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

/// A batch with its element type erased, so that the runtime can move it
/// between subtask actors without knowing the type. In-process it is moved,
/// never serialized.
class erased_batch {
public:
  virtual ~erased_batch() = default;
  virtual size_t size() const noexcept = 0;
};

template <class T>
class typed_batch final : public erased_batch {
public:
  explicit typed_batch(record_batch<T>&& xs) : records(std::move(xs)) {}
  size_t size() const noexcept override { return records.size(); }
  record_batch<T> records;
};

using erased_batch_ptr = std::shared_ptr<erased_batch>;

} // namespace libstream
