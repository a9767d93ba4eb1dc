#define CAF_SUITE operator_state
#include "caf/test/unit_test.hpp"

// Non-keyed operator state: list state split evenly or unioned, and
// broadcast state, snapshotted per subtask and handed out on restore at
// another parallelism as Flink's operator state is.

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "libstream/operators/basic.hpp"
#include "libstream/state/operator_state.hpp"
#include "libstream/testing/harness.hpp"
#include "test_util.hpp"

using namespace libstream;

namespace {

/// Old subtask j holds elements j*10 .. j*10 + n_j - 1 in every mode.
std::vector<std::string> old_snapshots(int old_p) {
  std::vector<std::string> out;
  for (int j = 0; j < old_p; ++j) {
    operator_state_store s;
    auto& even = s.get_list_state<int64_t>("even");
    auto& uni = s.get_union_list_state<int64_t>("union");
    auto& bc = s.get_broadcast_state<std::string, int64_t>("rules");
    for (int64_t k = 0; k < j + 2; ++k) {
      even.add(j * 10 + k);
      uni.add(j * 10 + k);
    }
    bc.put("limit", 7);
    bc.put("from", j); // differs per subtask: which copy each one gets
    out.push_back(s.snapshot());
  }
  return out;
}

} // namespace

CAF_TEST(list state is split evenly and union state goes everywhere) {
  auto snaps = old_snapshots(3); // 2 + 3 + 4 = 9 elements
  std::vector<int64_t> all = {0, 1, 10, 11, 12, 20, 21, 22, 23};
  for (int p : {1, 2, 3, 4, 12}) {
    CAF_MESSAGE("restore at parallelism " << p);
    std::vector<int64_t> seen;
    for (int i = 0; i < p; ++i) {
      operator_state_store s;
      s.restore(snaps, i, p);
      CAF_CHECK(s.is_restored());
      auto& even = s.get_list_state<int64_t>("even").get();
      if (p == 3) {
        // The same parallelism: each subtask keeps its own list.
        CAF_CHECK_EQUAL(even.size(), static_cast<size_t>(i + 2));
      } else {
        // Contiguous pieces that differ in size by at most one.
        CAF_CHECK_LESS_OR_EQUAL(even.size(), (all.size() + p - 1) / p);
        CAF_CHECK_GREATER_OR_EQUAL(even.size(), all.size() / p);
      }
      seen.insert(seen.end(), even.begin(), even.end());
      CAF_CHECK_EQUAL(s.get_union_list_state<int64_t>("union").get(), all);
      auto& bc = s.get_broadcast_state<std::string, int64_t>("rules");
      CAF_CHECK_EQUAL(bc.get("limit"), std::optional<int64_t>{7});
      CAF_CHECK_EQUAL(bc.get("from"), std::optional<int64_t>{i % 3});
    }
    CAF_CHECK_EQUAL(seen, all); // every element once, in order
  }
}

CAF_TEST(state registered after the restore is decoded then) {
  auto snaps = old_snapshots(2);
  operator_state_store s;
  s.restore(snaps, 0, 1);
  CAF_CHECK_EQUAL(s.unclaimed_state().size(), 3u);
  // A store with nothing in it writes nothing (stateless operators are
  // not in checkpoints).
  CAF_CHECK_EQUAL(operator_state_store{}.snapshot(), "");
  CAF_CHECK_EQUAL(s.get_list_state<int64_t>("even").get().size(), 5u);
  CAF_CHECK_EQUAL(s.unclaimed_state().size(), 2u);
  // Unclaimed state stays in the next snapshot.
  operator_state_store again;
  again.restore({s.snapshot()}, 0, 1);
  CAF_CHECK_EQUAL(again.get_union_list_state<int64_t>("union").get().size(),
                  5u);
  // Another mode or type for a restored name is an error.
  operator_state_store wrong;
  wrong.restore(snaps, 0, 1);
  CAF_CHECK(test::throws<std::logic_error>(
      [&] { wrong.get_union_list_state<int64_t>("even"); },
      "another redistribution mode"));
  CAF_CHECK(test::throws<std::logic_error>(
      [&] { s.get_union_list_state<int64_t>("even"); }, "another type"));
}

CAF_TEST(corrupt operator state is a codec error) {
  auto snaps = old_snapshots(1);
  operator_state_store s;
  CAF_CHECK(test::throws<codec_error>(
      [&] { s.restore({snaps[0].substr(0, snaps[0].size() - 3)}, 0, 1); }));
  operator_state_store t;
  CAF_CHECK(test::throws<codec_error>(
      [&] { t.restore({snaps[0] + "zz"}, 0, 1); }, "left over"));
}

namespace {

/// Remembers every element in list state; emits the count at the end.
struct remember final : process_function<int64_t, int64_t> {
  operator_list_state<int64_t>* seen = nullptr;
  std::vector<int64_t> xs;
  bool restored = false;
  void initialize_state(operator_state_store& store) override {
    seen = &store.get_list_state<int64_t>("seen");
    xs = seen->get();
    restored = store.is_restored();
  }
  void process_element(const int64_t& x, context&,
                       collector<int64_t>&) override {
    xs.push_back(x);
  }
  void snapshot_state(uint64_t) override { seen->update(xs); }
  void end_input(collector<int64_t>& out) override {
    out.collect(static_cast<int64_t>(xs.size()));
  }
};

} // namespace

CAF_TEST(process functions keep list state across a rescale) {
  using harness = testing::one_input_harness<int64_t, int64_t>;
  auto make = [](int i, int p) {
    auto h = std::make_unique<harness>(
        std::make_unique<process_operator<int64_t, int64_t>>(
            std::make_unique<remember>()),
        i, p);
    h->open();
    return h;
  };
  std::vector<std::string> snaps;
  for (int i = 0; i < 2; ++i) {
    auto h = make(i, 2);
    for (int64_t x = 0; x < 5 + i; ++x)
      h->process_element(x, 0);
    operator_state_snapshot snap;
    h->op().snapshot_state(1, snap);
    snaps.push_back(snap.operator_state);
  }
  // At parallelism 3, the 11 elements are spread and none is lost.
  int64_t total = 0;
  for (int i = 0; i < 3; ++i) {
    auto h = make(i, 3);
    struct restore_from final : operator_restore {
      std::vector<std::string>* s;
      int old_parallelism() const override { return 2; }
      std::string key_group_section(int) const override { return {}; }
      std::string source_position(int) const override { return {}; }
      std::string operator_state(int j) const override {
        return (*s)[static_cast<size_t>(j)];
      }
    } from;
    from.s = &snaps;
    h->op().restore_state(from);
    h->end_input();
    auto out = h->take_output();
    CAF_REQUIRE_EQUAL(out.size(), 1u);
    total += out[0];
  }
  CAF_CHECK_EQUAL(total, 11);
}
