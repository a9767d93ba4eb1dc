#define CAF_SUITE job_graph
#include "caf/test/unit_test.hpp"

// Planning without actors: chaining, partitioning, channel maps and the
// errors of misconfigured jobs.

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "libstream/environment.hpp"
#include "test_util.hpp"

using namespace libstream;

namespace {

std::vector<std::string> vertex_names(const job_graph& g) {
  std::vector<std::string> xs;
  for (auto& v : g.vertices())
    xs.push_back(v.name);
  return xs;
}

/// The edges between vertices (not chained), as "producer -> consumer".
std::vector<std::string> network_edges(const job_graph& g) {
  std::vector<std::string> xs;
  for (auto& v : g.vertices())
    for (auto e : v.outputs) {
      auto& edge = g.edges()[static_cast<size_t>(e)];
      auto s = g.node(edge.producer).name + " -" + to_string(edge.part) + "-> "
               + g.node(edge.consumer).name;
      if (!edge.tag.empty())
        s += " [" + edge.tag + "]";
      xs.push_back(s);
    }
  return xs;
}

job_graph plan(stream_execution_environment& env) {
  return env.builder()->plan();
}

auto ident = [](int64_t x) { return x; };

/// key_by on a stream of a non-class type does not compile (keyed_stream's
/// sum/min/max declare `M T::*`), so keyed jobs here use this wrapper.
struct num {
  int64_t v = 0;
};
auto num_gen = [](uint64_t i) { return num{static_cast<int64_t>(i)}; };
auto num_ident = [](const num& x) { return x; };
auto num_add = [](const num& a, const num& b) { return num{a.v + b.v}; };
auto gen = [](uint64_t i) { return static_cast<int64_t>(i); };

using svec = std::vector<std::string>;
using ivec = std::vector<int>;

} // namespace

// -- chaining
// ------------------------------------------------------------------------

CAF_TEST(forward edges of equal parallelism are chained) {
  stream_execution_environment env;
  env.set_parallelism(2);
  env.from_generator(10, gen)
      .map(ident)
      .filter([](int64_t) { return true; })
      .collect_into(std::make_shared<collected<int64_t>>());
  auto g = plan(env);
  CAF_CHECK_EQUAL(vertex_names(g),
                  svec{"Generator Source -> Map -> Filter -> Collect"});
  CAF_REQUIRE_EQUAL(g.vertices().size(), 1u);
  auto& v = g.vertices()[0];
  CAF_CHECK_EQUAL(v.parallelism, 2);
  CAF_CHECK(v.is_source);
  CAF_CHECK_EQUAL(v.operators.size(), 4u);
  CAF_CHECK(v.inputs.empty());
  CAF_CHECK(v.outputs.empty());
  for (auto& e : g.edges())
    CAF_CHECK(e.chained);
}

CAF_TEST(key_by rebalance and parallelism changes break chains) {
  stream_execution_environment env;
  env.set_parallelism(2);
  env.from_generator(10, num_gen)
      .map(num_ident, "A")
      .key_by([](const num& x) { return x.v % 3; })
      .reduce(num_add, "R")
      .rebalance()
      .map(num_ident, "B")
      .map(num_ident, "C")
      .set_parallelism(3)
      .collect_into(std::make_shared<collected<num>>())
      .set_parallelism(3);
  auto g = plan(env);
  CAF_CHECK_EQUAL(vertex_names(g),
                  (svec{"Generator Source -> A", "R", "B", "C -> Collect"}));
  CAF_CHECK_EQUAL(network_edges(g), (svec{"A -HASH-> R", "R -REBALANCE-> B",
                                          "B -REBALANCE-> C"}));
  std::vector<int> par;
  for (auto& v : g.vertices())
    par.push_back(v.parallelism);
  CAF_CHECK_EQUAL(par, (ivec{2, 2, 2, 3}));
  // Every vertex but the source has exactly one input edge.
  for (auto& v : g.vertices())
    CAF_CHECK_EQUAL(v.inputs.size(), v.is_source ? 0u : 1u);
}

CAF_TEST(disable_chaining isolates an operator) {
  stream_execution_environment env;
  env.set_parallelism(1);
  env.from_generator(10, gen)
      .map(ident, "A")
      .map(ident, "B")
      .disable_chaining()
      .map(ident, "C")
      .collect_into(std::make_shared<collected<int64_t>>());
  auto g = plan(env);
  CAF_CHECK_EQUAL(vertex_names(g),
                  (svec{"Generator Source -> A", "B", "C -> Collect"}));
  CAF_CHECK_EQUAL(network_edges(g), (svec{"A -FORWARD-> B", "B -FORWARD-> C"}));
}

CAF_TEST(start_new_chain breaks only the chain before the operator) {
  stream_execution_environment env;
  env.set_parallelism(1);
  env.from_generator(10, gen)
      .map(ident, "A")
      .map(ident, "B")
      .start_new_chain()
      .map(ident, "C")
      .collect_into(std::make_shared<collected<int64_t>>());
  auto g = plan(env);
  CAF_CHECK_EQUAL(vertex_names(g),
                  (svec{"Generator Source -> A", "B -> C -> Collect"}));
  CAF_CHECK_EQUAL(network_edges(g), (svec{"A -FORWARD-> B"}));
}

CAF_TEST(a sink with chaining disabled runs in its own vertex) {
  stream_execution_environment env;
  env.set_parallelism(2);
  env.from_generator(10, gen)
      .map(ident, "A")
      .collect_into(std::make_shared<collected<int64_t>>())
      .disable_chaining();
  auto g = plan(env);
  CAF_CHECK_EQUAL(vertex_names(g), (svec{"Generator Source -> A", "Collect"}));
}

// -- virtual nodes
// ----------------------------------------------------------------------

CAF_TEST(a union becomes one edge per input and is never chained) {
  stream_execution_environment env;
  env.set_parallelism(1);
  auto a = env.from_generator(10, gen, 0, "SrcA");
  auto b = env.from_generator(10, gen, 0, "SrcB");
  auto c = env.from_generator(10, gen, 0, "SrcC").rebalance();
  a.union_with({b, c})
      .map(ident, "M")
      .collect_into(std::make_shared<collected<int64_t>>());
  auto g = plan(env);
  CAF_CHECK_EQUAL(vertex_names(g),
                  (svec{"SrcA", "SrcB", "SrcC", "M -> Collect"}));
  CAF_CHECK_EQUAL(
      network_edges(g),
      (svec{"SrcA -FORWARD-> M", "SrcB -FORWARD-> M", "SrcC -REBALANCE-> M"}));
  CAF_CHECK_EQUAL(g.vertices()[3].inputs.size(), 3u);
}

CAF_TEST(a partitioning after a union applies to every input) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto a = env.from_generator(10, gen, 0, "SrcA");
  auto b = env.from_generator(10, gen, 0, "SrcB");
  a.union_with(b)
      .broadcast()
      .map(ident, "M")
      .collect_into(std::make_shared<collected<int64_t>>());
  auto g = plan(env);
  CAF_CHECK_EQUAL(network_edges(g),
                  (svec{"SrcA -BROADCAST-> M", "SrcB -BROADCAST-> M"}));
}

namespace {

const output_tag<std::string> odd_tag{"odd"};

struct split_odd final : process_function<int64_t, int64_t> {
  void process_element(const int64_t& x, context& ctx,
                       collector<int64_t>& out) override {
    if (x % 2 != 0)
      ctx.output(odd_tag, std::to_string(x));
    else
      out.collect(x);
  }
};

} // namespace

CAF_TEST(side outputs become tagged edges) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto main = env.from_generator(10, gen).process<int64_t>(
      [] { return std::make_unique<split_odd>(); }, "Split");
  main.collect_into(std::make_shared<collected<int64_t>>());
  main.get_side_output(odd_tag)
      .rebalance()
      .map([](const std::string& s) { return s; }, "Odd")
      .collect_into(std::make_shared<collected<std::string>>());
  main.get_side_output(odd_tag)
      .map([](const std::string& s) { return s + "!"; }, "Odd2")
      .collect_into(std::make_shared<collected<std::string>>());
  auto g = plan(env);
  CAF_CHECK_EQUAL(network_edges(g), (svec{"Split -REBALANCE-> Odd [odd]"}));
  // The forward side-output edge is chained and keeps its tag.
  int tagged_chained = 0;
  for (auto& e : g.edges())
    if (e.tag == "odd" && e.chained)
      ++tagged_chained;
  CAF_CHECK_EQUAL(tagged_chained, 1);
  CAF_CHECK(g.describe().find("[side output odd]") != std::string::npos);
  // The chain with the side output can be instantiated: the tag is
  // declared before the chained consumer is connected.
  auto v = g.vertices()[0];
  auto chain = g.instantiate(v.id);
  CAF_CHECK(chain.source != nullptr);
  CAF_CHECK_EQUAL(chain.outputs.size(), 1u);
}

// -- channel maps
// -------------------------------------------------------------------------

namespace {

/// A job graph of generator (p) -part-> sink (q); returns the edge id.
job_graph two_vertices(int p, int q, partitioning part) {
  stream_execution_environment env;
  auto s = env.from_generator(10, gen).set_parallelism(p);
  data_stream<int64_t> d = s;
  switch (part) {
    case partitioning::forward:
      d = s.forward();
      break;
    case partitioning::rescale:
      d = s.rescale();
      break;
    case partitioning::broadcast:
      d = s.broadcast();
      break;
    default:
      d = s.rebalance();
  }
  d.collect_into(std::make_shared<collected<int64_t>>()).set_parallelism(q);
  return plan(env);
}

int only_network_edge(const job_graph& g) {
  for (size_t i = 0; i < g.edges().size(); ++i)
    if (!g.edges()[i].chained)
      return static_cast<int>(i);
  CAF_FAIL("no network edge");
  return -1;
}

} // namespace

CAF_TEST(forward channels connect equal indices) {
  auto g = two_vertices(3, 3, partitioning::forward);
  // Forward with equal parallelism is chained: make it a network edge.
  CAF_CHECK_EQUAL(g.vertices().size(), 1u);
  stream_execution_environment env;
  env.from_generator(10, gen)
      .set_parallelism(3)
      .collect_into(std::make_shared<collected<int64_t>>())
      .set_parallelism(3)
      .disable_chaining();
  auto g2 = plan(env);
  auto e = only_network_edge(g2);
  for (int i = 0; i < 3; ++i) {
    CAF_CHECK_EQUAL(g2.channel_targets(e, i), ivec{i});
    CAF_CHECK_EQUAL(g2.channel_sources(e, i), ivec{i});
  }
}

CAF_TEST(rescale channels connect local subsets) {
  {
    auto g = two_vertices(2, 4, partitioning::rescale);
    auto e = only_network_edge(g);
    CAF_CHECK_EQUAL(g.edges()[static_cast<size_t>(e)].part,
                    partitioning::rescale);
    CAF_CHECK_EQUAL(g.channel_targets(e, 0), (ivec{0, 1}));
    CAF_CHECK_EQUAL(g.channel_targets(e, 1), (ivec{2, 3}));
    CAF_CHECK_EQUAL(g.channel_sources(e, 0), (ivec{0}));
    CAF_CHECK_EQUAL(g.channel_sources(e, 1), (ivec{0}));
    CAF_CHECK_EQUAL(g.channel_sources(e, 2), (ivec{1}));
    CAF_CHECK_EQUAL(g.channel_sources(e, 3), (ivec{1}));
  }
  {
    auto g = two_vertices(4, 2, partitioning::rescale);
    auto e = only_network_edge(g);
    CAF_CHECK_EQUAL(g.channel_targets(e, 0), (ivec{0}));
    CAF_CHECK_EQUAL(g.channel_targets(e, 1), (ivec{0}));
    CAF_CHECK_EQUAL(g.channel_targets(e, 2), (ivec{1}));
    CAF_CHECK_EQUAL(g.channel_targets(e, 3), (ivec{1}));
    CAF_CHECK_EQUAL(g.channel_sources(e, 0), (ivec{0, 1}));
    CAF_CHECK_EQUAL(g.channel_sources(e, 1), (ivec{2, 3}));
  }
}

CAF_TEST(rescale covers every subtask for any pair of parallelisms) {
  for (int p = 1; p <= 6; ++p)
    for (int q = 1; q <= 6; ++q) {
      auto g = two_vertices(p, q, partitioning::rescale);
      auto e = only_network_edge(g);
      // Targets and sources describe the same set of channels.
      std::vector<std::pair<int, int>> by_target;
      std::vector<std::pair<int, int>> by_source;
      for (int i = 0; i < p; ++i) {
        auto ts = g.channel_targets(e, i);
        CAF_CHECK(!ts.empty());
        CAF_CHECK(std::is_sorted(ts.begin(), ts.end()));
        for (auto j : ts) {
          CAF_CHECK(j >= 0 && j < q);
          by_target.emplace_back(i, j);
        }
      }
      for (int j = 0; j < q; ++j) {
        auto ss = g.channel_sources(e, j);
        CAF_CHECK(!ss.empty());
        for (auto i : ss)
          by_source.emplace_back(i, j);
      }
      std::sort(by_source.begin(), by_source.end());
      CAF_CHECK(by_target == by_source);
      // Pointwise: a producer feeds only consumers, or a consumer hears
      // only producers, of its own neighbourhood (never both many).
      if (q >= p)
        for (int j = 0; j < q; ++j)
          CAF_CHECK_EQUAL(g.channel_sources(e, j).size(), 1u);
      else
        for (int i = 0; i < p; ++i)
          CAF_CHECK_EQUAL(g.channel_targets(e, i).size(), 1u);
    }
}

CAF_TEST(all to all channels for rebalance broadcast and hash) {
  for (auto part : {partitioning::rebalance, partitioning::broadcast}) {
    auto g = two_vertices(3, 2, part);
    auto e = only_network_edge(g);
    for (int i = 0; i < 3; ++i)
      CAF_CHECK_EQUAL(g.channel_targets(e, i), (ivec{0, 1}));
    for (int j = 0; j < 2; ++j)
      CAF_CHECK_EQUAL(g.channel_sources(e, j), (ivec{0, 1, 2}));
  }
  stream_execution_environment env;
  env.set_parallelism(3);
  env.from_generator(10, num_gen)
      .key_by([](const num& x) { return x.v; })
      .reduce(num_add)
      .collect_into(std::make_shared<collected<num>>());
  auto g = plan(env);
  auto e = only_network_edge(g);
  CAF_CHECK_EQUAL(g.edges()[static_cast<size_t>(e)].part, partitioning::hash);
  for (int i = 0; i < 3; ++i)
    CAF_CHECK_EQUAL(g.channel_targets(e, i), (ivec{0, 1, 2}));
}

CAF_TEST(the default parallelism applies to operators that set none) {
  stream_execution_environment env;
  env.set_parallelism(3);
  env.from_collection(std::vector<int64_t>{1, 2})
      .map(ident, "M")
      .collect_into(std::make_shared<collected<int64_t>>());
  auto g = plan(env);
  // The collection source is non-parallel: 1 -> 3 needs a rebalance.
  CAF_CHECK_EQUAL(vertex_names(g), (svec{"Collection Source", "M -> Collect"}));
  CAF_CHECK_EQUAL(g.vertices()[0].parallelism, 1);
  CAF_CHECK_EQUAL(g.vertices()[1].parallelism, 3);
  CAF_CHECK_EQUAL(network_edges(g), (svec{"Collection Source -REBALANCE-> M"}));
  CAF_CHECK_EQUAL(g.max_vertex_parallelism(), 3);
}

// -- misconfigured jobs
// --------------------------------------------------------------------

CAF_TEST(parallelism above max parallelism names the operator) {
  stream_execution_environment env;
  env.set_parallelism(1);
  env.from_generator(10, gen)
      .map(ident, "Wide")
      .set_parallelism(200)
      .collect_into(std::make_shared<collected<int64_t>>());
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); }, "'Wide'"));
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); },
                                                "exceeds max parallelism 128"));
  // An operator's own max parallelism caps the job default for it ...
  stream_execution_environment env2;
  env2.set_parallelism(4);
  env2.from_generator(10, gen)
      .map(ident, "Narrow")
      .set_max_parallelism(2)
      .collect_into(std::make_shared<collected<int64_t>>());
  auto g2 = plan(env2);
  CAF_CHECK_EQUAL(vertex_names(g2),
                  (svec{"Generator Source", "Narrow", "Collect"}));
  CAF_CHECK_EQUAL(g2.vertices()[1].parallelism, 2);
  CAF_CHECK_EQUAL(g2.vertices()[1].max_parallelism, 2);
  // ... but an explicit parallelism above it is an error.
  stream_execution_environment env4;
  env4.from_generator(10, gen)
      .map(ident, "Narrow")
      .set_max_parallelism(2)
      .set_parallelism(4)
      .collect_into(std::make_shared<collected<int64_t>>());
  CAF_CHECK(
      test::throws<std::invalid_argument>([&] { plan(env4); }, "'Narrow'"));
  // And the job-wide setting.
  stream_execution_environment env3;
  env3.set_parallelism(8);
  env3.set_max_parallelism(4);
  env3.from_generator(10, gen).collect_into(
      std::make_shared<collected<int64_t>>());
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env3); },
                                                "exceeds max parallelism"));
}

CAF_TEST(forward between different parallelisms names both operators) {
  stream_execution_environment env;
  env.from_generator(10, gen)
      .set_parallelism(2)
      .map(ident, "Two")
      .set_parallelism(2)
      .forward()
      .map(ident, "Three")
      .set_parallelism(3)
      .collect_into(std::make_shared<collected<int64_t>>())
      .set_parallelism(3);
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); }, "'Two'"));
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); }, "'Three'"));
  CAF_CHECK(
      test::throws<std::invalid_argument>([&] { plan(env); }, "rebalance"));
}

CAF_TEST(a duplicate uid names the uid and the operators) {
  stream_execution_environment env;
  env.set_parallelism(1);
  auto s = env.from_generator(10, gen);
  s.map(ident, "First")
      .uid("same")
      .collect_into(std::make_shared<collected<int64_t>>());
  s.map(ident, "Second")
      .uid("same")
      .collect_into(std::make_shared<collected<int64_t>>());
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); }, "'same'"));
  // Which operators clash should be in the message, as for every other
  // misconfiguration.
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); }, "Second"));
}

CAF_TEST(a stream without a sink names the dangling operator) {
  stream_execution_environment env;
  env.set_parallelism(1);
  env.from_generator(10, gen).map(ident, "Dangling");
  CAF_CHECK(
      test::throws<std::invalid_argument>([&] { plan(env); }, "'Dangling'"));
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); }, "sink"));
}

CAF_TEST(a non parallel source with parallelism 2 is refused) {
  stream_execution_environment env;
  env.from_collection(std::vector<int64_t>{1})
      .set_parallelism(2)
      .collect_into(std::make_shared<collected<int64_t>>());
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); },
                                                "'Collection Source'"));
  CAF_CHECK(
      test::throws<std::invalid_argument>([&] { plan(env); }, "non-parallel"));
}

CAF_TEST(a keyed operator without key_by is refused) {
  stream_execution_environment env;
  env.set_parallelism(1);
  auto m = env.from_generator(10, gen).map(ident, "NeedsKeys");
  env.builder()->node(m.id()).keyed = true;
  m.collect_into(std::make_shared<collected<int64_t>>());
  CAF_CHECK(
      test::throws<std::invalid_argument>([&] { plan(env); }, "'NeedsKeys'"));
  CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); }, "key_by"));
}

CAF_TEST(empty jobs and bad settings are refused) {
  {
    stream_execution_environment env;
    CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); },
                                                  "no operators"));
  }
  {
    stream_execution_environment env;
    env.config().credits_per_channel = 0;
    env.from_generator(10, gen).collect_into(
        std::make_shared<collected<int64_t>>());
    CAF_CHECK(test::throws<std::invalid_argument>([&] { plan(env); },
                                                  "credits per channel"));
  }
  {
    stream_execution_environment env;
    CAF_CHECK(test::throws<std::invalid_argument>(
        [&] { env.set_parallelism(0); }, "at least 1"));
    auto s = env.from_generator(10, gen);
    CAF_CHECK(test::throws<std::invalid_argument>(
        [&] { s.set_parallelism(-1); }, "at least 1"));
    CAF_CHECK(test::throws<std::invalid_argument>([&] { s.uid(""); }, "uid"));
    // Settings on a virtual node are refused with the node's name.
    auto r = s.rebalance();
    CAF_CHECK(test::throws<std::logic_error>([&] { r.set_parallelism(2); },
                                             "not an operator"));
  }
}
