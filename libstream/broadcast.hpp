#pragma once

// The broadcast state pattern (Flink's BroadcastStream and
// (Keyed)BroadcastProcessFunction): a low-volume stream (rules, a
// configuration) is broadcast to every subtask of an operator, which keeps
// it in broadcast state, maps that every subtask holds identically; the
// other input, keyed or not, reads that state. Only the broadcast side
// writes it, so all subtasks stay equal as long as the function treats
// every broadcast element the same way on each of them.
//
// Runs like connect(): both sides tagged, the broadcast side partitioned
// by broadcast, the other forward/rebalance or by key, unioned into one
// operator. Broadcast state is operator state with broadcast
// redistribution: in every checkpoint, and on a restore at any parallelism
// every new subtask gets a copy of it.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "libstream/connected_streams.hpp"
#include "libstream/state/operator_state.hpp"
#include "libstream/timer_service.hpp"

namespace libstream {

/// Names a broadcast state and its types (Flink's MapStateDescriptor).
template <class K, class V>
struct map_state_descriptor {
  std::string name;
};

/// A stream to broadcast, with the broadcast states its elements fill
/// (made by data_stream::broadcast(descriptors...)).
template <class T>
class broadcast_stream {
public:
  broadcast_stream(data_stream<T> stream, std::vector<std::string> states)
      : stream_(std::move(stream)), states_(std::move(states)) {}

  const data_stream<T>& stream() const noexcept { return stream_; }
  const std::vector<std::string>& state_names() const noexcept {
    return states_;
  }

private:
  data_stream<T> stream_;
  std::vector<std::string> states_;
};

template <class T>
template <class D, class... Ds>
broadcast_stream<T> data_stream<T>::broadcast(D first, Ds... rest) {
  return broadcast_stream<T>{*this, {first.name, rest.name...}};
}

namespace detail {

/// What both contexts of broadcast functions share: the element's time,
/// side outputs, broadcast state read-only.
template <class Out>
class broadcast_context_base {
public:
  timestamp element_timestamp() const noexcept { return ts_; }
  timestamp current_watermark() const noexcept { return wm_; }

  /// Broadcast state, read-only on the non-broadcast side. Throws for a
  /// state the broadcast stream did not declare (as Flink).
  template <class K, class V>
  const broadcast_state<K, V>&
  get_broadcast_state(const map_state_descriptor<K, V>& d) const {
    check_declared(d.name);
    return store_->template get_broadcast_state<K, V>(d.name);
  }

  /// Emits `value` to the side output `tag`.
  template <class T>
  void output(const output_tag<T>& tag, T value) {
    outs_->side(tag).collect(std::move(value), out_ts_);
  }

  /// For the operator: `out_ts` stamps side outputs (none for a
  /// processing-time timer).
  void reset(operator_outputs<Out>* outs, operator_state_store* store,
             timestamp ts, timestamp wm, timestamp out_ts) noexcept {
    outs_ = outs;
    store_ = store;
    ts_ = ts;
    wm_ = wm;
    out_ts_ = out_ts;
  }

  /// For the operator: the states broadcast(...) named.
  void declare(const std::vector<std::string>* names) noexcept {
    declared_ = names;
  }

protected:
  void check_declared(const std::string& name) const {
    if (declared_ == nullptr)
      return;
    for (auto& n : *declared_)
      if (n == name)
        return;
    std::string known;
    for (auto& n : *declared_)
      known += (known.empty() ? "'" : ", '") + n + "'";
    throw std::invalid_argument("broadcast state '" + name
                                + "' was not declared by broadcast(...) ("
                                + (known.empty() ? "none" : known)
                                + " was)");
  }

  operator_outputs<Out>* outs_ = nullptr;
  operator_state_store* store_ = nullptr;
  const std::vector<std::string>* declared_ = nullptr;
  timestamp ts_ = no_timestamp;
  timestamp wm_ = min_watermark;
  timestamp out_ts_ = no_timestamp;
};

/// The broadcast side's context: broadcast state writable.
template <class Out>
class broadcast_side_context : public broadcast_context_base<Out> {
public:
  template <class K, class V>
  broadcast_state<K, V>&
  get_broadcast_state(const map_state_descriptor<K, V>& d) {
    this->check_declared(d.name);
    return this->store_->template get_broadcast_state<K, V>(d.name);
  }
};

} // namespace detail

/// The function of a non-keyed stream connected with a broadcast stream.
template <class In1, class In2, class Out>
class broadcast_process_function {
public:
  using read_only_context = detail::broadcast_context_base<Out>;
  using context = detail::broadcast_side_context<Out>;

  virtual ~broadcast_process_function() = default;
  virtual void open(const runtime_info& info) {}
  /// An element of the non-broadcast input: broadcast state read-only.
  virtual void process_element(const In1& value, read_only_context& ctx,
                               collector<Out>& out)
      = 0;
  /// An element of the broadcast input (every subtask sees each).
  virtual void process_broadcast_element(const In2& value, context& ctx,
                                         collector<Out>& out)
      = 0;
  virtual void close() {}
};

/// The function of a keyed stream connected with a broadcast stream: keyed
/// state and timers on the keyed side, broadcast state written by the
/// broadcast side and read by the keyed side.
template <class K, class In1, class In2, class Out>
class keyed_broadcast_process_function {
public:
  /// The keyed side's context (also of timers): the current key, timers,
  /// broadcast state read-only.
  class read_only_context : public detail::broadcast_context_base<Out> {
  public:
    const K& current_key() const noexcept { return *key_; }
    timer_access& timer_service() { return *timers_; }

    void reset_key(const K* key, timer_access* timers) noexcept {
      key_ = key;
      timers_ = timers;
    }

  private:
    const K* key_ = nullptr;
    timer_access* timers_ = nullptr;
  };
  using context = detail::broadcast_side_context<Out>;

  virtual ~keyed_broadcast_process_function() = default;
  virtual void open(keyed_state_store<K>& state, const runtime_info& info) {}
  virtual void process_element(const In1& value, read_only_context& ctx,
                               collector<Out>& out)
      = 0;
  /// An element of the broadcast input. No current key: keyed state is
  /// not reachable here (Flink's applyToKeyedState is not offered).
  virtual void process_broadcast_element(const In2& value, context& ctx,
                                         collector<Out>& out)
      = 0;
  /// A timer of ctx.current_key() fired.
  virtual void on_timer(timestamp time, time_domain domain,
                        read_only_context& ctx, collector<Out>& out) {}
  virtual void close() {}
};

namespace detail {

/// Runs a broadcast_process_function over tagged records.
template <class A, class B, class Out>
class broadcast_process_adapter final
    : public process_function<tagged<A, B>, Out> {
public:
  using fn_type = broadcast_process_function<A, B, Out>;
  using base_context = typename process_function<tagged<A, B>, Out>::context;

  broadcast_process_adapter(std::unique_ptr<fn_type> fn,
                            std::vector<std::string> declared)
      : fn_(std::move(fn)), declared_(std::move(declared)) {
    if (fn_ == nullptr)
      throw std::invalid_argument("broadcast process: no function");
    if (!declared_.empty()) {
      ro_.declare(&declared_);
      rw_.declare(&declared_);
    }
  }

  void open(const runtime_info& info) override { fn_->open(info); }
  void initialize_state(operator_state_store& store) override {
    store_ = &store;
  }
  void process_element(const tagged<A, B>& v, base_context& ctx,
                       collector<Out>& out) override {
    if (v.index() == 0) {
      ro_.reset(&ctx.outputs(), store_, ctx.element_timestamp(),
                ctx.current_watermark(), ctx.element_timestamp());
      fn_->process_element(std::get<0>(v), ro_, out);
    } else {
      rw_.reset(&ctx.outputs(), store_, ctx.element_timestamp(),
                ctx.current_watermark(), ctx.element_timestamp());
      fn_->process_broadcast_element(std::get<1>(v), rw_, out);
    }
  }
  void close() override { fn_->close(); }

private:
  std::unique_ptr<fn_type> fn_;
  std::vector<std::string> declared_;
  operator_state_store* store_ = nullptr;
  typename fn_type::read_only_context ro_;
  typename fn_type::context rw_;
};

} // namespace detail

/// Runs a keyed_broadcast_process_function: keyed state and timers for
/// the keyed side (first input), broadcast state (operator state) filled
/// by the broadcast side (second input), both in checkpoints.
template <class K, class A, class B, class Out>
class keyed_broadcast_process_operator final
    : public keyed_timer_operator<K, tagged<A, B>, Out> {
public:
  using fn_type = keyed_broadcast_process_function<K, A, B, Out>;
  using in_type = tagged<A, B>;
  using base = keyed_timer_operator<K, in_type, Out>;

  /// `declared`: the broadcast states the function may use (empty: any).
  template <class KA>
  keyed_broadcast_process_operator(KA ka, std::unique_ptr<fn_type> fn,
                                   std::vector<std::string> declared = {})
      : base(key_selector<in_type, K>{
            [ka = key_selector<A, K>{std::move(ka)}](
                const in_type& v, K& scratch) -> const K& {
              return ka(std::get<0>(v), scratch);
            }}),
        fn_(std::move(fn)), declared_(std::move(declared)) {
    if (fn_ == nullptr)
      throw std::invalid_argument("keyed broadcast process: no function");
    if (!declared_.empty()) {
      ro_.declare(&declared_);
      rw_.declare(&declared_);
    }
  }

  void open(operator_context& ctx) override {
    base::open(ctx);
    fn_->open(this->state_store(), info_of(ctx));
  }

  void close() override { fn_->close(); }

  /// Keyed state and timers, and the broadcast state beside them.
  void snapshot_state(uint64_t id, operator_state_snapshot& out) override {
    base::snapshot_state(id, out);
    if (!out.at_finish)
      out.operator_state = store_.snapshot();
  }

  void restore_state(const operator_restore& from) override {
    base::restore_state(from);
    std::vector<std::string> states;
    for (int i = 0; i < from.old_parallelism(); ++i)
      states.push_back(from.operator_state(i));
    auto& ctx = this->context();
    store_.restore(states, ctx.subtask_index(), ctx.parallelism());
  }

protected:
  void process(record_batch<in_type>& batch) override {
    collector<Out> out{this->out_.main(), no_timestamp};
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& r = batch[i];
      out.set_timestamp(r.ts);
      if (r.value.index() == 0) {
        const K& key = this->key_(r.value, this->key_scratch_);
        this->set_current_key(key, this->hash_at(i, key));
        ro_.reset(&this->out_, &store_, r.ts, this->current_watermark_, r.ts);
        ro_.reset_key(&key, this);
        fn_->process_element(std::get<0>(r.value), ro_, out);
        this->current_.key = nullptr;
      } else {
        rw_.reset(&this->out_, &store_, r.ts, this->current_watermark_,
                  r.ts);
        fn_->process_broadcast_element(std::get<1>(r.value), rw_, out);
      }
    }
  }

  void on_timer(const K& key, timestamp time, time_domain domain,
                timestamp out_ts) override {
    collector<Out> out{this->out_.main(), out_ts};
    ro_.reset(&this->out_, &store_, time, this->current_watermark_, out_ts);
    ro_.reset_key(&key, this);
    fn_->on_timer(time, domain, ro_, out);
  }

private:
  std::unique_ptr<fn_type> fn_;
  std::vector<std::string> declared_;
  operator_state_store store_;
  typename fn_type::read_only_context ro_;
  typename fn_type::context rw_;
};

/// The operator broadcast_connected_stream::process runs (for the
/// two-input harness).
template <class A, class B, class R>
std::unique_ptr<operator_base> make_broadcast_process_operator(
    std::unique_ptr<broadcast_process_function<A, B, R>> fn,
    std::vector<std::string> declared = {}) {
  return std::make_unique<process_operator<tagged<A, B>, R>>(
      std::make_unique<detail::broadcast_process_adapter<A, B, R>>(
          std::move(fn), std::move(declared)));
}

/// A stream connected with a broadcast stream.
template <class A, class B>
class broadcast_connected_stream {
public:
  broadcast_connected_stream(data_stream<A> first, broadcast_stream<B> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  /// A broadcast_process_function<A, B, R>, one per subtask from `make`.
  template <class R, class Make>
  data_stream<R> process(Make make, std::string name = "Broadcast Process") {
    auto a = detail::tag_input<0, tagged<A, B>>(first_, "Connect (1)");
    auto b = detail::tag_input<1, tagged<A, B>>(second_.stream(),
                                                "Connect (broadcast)")
                 .broadcast();
    auto declared = second_.state_names();
    return a.union_with({b}).template process<R>(
        [make, declared] {
          std::unique_ptr<broadcast_process_function<A, B, R>> fn = make();
          return std::make_unique<detail::broadcast_process_adapter<A, B, R>>(
              std::move(fn), declared);
        },
        std::move(name));
  }

private:
  data_stream<A> first_;
  broadcast_stream<B> second_;
};

/// A keyed stream connected with a broadcast stream.
template <class A, class B, class K>
class keyed_broadcast_connected_stream {
public:
  keyed_broadcast_connected_stream(keyed_stream<A, K> first,
                                   broadcast_stream<B> second)
      : first_(std::move(first)), second_(std::move(second)) {}

  /// A keyed_broadcast_process_function<K, A, B, R>, one per subtask from
  /// `make`.
  template <class R, class Make>
  data_stream<R> process(Make make,
                         std::string name = "Keyed Broadcast Process") {
    using in_type = tagged<A, B>;
    auto unkeyed = detail::unkeyed(first_);
    auto ka = first_.key();
    auto a = detail::tag_input<0, in_type>(unkeyed, "Connect (1)")
                 .key_by(key_selector<in_type, K>{
                     [ka](const in_type& v, K& scratch) -> const K& {
                       return ka(std::get<0>(v), scratch);
                     }});
    auto b = detail::tag_input<1, in_type>(second_.stream(),
                                           "Connect (broadcast)")
                 .broadcast();
    auto both = a.union_with({b});
    auto& builder = *first_.builder();
    auto& t = builder.add(transformation_kind::one_input, std::move(name),
                          {both.id()});
    t.keyed = true;
    t.broadcast_input = true;
    t.input_type = typeid(in_type);
    t.output_type = typeid(R);
    auto declared = second_.state_names();
    t.make_operator = [make, ka,
                       declared]() -> std::unique_ptr<operator_base> {
      std::unique_ptr<keyed_broadcast_process_function<K, A, B, R>> fn
          = make();
      return std::make_unique<keyed_broadcast_process_operator<K, A, B, R>>(
          ka, std::move(fn), declared);
    };
    t.make_output = plain_output_factory<R>();
    t.make_input = typed_input_factory<in_type>();
    return data_stream<R>{first_.builder(), t.id};
  }

private:
  keyed_stream<A, K> first_;
  broadcast_stream<B> second_;
};

template <class T>
template <class B>
broadcast_connected_stream<T, B>
data_stream<T>::connect(broadcast_stream<B> other) {
  return broadcast_connected_stream<T, B>{*this, std::move(other)};
}

template <class T, class K>
template <class B>
keyed_broadcast_connected_stream<T, B, K>
keyed_stream<T, K>::connect(broadcast_stream<B> other) {
  return keyed_broadcast_connected_stream<T, B, K>{*this, std::move(other)};
}

} // namespace libstream
