#pragma once

#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <type_traits>
#include <typeindex>
#include <utility>
#include <vector>

#include "libstream/functions.hpp"
#include "libstream/job_builder.hpp"
#include "libstream/operators/basic.hpp"
#include "libstream/operators/keyed.hpp"
#include "libstream/operators/timestamps.hpp"
#include "libstream/sinks/part_file_sink.hpp"
#include "libstream/sinks/sinks.hpp"
#include "libstream/watermark_strategy.hpp"

namespace libstream {

template <class T, class K>
class keyed_stream;

template <class T>
class data_stream_sink;

template <class T, class K, class Assigner>
class windowed_stream;

template <class A, class B>
class connected_streams;

template <class A, class B, class K>
class interval_join_start;

template <class A, class B, bool Join>
class two_streams;

template <class T>
class broadcast_stream;

template <class A, class B>
class broadcast_connected_stream;

template <class A, class B, class K>
class keyed_broadcast_connected_stream;

/// a.join(b): a window join being defined (joins.hpp).
template <class A, class B>
using join_start = two_streams<A, B, true>;

/// a.co_group(b): a window co-group being defined (joins.hpp).
template <class A, class B>
using co_group_start = two_streams<A, B, false>;

/// A stream of records of type T, as Flink's DataStream. Operations append
/// transformations to the job; nothing runs before execute(). The settings
/// (name, uid, parallelism, chaining) apply to the operator that produced
/// this stream.
template <class T>
class data_stream {
public:
  using value_type = T;

  data_stream(std::shared_ptr<job_builder> b, int id)
      : builder_(std::move(b)), id_(id) {}

  int id() const noexcept { return id_; }
  const std::shared_ptr<job_builder>& builder() const { return builder_; }

  // -- transformations --------------------------------------------------------

  /// One record out per record in: R f(const T&).
  template <class F, class R = std::decay_t<std::invoke_result_t<F&, const T&>>>
  data_stream<R> map(F f, std::string name = "Map") {
    return add_operator<R>(std::move(name), [f] {
      return std::make_unique<map_operator<T, R, F>>(f);
    });
  }

  /// Zero or more records out per record in: void f(const T&, collector<R>&).
  template <class R, class F>
  data_stream<R> flat_map(F f, std::string name = "Flat Map") {
    return add_operator<R>(std::move(name), [f] {
      return std::make_unique<flat_map_operator<T, R, F>>(f);
    });
  }

  /// Keeps records for which bool f(const T&) holds.
  template <class F>
  data_stream<T> filter(F f, std::string name = "Filter") {
    return add_operator<T>(std::move(name), [f] {
      return std::make_unique<filter_operator<T, F>>(f);
    });
  }

  /// A process function with side outputs. `make` creates one function
  /// instance per subtask: std::unique_ptr<process_function<T, R>>().
  template <class R, class Make>
  data_stream<R> process(Make make, std::string name = "Process") {
    return add_operator<R>(std::move(name), [make] {
      return std::make_unique<process_operator<T, R>>(make());
    });
  }

  /// A custom operator (Flink's DataStream#transform): `make` creates one
  /// per subtask, a std::unique_ptr to a one_input_operator<T, R>.
  template <class R, class Make>
  data_stream<R> transform(std::string name, Make make) {
    return add_operator<R>(std::move(name), [make] {
      std::unique_ptr<one_input_operator<T, R>> op = make();
      return op;
    });
  }

  /// Partitions by key: K f(const T&), or const K& f(const T&) returning
  /// a member (nothing is copied per record), or std::string_view for
  /// std::string keys (see key_selector). K needs key_hasher (key_hash.hpp;
  /// built in for numbers, strings, pairs, tuples), == and <.
  template <class F, class K = key_type_of<std::invoke_result_t<F&, const T&>>>
  keyed_stream<T, K> key_by(F f) {
    auto& t = builder_->add(transformation_kind::partition, "Key By", {id_});
    t.part = partitioning::hash;
    t.output_type = typeid(T);
    t.make_output = hash_output_factory<T, K>(f);
    return keyed_stream<T, K>{builder_, t.id, key_selector<T, K>{f}};
  }

  /// Windows over the whole (non-keyed) stream: runs with parallelism 1,
  /// as Flink's windowAll. Defined in windowed_stream.hpp.
  template <class Assigner>
  windowed_stream<T, uint8_t, Assigner> window_all(Assigner assigner);

  /// Connects with `other` (of any type) for a two-input operator:
  /// co-map, co-flat-map, co-process, or key_by for keyed state and
  /// timers. Defined in connected_streams.hpp.
  template <class B>
  connected_streams<T, B> connect(data_stream<B> other);

  /// Connects with a broadcast stream: process() with a
  /// broadcast_process_function (broadcast.hpp).
  template <class B>
  broadcast_connected_stream<T, B> connect(broadcast_stream<B> other);

  /// A window join with `other`: join(other).where(key).equal_to(key)
  /// .window(assigner).apply(f) calls R f(const T&, const B&) for every
  /// pair of a key in a window (joins.hpp).
  template <class B>
  join_start<T, B> join(data_stream<B> other);

  /// A window co-group with `other`: co_group(other).where(key)
  /// .equal_to(key).window(assigner).apply<R>(f) hands f both sides'
  /// elements of a key in a window (joins.hpp).
  template <class B>
  co_group_start<T, B> co_group(data_stream<B> other);

  /// Merges streams of the same type.
  data_stream<T> union_with(std::initializer_list<data_stream<T>> others) {
    std::vector<int> ins{id_};
    for (auto& o : others) {
      if (o.builder_ != builder_)
        throw std::invalid_argument("cannot union streams of two different "
                                    "execution environments");
      ins.push_back(o.id_);
    }
    auto& t = builder_->add(transformation_kind::union_, "Union", ins);
    t.output_type = typeid(T);
    t.make_output = plain_output_factory<T>();
    return {builder_, t.id};
  }

  data_stream<T> union_with(const data_stream<T>& other) {
    return union_with({other});
  }

  data_stream<T> rebalance() { return partition(partitioning::rebalance); }
  data_stream<T> rescale() { return partition(partitioning::rescale); }
  data_stream<T> broadcast() { return partition(partitioning::broadcast); }

  /// This stream to broadcast into the broadcast states named by the
  /// map_state_descriptors given (the broadcast state pattern; connect a
  /// stream with the result). Defined in broadcast.hpp.
  template <class D, class... Ds>
  broadcast_stream<T> broadcast(D descriptor, Ds... more);
  data_stream<T> forward() { return partition(partitioning::forward); }

  /// int partitioner(const K& key, int num_partitions), K key(const T&).
  template <class P, class F>
  data_stream<T> partition_custom(P partitioner, F key) {
    auto& t = builder_->add(transformation_kind::partition, "Custom Partition",
                            {id_});
    t.part = partitioning::custom;
    t.output_type = typeid(T);
    t.make_output = custom_output_factory<T>(key, partitioner);
    return {builder_, t.id};
  }

  /// Assigns event timestamps and generates watermarks.
  data_stream<T> assign_timestamps_and_watermarks(watermark_strategy<T> s,
                                                  std::string name
                                                  = "Timestamps/Watermarks") {
    auto interval = builder_->config.auto_watermark_interval;
    return add_operator<T>(std::move(name), [s, interval] {
      return std::make_unique<timestamps_and_watermarks_operator<T>>(s,
                                                                     interval);
    });
  }

  /// The side output `tag` of the operator that produced this stream.
  template <class S>
  data_stream<S> get_side_output(const output_tag<S>& tag) {
    auto& t = builder_->add(transformation_kind::side_output,
                            "Side Output " + tag.id, {id_});
    t.side_tag = tag.id;
    t.output_type = typeid(S);
    t.make_output = plain_output_factory<S>();
    t.declare_side = [tag](operator_base& op) {
      auto* registry = op.sides();
      if (registry == nullptr)
        throw std::logic_error("operator has no side outputs");
      registry->get(tag);
    };
    return {builder_, t.id};
  }

  // -- sinks ------------------------------------------------------------------

  /// `make` creates one sink function per subtask.
  template <class Make>
  data_stream_sink<T> add_sink(Make make, std::string name = "Sink") {
    auto& t = builder_->add(transformation_kind::sink, std::move(name), {id_});
    t.input_type = typeid(T);
    t.make_operator = [make]() -> std::unique_ptr<operator_base> {
      return std::make_unique<sink_operator<T>>(make());
    };
    t.make_input = typed_input_factory<T>();
    return data_stream_sink<T>{builder_, t.id};
  }

  /// Prints every record to stdout (needs operator<< or `format`).
  data_stream_sink<T> print(std::string prefix = "",
                            std::function<std::string(const T&)> format
                            = nullptr,
                            std::string header = "") {
    return add_sink(
        [prefix, format, header] {
          return std::make_unique<print_sink<T>>(prefix, format, header);
        },
        "Print");
  }

  /// Collects every record into `target` (read it after execute()).
  data_stream_sink<T> collect_into(std::shared_ptr<collected<T>> target) {
    return add_sink(
        [target] { return std::make_unique<collect_sink<T>>(target); },
        "Collect");
  }

  /// Writes a line per record into part files in directory `dir`, exactly
  /// once under checkpoints (see part_file_sink, Flink's FileSink): a part
  /// becomes visible when the checkpoint after it completes, or when the
  /// job finishes.
  data_stream_sink<T> sink_to_files(std::string dir,
                                    std::function<std::string(const T&)> format,
                                    std::string header = "") {
    return part_files(std::move(dir), nullptr, std::move(format),
                      std::move(header), "Part File Sink");
  }

  /// As sink_to_files, into buckets (Flink's FileSink with a bucket
  /// assigner): `bucket` names each record's subdirectory of `dir`, a
  /// relative path such as `dt=2024-01-01/hm=10:05` ("" for `dir`
  /// itself); each bucket gets its own part files, exactly once the same
  /// way. A bad bucket (absolute, `.`/`..`, hidden) fails the job naming
  /// it.
  data_stream_sink<T>
  sink_to_bucketed_files(std::string dir,
                         std::function<std::string(const T&)> bucket,
                         std::function<std::string(const T&)> format,
                         std::string header = "") {
    if (!bucket)
      throw std::invalid_argument("sink_to_bucketed_files needs a bucket "
                                  "function");
    return part_files(std::move(dir), std::move(bucket), std::move(format),
                      std::move(header), "Bucketed File Sink");
  }

  /// Writes a line per record to `path` (see file_sink).
  data_stream_sink<T> write_as_text(std::string path,
                                    std::function<std::string(const T&)> format,
                                    std::string header = "") {
    auto sink = add_sink(
        [path, format, header] {
          return std::make_unique<file_sink<T>>(path, format, header);
        },
        "File Sink");
    sink.writes_file(path);
    builder_->node(sink.id()).lost_on_restart = true;
    return sink;
  }

  // -- settings of the producing operator
  // --------------------------------------

  data_stream& name(std::string n) {
    physical("name").name = std::move(n);
    return *this;
  }

  data_stream& uid(std::string u) {
    if (u.empty())
      throw std::invalid_argument("a uid must not be empty");
    physical("uid").uid = std::move(u);
    return *this;
  }

  data_stream& set_parallelism(int p) {
    if (p < 1)
      throw std::invalid_argument("parallelism must be at least 1, got "
                                  + std::to_string(p));
    physical("parallelism").parallelism = p;
    return *this;
  }

  data_stream& set_max_parallelism(int p) {
    if (p < 1 || p > 32768)
      throw std::invalid_argument("max parallelism must be in [1, 32768]");
    physical("max parallelism").max_parallelism = p;
    return *this;
  }

  data_stream& disable_chaining() {
    physical("chaining").chaining = false;
    return *this;
  }

  data_stream& start_new_chain() {
    physical("chaining").start_new_chain = true;
    return *this;
  }

  /// Declares that the operator blocks its thread (a synchronous client):
  /// the subtasks of its chain run on a thread each, not on the node's
  /// pool of worker threads (see data_stream_sink::blocking). Lookups
  /// belong in async I/O instead, which never blocks.
  data_stream& blocking() {
    physical("blocking").blocking = true;
    return *this;
  }

protected:
  template <class R, class Make>
  data_stream<R> add_operator(std::string name, Make make, bool keyed = false) {
    auto& t
        = builder_->add(transformation_kind::one_input, std::move(name), {id_});
    t.keyed = keyed;
    t.input_type = typeid(T);
    t.output_type = typeid(R);
    t.make_operator
        = [make]() -> std::unique_ptr<operator_base> { return make(); };
    t.make_output = plain_output_factory<R>();
    t.make_input = typed_input_factory<T>();
    return data_stream<R>{builder_, t.id};
  }

  /// The exactly-once part file sink, with buckets when `bucket` is set.
  data_stream_sink<T>
  part_files(std::string dir, std::function<std::string(const T&)> bucket,
             std::function<std::string(const T&)> format, std::string header,
             const char* name) {
    auto& t = builder_->add(transformation_kind::sink, name, {id_});
    t.input_type = typeid(T);
    t.commits_on_checkpoint = true;
    t.make_operator = [dir, format, header,
                       bucket]() -> std::unique_ptr<operator_base> {
      return std::make_unique<part_file_sink<T>>(dir, format, header, bucket);
    };
    t.make_input = typed_input_factory<T>();
    data_stream_sink<T> sink{builder_, t.id};
    sink.writes_file(dir);
    return sink;
  }

  data_stream<T> partition(partitioning p) {
    auto& t = builder_->add(transformation_kind::partition,
                            std::string{"Partition "} + to_string(p), {id_});
    t.part = p;
    t.output_type = typeid(T);
    t.make_output = plain_output_factory<T>();
    return {builder_, t.id};
  }

  transformation& physical(const char* what) {
    auto& t = builder_->node(id_);
    if (t.kind == transformation_kind::partition
        || t.kind == transformation_kind::union_
        || t.kind == transformation_kind::side_output)
      throw std::logic_error(std::string{"cannot set "} + what + " on '"
                             + t.name + "': it is not an operator");
    return t;
  }

  std::shared_ptr<job_builder> builder_;
  int id_;
};

/// The end of a pipeline; settings apply to the sink operator.
template <class T>
class data_stream_sink {
public:
  data_stream_sink(std::shared_ptr<job_builder> b, int id)
      : builder_(std::move(b)), id_(id) {}

  data_stream_sink& name(std::string n) {
    builder_->node(id_).name = std::move(n);
    return *this;
  }

  int id() const noexcept { return id_; }

  /// Declares that the sink writes `path` (a custom sink writing a file),
  /// so that a job whose output is one of its input files, or is written
  /// by two sinks, is refused before it starts. write_as_text declares
  /// its path itself.
  data_stream_sink& writes_file(std::string path) {
    builder_->node(id_).file_written = std::move(path);
    return *this;
  }
  data_stream_sink& uid(std::string u) {
    builder_->node(id_).uid = std::move(u);
    return *this;
  }
  data_stream_sink& set_parallelism(int p) {
    if (p < 1)
      throw std::invalid_argument("parallelism must be at least 1");
    builder_->node(id_).parallelism = p;
    return *this;
  }
  data_stream_sink& disable_chaining() {
    builder_->node(id_).chaining = false;
    return *this;
  }

  /// Declares that the sink blocks its thread (it waits on a synchronous
  /// client): the subtasks of its chain (with the operators chained before
  /// it) then run on a thread each, not on the node's pool of worker
  /// threads, where every wait would stall the other subtasks sharing the
  /// pool. pg::add_sink and write_redis_stream declare it themselves.
  /// (Lookups belong in async I/O instead.)
  data_stream_sink& blocking() {
    builder_->node(id_).blocking = true;
    return *this;
  }

private:
  std::shared_ptr<job_builder> builder_;
  int id_;
};

/// A stream partitioned by key, as Flink's KeyedStream. It is a data
/// stream too: map, filter and sinks on it run after the hash partitioning.
template <class T, class K>
class keyed_stream : public data_stream<T> {
public:
  keyed_stream(std::shared_ptr<job_builder> b, int id, key_selector<T, K> key)
      : data_stream<T>(std::move(b), id), key_(std::move(key)) {}

  const key_selector<T, K>& key() const noexcept { return key_; }

  /// Rolling reduce: T f(const T& acc, const T& x); emits every update.
  template <class F>
  data_stream<T> reduce(F f, std::string name = "Keyed Reduce") {
    auto key = key_;
    std::function<T(const T&, const T&)> fn = f;
    return add_keyed<T>(std::move(name), [key, fn] {
      return std::make_unique<rolling_reduce_operator<K, T>>(key, fn);
    });
  }

  /// Rolling sum of a field; the other fields keep the first record's values.
  template <class M, class U = T>
  data_stream<T> sum(M U::*field) {
    return reduce(
        [field](const T& acc, const T& x) {
          T r = acc;
          r.*field = acc.*field + x.*field;
          return r;
        },
        "Keyed Sum");
  }

  /// Rolling minimum of a field; other fields keep the first record's values.
  template <class M, class U = T>
  data_stream<T> min(M U::*field) {
    return reduce(
        [field](const T& acc, const T& x) {
          T r = acc;
          if (x.*field < acc.*field)
            r.*field = x.*field;
          return r;
        },
        "Keyed Min");
  }

  template <class M, class U = T>
  data_stream<T> max(M U::*field) {
    return reduce(
        [field](const T& acc, const T& x) {
          T r = acc;
          if (acc.*field < x.*field)
            r.*field = x.*field;
          return r;
        },
        "Keyed Max");
  }

  /// The record with the smallest field so far (the first one on ties).
  template <class M, class U = T>
  data_stream<T> min_by(M U::*field) {
    return reduce(
        [field](const T& acc, const T& x) {
          return x.*field < acc.*field ? x : acc;
        },
        "Keyed MinBy");
  }

  /// The record with the largest field so far (the first one on ties).
  template <class M, class U = T>
  data_stream<T> max_by(M U::*field) {
    return reduce(
        [field](const T& acc, const T& x) {
          return acc.*field < x.*field ? x : acc;
        },
        "Keyed MaxBy");
  }

  /// A keyed process function; `make` returns
  /// std::unique_ptr<keyed_process_function<K, T, R>>, one per subtask.
  template <class R, class Make>
  data_stream<R> process(Make make, std::string name = "Keyed Process") {
    auto key = key_;
    return add_keyed<R>(std::move(name), [key, make] {
      return std::make_unique<keyed_process_operator<K, T, R>>(key, make());
    });
  }

  using data_stream<T>::connect;

  /// Connects with a broadcast stream: process() with a
  /// keyed_broadcast_process_function, keyed state and timers on this
  /// side (broadcast.hpp).
  template <class B>
  keyed_broadcast_connected_stream<T, B, K>
  connect(broadcast_stream<B> other);

  /// Joins with `other` by key in event time: each element here meets
  /// the elements of `other` within an interval of its timestamp
  /// (between(lower, upper)). Defined in joins.hpp.
  template <class B>
  interval_join_start<T, B, K> interval_join(keyed_stream<B, K> other);

  /// Groups the keyed stream into windows (see window/assigners.hpp).
  /// Defined in windowed_stream.hpp.
  template <class Assigner>
  windowed_stream<T, K, Assigner> window(Assigner assigner);

  /// Adds a keyed operator made by `make` (for operators of other modules).
  template <class R, class Make>
  data_stream<R> add_keyed(std::string name, Make make) {
    auto& t = this->builder_->add(transformation_kind::one_input,
                                  std::move(name), {this->id_});
    t.keyed = true;
    t.input_type = typeid(T);
    t.output_type = typeid(R);
    t.make_operator
        = [make]() -> std::unique_ptr<operator_base> { return make(); };
    t.make_output = plain_output_factory<R>();
    t.make_input = typed_input_factory<T>();
    return data_stream<R>{this->builder_, t.id};
  }

private:
  key_selector<T, K> key_;
};

} // namespace libstream
