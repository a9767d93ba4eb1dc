#define CAF_SUITE barrier_aligner
#include "caf/test/unit_test.hpp"

// Barrier alignment without actors: which channels are held, when the
// snapshot is taken, and what happens to overtaken, stale and abandoned
// checkpoints and to channels that end.

#include <stdexcept>

#include "libstream/checkpoint/barrier_aligner.hpp"
#include "test_util.hpp"

using namespace libstream;

namespace {

using mode = checkpointing_mode;

bool snapshots(const barrier_aligner::decision& d, uint64_t id) {
  return d.snapshot == id;
}

bool nothing(const barrier_aligner::decision& d) {
  return !d.snapshot && !d.abandoned && !d.release;
}

} // namespace

CAF_TEST(exactly once holds each channel until all delivered the barrier) {
  barrier_aligner a{3, mode::exactly_once};
  CAF_CHECK(!a.any_held());
  CAF_CHECK(nothing(a.on_barrier(1, 1)));
  CAF_CHECK(a.held(1));
  CAF_CHECK(!a.held(0));
  CAF_CHECK(nothing(a.on_barrier(0, 1)));
  CAF_CHECK(a.held(0) && a.held(1) && !a.held(2));
  auto d = a.on_barrier(2, 1);
  CAF_CHECK(snapshots(d, 1));
  CAF_CHECK(d.release);
  CAF_CHECK(!a.any_held());
  CAF_CHECK(!a.pending());
}

CAF_TEST(at least once never holds) {
  barrier_aligner a{2, mode::at_least_once};
  CAF_CHECK(nothing(a.on_barrier(0, 5)));
  CAF_CHECK(!a.held(0));
  auto d = a.on_barrier(1, 5);
  CAF_CHECK(snapshots(d, 5));
  CAF_CHECK(!d.release);
}

CAF_TEST(one channel snapshots at once) {
  barrier_aligner a{1, mode::exactly_once};
  CAF_CHECK(snapshots(a.on_barrier(0, 1), 1));
  CAF_CHECK(snapshots(a.on_barrier(0, 2), 2));
}

CAF_TEST(an ended channel counts as aligned) {
  barrier_aligner a{3, mode::exactly_once};
  CAF_CHECK(nothing(a.on_end(2))); // nothing pending yet
  CAF_CHECK(nothing(a.on_barrier(0, 1)));
  // Channels 0 and 1 delivered it, channel 2 has ended: complete.
  CAF_CHECK(snapshots(a.on_barrier(1, 1), 1));
  barrier_aligner b{2, mode::exactly_once};
  b.on_barrier(0, 7);
  auto d = b.on_end(1); // the missing channel ends: complete
  CAF_CHECK(snapshots(d, 7));
  CAF_CHECK(d.release);
}

CAF_TEST(a newer barrier abandons the pending checkpoint) {
  barrier_aligner a{2, mode::exactly_once};
  a.on_barrier(0, 1);
  // Channel 1 never sends barrier 1 (its source declined it) but sends 2.
  auto d = a.on_barrier(1, 2);
  CAF_CHECK(d.abandoned == uint64_t{1});
  CAF_CHECK(d.release);
  CAF_CHECK(!d.snapshot);
  CAF_CHECK(a.pending() == uint64_t{2});
  CAF_CHECK(a.held(1) && !a.held(0));
  // Channel 0's barrier 1 was held behind it and comes again later: stale.
  CAF_CHECK(nothing(a.on_barrier(0, 1)));
  CAF_CHECK(snapshots(a.on_barrier(0, 2), 2));
}

CAF_TEST(stale barriers are ignored) {
  barrier_aligner a{2, mode::exactly_once};
  a.on_barrier(0, 3);
  CAF_CHECK(snapshots(a.on_barrier(1, 3), 3));
  CAF_CHECK(nothing(a.on_barrier(0, 3)));
  CAF_CHECK(nothing(a.on_barrier(1, 2)));
  CAF_CHECK(!a.pending());
}

CAF_TEST(the coordinator abandons a checkpoint) {
  barrier_aligner a{2, mode::exactly_once};
  a.on_barrier(0, 4);
  CAF_CHECK(nothing(a.abandon(3)));
  auto d = a.abandon(4);
  CAF_CHECK(d.abandoned == uint64_t{4});
  CAF_CHECK(d.release);
  CAF_CHECK(!a.any_held());
  // Its late barrier from the other channel is stale now.
  CAF_CHECK(nothing(a.on_barrier(1, 4)));
}

// Found in review: an abort that overtook the barriers of its checkpoint
// left them to start an alignment nobody would finish.
CAF_TEST(barriers arriving after their abort are stale) {
  barrier_aligner a{2, mode::exactly_once};
  CAF_CHECK(nothing(a.abandon(5)));
  CAF_CHECK(nothing(a.on_barrier(0, 5)));
  CAF_CHECK(!a.any_held());
  CAF_CHECK(!a.pending());
  CAF_CHECK(nothing(a.on_barrier(0, 6)));
  CAF_CHECK(snapshots(a.on_barrier(1, 6), 6));
}

CAF_TEST(protocol faults are errors) {
  barrier_aligner a{2, mode::exactly_once};
  a.on_barrier(0, 1);
  CAF_CHECK(test::throws<std::logic_error>([&] { a.on_barrier(0, 1); },
                                           "twice"));
  CAF_CHECK(test::throws<std::out_of_range>([&] { a.on_barrier(2, 1); },
                                            "channel 2"));
}
