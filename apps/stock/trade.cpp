#include "stock/trade.hpp"

#include <charconv>
#include <cstdio>
#include <tuple>
#include <vector>

#include "libstream/quote.hpp"

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

libstream::csv_format<trade> trade_format(bool with_industry) {
  using libstream::quote_excerpt;
  libstream::csv_format<trade> f;
  f.column("timestamp_ms",
           [](std::string_view s, trade& t, std::string& error) {
             if (!parse_int(s, t.timestamp_ms)) {
               error = quote_excerpt(s, 40) + " is not an integer";
               return false;
             }
             // About +-31,700 years around the epoch: far from int64
             // overflow in window arithmetic, and any real trade fits.
             constexpr int64_t max_abs_ts = 1000000000000000;
             if (t.timestamp_ms < -max_abs_ts || t.timestamp_ms > max_abs_ts) {
               error = std::string{s} + " is outside +-1e15 ms around the "
                                        "epoch";
               return false;
             }
             return true;
           });
  auto text = [](auto member) {
    return [member](std::string_view s, trade& t, std::string& error) {
      if (s.empty()) {
        error = "is empty";
        return false;
      }
      libstream::assign_field(t.*member, s);
      return true;
    };
  };
  f.column("symbol", text(&trade::symbol));
  if (with_industry)
    f.column("industry", text(&trade::industry));
  f.column("price", [](std::string_view s, trade& t, std::string& error) {
    if (!parse_price_nanos(s, t.price_nanos)) {
      error = quote_excerpt(s, 40) + " is not a non-negative decimal number";
      return false;
    }
    t.price = static_cast<double>(t.price_nanos) / 1e9;
    return true;
  });
  f.column("quantity", [](std::string_view s, trade& t, std::string& error) {
    // Bounded so that a window's volume cannot overflow int64 below a
    // million trades of the maximum size.
    constexpr int64_t max_quantity = 1000000000000;
    if (!parse_int(s, t.quantity) || t.quantity <= 0
        || t.quantity > max_quantity) {
      error = quote_excerpt(s, 40) + " is not an integer between 1 and 1e12";
      return false;
    }
    return true;
  });
  return f;
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

std::string to_csv(const industry_window& row) {
  char avg[64];
  std::snprintf(avg, sizeof(avg), "%.6f", row.avg_price);
  std::string out;
  out += std::to_string(row.window_start_ms);
  out += ',';
  out += std::to_string(row.window_end_ms);
  out += ',';
  out += row.industry;
  out += ',';
  out += std::to_string(row.trades);
  out += ',';
  out += std::to_string(row.volume);
  out += ',';
  out += avg;
  return out;
}

} // namespace stock
