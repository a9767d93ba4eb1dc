#define CAF_SUITE checkpoint_storage
#include "caf/test/unit_test.hpp"

// Checkpoint directories on a real file system: metadata written
// atomically and read back, data files checked, every kind of damage a
// clear error naming the file, restore points found under a root with the
// newest damaged checkpoint skipped, and retention.

#include <cstdint>
#include <string>
#include <vector>

#include <sys/stat.h>
#include <unistd.h>

#include "child_process.hpp"
#include "libstream/checkpoint/storage.hpp"
#include "libstream/codec.hpp"
#include "libstream/key_hash.hpp"

using namespace libstream;
using namespace libstream::test;

namespace {

struct fixture {
  temp_dir dir{"checkpoints"};

  /// A complete checkpoint `id` of job `job` with one keyed operator of
  /// two subtasks and a source, triggered at `ts`.
  std::string make_checkpoint(const std::string& job, uint64_t id,
                              int64_t ts) {
    auto chk = dir.file(job + "/" + checkpoint_dir_name(id));
    make_directories(chk);
    checkpoint_metadata meta;
    meta.job_id = job;
    meta.job_name = "test job";
    meta.checkpoint_id = id;
    meta.timestamp_ms = ts;
    meta.key_hash = key_hash_name;
    meta.codec = codec_format_name;
    operator_snapshot window{"window", "Window", 2, 128, {}};
    for (int i = 0; i < 2; ++i) {
      subtask_snapshot s;
      s.index = i;
      s.key_groups = key_group_range_of(i, 2, 128);
      std::string bytes;
      for (int g = s.key_groups.first; g < s.key_groups.last; ++g) {
        s.key_group_offsets.push_back(bytes.size());
        bytes += encode_value(std::to_string(g) + "@" + std::to_string(id));
      }
      s.key_group_offsets.push_back(bytes.size());
      s.keyed_file = write_data_file(chk, "window-" + std::to_string(i), bytes);
      window.subtasks.push_back(s);
    }
    operator_snapshot source{"source", "Source", 1, 128, {}};
    subtask_snapshot pos;
    pos.source_position = encode_value(uint64_t{id * 1000});
    source.subtasks.push_back(pos);
    meta.operators = {window, source};
    write_metadata(chk, meta);
    return chk;
  }

  void corrupt_byte(const std::string& path, size_t at) {
    auto bytes = read_file(path);
    bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
    write_file(path, bytes);
  }
};

} // namespace

CAF_TEST_FIXTURE_SCOPE(checkpoint_storage_tests, fixture)

CAF_TEST(metadata and data files round trip) {
  auto chk = make_checkpoint("job-a", 7, 1000);
  auto meta = read_metadata(chk);
  CAF_CHECK_EQUAL(meta.job_id, "job-a");
  CAF_CHECK_EQUAL(meta.checkpoint_id, 7u);
  CAF_CHECK_EQUAL(meta.timestamp_ms, 1000);
  CAF_REQUIRE_EQUAL(meta.operators.size(), 2u);
  auto* window = meta.find("window");
  CAF_REQUIRE(window != nullptr);
  CAF_CHECK_EQUAL(window->parallelism, 2);
  CAF_REQUIRE_EQUAL(window->subtasks.size(), 2u);
  auto& s1 = window->subtasks[1];
  CAF_CHECK_EQUAL(s1.key_groups.first, 64);
  CAF_CHECK_EQUAL(s1.key_groups.last, 128);
  auto bytes = read_data_file(chk, s1.keyed_file);
  // Key group 65 is the second entry of subtask 1's file.
  auto off = s1.key_group_offsets;
  auto g65 = bytes.substr(off[1], off[2] - off[1]);
  CAF_CHECK_EQUAL(decode_value<std::string>(g65), "65@7");
  CAF_CHECK_EQUAL(
      decode_value<uint64_t>(meta.find("source")->subtasks[0].source_position),
      7000u);
  CAF_CHECK(meta.find("nothing") == nullptr);
  // No temporary left behind.
  CAF_CHECK_EQUAL(count_prefixed(chk, "_metadata."), 0u);
}

CAF_TEST(damaged metadata is a clear error naming the file) {
  auto chk = make_checkpoint("job-a", 1, 1000);
  auto meta_path = chk + "/_metadata";
  auto good = read_file(meta_path);
  auto error_of = [&] {
    try {
      read_metadata(chk);
    } catch (const checkpoint_error& e) {
      return std::string{e.what()};
    }
    return std::string{};
  };
  // Truncated at every length: the header, then the message.
  for (size_t n : {size_t{0}, size_t{5}, size_t{20}, good.size() / 2,
                   good.size() - 1}) {
    write_file(meta_path, good.substr(0, n));
    auto e = error_of();
    CAF_MESSAGE(n << " bytes: " << e);
    CAF_CHECK(contains(e, meta_path));
    CAF_CHECK(contains(e, "truncated") || contains(e, "not a libstream"));
  }
  // One flipped byte in the message.
  write_file(meta_path, good);
  corrupt_byte(meta_path, good.size() - 3);
  CAF_CHECK(contains(error_of(), "corrupt"));
  // Another file entirely.
  write_file(meta_path, "{\"json\": true}");
  CAF_CHECK(contains(error_of(), "not a libstream checkpoint metadata"));
  // Missing.
  ::unlink(meta_path.c_str());
  CAF_CHECK(contains(error_of(), "not a complete checkpoint"));
  // A file where a directory should be.
  auto file = dir.file("plain");
  write_file(file, "x");
  try {
    read_metadata(file);
    CAF_FAIL("read_metadata accepted a file");
  } catch (const checkpoint_error& e) {
    CAF_CHECK(contains(e.what(), "it is a file"));
  }
}

CAF_TEST(damaged data files are caught by size and checksum) {
  auto chk = make_checkpoint("job-a", 1, 1000);
  auto meta = read_metadata(chk);
  auto data = chk + "/window-0";
  auto good = read_file(data);
  write_file(data, good.substr(0, good.size() - 1));
  try {
    verify_data_files(chk, meta);
    CAF_FAIL("a truncated data file passed");
  } catch (const checkpoint_error& e) {
    CAF_CHECK(contains(e.what(), data));
    CAF_CHECK(contains(e.what(), "truncated"));
  }
  write_file(data, good);
  corrupt_byte(data, 2);
  try {
    verify_data_files(chk, meta);
    CAF_FAIL("a corrupt data file passed");
  } catch (const checkpoint_error& e) {
    CAF_CHECK(contains(e.what(), "checksum"));
  }
}

CAF_TEST(a root resolves to the newest usable checkpoint of any job) {
  make_checkpoint("job-a", 3, 1000);
  make_checkpoint("job-a", 4, 2000);
  make_checkpoint("job-b", 1, 3000); // newer, another job
  auto rp = find_restore_point(dir.path());
  CAF_CHECK_EQUAL(rp.chosen.meta.job_id, "job-b");
  CAF_CHECK(rp.skipped.empty());
  // The newest is damaged: skipped, and said so.
  corrupt_byte(dir.file("job-b/chk-1/window-1"), 1);
  rp = find_restore_point(dir.path());
  CAF_CHECK_EQUAL(rp.chosen.meta.job_id, "job-a");
  CAF_CHECK_EQUAL(rp.chosen.meta.checkpoint_id, 4u);
  CAF_REQUIRE_EQUAL(rp.skipped.size(), 1u);
  CAF_CHECK(contains(rp.skipped[0].second, "window-1"));
  // A job directory resolves within the job; a named checkpoint is used as
  // it is or not at all.
  CAF_CHECK_EQUAL(find_restore_point(dir.file("job-a")).chosen.meta
                      .checkpoint_id,
                  4u);
  CAF_CHECK_EQUAL(find_restore_point(dir.file("job-a/chk-3")).chosen.meta
                      .checkpoint_id,
                  3u);
  CAF_CHECK(throws<checkpoint_error>(
      [&] { find_restore_point(dir.file("job-b/chk-1")); }, "checksum"));
  // An incomplete directory (no _metadata) is not a candidate.
  make_directories(dir.file("job-a/chk-9"));
  CAF_CHECK_EQUAL(find_restore_point(dir.file("job-a")).chosen.meta
                      .checkpoint_id,
                  4u);
}

CAF_TEST(nothing to restore is a clear error) {
  CAF_CHECK(throws<checkpoint_error>(
      [&] { find_restore_point(dir.file("missing")); }, "does not exist"));
  write_file(dir.file("a-file"), "x");
  CAF_CHECK(throws<checkpoint_error>(
      [&] { find_restore_point(dir.file("a-file")); }, "it is a file"));
  make_directories(dir.file("empty/job"));
  CAF_CHECK(throws<checkpoint_error>(
      [&] { find_restore_point(dir.file("empty")); },
      "no complete checkpoint"));
  make_checkpoint("job-c", 1, 1000);
  ::unlink(dir.file("job-c/chk-1/window-0").c_str());
  CAF_CHECK(throws<checkpoint_error>(
      [&] { find_restore_point(dir.file("job-c")); }, "no usable checkpoint"));
}

CAF_TEST(a checkpoint directory below a file is refused) {
  write_file(dir.file("blocker"), "x");
  CAF_CHECK(throws<checkpoint_error>(
      [&] { make_directories(dir.file("blocker/job/chk-1")); },
      "is a file"));
}

CAF_TEST(pruning keeps the newest complete checkpoints) {
  for (uint64_t id = 1; id <= 5; ++id)
    make_checkpoint("job-a", id, static_cast<int64_t>(id) * 1000);
  make_directories(dir.file("job-a/chk-2x")); // not a checkpoint name
  make_directories(dir.file("job-a/chk-6"));  // in progress: kept
  auto removed = prune_checkpoints(dir.file("job-a"), 3);
  CAF_CHECK_EQUAL(removed.size(), 2u);
  CAF_CHECK_EQUAL(list_dir(dir.file("job-a")),
                  (std::vector<std::string>{"chk-2x", "chk-3", "chk-4",
                                            "chk-5", "chk-6"}));
}

CAF_TEST(checkpoint directory names) {
  CAF_CHECK_EQUAL(checkpoint_dir_name(12), "chk-12");
  CAF_CHECK_EQUAL(parse_checkpoint_dir_name("chk-12").value_or(0), 12u);
  CAF_CHECK(!parse_checkpoint_dir_name("chk-"));
  CAF_CHECK(!parse_checkpoint_dir_name("chk-1a"));
  CAF_CHECK(!parse_checkpoint_dir_name("savepoint-1"));
}

CAF_TEST_FIXTURE_SCOPE_END()
