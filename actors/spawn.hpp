#pragma once

#include <utility>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/behavior.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/spawn_options.hpp"

namespace libstream::runtime {

/// Spawns an actor from `fun`, a function (or lambda) of the actor pointer
/// alone. CAF 0.17.6 dereferences a null argument pack when an actor is
/// spawned without arguments (caf/detail/init_fun_factory.hpp:85: undefined
/// behaviour that UBSan reports), so `fun` travels as the one argument.
template <class Self = caf::event_based_actor,
          caf::spawn_options Os = caf::no_spawn_options, class F>
caf::actor spawn_fn(caf::actor_system& sys, F fun) {
  return sys.spawn<Os>([](Self* self, F f) -> caf::behavior { return f(self); },
                       std::move(fun));
}

} // namespace libstream::runtime
