#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"

namespace libstream {

/// How non-keyed state is handed out when a job restores with another
/// parallelism (Flink's OperatorStateStore modes).
enum class state_redistribution : uint8_t {
  /// The elements of every old subtask's list, concatenated in subtask
  /// order, are cut into as many contiguous pieces as there are subtasks
  /// now; subtask i takes piece i.
  even_split = 0,
  /// Every subtask gets every old subtask's elements.
  union_all = 1,
  /// Every subtask gets the map old subtask (i mod old parallelism) had:
  /// broadcast state, the same on every subtask.
  broadcast = 2,
};

/// The type-erased part of one named operator state.
class operator_state_base {
public:
  virtual ~operator_state_base() = default;
  /// Each element encoded with its codec, in order.
  virtual std::vector<std::string> encode() const = 0;
  /// Replaces the contents with decoded elements.
  virtual void decode(const std::vector<std::string>& elements) = 0;
};

/// A list of values held by one operator subtask, checkpointed and handed
/// out on restore by its state_redistribution (Flink's operator ListState).
template <class T>
class operator_list_state final : public operator_state_base {
public:
  const std::vector<T>& get() const noexcept { return xs_; }
  void add(T x) { xs_.push_back(std::move(x)); }
  void update(std::vector<T> xs) { xs_ = std::move(xs); }
  void clear() noexcept { xs_.clear(); }

  std::vector<std::string> encode() const override {
    std::vector<std::string> out;
    out.reserve(xs_.size());
    for (const auto& x : xs_)
      out.push_back(encode_value(x));
    return out;
  }

  void decode(const std::vector<std::string>& elements) override {
    xs_.clear();
    for (auto& e : elements)
      xs_.push_back(decode_value<T>(e));
  }

private:
  std::vector<T> xs_;
};

/// A map that every subtask of an operator holds the same copy of (Flink's
/// BroadcastState): checkpointed per subtask, restored to every subtask at
/// any parallelism. Keeping the copies equal is the user's part, as in
/// Flink (update it from broadcast input only).
template <class K, class V>
class broadcast_state final : public operator_state_base {
public:
  std::optional<V> get(const K& k) const {
    auto i = m_.find(k);
    return i == m_.end() ? std::nullopt : std::optional<V>{i->second};
  }
  bool contains(const K& k) const { return m_.count(k) > 0; }
  void put(K k, V v) { m_.insert_or_assign(std::move(k), std::move(v)); }
  void remove(const K& k) { m_.erase(k); }
  const std::map<K, V>& entries() const noexcept { return m_; }
  void clear() noexcept { m_.clear(); }

  std::vector<std::string> encode() const override {
    std::vector<std::string> out;
    for (auto& [k, v] : m_) {
      byte_writer w;
      codec<K>::encode(k, w);
      codec<V>::encode(v, w);
      out.push_back(w.take());
    }
    return out;
  }

  void decode(const std::vector<std::string>& elements) override {
    m_.clear();
    for (auto& e : elements) {
      auto kv = decode_value<std::pair<K, V>>(e);
      m_.insert_or_assign(std::move(kv.first), std::move(kv.second));
    }
  }

private:
  std::map<K, V> m_;
};

/// The non-keyed state of one operator subtask, by name: lists (even split
/// or union on restore) and broadcast maps. Functions register their state
/// in initialize_state; what a restore brought is decoded then (the types
/// are known only at registration).
class operator_state_store {
public:
  /// A list state, split evenly over the subtasks on restore.
  template <class T>
  operator_list_state<T>& get_list_state(const std::string& name) {
    return get<operator_list_state<T>>(name,
                                       state_redistribution::even_split);
  }

  /// A list state of which every subtask gets all elements on restore.
  template <class T>
  operator_list_state<T>& get_union_list_state(const std::string& name) {
    return get<operator_list_state<T>>(name, state_redistribution::union_all);
  }

  template <class K, class V>
  broadcast_state<K, V>& get_broadcast_state(const std::string& name) {
    return get<broadcast_state<K, V>>(name, state_redistribution::broadcast);
  }

  /// True when the operator was restored from a checkpoint.
  bool is_restored() const noexcept { return restored_; }

  /// Every registered state (and restored state nobody registered), with
  /// its mode: the operator_state bytes of a snapshot.
  std::string snapshot() const {
    if (states_.empty() && pending_.empty())
      return {}; // stateless: nothing in the checkpoint
    byte_writer w;
    w.put_varint(states_.size() + pending_.size());
    for (auto& [name, s] : states_)
      put_state(w, name, s.mode, s.state->encode());
    for (auto& [name, p] : pending_)
      if (p.first != state_redistribution::union_all || index_ == 0)
        put_state(w, name, p.first, p.second);
      else // unclaimed union state: once (subtask 0), or restores multiply it
        put_state(w, name, p.first, {});
    return w.take();
  }

  /// Takes this subtask's share of the state of every old subtask
  /// (`old_states[j]` = what old subtask j's snapshot() wrote; empty
  /// strings are subtasks without state). Throws codec_error for bytes that
  /// do not decode.
  void restore(const std::vector<std::string>& old_states, int index,
               int parallelism) {
    restored_ = true;
    index_ = index;
    struct collected {
      state_redistribution mode;
      std::vector<std::vector<std::string>> per_old; // by old subtask
    };
    std::map<std::string, collected> all;
    auto old_p = old_states.size();
    for (size_t j = 0; j < old_p; ++j) {
      if (old_states[j].empty())
        continue;
      byte_reader r{old_states[j]};
      auto n = r.get_length(3);
      for (size_t k = 0; k < n; ++k) {
        auto name = std::string{r.get_bytes()};
        auto mode = r.get_u8();
        if (mode > 2)
          r.fail("operator state '" + name + "' has an unknown mode "
                 + std::to_string(mode));
        auto count = r.get_length(1);
        std::vector<std::string> elems;
        for (size_t e = 0; e < count; ++e)
          elems.emplace_back(r.get_bytes());
        auto& c = all[name];
        c.mode = static_cast<state_redistribution>(mode);
        c.per_old.resize(old_p);
        c.per_old[j] = std::move(elems);
      }
      if (!r.at_end())
        r.fail("bytes left over in operator state");
    }
    for (auto& [name, c] : all) {
      std::vector<std::string> mine;
      switch (c.mode) {
        case state_redistribution::even_split: {
          if (old_p == static_cast<size_t>(parallelism)) {
            mine = std::move(c.per_old[static_cast<size_t>(index)]);
            break; // the same subtasks: each keeps its own list
          }
          std::vector<std::string> flat;
          for (auto& xs : c.per_old)
            flat.insert(flat.end(), xs.begin(), xs.end());
          auto n = flat.size();
          auto p = static_cast<size_t>(parallelism);
          auto i = static_cast<size_t>(index);
          // Piece i: [i * n / p, (i + 1) * n / p).
          for (size_t e = i * n / p; e < (i + 1) * n / p; ++e)
            mine.push_back(std::move(flat[e]));
          break;
        }
        case state_redistribution::union_all:
          for (auto& xs : c.per_old)
            mine.insert(mine.end(), xs.begin(), xs.end());
          break;
        case state_redistribution::broadcast:
          mine = c.per_old[static_cast<size_t>(index) % old_p];
          break;
      }
      if (auto i = states_.find(name); i != states_.end())
        i->second.state->decode(mine);
      else
        pending_[name] = {c.mode, std::move(mine)};
    }
  }

  /// Names of restored state no function registered.
  std::vector<std::string> unclaimed_state() const {
    std::vector<std::string> out;
    for (auto& kv : pending_)
      out.push_back(kv.first);
    return out;
  }

private:
  struct entry {
    state_redistribution mode;
    std::unique_ptr<operator_state_base> state;
  };

  template <class S>
  S& get(const std::string& name, state_redistribution mode) {
    auto i = states_.find(name);
    if (i == states_.end()) {
      i = states_.emplace(name, entry{mode, std::make_unique<S>()}).first;
      if (auto p = pending_.find(name); p != pending_.end()) {
        if (p->second.first != mode)
          throw std::logic_error("operator state '" + name
                                 + "' was checkpointed with another "
                                   "redistribution mode");
        i->second.state->decode(p->second.second);
        pending_.erase(p);
      }
    }
    auto* s = dynamic_cast<S*>(i->second.state.get());
    if (s == nullptr || i->second.mode != mode)
      throw std::logic_error("operator state '" + name
                             + "' is registered with another type or mode");
    return *s;
  }

  static void put_state(byte_writer& w, const std::string& name,
                        state_redistribution mode,
                        const std::vector<std::string>& elems) {
    w.put_bytes(name);
    w.put_u8(static_cast<uint8_t>(mode));
    w.put_varint(elems.size());
    for (auto& e : elems)
      w.put_bytes(e);
  }

  std::map<std::string, entry> states_;
  std::map<std::string,
           std::pair<state_redistribution, std::vector<std::string>>>
      pending_;
  bool restored_ = false;
  int index_ = 0;
};

} // namespace libstream
