#include "stock/trade.hpp"

#include <charconv>
#include <cstdio>
#include <tuple>
#include <vector>

#include "libstream/quote.hpp"
#include "libstream/connectors/redis_streams.hpp"
#include <functional>

namespace stock {

namespace {

template <class Int>
bool parse_int(std::string_view s, Int& out) {
  return libstream::detail::parse_integer(s, out);
}

} // namespace

bool parse_price_nanos(std::string_view s, int64_t& nanos) {
  auto dot = s.find('.');
  auto whole = s.substr(0, dot);
  auto frac
      = dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (whole.empty() || whole.size() > 9)
    return false;
  if (dot != std::string_view::npos && frac.empty())
    return false;
  int64_t w = 0;
  for (char c : whole) {
    if (c < '0' || c > '9')
      return false;
    w = w * 10 + (c - '0');
  }
  int64_t f = 0;
  int digits = 0;
  bool round_up = false;
  for (char c : frac) {
    if (c < '0' || c > '9')
      return false;
    if (digits < 9) {
      f = f * 10 + (c - '0');
      ++digits;
    } else if (digits == 9) {
      round_up = c >= '5';
      ++digits;
    }
  }
  for (; digits < 9; ++digits)
    f *= 10;
  nanos = w * 1000000000 + f + (round_up ? 1 : 0);
  return true;
}

bool parse_timestamp_field(std::string_view s, trade& t, std::string& error) {
  using libstream::quote_excerpt;
  if (!parse_int(s, t.timestamp_ms)) {
    error = quote_excerpt(s, 40) + " is not an integer";
    return false;
  }
  // About +-31,700 years around the epoch: far from int64 overflow in
  // window arithmetic, and any real trade fits.
  constexpr int64_t max_abs_ts = 1000000000000000;
  if (t.timestamp_ms < -max_abs_ts || t.timestamp_ms > max_abs_ts) {
    error = std::string{s} + " is outside +-1e15 ms around the epoch";
    return false;
  }
  return true;
}

bool parse_price_field(std::string_view s, trade& t, std::string& error) {
  if (!parse_price_nanos(s, t.price_nanos)) {
    error = libstream::quote_excerpt(s, 40)
            + " is not a non-negative decimal number";
    return false;
  }
  t.price = static_cast<double>(t.price_nanos) / 1e9;
  return true;
}

bool parse_quantity_field(std::string_view s, trade& t, std::string& error) {
  // Bounded so that a window's volume cannot overflow int64 below a
  // million trades of the maximum size.
  constexpr int64_t max_quantity = 1000000000000;
  if (!parse_int(s, t.quantity) || t.quantity <= 0
      || t.quantity > max_quantity) {
    error = libstream::quote_excerpt(s, 40)
            + " is not an integer between 1 and 1e12";
    return false;
  }
  return true;
}

namespace {

/// A parser of a text field into `member`: non-empty.
auto text_field(std::string trade::*member) {
  return [member](std::string_view s, trade& t, std::string& error) {
    if (s.empty()) {
      error = "is empty";
      return false;
    }
    libstream::assign_field(t.*member, s);
    return true;
  };
}

} // namespace

libstream::csv_format<trade> trade_format(bool with_industry) {
  libstream::csv_format<trade> f;
  f.column("timestamp_ms", parse_timestamp_field);
  f.column("symbol", text_field(&trade::symbol));
  if (with_industry)
    f.column("industry", text_field(&trade::industry));
  f.column("price", parse_price_field);
  f.column("quantity", parse_quantity_field);
  return f;
}

std::optional<trade> decode_stream_entry(const libstream::redis_stream_entry& e,
                                         std::string& error) {
  trade t;
  auto field = [&](const char* name) -> const std::string* {
    auto* v = e.field(name);
    if (v == nullptr)
      error = std::string{"no field '"} + name + "'";
    return v;
  };
  using parser = bool (*)(std::string_view, trade&, std::string&);
  struct {
    const char* name;
    std::function<bool(std::string_view, trade&, std::string&)> parse;
  } fields[] = {
      {"timestamp_ms", parser{parse_timestamp_field}},
      {"symbol", text_field(&trade::symbol)},
      {"industry", text_field(&trade::industry)},
      {"price", parser{parse_price_field}},
      {"quantity", parser{parse_quantity_field}},
  };
  for (auto& f : fields) {
    auto* v = field(f.name);
    if (v == nullptr)
      return std::nullopt;
    std::string why;
    if (!f.parse(*v, t, why)) {
      error = std::string{"field '"} + f.name + "': " + why;
      return std::nullopt;
    }
  }
  return t;
}

std::string to_csv_without_industry(const trade& t) {
  // The price as it was read: whole units and up to 9 decimals.
  auto whole = t.price_nanos / 1000000000;
  auto frac = t.price_nanos % 1000000000;
  std::string price = std::to_string(whole);
  if (frac != 0) {
    char digits[16];
    std::snprintf(digits, sizeof(digits), "%09lld",
                  static_cast<long long>(frac));
    std::string f = digits;
    while (!f.empty() && f.back() == '0')
      f.pop_back();
    price += "." + f;
  }
  return std::to_string(t.timestamp_ms) + "," + t.symbol + "," + price + ","
         + std::to_string(t.quantity);
}

std::vector<std::string> to_fields(const industry_window& row) {
  char avg[64];
  std::snprintf(avg, sizeof(avg), "%.6f", row.avg_price);
  return {std::to_string(row.window_start_ms),
          std::to_string(row.window_end_ms),
          row.industry,
          std::to_string(row.trades),
          std::to_string(row.volume),
          avg};
}

std::string to_csv(const industry_window& row) {
  auto fields = to_fields(row);
  std::string out = fields[0];
  for (size_t i = 1; i < fields.size(); ++i)
    out += "," + fields[i];
  return out;
}

std::vector<std::string> output_columns() {
  return {"window_start_ms bigint", "window_end_ms bigint", "industry text",
          "trades bigint",          "volume bigint",        "avg_price numeric"};
}

} // namespace stock
