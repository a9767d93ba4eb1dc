#pragma once

#include <cstdint>
#include <string>

#include "libstream/key_hash.hpp"

namespace libstream {

/// The default number of key groups, the upper bound of any keyed
/// operator's parallelism (Flink's default max parallelism is 128 too).
constexpr int default_max_parallelism = 128;

/// Spreads a key's hash code over 32 bits (murmur3's finalizer), so that
/// weak hash codes (integers hash to themselves) still fill all key groups.
inline uint32_t spread_hash(uint64_t h) noexcept {
  return static_cast<uint32_t>(mix64(h));
}

/// The spread stable hash of a key (see key_hasher): the basis of its key
/// group and of its slot in keyed state tables, computed once per record.
template <class K, class Hash = key_hasher<K>>
uint32_t key_hash(const K& key) {
  return spread_hash(static_cast<uint64_t>(Hash{}(key)));
}

/// The key group of a key hash (see key_hash). Power-of-two max
/// parallelism (the default 128) avoids a division.
inline int key_group_of_hash(uint32_t h, int max_parallelism) noexcept {
  auto m = static_cast<uint32_t>(max_parallelism);
  return static_cast<int>((m & (m - 1)) == 0 ? (h & (m - 1)) : (h % m));
}

/// The key group of a key: stable for a given key hash and max parallelism.
template <class K, class Hash = key_hasher<K>>
int key_group_of(const K& key, int max_parallelism) {
  return key_group_of_hash(key_hash<K, Hash>(key), max_parallelism);
}

/// The subtask that owns a key group: contiguous ranges of key groups go to
/// each subtask, so keyed state can be redistributed when parallelism changes.
inline int subtask_of_key_group(int key_group, int parallelism,
                                int max_parallelism) noexcept {
  auto x
      = static_cast<uint64_t>(key_group) * static_cast<uint64_t>(parallelism);
  auto m = static_cast<uint32_t>(max_parallelism);
  if ((m & (m - 1)) == 0)
    return static_cast<int>(x >> __builtin_ctz(m));
  return static_cast<int>(x / m);
}

/// A half-open range [first, last) of key groups.
struct key_group_range {
  int first = 0;
  int last = 0;

  int size() const noexcept { return last - first; }
  bool contains(int key_group) const noexcept {
    return key_group >= first && key_group < last;
  }
};

/// The key groups owned by subtask `index` of `parallelism`: exactly those
/// for which subtask_of_key_group returns `index`.
inline key_group_range key_group_range_of(int index, int parallelism,
                                          int max_parallelism) noexcept {
  auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  auto first
      = ceil_div(static_cast<int64_t>(index) * max_parallelism, parallelism);
  auto last = ceil_div(static_cast<int64_t>(index + 1) * max_parallelism,
                       parallelism);
  return {static_cast<int>(first), static_cast<int>(last)};
}

} // namespace libstream
