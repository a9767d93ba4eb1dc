#pragma once

#include <cstddef>
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

/// A table of keyed state of one name, organised by key group so that it can
/// be snapshotted and redistributed per key group. This is the heap
/// implementation: one hash map per key group of the subtask's range.
template <class K, class V, class Hash = std::hash<K>>
class keyed_table final : public keyed_table_base {
public:
  using map_type = std::unordered_map<K, V, Hash>;

  explicit keyed_table(key_group_range range)
    : range_(range), groups_(static_cast<size_t>(range.size())) {}

  /// Returns the value for `key` or nullptr. The pointer stays valid until
  /// the entry is erased (unordered_map keeps node addresses stable).
  V* find(const K& key, int key_group) {
    auto& m = group(key_group);
    auto i = m.find(key);
    return i == m.end() ? nullptr : &i->second;
  }

  /// Returns the value for `key`, default-constructing it when absent.
  V& get_or_create(const K& key, int key_group) { return group(key_group)[key]; }

  void put(const K& key, int key_group, V value) {
    group(key_group).insert_or_assign(key, std::move(value));
  }

  bool erase(const K& key, int key_group) {
    return group(key_group).erase(key) > 0;
  }

  /// Calls f(key, value) for each entry of one key group.
  template <class F>
  void for_each(int key_group, F&& f) {
    for (auto& kvp : group(key_group))
      f(kvp.first, kvp.second);
  }

  /// Calls f(key, value) for every entry of every key group.
  template <class F>
  void for_each(F&& f) {
    for (auto& m : groups_)
      for (auto& kvp : m)
        f(kvp.first, kvp.second);
  }

  size_t size() const noexcept override {
    size_t n = 0;
    for (auto& m : groups_)
      n += m.size();
    return n;
  }

  void clear_key_group(int key_group) override { group(key_group).clear(); }

  key_group_range range() const noexcept { return range_; }

private:
  map_type& group(int key_group) {
    if (!range_.contains(key_group))
      throw std::out_of_range("key group " + std::to_string(key_group)
                              + " is not owned by this subtask ["
                              + std::to_string(range_.first) + ", "
                              + std::to_string(range_.last) + ")");
    return groups_[static_cast<size_t>(key_group - range_.first)];
  }

  key_group_range range_;
  std::vector<map_type> groups_;
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
  template <class K, class V, class Hash = std::hash<K>>
  keyed_table<K, V, Hash>& table(const std::string& name) {
    auto i = tables_.find(name);
    if (i == tables_.end())
      i = tables_.emplace(name,
                          std::make_unique<keyed_table<K, V, Hash>>(range_))
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
