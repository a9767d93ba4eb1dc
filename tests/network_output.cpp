#define CAF_SUITE network_output
#include "caf/test/unit_test.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "libstream/network_output.hpp"

using namespace libstream;

namespace {

/// Records what a network output sends, per channel.
class recording_writer final : public channel_writer {
public:
  explicit recording_writer(size_t channels) : batches(channels) {}

  size_t channels() const override { return batches.size(); }

  void send_batch(size_t channel, erased_batch_ptr batch) override {
    auto& typed = static_cast<typed_batch<int64_t>&>(*batch);
    std::vector<int64_t> xs;
    for (auto& r : typed.records)
      xs.push_back(r.value);
    batches[channel].push_back(std::move(xs));
  }

  void send_watermark(timestamp) override {}
  void send_idleness(bool) override {}
  void send_end_of_partition() override {}
  void send_barrier(uint64_t, const std::string&) override {}

  std::vector<std::vector<std::vector<int64_t>>> batches;
};

/// Sends record v to channel v % modulo.
struct modulo_selector {
  size_t modulo;
  size_t operator()(const int64_t& v) const {
    return static_cast<size_t>(v) % modulo;
  }
};

using output_t = network_output<int64_t, modulo_selector>;

void push_all(output_t& out, int64_t first, int64_t last) {
  record_batch<int64_t> batch;
  for (auto v = first; v < last; ++v)
    batch.push_back(record<int64_t>{v, v});
  out.process_batch(batch);
}

} // namespace

CAF_TEST(channels without records hold no buffer and batches follow the share
         of the channels in use) {
  // 10 channels, a fair share of 4 records per batch each, batches of at
  // most 100: records for 2 channels only get batches of 4 * 10 / 2 = 20.
  recording_writer w{10};
  output_t out{partitioning::custom, modulo_selector{2}};
  out.bind(w, 100, 4);
  CAF_CHECK_EQUAL(out.batch_capacity(), 100u);
  push_all(out, 0, 200);
  CAF_CHECK_EQUAL(out.batch_capacity(), 20u);
  // The first channel's first batch was sized while it was the only
  // channel in use (capped at 40: fair share over 1 channel); every later
  // batch holds 20.
  for (size_t ch = 2; ch < 10; ++ch)
    CAF_CHECK(w.batches[ch].empty());
  size_t sent = 0;
  for (size_t ch = 0; ch < 2; ++ch) {
    CAF_REQUIRE(!w.batches[ch].empty());
    for (size_t i = 1; i < w.batches[ch].size(); ++i)
      CAF_CHECK_EQUAL(w.batches[ch][i].size(), 20u);
    for (auto& b : w.batches[ch])
      sent += b.size();
  }
  out.flush();
  size_t total = 0;
  for (size_t ch = 0; ch < 2; ++ch) {
    int64_t expect = static_cast<int64_t>(ch);
    for (auto& b : w.batches[ch])
      for (auto v : b) {
        CAF_CHECK_EQUAL(v, expect); // every record once, in order
        expect += 2;
        ++total;
      }
  }
  CAF_CHECK_EQUAL(total, 200u);
  CAF_CHECK_EQUAL(sent, 200u); // all in full batches: none left to flush
}

CAF_TEST(with every channel in use batches shrink to the fair share) {
  recording_writer w{10};
  output_t out{partitioning::custom, modulo_selector{10}};
  out.bind(w, 100, 4);
  push_all(out, 0, 1000);
  CAF_CHECK_EQUAL(out.batch_capacity(), 4u);
  out.flush();
  for (size_t ch = 0; ch < 10; ++ch) {
    size_t n = 0;
    for (auto& b : w.batches[ch]) {
      n += b.size();
      CAF_CHECK(b.size() <= 100u);
    }
    CAF_CHECK_EQUAL(n, 100u);
    // After the first round every batch is sized for 10 channels in use.
    auto& last_full = w.batches[ch][w.batches[ch].size() - 2];
    CAF_CHECK_EQUAL(last_full.size(), 4u);
  }
}

CAF_TEST(an unlimited share keeps full batches) {
  recording_writer w{4};
  output_t out{partitioning::custom, modulo_selector{4}};
  out.bind(w, 50, 50);
  push_all(out, 0, 400);
  CAF_CHECK_EQUAL(out.batch_capacity(), 50u);
  for (auto& ch : w.batches) {
    CAF_REQUIRE_EQUAL(ch.size(), 2u);
    CAF_CHECK_EQUAL(ch[0].size(), 50u);
    CAF_CHECK_EQUAL(ch[1].size(), 50u);
  }
  CAF_CHECK(!out.holds_output());
}
