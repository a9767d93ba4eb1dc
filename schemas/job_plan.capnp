@0xad4614f21060c523;

# The physical plan of a job: its chains (vertices) and the partitioned edges
# between them. This is what a coordinator needs to place and wire subtasks;
# the operators' code travels separately (the application module). Written
# by libstream/plan_codec.cpp from a job_graph.

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("libstream::schema");

struct JobPlan {
  name @0 :Text;
  maxParallelism @1 :UInt32;   # the job default
  bufferTimeoutMs @2 :Int64;
  vertices @3 :List(Vertex);
  edges @4 :List(Edge);
  # The whole topology (see below); absent in plans of older writers.
  operators @5 :List(OperatorNode);
  graphEdges @6 :List(GraphEdge);
  topology @7 :List(VertexTopology); # per vertex, in vertex order
  config @8 :ExecutionConfig;
  fingerprint @9 :Text;        # plan_fingerprint of the submitted graph
}

# A chain of operators, run by `parallelism` subtasks.
struct Vertex {
  id @0 :UInt32;
  name @1 :Text;               # "A -> B -> C": the chained operators
  uid @2 :Text;                # of the chain head; empty if none was set
  parallelism @3 :UInt32;
  maxParallelism @4 :UInt32;   # number of key groups
  isSource @5 :Bool;
  operators @6 :List(Operator);
}

struct Operator {
  name @0 :Text;
  uid @1 :Text;
}

enum Partitioning {
  forward @0;
  rebalance @1;
  rescale @2;
  broadcast @3;
  hash @4;
  custom @5;
}

struct Edge {
  producer @0 :UInt32;         # vertex id
  consumer @1 :UInt32;         # vertex id
  partitioning @2 :Partitioning;
  sideOutput @3 :Text;         # empty for the main output
}

# -- the whole topology, for a cluster coordinator -------------------------------
# A coordinator rebuilds a closure-free job graph from these (no user code):
# every operator with its id, every edge (chained ones too) with its index,
# and the job's settings. Nodes rebuild the same graph from the app module
# and check it against `fingerprint`.

struct OperatorNode {
  id @0 :UInt32;               # transformation id
  name @1 :Text;
  uid @2 :Text;
  inputType @3 :Text;          # record types (mangled names)
  outputType @4 :Text;
  commitsOnCheckpoint @5 :Bool; # a two-phase-commit sink
  lostOnRestart @6 :Bool;
}

struct GraphEdge {
  producer @0 :UInt32;         # transformation ids
  consumer @1 :UInt32;
  partitioning @2 :Partitioning;
  tag @3 :Text;                # side output, empty for the main output
  chained @4 :Bool;
}

struct VertexTopology {
  head @0 :UInt32;             # transformation id of the chain head
  operators @1 :List(UInt32);  # transformation ids, head first
  inputs @2 :List(UInt32);     # edge indices
  outputs @3 :List(UInt32);
}

struct RestartStrategy {
  kind @0 :UInt8;              # 0 none, 1 fixed delay, 2 backoff, 3 rate
  maxAttempts @1 :Int32;
  delayMs @2 :Int64;
  maxDelayMs @3 :Int64;
  multiplier @4 :Float64;
  resetThresholdMs @5 :Int64;
  jitter @6 :Float64;
  maxFailures @7 :Int32;
  intervalMs @8 :Int64;
}

struct ExecutionConfig {
  defaultParallelism @0 :Int32;
  maxParallelism @1 :Int32;
  bufferTimeoutMs @2 :Int64;
  batchBytes @3 :UInt64;
  creditsPerChannel @4 :Int32;
  autoWatermarkIntervalMs @5 :Int64;
  cancellationTimeoutMs @6 :Int64;
  checkpointIntervalMs @7 :Int64;
  checkpointDir @8 :Text;
  exactlyOnce @9 :Bool;
  checkpointTimeoutMs @10 :Int64;
  minPauseMs @11 :Int64;
  maxConcurrent @12 :Int32;
  tolerableFailures @13 :Int32;
  retained @14 :Int32;
  restoreFrom @15 :Text;
  allowNonRestoredState @16 :Bool;
  stateBackend @17 :UInt8;     # 0 memory, 1 leveldb
  stateDir @18 :Text;
  stateCacheEntries @19 :UInt64;
  hasRestarts @20 :Bool;       # else the default for the checkpoint setting
  restarts @21 :RestartStrategy;
  networkMemory @22 :UInt64;
}
