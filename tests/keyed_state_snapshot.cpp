#define CAF_SUITE keyed_state_snapshot
#include "caf/test/unit_test.hpp"

// Keyed state snapshotted per key group and restored into another
// parallelism: the state every key had goes on where its key group goes.

#include <cstdint>
#include <algorithm>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/operators/keyed.hpp"
#include "libstream/testing/harness.hpp"
#include "libstream/window/window_operator.hpp"
#include "child_process.hpp"
#include "test_util.hpp"

using namespace libstream;
using namespace libstream::testing;

namespace {

/// Per key: a count (value state), the values seen (list state), how often
/// each value was seen (map state) and a TTL'd last value. Emits
/// "key:count:list size:map entries".
struct counter final : keyed_process_function<std::string, int64_t,
                                              std::string> {
  value_state<int64_t> count;
  list_state<int64_t> seen;
  map_state<int64_t, int64_t> freq;
  value_state<int64_t> last;

  void open(keyed_state_store<std::string>& st, const runtime_info&) override {
    count = st.get_state<int64_t>("count");
    seen = st.get_list_state<int64_t>("seen");
    freq = st.get_map_state<int64_t, int64_t>("freq");
    last = st.get_state<int64_t>("last", state_ttl::of(1000000));
  }

  void process_element(const int64_t& x, context& ctx,
                       collector<std::string>& out) override {
    auto n = count.value_or(0) + 1;
    count.update(n);
    seen.add(x);
    freq.put(x, freq.get(x).value_or(0) + 1);
    last.update(x);
    out.collect(ctx.current_key() + ":" + std::to_string(n) + ":"
                + std::to_string(seen.get().size()) + ":"
                + std::to_string(freq.entries().size()));
  }
};

using op_type = keyed_process_operator<std::string, int64_t, std::string>;
using harness = one_input_harness<int64_t, std::string>;

std::string key_of(int64_t x) {
  return "k" + std::to_string(x % 37);
}

/// LevelDB databases of the harnesses go below this directory.
test::temp_dir& state_root() {
  static test::temp_dir dir{"libstream-kss"};
  return dir;
}

/// A fresh directory per harness on LevelDB (several live at once).
std::string next_state_dir() {
  static int n = 0;
  return state_root().file("h" + std::to_string(n++));
}

std::unique_ptr<harness> make(int index, int parallelism,
                              state_backend_kind kind
                              = state_backend_kind::memory) {
  auto op = std::make_unique<op_type>(key_of, std::make_unique<counter>());
  auto h = std::make_unique<harness>(std::move(op), index, parallelism);
  if (kind == state_backend_kind::leveldb)
    h->use_leveldb(next_state_dir());
  h->open();
  return h;
}

constexpr state_backend_kind both_backends[] = {state_backend_kind::memory,
                                                state_backend_kind::leveldb};

keyed_state_backend& backend_of(harness& h) {
  return dynamic_cast<op_type&>(h.op()).backend();
}

/// A snapshot of one subtask: its range, bytes and per-group offsets.
struct snapshot {
  key_group_range range;
  std::string bytes;
  std::vector<uint64_t> offsets;
};

/// Takes the snapshot as a checkpoint does: the synchronous part now, the
/// bytes later (on LevelDB, read from the database snapshot).
snapshot take(harness& h) {
  snapshot s;
  auto& b = backend_of(h);
  s.range = b.range();
  auto deferred = b.snapshot_deferred();
  s.bytes = deferred(s.offsets);
  return s;
}

/// Restores into `h` every key group it owns from whichever snapshot has
/// it (as a restore with another parallelism does).
void restore(harness& h, const std::vector<snapshot>& snaps) {
  auto& b = backend_of(h);
  for (int g = b.range().first; g < b.range().last; ++g)
    for (auto& s : snaps)
      if (s.range.contains(g)) {
        auto i = static_cast<size_t>(g - s.range.first);
        b.restore_key_group(
            g, std::string_view{s.bytes}.substr(
                   s.offsets[i], s.offsets[i + 1] - s.offsets[i]));
      }
}

/// Feeds x to the harness that owns its key; returns what it emitted.
std::string feed(std::vector<std::unique_ptr<harness>>& hs, int64_t x) {
  auto kg = key_group_of(key_of(x), default_max_parallelism);
  auto p = static_cast<int>(hs.size());
  auto& h = *hs[static_cast<size_t>(
      subtask_of_key_group(kg, p, default_max_parallelism))];
  h.process_element(x, 0);
  auto out = h.take_output();
  return out.empty() ? "" : out.back();
}

} // namespace

CAF_TEST(keyed state moves with its key groups to another parallelism) {
  // Snapshots of either backend restore into either: one format.
  for (auto from : both_backends)
    for (auto to : both_backends) {
      CAF_MESSAGE("from " << to_string(from) << " to " << to_string(to));
      // The reference: one subtask all along.
      std::vector<std::unique_ptr<harness>> ref;
      ref.push_back(make(0, 1));
      // Parallelism 2 for the first part of the input, then a snapshot.
      std::vector<std::unique_ptr<harness>> two;
      two.push_back(make(0, 2, from));
      two.push_back(make(1, 2, from));
      for (int64_t x = 0; x < 500; ++x)
        CAF_REQUIRE_EQUAL(feed(two, x), feed(ref, x));
      std::vector<snapshot> snaps;
      for (auto& h : two)
        snaps.push_back(take(*h));
      // State changed after the snapshot is not in it.
      for (int64_t x = 0; x < 100; ++x)
        feed(two, x);
      std::vector<std::string> expected;
      for (int64_t x = 500; x < 800; ++x)
        expected.push_back(feed(ref, x));
      CAF_REQUIRE(expected.back() != "");
      // Resume at 1, 2, 3 and 4: every output as without the interruption.
      for (int p : {1, 2, 3, 4}) {
        CAF_MESSAGE("restore at parallelism " << p);
        std::vector<std::unique_ptr<harness>> next;
        for (int i = 0; i < p; ++i) {
          next.push_back(make(i, p, to));
          restore(*next.back(), snaps);
        }
        size_t mismatches = 0;
        for (int64_t x = 500; x < 800; ++x)
          if (feed(next, x) != expected[static_cast<size_t>(x - 500)])
            ++mismatches;
        CAF_CHECK_EQUAL(mismatches, 0u);
      }
    }
}

CAF_TEST(leveldb state survives cache flushes and erases) {
  // More keys than the write-back cache holds, updated and cleared, read
  // back through the database.
  auto h = make(0, 1, state_backend_kind::leveldb);
  auto& b = backend_of(*h);
  auto& t = b.table<int64_t, int64_t>("plain");
  auto kg = [](int64_t k) { return key_group_of(k, default_max_parallelism); };
  const int64_t n = 3 * static_cast<int64_t>(b.cache_limit());
  for (int64_t k = 0; k < n; ++k) {
    t.put(k, kg(k), k * 10);
    b.maybe_flush();
  }
  for (int64_t k = 0; k < n; k += 2) {
    CAF_REQUIRE(t.find(k, kg(k)) != nullptr);
    *t.find(k, kg(k)) += 1; // in place, as operators do
    b.maybe_flush();
  }
  for (int64_t k = 0; k < n; k += 3) {
    t.erase(k, kg(k));
    b.maybe_flush();
  }
  b.flush();
  CAF_CHECK_EQUAL(t.cached(), 0u);
  size_t wrong = 0;
  for (int64_t k = 0; k < n; ++k) {
    auto* v = t.find(k, kg(k));
    if (k % 3 == 0)
      wrong += v != nullptr;
    else
      wrong += v == nullptr || *v != k * 10 + (k % 2 == 0 ? 1 : 0);
  }
  CAF_CHECK_EQUAL(wrong, 0u);
  int64_t expected_size = n - (n + 2) / 3;
  CAF_CHECK_EQUAL(t.size(), static_cast<size_t>(expected_size));
  // Erase then re-create before a flush: the new value wins.
  t.erase(1, kg(1));
  t.put(1, kg(1), 77);
  b.flush();
  CAF_REQUIRE(t.find(1, kg(1)) != nullptr);
  CAF_CHECK_EQUAL(*t.find(1, kg(1)), 77);
  // for_each sees every stored entry of a group and keeps changes.
  size_t seen = 0;
  t.for_each([&seen](const int64_t&, int64_t& v) {
    ++seen;
    v = -1;
  });
  CAF_CHECK_EQUAL(seen, static_cast<size_t>(expected_size));
  CAF_CHECK_EQUAL(*t.find(2, kg(2)), -1);
  // clear_key_group drops the group from the database.
  auto g = kg(2);
  t.clear_key_group(g);
  CAF_CHECK(t.find(2, kg(2)) == nullptr);
  // The database lives in its own directory, removed with the operator.
  auto path = b.store()->path();
  CAF_CHECK(::access(path.c_str(), F_OK) == 0);
  h.reset();
  CAF_CHECK(::access(path.c_str(), F_OK) != 0);
}

CAF_TEST(leveldb state needs codecs and says so) {
  struct opaque {
    int x = 0;
  };
  auto h = make(0, 1, state_backend_kind::leveldb);
  CAF_CHECK(test::throws<std::logic_error>(
      [&] { backend_of(*h).table<std::string, opaque>("opaque"); },
      "LevelDB state backend needs"));
}

CAF_TEST(a snapshot of snapshots is stable and state types without codecs
           say so) {
  auto h = make(0, 1);
  for (int64_t x = 0; x < 100; ++x)
    h->process_element(x, 0);
  auto s1 = take(*h);
  auto h2 = make(0, 1);
  restore(*h2, {s1});
  auto s2 = take(*h2);
  CAF_CHECK_EQUAL(s1.offsets, s2.offsets);
  CAF_CHECK_EQUAL(s1.bytes.size(), s2.bytes.size());
  // Unknown types cannot be snapshotted: a clear error, not garbage.
  struct opaque {
    int x = 0;
  };
  keyed_state_backend b{{0, 128}, 128};
  b.table<std::string, opaque>("opaque").put("a", key_group_of(std::string{"a"}, 128), opaque{});
  std::vector<uint64_t> offsets;
  CAF_CHECK(test::throws<std::logic_error>([&] { b.snapshot(offsets); },
                                           "libstream::codec"));
}

CAF_TEST(corrupt key group sections are codec errors) {
  auto h = make(0, 1);
  for (int64_t x = 0; x < 50; ++x)
    h->process_element(x, 0);
  auto s = take(*h);
  // Take the largest group (a group without keys still names its tables)
  // and damage it in a few ways.
  size_t best = 0;
  for (size_t i = 0; i + 1 < s.offsets.size(); ++i)
    if (s.offsets[i + 1] - s.offsets[i]
        > s.offsets[best + 1] - s.offsets[best])
      best = i;
  auto section = s.bytes.substr(s.offsets[best],
                                s.offsets[best + 1] - s.offsets[best]);
  auto g = s.range.first + static_cast<int>(best);
  auto fresh = make(0, 1);
  CAF_CHECK(test::throws<codec_error>([&] {
    backend_of(*fresh).restore_key_group(g, section.substr(0, section.size()
                                                                  - 1));
  }));
  fresh = make(0, 1);
  CAF_CHECK(test::throws<codec_error>(
      [&] { backend_of(*fresh).restore_key_group(g, section + "x"); },
      "left over"));
  // The section of another group: its keys do not belong there.
  fresh = make(0, 1);
  CAF_CHECK(test::throws<codec_error>(
      [&] { backend_of(*fresh).restore_key_group(g == 0 ? 1 : 0, section); },
      "is stored under key group"));
}

// -- windows and timers -------------------------------------------------------

namespace {

struct reading {
  int64_t key = 0;
  int64_t value = 0;
};

using window_harness = one_input_harness<reading, std::string>;

/// Emits "key@[start, end)=sum" per window.
struct describe final
    : process_window_function<int64_t, int64_t, std::string, time_window> {
  void process(const int64_t& key, const context& ctx,
               const std::vector<int64_t>& sums,
               collector<std::string>& out) override {
    out.collect(std::to_string(key) + "@" + to_string(ctx.window()) + "="
                + std::to_string(sums.front()));
  }
};

struct sum_values : aggregate_function<reading, int64_t, int64_t> {
  int64_t create_accumulator() const { return 0; }
  void add(const reading& r, int64_t& acc) const { acc += r.value; }
  int64_t get_result(const int64_t& acc) const { return acc; }
  void merge(int64_t& into, const int64_t& from) const { into += from; }
};

template <class Assigner>
std::unique_ptr<window_harness>
make_window(Assigner a, int index, int p,
            state_backend_kind kind = state_backend_kind::memory) {
  key_selector<reading, int64_t> key = [](const reading& r) { return r.key; };
  auto op = make_aggregate_process_window_operator<int64_t, reading,
                                                   std::string>(
      key, a, window_options<time_window, reading>{}, sum_values{},
      std::make_unique<describe>());
  auto h = std::make_unique<window_harness>(std::move(op), index, p);
  if (kind == state_backend_kind::leveldb)
    h->use_leveldb(next_state_dir());
  h->open();
  return h;
}

snapshot take_window(window_harness& h) {
  auto* keyed = dynamic_cast<keyed_operator<int64_t, reading, std::string>*>(
      &h.op());
  snapshot s;
  s.range = keyed->backend().range();
  s.bytes = keyed->backend().snapshot_deferred()(s.offsets);
  return s;
}

void restore_window(window_harness& h, const std::vector<snapshot>& snaps) {
  auto& b = dynamic_cast<keyed_operator<int64_t, reading, std::string>*>(
                &h.op())
                ->backend();
  for (int g = b.range().first; g < b.range().last; ++g)
    for (auto& s : snaps)
      if (s.range.contains(g)) {
        auto i = static_cast<size_t>(g - s.range.first);
        b.restore_key_group(
            g, std::string_view{s.bytes}.substr(
                   s.offsets[i], s.offsets[i + 1] - s.offsets[i]));
      }
}

/// Runs readings 0..n through `hs` (routed by key group) with a watermark
/// every 10 readings, then the final watermark; returns the sorted output.
std::vector<std::string>
run_windows(std::vector<std::unique_ptr<window_harness>>& hs, int64_t from,
            int64_t to, bool finish) {
  auto p = static_cast<int>(hs.size());
  for (int64_t i = from; i < to; ++i) {
    reading r{i % 13, i};
    auto kg = key_group_of(r.key, default_max_parallelism);
    hs[static_cast<size_t>(subtask_of_key_group(kg, p,
                                                default_max_parallelism))]
        ->process_element(r, i * 7);
    if (i % 10 == 9)
      for (auto& h : hs)
        h->process_watermark(i * 7 - 20);
  }
  if (finish)
    for (auto& h : hs)
      h->process_watermark(max_watermark);
  std::vector<std::string> out;
  for (auto& h : hs)
    for (auto& x : h->take_output())
      out.push_back(x);
  std::sort(out.begin(), out.end());
  return out;
}

} // namespace

// Window contents and their timers are keyed state: open windows cut by a
// snapshot fire after the restore, at any parallelism, with the contents
// from before.
CAF_TEST(open windows and their timers survive a rescale) {
  for (auto kind : both_backends)
  for (bool sessions : {false, true}) {
    CAF_MESSAGE((sessions ? "session windows" : "tumbling windows")
                << " on " << to_string(kind));
    auto make_one = [&](int i, int p) {
      return sessions ? make_window(event_time_session_windows::with_gap(30),
                                    i, p, kind)
                      : make_window(tumbling_event_time_windows::of(100), i,
                                    p, kind);
    };
    std::vector<std::unique_ptr<window_harness>> ref;
    ref.push_back(make_one(0, 1));
    auto expected = run_windows(ref, 0, 400, true);
    CAF_REQUIRE(expected.size() > 20);
    for (int p_after : {1, 3}) {
      std::vector<std::unique_ptr<window_harness>> two;
      two.push_back(make_one(0, 2));
      two.push_back(make_one(1, 2));
      auto before = run_windows(two, 0, 250, false);
      std::vector<snapshot> snaps;
      for (auto& h : two)
        snaps.push_back(take_window(*h));
      std::vector<std::unique_ptr<window_harness>> next;
      for (int i = 0; i < p_after; ++i) {
        next.push_back(make_one(i, p_after));
        // Watermarks are not state (as in Flink): the restored subtask
        // starts without one until the input brings the next.
        restore_window(*next.back(), snaps);
      }
      auto after = run_windows(next, 250, 400, true);
      before.insert(before.end(), after.begin(), after.end());
      std::sort(before.begin(), before.end());
      CAF_CHECK_EQUAL(before, expected);
    }
  }
}

namespace {

/// A processing-time timer 100 ms after each element; the timer emits the
/// key and the time.
struct later final : keyed_process_function<std::string, int64_t,
                                            std::string> {
  void process_element(const int64_t&, context& ctx,
                       collector<std::string>&) override {
    auto& ts = ctx.timer_service();
    ts.register_processing_time_timer(ts.current_processing_time() + 100);
  }
  void on_timer(timestamp t, time_domain, context& ctx,
                collector<std::string>& out) override {
    out.collect(ctx.current_key() + "@" + std::to_string(t));
  }
};

} // namespace

CAF_TEST(processing time timers survive a restore) {
  auto make_later = [](int i, int p) {
    auto op = std::make_unique<op_type>(key_of, std::make_unique<later>());
    auto h = std::make_unique<harness>(std::move(op), i, p);
    h->open();
    return h;
  };
  std::vector<std::unique_ptr<harness>> two;
  two.push_back(make_later(0, 2));
  two.push_back(make_later(1, 2));
  for (auto& h : two)
    h->set_processing_time(1000);
  for (int64_t x = 0; x < 40; ++x)
    feed(two, x);
  std::vector<snapshot> snaps;
  for (auto& h : two)
    snaps.push_back(take(*h));
  auto one = make_later(0, 1);
  one->set_processing_time(1050);
  restore(*one, snaps);
  CAF_CHECK(one->take_output().empty());
  one->set_processing_time(1100);
  auto fired = one->take_output();
  CAF_CHECK_EQUAL(fired.size(), 37u); // one timer per key, 37 keys
  for (auto& f : fired)
    CAF_CHECK(test::contains(f, "@1100"));
}
