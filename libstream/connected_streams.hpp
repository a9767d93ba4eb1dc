#pragma once

// Two-input operators: connect() of two streams (same or different types)
// with co-map, co-flat-map and co-process functions, and on keyed
// connected streams a keyed co-process function with keyed state and
// timers (Flink's ConnectedStreams, CoProcessFunction,
// KeyedCoProcessFunction).
//
// Both inputs reach the operator as one stream of tagged records: each
// side is tagged by a map chained to its producer (std::variant index 0
// for the first input, 1 for the second) and the two are unioned, as
// Flink's co-group does with its TaggedUnion. So the runtime's one-input
// rules hold for both inputs at once: the operator's watermark is the
// minimum over the channels of both inputs (idle channels excluded), and
// checkpoint barriers align across all of them.

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

#include "libstream/codec.hpp"
#include "libstream/data_stream.hpp"
#include "libstream/functions.hpp"
#include "libstream/operators/basic.hpp"
#include "libstream/operators/keyed.hpp"

namespace libstream {

/// A record of one of two connected inputs: index 0 from the first, 1
/// from the second (A and B may be the same type).
template <class A, class B>
using tagged = std::variant<A, B>;

/// A function over two connected streams, as Flink's CoProcessFunction:
/// one method per input, side outputs, operator state; no keyed state, no
/// timers (connect().key_by() gives those).
template <class In1, class In2, class Out>
class co_process_function {
public:
  using first_type = In1;
  using second_type = In2;
  using output_type = Out;
  using context = process_context<Out>;

  virtual ~co_process_function() = default;
  virtual void open(const runtime_info& info) {}
  virtual void process_element1(const In1& value, context& ctx,
                                collector<Out>& out)
      = 0;
  virtual void process_element2(const In2& value, context& ctx,
                                collector<Out>& out)
      = 0;
  /// Both inputs ended (bounded streams).
  virtual void end_input(collector<Out>& out) {}
  /// Non-keyed state, as in process_function.
  virtual void initialize_state(operator_state_store& store) {}
  virtual void snapshot_state(uint64_t checkpoint_id) {}
  virtual void close() {}
};

/// A function over keyed connected streams, as Flink's
/// KeyedCoProcessFunction: both inputs partitioned by a key of type K,
/// keyed state shared by both sides, timers per key.
template <class K, class In1, class In2, class Out>
class keyed_co_process_function {
public:
  using key_type = K;
  using first_type = In1;
  using second_type = In2;
  using output_type = Out;
  using context = keyed_process_context<K, Out>;

  virtual ~keyed_co_process_function() = default;
  virtual void open(keyed_state_store<K>& state, const runtime_info& info) {}
  virtual void process_element1(const In1& value, context& ctx,
                                collector<Out>& out)
      = 0;
  virtual void process_element2(const In2& value, context& ctx,
                                collector<Out>& out)
      = 0;
  /// A timer registered for ctx.current_key() fired at `time`.
  virtual void on_timer(timestamp time, time_domain domain, context& ctx,
                        collector<Out>& out) {}
  virtual void close() {}
};

namespace detail {

/// Runs a co_process_function as the process_function of tagged records.
template <class In1, class In2, class Out>
class co_process_adapter final
    : public process_function<tagged<In1, In2>, Out> {
public:
  using fn_type = co_process_function<In1, In2, Out>;
  using context = typename process_function<tagged<In1, In2>, Out>::context;

  explicit co_process_adapter(std::unique_ptr<fn_type> fn)
      : fn_(std::move(fn)) {
    if (fn_ == nullptr)
      throw std::invalid_argument("co-process: no function");
  }

  void open(const runtime_info& info) override { fn_->open(info); }
  void process_element(const tagged<In1, In2>& v, context& ctx,
                       collector<Out>& out) override {
    if (v.index() == 0)
      fn_->process_element1(std::get<0>(v), ctx, out);
    else
      fn_->process_element2(std::get<1>(v), ctx, out);
  }
  void end_input(collector<Out>& out) override { fn_->end_input(out); }
  void initialize_state(operator_state_store& store) override {
    fn_->initialize_state(store);
  }
  void snapshot_state(uint64_t id) override { fn_->snapshot_state(id); }
  void close() override { fn_->close(); }

private:
  std::unique_ptr<fn_type> fn_;
};

/// Runs a keyed_co_process_function as the keyed process function of
/// tagged records.
template <class K, class In1, class In2, class Out>
class keyed_co_process_adapter final
    : public keyed_process_function<K, tagged<In1, In2>, Out> {
public:
  using fn_type = keyed_co_process_function<K, In1, In2, Out>;
  using context =
      typename keyed_process_function<K, tagged<In1, In2>, Out>::context;

  explicit keyed_co_process_adapter(std::unique_ptr<fn_type> fn)
      : fn_(std::move(fn)) {
    if (fn_ == nullptr)
      throw std::invalid_argument("keyed co-process: no function");
  }

  void open(keyed_state_store<K>& state, const runtime_info& info) override {
    fn_->open(state, info);
  }
  void process_element(const tagged<In1, In2>& v, context& ctx,
                       collector<Out>& out) override {
    if (v.index() == 0)
      fn_->process_element1(std::get<0>(v), ctx, out);
    else
      fn_->process_element2(std::get<1>(v), ctx, out);
  }
  void on_timer(timestamp time, time_domain domain, context& ctx,
                collector<Out>& out) override {
    fn_->on_timer(time, domain, ctx, out);
  }
  void close() override { fn_->close(); }

private:
  std::unique_ptr<fn_type> fn_;
};

/// The key type a selector gives (decayed, string_view as std::string).
template <class F, class T>
using selected_key_t = key_type_of<std::invoke_result_t<F&, const T&>>;

/// `s` tagged with index I by a map that runs at the parallelism and max
/// parallelism of the operator that produced `s`, as the planner resolves
/// them (transformation::parallelism_of_input), so that it chains to it.
template <size_t I, class V, class T>
data_stream<V> tag_input(data_stream<T> s, const char* name) {
  auto tagged_stream = s.map(
      [](const T& x) { return V{std::in_place_index<I>, x}; }, name);
  s.builder()->node(tagged_stream.id()).parallelism_of_input = true;
  return tagged_stream;
}

/// The key of a tagged record: `ka` for the first input, `kb` for the
/// second; a key is not copied where the selectors give references.
template <class A, class B, class K>
key_selector<tagged<A, B>, K> tagged_key(key_selector<A, K> ka,
                                         key_selector<B, K> kb) {
  return [ka = std::move(ka), kb = std::move(kb)](const tagged<A, B>& v,
                                                  K& scratch) -> const K& {
    return v.index() == 0 ? ka(std::get<0>(v), scratch)
                          : kb(std::get<1>(v), scratch);
  };
}

/// The input of a keyed stream (before its key_by).
template <class T, class K>
data_stream<T> unkeyed(const keyed_stream<T, K>& s) {
  auto& node = s.builder()->node(s.id());
  if (node.kind != transformation_kind::partition || node.inputs.size() != 1)
    throw std::logic_error("expected a stream right after key_by");
  return data_stream<T>{s.builder(), node.inputs[0]};
}

} // namespace detail

template <class A, class B, class K>
class keyed_connected_streams;

/// Two streams connected for a two-input operator (Flink's
/// ConnectedStreams): made by connect(a, b) or a.connect(b).
template <class A, class B>
class connected_streams {
public:
  using tagged_type = tagged<A, B>;

  connected_streams(data_stream<A> first, data_stream<B> second)
      : first_(std::move(first)), second_(std::move(second)) {
    if (first_.builder() != second_.builder())
      throw std::invalid_argument("cannot connect streams of two different "
                                  "execution environments");
  }

  const data_stream<A>& first_input() const noexcept { return first_; }
  const data_stream<B>& second_input() const noexcept { return second_; }

  /// One record out per record in: R f1(const A&), R f2(const B&).
  template <class F1, class F2,
            class R = std::decay_t<std::invoke_result_t<F1&, const A&>>>
  data_stream<R> map(F1 f1, F2 f2, std::string name = "Co-Map") {
    static_assert(
        std::is_same_v<R, std::decay_t<std::invoke_result_t<F2&, const B&>>>,
        "co-map: both functions must return the same type");
    return tagged_stream().map(
        [f1, f2](const tagged_type& v) -> R {
          return v.index() == 0 ? f1(std::get<0>(v)) : f2(std::get<1>(v));
        },
        std::move(name));
  }

  /// Zero or more records out per record in: void f1(const A&,
  /// collector<R>&), void f2(const B&, collector<R>&).
  template <class R, class F1, class F2>
  data_stream<R> flat_map(F1 f1, F2 f2, std::string name = "Co-Flat Map") {
    return tagged_stream().template flat_map<R>(
        [f1, f2](const tagged_type& v, collector<R>& out) {
          if (v.index() == 0)
            f1(std::get<0>(v), out);
          else
            f2(std::get<1>(v), out);
        },
        std::move(name));
  }

  /// A co_process_function<A, B, R>: `make` returns a std::unique_ptr to
  /// one, once per subtask.
  template <class R, class Make>
  data_stream<R> process(Make make, std::string name = "Co-Process") {
    return tagged_stream().template process<R>(
        [make] {
          std::unique_ptr<co_process_function<A, B, R>> fn = make();
          return std::make_unique<detail::co_process_adapter<A, B, R>>(
              std::move(fn));
        },
        std::move(name));
  }

  /// Partitions both inputs by key: K ka(const A&), K kb(const B&), the
  /// same key type on both sides (Flink's ConnectedStreams#keyBy).
  template <class KA, class KB, class K = detail::selected_key_t<KA, A>>
  keyed_connected_streams<A, B, K> key_by(KA ka, KB kb);

  /// Both inputs as one stream of tagged records (index 0: first).
  data_stream<tagged_type> tagged_stream() const {
    auto a = detail::tag_input<0, tagged_type>(first_, "Connect (1)");
    auto b = detail::tag_input<1, tagged_type>(second_, "Connect (2)");
    return a.union_with({b});
  }

private:
  data_stream<A> first_;
  data_stream<B> second_;
};

/// Connected streams partitioned by a key of both sides (Flink's
/// ConnectedStreams after keyBy).
template <class A, class B, class K>
class keyed_connected_streams {
public:
  using tagged_type = tagged<A, B>;

  keyed_connected_streams(keyed_stream<tagged_type, K> keyed)
      : keyed_(std::move(keyed)) {}

  /// A keyed_co_process_function<K, A, B, R>: `make` returns a
  /// std::unique_ptr to one, once per subtask.
  template <class R, class Make>
  data_stream<R> process(Make make, std::string name = "Keyed Co-Process") {
    return keyed_.template process<R>(
        [make] {
          std::unique_ptr<keyed_co_process_function<K, A, B, R>> fn = make();
          return std::make_unique<
              detail::keyed_co_process_adapter<K, A, B, R>>(std::move(fn));
        },
        std::move(name));
  }

  /// The tagged records, keyed (for operators built on both sides, such
  /// as joins).
  keyed_stream<tagged_type, K>& keyed() noexcept { return keyed_; }

private:
  keyed_stream<tagged_type, K> keyed_;
};

template <class A, class B>
template <class KA, class KB, class K>
keyed_connected_streams<A, B, K> connected_streams<A, B>::key_by(KA ka,
                                                                 KB kb) {
  static_assert(std::is_same_v<K, detail::selected_key_t<KB, B>>,
                "connect().key_by: both key selectors must give the same "
                "key type");
  return keyed_connected_streams<A, B, K>{tagged_stream().key_by(
      detail::tagged_key<A, B, K>(std::move(ka), std::move(kb)))};
}

/// The operator connected_streams::process runs (for the two-input test
/// harness and custom wiring).
template <class A, class B, class R>
std::unique_ptr<operator_base>
make_co_process_operator(std::unique_ptr<co_process_function<A, B, R>> fn) {
  return std::make_unique<process_operator<tagged<A, B>, R>>(
      std::make_unique<detail::co_process_adapter<A, B, R>>(std::move(fn)));
}

/// The operator keyed_connected_streams::process runs: keys by ka on the
/// first input and kb on the second.
template <class K, class A, class B, class R, class KA, class KB>
std::unique_ptr<operator_base> make_keyed_co_process_operator(
    KA ka, KB kb, std::unique_ptr<keyed_co_process_function<K, A, B, R>> fn) {
  return std::make_unique<keyed_process_operator<K, tagged<A, B>, R>>(
      detail::tagged_key<A, B, K>(std::move(ka), std::move(kb)),
      std::make_unique<detail::keyed_co_process_adapter<K, A, B, R>>(
          std::move(fn)));
}

/// Connects two streams for a two-input operator.
template <class A, class B>
connected_streams<A, B> connect(data_stream<A> first, data_stream<B> second) {
  return connected_streams<A, B>{std::move(first), std::move(second)};
}

template <class T>
template <class B>
connected_streams<T, B> data_stream<T>::connect(data_stream<B> other) {
  return connected_streams<T, B>{*this, std::move(other)};
}

} // namespace libstream
