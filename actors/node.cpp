#include "actors/node.hpp"

#include "caf/event_based_actor.hpp"
#include "caf/spawn_options.hpp"

#include "actors/messages.hpp"
#include "actors/subtask.hpp"

namespace libstream::runtime {

caf::behavior node_actor(caf::stateful_actor<node_state>* self, std::string id,
                         int32_t slots) {
  self->state.id = std::move(id);
  self->state.slots = slots;
  return {
      [self](deploy_atom, deployment& d) -> caf::actor {
          // A thread per subtask, as Flink's task threads: a busy source or
        // operator never delays another subtask behind it in a scheduler
        // queue, and pipelined subtasks really run in parallel.
        auto& cfg = d.graph->config();
        if (cfg.thread_per_subtask
            || cfg.state_backend.kind == state_backend_kind::leveldb)
          return self->spawn<caf::detached>(subtask_actor, std::move(d));
        return self->spawn(subtask_actor, std::move(d));
      },
  };
}

} // namespace libstream::runtime
