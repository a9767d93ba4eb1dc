#define CAF_SUITE job_plan
#include "caf/test/unit_test.hpp"

#include <string>

#include "libstream/app.hpp"
#include "libstream/libstream.hpp"
#include "libstream/plan_codec.hpp"
#include "test_util.hpp"

using namespace libstream;

namespace {

struct event {
  int key = 0;
  int64_t ts = 0;
};

job_graph sample_graph() {
  stream_execution_environment env;
  env.set_parallelism(3);
  env.set_max_parallelism(64);
  output_tag<event> late{"late"};
  auto windows = env.from_collection(std::vector<event>{{1, 1}, {2, 2}})
                     .map([](const event& e) { return e; })
                     .uid("identity")
                     .key_by([](const event& e) { return e.key; })
                     .window(tumbling_event_time_windows::of(10))
                     .side_output_late_data(late)
                     .reduce([](const event& a, const event&) { return a; });
  windows.uid("windows");
  windows.print().set_parallelism(1);
  windows.get_side_output(late).print().set_parallelism(1);
  return env.builder()->plan();
}

} // namespace

CAF_TEST(a plan survives encoding and decoding) {
  auto g = sample_graph();
  auto plan = decode_job_plan(encode_job_plan(g, "sample"));
  CAF_CHECK_EQUAL(plan.name, "sample");
  CAF_CHECK_EQUAL(plan.max_parallelism, 64u);
  CAF_REQUIRE_EQUAL(plan.vertices.size(), g.vertices().size());
  for (size_t i = 0; i < plan.vertices.size(); ++i) {
    auto& v = plan.vertices[i];
    auto& w = g.vertices()[i];
    CAF_CHECK_EQUAL(v.id, static_cast<uint32_t>(w.id));
    CAF_CHECK_EQUAL(v.name, w.name);
    CAF_CHECK_EQUAL(v.parallelism, static_cast<uint32_t>(w.parallelism));
    CAF_CHECK_EQUAL(v.is_source, w.is_source);
    CAF_CHECK_EQUAL(v.operators.size(), w.operators.size());
  }
  // Collection source (1) -> map (3, rebalance), key_by -> window (hash),
  // window -> two print sinks (1, rebalance), one of them via the side
  // output.
  size_t hash = 0;
  size_t side = 0;
  for (auto& e : plan.edges) {
    hash += e.part == partitioning::hash ? 1 : 0;
    side += e.side_output == "late" ? 1 : 0;
  }
  CAF_CHECK_EQUAL(hash, 1u);
  CAF_CHECK_EQUAL(side, 1u);
  auto text = to_string(plan);
  CAF_CHECK(text.find("[uid identity]") != std::string::npos);
  CAF_CHECK(text.find("HASH") != std::string::npos);
}

CAF_TEST(damaged plans are rejected with a clear error) {
  auto bytes = encode_job_plan(sample_graph(), "sample");
  CAF_CHECK(test::throws<std::runtime_error>([&] { decode_job_plan(""); },
                                             "invalid job plan"));
  CAF_CHECK(test::throws<std::runtime_error>(
      [&] { decode_job_plan(bytes.substr(0, bytes.size() - 3)); },
      "whole number of 8-byte words"));
  CAF_CHECK(test::throws<std::runtime_error>(
      [&] { decode_job_plan(bytes.substr(0, 16)); }, "invalid job plan"));
  auto garbage = std::string(bytes.size(), '\xff');
  CAF_CHECK(test::throws<std::runtime_error>([&] { decode_job_plan(garbage); },
                                             "invalid job plan"));
}

CAF_TEST(a coordinator rebuilds the whole topology from a plan) {
  stream_execution_environment env;
  env.set_parallelism(3);
  env.set_max_parallelism(64);
  env.config().checkpointing.interval = 250;
  env.config().checkpointing.dir = "/tmp/chk";
  env.config().checkpointing.retained = 5;
  env.config().restarts = restart_strategy::backoff(10, 1000, 1.5);
  env.config().state_backend.kind = state_backend_kind::leveldb;
  env.from_collection(std::vector<event>{{1, 1}, {2, 2}})
      .map([](const event& e) { return e; })
      .uid("identity")
      .key_by([](const event& e) { return e.key; })
      .reduce([](const event& a, const event&) { return a; })
      .uid("reduce")
      .print()
      .set_parallelism(1);
  auto g = env.builder()->plan();
  auto d = decode_job_graph(encode_job_plan(g, "whole"));
  CAF_CHECK_EQUAL(d.name, "whole");
  CAF_CHECK_EQUAL(d.fingerprint, plan_fingerprint(g));
  auto& h = *d.graph;
  CAF_REQUIRE_EQUAL(h.vertices().size(), g.vertices().size());
  CAF_REQUIRE_EQUAL(h.edges().size(), g.edges().size());
  for (size_t v = 0; v < g.vertices().size(); ++v) {
    auto& a = g.vertices()[v];
    auto& b = h.vertices()[v];
    CAF_CHECK_EQUAL(a.operators, b.operators);
    CAF_CHECK_EQUAL(a.inputs, b.inputs);
    CAF_CHECK_EQUAL(a.outputs, b.outputs);
    CAF_CHECK_EQUAL(a.parallelism, b.parallelism);
    CAF_CHECK_EQUAL(a.max_parallelism, b.max_parallelism);
    for (int id : a.operators) {
      CAF_CHECK_EQUAL(g.node(id).uid, h.node(id).uid);
      CAF_CHECK(!h.node(id).make_operator); // no user code
    }
    for (int i = 0; i < a.parallelism; ++i)
      for (int e : a.outputs)
        CAF_CHECK_EQUAL(g.channel_targets(e, i), h.channel_targets(e, i));
  }
  for (size_t e = 0; e < g.edges().size(); ++e) {
    CAF_CHECK_EQUAL(g.edges()[e].chained, h.edges()[e].chained);
    CAF_CHECK_EQUAL(g.producer_vertex(static_cast<int>(e)),
                    h.producer_vertex(static_cast<int>(e)));
  }
  auto& c = h.config();
  CAF_CHECK_EQUAL(c.checkpointing.interval, 250);
  CAF_CHECK_EQUAL(c.checkpointing.dir, "/tmp/chk");
  CAF_CHECK_EQUAL(c.checkpointing.retained, 5);
  CAF_CHECK(c.state_backend.kind == state_backend_kind::leveldb);
  CAF_REQUIRE(c.restarts.has_value());
  CAF_CHECK(c.restarts->type == restart_strategy::kind::exponential_backoff);
  CAF_CHECK_EQUAL(c.restarts->max_delay, 1000);
  CAF_CHECK_EQUAL(c.default_parallelism, 3);
}

CAF_TEST(a plan whose parts do not fit is refused) {
  using libstream::test::contains;
  using libstream::test::message_of;
  auto bytes = encode_job_plan(sample_graph(), "x");
  CAF_CHECK(contains(message_of<std::runtime_error>(
                       [&] { decode_job_graph(bytes.substr(0, 16)); }),
                     "invalid job plan"));
  CAF_CHECK(contains(message_of<std::runtime_error>(
                       [&] { decode_job_graph(std::string(64, '\x7f')); }),
                     "invalid job plan"));
}
