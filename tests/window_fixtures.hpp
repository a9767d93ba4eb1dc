#pragma once

// What the window operator suites share: a keyed event and its functions.

#include <cstdint>
#include <string>
#include <vector>

#include "libstream/window/window_operator.hpp"

namespace libstream::test {

struct event {
  std::string key;
  int64_t value = 0;
};

inline const key_selector<event, std::string> by_key
    = [](const event& e) { return e.key; };

inline const auto sum = [](const event& x, const event& y) {
  return event{x.key, x.value + y.value};
};

using opts_t = window_options<time_window, event>;
using svec = std::vector<std::string>;

} // namespace libstream::test
