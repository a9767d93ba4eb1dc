#include "libstream/app.hpp"

#include <cinttypes>
#include <cstdio>

#include <dlfcn.h>

#include "libstream/key_hash.hpp"

namespace libstream {

app_module app_module::load(const std::string& path) {
  // RTLD_LOCAL: two apps may use the same names for their own types.
  // RTLD_NOW: an unresolved symbol fails here, not in the middle of a job.
  // RTLD_NODELETE: never unmapped, since records, batches and snapshot
  // closures of its types may outlive the job that loaded it.
  dlerror();
  void* h = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (h == nullptr) {
    auto* why = dlerror();
    throw std::runtime_error("cannot load app module '" + path
                             + "': " + (why ? why : "unknown error"));
  }
  app_module m;
  m.handle_ = std::shared_ptr<void>(h, [](void* p) { ::dlclose(p); });
  m.path_ = path;
  using entry_fn = const app_info* (*)();
  auto* sym = ::dlsym(h, app_entry_symbol);
  if (sym == nullptr)
    throw std::runtime_error("'" + path + "' is not a libstream app: it has no "
                             + app_entry_symbol
                             + " entry point (define one with LIBSTREAM_APP)");
  auto entry = reinterpret_cast<entry_fn>(sym);
  m.info_ = entry();
  if (m.info_ == nullptr || m.info_->define == nullptr)
    throw std::runtime_error("app module '" + path
                             + "' returned no entry point");
  if (m.info_->abi != app_abi_version)
    throw std::runtime_error(
        "app module '" + path + "' was built for libstream app ABI "
        + std::to_string(m.info_->abi) + ", this libstream has ABI "
        + std::to_string(app_abi_version) + ": rebuild the app");
  return m;
}

job_graph build_app_graph(app_define_fn define, const app_args& args,
                          const app_overrides& overrides) {
  stream_execution_environment env;
  define(env, args);
  auto& cfg = env.config();
  if (overrides.parallelism > 0)
    cfg.default_parallelism = overrides.parallelism;
  else if (cfg.default_parallelism == 0 && overrides.fallback_parallelism > 0)
    cfg.default_parallelism = overrides.fallback_parallelism;
  // Resolved here, once: a node rebuilding the graph on a machine with
  // another number of cores must get the same parallelism.
  cfg.default_parallelism = effective_default_parallelism(cfg);
  if (!overrides.restore_from.empty())
    cfg.checkpointing.restore_from = overrides.restore_from;
  if (!overrides.state_dir.empty())
    cfg.state_backend.dir = overrides.state_dir;
  return env.builder()->plan();
}

void run_submit_hooks(const job_graph& g) {
  for (auto& vx : g.vertices())
    for (int id : vx.operators)
      if (g.node(id).on_submit)
        g.node(id).on_submit();
}

namespace {

std::string digest(std::string_view text) {
  // Two independent 64-bit digests.
  uint64_t a = 0x243f6a8885a308d3ULL;
  uint64_t b = 0x13198a2e03707344ULL;
  for (unsigned char c : text) {
    a = mix64(a ^ c);
    b = mix64(b + c * 0x9e3779b97f4a7c15ULL);
  }
  a = mix64(a ^ text.size());
  b = mix64(b + text.size());
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016" PRIx64 "%016" PRIx64, a, b);
  return buf;
}

} // namespace

std::string content_hash(std::string_view bytes) {
  return digest(bytes);
}

std::string plan_fingerprint(const job_graph& g) {
  // A canonical text of the topology, digested. Record types by their
  // mangled names: the same source built by the same compiler gives the
  // same names on every machine.
  std::string text;
  auto add = [&](const std::string& s) {
    text += std::to_string(s.size());
    text += ':';
    text += s;
  };
  for (auto& vx : g.vertices()) {
    add("v" + std::to_string(vx.id) + "/" + std::to_string(vx.parallelism)
        + "/" + std::to_string(vx.max_parallelism));
    for (int id : vx.operators) {
      auto& t = g.node(id);
      add(std::to_string(id));
      add(t.name);
      add(t.uid);
      add(t.input_type.name());
      add(t.output_type.name());
    }
  }
  for (auto& e : g.edges()) {
    add("e" + std::to_string(e.producer) + ">" + std::to_string(e.consumer)
        + "/" + std::to_string(static_cast<int>(e.part))
        + (e.chained ? "c" : "n"));
    add(e.tag);
  }
  return digest(text);
}

} // namespace libstream
