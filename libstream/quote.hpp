#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace libstream {

/// Text from the input shown inside an error message: in single quotes, at
/// most `max_chars` bytes of it, with control characters, quotes,
/// backslashes and bytes that are not printable ASCII escaped (\n, \t,
/// \xHH), and the full length named when it was cut. A 10 MB line or a
/// binary file never reaches the terminal raw.
std::string quote_excerpt(std::string_view text, size_t max_chars = 120);

} // namespace libstream
