#pragma once

#include <cstdint>
#include <string>

namespace bench {

/// Writes `lines` trades as the stock aggregator's CSV (60 industries,
/// 5,000 symbols, timestamps up to 3 s out of order); returns its size.
uint64_t write_trades_csv(const std::string& path, uint64_t lines);

/// The stock aggregation by hand: mmap, from_chars, a hash map keyed by
/// window start and industry; writes the rows sorted. Returns seconds.
double loop_stock(const std::string& input, const std::string& output,
                  int64_t window_ms, uint64_t& records);

/// The stock aggregator's job (stock::run) on the file. Returns seconds.
double engine_stock(const std::string& input, const std::string& output,
                    int parallelism, uint64_t& records);

/// The file source alone: read and decode into trades, to a counting sink.
double engine_source_only(const std::string& input, int parallelism,
                          uint64_t& records);

/// `cat input > /dev/null`, as a child process. Returns seconds.
double cat_seconds(const std::string& input);

/// Whether two result files hold the same rows (in any order).
bool same_rows(const std::string& a, const std::string& b);

} // namespace bench
