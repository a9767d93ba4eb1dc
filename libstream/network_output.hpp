#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/key_group.hpp"
#include "libstream/operator.hpp"
#include "libstream/record.hpp"

namespace libstream {

/// The channels of one outgoing edge of a subtask, implemented by the
/// runtime. Calls are made from the subtask's own thread.
class channel_writer {
public:
  virtual ~channel_writer() = default;
  /// The number of channels (consumer subtasks this producer sends to).
  virtual size_t channels() const = 0;
  /// Sends a batch on one channel, in order with the control events.
  virtual void send_batch(size_t channel, erased_batch_ptr batch) = 0;
  virtual void send_watermark(timestamp wm) = 0;
  virtual void send_idleness(bool idle) = 0;
  virtual void send_end_of_partition() = 0;
  /// Sends checkpoint barrier `id` on every channel, after what was sent.
  /// `dir` is where the checkpoint (or savepoint) `id` is written.
  virtual void send_barrier(uint64_t id, const std::string& dir) = 0;
};

/// How a producer spreads records over the channels of an edge.
enum class partitioning {
  forward,   // to the subtask with the same index (equal parallelism)
  rebalance, // round robin over all consumers
  rescale,   // round robin over a local subset of consumers
  broadcast, // every record to every consumer
  hash,      // by key, into key groups (key_by)
  custom,    // a user function picks the consumer from the key
};

const char* to_string(partitioning p) noexcept;

/// The readable name of a type (demangled), for error messages.
std::string type_name_of(const std::type_info& type);

/// Batches between nodes: a version byte, the record count, then per
/// record its timestamp (zigzag varint) and its value (codec<T>). Key
/// hashes do not travel; the keyed consumer computes them.
inline constexpr uint8_t batch_wire_version = 1;

template <class T>
std::string encode_batch(const erased_batch& batch) {
  if constexpr (has_codec_v<T>) {
    auto& typed = static_cast<const typed_batch<T>&>(batch);
    byte_writer w;
    w.put_u8(batch_wire_version);
    w.put_varint(typed.records.size());
    for (auto& r : typed.records) {
      codec<int64_t>::encode(r.ts, w);
      codec<T>::encode(r.value, w);
    }
    return w.take();
  } else {
    throw std::runtime_error(
        "records of type " + type_name_of(typeid(T))
        + " cannot be sent to another node: it has no codec (define "
          "libstream::codec<T>, see libstream/codec.hpp)");
  }
}

/// Decodes what encode_batch<T> wrote. Throws codec_error for bytes that
/// are truncated, corrupt or of another version.
template <class T>
std::shared_ptr<typed_batch<T>> decode_batch(std::string_view bytes) {
  if constexpr (has_codec_v<T>) {
    byte_reader r{bytes};
    auto version = r.get_u8();
    if (version != batch_wire_version)
      throw codec_error("batch of wire version " + std::to_string(version)
                        + ", expected "
                        + std::to_string(batch_wire_version));
    auto n = r.get_varint();
    if (n > bytes.size()) // every record takes at least one byte
      throw codec_error("batch claims " + std::to_string(n)
                        + " records in " + std::to_string(bytes.size())
                        + " bytes");
    record_batch<T> records;
    records.reserve(static_cast<size_t>(n));
    for (uint64_t i = 0; i < n; ++i) {
      auto ts = codec<int64_t>::decode(r);
      records.push_back(record<T>{codec<T>::decode(r), ts});
    }
    if (!r.at_end())
      throw codec_error("batch has " + std::to_string(r.remaining())
                        + " bytes after its last record");
    return std::make_shared<typed_batch<T>>(std::move(records));
  } else {
    throw std::runtime_error("records of type " + type_name_of(typeid(T))
                             + " cannot be received from another node: it "
                               "has no codec");
  }
}

/// The end of a chain on one outgoing edge: buffers records per channel and
/// sends a batch when it is full, on flush() (buffer timeout) and before any
/// control event, which then goes to every channel.
///
/// Batch sizes follow the subtask's share of the network memory: with
/// `fair_batch` records per batch every channel could hold its open batch
/// and its batches in flight within the share. A channel gets storage only
/// when its first record arrives, and only the channels that have had
/// records divide the share: an edge of 128 channels of which 20 see
/// records (few keys) batches like an edge of 20, up to `max_batch`.
class network_output_base : public operator_base {
public:
  void bind(channel_writer& writer, size_t max_batch, size_t fair_batch) {
    writer_ = &writer;
    max_batch_ = std::max<size_t>(1, max_batch);
    fair_batch_ = std::clamp<size_t>(fair_batch, 1, max_batch_);
    active_ = 0;
    capacity_ = max_batch_;
    on_bind();
  }

  /// The capacity of the batches channels start now.
  size_t batch_capacity() const noexcept { return capacity_; }

  void process_watermark(timestamp wm) override {
    flush();
    writer_->send_watermark(wm);
  }

  void process_idleness(bool idle) override {
    flush();
    writer_->send_idleness(idle);
  }

  void end_input() override {
    flush();
    writer_->send_end_of_partition();
  }

  /// Sends the buffered records, then barrier `id`, on every channel.
  void emit_barrier(uint64_t id, const std::string& dir) {
    flush();
    writer_->send_barrier(id, dir);
  }

  void connect(const std::string&, operator_base&) override {
    throw std::logic_error("a network output is the end of a chain");
  }

  /// The size of one buffered record, to size batches in bytes.
  virtual size_t record_size() const noexcept = 0;

  /// A batch this output sent, encoded for a consumer on another node.
  virtual std::string encode(const erased_batch& batch) const = 0;

  /// Whether the record type has a codec (can go to another node).
  virtual bool encodable() const noexcept = 0;

  /// The record type's readable name.
  virtual std::string record_type() const = 0;

protected:
  virtual void on_bind() = 0;

  /// A channel got its first record: the share is divided among one
  /// more channel from now on (batches already started keep their size).
  void activate_channel() {
    ++active_;
    auto channels = writer_->channels();
    auto fair_total = fair_batch_ * channels; // records over all channels
    capacity_ = std::clamp<size_t>(fair_total / active_, fair_batch_,
                                   max_batch_);
  }

  channel_writer* writer_ = nullptr;
  size_t max_batch_ = default_batch_records;
  size_t fair_batch_ = default_batch_records;
  size_t active_ = 0;   // channels that have had a record since bind
  size_t capacity_ = default_batch_records;
};

/// Picks the channel of a record for hash and custom partitioning.
template <class T>
using channel_selector = std::function<size_t(const T&)>;

namespace detail {

/// Whether a selector also gives the key hash: select(x, hash).
template <class S, class T, class = void>
struct gives_key_hash : std::false_type {};
template <class S, class T>
struct gives_key_hash<S, T,
                      std::void_t<decltype(std::declval<const S&>().select(
                          std::declval<const T&>(),
                          std::declval<uint32_t&>()))>> : std::true_type {};

} // namespace detail

/// Network output for records of type T. Hash and custom partitioning call
/// `Selector` (a concrete functor type, so the per-record call inlines) to
/// pick the consumer of a record; the other kinds are built in.
template <class T, class Selector = channel_selector<T>>
class network_output final : public network_output_base, public record_sink<T> {
public:
  explicit network_output(partitioning kind) : kind_(kind) {
    if (kind == partitioning::hash || kind == partitioning::custom)
      throw std::logic_error("hash and custom partitioning need a selector");
  }

  network_output(partitioning kind, Selector select)
      : kind_(kind), select_(std::move(select)), has_selector_(true) {}

  ~network_output() override {
    if (pool_)
      pool_->unreserve(reserved_);
  }

  void process_batch(record_batch<T>& batch) override {
    auto n = buffers_.size();
    switch (kind_) {
      case partitioning::forward:
        for (auto& r : batch)
          push(0, std::move(r));
        break;
      case partitioning::rebalance:
      case partitioning::rescale:
        for (auto& r : batch) {
          push(next_, std::move(r));
          if (++next_ == n)
            next_ = 0;
        }
        break;
      case partitioning::broadcast:
        for (auto& r : batch)
          for (size_t ch = 0; ch < n; ++ch)
            push_copy(ch, r);
        break;
      case partitioning::hash:
        if constexpr (detail::gives_key_hash<Selector, T>::value) {
          // The key hash travels with the record to the keyed operator.
          for (auto& r : batch) {
            uint32_t h = 0;
            size_t ch = select_.select(r.value, h);
            if (ch >= n)
              throw std::out_of_range("partitioner chose channel "
                                      + std::to_string(ch) + " of "
                                      + std::to_string(n));
            auto& b = buffers_[ch];
            if (!b.started())
              start(ch);
            hashes_[ch].push_back(h);
            if (b.push_swap(r.value, r.ts))
              send(ch);
          }
          break;
        }
        [[fallthrough]];
      case partitioning::custom:
        for (auto& r : batch) {
          size_t ch = select_(r.value);
          if (ch >= n)
            throw std::out_of_range("partitioner chose channel "
                                    + std::to_string(ch) + " of "
                                    + std::to_string(n));
          push(ch, std::move(r));
        }
        break;
    }
  }

  size_t record_size() const noexcept override { return sizeof(record<T>); }

  std::string encode(const erased_batch& batch) const override {
    return encode_batch<T>(batch);
  }

  bool encodable() const noexcept override { return has_codec_v<T>; }

  std::string record_type() const override { return type_name_of(typeid(T)); }

  void flush() override {
    for (size_t ch = 0; ch < buffers_.size(); ++ch)
      if (!buffers_[ch].empty())
        send(ch);
  }

  bool holds_output() const noexcept override {
    for (auto& b : buffers_)
      if (!b.empty())
        return true;
    return false;
  }

protected:
  void on_bind() override {
    if ((kind_ == partitioning::hash || kind_ == partitioning::custom)
        && !has_selector_)
      throw std::logic_error("hash and custom partitioning need a selector");
    buffers_.clear();
    buffers_.resize(writer_->channels()); // storage on the first record
    seen_.assign(buffers_.size(), false);
    hashes_.assign(buffers_.size(), {});
    // Enough for the batches in flight on every channel to come back.
    if (pool_)
      pool_->unreserve(reserved_);
    pool_ = batch_pool<T>::shared();
    reserved_ = 2 * buffers_.size() + 2;
    pool_->reserve(reserved_);
    if (!buffers_.empty())
      next_ = static_cast<size_t>(this->ctx_ ? this->ctx_->subtask_index() : 0)
              % buffers_.size();
  }

private:
  LIBSTREAM_HOT_INLINE void push(size_t ch, record<T>&& r) {
    auto& b = buffers_[ch];
    if (!b.started())
      start(ch);
    if (b.push_swap(r.value, r.ts))
      send(ch);
  }

  void push_copy(size_t ch, const record<T>& r) {
    auto& b = buffers_[ch];
    if (!b.started())
      start(ch);
    if (b.push(r.value, r.ts))
      send(ch);
  }

  /// Gives channel `ch` storage for its next batch.
  void start(size_t ch) {
    if (!seen_[ch]) {
      seen_[ch] = true;
      activate_channel();
    }
    buffers_[ch].start(capacity_, pool_.get());
    if constexpr (detail::gives_key_hash<Selector, T>::value)
      if (kind_ == partitioning::hash)
        hashes_[ch].reserve(capacity_);
  }

  /// Ships a channel's records and starts the channel over.
  void send(size_t ch) {
    // The channel holds no storage until its next record.
    auto batch = std::make_shared<typed_batch<T>>(buffers_[ch].release(),
                                                  pool_);
    if constexpr (detail::gives_key_hash<Selector, T>::value) {
      if (kind_ == partitioning::hash) {
        batch->key_hashes.swap(hashes_[ch]);
        hashes_[ch] = std::vector<uint32_t>{};
      }
    }
    writer_->send_batch(ch, std::move(batch));
  }

  partitioning kind_;
  size_t reserved_ = 0; // batches pool_ keeps for this output
  Selector select_{};
  bool has_selector_ = false;
  std::vector<record_buffer<T>> buffers_;
  std::vector<bool> seen_;                    // channel had a record
  std::vector<std::vector<uint32_t>> hashes_; // per channel, hash edges
  std::shared_ptr<batch_pool<T>> pool_;
  size_t next_ = 0;
};

/// Feeds type-erased batches from the network into the head of a chain.
class erased_input {
public:
  virtual ~erased_input() = default;
  virtual void process(erased_batch& batch) = 0;
  /// A batch from a producer on another node (see encode_batch).
  virtual erased_batch_ptr decode(std::string_view bytes) const = 0;
};

template <class T>
class typed_input final : public erased_input {
public:
  explicit typed_input(record_sink<T>& sink)
      : sink_(&sink), keyed_(dynamic_cast<key_hash_receiver*>(&sink)) {}

  erased_batch_ptr decode(std::string_view bytes) const override {
    return decode_batch<T>(bytes);
  }

  void process(erased_batch& batch) override {
    auto& typed = static_cast<typed_batch<T>&>(batch);
    if (keyed_ != nullptr && !typed.key_hashes.empty()
        && typed.key_hashes.size() == typed.records.size()) {
      keyed_->set_key_hashes(&typed.key_hashes);
      struct reset {
        key_hash_receiver* k;
        ~reset() { k->set_key_hashes(nullptr); }
      } guard{keyed_};
      sink_->process_batch(typed.records);
      return;
    }
    sink_->process_batch(typed.records);
  }

private:
  record_sink<T>* sink_;
  key_hash_receiver* keyed_;
};

} // namespace libstream
