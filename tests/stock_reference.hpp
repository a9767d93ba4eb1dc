#pragma once

// Trades for the stock aggregator's tests and the result rows a plain loop
// computes over them (no libstream code), shared by the test suites that
// run the executable. Include after caf/test/unit_test.hpp.

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "child_process.hpp"

namespace stock_test {
namespace { // one test file per executable includes this

using libstream::test::split_lines;

const std::string header = "timestamp_ms,symbol,industry,price,quantity";
const std::string out_header
    = "window_start_ms,window_end_ms,industry,trades,volume,avg_price";

__extension__ typedef __int128 int128;

struct gen_trade {
  int64_t ts = 0;
  std::string industry;
  int64_t price_nanos = 0;
  int64_t quantity = 0;
  std::string line; // the CSV line as written
};

/// Trades whose timestamps run from about -150 s to +150 s (so windows on
/// both sides of zero) and arrive up to 4999 ms out of order, with prices
/// of 0 to 9 decimals. Deterministic. No trade is later than `max_late`
/// behind the largest timestamp before it.
std::vector<gen_trade> make_trades(size_t n, uint32_t seed = 42,
                                   int64_t max_late = 4999) {
  static const char* industries[]
      = {"Technology", "Finance", "Real Estate", "Health Care", "Energy"};
  std::mt19937_64 rng{seed};
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>{lo, hi}(rng);
  };
  std::vector<gen_trade> out;
  int64_t base = -150000;
  for (size_t i = 0; i < n; ++i) {
    base += uniform(0, 200);
    gen_trade t;
    t.ts = base - uniform(0, max_late);
    auto ind = static_cast<size_t>(uniform(0, 4));
    t.industry = industries[ind];
    auto symbol = std::string{industries[ind]}.substr(0, 3)
                  + std::to_string(uniform(0, 2));
    auto whole = uniform(0, 999);
    auto digits = static_cast<int>(uniform(0, 9));
    std::string price = std::to_string(whole);
    int64_t frac = 0;
    if (digits > 0) {
      int64_t scale = 1;
      for (int d = 0; d < digits; ++d)
        scale *= 10;
      frac = uniform(0, scale - 1);
      auto f = std::to_string(frac);
      price
          += "." + std::string(static_cast<size_t>(digits) - f.size(), '0') + f;
      for (int d = digits; d < 9; ++d)
        frac *= 10;
    }
    t.price_nanos = whole * 1000000000 + frac;
    t.quantity = uniform(1, 1000);
    t.line = std::to_string(t.ts) + "," + symbol + "," + t.industry + ","
             + price + "," + std::to_string(t.quantity);
    out.push_back(std::move(t));
  }
  return out;
}

int64_t floor_div(int64_t x, int64_t y) {
  auto q = x / y;
  if ((x % y != 0) && ((x < 0) != (y < 0)))
    --q;
  return q;
}

/// The expected result rows (sorted), computed with a plain loop.
std::vector<std::string> expected_rows(const std::vector<gen_trade>& trades,
                                       int64_t window_ms) {
  struct acc {
    int64_t trades = 0;
    int64_t volume = 0;
    int128 price_nanos = 0;
  };
  std::map<std::pair<int64_t, std::string>, acc> windows;
  for (auto& t : trades) {
    auto start = floor_div(t.ts, window_ms) * window_ms;
    auto& a = windows[{start, t.industry}];
    ++a.trades;
    a.volume += t.quantity;
    a.price_nanos += t.price_nanos;
  }
  std::vector<std::string> rows;
  for (auto& [k, a] : windows) {
    // The exact mean, converted as the job does (exact sum, then divided).
    auto avg = static_cast<double>(static_cast<long double>(a.price_nanos)
                                   / a.trades / 1e9L);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6f", avg);
    rows.push_back(std::to_string(k.first) + ","
                   + std::to_string(k.first + window_ms) + "," + k.second + ","
                   + std::to_string(a.trades) + "," + std::to_string(a.volume)
                   + "," + buf);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

std::string to_csv(const std::vector<std::string>& lines,
                   const std::string& eol = "\n") {
  std::string out = header + eol;
  for (auto& l : lines)
    out += l + eol;
  return out;
}

std::vector<std::string> lines_of(const std::vector<gen_trade>& trades) {
  std::vector<std::string> out;
  for (auto& t : trades)
    out.push_back(t.line);
  return out;
}

std::vector<std::string> split(const std::string& line, char delim) {
  std::vector<std::string> out(1);
  for (char c : line) {
    if (c == delim)
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

/// The rows of an output text after its header line, sorted. Returns false
/// (and reports why) if the header line is missing.
bool output_rows(const std::string& text, std::vector<std::string>& rows) {
  auto lines = split_lines(text);
  if (lines.empty() || lines.front() != out_header) {
    CAF_MESSAGE("output does not start with the header line: '"
                << (lines.empty() ? std::string{"<empty>"} : lines.front())
                << "'");
    return false;
  }
  rows.assign(lines.begin() + 1, lines.end());
  std::sort(rows.begin(), rows.end());
  return true;
}

/// Compares two sorted row sets; reports the first differences.
bool same_rows(const std::vector<std::string>& expected,
               const std::vector<std::string>& actual) {
  if (expected == actual)
    return true;
  CAF_MESSAGE("expected " << expected.size() << " rows, got " << actual.size());
  std::vector<std::string> missing, extra;
  std::set_difference(expected.begin(), expected.end(), actual.begin(),
                      actual.end(), std::back_inserter(missing));
  std::set_difference(actual.begin(), actual.end(), expected.begin(),
                      expected.end(), std::back_inserter(extra));
  for (size_t i = 0; i < missing.size() && i < 5; ++i)
    CAF_MESSAGE("missing: " << missing[i]);
  for (size_t i = 0; i < extra.size() && i < 5; ++i)
    CAF_MESSAGE("unexpected: " << extra[i]);
  return false;
}

/// The rows of every visible part file of `dir`, sorted; checks headers.
std::vector<std::string> part_rows(const std::string& dir) {
  auto rows = libstream::test::visible_part_lines(dir, out_header);
  std::sort(rows.begin(), rows.end());
  return rows;
}

} // namespace
} // namespace stock_test
