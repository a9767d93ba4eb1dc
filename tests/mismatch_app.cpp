// A deliberately broken app module for the cluster tests: its job graph
// depends on an environment variable, so a node (without the variable)
// rebuilds a graph that does not match the plan streamctl submitted.
#include <cstdlib>
#include <string>

#include "libstream/app.hpp"
#include "libstream/libstream.hpp"

using namespace libstream;

namespace {

void define(stream_execution_environment& env, const app_args&) {
  auto* side = std::getenv("LIBSTREAM_TEST_SIDE");
  std::string name = side != nullptr ? side : "node";
  env.from_generator(10, [](uint64_t i) { return static_cast<int64_t>(i); })
      .map([](int64_t x) { return x; }, "Map on " + name)
      .add_sink([] {
        struct discard final : sink_function<int64_t> {
          void invoke(const int64_t&, timestamp) override {}
        };
        return std::make_unique<discard>();
      });
}

} // namespace

LIBSTREAM_APP("mismatch", define)
