#include "actors/cluster.hpp"

#include <algorithm>
#include <stdexcept>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/error.hpp"
#include "caf/atom.hpp"
#include "caf/io/middleman.hpp"

#include "actors/embedded.hpp"
#include "libstream/app.hpp"
#include "libstream/file_io.hpp"
#include "libstream/plan_codec.hpp"

namespace libstream::runtime {

void add_cluster_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<subtask_wiring>("libstream::subtask_wiring");
  cfg.add_message_type<subtask_checkpoint>("libstream::subtask_checkpoint");
  cfg.add_message_type<job_spec>("libstream::job_spec");
  cfg.add_message_type<remote_deployment>("libstream::remote_deployment");
  cfg.add_message_type<cluster_submission>("libstream::cluster_submission");
  cfg.add_message_type<job_result>("libstream::job_result");
}

void configure_cluster_process(caf::actor_system_config& cfg, int threads) {
  cfg.load<caf::io::middleman>();
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  cfg.set("logger.console-verbosity", caf::atom("quiet"));
  // Nodes exchange data directly: a node connects to the other nodes of a
  // job when it prepares the job (job_spec::peers), so that a channel's
  // events always take one route. CAF's automatic connections stay off:
  // they would switch a route from via-the-coordinator to direct while
  // messages are in flight, and open another port on every interface.
  cfg.set("middleman.enable-automatic-connections", false);
  add_cluster_message_types(cfg);
  configure_worker_pool(cfg, threads);
}

std::string error_text(caf::actor_system& sys, const caf::error& err) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string>())
    return ctx.get_as<std::string>(0);
  return sys.render(err);
}

cluster_submission make_cluster_submission(const std::string& path,
                                           const std::vector<std::string>& args,
                                           int parallelism,
                                           int fallback_parallelism,
                                           std::string* job_name) {
  auto module = app_module::load(path);
  app_overrides ov;
  ov.parallelism = parallelism;
  ov.fallback_parallelism = fallback_parallelism;
  auto graph = build_app_graph(module.info().define, args, ov);
  std::string name = module.info().name;
  if (job_name != nullptr)
    *job_name = name;
  cluster_submission sub;
  sub.plan = encode_job_plan(graph, name);
  sub.module_bytes = read_file(path);
  sub.args = args;
  return sub;
}

} // namespace libstream::runtime
