#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/key_group.hpp"

namespace libstream {

/// The type-erased part of a keyed state table.
class keyed_table_base {
public:
  virtual ~keyed_table_base() = default;
  virtual size_t size() const noexcept = 0;
  /// Drops every entry of one key group (used when state moves away).
  virtual void clear_key_group(int key_group) = 0;

  /// Appends the entries of every key group of the table's range to
  /// `groups` (index: key group - range.first): the number of entries,
  /// then each key and value with their codecs. Throws std::logic_error
  /// when the key or value type has no codec.
  virtual void snapshot(std::vector<byte_writer>& groups) const = 0;

  /// Adds the entries of key group `key_group` that snapshot wrote, read
  /// from `r`. Throws codec_error for bytes that do not decode.
  virtual void restore(int key_group, byte_reader& r) = 0;
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

  explicit keyed_table(key_group_range range,
                       int max_parallelism = default_max_parallelism)
      : range_(range), max_parallelism_(max_parallelism) {
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

  void snapshot(std::vector<byte_writer>& groups) const override {
    if constexpr (has_codec_v<K> && has_codec_v<V>) {
      if (groups.size() != static_cast<size_t>(range_.size()))
        throw std::logic_error("keyed_table::snapshot: one writer per key "
                               "group of the range expected");
      std::vector<std::vector<const entry*>> by_group(groups.size());
      for (auto& s : slots_)
        if (live(s.ptr))
          by_group[static_cast<size_t>(s.ptr->key_group - range_.first)]
              .push_back(s.ptr);
      for (size_t g = 0; g < groups.size(); ++g) {
        auto& w = groups[g];
        w.put_varint(by_group[g].size());
        for (auto* e : by_group[g]) {
          codec<K>::encode(e->key, w);
          codec<V>::encode(e->value, w);
        }
      }
    } else {
      throw std::logic_error(
          std::string{"keyed state of a type without a codec cannot be "
                      "snapshotted: give the "}
          + (has_codec_v<K> ? "value" : "key")
          + " type a libstream::codec specialization (libstream/codec.hpp)");
    }
  }

  void restore(int key_group, byte_reader& r) override {
    if constexpr (has_codec_v<K> && has_codec_v<V>) {
      check(key_group);
      auto n = r.get_length(1);
      for (size_t i = 0; i < n; ++i) {
        auto k = codec<K>::decode(r);
        auto v = codec<V>::decode(r);
        auto h = key_hash<K, Hash>(k);
        if (key_group_of_hash(h, max_parallelism_) != key_group)
          r.fail("a key of key group "
                 + std::to_string(key_group_of_hash(h, max_parallelism_))
                 + " is stored under key group " + std::to_string(key_group)
                 + " (another key hash or max parallelism?)");
        put(k, key_group, h, std::move(v));
      }
    } else {
      throw std::logic_error("keyed state of a type without a codec cannot "
                             "be restored: give it a libstream::codec");
    }
  }

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
  int max_parallelism_;
  std::vector<slot> slots_;
  size_t used_ = 0; // live entries plus tombstones
  size_t size_ = 0; // live entries
};

/// The keyed state of one operator subtask: named tables over the subtask's
/// key-group range. In memory for now; the same interface will front the
/// LevelDB backend.
///
/// Snapshots are organised by key group, so that a restore can take any
/// key groups from any earlier parallelism: snapshot() writes the groups of
/// the range one after the other, each a list of (table name, entries);
/// restore_key_group() takes one group's section. Restored entries of a
/// table are decoded when the operator registers the table (its types are
/// known only then); until then they wait as bytes.
class keyed_state_backend {
public:
  keyed_state_backend(key_group_range range, int max_parallelism)
      : range_(range), max_parallelism_(max_parallelism) {}

  /// Returns the table `name`, creating it on first use. Throws when the
  /// name is already used with other types.
  template <class K, class V, class Hash = key_hasher<K>>
  keyed_table<K, V, Hash>& table(const std::string& name) {
    auto i = tables_.find(name);
    if (i == tables_.end()) {
      if (attached_.count(name) != 0)
        throw std::logic_error("keyed state '" + name
                               + "' is used by the operator itself");
      i = tables_
              .emplace(name, std::make_unique<keyed_table<K, V, Hash>>(
                                 range_, max_parallelism_))
              .first;
      decode_pending(name, *i->second);
    }
    auto* ptr = dynamic_cast<keyed_table<K, V, Hash>*>(i->second.get());
    if (ptr == nullptr)
      throw std::logic_error("keyed state '" + name
                             + "' is registered with another type");
    return *ptr;
  }

  key_group_range range() const noexcept { return range_; }
  int max_parallelism() const noexcept { return max_parallelism_; }

  /// Lets state that lives outside the backend (an operator's timers)
  /// take part in snapshots and restores under `name`, as if it were a
  /// table. `state` must outlive the backend's use of it.
  void attach(const std::string& name, keyed_table_base& state) {
    if (tables_.count(name) != 0 || attached_.count(name) != 0)
      throw std::logic_error("keyed state '" + name + "' exists already");
    attached_.emplace(name, &state);
    decode_pending(name, state);
  }

  /// The state of every key group of the range, one after the other.
  /// `offsets` receives where each group starts, plus the end.
  std::string snapshot(std::vector<uint64_t>& offsets) const {
    std::vector<std::string> names;
    for (auto& kvp : tables_)
      names.push_back(kvp.first);
    for (auto& kvp : attached_)
      names.push_back(kvp.first);
    std::sort(names.begin(), names.end());
    std::vector<std::vector<byte_writer>> per_table;
    for (auto& name : names) {
      per_table.emplace_back(static_cast<size_t>(range_.size()));
      find_state(name)->snapshot(per_table.back());
    }
    // Entries restored but never claimed by a table stay in the snapshot.
    std::string out;
    offsets.clear();
    for (int g = range_.first; g < range_.last; ++g) {
      offsets.push_back(out.size());
      byte_writer w;
      size_t tables = names.size();
      auto p = pending_for(g);
      w.put_varint(tables + p.size());
      for (size_t t = 0; t < names.size(); ++t) {
        w.put_bytes(names[t]);
        w.put_bytes(per_table[t][static_cast<size_t>(g - range_.first)].data());
      }
      for (auto& [name, bytes] : p) {
        w.put_bytes(name);
        w.put_bytes(bytes);
      }
      out += w.data();
    }
    offsets.push_back(out.size());
    return out;
  }

  /// Adds the state of key group `key_group` from its section of a
  /// snapshot (of this subtask or any subtask of an earlier run, also with
  /// another parallelism). Throws codec_error for a corrupt section.
  void restore_key_group(int key_group, std::string_view section) {
    if (!range_.contains(key_group))
      throw std::out_of_range("key group " + std::to_string(key_group)
                              + " is not owned by this subtask");
    byte_reader r{section};
    auto n = r.get_length(2);
    for (size_t i = 0; i < n; ++i) {
      auto name = std::string{r.get_bytes()};
      auto bytes = std::string{r.get_bytes()};
      if (auto* t = find_state(name)) {
        byte_reader entries{bytes};
        t->restore(key_group, entries);
        if (!entries.at_end())
          entries.fail("bytes left over in keyed state '" + name + "'");
      } else {
        pending_[name].emplace_back(key_group, std::move(bytes));
      }
    }
    if (!r.at_end())
      r.fail("bytes left over after key group " + std::to_string(key_group));
  }

  /// Names of restored state that no operator registered (yet).
  std::vector<std::string> unclaimed_state() const {
    std::vector<std::string> out;
    for (auto& kvp : pending_)
      out.push_back(kvp.first);
    std::sort(out.begin(), out.end());
    return out;
  }

private:
  keyed_table_base* find_state(const std::string& name) const {
    if (auto t = tables_.find(name); t != tables_.end())
      return t->second.get();
    if (auto a = attached_.find(name); a != attached_.end())
      return a->second;
    return nullptr;
  }

  void decode_pending(const std::string& name, keyed_table_base& table) {
    auto p = pending_.find(name);
    if (p == pending_.end())
      return;
    auto groups = std::move(p->second);
    pending_.erase(p);
    for (auto& [kg, bytes] : groups) {
      byte_reader r{bytes};
      table.restore(kg, r);
      if (!r.at_end())
        r.fail("bytes left over in keyed state '" + name + "'");
    }
  }

  std::vector<std::pair<std::string, std::string>>
  pending_for(int key_group) const {
    std::vector<std::pair<std::string, std::string>> out;
    for (auto& [name, groups] : pending_)
      for (auto& [kg, bytes] : groups)
        if (kg == key_group)
          out.emplace_back(name, bytes);
    return out;
  }

  key_group_range range_;
  int max_parallelism_;
  std::unordered_map<std::string, std::unique_ptr<keyed_table_base>> tables_;
  std::unordered_map<std::string, keyed_table_base*> attached_;
  std::map<std::string, std::vector<std::pair<int, std::string>>> pending_;
};

} // namespace libstream
