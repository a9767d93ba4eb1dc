#include "libstream/plan_codec.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include "libstream/app.hpp"
#include "libstream/schema/job_plan.capnp.h"

namespace libstream {

namespace {

schema::Partitioning to_schema(partitioning p) {
  switch (p) {
    case partitioning::forward:
      return schema::Partitioning::FORWARD;
    case partitioning::rebalance:
      return schema::Partitioning::REBALANCE;
    case partitioning::rescale:
      return schema::Partitioning::RESCALE;
    case partitioning::broadcast:
      return schema::Partitioning::BROADCAST;
    case partitioning::hash:
      return schema::Partitioning::HASH;
    case partitioning::custom:
      return schema::Partitioning::CUSTOM;
  }
  throw std::logic_error("unknown partitioning");
}

partitioning from_schema(schema::Partitioning p) {
  switch (p) {
    case schema::Partitioning::FORWARD:
      return partitioning::forward;
    case schema::Partitioning::REBALANCE:
      return partitioning::rebalance;
    case schema::Partitioning::RESCALE:
      return partitioning::rescale;
    case schema::Partitioning::BROADCAST:
      return partitioning::broadcast;
    case schema::Partitioning::HASH:
      return partitioning::hash;
    case schema::Partitioning::CUSTOM:
      return partitioning::custom;
  }
  throw std::runtime_error("invalid job plan: unknown partitioning "
                           + std::to_string(static_cast<int>(p)));
}

void write_config(schema::ExecutionConfig::Builder out,
                  const execution_config& c) {
  out.setDefaultParallelism(c.default_parallelism);
  out.setMaxParallelism(c.max_parallelism);
  out.setBufferTimeoutMs(c.buffer_timeout);
  out.setBatchBytes(c.batch_bytes);
  out.setCreditsPerChannel(c.credits_per_channel);
  out.setAutoWatermarkIntervalMs(c.auto_watermark_interval);
  out.setCancellationTimeoutMs(c.cancellation_timeout);
  auto& cp = c.checkpointing;
  out.setCheckpointIntervalMs(cp.interval);
  out.setCheckpointDir(cp.dir);
  out.setExactlyOnce(cp.mode == checkpointing_mode::exactly_once);
  out.setCheckpointTimeoutMs(cp.timeout);
  out.setMinPauseMs(cp.min_pause);
  out.setMaxConcurrent(cp.max_concurrent);
  out.setTolerableFailures(cp.tolerable_failures);
  out.setRetained(cp.retained);
  out.setRestoreFrom(cp.restore_from);
  out.setAllowNonRestoredState(cp.allow_non_restored_state);
  out.setStateBackend(c.state_backend.kind == state_backend_kind::leveldb ? 1
                                                                          : 0);
  out.setStateDir(c.state_backend.dir);
  out.setStateCacheEntries(c.state_backend.cache_entries);
  out.setNetworkMemory(c.network_memory);
  out.setHasRestarts(c.restarts.has_value());
  if (c.restarts) {
    auto r = out.initRestarts();
    auto& x = *c.restarts;
    r.setKind(static_cast<uint8_t>(x.type));
    r.setMaxAttempts(x.max_attempts);
    r.setDelayMs(x.delay);
    r.setMaxDelayMs(x.max_delay);
    r.setMultiplier(x.multiplier);
    r.setResetThresholdMs(x.reset_threshold);
    r.setJitter(x.jitter);
    r.setMaxFailures(x.max_failures);
    r.setIntervalMs(x.interval);
  }
}

execution_config read_config(schema::ExecutionConfig::Reader in) {
  execution_config c;
  c.default_parallelism = in.getDefaultParallelism();
  c.max_parallelism = in.getMaxParallelism();
  c.buffer_timeout = in.getBufferTimeoutMs();
  c.batch_bytes = static_cast<size_t>(in.getBatchBytes());
  c.credits_per_channel = in.getCreditsPerChannel();
  c.auto_watermark_interval = in.getAutoWatermarkIntervalMs();
  c.cancellation_timeout = in.getCancellationTimeoutMs();
  auto& cp = c.checkpointing;
  cp.interval = in.getCheckpointIntervalMs();
  cp.dir = in.getCheckpointDir();
  cp.mode = in.getExactlyOnce() ? checkpointing_mode::exactly_once
                                : checkpointing_mode::at_least_once;
  cp.timeout = in.getCheckpointTimeoutMs();
  cp.min_pause = in.getMinPauseMs();
  cp.max_concurrent = in.getMaxConcurrent();
  cp.tolerable_failures = in.getTolerableFailures();
  cp.retained = in.getRetained();
  cp.restore_from = in.getRestoreFrom();
  cp.allow_non_restored_state = in.getAllowNonRestoredState();
  c.state_backend.kind = in.getStateBackend() == 1 ? state_backend_kind::leveldb
                                                   : state_backend_kind::memory;
  c.state_backend.dir = in.getStateDir();
  c.state_backend.cache_entries = static_cast<size_t>(in.getStateCacheEntries());
  c.network_memory = static_cast<size_t>(in.getNetworkMemory());
  if (in.getHasRestarts()) {
    auto r = in.getRestarts();
    restart_strategy x;
    if (r.getKind() > 3)
      throw std::runtime_error("invalid job plan: unknown restart strategy "
                               + std::to_string(r.getKind()));
    x.type = static_cast<restart_strategy::kind>(r.getKind());
    x.max_attempts = r.getMaxAttempts();
    x.delay = r.getDelayMs();
    x.max_delay = r.getMaxDelayMs();
    x.multiplier = r.getMultiplier();
    x.reset_threshold = r.getResetThresholdMs();
    x.jitter = r.getJitter();
    x.max_failures = r.getMaxFailures();
    x.interval = r.getIntervalMs();
    c.restarts = x;
  }
  return c;
}

kj::Array<capnp::word> aligned_words(const std::string& bytes) {
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0)
    throw std::runtime_error("invalid job plan: " + std::to_string(bytes.size())
                             + " bytes is not a whole number of 8-byte words");
  // Copy into word-aligned storage: std::string gives no alignment promise.
  kj::Array<capnp::word> words
      = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words.begin(), bytes.data(), bytes.size());
  return words;
}

} // namespace

decoded_graph decode_job_graph(const std::string& bytes) {
  auto words = aligned_words(bytes);
  try {
    capnp::FlatArrayMessageReader reader{words};
    auto plan = reader.getRoot<schema::JobPlan>();
    if (!plan.hasConfig() || plan.getTopology().size() != plan.getVertices().size())
      throw std::runtime_error("invalid job plan: it has no topology (written "
                               "by an older libstream?)");
    decoded_graph result;
    result.name = plan.getName();
    result.fingerprint = plan.getFingerprint();
    size_t n = 0;
    for (auto op : plan.getOperators())
      n = std::max(n, static_cast<size_t>(op.getId()) + 1);
    for (auto e : plan.getGraphEdges())
      n = std::max({n, static_cast<size_t>(e.getProducer()) + 1,
                    static_cast<size_t>(e.getConsumer()) + 1});
    if (n > 1000000)
      throw std::runtime_error("invalid job plan: operator ids up to "
                               + std::to_string(n));
    std::vector<transformation_ptr> nodes(n);
    for (auto op : plan.getOperators()) {
      auto t = std::make_shared<transformation>();
      t->id = static_cast<int>(op.getId());
      if (nodes[static_cast<size_t>(t->id)])
        throw std::runtime_error("invalid job plan: operator "
                                 + std::to_string(t->id) + " twice");
      t->name = op.getName();
      t->uid = op.getUid();
      t->commits_on_checkpoint = op.getCommitsOnCheckpoint();
      t->lost_on_restart = op.getLostOnRestart();
      nodes[static_cast<size_t>(t->id)] = std::move(t);
    }
    std::vector<stream_edge> edges;
    for (auto e : plan.getGraphEdges()) {
      stream_edge x;
      x.producer = static_cast<int>(e.getProducer());
      x.consumer = static_cast<int>(e.getConsumer());
      x.part = from_schema(e.getPartitioning());
      x.tag = e.getTag();
      x.chained = e.getChained();
      edges.push_back(std::move(x));
    }
    std::vector<job_vertex> vertices;
    auto vs = plan.getVertices();
    auto topo = plan.getTopology();
    for (unsigned i = 0; i < vs.size(); ++i) {
      auto v = vs[i];
      auto t = topo[i];
      job_vertex x;
      x.id = static_cast<int>(v.getId());
      x.name = v.getName();
      x.uid = v.getUid();
      x.parallelism = static_cast<int>(v.getParallelism());
      x.max_parallelism = static_cast<int>(v.getMaxParallelism());
      x.is_source = v.getIsSource();
      x.head = static_cast<int>(t.getHead());
      for (auto id : t.getOperators())
        x.operators.push_back(static_cast<int>(id));
      for (auto e : t.getInputs())
        x.inputs.push_back(static_cast<int>(e));
      for (auto e : t.getOutputs())
        x.outputs.push_back(static_cast<int>(e));
      vertices.push_back(std::move(x));
    }
    auto cfg = read_config(plan.getConfig());
    try {
      validate(cfg);
      result.graph = std::make_shared<const job_graph>(job_graph::from_parts(
          std::move(nodes), std::move(edges), std::move(vertices), cfg));
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(std::string{"invalid job plan: "} + e.what());
    }
    return result;
  } catch (const kj::Exception& e) {
    throw std::runtime_error("invalid job plan: "
                             + std::string{e.getDescription().cStr()});
  }
}

std::string encode_job_plan(const job_graph& g, const std::string& job_name) {
  capnp::MallocMessageBuilder message;
  auto plan = message.initRoot<schema::JobPlan>();
  plan.setName(job_name);
  plan.setMaxParallelism(static_cast<uint32_t>(g.config().max_parallelism));
  plan.setBufferTimeoutMs(g.config().buffer_timeout);
  auto& vs = g.vertices();
  auto vertices = plan.initVertices(static_cast<unsigned>(vs.size()));
  for (size_t i = 0; i < vs.size(); ++i) {
    auto& v = vs[i];
    auto out = vertices[static_cast<unsigned>(i)];
    out.setId(static_cast<uint32_t>(v.id));
    out.setName(v.name);
    out.setUid(v.uid);
    out.setParallelism(static_cast<uint32_t>(v.parallelism));
    out.setMaxParallelism(static_cast<uint32_t>(v.max_parallelism));
    out.setIsSource(v.is_source);
    auto ops = out.initOperators(static_cast<unsigned>(v.operators.size()));
    for (size_t k = 0; k < v.operators.size(); ++k) {
      auto& t = g.node(v.operators[k]);
      ops[static_cast<unsigned>(k)].setName(t.name);
      ops[static_cast<unsigned>(k)].setUid(t.uid);
    }
  }
  std::vector<int> network_edges;
  for (size_t e = 0; e < g.edges().size(); ++e)
    if (!g.edges()[e].chained)
      network_edges.push_back(static_cast<int>(e));
  auto edges = plan.initEdges(static_cast<unsigned>(network_edges.size()));
  for (size_t i = 0; i < network_edges.size(); ++i) {
    auto e = network_edges[i];
    auto& edge = g.edges()[static_cast<size_t>(e)];
    auto out = edges[static_cast<unsigned>(i)];
    out.setProducer(static_cast<uint32_t>(g.producer_vertex(e)));
    out.setConsumer(static_cast<uint32_t>(g.consumer_vertex(e)));
    out.setPartitioning(to_schema(edge.part));
    out.setSideOutput(edge.tag);
  }
  // The whole topology and the settings, for a cluster coordinator.
  size_t n = 0;
  for (auto& vx : vs)
    for (int id : vx.operators)
      n = std::max(n, static_cast<size_t>(id) + 1);
  std::vector<const transformation*> ops;
  for (auto& vx : vs)
    for (int id : vx.operators)
      ops.push_back(&g.node(id));
  auto on = plan.initOperators(static_cast<unsigned>(ops.size()));
  for (size_t i = 0; i < ops.size(); ++i) {
    auto& t = *ops[i];
    auto out = on[static_cast<unsigned>(i)];
    out.setId(static_cast<uint32_t>(t.id));
    out.setName(t.name);
    out.setUid(t.uid);
    out.setInputType(t.input_type.name());
    out.setOutputType(t.output_type.name());
    out.setCommitsOnCheckpoint(t.commits_on_checkpoint);
    out.setLostOnRestart(t.lost_on_restart);
  }
  auto ge = plan.initGraphEdges(static_cast<unsigned>(g.edges().size()));
  for (size_t i = 0; i < g.edges().size(); ++i) {
    auto& e = g.edges()[i];
    auto out = ge[static_cast<unsigned>(i)];
    out.setProducer(static_cast<uint32_t>(e.producer));
    out.setConsumer(static_cast<uint32_t>(e.consumer));
    out.setPartitioning(to_schema(e.part));
    out.setTag(e.tag);
    out.setChained(e.chained);
  }
  auto topo = plan.initTopology(static_cast<unsigned>(vs.size()));
  for (size_t i = 0; i < vs.size(); ++i) {
    auto& v = vs[i];
    auto out = topo[static_cast<unsigned>(i)];
    out.setHead(static_cast<uint32_t>(v.head));
    auto put = [](auto list, const std::vector<int>& xs) {
      for (size_t k = 0; k < xs.size(); ++k)
        list.set(static_cast<unsigned>(k), static_cast<uint32_t>(xs[k]));
    };
    put(out.initOperators(static_cast<unsigned>(v.operators.size())),
        v.operators);
    put(out.initInputs(static_cast<unsigned>(v.inputs.size())), v.inputs);
    put(out.initOutputs(static_cast<unsigned>(v.outputs.size())), v.outputs);
  }
  write_config(plan.initConfig(), g.config());
  plan.setFingerprint(plan_fingerprint(g));
  auto words = capnp::messageToFlatArray(message);
  auto bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()),
                     bytes.size());
}

std::string to_string(const job_plan& plan) {
  std::string out = "job '" + plan.name + "'\n";
  for (auto& v : plan.vertices) {
    out += "  vertex " + std::to_string(v.id) + " (parallelism "
           + std::to_string(v.parallelism) + (v.is_source ? ", source" : "")
           + "):";
    for (size_t i = 0; i < v.operators.size(); ++i) {
      out += (i == 0 ? " " : " -> ") + v.operators[i].name;
      if (!v.operators[i].uid.empty())
        out += " [uid " + v.operators[i].uid + "]";
    }
    out += "\n";
  }
  for (auto& e : plan.edges) {
    out += "  edge " + std::to_string(e.producer) + " -> "
           + std::to_string(e.consumer) + " " + libstream::to_string(e.part);
    if (!e.side_output.empty())
      out += " (side output " + e.side_output + ")";
    out += "\n";
  }
  return out;
}

job_plan decode_job_plan(const std::string& bytes) {
  auto words = aligned_words(bytes);
  try {
    capnp::FlatArrayMessageReader reader{words};
    auto plan = reader.getRoot<schema::JobPlan>();
    job_plan result;
    result.name = plan.getName();
    result.max_parallelism = plan.getMaxParallelism();
    result.buffer_timeout_ms = plan.getBufferTimeoutMs();
    for (auto v : plan.getVertices()) {
      job_plan::vertex x;
      x.id = v.getId();
      x.name = v.getName();
      x.uid = v.getUid();
      x.parallelism = v.getParallelism();
      x.max_parallelism = v.getMaxParallelism();
      x.is_source = v.getIsSource();
      for (auto op : v.getOperators())
        x.operators.push_back({op.getName(), op.getUid()});
      result.vertices.push_back(std::move(x));
    }
    for (auto e : plan.getEdges()) {
      job_plan::edge x;
      x.producer = e.getProducer();
      x.consumer = e.getConsumer();
      x.part = from_schema(e.getPartitioning());
      x.side_output = e.getSideOutput();
      if (x.producer >= result.vertices.size()
          || x.consumer >= result.vertices.size())
        throw std::runtime_error(
            "invalid job plan: an edge refers to vertex "
            + std::to_string(std::max(x.producer, x.consumer)) + " of "
            + std::to_string(result.vertices.size()));
      result.edges.push_back(std::move(x));
    }
    return result;
  } catch (const kj::Exception& e) {
    throw std::runtime_error("invalid job plan: "
                             + std::string{e.getDescription().cStr()});
  }
}

} // namespace libstream
