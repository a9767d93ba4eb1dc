#include "actors/embedded.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include <unistd.h>

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/exit_reason.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/send.hpp"

#include "actors/coordinator.hpp"
#include "actors/messages.hpp"
#include "actors/node.hpp"
#include "actors/spawn.hpp"
#include "libstream/checkpoint/restore.hpp"
#include "libstream/file_io.hpp"
#include "libstream/state/kv_store.hpp"

namespace libstream {

namespace {

using namespace runtime;

class embedded_client final : public job_client {
public:
  embedded_client(caf::actor coordinator, uint64_t id,
                  std::shared_future<job_result> result)
      : coordinator_(std::move(coordinator)), id_(id),
        result_(std::move(result)) {}

  job_status status() override {
    if (result_.wait_for(std::chrono::seconds{0}) == std::future_status::ready)
      return result_.get().status;
    return job_status::running;
  }

  void cancel() override { caf::anon_send(coordinator_, cancel_atom_v, id_); }

  void stop() override { caf::anon_send(coordinator_, stop_atom_v, id_); }

  std::string trigger_savepoint(const std::string& dir) override {
    return savepoint(dir, false);
  }

  std::string stop_with_savepoint(const std::string& dir) override {
    return savepoint(dir, true);
  }

  job_result wait() override { return result_.get(); }

  bool wait_for(std::chrono::milliseconds timeout) override {
    return result_.wait_for(timeout) == std::future_status::ready;
  }

private:
  std::string savepoint(const std::string& dir, bool stop) {
    caf::scoped_actor self{coordinator_.home_system()};
    std::string path;
    std::string error;
    self->request(coordinator_, caf::infinite, savepoint_atom_v, id_, dir,
                  stop)
        .receive([&](std::string& p) { path = std::move(p); },
                 [&](caf::error& err) {
                   error = coordinator_.home_system().render(err);
                 });
    if (!error.empty())
      throw job_failed(error);
    return path;
  }

  caf::actor coordinator_;
  uint64_t id_;
  std::shared_future<job_result> result_;
};

class embedded_executor final : public job_executor {
public:
  /// Owns an actor system of its own.
  explicit embedded_executor(const execution_config& cfg) : cfg_(cfg) {
    own_cfg_ = std::make_unique<caf::actor_system_config>();
    own_cfg_->set("logger.file-verbosity", caf::atom("quiet"));
    own_cfg_->set("logger.console-verbosity", caf::atom("quiet"));
    configure_worker_pool(*own_cfg_, cfg.worker_threads);
    own_sys_ = std::make_unique<caf::actor_system>(*own_cfg_);
    sys_ = own_sys_.get();
    coordinator_ = spawn_coordinator(*sys_, stop_timeout(cfg));
  }

  embedded_executor(caf::actor_system& sys, const execution_config& cfg)
      : cfg_(cfg), sys_(&sys) {
    coordinator_ = spawn_coordinator(*sys_, stop_timeout(cfg));
  }

  static caf::timespan stop_timeout(const execution_config& cfg) {
    return std::chrono::milliseconds{std::max<int64_t>(1,
                                                       cfg.cancellation_timeout)};
  }

  ~embedded_executor() override {
    // Cancels running jobs (the coordinator's exit handler) and stops nodes.
    caf::anon_send_exit(coordinator_, caf::exit_reason::user_shutdown);
    for (auto& n : nodes_)
      caf::anon_send_exit(n, caf::exit_reason::user_shutdown);
    own_sys_.reset(); // waits for every actor of an owned system
  }

  std::shared_ptr<job_client> submit(std::shared_ptr<const job_graph> g,
                                     std::string job_name) override {
    std::lock_guard<std::mutex> guard{mtx_};
    caf::scoped_actor self{*sys_};
    auto needed = static_cast<int32_t>(g->max_vertex_parallelism());
    if (cfg_.slots_per_node > 0) {
      while (static_cast<int32_t>(nodes_.size()) < cfg_.nodes)
        add_node(self, cfg_.slots_per_node);
    } else {
      // Auto-sized: a node with the slots this job lacks.
      int32_t free = 0;
      self->request(coordinator_, caf::infinite, caf::get_atom_v)
          .receive([&](int32_t x) { free = x; },
                   [&](caf::error& err) {
                     throw std::runtime_error("the coordinator did not answer: "
                                              + sys_->render(err));
                   });
      if (free < needed)
        add_node(self, needed - free);
    }
    auto promise = std::make_shared<std::promise<job_result>>();
    std::shared_future<job_result> future = promise->get_future().share();
    auto listener
        = spawn_fn(*sys_, [promise](caf::event_based_actor* ptr) -> caf::behavior {
            return {
                [ptr, promise](job_done_atom, job_result& r) {
                  promise->set_value(std::move(r));
                  ptr->quit();
                },
            };
          });
    // A job that starts from a checkpoint: found and checked before
    // anything is deployed (a checkpoint_error says what is wrong).
    std::shared_ptr<const checkpoint_ref> restore;
    auto& cp = g->config().checkpointing;
    if (cp.interval > 0)
      make_directories(cp.dir); // a file in the way fails here, clearly
    prepare_local_state(g->config().state_backend);
    if (!cp.restore_from.empty()) {
      auto rp = find_restore_point(cp.restore_from);
      check_fallback(rp, *g);
      check_restore(rp.chosen, *g, cp.allow_non_restored_state);
      restore = std::make_shared<const checkpoint_ref>(std::move(rp.chosen));
    }
    uint64_t id = 0;
    std::string error;
    self->request(coordinator_, caf::infinite, submit_atom_v,
                  job_submission{job_name, std::move(g), listener, restore})
        .receive([&](uint64_t x) { id = x; },
                 [&](caf::error& err) { error = sys_->render(err); });
    if (!error.empty())
      throw job_failed("submitting job '" + job_name + "' failed: " + error);
    return std::make_shared<embedded_client>(coordinator_, id, future);
  }

private:
  /// The newest checkpoint under the path is damaged and an older one was
  /// chosen. Without exactly-once sinks that only repeats work, and the
  /// restore goes on (with a warning). With them it would publish again
  /// what they published after the older checkpoint: refused, naming the
  /// damaged checkpoint and how to go on.
  static void check_fallback(const restore_point& rp, const job_graph& g) {
    if (rp.skipped.empty())
      return;
    auto& [bad, why] = rp.skipped.front();
    std::string sinks;
    for (auto& vx : g.vertices())
      for (int id : vx.operators)
        if (g.node(id).commits_on_checkpoint)
          sinks += (sinks.empty() ? "'" : ", '") + g.node(id).name + "'";
    if (sinks.empty()) {
      std::fprintf(stderr,
                   "libstream: warning: the newest checkpoint %s is not "
                   "usable (%s); restoring the older %s\n",
                   bad.c_str(), why.c_str(), rp.chosen.dir.c_str());
      return;
    }
    throw checkpoint_error(
        "the newest checkpoint '" + bad + "' is not usable (" + why
        + "), and restoring the older '" + rp.chosen.dir
        + "' would publish again what the exactly-once sink(s) " + sinks
        + " committed after it: repair the damaged checkpoint, or name the "
          "older one with --from-savepoint to accept duplicate output");
  }

  /// LevelDB: the local state directory must be a writable directory (a
  /// clear error before deploying, not a failure in every subtask), and
  /// databases that killed processes left there are removed.
  static void prepare_local_state(const state_backend_config& sb) {
    if (sb.kind != state_backend_kind::leveldb)
      return;
    auto root = local_state_root(sb);
    try {
      create_directories(root);
    } catch (const std::exception& e) {
      throw std::invalid_argument("local state directory: "
                                  + std::string{e.what()});
    }
    if (::access(root.c_str(), W_OK | X_OK) != 0)
      throw std::invalid_argument("local state directory '" + root
                                  + "' is not writable: "
                                  + std::strerror(errno));
    kv_store::remove_stale(root, "libstream-");
  }

  void add_node(caf::scoped_actor& self, int32_t slots) {
    auto id = "node-" + std::to_string(nodes_.size());
    auto node = sys_->spawn(node_actor, id, slots, cfg_.network_memory,
                            std::string{}, std::string{});
    bool ok = false;
    self->request(coordinator_, caf::infinite, register_atom_v, node, slots)
        .receive([&](bool x) { ok = x; }, [&](caf::error&) { ok = false; });
    if (!ok)
      throw std::runtime_error("registering " + id + " failed");
    nodes_.push_back(node);
  }

  execution_config cfg_;
  std::unique_ptr<caf::actor_system_config> own_cfg_;
  std::unique_ptr<caf::actor_system> own_sys_;
  caf::actor_system* sys_;
  caf::actor coordinator_;
  std::vector<caf::actor> nodes_;
  std::mutex mtx_;
};

} // namespace

std::shared_ptr<job_executor>
make_embedded_executor(const execution_config& cfg) {
  return std::make_shared<embedded_executor>(cfg);
}

std::shared_ptr<job_executor>
make_embedded_executor(caf::actor_system& sys, const execution_config& cfg) {
  return std::make_shared<embedded_executor>(sys, cfg);
}

} // namespace libstream
