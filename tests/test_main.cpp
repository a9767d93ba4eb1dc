// The CAF unit-test engine and main(), compiled once for every suite.
#include "caf/test/unit_test_impl.hpp"
