#include "libstream/plan_codec.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

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

} // namespace

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
  if (bytes.empty() || bytes.size() % sizeof(capnp::word) != 0)
    throw std::runtime_error("invalid job plan: " + std::to_string(bytes.size())
                             + " bytes is not a whole number of 8-byte words");
  // Copy into word-aligned storage: std::string gives no alignment promise.
  kj::Array<capnp::word> words
      = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  memcpy(words.begin(), bytes.data(), bytes.size());
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
