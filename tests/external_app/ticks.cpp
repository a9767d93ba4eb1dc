// The job: numbers 0..N-1 from the generator, counted per residue modulo 7,
// one "residue,count" line per residue when the input ends.
#include <string>

#include "libstream/app.hpp"
#include "libstream/libstream.hpp"

using namespace libstream;

namespace {

struct tick {
  int64_t residue = 0;
  int64_t count = 0;
};

} // namespace

/// The app's entry point: the module exports it, main.cpp runs it.
void define_ticks(stream_execution_environment& env, const app_args& args) {
  uint64_t n = 70000;
  std::string output;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--count" && i + 1 < args.size())
      n = std::stoull(args[++i]);
    else if (args[i] == "--output" && i + 1 < args.size())
      output = args[++i];
    else
      throw app_usage_error("unknown argument '" + args[i]
                            + "' (use --count N --output FILE)");
  }
  if (output.empty())
    throw app_usage_error("--output FILE is required");
  env.from_generator(n, [](uint64_t i) {
       return tick{static_cast<int64_t>(i % 7), 1};
     })
      .key_by([](const tick& t) { return t.residue; })
      .reduce([](const tick& a, const tick& b) {
        return tick{a.residue, a.count + b.count};
      })
      .filter([n](const tick& t) {
        // The final count of each residue.
        auto extra = t.residue < static_cast<int64_t>(n % 7) ? 1 : 0;
        return t.count == static_cast<int64_t>(n / 7) + extra;
      })
      .write_as_text(output, [](const tick& t) {
        return std::to_string(t.residue) + "," + std::to_string(t.count);
      })
      .set_parallelism(1);
}

LIBSTREAM_APP("ticks", define_ticks)
