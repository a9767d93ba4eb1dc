#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "libstream/data_stream.hpp"
#include "libstream/sources/text.hpp"
#include "libstream/time.hpp"
#include "stock/trade.hpp"

namespace stock {

/// Where and how trades get their industry (--industry-from and the
/// --lookup-* options).
struct lookup_options {
  /// redis://HOST:PORT (GET industry:<SYMBOL>) or http://HOST:PORT/PATH
  /// with {symbol} in PATH (the body is the industry).
  std::string from;
  size_t capacity = 100;       // requests in flight per subtask
  int64_t timeout_ms = 5000;   // per trade, retries included
  bool ordered = false;        // results in input order
  uint32_t retries = 3;        // after a connection failure or 5xx
};

/// Checks the URL and the numbers; throws std::invalid_argument naming the
/// flag.
void validate(const lookup_options& o);

/// Looks up the industry of each trade asynchronously. A symbol without an
/// industry fails the job naming it, or, with `missing`, goes there as a
/// dead letter (the trade as a CSV line without industry).
libstream::data_stream<trade>
look_up_industries(libstream::data_stream<trade> trades,
                   const lookup_options& o,
                   const std::optional<libstream::output_tag<libstream::text_line>>&
                       missing);

} // namespace stock
