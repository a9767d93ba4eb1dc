#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/connectors/redis.hpp"
#include "libstream/data_stream.hpp"
#include "libstream/environment.hpp"
#include "libstream/operator.hpp"
#include "libstream/sinks/sink.hpp"
#include "libstream/sources/text.hpp"
#include "libstream/time.hpp"

namespace libstream {

/// One entry of a Redis stream: its id and its field/value pairs.
struct redis_stream_entry {
  std::string id;
  std::vector<std::pair<std::string, std::string>> fields;

  /// The value of `name`, or nullptr.
  const std::string* field(const std::string& name) const {
    for (auto& [k, v] : fields)
      if (k == name)
        return &v;
    return nullptr;
  }

  /// The entry as "id field=value ..." (for dead letters and errors).
  std::string describe() const {
    std::string out = id;
    for (auto& [k, v] : fields)
      out += " " + k + "=" + v;
    return out;
  }
};

namespace redis {

/// A stream entry id ("1700000000000-3") as its two numbers; throws
/// std::invalid_argument for anything else.
std::pair<uint64_t, uint64_t> parse_stream_id(const std::string& id);

/// The entries of an XREAD/XRANGE reply (of one stream).
std::vector<redis_stream_entry> stream_entries(const reply& r);

} // namespace redis

/// How a Redis stream is read.
struct redis_stream_options {
  std::string stream;
  /// Entries after this id are read: "0-0" from the beginning.
  std::string start_after = "0-0";
  /// Bounded: the input ends at the last entry the stream held when the
  /// job first started (a restore keeps that end). Unbounded: follow the
  /// stream.
  bool bounded = true;
  /// Entries per XREAD.
  size_t batch = 1000;
  /// At most this many entries a second (0: no cap; for demos and tests).
  double rate = 0;
  redis::options client;
};

/// Reads one Redis stream (XREAD, a round trip per poll; never blocking
/// the subtask's thread longer than a reply takes). The read position, the
/// id of the last entry emitted, is the source's checkpointed state: a
/// restore resumes after it, so with exactly-once checkpoints each entry
/// counts once. One subtask reads (a stream is one log); the others end
/// at once. `decode` turns an entry into a record or says what is wrong
/// with it (nullopt and `error`); a malformed entry goes to `dead_letters`
/// as "id field=value ..." or fails the job naming the stream and the id.
template <class T>
class redis_stream_source final : public source_operator<T> {
public:
  using decoder = std::function<std::optional<T>(const redis_stream_entry&,
                                                 std::string& error)>;

  redis_stream_source(redis::url server, redis_stream_options opts,
                      decoder decode,
                      std::optional<output_tag<text_line>> dead_letters = {})
      : server_(std::move(server)), opts_(std::move(opts)),
        decode_(std::move(decode)), dead_(std::move(dead_letters)) {
    if (opts_.stream.empty())
      throw std::invalid_argument("redis stream source: no stream name");
    if (opts_.batch == 0)
      throw std::invalid_argument("redis stream source: batch must be > 0");
    redis::parse_stream_id(opts_.start_after); // checked here
    where_ = "redis://" + server_.endpoint() + "/" + opts_.stream;
    if (dead_)
      this->out_.side(*dead_); // declared, so it can be connected
  }

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    reader_ = ctx.subtask_index() == 0;
    start_ns_ = monotonic_now_ns();
    if (reader_)
      client_ = std::make_unique<redis::sync_client>(server_.host,
                                                     server_.port,
                                                     opts_.client);
  }

  void close() override { client_.reset(); }

  typename source_operator<T>::poll_result poll() override {
    using poll_result = typename source_operator<T>::poll_result;
    if (cancelled_ || !reader_)
      return poll_result::finished;
    if (!started_)
      start();
    if (opts_.bounded && (end_.empty() || reached_end()))
      return poll_result::finished;
    auto count = opts_.batch;
    if (opts_.rate > 0) {
      auto elapsed = static_cast<double>(monotonic_now_ns() - start_ns_) / 1e9;
      auto allowed = static_cast<uint64_t>(elapsed * opts_.rate) + 1;
      if (emitted_ >= allowed)
        return poll_result::idle;
      count = static_cast<size_t>(
          std::min<uint64_t>(count, allowed - emitted_));
    }
    auto r = client_->command({"XREAD", "COUNT", std::to_string(count),
                               "STREAMS", opts_.stream, last_});
    if (r.is_error())
      throw std::runtime_error(where_ + ": XREAD failed: " + r.str);
    auto entries = redis::stream_entries(r);
    auto& out = this->out_.main();
    for (auto& e : entries) {
      if (opts_.bounded && redis::parse_stream_id(e.id) > end_id_)
        break;
      std::string error;
      auto value = decode_(e, error);
      if (value) {
        out.collect(std::move(*value), no_timestamp);
      } else if (dead_) {
        this->out_.side(*dead_).collect(text_line{where_, 0, e.describe()},
                                        no_timestamp);
      } else {
        throw std::runtime_error(where_ + ": entry " + e.id
                                 + " is malformed: " + error);
      }
      last_ = e.id;
      ++emitted_;
    }
    this->out_.flush();
    if (opts_.bounded)
      return reached_end() || entries.empty() ? poll_result::finished
                                              : poll_result::more;
    return entries.empty() ? poll_result::idle : poll_result::more;
  }

  void cancel() override { cancelled_ = true; }

  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    if (reader_)
      out.source_position = encode_value(std::make_tuple(
          uint8_t{1}, started_, last_, end_));
  }

  void restore_state(const operator_restore& from) override {
    for (int j = 0; j < from.old_parallelism(); ++j) {
      auto pos = from.source_position(j);
      if (pos.empty())
        continue;
      auto [version, started, last, end]
          = decode_value<std::tuple<uint8_t, bool, std::string, std::string>>(
              pos);
      if (version != 1)
        throw codec_error("redis stream position of version "
                          + std::to_string(version));
      if (started) {
        started_ = true;
        last_ = last;
        end_ = end;
        if (!end_.empty())
          end_id_ = redis::parse_stream_id(end_);
      }
    }
  }

  const std::string& last_id() const noexcept { return last_; }

private:
  /// The first poll of a job that did not restore a position: where to
  /// start and, when bounded, where to end.
  void start() {
    started_ = true;
    last_ = opts_.start_after;
    if (!opts_.bounded)
      return;
    auto r = client_->command({"XREVRANGE", opts_.stream, "+", "-", "COUNT",
                               "1"});
    if (r.is_error())
      throw std::runtime_error(where_ + ": XREVRANGE failed: " + r.str);
    auto last = redis::stream_entries(r);
    if (!last.empty()) {
      end_ = last.front().id;
      end_id_ = redis::parse_stream_id(end_);
    }
  }

  bool reached_end() const {
    return redis::parse_stream_id(last_) >= end_id_;
  }

  redis::url server_;
  redis_stream_options opts_;
  decoder decode_;
  std::optional<output_tag<text_line>> dead_;
  std::string where_;
  std::unique_ptr<redis::sync_client> client_;
  bool reader_ = false;
  bool cancelled_ = false;
  bool started_ = false;
  std::string last_;
  std::string end_; // bounded: the last entry when the job first started
  std::pair<uint64_t, uint64_t> end_id_{0, 0};
  int64_t start_ns_ = 0;
  uint64_t emitted_ = 0; // since this run started (for the rate)
};

/// A Redis stream as a source (parallelism 1, see redis_stream_source).
template <class T>
data_stream<T>
read_redis_stream(stream_execution_environment& env, redis::url server,
                  redis_stream_options opts,
                  typename redis_stream_source<T>::decoder decode,
                  std::optional<output_tag<text_line>> dead_letters = {},
                  std::string name = "Redis Stream Source") {
  // Bad options fail here, before anything runs.
  redis_stream_source<T> check{server, opts, decode, dead_letters};
  auto s = env.add_source<T>(std::move(name), [server, opts, decode,
                                               dead_letters] {
    return std::make_unique<redis_stream_source<T>>(server, opts, decode,
                                                    dead_letters);
  });
  env.builder()->node(s.id()).non_parallel = true;
  s.set_parallelism(1);
  // Every poll waits for the server's answer (a synchronous client).
  s.blocking();
  return s;
}

/// Appends records to a Redis stream (XADD with ids the server assigns),
/// each batch pipelined in one round trip before the next is taken: at a
/// checkpoint barrier everything before it is written, so the sink is
/// at-least-once (a restore writes again what came after the checkpoint).
/// A connection that fails is retried (redis::options); then the job
/// fails naming the server.
template <class T>
class redis_stream_sink final : public sink_base<T> {
public:
  using encoder
      = std::function<std::vector<std::pair<std::string, std::string>>(
          const T&)>;

  redis_stream_sink(redis::url server, std::string stream, encoder encode,
                    redis::options opts = {})
      : server_(std::move(server)), stream_(std::move(stream)),
        encode_(std::move(encode)), opts_(opts) {}

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    client_ = std::make_unique<redis::sync_client>(server_.host, server_.port,
                                                   opts_);
  }

  void process_batch(record_batch<T>& batch) override {
    std::vector<std::vector<std::string>> cmds;
    cmds.reserve(batch.size());
    for (auto& r : batch) {
      std::vector<std::string> cmd{"XADD", stream_, "*"};
      for (auto& [k, v] : encode_(r.value)) {
        cmd.push_back(k);
        cmd.push_back(v);
      }
      cmds.push_back(std::move(cmd));
    }
    for (auto& reply : client_->pipeline(cmds))
      if (reply.is_error())
        throw std::runtime_error("redis://" + server_.endpoint() + "/"
                                 + stream_ + ": XADD failed: " + reply.str);
  }

  void end_input() override {}
  void close() override { client_.reset(); }

private:
  redis::url server_;
  std::string stream_;
  encoder encode_;
  redis::options opts_;
  std::unique_ptr<redis::sync_client> client_;
};

template <class T>
data_stream_sink<T> write_redis_stream(
    data_stream<T> stream, redis::url server, std::string name_of_stream,
    typename redis_stream_sink<T>::encoder encode, redis::options opts = {},
    std::string name = "Redis Stream Sink") {
  auto& b = *stream.builder();
  auto& t = b.add(transformation_kind::sink, std::move(name), {stream.id()});
  t.input_type = typeid(T);
  t.blocking = true; // a synchronous client: XADD waits for the server
  t.make_operator = [server, name_of_stream, encode,
                     opts]() -> std::unique_ptr<operator_base> {
    return std::make_unique<redis_stream_sink<T>>(server, name_of_stream,
                                                  encode, opts);
  };
  t.make_input = typed_input_factory<T>();
  return data_stream_sink<T>{stream.builder(), t.id};
}

} // namespace libstream
