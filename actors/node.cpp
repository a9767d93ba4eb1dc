#include "actors/node.hpp"

#include <algorithm>
#include <cstdint>

#include "caf/event_based_actor.hpp"
#include "caf/spawn_options.hpp"

#include "actors/messages.hpp"
#include "actors/subtask.hpp"

namespace libstream::runtime {

size_t batch_budget(const job_graph& graph, int32_t index,
                    size_t slot_memory) {
  size_t channels = 0;
  for (auto& vx : graph.vertices())
    channels += graph.output_channels(vx.id, index);
  if (channels == 0)
    return SIZE_MAX;
  auto per_channel = static_cast<size_t>(
      graph.config().credits_per_channel + 1);
  return slot_memory / (channels * per_channel);
}

caf::behavior node_actor(caf::stateful_actor<node_state>* self, std::string id,
                         int32_t slots, size_t network_memory) {
  self->state.id = std::move(id);
  self->state.slots = slots;
  self->state.network_memory = network_memory;
  return {
      [self](deploy_atom, deployment& d) -> caf::actor {
        auto& st = self->state;
        d.batch_budget = batch_budget(
            *d.graph, d.index,
            st.network_memory / static_cast<size_t>(std::max(st.slots, 1)));
        // Subtasks share the system's worker pool; those that block on
        // LevelDB get a thread each, so that a read or compaction stall
        // delays only them.
        auto& cfg = d.graph->config();
        if (cfg.thread_per_subtask
            || cfg.state_backend.kind == state_backend_kind::leveldb)
          return self->spawn<caf::detached>(subtask_actor, std::move(d));
        return self->spawn(subtask_actor, std::move(d));
      },
  };
}

} // namespace libstream::runtime
