#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "libstream/config.hpp"
#include "libstream/job_graph.hpp"
#include "libstream/key_group.hpp"
#include "libstream/network_output.hpp"

namespace libstream {

/// The logical plan under construction: the transformations the DataStream
/// API calls add, in creation (and so topological) order.
class job_builder {
public:
  execution_config config;

  transformation& add(transformation_kind kind, std::string name,
                      std::vector<int> inputs) {
    auto t = std::make_shared<transformation>();
    t->id = static_cast<int>(nodes_.size());
    t->kind = kind;
    t->name = std::move(name);
    t->inputs = std::move(inputs);
    nodes_.push_back(t);
    return *t;
  }

  transformation& node(int id) { return *nodes_.at(static_cast<size_t>(id)); }

  const std::vector<transformation_ptr>& nodes() const noexcept {
    return nodes_;
  }

  /// Plans the job (a copy: the builder can be extended and run again).
  job_graph plan() const {
    std::vector<transformation_ptr> copy;
    for (auto& n : nodes_)
      copy.push_back(std::make_shared<transformation>(*n));
    return job_graph::plan(std::move(copy), config);
  }

private:
  std::vector<transformation_ptr> nodes_;
};

// -- typed factories
// ------------------------------------------------------------

template <class T>
network_output_factory plain_output_factory() {
  return [](partitioning p, int, int) -> std::unique_ptr<network_output_base> {
    if (p == partitioning::hash || p == partitioning::custom)
      throw std::logic_error("keyed partitioning without a key selector");
    return std::make_unique<network_output<T>>(p);
  };
}

/// Picks the consumer subtask of a record from its key's key group.
template <class T, class K, class KeyFn>
struct hash_selector {
  KeyFn key;
  int parallelism = 1;
  int max_parallelism = default_max_parallelism;
  mutable K scratch{};

  size_t operator()(const T& x) const {
    uint32_t h = 0;
    return select(x, h);
  }

  /// The consumer of `x`, and its key hash in `h` (sent along, so that the
  /// keyed operator does not hash the key again).
  size_t select(const T& x, uint32_t& h) const {
    // Hashed as returned: a reference or a string_view is not copied; a
    // selector with a scratch key (key_selector) fills a reused one.
    if constexpr (std::is_invocable_v<const KeyFn&, const T&, K&>) {
      h = key_hash<K>(key(x, scratch));
    } else {
      auto&& k = key(x);
      h = key_hash<std::decay_t<decltype(k)>>(k);
    }
    auto kg = key_group_of_hash(h, max_parallelism);
    return static_cast<size_t>(
        subtask_of_key_group(kg, parallelism, max_parallelism));
  }
};

/// Hash partitioning: key -> key group -> consumer subtask.
template <class T, class K, class KeyFn>
network_output_factory hash_output_factory(KeyFn key) {
  return [key](partitioning, int cp,
               int cmp) -> std::unique_ptr<network_output_base> {
    using selector = hash_selector<T, K, KeyFn>;
    return std::make_unique<network_output<T, selector>>(
        partitioning::hash, selector{key, cp, cmp});
  };
}

/// Custom partitioning: partitioner(key, consumers) -> consumer subtask.
template <class T, class KeyFn, class PartFn>
network_output_factory custom_output_factory(KeyFn key, PartFn part) {
  return [key, part](partitioning, int cp,
                     int) -> std::unique_ptr<network_output_base> {
    auto select = [key, part, cp](const T& x) {
      auto ch = part(key(x), cp);
      if (ch < 0 || ch >= cp)
        throw std::out_of_range("custom partitioner returned "
                                + std::to_string(ch) + " for "
                                + std::to_string(cp) + " partitions");
      return static_cast<size_t>(ch);
    };
    return std::make_unique<network_output<T>>(partitioning::custom, select);
  };
}

template <class T>
input_factory typed_input_factory() {
  return [](operator_base& op) -> std::unique_ptr<erased_input> {
    auto* sink = dynamic_cast<record_sink<T>*>(&op);
    if (sink == nullptr)
      throw std::logic_error("chain head does not accept the edge's type");
    return std::make_unique<typed_input<T>>(*sink);
  };
}

} // namespace libstream
