#include "nexmark/queries.hpp"

#include <cstdio>
#include <stdexcept>

#include "libstream/libstream.hpp"

using namespace libstream;

namespace nexmark {

namespace {

/// The bids of the event stream (the reference's `bid` view).
data_stream<bid> bids(data_stream<event> events) {
  return events.flat_map<bid>(
      [](const event& e, collector<bid>& out) {
        if (auto* b = std::get_if<bid>(&e))
          out.collect(*b);
      },
      "Bids");
}

std::string join_fields(std::initializer_list<std::string> fields) {
  std::string s;
  bool first = true;
  for (auto& f : fields) {
    if (!first)
      s += ',';
    s += f;
    first = false;
  }
  return s;
}

// q0: pass-through of the bids.
data_stream<std::string> q0(data_stream<event> events) {
  return bids(events).map(
      [](const bid& b) {
        return join_fields({std::to_string(b.auction),
                            std::to_string(b.bidder),
                            std::to_string(b.price),
                            std::to_string(b.date_time), b.extra});
      },
      "Q0 Rows");
}

// q1: prices converted to euros.
data_stream<std::string> q1(data_stream<event> events) {
  return bids(events).map(
      [](const bid& b) {
        return join_fields({std::to_string(b.auction),
                            std::to_string(b.bidder),
                            dollar_to_euro(b.price),
                            std::to_string(b.date_time), b.extra});
      },
      "Q1 Rows");
}

// q2: the bids of every 123rd auction.
data_stream<std::string> q2(data_stream<event> events) {
  return bids(events)
      .filter([](const bid& b) { return b.auction % 123 == 0; }, "Q2 Filter")
      .map(
          [](const bid& b) {
            return std::to_string(b.auction) + ","
                   + std::to_string(b.price);
          },
          "Q2 Rows");
}

using builder_fn = data_stream<std::string> (*)(data_stream<event>);

struct entry {
  query_info info;
  builder_fn build;
};

const std::vector<entry>& entries() {
  static const std::vector<entry> xs = {
      {{"q0", "auction,bidder,price,date_time,extra", "pass-through"}, q0},
      {{"q1", "auction,bidder,price,date_time,extra", "currency conversion"},
       q1},
      {{"q2", "auction,price", "selection"}, q2},
  };
  return xs;
}

} // namespace

std::string dollar_to_euro(int64_t price) {
  auto milli = price * 908; // 0.908 * price, in thousandths
  auto whole = milli / 1000;
  auto frac = milli % 1000;
  if (frac < 0) {
    frac += 1000;
    whole -= 1;
  }
  char digits[8];
  std::snprintf(digits, sizeof(digits), "%03lld",
                static_cast<long long>(frac));
  return std::to_string(whole) + "." + digits;
}

const std::vector<query_info>& queries() {
  static const std::vector<query_info> xs = [] {
    std::vector<query_info> out;
    for (auto& e : entries())
      out.push_back(e.info);
    return out;
  }();
  return xs;
}

const query_info& query_named(const std::string& name) {
  for (auto& e : entries())
    if (e.info.name == name)
      return e.info;
  std::string known;
  for (auto& e : entries())
    known += (known.empty() ? "" : ", ") + e.info.name;
  throw std::invalid_argument("no query '" + name + "' (there are " + known
                              + ")");
}

data_stream<std::string> build_query(const std::string& name,
                                     data_stream<event> events) {
  query_named(name);
  for (auto& e : entries())
    if (e.info.name == name)
      return e.build(events);
  throw std::logic_error("unreachable");
}

} // namespace nexmark
