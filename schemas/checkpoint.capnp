@0xc3f1a9d27be04e51;

# The metadata of a completed checkpoint or savepoint: the `_metadata` file
# of a `chk-<n>` (or savepoint) directory, written last and atomically, so
# that a directory with a `_metadata` is complete. It names every operator
# by uid, its subtasks' key-group ranges and data files, and the source
# positions. Written and read by libstream/checkpoint/storage.cpp; the file
# wraps this message in a small header with its length and checksum.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("libstream::schema");

struct CheckpointMetadata {
  formatVersion @0 :UInt32;    # 1
  jobId @1 :Text;
  jobName @2 :Text;
  checkpointId @3 :UInt64;
  timestampMs @4 :Int64;       # when it was triggered, epoch ms
  isSavepoint @5 :Bool;
  keyHash @6 :Text;            # the key hash that placed keys in key groups
  codec @7 :Text;              # the encoding of the state
  operators @8 :List(OperatorState);
}

# The state of one operator (by uid) at the checkpoint.
struct OperatorState {
  uid @0 :Text;
  name @1 :Text;
  parallelism @2 :UInt32;
  maxParallelism @3 :UInt32;
  subtasks @4 :List(SubtaskState);
}

struct SubtaskState {
  index @0 :UInt32;
  keyGroupFirst @1 :UInt32;    # [first, last): the key groups it owned
  keyGroupLast @2 :UInt32;
  # Keyed state: a data file in the checkpoint directory holding the key
  # groups one after the other; keyGroupOffsets has one entry per key group
  # plus the end (so group g is [offsets[g-first], offsets[g-first+1])).
  keyedFile @3 :DataFile;
  keyGroupOffsets @4 :List(UInt64);
  operatorState @5 :Data;      # non-keyed (list / broadcast) state, encoded
  sourcePosition @6 :Data;     # a source's split and offset, encoded
  # The subtask had finished its input (its final non-keyed state); an
  # operator all of whose subtasks had is restored as finished.
  finished @7 :Bool;
}

struct DataFile {
  name @0 :Text;               # relative to the checkpoint directory; "" = none
  size @1 :UInt64;
  checksum @2 :UInt64;         # libstream hash_bytes of the contents
}
