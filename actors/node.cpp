#include "actors/node.hpp"

#include "actors/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>

#include <unistd.h>

#include "caf/io/middleman.hpp"
#include "caf/node_id.hpp"

#include "libstream/checkpoint/storage.hpp"
#include "libstream/file_io.hpp"
#include "libstream/state/kv_store.hpp"

#include "caf/event_based_actor.hpp"
#include "caf/spawn_options.hpp"

#include "actors/messages.hpp"
#include "actors/subtask.hpp"

namespace libstream::runtime {

int channel_credits(int credits_per_channel, size_t channels) noexcept {
  auto most = static_cast<size_t>(std::max(credits_per_channel, 1));
  if (channels == 0)
    return static_cast<int>(most);
  return static_cast<int>(std::clamp<size_t>(2 * most / channels, 1, most));
}

size_t batch_budget(const job_graph& graph, int32_t index,
                    size_t slot_memory) {
  // Buffers: per channel its open one and one per credit.
  size_t buffers = 0;
  auto credits = graph.config().credits_per_channel;
  for (auto& vx : graph.vertices()) {
    if (index >= vx.parallelism)
      continue;
    for (int e : vx.outputs) {
      auto channels = graph.channel_targets(e, index).size();
      buffers += channels
                 * static_cast<size_t>(channel_credits(credits, channels) + 1);
    }
  }
  if (buffers == 0)
    return SIZE_MAX;
  return slot_memory / buffers;
}

namespace {

caf::error node_error(const std::string& what) {
  return caf::make_error(caf::sec::runtime_error, what);
}

/// The module file of `spec` in the node's cache, written if missing.
std::string cached_module(const std::string& state_dir, const job_spec& spec) {
  auto dir = state_dir + "/modules";
  make_directories(dir);
  auto path = dir + "/" + spec.module_hash + ".so";
  if (::access(path.c_str(), R_OK) == 0)
    return path;
  if (content_hash(spec.module_bytes) != spec.module_hash)
    throw std::runtime_error("the module bytes do not match their hash "
                             + spec.module_hash + " (damaged in transit?)");
  // Written to a temporary name and renamed: a module is never loaded
  // half-written, also when two jobs bring it at once.
  auto tmp = path + ".tmp-" + std::to_string(::getpid());
  write_file(tmp, spec.module_bytes);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno;
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot store module " + path + ": "
                             + std::strerror(err));
  }
  return path;
}

} // namespace

caf::actor spawn_subtask(caf::stateful_actor<node_state>* self,
                         deployment d) {
  auto& st = self->state;
  d.batch_budget = batch_budget(
      *d.graph, d.index,
      st.network_memory / static_cast<size_t>(std::max(st.slots, 1)));
  // Subtasks share the system's worker pool; those that block (on LevelDB,
  // or an operator declared blocking: a synchronous client) get a thread
  // each, so that a read, a compaction or a server's answer delays only
  // them.
  auto& cfg = d.graph->config();
  bool blocks = false;
  for (int id : d.graph->vertices().at(static_cast<size_t>(d.vertex)).operators)
    blocks = blocks || d.graph->node(id).blocking;
  bool detached = blocks || cfg.thread_per_subtask
                  || cfg.state_backend.kind == state_backend_kind::leveldb;
  // Subtasks on a thread of their own keep their own timer: the flusher
  // runs on the pool, where a busy node would delay them.
  auto timeout = static_cast<int64_t>(cfg.buffer_timeout);
  std::shared_ptr<std::atomic<bool>> flag;
  if (timeout > 0 && !detached) {
    flag = std::make_shared<std::atomic<bool>>(false);
    d.flush_request = flag;
  }
  caf::actor sub;
  if (detached)
    sub = self->spawn<caf::detached>(subtask_actor, std::move(d));
  else
    sub = self->spawn(subtask_actor, std::move(d));
  if (flag) {
    auto& list = st.flushables[timeout];
    if (list.empty())
      self->delayed_send(self, std::chrono::milliseconds{timeout},
                         flush_atom_v, timeout);
    list.push_back({caf::actor_cast<caf::weak_actor_ptr>(sub),
                    std::move(flag)});
  }
  return sub;
}

/// One tick of the output flusher for subtasks with buffer timeout
/// `timeout`.
void flush_tick(caf::stateful_actor<node_state>* self, int64_t timeout) {
  auto& st = self->state;
  auto i = st.flushables.find(timeout);
  if (i == st.flushables.end())
    return;
  auto& list = i->second;
  // Flushes those that asked; forgets those that ended (others may still
  // hold a handle to a terminated subtask).
  auto ended = [self](const node_state::flushable& f) {
    auto sub = caf::actor_cast<caf::actor>(f.subtask.lock());
    if (!sub || sub->getf(caf::abstract_actor::is_terminated_flag))
      return true;
    if (f.request->exchange(false, std::memory_order_acq_rel))
      self->send(sub, flush_atom_v);
    return false;
  };
  list.erase(std::remove_if(list.begin(), list.end(), ended), list.end());
  if (list.empty())
    st.flushables.erase(i);
  else
    self->delayed_send(self, std::chrono::milliseconds{timeout}, flush_atom_v,
                       timeout);
}

caf::behavior node_actor(caf::stateful_actor<node_state>* self, std::string id,
                         int32_t slots, size_t network_memory,
                         std::string state_dir, std::string address) {
  self->state.address = std::move(address);
  self->state.id = std::move(id);
  self->state.slots = slots;
  self->state.network_memory = network_memory;
  self->state.state_dir = std::move(state_dir);
  return {
      [self](prepare_atom, job_spec& spec) -> caf::result<bool> {
        auto& st = self->state;
        if (!st.jobs.count(spec.job)) {
          try {
            auto path = cached_module(st.state_dir, spec);
            auto module = app_module::load(path);
            app_overrides ov;
            ov.parallelism = spec.parallelism;
            ov.state_dir = st.state_dir + "/state";
            auto graph = std::make_shared<const job_graph>(
                build_app_graph(module.info().define, spec.args, ov));
            auto fp = plan_fingerprint(*graph);
            if (fp != spec.fingerprint)
              return node_error(
                  "the job graph that module '"
                  + std::string{module.info().name}
                  + "' builds from the job's arguments on node '" + st.id
                  + "' does not match the submitted plan (fingerprint " + fp
                  + ", plan " + spec.fingerprint
                  + "): the module or its inputs differ between machines");
            run_submit_hooks(*graph);
            if (graph->config().state_backend.kind
                == state_backend_kind::leveldb) {
              auto root = local_state_root(graph->config().state_backend);
              make_directories(root);
              kv_store::remove_stale(root, "libstream-");
            }
            st.jobs.emplace(spec.job, node_state::prepared_job{
                                          std::move(module), graph});
          } catch (const std::exception& e) {
            return node_error("node '" + st.id + "' cannot prepare job '"
                              + spec.name + "': " + e.what());
          }
        }
        // Direct connections to the job's other nodes, before any record
        // flows: the route of a channel never changes mid-job.
        std::vector<std::string> peers;
        for (auto& p : spec.peers)
          if (p != st.address)
            peers.push_back(p);
        if (peers.empty())
          return true;
        auto rp = self->make_response_promise<bool>();
        auto left = std::make_shared<size_t>(peers.size());
        auto failed = std::make_shared<bool>(false);
        auto mm = self->home_system().middleman().actor_handle();
        for (auto& p : peers) {
          host_port hp;
          try {
            hp = parse_host_port(p, "a peer address");
          } catch (const std::exception& e) {
            return node_error(e.what());
          }
          auto& host = hp.host;
          auto port = hp.port;
          self->request(mm, std::chrono::seconds{30}, caf::connect_atom_v,
                        host, port)
              .then(
                  [rp, left](const caf::node_id&, caf::strong_actor_ptr&,
                             std::set<std::string>&) mutable {
                    if (--*left == 0)
                      rp.deliver(true);
                  },
                  [self, rp, failed, p](caf::error& err) mutable {
                    if (*failed)
                      return;
                    *failed = true;
                    // Not fatal for the job: the peer may be going away.
                    rp.deliver(caf::make_error(
                        caf::sec::cannot_connect_to_node,
                        "node '" + self->state.id + "' cannot connect to node "
                            + p + ": " + self->system().render(err)));
                  });
        }
        return rp;
      },
      [self](deploy_atom, remote_deployment& rd) -> caf::result<caf::actor> {
        auto& st = self->state;
        auto i = st.jobs.find(rd.job);
        if (i == st.jobs.end())
          return node_error("node '" + st.id + "' has not prepared job "
                            + std::to_string(rd.job));
        auto& g = *i->second.graph;
        if (rd.vertex < 0 || rd.vertex >= static_cast<int32_t>(g.vertices().size())
            || rd.index < 0
            || rd.index >= g.vertices()[static_cast<size_t>(rd.vertex)].parallelism)
          return node_error("node '" + st.id + "': job "
                            + std::to_string(rd.job) + " has no subtask "
                            + std::to_string(rd.index) + " of vertex "
                            + std::to_string(rd.vertex));
        deployment d;
        d.job = rd.job;
        d.graph = i->second.graph;
        d.vertex = rd.vertex;
        d.index = rd.index;
        d.coordinator = rd.coordinator;
        d.checkpoint_dir = rd.checkpoint_dir;
        d.job_key = rd.job_key;
        d.attempt = rd.attempt;
        d.code = i->second.module.keep_alive();
        if (!rd.restore_dir.empty()) {
          try {
            auto ref = std::make_shared<checkpoint_ref>();
            ref->dir = rd.restore_dir;
            ref->meta = read_metadata(rd.restore_dir);
            d.restore = std::move(ref);
          } catch (const std::exception& e) {
            return node_error("node '" + st.id + "' cannot read checkpoint '"
                              + rd.restore_dir + "': " + e.what());
          }
        }
        auto sub = spawn_subtask(self, std::move(d));
        auto& mine = st.subtasks[rd.job];
        // Forget subtasks that ended (no monitor needed for this list).
        mine.erase(std::remove_if(mine.begin(), mine.end(),
                                  [](const caf::actor& a) {
                                    return a->getf(
                                        caf::abstract_actor::is_terminated_flag);
                                  }),
                   mine.end());
        mine.push_back(sub);
        return sub;
      },
      [self](caf::put_atom, std::string& address) {
        self->state.address = std::move(address);
      },
      [self](release_atom, uint64_t job) {
        // The job ended: stop what the coordinator may not know of (a
        // subtask whose deploy answer came too late).
        auto& st = self->state;
        for (auto& sub : st.subtasks[job])
          self->send<caf::message_priority::high>(sub, cancel_atom_v);
        st.subtasks.erase(job);
        st.jobs.erase(job);
      },
      [self](cancel_atom) {
        // The coordinator is gone: stop every subtask (they cannot report).
        for (auto& [job, subs] : self->state.subtasks)
          for (auto& sub : subs)
            self->send<caf::message_priority::high>(sub, cancel_atom_v);
        self->state.subtasks.clear();
        self->state.jobs.clear();
      },
      [self](deploy_atom, deployment& d) -> caf::actor {
        return spawn_subtask(self, std::move(d));
      },
      [self](flush_atom, int64_t timeout) { flush_tick(self, timeout); },
  };
}

} // namespace libstream::runtime
