#pragma once

#include <string>

namespace libstream::test {

/// True if f() throws an E (CAF 0.17's test framework has no
/// CHECK_THROWS). When `needle` is given, the message must contain it.
template <class E, class F>
bool throws(F&& f, const std::string& needle = "") {
  try {
    f();
  } catch (const E& e) {
    return needle.empty()
           || std::string{e.what()}.find(needle) != std::string::npos;
  } catch (...) {
    return false;
  }
  return false;
}

} // namespace libstream::test
