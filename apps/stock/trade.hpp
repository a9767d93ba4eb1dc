#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>
#include <string_view>
#include <tuple>

#include "libstream/codec.hpp"
#include "libstream/sources/formats.hpp"

namespace libstream {
struct redis_stream_entry;
}

namespace stock {

/// One trade of the input, as in the CSV header
/// `timestamp_ms,symbol,industry,price,quantity`.
struct trade {
  int64_t timestamp_ms = 0;
  std::string symbol;
  std::string industry;
  double price = 0;
  int64_t price_nanos = 0; // the price in units of 1e-9, parsed exactly
  int64_t quantity = 0;
};

/// Parses a plain decimal ("123.45") into units of 1e-9 exactly (digits
/// past the ninth decimal are rounded). Rejects signs, exponents, blanks.
bool parse_price_nanos(std::string_view s, int64_t& nanos);

/// The header line of an input file (columns may come in any order).
inline constexpr std::string_view csv_header
    = "timestamp_ms,symbol,industry,price,quantity";

/// The header of input files whose industries are looked up
/// (--industry-from).
inline constexpr std::string_view csv_header_without_industry
    = "timestamp_ms,symbol,price,quantity";

/// The CSV format of input files: each column checked (timestamps within
/// +-1e15 ms, non-empty symbol and industry, a non-negative plain decimal
/// price, a quantity between 1 and 1e12). Without the industry column
/// when `with_industry` is false.
libstream::csv_format<trade> trade_format(bool with_industry = true);

/// The checks of the input fields, shared by the CSV format and the Redis
/// stream decoder: each parses `s` into `t` or says what is wrong.
bool parse_timestamp_field(std::string_view s, trade& t, std::string& error);
bool parse_price_field(std::string_view s, trade& t, std::string& error);
bool parse_quantity_field(std::string_view s, trade& t, std::string& error);

/// A trade from a Redis stream entry with the fields timestamp_ms, symbol,
/// industry, price and quantity (checked as the CSV columns are); nullopt
/// with `error` saying what is wrong.
std::optional<trade> decode_stream_entry(const libstream::redis_stream_entry& e,
                                         std::string& error);

/// A trade's input columns without the industry, as the CSV line of
/// csv_header_without_industry (for dead letters).
std::string to_csv_without_industry(const trade& t);

/// The result row of one industry in one window.
struct industry_window {
  int64_t window_start_ms = 0;
  int64_t window_end_ms = 0;
  std::string industry;
  int64_t trades = 0;
  int64_t volume = 0;
  double avg_price = 0;

  friend bool operator<(const industry_window& x, const industry_window& y) {
    return std::tie(x.window_start_ms, x.industry)
           < std::tie(y.window_start_ms, y.industry);
  }
};

/// The output header and one output row (avg_price with 6 decimals).
inline constexpr std::string_view output_header
    = "window_start_ms,window_end_ms,industry,trades,volume,avg_price";
std::string to_csv(const industry_window& row);
/// The values of a row as text, in output_header's order (to_csv joins
/// them).
std::vector<std::string> to_fields(const industry_window& row);
/// output_header's columns with SQL types, for tables that hold rows
/// (numeric keeps avg_price's six decimals as written).
std::vector<std::string> output_columns();

} // namespace stock

// Trades and rows cross nodes in a cluster: encoded member by member.
template <>
struct libstream::codec<stock::trade>
    : member_codec<stock::trade, &stock::trade::timestamp_ms,
                   &stock::trade::symbol, &stock::trade::industry,
                   &stock::trade::price, &stock::trade::price_nanos,
                   &stock::trade::quantity> {};

template <>
struct libstream::codec<stock::industry_window>
    : member_codec<stock::industry_window,
                   &stock::industry_window::window_start_ms,
                   &stock::industry_window::window_end_ms,
                   &stock::industry_window::industry,
                   &stock::industry_window::trades,
                   &stock::industry_window::volume,
                   &stock::industry_window::avg_price> {};
