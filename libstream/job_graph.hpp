#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <typeindex>
#include <vector>

#include "libstream/config.hpp"
#include "libstream/network_output.hpp"
#include "libstream/operator.hpp"

namespace libstream {

using operator_factory = std::function<std::unique_ptr<operator_base>()>;

/// Creates the network output for records of a transformation's output type,
/// given the partitioning and the consuming operator's parallelism and max
/// parallelism (hash partitioning needs both).
using network_output_factory
    = std::function<std::unique_ptr<network_output_base>(
        partitioning, int consumer_parallelism, int consumer_max_parallelism)>;

/// Wraps the chain head so that type-erased batches from the network reach it.
using input_factory
    = std::function<std::unique_ptr<erased_input>(operator_base&)>;

enum class transformation_kind {
  source,
  one_input,
  sink,
  partition,   // virtual: sets the partitioning of the edges through it
  union_,      // virtual: merges several streams of one type
  side_output, // virtual: selects a side output of its input
};

/// A node of the logical plan, as built by the DataStream API. Typed
/// behaviour is captured in the factories; the planner sees only this.
struct transformation {
  int id = 0;
  transformation_kind kind = transformation_kind::one_input;
  std::string name;
  std::string uid;
  int parallelism = 0;     // 0 = job default
  int max_parallelism = 0; // 0 = job default
  bool non_parallel = false;
  // Unless set: the parallelism and max parallelism of the operator that
  // produced its one input (through side outputs), so that it chains to
  // it; after a partition or union, the job's defaults.
  bool parallelism_of_input = false;
  bool chaining = true;
  bool start_new_chain = false;
  bool keyed = false; // consumes a keyed stream: needs hash partitioning
  // A keyed operator that also takes a broadcast input (the broadcast
  // state pattern): broadcast edges are allowed besides hash ones.
  bool broadcast_input = false;
  std::vector<int> inputs;
  std::type_index output_type = typeid(void);
  std::type_index input_type = typeid(void);
  operator_factory make_operator;
  network_output_factory make_output;
  input_factory make_input;
  // partition nodes
  partitioning part = partitioning::forward;
  // side-output nodes
  std::string side_tag;
  std::function<void(operator_base&)> declare_side;
  // Files a source reads and the path a sink writes (a file, or with
  // parallelism > 1 a directory of part-<i> files): planning refuses a job
  // whose output is one of its inputs, or is written by two sinks.
  std::vector<std::string> files_read;
  std::string file_written;
  // Called once when the job is submitted, before any subtask runs, in the
  // submitting process (a bounded file source lists its input here, once
  // for all its subtasks).
  std::function<void()> on_submit;
  // The sink loses what it wrote before a restart (it commits only at the
  // end of the job): refused in jobs with checkpoints.
  bool lost_on_restart = false;
  // The sink publishes its output when a checkpoint completes (two-phase
  // commit): a restore from a checkpoint older than the newest completed
  // one would publish again what it published after the older one.
  bool commits_on_checkpoint = false;
  // The operator blocks its thread (a synchronous client waiting on a
  // server): the subtasks of its chain get a thread of their own instead of
  // a worker of the node's pool, which they would stall.
  bool blocking = false;
};

using transformation_ptr = std::shared_ptr<transformation>;

/// An edge between two operators after virtual nodes are resolved.
struct stream_edge {
  int producer = 0; // transformation id
  int consumer = 0; // transformation id
  std::string tag;  // side output name, "" = main output
  partitioning part = partitioning::forward;
  network_output_factory make_output;
  std::function<void(operator_base&)> declare_side;
  bool chained = false;
};

/// A chain of operators, run by one subtask actor per parallel instance.
struct job_vertex {
  int id = 0;
  std::string name;
  std::string uid; // of the head operator
  int parallelism = 1;
  int max_parallelism = default_max_parallelism;
  int head = 0; // transformation id of the chain head
  bool is_source = false;
  std::vector<int> operators; // transformation ids, head first
  std::vector<int> inputs;    // indices into job_graph::edges
  std::vector<int> outputs;   // indices into job_graph::edges
};

/// The operators of one subtask, wired: the chain head, network outputs at
/// the chain's ends, and the adapter that feeds batches from the network.
struct chain_instance {
  std::vector<std::unique_ptr<operator_base>> operators; // head first
  source_operator_base* source = nullptr;
  std::unique_ptr<erased_input> input;
  struct network_out {
    int edge;
    network_output_base* op;
  };
  std::vector<network_out> outputs;
};

/// The physical plan: operators chained into vertices, vertices connected by
/// partitioned edges. Built once per job; instantiated once per subtask.
class job_graph {
public:
  /// Plans `nodes` (ids equal to their index). Throws std::invalid_argument
  /// with a message naming the operator and what to change when the job is
  /// misconfigured.
  static job_graph plan(std::vector<transformation_ptr> nodes,
                        const execution_config& cfg);

  /// A graph from its parts, as a coordinator decodes it from a job plan:
  /// transformations without factories (no user code), edges and
  /// vertices as planned. `nodes` may have gaps (null: virtual nodes).
  /// Throws std::invalid_argument when the parts do not fit together.
  static job_graph from_parts(std::vector<transformation_ptr> nodes,
                              std::vector<stream_edge> edges,
                              std::vector<job_vertex> vertices,
                              const execution_config& cfg);

  const std::vector<job_vertex>& vertices() const noexcept { return vertices_; }
  const std::vector<stream_edge>& edges() const noexcept { return edges_; }
  const execution_config& config() const noexcept { return cfg_; }
  const transformation& node(int id) const { return *nodes_.at(id); }

  /// The vertex that consumes edge `e`, and the one that produces it.
  int consumer_vertex(int e) const { return vertex_of_.at(edges_[e].consumer); }
  int producer_vertex(int e) const { return vertex_of_.at(edges_[e].producer); }

  /// Whether every producer subtask of edge `e` sends to every consumer
  /// subtask (all but forward and rescale): then channel_targets is every
  /// consumer index in order and channel_sources every producer index, so
  /// a channel's position is the peer's index.
  bool all_to_all(int e) const;

  /// Which subtasks of the consumer subtask `producer_index` of the
  /// producer sends to over edge `e`, in channel order.
  std::vector<int> channel_targets(int e, int producer_index) const;

  /// Which producer subtasks send to consumer subtask `consumer_index` over
  /// edge `e`.
  std::vector<int> channel_sources(int e, int consumer_index) const;

  /// Creates the operators of vertex `v` for one subtask, wired together.
  chain_instance instantiate(int v) const;

  /// The highest parallelism of any vertex (slots needed with slot sharing).
  int max_vertex_parallelism() const;

  /// A readable plan: vertices, their chained operators and edges.
  std::string describe() const;

private:
  std::vector<transformation_ptr> nodes_;
  std::vector<stream_edge> edges_;
  std::vector<job_vertex> vertices_;
  std::vector<int> vertex_of_; // transformation id -> vertex id, -1 = virtual
  execution_config cfg_;
};

} // namespace libstream
