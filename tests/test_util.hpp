#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace libstream::test {

/// The message of the E that f() throws, or "<no exception>" (CAF 0.17's
/// test framework has no CHECK_THROWS).
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "<no exception>";
}

template <class F>
std::string invalid_argument_of(F&& f) {
  return message_of<std::invalid_argument>(std::forward<F>(f));
}

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

/// True if f() throws an E (and nothing else). When `needle` is given, the
/// message must contain it.
template <class E, class F>
bool throws(F&& f, const std::string& needle = "") {
  try {
    f();
  } catch (const E& e) {
    return contains(e.what(), needle);
  } catch (...) {
    return false;
  }
  return false;
}

} // namespace libstream::test
