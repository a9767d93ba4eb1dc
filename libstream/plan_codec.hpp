#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "libstream/job_graph.hpp"

namespace libstream {

/// A decoded job plan (schemas/job_plan.capnp) as plain values.
struct job_plan {
  struct op {
    std::string name;
    std::string uid;
  };
  struct vertex {
    uint32_t id = 0;
    std::string name;
    std::string uid;
    uint32_t parallelism = 1;
    uint32_t max_parallelism = default_max_parallelism;
    bool is_source = false;
    std::vector<op> operators;
  };
  struct edge {
    uint32_t producer = 0;
    uint32_t consumer = 0;
    partitioning part = partitioning::forward;
    std::string side_output;
  };
  std::string name;
  uint32_t max_parallelism = default_max_parallelism;
  int64_t buffer_timeout_ms = 0;
  std::vector<vertex> vertices;
  std::vector<edge> edges;
};

/// Encodes the physical plan of `g` as a Cap'n Proto message (flat array).
std::string encode_job_plan(const job_graph& g, const std::string& job_name);

/// A readable listing of a plan: vertices with their chained operators and
/// parallelism, then the edges with their partitioning.
std::string to_string(const job_plan& plan);

/// A job graph decoded from a plan: closure-free (no user code), what a
/// cluster coordinator places, wires and checkpoints.
struct decoded_graph {
  std::string name;
  std::string fingerprint; // of the submitter's graph (plan_fingerprint)
  std::shared_ptr<const job_graph> graph;
};

/// Decodes the whole topology and settings of a plan. Throws
/// std::runtime_error ("invalid job plan: ...") for bytes that are not a
/// plan, or a plan whose parts do not fit together.
decoded_graph decode_job_graph(const std::string& bytes);

/// Decodes a message written by encode_job_plan. Throws std::runtime_error
/// saying what is wrong when the bytes are not a valid plan.
job_plan decode_job_plan(const std::string& bytes);

} // namespace libstream
