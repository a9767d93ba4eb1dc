#include "libstream/job_graph.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <cstdio>
#include <thread>

#include <sys/stat.h>

namespace libstream {

std::string type_name_of(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name{
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free};
  return status == 0 && name ? std::string{name.get()} : type.name();
}

const char* to_string(partitioning p) noexcept {
  switch (p) {
    case partitioning::forward:
      return "FORWARD";
    case partitioning::rebalance:
      return "REBALANCE";
    case partitioning::rescale:
      return "RESCALE";
    case partitioning::broadcast:
      return "BROADCAST";
    case partitioning::hash:
      return "HASH";
    case partitioning::custom:
      return "CUSTOM";
  }
  return "?";
}

int effective_default_parallelism(const execution_config& cfg) {
  if (cfg.default_parallelism > 0)
    return cfg.default_parallelism;
  auto n = static_cast<int>(std::thread::hardware_concurrency());
  return std::max(1, std::min(n, cfg.max_parallelism));
}

void validate(const execution_config& cfg) {
  auto fail = [](const std::string& what) {
    throw std::invalid_argument("invalid configuration: " + what);
  };
  if (cfg.default_parallelism < 0)
    fail("parallelism must be positive (or 0 for the number of cores)");
  if (cfg.max_parallelism < 1 || cfg.max_parallelism > 32768)
    fail("max parallelism must be between 1 and 32768, got "
         + std::to_string(cfg.max_parallelism));
  if (cfg.default_parallelism > cfg.max_parallelism)
    fail("parallelism " + std::to_string(cfg.default_parallelism)
         + " exceeds max parallelism " + std::to_string(cfg.max_parallelism));
  if (cfg.buffer_timeout < 0)
    fail("buffer timeout must not be negative");
  if (cfg.batch_bytes == 0)
    fail("batch size must be positive");
  if (cfg.credits_per_channel < 1)
    fail("credits per channel must be at least 1");
  if (cfg.auto_watermark_interval <= 0)
    fail("the auto-watermark interval must be positive");
  if (cfg.nodes < 1)
    fail("the mini-cluster needs at least one node");
  if (cfg.slots_per_node < 0)
    fail("slots per node must not be negative");
  if (cfg.worker_threads < 0)
    fail("worker threads must not be negative (0 = the number of cores)");
  if (cfg.network_memory < (size_t{1} << 20))
    fail("network memory must be at least 1 MiB, got "
         + std::to_string(cfg.network_memory) + " bytes");
  if (cfg.restarts)
    cfg.restarts->validate();
  auto& cp = cfg.checkpointing;
  if (cp.interval < 0)
    fail("the checkpoint interval must not be negative");
  if (cp.interval > 0 && cp.dir.empty())
    fail("checkpoints need a checkpoint directory");
  if (cp.timeout <= 0 || cp.min_pause < 0 || cp.max_concurrent < 1
      || cp.tolerable_failures < 0 || cp.retained < 1)
    fail("checkpoint timeout must be positive, min pause not negative, max "
         "concurrent and retained at least 1, tolerable failures not "
         "negative");
}

namespace {

bool is_virtual(const transformation& t) {
  return t.kind == transformation_kind::partition
         || t.kind == transformation_kind::union_
         || t.kind == transformation_kind::side_output;
}

std::string label(const transformation& t) {
  return "operator '" + t.name + "' (id " + std::to_string(t.id) + ")";
}

struct resolved_input {
  int producer;
  std::string tag;
  std::optional<partitioning> part;
  // Builds the edge's network output: the factory of the partition node
  // that chose `part` (it knows the key for hash and custom partitioning),
  // else of the side-output node, else of the producer.
  network_output_factory make_output;
  std::function<void(operator_base&)> declare_side;
};

/// Walks from a consumer's input through virtual nodes to the producing
/// operators. The partition node nearest the consumer decides the
/// partitioning, and its factory builds the network output.
void resolve(const std::vector<transformation_ptr>& nodes, int id,
             std::optional<partitioning> part, network_output_factory factory,
             std::string tag, std::function<void(operator_base&)> declare,
             std::vector<resolved_input>& out) {
  auto& t = *nodes.at(id);
  switch (t.kind) {
    case transformation_kind::partition:
      if (part)
        resolve(nodes, t.inputs.at(0), part, factory, tag, declare, out);
      else
        resolve(nodes, t.inputs.at(0), t.part, t.make_output, tag, declare,
                out);
      break;
    case transformation_kind::union_:
      for (auto in : t.inputs)
        resolve(nodes, in, part, factory, tag, declare, out);
      break;
    case transformation_kind::side_output:
      // What flows is the side output's type: its node's factory serves
      // unless a partition node nearer the consumer chose one.
      resolve(nodes, t.inputs.at(0), part, factory ? factory : t.make_output,
              t.side_tag, t.declare_side, out);
      break;
    default:
      if (!factory)
        factory = t.make_output; // a default edge of the producer's type
      out.push_back(resolved_input{id, tag, part, factory, declare});
  }
}

/// What identifies a file on this machine: device and inode when it
/// exists; otherwise the parent directory's and the name (so that two
/// paths to one new file compare equal too).
struct file_id {
  dev_t dev = 0;
  ino_t ino = 0;
  std::string name; // empty when the file exists
  bool known = false;
  bool device = false; // a device, pipe or socket: shared without harm

  friend bool operator==(const file_id& x, const file_id& y) {
    return x.known && y.known && x.dev == y.dev && x.ino == y.ino
           && x.name == y.name;
  }
};

file_id identify(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0)
    return {st.st_dev, st.st_ino, "", true,
            !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)};
  auto slash = path.rfind('/');
  auto dir = slash == std::string::npos ? std::string{"."}
                                        : path.substr(0, slash == 0 ? 1 : slash);
  auto name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (::stat(dir.c_str(), &st) == 0)
    return {st.st_dev, st.st_ino, name, true, false};
  return {};
}

/// Refuses a job that would overwrite one of its inputs, or write one
/// file from two sinks: compares the files, not the path strings.
void check_files(const std::vector<transformation_ptr>& ns,
                 const std::map<int, int>& par) {
  struct input {
    const transformation* t;
    std::string path;
    file_id id;
  };
  std::vector<input> inputs;
  for (auto& t : ns)
    for (auto& path : t->files_read)
      inputs.push_back({t.get(), path, identify(path)});
  struct output {
    const transformation* t;
    std::string path;
    file_id id;
  };
  std::vector<output> outputs;
  for (auto& t : ns) {
    if (t->file_written.empty())
      continue;
    auto p = par.count(t->id) ? par.at(t->id) : 1;
    if (p == 1) {
      outputs.push_back({t.get(), t->file_written, identify(t->file_written)});
    } else {
      outputs.push_back({t.get(), t->file_written, identify(t->file_written)});
      for (int i = 0; i < p; ++i) {
        auto part = t->file_written + "/part-" + std::to_string(i);
        outputs.push_back({t.get(), part, identify(part)});
      }
    }
  }
  for (auto& out : outputs) {
    if (out.id.device)
      continue; // /dev/null twice, or an input device: nothing is replaced
    for (auto& in : inputs)
      if (out.id == in.id)
        throw std::invalid_argument(
            label(*out.t) + " would write '" + out.path + "', which is the "
            + "input file '" + in.path + "' of " + label(*in.t)
            + ": the input would be destroyed; choose another output path");
    for (auto& other : outputs)
      if (&other != &out && other.t != out.t && other.id == out.id)
        throw std::invalid_argument(
            label(*out.t) + " and " + label(*other.t) + " would both write '"
            + out.path + "'" + (out.path != other.path
                                    ? " (also named '" + other.path + "')"
                                    : std::string{})
            + ": give each output its own path");
  }
}

} // namespace

job_graph job_graph::plan(std::vector<transformation_ptr> nodes,
                          const execution_config& cfg) {
  validate(cfg);
  job_graph g;
  g.cfg_ = cfg;
  g.nodes_ = std::move(nodes);
  auto& ns = g.nodes_;
  auto default_p = effective_default_parallelism(cfg);
  // Resolve parallelism and check the operators.
  std::map<int, int> par;
  std::map<int, int> max_par;
  std::map<std::string, int> uids;
  bool any_physical = false;
  for (size_t i = 0; i < ns.size(); ++i) {
    auto& t = *ns[i];
    if (t.id != static_cast<int>(i))
      throw std::logic_error("transformation ids must equal their index");
    if (is_virtual(t))
      continue;
    any_physical = true;
    auto mp = t.max_parallelism > 0 ? t.max_parallelism : cfg.max_parallelism;
    auto p = t.parallelism > 0 ? t.parallelism
                               : (t.non_parallel ? 1 : std::min(default_p, mp));
    if (t.parallelism_of_input && t.inputs.size() == 1) {
      // Inputs have lower ids: resolved already.
      auto in = t.inputs[0];
      while (ns[static_cast<size_t>(in)]->kind
                 == transformation_kind::side_output
             && ns[static_cast<size_t>(in)]->inputs.size() == 1)
        in = ns[static_cast<size_t>(in)]->inputs[0];
      if (auto found = par.find(in); found != par.end()) {
        if (t.max_parallelism == 0)
          mp = max_par[in];
        if (t.parallelism == 0)
          p = found->second;
      }
    }
    if (t.non_parallel && p != 1)
      throw std::invalid_argument(label(t)
                                  + " is non-parallel; its parallelism "
                                    "must be 1, not "
                                  + std::to_string(p));
    if (p > mp)
      throw std::invalid_argument(
          label(t) + ": parallelism " + std::to_string(p)
          + " exceeds max parallelism " + std::to_string(mp)
          + "; lower the parallelism or raise the max parallelism");
    if (!t.uid.empty()) {
      auto [i, added] = uids.emplace(t.uid, t.id);
      if (!added)
        throw std::invalid_argument("uid '" + t.uid + "' is used by "
                                    + label(*ns[static_cast<size_t>(i->second)])
                                    + " and " + label(t)
                                    + "; uids must be unique in a job");
    }
    par[t.id] = p;
    max_par[t.id] = mp;
  }
  if (!any_physical)
    throw std::invalid_argument("the job has no operators: add a source and "
                                "a sink before execute()");
  // Operators without a uid get one from their place in the job (as
  // Flink generates them): the same program gives the same uids, so a
  // restored job finds its state. Changing the program before an operator
  // changes its generated uid: set uids on stateful operators.
  for (auto& tp : ns) {
    auto& t = *tp;
    if (is_virtual(t) || !t.uid.empty())
      continue;
    uint64_t h = hash_bytes(t.name.data(), t.name.size());
    h = combine_hash(h, static_cast<uint64_t>(t.id));
    h = combine_hash(h, static_cast<uint64_t>(t.kind));
    for (auto in : t.inputs)
      h = combine_hash(h, static_cast<uint64_t>(in));
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016llx",
                  static_cast<unsigned long long>(h));
    t.uid = std::string{"auto-"} + buf;
  }
  check_files(ns, par);
  if (cfg.checkpointing.interval > 0)
    for (auto& tp : ns)
      if (tp->lost_on_restart)
        throw std::invalid_argument(
            label(*tp) + " writes its file when the job ends and would lose "
            "what it wrote before a restart from a checkpoint: use "
            "sink_to_files (exactly-once part files) in a job with "
            "checkpoints");
  // Resolve edges through virtual nodes.
  std::map<int, int> inputs_of;
  std::set<int> has_consumer;
  for (auto& tp : ns) {
    auto& t = *tp;
    if (is_virtual(t) || t.kind == transformation_kind::source)
      continue;
    std::vector<resolved_input> ins;
    for (auto in : t.inputs)
      resolve(ns, in, std::nullopt, nullptr, "", nullptr, ins);
    if (ins.empty())
      throw std::invalid_argument(label(t) + " has no input");
    for (auto& ri : ins) {
      auto& prod = *ns[ri.producer];
      stream_edge e;
      e.producer = ri.producer;
      e.consumer = t.id;
      e.tag = ri.tag;
      e.declare_side = ri.declare_side;
      auto same = par[e.producer] == par[e.consumer];
      e.part = ri.part
                   ? *ri.part
                   : (same ? partitioning::forward : partitioning::rebalance);
      if (e.part == partitioning::forward && !same)
        throw std::invalid_argument(
            "forward partitioning from " + label(prod) + " (parallelism "
            + std::to_string(par[e.producer]) + ") to " + label(t)
            + " (parallelism " + std::to_string(par[e.consumer])
            + ") is impossible; use rebalance() or equal parallelism");
      if (t.keyed && e.part != partitioning::hash
          && !(t.broadcast_input && e.part == partitioning::broadcast))
        throw std::invalid_argument(label(t)
                                    + " needs a keyed input: call "
                                      "key_by() before it");
      e.make_output = ri.make_output;
      g.edges_.push_back(std::move(e));
      has_consumer.insert(ri.producer);
    }
    inputs_of[t.id] = static_cast<int>(ins.size());
  }
  for (auto& tp : ns) {
    auto& t = *tp;
    if (!is_virtual(t) && t.kind != transformation_kind::sink
        && !has_consumer.count(t.id))
      throw std::invalid_argument(label(t)
                                  + " has no consumer: every stream "
                                    "must end in a sink");
  }
  // Chaining.
  for (auto& e : g.edges_) {
    auto& prod = *ns[e.producer];
    auto& cons = *ns[e.consumer];
    e.chained = e.part == partitioning::forward && inputs_of[e.consumer] == 1
                && par[e.producer] == par[e.consumer] && prod.chaining
                && cons.chaining && !cons.start_new_chain;
  }
  // Vertices: every operator without a chained input heads one.
  g.vertex_of_.assign(ns.size(), -1);
  for (auto& tp : ns) {
    auto& t = *tp;
    if (is_virtual(t))
      continue;
    const stream_edge* chained_in = nullptr;
    for (auto& e : g.edges_)
      if (e.consumer == t.id && e.chained)
        chained_in = &e;
    if (chained_in != nullptr) {
      auto v = g.vertex_of_[chained_in->producer];
      g.vertex_of_[t.id] = v;
      auto& vx = g.vertices_[static_cast<size_t>(v)];
      vx.operators.push_back(t.id);
      vx.name += " -> " + t.name;
      continue;
    }
    job_vertex vx;
    vx.id = static_cast<int>(g.vertices_.size());
    vx.name = t.name;
    vx.uid = t.uid;
    vx.parallelism = par[t.id];
    vx.max_parallelism = max_par[t.id];
    vx.head = t.id;
    vx.is_source = t.kind == transformation_kind::source;
    vx.operators.push_back(t.id);
    g.vertex_of_[t.id] = vx.id;
    g.vertices_.push_back(std::move(vx));
  }
  for (size_t i = 0; i < g.edges_.size(); ++i) {
    auto& e = g.edges_[i];
    if (e.chained)
      continue;
    g.vertices_[static_cast<size_t>(g.vertex_of_[e.producer])]
        .outputs.push_back(static_cast<int>(i));
    g.vertices_[static_cast<size_t>(g.vertex_of_[e.consumer])].inputs.push_back(
        static_cast<int>(i));
  }
  return g;
}

job_graph job_graph::from_parts(std::vector<transformation_ptr> nodes,
                                std::vector<stream_edge> edges,
                                std::vector<job_vertex> vertices,
                                const execution_config& cfg) {
  auto bad = [](const std::string& what) {
    return std::invalid_argument("inconsistent job graph: " + what);
  };
  job_graph g;
  g.cfg_ = cfg;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!nodes[i]) {
      // A virtual node of the submitter's program: never an edge end.
      nodes[i] = std::make_shared<transformation>();
      nodes[i]->id = static_cast<int>(i);
      nodes[i]->kind = transformation_kind::partition;
    } else if (nodes[i]->id != static_cast<int>(i)) {
      throw bad("operator " + std::to_string(nodes[i]->id) + " at index "
                + std::to_string(i));
    }
  }
  auto n = static_cast<int>(nodes.size());
  g.vertex_of_.assign(nodes.size(), -1);
  for (size_t v = 0; v < vertices.size(); ++v) {
    auto& vx = vertices[v];
    if (vx.id != static_cast<int>(v))
      throw bad("vertex " + std::to_string(vx.id) + " at index "
                + std::to_string(v));
    if (vx.parallelism < 1 || vx.parallelism > vx.max_parallelism)
      throw bad("vertex " + std::to_string(v) + " has parallelism "
                + std::to_string(vx.parallelism) + " (max "
                + std::to_string(vx.max_parallelism) + ")");
    if (vx.operators.empty() || vx.operators.front() != vx.head)
      throw bad("vertex " + std::to_string(v) + " does not start with its head");
    for (int id : vx.operators) {
      if (id < 0 || id >= n || g.vertex_of_[static_cast<size_t>(id)] != -1)
        throw bad("vertex " + std::to_string(v) + " names operator "
                  + std::to_string(id));
      g.vertex_of_[static_cast<size_t>(id)] = static_cast<int>(v);
    }
  }
  for (size_t e = 0; e < edges.size(); ++e) {
    auto& edge = edges[e];
    for (int end : {edge.producer, edge.consumer})
      if (end < 0 || end >= n || g.vertex_of_[static_cast<size_t>(end)] < 0)
        throw bad("edge " + std::to_string(e) + " ends at operator "
                  + std::to_string(end) + ", which is in no vertex");
  }
  // Every network edge is an output of its producer's vertex and an input
  // of its consumer's, exactly once; chained edges stay inside a vertex.
  std::vector<int> as_output(edges.size(), 0), as_input(edges.size(), 0);
  for (auto& vx : vertices) {
    for (int e : vx.outputs) {
      if (e < 0 || e >= static_cast<int>(edges.size())
          || edges[static_cast<size_t>(e)].chained
          || g.vertex_of_[static_cast<size_t>(edges[static_cast<size_t>(e)]
                                                  .producer)]
                 != vx.id)
        throw bad("vertex " + std::to_string(vx.id) + " names output edge "
                  + std::to_string(e));
      ++as_output[static_cast<size_t>(e)];
    }
    for (int e : vx.inputs) {
      if (e < 0 || e >= static_cast<int>(edges.size())
          || edges[static_cast<size_t>(e)].chained
          || g.vertex_of_[static_cast<size_t>(edges[static_cast<size_t>(e)]
                                                  .consumer)]
                 != vx.id)
        throw bad("vertex " + std::to_string(vx.id) + " names input edge "
                  + std::to_string(e));
      ++as_input[static_cast<size_t>(e)];
    }
    if (vx.is_source != vx.inputs.empty())
      throw bad("vertex " + std::to_string(vx.id)
                + (vx.is_source ? " is a source with inputs"
                                : " has no inputs but is no source"));
  }
  for (size_t e = 0; e < edges.size(); ++e) {
    auto& edge = edges[e];
    auto pv = g.vertex_of_[static_cast<size_t>(edge.producer)];
    auto cv = g.vertex_of_[static_cast<size_t>(edge.consumer)];
    if (edge.chained) {
      if (pv != cv)
        throw bad("chained edge " + std::to_string(e) + " joins two vertices");
      continue;
    }
    if (as_output[e] != 1 || as_input[e] != 1)
      throw bad("edge " + std::to_string(e)
                + " is not one vertex's output and one vertex's input");
    auto pp = vertices[static_cast<size_t>(pv)].parallelism;
    auto pc = vertices[static_cast<size_t>(cv)].parallelism;
    if (edge.part == partitioning::forward && pp != pc)
      throw bad("forward edge " + std::to_string(e)
                + " between different parallelisms");
  }
  g.nodes_ = std::move(nodes);
  g.edges_ = std::move(edges);
  g.vertices_ = std::move(vertices);
  return g;
}

bool job_graph::all_to_all(int e) const {
  auto part = edges_.at(static_cast<size_t>(e)).part;
  return part != partitioning::forward && part != partitioning::rescale;
}

std::vector<int> job_graph::channel_targets(int e, int i) const {
  auto& edge = edges_.at(static_cast<size_t>(e));
  auto pp = vertices_[static_cast<size_t>(producer_vertex(e))].parallelism;
  auto pc = vertices_[static_cast<size_t>(consumer_vertex(e))].parallelism;
  std::vector<int> result;
  switch (edge.part) {
    case partitioning::forward:
      result.push_back(i);
      break;
    case partitioning::rescale:
      if (pc >= pp) {
        for (int j = 0; j < pc; ++j)
          if (static_cast<int64_t>(j) * pp / pc == i)
            result.push_back(j);
      } else {
        result.push_back(static_cast<int>(static_cast<int64_t>(i) * pc / pp));
      }
      break;
    default: // all_to_all(e)
      for (int j = 0; j < pc; ++j)
        result.push_back(j);
  }
  return result;
}

std::vector<int> job_graph::channel_sources(int e, int j) const {
  // The inverse of channel_targets, computed directly: wiring asks it for
  // every consumer subtask, and at parallelism 128 scanning every
  // producer's targets made placement cubic.
  auto& edge = edges_.at(static_cast<size_t>(e));
  auto pp = vertices_[static_cast<size_t>(producer_vertex(e))].parallelism;
  auto pc = vertices_[static_cast<size_t>(consumer_vertex(e))].parallelism;
  std::vector<int> result;
  switch (edge.part) {
    case partitioning::forward:
      result.push_back(j);
      break;
    case partitioning::rescale:
      if (pc >= pp) {
        result.push_back(static_cast<int>(static_cast<int64_t>(j) * pp / pc));
      } else {
        for (int i = 0; i < pp; ++i)
          if (static_cast<int64_t>(i) * pc / pp == j)
            result.push_back(i);
      }
      break;
    default: // all_to_all(e)
      result.reserve(static_cast<size_t>(pp));
      for (int i = 0; i < pp; ++i)
        result.push_back(i);
  }
  return result;
}

chain_instance job_graph::instantiate(int v) const {
  auto& vx = vertices_.at(static_cast<size_t>(v));
  chain_instance ci;
  std::map<int, operator_base*> by_id;
  for (auto id : vx.operators) {
    auto& t = *nodes_[static_cast<size_t>(id)];
    auto op = t.make_operator();
    if (!op)
      throw std::logic_error(label(t) + " has no operator factory");
    by_id[id] = op.get();
    ci.operators.push_back(std::move(op));
  }
  auto& head = *nodes_[static_cast<size_t>(vx.head)];
  auto* head_op = by_id[vx.head];
  if (vx.is_source) {
    ci.source = dynamic_cast<source_operator_base*>(head_op);
    if (ci.source == nullptr)
      throw std::logic_error(label(head) + " is not a source operator");
  } else {
    ci.input = head.make_input(*head_op);
  }
  for (size_t i = 0; i < edges_.size(); ++i) {
    auto& e = edges_[i];
    if (!by_id.count(e.producer))
      continue;
    auto* prod = by_id[e.producer];
    if (e.declare_side)
      e.declare_side(*prod);
    if (e.chained) {
      prod->connect(e.tag, *by_id.at(e.consumer));
      continue;
    }
    auto& cv = vertices_[static_cast<size_t>(vertex_of_[e.consumer])];
    auto out = e.make_output(e.part, cv.parallelism, cv.max_parallelism);
    prod->connect(e.tag, *out);
    ci.outputs.push_back({static_cast<int>(i), out.get()});
    ci.operators.push_back(std::move(out));
  }
  return ci;
}

int job_graph::max_vertex_parallelism() const {
  int result = 1;
  for (auto& v : vertices_)
    result = std::max(result, v.parallelism);
  return result;
}

std::string job_graph::describe() const {
  std::ostringstream os;
  for (auto& v : vertices_) {
    os << "vertex " << v.id << ": " << v.name << " (parallelism "
       << v.parallelism << ")\n";
    for (auto e : v.outputs) {
      auto& edge = edges_[static_cast<size_t>(e)];
      os << "  -> vertex " << consumer_vertex(e) << " " << to_string(edge.part);
      if (!edge.tag.empty())
        os << " [side output " << edge.tag << "]";
      os << "\n";
    }
  }
  return os.str();
}

} // namespace libstream
