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
#include <type_traits>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/key_group.hpp"
#include "libstream/state/kv_store.hpp"

namespace libstream {

/// The type-erased part of a keyed state table.
class keyed_table_base {
public:
  virtual ~keyed_table_base() = default;
  virtual size_t size() const = 0;
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

  /// LevelDB-backed tables: adds the cached entries to the store's pending
  /// batch and empties the cache (pointers into it become invalid).
  virtual void flush_to_store() {}

  /// LevelDB-backed tables: entries in the cache.
  virtual size_t cached() const noexcept { return 0; }
};

/// The key prefix of key group `kg` in a LevelDB state database: two bytes,
/// big-endian, so that one key group is one contiguous range and the
/// groups are in order.
inline std::string kv_key_group_prefix(int kg) {
  std::string out(2, '\0');
  out[0] = static_cast<char>((kg >> 8) & 0xff);
  out[1] = static_cast<char>(kg & 0xff);
  return out;
}

/// The key prefix of table `name` in key group `kg`: the group, the name's
/// length (one byte) and the name. The encoded key follows.
inline std::string kv_table_prefix(int kg, const std::string& name) {
  auto out = kv_key_group_prefix(kg);
  out += static_cast<char>(name.size());
  out += name;
  return out;
}

/// The first key after every key that starts with `prefix`.
inline std::string kv_prefix_end(std::string prefix) {
  while (!prefix.empty()
         && static_cast<unsigned char>(prefix.back()) == 0xff)
    prefix.pop_back();
  if (!prefix.empty())
    prefix.back() = static_cast<char>(prefix.back() + 1);
  return prefix;
}

/// A table of keyed state of one name over the key groups of one subtask.
/// Every entry records its key group, so the table can be snapshotted and
/// redistributed per key group.
///
/// An open-addressing index (power-of-two capacity, linear probing, no
/// division on lookup) over individually allocated entries, so a value's
/// address stays valid until its entry is erased. Lookups take the key's
/// spread hash (key_hash), which callers compute once per record for the
/// key group as well.
///
/// On the heap backend the index holds every entry. On the LevelDB backend
/// (a kv_store given) it is a write-back cache in front of the database:
/// a lookup that misses reads the key's entry from the database (one point
/// read, decoded once), and the cache remembers present, erased and absent
/// keys until flush_to_store() writes them back. Values are changed in
/// place through the pointers find() returns, as on the heap, so every
/// cached present entry is written back. The keyed_state_backend flushes
/// between records (see maybe_flush), so a pointer stays valid while one
/// record or timer is processed. Database keys are
/// kv_table_prefix(key group, table name) + the key's codec bytes; values
/// are the value's codec bytes, the same bytes a snapshot holds.
template <class K, class V, class Hash = key_hasher<K>>
class keyed_table final : public keyed_table_base {
public:
  struct entry {
    K key;
    V value;
    uint32_t hash;
    int key_group;
    /// LevelDB-backed tables only: whether the key is present (0), erased
    /// since it was cached (1: deleted at flush) or absent from the
    /// database (2: nothing to write).
    uint8_t mark = 0;
  };

  explicit keyed_table(key_group_range range,
                       int max_parallelism = default_max_parallelism,
                       std::shared_ptr<kv_store> store = nullptr,
                       std::string name = {})
      : range_(range), max_parallelism_(max_parallelism),
        store_(std::move(store)), name_(std::move(name)) {
    if (store_) {
      if constexpr (!has_codec_v<K> || !has_codec_v<V>)
        throw std::logic_error(
            "keyed state '" + name_
            + "' has a type without a codec, which the LevelDB state "
              "backend needs: give it a libstream::codec specialization "
              "(libstream/codec.hpp)");
      if (name_.empty() || name_.size() > 255)
        throw std::logic_error("keyed state on LevelDB needs a name of 1 to "
                               "255 bytes, got '" + name_ + "'");
    }
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
    auto* e = lookup(key, h);
    if (e == nullptr && store_)
      e = load(key, key_group, h);
    return e != nullptr && e->mark == 0 ? &e->value : nullptr;
  }

  /// As find(key, key_group, h), matching entries by `eq(stored key)`
  /// instead of constructing the key: `make_key()` builds it only when
  /// LevelDB must be asked (a cache miss).
  template <class Eq, class MakeKey>
  V* find_with(int key_group, uint32_t h, Eq&& eq, MakeKey&& make_key) {
    check(key_group);
    entry* e = nullptr;
    auto mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      auto& s = slots_[i];
      if (s.ptr == nullptr)
        break;
      if (s.hash == h && live(s.ptr) && eq(s.ptr->key)) {
        e = s.ptr;
        break;
      }
    }
    if (e == nullptr && store_)
      e = load(make_key(), key_group, h);
    return e != nullptr && e->mark == 0 ? &e->value : nullptr;
  }

  /// Returns the value for `key`, default-constructing it when absent.
  V& get_or_create(const K& key, int key_group) {
    return get_or_create(key, key_group, key_hash<K, Hash>(key));
  }

  V& get_or_create(const K& key, int key_group, uint32_t h) {
    check(key_group);
    auto* e = lookup(key, h);
    if (e == nullptr && store_)
      e = load(key, key_group, h);
    if (e == nullptr)
      return insert(key, key_group, h, V{})->value;
    if (e->mark != 0) {
      e->value = V{};
      e->mark = 0;
    }
    return e->value;
  }

  void put(const K& key, int key_group, V value) {
    put(key, key_group, key_hash<K, Hash>(key), std::move(value));
  }

  void put(const K& key, int key_group, uint32_t h, V value) {
    check(key_group);
    if (auto* e = lookup(key, h)) {
      e->value = std::move(value);
      e->mark = 0;
    } else {
      insert(key, key_group, h, std::move(value));
    }
  }

  bool erase(const K& key, int key_group) {
    return erase(key, key_group, key_hash<K, Hash>(key));
  }

  bool erase(const K& key, int key_group, uint32_t h) {
    check(key_group);
    if (store_) {
      auto* e = lookup(key, h);
      if (e == nullptr)
        e = load(key, key_group, h);
      if (e->mark != 0)
        return false;
      e->value = V{};
      e->mark = 1;
      return true;
    }
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
  /// Changes to the values are kept; `f` must not insert or erase.
  template <class F>
  void for_each(int key_group, F&& f) {
    check(key_group);
    if (store_) {
      for_each_stored(key_group, f);
      return;
    }
    for (auto& s : slots_)
      if (live(s.ptr) && s.ptr->key_group == key_group)
        f(s.ptr->key, s.ptr->value);
  }

  /// Calls f(key, value) for every entry. `f` must not insert or erase.
  template <class F>
  void for_each(F&& f) {
    if (store_) {
      for (int g = range_.first; g < range_.last; ++g)
        for_each_stored(g, f);
      return;
    }
    for (auto& s : slots_)
      if (live(s.ptr))
        f(s.ptr->key, s.ptr->value);
  }

  /// The number of entries. On LevelDB this writes the cache back and
  /// counts the database's keys: for tests and diagnostics, not per record.
  size_t size() const override {
    if (!store_)
      return size_;
    auto* self = const_cast<keyed_table*>(this);
    self->flush_to_store();
    size_t n = 0;
    for (int g = range_.first; g < range_.last; ++g) {
      auto prefix = kv_table_prefix(g, name_);
      store_->scan(prefix, kv_prefix_end(prefix),
                   [&n](std::string_view, std::string_view) { ++n; });
    }
    return n;
  }

  size_t cached() const noexcept override { return store_ ? size_ : 0; }

  void flush_to_store() override {
    if (!store_ || size_ == 0)
      return;
    if constexpr (has_codec_v<K> && has_codec_v<V>) {
      std::string key;
      byte_writer value;
      // Encode everything first: a codec that throws leaves the cache as
      // it was (the batch may hold some entries twice; the last wins).
      for (auto& s : slots_) {
        if (!live(s.ptr) || s.ptr->mark == 2)
          continue;
        auto* e = s.ptr;
        db_key(e->key_group, e->key, key);
        if (e->mark == 0) {
          value.clear();
          codec<V>::encode(e->value, value);
          store_->put(key, value.data());
        } else {
          store_->erase(key);
        }
      }
      for (auto& s : slots_)
        if (live(s.ptr))
          delete s.ptr;
      std::fill(slots_.begin(), slots_.end(), slot{});
      used_ = 0;
      size_ = 0;
    }
  }

  void snapshot(std::vector<byte_writer>& groups) const override {
    if constexpr (has_codec_v<K> && has_codec_v<V>) {
      if (groups.size() != static_cast<size_t>(range_.size()))
        throw std::logic_error("keyed_table::snapshot: one writer per key "
                               "group of the range expected");
      if (store_) {
        const_cast<keyed_table*>(this)->flush_to_store();
        for (size_t g = 0; g < groups.size(); ++g) {
          auto prefix = kv_table_prefix(range_.first + static_cast<int>(g),
                                        name_);
          size_t n = 0;
          byte_writer entries;
          store_->scan(prefix, kv_prefix_end(prefix),
                       [&](std::string_view k, std::string_view v) {
                         entries.put_raw(k.substr(prefix.size()));
                         entries.put_raw(v);
                         ++n;
                       });
          groups[g].put_varint(n);
          groups[g].put_raw(entries.data());
        }
        return;
      }
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
      std::string prefix;
      if (store_)
        prefix = kv_table_prefix(key_group, name_);
      for (size_t i = 0; i < n; ++i) {
        auto at_key = r.position();
        auto k = codec<K>::decode(r);
        auto at_value = r.position();
        auto v = codec<V>::decode(r);
        auto h = key_hash<K, Hash>(k);
        auto g = key_group_of_hash(group_hash(k), max_parallelism_);
        if (g != key_group)
          r.fail("a key of key group " + std::to_string(g)
                 + " is stored under key group " + std::to_string(key_group)
                 + " (another key hash or max parallelism?)");
        if (store_) {
          // Straight into the database: the bytes are the database's.
          store_->put(prefix + std::string{r.consumed(at_key, at_value)},
                      r.consumed(at_value, r.position()));
          if (store_->pending_bytes() > (8u << 20))
            store_->write_pending();
        } else {
          put(k, key_group, h, std::move(v));
        }
      }
      if (store_)
        store_->write_pending();
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
    if (store_) {
      auto prefix = kv_table_prefix(key_group, name_);
      store_->erase_range(prefix, kv_prefix_end(prefix));
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

  entry* lookup(const K& key, uint32_t h) const {
    auto mask = slots_.size() - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
      auto& s = slots_[i];
      if (s.ptr == nullptr)
        return nullptr;
      if (s.hash == h && live(s.ptr) && s.ptr->key == key)
        return s.ptr;
    }
  }

  /// LevelDB: reads `key` from the database into the cache (present or
  /// absent) and returns its entry.
  entry* load(const K& key, int key_group, uint32_t h) {
    if constexpr (has_codec_v<K> && has_codec_v<V>) {
      db_key(key_group, key, scratch_key_);
      if (store_->get(scratch_key_, scratch_value_)) {
        byte_reader r{scratch_value_};
        return insert(key, key_group, h, codec<V>::decode(r));
      }
      auto* e = insert(key, key_group, h, V{});
      e->mark = 2;
      return e;
    } else {
      throw std::logic_error("unreachable: LevelDB state without a codec");
    }
  }

  void db_key(int key_group, const K& key, std::string& out) const {
    if constexpr (has_codec_v<K>) {
      byte_writer w;
      w.put_raw(kv_key_group_prefix(key_group));
      w.put_u8(static_cast<uint8_t>(name_.size()));
      w.put_raw(name_);
      codec<K>::encode(key, w);
      out = w.take();
    }
  }

  template <class F>
  void for_each_stored(int key_group, F& f) {
    if constexpr (has_codec_v<K> && has_codec_v<V>) {
      flush_to_store();
      auto prefix = kv_table_prefix(key_group, name_);
      std::vector<std::pair<K, V>> entries;
      store_->scan(prefix, kv_prefix_end(prefix),
                   [&](std::string_view k, std::string_view v) {
                     byte_reader kr{k.substr(prefix.size())};
                     byte_reader vr{v};
                     auto key = codec<K>::decode(kr);
                     entries.emplace_back(std::move(key),
                                          codec<V>::decode(vr));
                   });
      std::string key;
      byte_writer value;
      for (auto& [k, v] : entries) {
        f(static_cast<const K&>(k), v);
        db_key(key_group, k, key);
        value.clear();
        codec<V>::encode(v, value);
        store_->put(key, value.data());
      }
      store_->write_pending();
    }
  }

  /// The spread hash that decides a key's key group: Hash::group_hash
  /// when the hash has one (window panes: the key's alone), else the slot
  /// hash.
  static uint32_t group_hash(const K& k) {
    if constexpr (has_group_hash<Hash>::value)
      return spread_hash(static_cast<uint64_t>(Hash::group_hash(k)));
    else
      return key_hash<K, Hash>(k);
  }

  template <class H, class = void>
  struct has_group_hash : std::false_type {};
  template <class H>
  struct has_group_hash<H, std::void_t<decltype(H::group_hash(
                               std::declval<const K&>()))>>
      : std::true_type {};

  void check(int key_group) const {
    if (!range_.contains(key_group))
      throw std::out_of_range("key group " + std::to_string(key_group)
                              + " is not owned by this subtask ["
                              + std::to_string(range_.first) + ", "
                              + std::to_string(range_.last) + ")");
  }

  entry* insert(const K& key, int key_group, uint32_t h, V value) {
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
        return e;
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
  std::shared_ptr<kv_store> store_; // null: the heap backend
  std::string name_;
  std::string scratch_key_;
  std::string scratch_value_;
  std::vector<slot> slots_;
  size_t used_ = 0; // live entries plus tombstones
  size_t size_ = 0; // live entries
};

/// The keyed state of one operator subtask: named tables over the subtask's
/// key-group range, on the heap or (with a kv_store) in a LevelDB database
/// behind a write-back cache. State attached by the operator itself (its
/// timers) stays on the heap on both backends, as Flink's RocksDB backend
/// does with heap timers.
///
/// Snapshots are organised by key group, so that a restore can take any
/// key groups from any earlier parallelism: snapshot() writes the groups of
/// the range one after the other, each a list of (table name, entries);
/// restore_key_group() takes one group's section. Restored entries of a
/// table are decoded when the operator registers the table (its types are
/// known only then); until then they wait as bytes.
class keyed_state_backend {
public:
  keyed_state_backend(key_group_range range, int max_parallelism,
                      std::shared_ptr<kv_store> store = nullptr,
                      size_t cache_limit = 65536)
      : range_(range), max_parallelism_(max_parallelism),
        store_(std::move(store)),
        cache_limit_(cache_limit < 16 ? 16 : cache_limit) {}

  /// Entries the LevelDB caches hold before maybe_flush writes them back.
  size_t cache_limit() const noexcept { return cache_limit_; }

  /// The LevelDB store, or null on the heap backend.
  const std::shared_ptr<kv_store>& store() const noexcept { return store_; }

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
                                 range_, max_parallelism_, store_, name))
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

  /// LevelDB: writes every table's cache back to the database.
  void flush() {
    if (!store_)
      return;
    for (auto& kvp : tables_)
      kvp.second->flush_to_store();
    store_->write_pending();
  }

  /// LevelDB: flushes once the caches hold cache_limit() entries. Called
  /// between records only (pointers into the cache die here).
  void maybe_flush() {
    if (!store_)
      return;
    size_t n = 0;
    for (auto& kvp : tables_)
      n += kvp.second->cached();
    if (n >= cache_limit_)
      flush();
  }

  /// Produces the bytes snapshot() would, with offsets, later and on any
  /// thread (the asynchronous part of a checkpoint).
  using deferred_snapshot = std::function<std::string(std::vector<uint64_t>&)>;

  /// LevelDB: the synchronous part of a snapshot is a database snapshot
  /// (after writing the caches back) and a copy of the heap-held state;
  /// the returned function reads the database snapshot key group by key
  /// group into the same format as snapshot(). On the heap backend it
  /// encodes now and the function returns the bytes.
  deferred_snapshot snapshot_deferred() {
    if (!store_) {
      std::vector<uint64_t> offsets;
      auto bytes = snapshot(offsets);
      return [bytes = std::move(bytes), offsets = std::move(offsets)](
                 std::vector<uint64_t>& out) mutable {
        out = std::move(offsets);
        return std::move(bytes);
      };
    }
    flush();
    auto db = store_->take_snapshot();
    // Heap-held state (attached, and restored but unclaimed) as bytes now.
    std::vector<std::string> names;
    for (auto& kvp : attached_)
      names.push_back(kvp.first);
    std::sort(names.begin(), names.end());
    auto per_table = encode_tables(names);
    std::vector<std::vector<std::pair<std::string, std::string>>> pending;
    for (int g = range_.first; g < range_.last; ++g)
      pending.push_back(pending_for(g));
    return [range = range_, db = std::move(db), names = std::move(names),
            per_table = std::move(per_table), pending = std::move(pending)](
               std::vector<uint64_t>& offsets) {
      std::string out;
      offsets.clear();
      for (int g = range.first; g < range.last; ++g) {
        offsets.push_back(out.size());
        auto gi = static_cast<size_t>(g - range.first);
        // The database's tables of this group: runs of keys with one name.
        struct part {
          std::string name;
          size_t count = 0;
          std::string entries;
        };
        std::vector<part> parts;
        db->scan(kv_key_group_prefix(g), kv_key_group_prefix(g + 1),
                 [&parts](std::string_view k, std::string_view v) {
                   if (k.size() < 3 || k.size() < 3u + uint8_t(k[2]))
                     throw codec_error("a LevelDB state key of "
                                       + std::to_string(k.size())
                                       + " bytes has no table name");
                   auto len = static_cast<uint8_t>(k[2]);
                   auto name = k.substr(3, len);
                   if (parts.empty() || parts.back().name != name)
                     parts.push_back(part{std::string{name}, 0, {}});
                   auto& p = parts.back();
                   p.entries.append(k.substr(3u + len));
                   p.entries.append(v);
                   ++p.count;
                 });
        byte_writer w;
        w.put_varint(parts.size() + names.size() + pending[gi].size());
        for (auto& p : parts) {
          w.put_bytes(p.name);
          byte_writer entries;
          entries.put_varint(p.count);
          entries.put_raw(p.entries);
          w.put_bytes(entries.data());
        }
        for (size_t t = 0; t < names.size(); ++t) {
          w.put_bytes(names[t]);
          w.put_bytes(per_table[t][gi].data());
        }
        for (auto& [name, bytes] : pending[gi]) {
          w.put_bytes(name);
          w.put_bytes(bytes);
        }
        out += w.data();
      }
      offsets.push_back(out.size());
      return out;
    };
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
    auto per_table = encode_tables(names);
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

  /// The entries of each named state, one writer per key group.
  std::vector<std::vector<byte_writer>>
  encode_tables(const std::vector<std::string>& names) const {
    std::vector<std::vector<byte_writer>> per_table;
    for (auto& name : names) {
      per_table.emplace_back(static_cast<size_t>(range_.size()));
      find_state(name)->snapshot(per_table.back());
    }
    return per_table;
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
  std::shared_ptr<kv_store> store_;
  size_t cache_limit_;
  std::unordered_map<std::string, std::unique_ptr<keyed_table_base>> tables_;
  std::unordered_map<std::string, keyed_table_base*> attached_;
  std::map<std::string, std::vector<std::pair<int, std::string>>> pending_;
};

} // namespace libstream
