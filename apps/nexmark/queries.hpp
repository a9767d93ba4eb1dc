#pragma once

// The Nexmark queries, written with libstream's DataStream API as an
// application would, with the semantics of the reference SQL
// (nexmark/nexmark, nexmark-flink/src/main/resources/queries). Each takes
// the stream of generated events (timestamps and watermarks assigned: the
// event time, 4 s bounded out-of-orderness) and gives its result rows as
// CSV lines, with the column names of the reference query's SELECT list.

#include <string>
#include <vector>

#include "libstream/data_stream.hpp"
#include "nexmark/model.hpp"

namespace nexmark {

struct query_info {
  std::string name;   // "q0"
  std::string header; // CSV header of the result rows
  std::string title;  // what it computes
};

/// The queries built so far, in order.
const std::vector<query_info>& queries();

/// The query named `name`; throws std::invalid_argument naming the ones
/// there are.
const query_info& query_named(const std::string& name);

/// Appends query `name` to `events`: its result rows as CSV lines.
/// `side_input`: q13's key,value CSV file ("" for the reference's
/// generated table).
libstream::data_stream<std::string>
build_query(const std::string& name, libstream::data_stream<event> events,
            const std::string& side_input = "");

/// A CSV field (RFC 4180): quoted when it holds a comma, quote or line
/// break.
std::string csv_field(const std::string& s);

/// A q10 row split into the file's line (without dt and hm) and its
/// partition directory, `dt=yyyy-MM-dd/hm=HH:mm` (Flink's filesystem
/// sink partitioned by dt, hm).
struct q10_row {
  std::string line;
  std::string partition;
};
q10_row split_q10_row(const std::string& row);

/// The columns of q10's files (the partition columns are in the path).
inline constexpr const char* q10_file_header
    = "auction,bidder,price,date_time,extra";

/// q1's price: 0.908 * price as a decimal with three places (exact).
std::string dollar_to_euro(int64_t price);

} // namespace nexmark
