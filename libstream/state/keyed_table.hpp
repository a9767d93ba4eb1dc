#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libstream/key_group.hpp"

namespace libstream {

/// The type-erased part of a keyed state table.
class keyed_table_base {
public:
  virtual ~keyed_table_base() = default;
  virtual size_t size() const noexcept = 0;
  /// Drops every entry of one key group (used when state moves away).
  virtual void clear_key_group(int key_group) = 0;
};

/// A table of keyed state of one name over the key groups of one subtask.
/// Every entry records its key group, so the table can be snapshotted and
/// redistributed per key group.
///
/// This is the heap implementation: an open-addressing index (power-of-two
/// capacity, linear probing, no division on lookup) over individually
/// allocated entries, so a value's address stays valid until its entry is
/// erased. Lookups take the key's spread hash (key_hash), which callers
/// compute once per record for the key group as well.
template <class K, class V, class Hash = key_hasher<K>>
class keyed_table final : public keyed_table_base {
public:
  struct entry {
    K key;
    V value;
    uint32_t hash;
    int key_group;
  };

  explicit keyed_table(key_group_range range) : range_(range) {
    slots_.resize(16);
  }

  ~keyed_table() override {
    for (auto& s : slots_)
      if (live(s.ptr))
        delete s.ptr;
  }

  keyed_table(const keyed_table&) = delete;
  keyed_table& operator=(const keyed_table&) = delete;

  /// Returns the value for `key` or nullptr.
  V* find(const K& key, int key_group) {
    return find(key, key_group, key_hash<K, Hash>(key));
  }

  V* find(const K& key, int key_group, uint32_t h) {
    check(key_group);
    auto mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      auto& s = slots_[i];
      if (s.ptr == nullptr)
        return nullptr;
      if (s.hash == h && live(s.ptr) && s.ptr->key == key)
        return &s.ptr->value;
    }
  }

  /// Returns the value for `key`, default-constructing it when absent.
  V& get_or_create(const K& key, int key_group) {
    return get_or_create(key, key_group, key_hash<K, Hash>(key));
  }

  V& get_or_create(const K& key, int key_group, uint32_t h) {
    if (auto* v = find(key, key_group, h))
      return *v;
    return insert(key, key_group, h, V{});
  }

  void put(const K& key, int key_group, V value) {
    put(key, key_group, key_hash<K, Hash>(key), std::move(value));
  }

  void put(const K& key, int key_group, uint32_t h, V value) {
    if (auto* v = find(key, key_group, h))
      *v = std::move(value);
    else
      insert(key, key_group, h, std::move(value));
  }

  bool erase(const K& key, int key_group) {
    return erase(key, key_group, key_hash<K, Hash>(key));
  }

  bool erase(const K& key, int key_group, uint32_t h) {
    check(key_group);
    auto mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      auto& s = slots_[i];
      if (s.ptr == nullptr)
        return false;
      if (s.hash == h && live(s.ptr) && s.ptr->key == key) {
        delete s.ptr;
        s.ptr = tombstone();
        --size_;
        return true;
      }
    }
  }

  /// Calls f(key, value) for each entry of one key group.
  template <class F>
  void for_each(int key_group, F&& f) {
    check(key_group);
    for (auto& s : slots_)
      if (live(s.ptr) && s.ptr->key_group == key_group)
        f(s.ptr->key, s.ptr->value);
  }

  /// Calls f(key, value) for every entry. `f` must not insert or erase.
  template <class F>
  void for_each(F&& f) {
    for (auto& s : slots_)
      if (live(s.ptr))
        f(s.ptr->key, s.ptr->value);
  }

  size_t size() const noexcept override { return size_; }

  void clear_key_group(int key_group) override {
    check(key_group);
    for (auto& s : slots_)
      if (live(s.ptr) && s.ptr->key_group == key_group) {
        delete s.ptr;
        s.ptr = tombstone();
        --size_;
      }
  }

  key_group_range range() const noexcept { return range_; }

private:
  struct slot {
    uint32_t hash = 0;
    entry* ptr = nullptr; // nullptr = empty, tombstone() = erased
  };

  static entry* tombstone() noexcept {
    static char marker;
    return reinterpret_cast<entry*>(&marker);
  }

  static bool live(entry* p) noexcept {
    return p != nullptr && p != tombstone();
  }

  void check(int key_group) const {
    if (!range_.contains(key_group))
      throw std::out_of_range("key group " + std::to_string(key_group)
                              + " is not owned by this subtask ["
                              + std::to_string(range_.first) + ", "
                              + std::to_string(range_.last) + ")");
  }

  V& insert(const K& key, int key_group, uint32_t h, V value) {
    if ((used_ + 1) * 2 > slots_.size())
      rehash(size_ * 4 > slots_.size() ? slots_.size() * 2 : slots_.size());
    auto* e = new entry{key, std::move(value), h, key_group};
    auto mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      auto& s = slots_[i];
      if (s.ptr == nullptr) {
        s = slot{h, e};
        ++used_;
        ++size_;
        return e->value;
      }
    }
  }

  /// Rebuilds the index with `capacity` slots, dropping tombstones.
  void rehash(size_t capacity) {
    std::vector<slot> old(capacity);
    old.swap(slots_);
    used_ = 0;
    auto mask = slots_.size() - 1;
    for (auto& s : old) {
      if (!live(s.ptr))
        continue;
      for (size_t i = s.hash & mask;; i = (i + 1) & mask)
        if (slots_[i].ptr == nullptr) {
          slots_[i] = s;
          ++used_;
          break;
        }
    }
  }

  key_group_range range_;
  std::vector<slot> slots_;
  size_t used_ = 0; // live entries plus tombstones
  size_t size_ = 0; // live entries
};

/// The keyed state of one operator subtask: named tables over the subtask's
/// key-group range. In memory for now; the same interface will front the
/// LevelDB backend.
class keyed_state_backend {
public:
  keyed_state_backend(key_group_range range, int max_parallelism)
      : range_(range), max_parallelism_(max_parallelism) {}

  /// Returns the table `name`, creating it on first use. Throws when the
  /// name is already used with other types.
  template <class K, class V, class Hash = key_hasher<K>>
  keyed_table<K, V, Hash>& table(const std::string& name) {
    auto i = tables_.find(name);
    if (i == tables_.end())
      i = tables_
              .emplace(name, std::make_unique<keyed_table<K, V, Hash>>(range_))
              .first;
    auto* ptr = dynamic_cast<keyed_table<K, V, Hash>*>(i->second.get());
    if (ptr == nullptr)
      throw std::logic_error("keyed state '" + name
                             + "' is registered with another type");
    return *ptr;
  }

  key_group_range range() const noexcept { return range_; }
  int max_parallelism() const noexcept { return max_parallelism_; }

private:
  key_group_range range_;
  int max_parallelism_;
  std::unordered_map<std::string, std::unique_ptr<keyed_table_base>> tables_;
};

} // namespace libstream
