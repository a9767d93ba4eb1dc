#define CAF_SUITE checkpoints_e2e
#include "caf/test/unit_test.hpp"

// Checkpoints of running jobs on the embedded mini-cluster: barriers flow
// from the sources, subtasks align and snapshot, the coordinator writes the
// metadata. The state in a completed checkpoint is consistent: the keyed
// counts add up to exactly the records the sources had emitted at their
// barriers (a Chandy-Lamport snapshot), in exactly-once mode.

#include <cstdint>
#include <algorithm>
#include <chrono>
#include <thread>
#include <atomic>
#include <stdexcept>
#include <map>
#include <set>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "child_process.hpp"
#include "failing_counter.hpp"
#include "libstream/checkpoint/storage.hpp"
#include "libstream/codec.hpp"
#include "libstream/libstream.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

/// Counts records per key in value state.
struct counter final : keyed_process_function<int64_t, int64_t, int64_t> {
  value_state<int64_t> count;

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    count = st.get_state<int64_t>("count");
  }

  void process_element(const int64_t&, context&,
                       collector<int64_t>& out) override {
    auto n = count.value_or(0) + 1;
    count.update(n);
    out.collect(n);
  }
};

/// The sum of the "count" entries in one subtask's keyed state.
int64_t sum_counts(const std::string& dir, const subtask_snapshot& s) {
  auto bytes = read_data_file(dir, s.keyed_file);
  int64_t total = 0;
  for (size_t g = 0; g + 1 < s.key_group_offsets.size(); ++g) {
    byte_reader r{std::string_view{bytes}.substr(
        s.key_group_offsets[g],
        s.key_group_offsets[g + 1] - s.key_group_offsets[g])};
    auto tables = r.get_varint();
    for (uint64_t t = 0; t < tables; ++t) {
      auto name = std::string{r.get_bytes()};
      auto blob = r.get_bytes();
      if (name != "count")
        continue;
      byte_reader e{blob};
      auto n = e.get_varint();
      for (uint64_t k = 0; k < n; ++k) {
        codec<int64_t>::decode(e); // key
        total += codec<int64_t>::decode(e);
      }
    }
  }
  return total;
}

} // namespace

CAF_TEST(a running job takes consistent checkpoints) {
  for (auto mode :
       {checkpointing_mode::exactly_once, checkpointing_mode::at_least_once}) {
    CAF_MESSAGE((mode == checkpointing_mode::exactly_once ? "exactly once"
                                                          : "at least once"));
    temp_dir dir{"checkpoints_e2e"};
    stream_execution_environment env;
    env.set_parallelism(2);
    auto& cp = env.config().checkpointing;
    cp.interval = 50;
    cp.dir = dir.path();
    cp.mode = mode;
    auto out = std::make_shared<collected<int64_t>>();
    env.from_generator(30000,
                       [](uint64_t i) { return static_cast<int64_t>(i); },
                       40000)
        .uid("numbers")
        .key_by([](int64_t x) { return x % 10; })
        .process<int64_t>([] { return std::make_unique<counter>(); },
                          "Count")
        .uid("count")
        .collect_into(out);
    env.execute("checkpointed");
    CAF_CHECK_EQUAL(out->size(), 30000u);
    // Checkpoints were taken; at most the retained three are left.
    auto rp = find_restore_point(dir.path());
    CAF_CHECK(rp.skipped.empty());
    auto job_dir = rp.chosen.dir.substr(0, rp.chosen.dir.rfind('/'));
    auto complete = complete_checkpoints(job_dir);
    CAF_MESSAGE(complete.size() << " checkpoints kept, newest "
                                << rp.chosen.dir);
    CAF_CHECK(!complete.empty() && complete.size() <= 3);
    size_t compared = 0;
    for (auto& chk : complete) {
      auto meta = read_metadata(chk);
      verify_data_files(chk, meta);
      auto* source = meta.find("numbers");
      auto* count = meta.find("count");
      CAF_REQUIRE(source != nullptr);
      CAF_REQUIRE(count != nullptr);
      CAF_REQUIRE_EQUAL(source->subtasks.size(), 2u);
      CAF_REQUIRE_EQUAL(count->subtasks.size(), 2u);
      // A checkpoint taken as the job ended can hold counting subtasks
      // that had finished: their keyed state is not in it (as in Flink's
      // checkpoints after tasks finished), so there is nothing to compare.
      bool count_finished = false;
      for (auto& s : count->subtasks)
        count_finished = count_finished || s.finished;
      if (count_finished) {
        CAF_MESSAGE(chk << ": taken after counting subtasks finished");
        continue;
      }
      uint64_t emitted = 0;
      for (auto& s : source->subtasks)
        emitted += generator_emitted(s.source_position);
      int64_t counted = 0;
      for (auto& s : count->subtasks)
        counted += sum_counts(chk, s);
      CAF_MESSAGE(chk << ": " << emitted << " emitted, " << counted
                      << " counted");
      // Exactly once: the records before the barriers, no more, no less.
      // At least once: records after a barrier on a faster channel may be
      // in the state too, never fewer.
      if (mode == checkpointing_mode::exactly_once)
        CAF_CHECK_EQUAL(static_cast<uint64_t>(counted), emitted);
      else
        CAF_CHECK_GREATER_OR_EQUAL(static_cast<uint64_t>(counted), emitted);
      CAF_CHECK_GREATER(emitted, 0u);
      ++compared;
    }
    CAF_CHECK_GREATER(compared, 0u);
  }
}

namespace {

/// Runs the counting job over `n` numbers (10 keys) with checkpoints into
/// `dir`, optionally restored from `from`; returns its outputs.
std::vector<int64_t> run_counting(const std::string& dir, uint64_t n,
                                  const std::string& from = "",
                                  const std::string& count_uid = "count",
                                  int count_parallelism = 2,
                                  int source_parallelism = 2,
                                  int retained = 3) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto& cp = env.config().checkpointing;
  cp.retained = retained;
  cp.interval = 50;
  cp.dir = dir;
  cp.restore_from = from;
  auto out = std::make_shared<collected<int64_t>>();
  env.from_generator(n, [](uint64_t i) { return static_cast<int64_t>(i); },
                     40000)
      .uid("numbers")
      .set_parallelism(source_parallelism)
      .key_by([](int64_t x) { return x % 10; })
      .process<int64_t>([] { return std::make_unique<counter>(); }, "Count")
      .uid(count_uid)
      .set_parallelism(count_parallelism)
      .map([](int64_t c) { return c; }, "Out")
      .uid("out")
      .collect_into(out);
  env.execute("counting");
  return out->values();
}

} // namespace

// A job started from a checkpoint goes on from the sources' positions with
// the state of then: every record counts once in the final counts.
CAF_TEST(a job restored from a checkpoint counts every record once) {
  temp_dir dir{"checkpoints_e2e"};
  auto first = run_counting(dir.path(), 30000);
  CAF_REQUIRE_EQUAL(first.size(), 30000u);
  auto rp = find_restore_point(dir.path());
  auto job_dir = rp.chosen.dir.substr(0, rp.chosen.dir.rfind('/'));
  auto complete = complete_checkpoints(job_dir);
  CAF_REQUIRE(!complete.empty());
  auto chk = complete.front(); // the oldest kept: the most left to do
  uint64_t emitted = 0;
  auto chk_meta = read_metadata(chk);
  for (auto& s : chk_meta.find("numbers")->subtasks)
    emitted += generator_emitted(s.source_position);
  CAF_MESSAGE("restoring " << chk << " after " << emitted << " records");
  temp_dir dir2{"checkpoints_e2e"};
  auto second = run_counting(dir2.path(), 30000, chk);
  // The rest of the input, each record once, with the counts going on.
  CAF_CHECK_EQUAL(second.size(), 30000u - emitted);
  auto top = *std::max_element(second.begin(), second.end());
  CAF_CHECK_EQUAL(top, 3000); // 30000 records over 10 keys
  auto lowest = *std::min_element(second.begin(), second.end());
  CAF_CHECK_GREATER(lowest, 1); // counting went on from the checkpoint
  // Its own checkpoints continue the numbering.
  auto rp2 = find_restore_point(dir2.path());
  CAF_CHECK_GREATER(rp2.chosen.meta.checkpoint_id,
                    read_metadata(chk).checkpoint_id);
}

// Keyed state goes where its key groups go: a checkpoint of the counting
// operator at parallelism 2 resumes at 1 and at 3.
CAF_TEST(a job resumes from a checkpoint with another parallelism) {
  temp_dir dir{"checkpoints_e2e"};
  run_counting(dir.path(), 30000);
  auto rp = find_restore_point(dir.path());
  auto chk = rp.chosen.dir;
  uint64_t emitted = 0;
  for (auto& s : rp.chosen.meta.find("numbers")->subtasks)
    emitted += generator_emitted(s.source_position);
  for (int p : {1, 3}) {
    temp_dir dir2{"checkpoints_e2e"};
    auto rest = run_counting(dir2.path(), 30000, chk, "count", p);
    CAF_CHECK_EQUAL(rest.size(), 30000u - emitted);
    if (!rest.empty())
      CAF_CHECK_EQUAL(*std::max_element(rest.begin(), rest.end()), 3000);
  }
}

// The generator's splits are its state: at another parallelism they are
// handed out round-robin (a subtask without one ends at once), and every
// record is still generated once.
CAF_TEST(a generator resumes its splits at another parallelism) {
  // The checkpoint nearest the middle of a run at p=2, then the rest at
  // p=1 and p=3, and from a checkpoint in the middle of the p=3 run on at
  // p=2 (splits of splits).
  auto middle = [](const std::string& root) {
    auto rp = find_restore_point(root);
    auto job_dir = rp.chosen.dir.substr(0, rp.chosen.dir.rfind('/'));
    auto all = complete_checkpoints(job_dir);
    return all[all.size() / 2];
  };
  auto emitted_at = [](const std::string& chk) {
    uint64_t n = 0;
    auto meta = read_metadata(chk); // outlives the loop over its subtasks
    for (auto& s : meta.find("numbers")->subtasks)
      n += generator_emitted(s.source_position);
    return n;
  };
  temp_dir dir{"checkpoints_e2e"};
  run_counting(dir.path(), 30000, "", "count", 2, 2, 1000);
  auto chk = middle(dir.path());
  auto emitted = emitted_at(chk);
  CAF_REQUIRE_LESS(emitted, 30000u);
  CAF_MESSAGE("from " << chk << " after " << emitted << " records");
  for (int p : {1, 3}) {
    temp_dir dir2{"checkpoints_e2e"};
    auto rest = run_counting(dir2.path(), 30000, chk, "count", 2, p, 1000);
    CAF_CHECK_EQUAL(rest.size(), 30000u - emitted);
    std::map<int64_t, int> seen;
    for (auto c : rest)
      ++seen[c];
    // Counts go on from the checkpoint to 3000 per key, each value once
    // per key (10 keys).
    bool once = std::all_of(seen.begin(), seen.end(),
                            [](auto& kv) { return kv.second <= 10; });
    CAF_CHECK(once);
    if (!rest.empty())
      CAF_CHECK_EQUAL(*std::max_element(rest.begin(), rest.end()), 3000);
    if (p == 3) {
      auto chk3 = middle(dir2.path());
      auto emitted3 = emitted_at(chk3);
      CAF_CHECK_GREATER(emitted3, emitted);
      temp_dir dir3{"checkpoints_e2e"};
      auto rest3 = run_counting(dir3.path(), 30000, chk3, "count", 2, 2);
      CAF_CHECK_EQUAL(rest3.size(), 30000u - emitted3);
      if (!rest3.empty())
        CAF_CHECK_EQUAL(*std::max_element(rest3.begin(), rest3.end()), 3000);
    }
  }
}

CAF_TEST(a checkpoint that does not fit the job is refused before it starts) {
  temp_dir dir{"checkpoints_e2e"};
  // A completed checkpoint to refuse (a loaded machine may end the first
  // run before one completes: run longer then).
  for (uint64_t n = 20000; n <= 80000 && !has_checkpoint(dir.path()); n *= 2)
    run_counting(dir.path(), n);
  CAF_REQUIRE(has_checkpoint(dir.path()));
  // The oldest kept checkpoint: taken while the counting operator ran, so
  // it holds its keyed state (a last one taken as the job ended may hold
  // only finished subtasks).
  auto rp = find_restore_point(dir.path());
  auto job_dir = rp.chosen.dir.substr(0, rp.chosen.dir.rfind('/'));
  auto complete = complete_checkpoints(job_dir);
  CAF_REQUIRE(!complete.empty());
  temp_dir dir2{"checkpoints_e2e"};
  // The counting operator's uid changed: its state has no home.
  std::string msg;
  try {
    run_counting(dir2.path(), 20000, complete.front(), "renamed");
  } catch (const checkpoint_error& e) {
    msg = e.what();
  }
  CAF_CHECK(contains(msg, "uid 'count'"));
  if (!contains(msg, "uid 'count'"))
    CAF_MESSAGE("restoring " << complete.front() << ": '" << msg << "'");
  // Nothing to restore.
  CAF_CHECK(throws<checkpoint_error>(
      [&] { run_counting(dir2.path(), 20000, dir.file("nothing")); },
      "does not exist"));
}

// A task fails in the middle of the input: the job restarts from its latest
// completed checkpoint, the sources replay from their positions, and the
// keyed state counts every record exactly once.
CAF_TEST(a failed job restarts from its latest checkpoint) {
  for (int64_t fail_at : {12000, 21000}) {
    temp_dir dir{"checkpoints_e2e"};
    stream_execution_environment env;
    env.set_parallelism(2);
    auto& cp = env.config().checkpointing;
    cp.interval = 50;
    cp.dir = dir.path();
    env.config().restarts = restart_strategy::fixed(2, 20);
    auto seen = std::make_shared<std::atomic<int64_t>>(0);
    auto out = std::make_shared<collected<int64_t>>();
    env.from_generator(30000,
                       [](uint64_t i) { return static_cast<int64_t>(i); },
                       40000)
        .uid("numbers")
        .key_by([](int64_t x) { return x % 10; })
        .process<int64_t>(
            [seen, fail_at] {
              return std::make_unique<failing_counter>(seen, fail_at);
            },
            "Count")
        .uid("count")
        .collect_into(out);
    auto r = env.execute("recovering");
    CAF_CHECK(r.status == job_status::finished);
    // The failure happened (and so a restart), then all went through.
    CAF_CHECK_GREATER(seen->load(), 30000);
    // Outputs after the checkpoint are emitted again (the collect sink is
    // not transactional), but the state counted each record once: every
    // key ends at its total.
    // (Outputs of the failed attempt's sink buffer are lost, too.)
    std::map<int64_t, int64_t> final_count;
    auto values = out->values();
    for (auto v : values)
      final_count[v / 1000000] = std::max(final_count[v / 1000000],
                                          v % 1000000);
    CAF_CHECK_EQUAL(final_count.size(), 10u);
    for (auto& [key, n] : final_count)
      CAF_CHECK_EQUAL(n, 3000); // 30000 records over 10 keys, each once
    CAF_MESSAGE("fail at " << fail_at << ": " << values.size()
                           << " outputs, " << seen->load() << " records seen");
  }
}

// The exactly-once part file sink: with failures and restarts, the visible
// part files hold every result exactly once.

namespace {

/// Counts 20,000 numbers per key (10 keys) at parallelism 2 with
/// checkpoints every 40 ms, failing once at record `fail_at`: each key's
/// counts 1..2000 as key * 1,000,000 + n, to write with a sink.
data_stream<int64_t> failing_counts(stream_execution_environment& env,
                                    const temp_dir& dir, int64_t fail_at,
                                    std::shared_ptr<std::atomic<int64_t>> seen) {
  env.set_parallelism(2);
  auto& cp = env.config().checkpointing;
  cp.interval = 40;
  cp.dir = dir.file("chk");
  env.config().restarts = restart_strategy::fixed(2, 20);
  return env
      .from_generator(20000, [](uint64_t i) { return static_cast<int64_t>(i); },
                      40000)
      .uid("numbers")
      .key_by([](int64_t x) { return x % 10; })
      .process<int64_t>(
          [seen, fail_at] {
            return std::make_unique<failing_counter>(seen, fail_at);
          },
          "Count")
      .uid("count");
}

/// What failing_counts() must give, sorted, as text.
std::vector<std::string> expected_counts() {
  std::vector<std::string> expected;
  for (int64_t key = 0; key < 10; ++key)
    for (int64_t n = 1; n <= 2000; ++n)
      expected.push_back(std::to_string(key * 1000000 + n));
  std::sort(expected.begin(), expected.end());
  return expected;
}

} // namespace
CAF_TEST(part files hold every result once across failures) {
  for (int64_t fail_at : {9000, 19000}) {
    temp_dir dir{"checkpoints_e2e"};
    auto out_dir = dir.file("out");
    stream_execution_environment env;
    auto seen = std::make_shared<std::atomic<int64_t>>(0);
    failing_counts(env, dir, fail_at, seen)
        .sink_to_files(
            out_dir, [](const int64_t& v) { return std::to_string(v); },
            "value")
        .uid("files");
    env.execute("exactly once files");
    CAF_CHECK_GREATER(seen->load(), 20000); // it did fail and restart
    auto lines = visible_part_lines(out_dir, "value");
    std::sort(lines.begin(), lines.end());
    auto expected = expected_counts();
    CAF_CHECK_EQUAL(lines.size(), expected.size());
    CAF_CHECK(lines == expected);
    CAF_CHECK_EQUAL(count_prefixed(out_dir, ".part-"), 0u);
    CAF_MESSAGE("fail at " << fail_at << ": " << list_dir(out_dir).size()
                           << " part files");
  }
}

// Buckets (Flink's bucket assigner): every result once in the bucket
// its function names, across failures. Each key's counts move through 21
// buckets of 100 (as time moves through partitions): 210 buckets, more
// than a writer keeps open (64), so parts are also closed between
// checkpoints.
CAF_TEST(bucketed part files hold every result once in its bucket) {
  for (int64_t fail_at : {9000, 19000}) {
    temp_dir dir{"checkpoints_e2e"};
    auto out_dir = dir.file("out");
    stream_execution_environment env;
    auto seen = std::make_shared<std::atomic<int64_t>>(0);
    failing_counts(env, dir, fail_at, seen)
        .sink_to_bucketed_files(
            out_dir,
            [](const int64_t& v) {
              return "key=" + std::to_string(v / 1000000) + "/n="
                     + std::to_string(v % 1000000 / 100);
            },
            [](const int64_t& v) { return std::to_string(v); }, "value")
        .uid("files");
    env.execute("exactly once buckets");
    CAF_CHECK_GREATER(seen->load(), 20000); // it did fail and restart
    std::vector<std::string> lines;
    size_t buckets = 0;
    for (auto& key : list_dir(out_dir)) {
      for (auto& n : list_dir(out_dir + "/" + key)) {
        auto bucket = out_dir + "/" + key + "/" + n;
        ++buckets;
        CAF_CHECK_EQUAL(count_prefixed(bucket, ".part-"), 0u);
        for (auto& line : visible_part_lines(bucket, "value")) {
          auto v = std::stoll(line);
          CAF_CHECK_EQUAL(key, "key=" + std::to_string(v / 1000000));
          CAF_CHECK_EQUAL(n, "n=" + std::to_string(v % 1000000 / 100));
          lines.push_back(line);
        }
      }
    }
    CAF_CHECK_EQUAL(buckets, 210u);
    std::sort(lines.begin(), lines.end());
    auto expected = expected_counts();
    CAF_CHECK_EQUAL(lines.size(), expected.size());
    CAF_CHECK(lines == expected);
  }
}

CAF_TEST(a bad bucket fails the job naming it) {
  for (std::string bad : {"/abs", "a/../b", "a//b", ".hidden", "a/"}) {
    temp_dir dir{"checkpoints_e2e"};
    stream_execution_environment env;
    env.from_collection(std::vector<int64_t>{1, 2, 3})
        .sink_to_bucketed_files(
            dir.file("out"), [bad](const int64_t&) { return bad; },
            [](const int64_t& v) { return std::to_string(v); });
    CAF_CHECK(throws<job_failed>([&] { env.execute("bad bucket"); },
                                 "bad bucket '" + bad + "'"));
    CAF_CHECK_EQUAL(count_prefixed(dir.file("out"), "part-"), 0u);
  }
}

namespace {

/// Sums its input and emits the total when the input ends; the sum is
/// function state.
struct total_at_end final : process_function<int64_t, std::string> {
  int64_t sum = 0;
  void process_element(const int64_t& x, context&,
                       collector<std::string>&) override {
    sum += x;
  }
  void end_input(collector<std::string>& out) override {
    out.collect("total " + std::to_string(sum));
  }
  operator_list_state<int64_t>* saved = nullptr;
  void initialize_state(operator_state_store& store) override {
    saved = &store.get_list_state<int64_t>("sum");
    for (auto x : saved->get())
      sum += x;
  }
  void snapshot_state(uint64_t) override { saved->update({sum}); }
};

} // namespace

// Checkpoints go on after part of a job finished (Flink's checkpoints after
// tasks finished): the finished subtasks are in them with their final
// state, and a restore from such a checkpoint does not run their end of
// input again. Here a short pipeline ends at once and a long one fails
// later: the short one's total is written once, the long one's values once.
CAF_TEST(checkpoints go on after subtasks finished) {
  temp_dir dir{"checkpoints_e2e"};
  stream_execution_environment env;
  env.set_parallelism(1);
  auto& cp = env.config().checkpointing;
  cp.interval = 30;
  cp.dir = dir.file("chk");
  env.config().restarts = restart_strategy::fixed(2, 10);
  auto failed = std::make_shared<std::atomic<bool>>(false);
  env.from_generator(1000, [](uint64_t i) { return static_cast<int64_t>(i); })
      .uid("short")
      .process<std::string>([] { return std::make_unique<total_at_end>(); },
                            "Total")
      .uid("total")
      .sink_to_files(dir.file("a"), [](const std::string& x) { return x; },
                     "row")
      .uid("files-a");
  env.from_generator(20000, [](uint64_t i) { return static_cast<int64_t>(i); },
                     20000)
      .uid("long")
      .map(
          [failed](int64_t x) {
            if (x == 15000 && !failed->exchange(true))
              throw std::runtime_error("injected failure");
            return x;
          },
          "Fail Once")
      .uid("fail-once")
      .sink_to_files(dir.file("b"),
                     [](const int64_t& x) { return std::to_string(x); },
                     "value")
      .uid("files-b");
  auto r = env.execute("partly finished");
  CAF_REQUIRE(r.status == job_status::finished);
  CAF_CHECK_EQUAL(r.restarts_from_checkpoint, 1);
  CAF_CHECK_EQUAL(visible_part_lines(dir.file("a"), "row"),
                  std::vector<std::string>{"total 499500"});
  auto b = visible_part_lines(dir.file("b"), "value");
  CAF_CHECK_EQUAL(b.size(), 20000u);
  std::set<std::string> distinct(b.begin(), b.end());
  CAF_CHECK_EQUAL(distinct.size(), 20000u);
  // The newest checkpoint has the short pipeline as finished.
  auto rp = find_restore_point(dir.file("chk"));
  auto* total = rp.chosen.meta.find("total");
  CAF_REQUIRE(total != nullptr);
  CAF_REQUIRE_EQUAL(total->subtasks.size(), 1u);
  CAF_CHECK(total->subtasks[0].finished);
  operator_state_store store;
  store.restore({total->subtasks[0].operator_state}, 0, 1);
  CAF_CHECK_EQUAL(store.get_list_state<int64_t>("sum").get(),
                  std::vector<int64_t>{499500});
}

// A finished branch's output is published by the next checkpoint that
// holds its final state, not only at the end of the job: stopping with a
// savepoint while another branch runs leaves it visible.
CAF_TEST(finished sinks publish with the next checkpoint) {
  temp_dir dir{"checkpoints_e2e"};
  stream_execution_environment env;
  env.set_parallelism(1);
  env.config().checkpointing.interval = 30;
  env.config().checkpointing.dir = dir.file("chk");
  env.from_generator(1000, [](uint64_t i) { return static_cast<int64_t>(i); })
      .uid("short")
      .process<std::string>([] { return std::make_unique<total_at_end>(); },
                            "Total")
      .uid("total")
      .sink_to_files(dir.file("a"), [](const std::string& x) { return x; },
                     "row")
      .uid("files-a");
  env.from_generator(0, [](uint64_t i) { return static_cast<int64_t>(i); },
                     5000)
      .uid("endless")
      .sink_to_files(dir.file("b"),
                     [](const int64_t& x) { return std::to_string(x); },
                     "value")
      .uid("files-b");
  auto client = env.execute_async("one branch finishes");
  // The short branch finishes at once; wait for it to become visible.
  bool visible = false;
  for (int i = 0; i < 300 && !visible; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
    visible = count_prefixed(dir.file("a"), "part-") > 0;
  }
  CAF_CHECK(visible); // while the endless branch still runs
  CAF_CHECK(client->status() == job_status::running);
  auto sp = client->stop_with_savepoint(dir.file("sp"));
  auto r = client->wait();
  CAF_CHECK(r.status == job_status::finished);
  CAF_CHECK_EQUAL(visible_part_lines(dir.file("a"), "row"),
                  std::vector<std::string>{"total 499500"});
  CAF_CHECK_EQUAL(count_prefixed(dir.file("a"), "."), 0u);
}

// Stop with a savepoint, resume from it at another parallelism: the part
// files of both runs hold every result exactly once.
CAF_TEST(stop with savepoint and resume from it) {
  // Stopped at parallelism 2, resumed (the whole job: source, counting,
  // sink) at 1 and at 4 from the same savepoint: each time the output of
  // both runs together is that of an uninterrupted run.
  temp_dir dir{"checkpoints_e2e"};
  auto build = [&](stream_execution_environment& env, int p,
                   const std::string& from, const std::string& out_dir) {
    env.set_parallelism(p);
    env.config().checkpointing.interval = 200;
    env.config().checkpointing.dir = dir.file("chk");
    env.config().checkpointing.restore_from = from;
    env.from_generator(20000,
                       [](uint64_t i) { return static_cast<int64_t>(i); },
                       20000)
        .uid("numbers")
        .key_by([](int64_t x) { return x % 10; })
        .process<int64_t>(
            [] {
              return std::make_unique<failing_counter>(
                  std::make_shared<std::atomic<int64_t>>(0), -1);
            },
            "Count")
        .uid("count")
        .sink_to_files(
            out_dir, [](const int64_t& v) { return std::to_string(v); },
            "value")
        .uid("files");
  };
  std::string savepoint;
  {
    stream_execution_environment env;
    build(env, 2, "", dir.file("out"));
    auto client = env.execute_async("first");
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    savepoint = client->stop_with_savepoint(dir.file("savepoints"));
    auto r = client->wait();
    CAF_CHECK(r.status == job_status::finished);
  }
  auto meta = read_metadata(savepoint);
  CAF_CHECK(meta.is_savepoint);
  CAF_MESSAGE("savepoint " << savepoint);
  auto before = visible_part_lines(dir.file("out"), "value");
  CAF_CHECK_GREATER(before.size(), 0u);
  CAF_CHECK_LESS(before.size(), 20000u);
  std::vector<std::string> expected;
  for (int64_t key = 0; key < 10; ++key)
    for (int64_t n = 1; n <= 2000; ++n)
      expected.push_back(std::to_string(key * 1000000 + n));
  std::sort(expected.begin(), expected.end());
  for (int p : {1, 4}) {
    CAF_MESSAGE("resume at parallelism " << p);
    auto out = dir.file("out-" + std::to_string(p));
    {
      stream_execution_environment env;
      build(env, p, savepoint, out);
      auto r = env.execute("second");
      CAF_CHECK(r.status == job_status::finished);
    }
    auto lines = visible_part_lines(dir.file("out"), "value");
    auto rest = visible_part_lines(out, "value");
    lines.insert(lines.end(), rest.begin(), rest.end());
    std::sort(lines.begin(), lines.end());
    CAF_CHECK_EQUAL(lines.size(), expected.size());
    CAF_CHECK(lines == expected);
  }
}

// A subtask stuck in user code does not hold a restart forever: after
// the cancellation timeout it is killed, and a restart still waiting after
// twice that fails the job, saying why.
CAF_TEST(a restart does not wait forever for a stuck subtask) {
  temp_dir dir{"checkpoints_e2e"};
  stream_execution_environment env;
  env.set_parallelism(2);
  env.config().checkpointing.interval = 50;
  env.config().checkpointing.dir = dir.path();
  env.config().restarts = restart_strategy::fixed(3, 0);
  env.config().cancellation_timeout = 200;
  auto stuck = std::make_shared<std::atomic<bool>>(false);
  auto slept = std::make_shared<std::atomic<bool>>(false);
  env.from_generator(0, [](uint64_t i) { return static_cast<int64_t>(i); },
                     10000)
      .uid("numbers")
      .map(
          [stuck, slept](int64_t x) {
            // The subtask with the even numbers blocks for 3 s (deaf to
            // cancel); while it does, the odd one fails.
            if (x % 2 == 0 && x > 1000 && !slept->exchange(true)) {
              stuck->store(true);
              std::this_thread::sleep_for(std::chrono::seconds(3));
            }
            if (x % 2 == 1 && stuck->exchange(false))
              throw std::runtime_error("injected failure");
            return x;
          },
          "Stuck")
      .uid("stuck")
      .collect_into(std::make_shared<collected<int64_t>>());
  auto t0 = std::chrono::steady_clock::now();
  auto r = env.execute_async("stuck")->wait();
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - t0)
                  .count();
  CAF_CHECK(r.status == job_status::failed);
  CAF_CHECK(contains(r.error, "injected failure"));
  CAF_CHECK(contains(r.error, "did not stop"));
  CAF_CHECK_LESS(took, 2500); // not the 3 s the stuck subtask sleeps
  CAF_MESSAGE("failed after " << took << " ms: " << r.error);
}

CAF_TEST(checkpoints need a directory) {
  stream_execution_environment env;
  env.config().checkpointing.interval = 100;
  env.from_elements({1, 2, 3}).print();
  CAF_CHECK(throws<std::invalid_argument>([&] { env.execute(); },
                                          "checkpoint directory"));
}

CAF_TEST(a state type without a codec fails the checkpoint clearly) {
  struct opaque {
    int64_t n = 0;
  };
  struct keep final : keyed_process_function<int64_t, int64_t, int64_t> {
    value_state<opaque> st;
    void open(keyed_state_store<int64_t>& s, const runtime_info&) override {
      st = s.get_state<opaque>("opaque");
    }
    void process_element(const int64_t& x, context&,
                         collector<int64_t>& out) override {
      st.update(opaque{x});
      out.collect(x);
    }
  };
  temp_dir dir{"checkpoints_e2e"};
  stream_execution_environment env;
  env.set_parallelism(1);
  env.config().checkpointing.interval = 20;
  env.config().checkpointing.dir = dir.path();
  env.from_generator(0, [](uint64_t i) { return static_cast<int64_t>(i); },
                     10000)
      .key_by([](int64_t x) { return x % 3; })
      .process<int64_t>([] { return std::make_unique<keep>(); }, "Keep")
      .collect_into(std::make_shared<collected<int64_t>>());
  CAF_CHECK(throws<job_failed>([&] { env.execute(); }, "libstream::codec"));
}
