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
