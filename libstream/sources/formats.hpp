#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "libstream/quote.hpp"

namespace libstream {

/// What a format's decode() made of one record's bytes.
enum class decode_status {
  record, // the output record is filled
  skip,   // nothing to emit (a blank line)
  error,  // malformed; see decode_error
  /// The record has a '"' but was delimited without quote parity: the
  /// source delimits it again (a '\n' inside quotes is data) and decodes
  /// it once more with `has_quotes` set. Formats with `quoted` only.
  quoted,
};

/// Why a record is malformed and where: `position` is the byte within the
/// record where the bad field starts (the file source turns it into a line
/// and column).
struct decode_error {
  std::string message;
  size_t position = 0;
};

/// Assigns `s` to a string field of a record slot: reuses the slot's
/// capacity, but gives back a large buffer (over 64 KiB) when the new text
/// is small, so that one long line does not stay allocated in every slot
/// it passes through.
inline void assign_field(std::string& out, std::string_view s) {
  constexpr size_t large = 64 * 1024;
  if (out.capacity() > large && s.size() <= large) {
    std::string fresh{s};
    out.swap(fresh);
    return;
  }
  out.assign(s.data(), s.size());
}

/// The lines of text files as std::string (as Flink's TextLineInputFormat):
/// '\n' ends a line, a '\r' before it is dropped, empty lines are records.
struct text_lines_format {
  using record_type = std::string;
  static constexpr bool quoted = false;

  bool has_header() const noexcept { return false; }
  void read_header(std::string_view) {}
  void empty_file() {}

  decode_status decode(std::string_view line, bool, std::string& out,
                       decode_error&) {
    assign_field(out, line); // reuses the slot's capacity
    return decode_status::record;
  }
};

namespace detail {

/// The first byte in [p, e) equal to `a` or `b`, or e: eight bytes per
/// step (the fields of a CSV line are short; memchr's setup costs more).
inline const char* find_either(const char* p, const char* e, char a,
                               char b) noexcept {
  constexpr uint64_t ones = 0x0101010101010101ULL;
  constexpr uint64_t highs = 0x8080808080808080ULL;
  const uint64_t ma = ones * static_cast<unsigned char>(a);
  const uint64_t mb = ones * static_cast<unsigned char>(b);
  while (e - p >= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    auto xa = w ^ ma;
    auto xb = w ^ mb;
    // A zero byte in xa or xb marks a match (exact: no false positives
    // below the first match, which is all that is used).
    auto hit = ((xa - ones) & ~xa & highs) | ((xb - ones) & ~xb & highs);
    if (hit != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
      return p + (__builtin_ctzll(hit) >> 3);
#else
      break; // find it byte by byte below
#endif
    }
    p += 8;
  }
  while (p != e && *p != a && *p != b)
    ++p;
  return p;
}

/// Parses a decimal integer (optional '-' for signed types) the fast way
/// when it cannot overflow, else with std::from_chars. False when `s` is
/// not exactly an integer of type I.
template <class I>
bool parse_integer(std::string_view s, I& out) noexcept {
  const char* p = s.data();
  const char* e = p + s.size();
  bool neg = false;
  if constexpr (std::is_signed_v<I>) {
    if (p != e && *p == '-') {
      neg = true;
      ++p;
    }
  }
  auto digits = e - p;
  if (digits <= 0)
    return false;
  if (digits < std::numeric_limits<I>::digits10) {
    uint64_t v = 0;
    for (; p != e; ++p) {
      auto d = static_cast<unsigned>(static_cast<unsigned char>(*p) - '0');
      if (d > 9)
        return false;
      v = v * 10 + d;
    }
    out = neg ? static_cast<I>(-static_cast<int64_t>(v)) : static_cast<I>(v);
    return true;
  }
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

} // namespace detail

/// Parses a CSV field into a value of type V; returns false with `error`
/// set (what is wrong, without the location) when it cannot.
template <class V>
bool parse_csv_field(std::string_view s, V& out, std::string& error) {
  if constexpr (std::is_same_v<V, std::string>) {
    assign_field(out, s);
    return true;
  } else if constexpr (std::is_same_v<V, bool>) {
    if (s == "true" || s == "TRUE" || s == "1") {
      out = true;
      return true;
    }
    if (s == "false" || s == "FALSE" || s == "0") {
      out = false;
      return true;
    }
    error = quote_excerpt(s, 40) + " is not a boolean (true or false)";
    return false;
  } else if constexpr (std::is_integral_v<V>) {
    if (!detail::parse_integer(s, out)) {
      V probe{};
      auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), probe);
      error = quote_excerpt(s, 40)
              + (ec == std::errc::result_out_of_range
                     ? " is out of range for its integer type"
                     : " is not an integer");
      return false;
    }
    return true;
  } else if constexpr (std::is_floating_point_v<V>) {
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) {
      error = quote_excerpt(s, 40) + " is not a number";
      return false;
    }
    return true;
  } else if constexpr (std::is_same_v<V, std::optional<typename V::value_type>>) {
    if (s.empty()) {
      out.reset();
      return true;
    }
    if (!out)
      out.emplace();
    return parse_csv_field(s, *out, error);
  } else {
    static_assert(std::is_same_v<V, void>,
                  "no CSV parser for this field type: give the column a "
                  "parse function");
    return false;
  }
}

/// CSV (RFC 4180) decoded straight into records of type T, as Flink's
/// CsvReaderFormat: a field is bound to a member or to a parse function.
///
/// - With a header (the default), the first record of every file names its
///   columns: bound columns are found by name, in any order, and must all
///   be there; other columns are ignored. Without one, bound columns are
///   the fields in the order they are declared (skip() leaves a gap).
/// - Fields may be quoted with '"': the delimiter, '\r', '\n' and doubled
///   quotes ("") inside are data. A '"' inside an unquoted field, text
///   after a closing quote and an unclosed quote are errors.
/// - Every record must have as many fields as the header (or the declared
///   columns). Blank lines are skipped.
/// - Fields are parsed from the read buffer; strings are assigned into the
///   output record, whose capacity the source reuses.
template <class T>
class csv_format {
public:
  using record_type = T;
  static constexpr bool quoted = true;
  using parse_fn = std::function<bool(std::string_view, T&, std::string&)>;

  static_assert(std::is_default_constructible_v<T>,
                "CSV records are decoded into default-constructed slots");

  /// Binds column `name` to member `field` (parsed by parse_csv_field).
  template <class V, class U = T>
  csv_format& column(std::string name, V U::*field) {
    return column(std::move(name),
                  parse_fn{[field](std::string_view s, T& out,
                                   std::string& error) {
                    return parse_csv_field(s, out.*field, error);
                  }});
  }

  /// Binds column `name` to a parse function, which returns false with an
  /// error message (without location) for a malformed field.
  csv_format& column(std::string name, parse_fn parse) {
    if (name.empty())
      throw std::invalid_argument("a CSV column needs a name");
    for (auto& c : columns_)
      if (c.name == name)
        throw std::invalid_argument("CSV column '" + name
                                    + "' is bound twice");
    columns_.push_back(column_def{std::move(name), std::move(parse)});
    positions_.push_back(static_cast<int>(columns_.size()) - 1);
    return *this;
  }

  /// Without a header: skips `n` fields at this position.
  csv_format& skip(size_t n = 1) {
    positions_.insert(positions_.end(), n, -1);
    return *this;
  }

  /// Whether files start with a header line (default true).
  csv_format& header(bool on) {
    header_ = on;
    return *this;
  }

  /// The field delimiter (default ',').
  csv_format& delimiter(char c) {
    if (c == '"' || c == '\n' || c == '\r')
      throw std::invalid_argument("a CSV delimiter cannot be a quote or a "
                                  "line break");
    delim_ = c;
    return *this;
  }

  /// The bound column names, comma-separated (for messages).
  std::string column_list() const {
    std::string out;
    for (auto& c : columns_) {
      if (!out.empty())
        out += delim_;
      out += c.name;
    }
    return out;
  }

  // -- the file source's interface -------------------------------------------

  bool has_header() const noexcept { return header_; }

  void read_header(std::string_view line) {
    if (columns_.empty())
      throw std::invalid_argument("the CSV format has no columns");
    map_.clear();
    std::vector<std::string> names;
    decode_error err;
    if (split(line, line.find('"') != std::string_view::npos,
              [&](size_t, std::string_view v, size_t) {
                names.emplace_back(v);
                return true;
              },
              err)
        != split_result::ok)
      throw std::runtime_error("malformed header line: " + err.message);
    for (auto& name : names) {
      int bound = -1;
      for (size_t c = 0; c < columns_.size(); ++c)
        if (columns_[c].name == name)
          bound = static_cast<int>(c);
      for (auto m : map_)
        if (bound >= 0 && m == bound)
          throw std::runtime_error("the header names column '" + name
                                   + "' twice");
      map_.push_back(bound);
    }
    for (size_t c = 0; c < columns_.size(); ++c) {
      bool found = false;
      for (auto m : map_)
        found = found || m == static_cast<int>(c);
      if (!found)
        throw std::runtime_error("the header line lacks column '"
                                 + columns_[c].name + "' (expected the "
                                 "columns " + column_list() + ", got "
                                 + quote_excerpt(line) + ")");
    }
  }

  void empty_file() {
    if (header_)
      throw std::runtime_error("the file is empty: expected a header line "
                               "with the columns "
                               + column_list());
  }

  decode_status decode(std::string_view rec, bool has_quotes, T& out,
                       decode_error& err) {
    if (rec.empty())
      return decode_status::skip;
    const auto& map = header_ ? map_ : positions_;
    if (map.empty() && header_)
      throw std::logic_error("CSV record before the header");
    if (!has_quotes)
      return decode_plain(rec, map, out, err);
    size_t fields = 0;
    auto res = split(
        rec, has_quotes,
        [&](size_t i, std::string_view v, size_t pos) {
          fields = i + 1;
          if (i < map.size() && map[i] >= 0) {
            auto& c = columns_[static_cast<size_t>(map[i])];
            if (!c.parse(v, out, err.message)) {
              err.message = "field '" + c.name + "' (column "
                            + std::to_string(i + 1) + "): " + err.message;
              err.position = pos;
              return false;
            }
          }
          return true;
        },
        err);
    if (res != split_result::ok)
      return res == split_result::quoted ? decode_status::quoted
                                         : decode_status::error;
    if (fields != map.size()) {
      err.message = "expected " + std::to_string(map.size()) + " fields ("
                    + (header_ ? std::string{"as the header"}
                               : column_list())
                    + "), got " + std::to_string(fields);
      err.position = 0;
      return decode_status::error;
    }
    return decode_status::record;
  }

private:
  struct column_def {
    std::string name;
    parse_fn parse;
  };

  /// The hot path: a record without quotes, fields cut at the delimiter
  /// in one pass; a '"' sends the record back to be delimited with quote
  /// parity.
  decode_status decode_plain(std::string_view rec, const std::vector<int>& map,
                             T& out, decode_error& err) {
    const char* p = rec.data();
    const char* e = p + rec.size();
    const auto known = map.size();
    size_t i = 0;
    for (;; ++i) {
      const char* q = detail::find_either(p, e, delim_, '"');
      if (q != e && *q == '"')
        return decode_status::quoted;
      if (i < known) {
        auto c = map[i];
        if (c >= 0) {
          auto& col = columns_[static_cast<size_t>(c)];
          if (!col.parse(std::string_view{p, static_cast<size_t>(q - p)}, out,
                         err.message)) {
            // A quote further on may hold a line break: the record must be
            // delimited with quote parity before it is judged.
            if (std::memchr(q, '"', static_cast<size_t>(e - q)) != nullptr)
              return decode_status::quoted;
            err.message = "field '" + col.name + "' (column "
                          + std::to_string(i + 1) + "): " + err.message;
            err.position = static_cast<size_t>(p - rec.data());
            return decode_status::error;
          }
        }
      }
      if (q == e)
        break;
      p = q + 1;
    }
    if (i + 1 != known) {
      err.message = "expected " + std::to_string(known) + " fields ("
                    + (header_ ? std::string{"as the header"} : column_list())
                    + "), got " + std::to_string(i + 1);
      err.position = 0;
      return decode_status::error;
    }
    return decode_status::record;
  }

  enum class split_result { ok, error, quoted };

  /// Calls f(index, value, position) for each field; error (with `err`)
  /// when the quoting is malformed or f returns false. Without
  /// `has_quotes`, stops with `quoted` at the first '"'.
  template <class F>
  split_result split(std::string_view rec, bool has_quotes, F&& f,
                     decode_error& err) {
    const char* p = rec.data();
    const char* e = p + rec.size();
    for (size_t i = 0;; ++i) {
      std::string_view value;
      auto pos = static_cast<size_t>(p - rec.data());
      if (p != e && *p == '"') {
        if (!has_quotes)
          return split_result::quoted;
        const char* q = ++p;
        bool escaped = false;
        for (;;) {
          q = static_cast<const char*>(
              std::memchr(q, '"', static_cast<size_t>(e - q)));
          if (q == nullptr) {
            err.message = "column " + std::to_string(i + 1)
                          + ": the quoted field is not closed";
            err.position = pos;
            return split_result::error;
          }
          if (q + 1 != e && q[1] == '"') {
            escaped = true;
            q += 2;
            continue;
          }
          break;
        }
        if (escaped) {
          scratch_.clear();
          for (const char* c = p; c != q; ++c) {
            scratch_ += *c;
            if (*c == '"')
              ++c; // the second quote of a pair
          }
          value = scratch_;
        } else {
          value = std::string_view{p, static_cast<size_t>(q - p)};
        }
        p = q + 1;
        if (p != e && *p != delim_) {
          err.message = "column " + std::to_string(i + 1)
                        + ": text after the closing quote";
          err.position = static_cast<size_t>(p - rec.data());
          return split_result::error;
        }
      } else {
        const char* q = p;
        while (q != e && *q != delim_ && *q != '"')
          ++q;
        if (q != e && *q == '"') {
          if (!has_quotes)
            return split_result::quoted;
          err.message = "column " + std::to_string(i + 1)
                        + ": a double quote inside an unquoted field "
                          "(quote the field and double the quote)";
          err.position = pos;
          return split_result::error;
        }
        value = std::string_view{p, static_cast<size_t>(q - p)};
        p = q;
      }
      if (!f(i, value, pos))
        return split_result::error;
      if (p == e)
        return split_result::ok;
      ++p; // the delimiter
    }
  }

  std::vector<column_def> columns_;
  std::vector<int> positions_; // without a header: field -> column or -1
  std::vector<int> map_;       // with a header: field -> column or -1
  bool header_ = true;
  char delim_ = ',';
  std::string scratch_; // unescaped quoted fields
};

} // namespace libstream
