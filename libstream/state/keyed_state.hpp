#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libstream/state/keyed_table.hpp"
#include "libstream/time.hpp"

namespace libstream {

/// The key the keyed operator is processing right now. State handles read
/// and write the entry of this key.
template <class K>
struct current_key {
  const K* key = nullptr;
  int key_group = -1;
  uint32_t hash = 0; // key_hash(*key), computed once per record

  const K& get() const {
    if (key == nullptr)
      throw std::logic_error("keyed state accessed outside of a keyed "
                             "context (no current key)");
    return *key;
  }
};

// -- value state --------------------------------------------------------------

/// A single value per key, as Flink's ValueState.
template <class V>
class value_state {
public:
  struct impl {
    virtual ~impl() = default;
    virtual V* find() = 0;
    virtual void update(V value) = 0;
    virtual void clear() = 0;
  };

  value_state() = default;
  explicit value_state(std::shared_ptr<impl> ptr) : impl_(std::move(ptr)) {}

  /// The value of the current key, if any.
  std::optional<V> value() const {
    if (auto* ptr = impl_->find())
      return *ptr;
    return std::nullopt;
  }

  V value_or(V fallback) const {
    auto* ptr = impl_->find();
    return ptr != nullptr ? *ptr : std::move(fallback);
  }

  /// The value of the current key where it is kept (nullptr when there is
  /// none), to read without a copy. Valid while the current record or
  /// timer is processed, until this state is updated or cleared.
  const V* peek() const { return impl_->find(); }

  bool has_value() const { return impl_->find() != nullptr; }
  void update(V value) { impl_->update(std::move(value)); }
  void clear() { impl_->clear(); }

private:
  std::shared_ptr<impl> impl_;
};

// -- list state ---------------------------------------------------------------

/// A list of values per key, as Flink's ListState.
template <class V>
class list_state {
public:
  struct impl {
    virtual ~impl() = default;
    virtual std::vector<V>* find() = 0;
    virtual std::vector<V>& get_or_create() = 0;
    virtual void clear() = 0;
  };

  list_state() = default;
  explicit list_state(std::shared_ptr<impl> ptr) : impl_(std::move(ptr)) {}

  /// The list of the current key (empty when there is none).
  std::vector<V> get() const {
    auto* ptr = impl_->find();
    return ptr != nullptr ? *ptr : std::vector<V>{};
  }

  /// The list of the current key where it is kept (nullptr when there is
  /// none), to read without a copy; valid as value_state::peek().
  const std::vector<V>* peek() const { return impl_->find(); }

  void add(V value) { impl_->get_or_create().push_back(std::move(value)); }

  void add_all(const std::vector<V>& values) {
    auto& xs = impl_->get_or_create();
    xs.insert(xs.end(), values.begin(), values.end());
  }

  void update(std::vector<V> values) {
    if (values.empty())
      impl_->clear();
    else
      impl_->get_or_create() = std::move(values);
  }

  void clear() { impl_->clear(); }

private:
  std::shared_ptr<impl> impl_;
};

// -- map state ----------------------------------------------------------------

/// A map per key, as Flink's MapState.
template <class UK, class UV>
class map_state {
public:
  using map_type = std::unordered_map<UK, UV>;

  struct impl {
    virtual ~impl() = default;
    virtual map_type* find() = 0;
    virtual map_type& get_or_create() = 0;
    virtual void clear() = 0;
  };

  map_state() = default;
  explicit map_state(std::shared_ptr<impl> ptr) : impl_(std::move(ptr)) {}

  std::optional<UV> get(const UK& key) const {
    if (auto* m = impl_->find()) {
      auto i = m->find(key);
      if (i != m->end())
        return i->second;
    }
    return std::nullopt;
  }

  bool contains(const UK& key) const {
    auto* m = impl_->find();
    return m != nullptr && m->count(key) > 0;
  }

  void put(UK key, UV value) {
    impl_->get_or_create().insert_or_assign(std::move(key), std::move(value));
  }

  /// The value at `key` of the current key where it is kept, made (UV{})
  /// if there is none: to change in place without a copy. Valid as
  /// value_state::peek().
  UV& get_or_create(const UK& key) {
    return impl_->get_or_create().try_emplace(key).first->second;
  }

  void remove(const UK& key) {
    if (auto* m = impl_->find()) {
      m->erase(key);
      if (m->empty())
        impl_->clear();
    }
  }

  /// Calls f(key, value) for each entry of the current key, without
  /// copying them; f must not change this state.
  template <class F>
  void for_each(F f) const {
    if (auto* m = impl_->find())
      for (auto& kv : *m)
        f(kv.first, kv.second);
  }

  /// A copy of the entries of the current key.
  map_type entries() const {
    auto* m = impl_->find();
    return m != nullptr ? *m : map_type{};
  }

  bool is_empty() const {
    auto* m = impl_->find();
    return m == nullptr || m->empty();
  }

  void clear() { impl_->clear(); }

private:
  std::shared_ptr<impl> impl_;
};

// -- reducing and aggregating state -------------------------------------------

/// One value per key, folded with a reduce function on every add, as
/// Flink's ReducingState.
template <class V>
class reducing_state {
public:
  using reduce_fn = std::function<V(const V&, const V&)>;

  reducing_state() = default;
  reducing_state(value_state<V> inner, reduce_fn fn)
      : inner_(std::move(inner)), fn_(std::move(fn)) {}

  void add(const V& value) {
    auto cur = inner_.value();
    inner_.update(cur ? fn_(*cur, value) : value);
  }

  std::optional<V> get() const { return inner_.value(); }
  void clear() { inner_.clear(); }

private:
  value_state<V> inner_;
  reduce_fn fn_;
};

/// An accumulator per key, as Flink's AggregatingState: `add` folds an
/// input in, `get` returns the aggregate's result.
template <class In, class Out>
class aggregating_state {
public:
  struct impl {
    virtual ~impl() = default;
    virtual void add(const In& value) = 0;
    virtual std::optional<Out> get() = 0;
    virtual void clear() = 0;
  };

  aggregating_state() = default;
  explicit aggregating_state(std::shared_ptr<impl> ptr)
      : impl_(std::move(ptr)) {}

  void add(const In& value) { impl_->add(value); }
  std::optional<Out> get() const { return impl_->get(); }
  void clear() { impl_->clear(); }

private:
  std::shared_ptr<impl> impl_;
};

// -- bindings to a keyed table ------------------------------------------------

/// Time-to-live of keyed state, as Flink's StateTtlConfig: an entry not
/// written (or, with on_read_and_write, not read either) for `ttl` ms of
/// processing time is gone; expired values are never returned. Expired
/// entries are removed when they are next accessed.
struct state_ttl {
  enum class update { on_create_and_write, on_read_and_write };

  duration_ms ttl = 0;
  update refresh = update::on_create_and_write;

  static state_ttl of(duration_ms ttl,
                      update refresh = update::on_create_and_write) {
    if (ttl <= 0)
      throw std::invalid_argument("a state TTL must be positive, got "
                                  + std::to_string(ttl) + " ms");
    return state_ttl{ttl, refresh};
  }
};

namespace detail {

/// Access to the entry of the current key in a table (no TTL).
template <class K, class V>
struct table_binding {
  keyed_table<K, V>* table;
  const current_key<K>* key;

  V* find() { return table->find(key->get(), key->key_group, key->hash); }
  V& get_or_create() {
    return table->get_or_create(key->get(), key->key_group, key->hash);
  }
  void update(V value) {
    table->put(key->get(), key->key_group, key->hash, std::move(value));
  }
  void clear() { table->erase(key->get(), key->key_group, key->hash); }
};

/// A value with the processing time it was last written (or read).
template <class V>
struct ttl_cell {
  V value{};
  timestamp stamp = 0;
};

} // namespace detail

/// TTL state snapshots with the time of the last write, so that it
/// expires after a restore as it would have without the failure.
template <class V>
struct codec<detail::ttl_cell<V>> {
  static void encode(const detail::ttl_cell<V>& c, byte_writer& w) {
    codec<V>::encode(c.value, w);
    codec<timestamp>::encode(c.stamp, w);
  }
  static detail::ttl_cell<V> decode(byte_reader& r) {
    detail::ttl_cell<V> c;
    c.value = codec<V>::decode(r);
    c.stamp = codec<timestamp>::decode(r);
    return c;
  }
};

template <class V>
struct has_codec<detail::ttl_cell<V>> : has_codec<V> {};

namespace detail {

/// Access to the entry of the current key with a time-to-live.
template <class K, class V>
struct ttl_binding {
  keyed_table<K, ttl_cell<V>>* table;
  const current_key<K>* key;
  state_ttl cfg;
  std::function<timestamp()> clock;

  /// A read: expired entries are removed and not returned.
  V* find() {
    auto* c = table->find(key->get(), key->key_group, key->hash);
    if (c == nullptr)
      return nullptr;
    auto now = clock();
    if (now - c->stamp >= cfg.ttl) {
      table->erase(key->get(), key->key_group, key->hash);
      return nullptr;
    }
    if (cfg.refresh == state_ttl::update::on_read_and_write)
      c->stamp = now;
    return &c->value;
  }

  /// A write through the returned reference: refreshes the stamp.
  V& get_or_create() {
    if (find() == nullptr)
      table->erase(key->get(), key->key_group, key->hash);
    auto& c = table->get_or_create(key->get(), key->key_group, key->hash);
    c.stamp = clock();
    return c.value;
  }

  void update(V value) {
    table->put(key->get(), key->key_group, key->hash,
               ttl_cell<V>{std::move(value), clock()});
  }

  void clear() { table->erase(key->get(), key->key_group, key->hash); }
};

template <class V, class Binding>
struct bound_value final : value_state<V>::impl {
  explicit bound_value(Binding b) : b(std::move(b)) {}
  V* find() override { return b.find(); }
  void update(V value) override { b.update(std::move(value)); }
  void clear() override { b.clear(); }
  Binding b;
};

template <class V, class Binding>
struct bound_list final : list_state<V>::impl {
  explicit bound_list(Binding b) : b(std::move(b)) {}
  std::vector<V>* find() override { return b.find(); }
  std::vector<V>& get_or_create() override { return b.get_or_create(); }
  void clear() override { b.clear(); }
  Binding b;
};

template <class UK, class UV, class Binding>
struct bound_map final : map_state<UK, UV>::impl {
  using map_type = std::unordered_map<UK, UV>;
  explicit bound_map(Binding b) : b(std::move(b)) {}
  map_type* find() override { return b.find(); }
  map_type& get_or_create() override { return b.get_or_create(); }
  void clear() override { b.clear(); }
  Binding b;
};

template <class K, class In, class Acc, class Out, class Agg>
struct bound_aggregating final : aggregating_state<In, Out>::impl,
                                 table_binding<K, Acc> {
  using base = table_binding<K, Acc>;
  bound_aggregating(keyed_table<K, Acc>* t, const current_key<K>* k, Agg agg)
      : base{t, k}, agg(std::move(agg)) {}
  void add(const In& value) override {
    if (auto* acc = base::find()) {
      agg.add(value, *acc);
    } else {
      auto fresh = agg.create_accumulator();
      agg.add(value, fresh);
      base::update(std::move(fresh));
    }
  }
  std::optional<Out> get() override {
    if (auto* acc = base::find())
      return agg.get_result(*acc);
    return std::nullopt;
  }
  void clear() override { base::clear(); }
  Agg agg;
};

} // namespace detail

/// Creates state handles bound to a keyed operator's current key. Handed to
/// rich functions in open(); handles stay valid for the operator's lifetime.
/// State with a TTL is kept in its own table (a name is used with or without
/// a TTL, not both).
template <class K>
class keyed_state_store {
public:
  using clock_fn = std::function<timestamp()>;

  keyed_state_store(keyed_state_backend& backend, const current_key<K>& key,
                    clock_fn processing_clock = nullptr)
      : backend_(&backend), key_(&key), clock_(std::move(processing_clock)) {}

  template <class V>
  value_state<V> get_state(const std::string& name) {
    using binding = detail::table_binding<K, V>;
    return value_state<V>{std::make_shared<detail::bound_value<V, binding>>(
        binding{&backend_->table<K, V>(name), key_})};
  }

  template <class V>
  value_state<V> get_state(const std::string& name, state_ttl ttl) {
    using binding = detail::ttl_binding<K, V>;
    return value_state<V>{std::make_shared<detail::bound_value<V, binding>>(
        ttl_binding_for<V>(name, ttl))};
  }

  template <class V>
  list_state<V> get_list_state(const std::string& name) {
    using binding = detail::table_binding<K, std::vector<V>>;
    return list_state<V>{std::make_shared<detail::bound_list<V, binding>>(
        binding{&backend_->table<K, std::vector<V>>(name), key_})};
  }

  template <class V>
  list_state<V> get_list_state(const std::string& name, state_ttl ttl) {
    using binding = detail::ttl_binding<K, std::vector<V>>;
    return list_state<V>{std::make_shared<detail::bound_list<V, binding>>(
        ttl_binding_for<std::vector<V>>(name, ttl))};
  }

  template <class UK, class UV>
  map_state<UK, UV> get_map_state(const std::string& name) {
    using map_type = std::unordered_map<UK, UV>;
    using binding = detail::table_binding<K, map_type>;
    return map_state<UK, UV>{
        std::make_shared<detail::bound_map<UK, UV, binding>>(
            binding{&backend_->table<K, map_type>(name), key_})};
  }

  template <class UK, class UV>
  map_state<UK, UV> get_map_state(const std::string& name, state_ttl ttl) {
    using map_type = std::unordered_map<UK, UV>;
    using binding = detail::ttl_binding<K, map_type>;
    return map_state<UK, UV>{
        std::make_shared<detail::bound_map<UK, UV, binding>>(
            ttl_binding_for<map_type>(name, ttl))};
  }

  template <class V, class F>
  reducing_state<V> get_reducing_state(const std::string& name, F fn) {
    return reducing_state<V>{get_state<V>(name), std::move(fn)};
  }

  /// `Agg` follows the aggregate_function contract (see functions.hpp).
  template <class Agg>
  auto get_aggregating_state(const std::string& name, Agg agg) {
    using in = typename Agg::input_type;
    using acc = typename Agg::accumulator_type;
    using out = typename Agg::output_type;
    auto& t = backend_->table<K, acc>(name);
    return aggregating_state<in, out>{
        std::make_shared<detail::bound_aggregating<K, in, acc, out, Agg>>(
            &t, key_, std::move(agg))};
  }

private:
  template <class V>
  detail::ttl_binding<K, V> ttl_binding_for(const std::string& name,
                                            state_ttl ttl) {
    if (ttl.ttl <= 0)
      throw std::invalid_argument("state '" + name
                                  + "': the TTL must be positive");
    if (!clock_)
      throw std::logic_error("state '" + name
                             + "': TTL needs a processing-time clock");
    return detail::ttl_binding<K, V>{
        &backend_->table<K, detail::ttl_cell<V>>(name), key_, ttl, clock_};
  }

  keyed_state_backend* backend_;
  const current_key<K>* key_;
  clock_fn clock_;
};

} // namespace libstream
