#include "nexmark/queries.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <unordered_map>

#include "libstream/libstream.hpp"
#include "libstream/quote.hpp"

using namespace libstream;

namespace nexmark {

namespace {

template <class T>
data_stream<T> of_type(data_stream<event> events, const char* name);

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
  return of_type<bid>(events, "Bids").map(
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
  return of_type<bid>(events, "Bids").map(
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
  return of_type<bid>(events, "Bids")
      .filter([](const bid& b) { return b.auction % 123 == 0; }, "Q2 Filter")
      .map(
          [](const bid& b) {
            return std::to_string(b.auction) + ","
                   + std::to_string(b.price);
          },
          "Q2 Rows");
}

template <class T>
data_stream<T> of_type(data_stream<event> events, const char* name) {
  return events.flat_map<T>(
      [](const event& e, collector<T>& out) {
        if (auto* x = std::get_if<T>(&e))
          out.collect(*x);
      },
      name);
}

constexpr int64_t ten_seconds = 10000;

int64_t tumble_start(int64_t t, int64_t size) {
  auto r = t % size;
  return t - (r < 0 ? r + size : r);
}

// q3: local item suggestion. Auctions of category 10 joined with their
// sellers from OR, ID or CA (a regular join: either side may come first).
struct q3_join final
    : keyed_co_process_function<int64_t, auction, person, std::string> {
  value_state<person> seller;
  list_state<int64_t> waiting; // auction ids before the seller

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    seller = st.get_state<person>("seller");
    waiting = st.get_list_state<int64_t>("waiting");
  }
  static std::string row(const person& p, int64_t id) {
    return p.name + "," + p.city + "," + p.state + "," + std::to_string(id);
  }
  void process_element1(const auction& a, context&,
                        collector<std::string>& out) override {
    if (auto p = seller.value()) {
      out.collect(row(*p, a.id));
      return;
    }
    waiting.add(a.id);
  }
  void process_element2(const person& p, context&,
                        collector<std::string>& out) override {
    seller.update(p);
    for (auto id : waiting.get())
      out.collect(row(p, id));
    waiting.clear();
  }
};

data_stream<std::string> q3(data_stream<event> events) {
  auto auctions = of_type<auction>(events, "Auctions")
                      .filter([](const auction& a) { return a.category == 10; },
                              "Category 10");
  auto persons = of_type<person>(events, "Persons")
                     .filter(
                         [](const person& p) {
                           return p.state == "OR" || p.state == "ID"
                                  || p.state == "CA";
                         },
                         "OR ID CA");
  return auctions.connect(persons)
      .key_by([](const auction& a) { return a.seller; },
              [](const person& p) { return p.id; })
      .process<std::string>([] { return std::make_unique<q3_join>(); },
                            "Q3 Join");
}

// q5: hot items. Bids per auction in sliding windows of 10 s every 2 s;
// per window the auctions with the most.
struct count_bids : aggregate_function<bid, int64_t, int64_t> {
  int64_t create_accumulator() const { return 0; }
  void add(const bid&, int64_t& acc) const { ++acc; }
  int64_t get_result(const int64_t& acc) const { return acc; }
  void merge(int64_t& a, const int64_t& b) const { a += b; }
};

struct window_count {
  int64_t window_start = 0;
  int64_t key = 0;
  int64_t count = 0;
};

template <class W>
struct emit_window_count final
    : process_window_function<int64_t, int64_t, window_count, W> {
  using context =
      typename process_window_function<int64_t, int64_t, window_count,
                                       W>::context;
  void process(const int64_t& key, const context& ctx,
               const std::vector<int64_t>& counts,
               collector<window_count>& out) override {
    out.collect(window_count{ctx.window().start, key, counts.front()});
  }
};

struct q5_max final
    : keyed_process_function<int64_t, window_count, std::string> {
  value_state<int64_t> max_;  // the window's highest count so far
  list_state<int64_t> keys_;  // the auctions with it

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    max_ = st.get_state<int64_t>("max");
    keys_ = st.get_list_state<int64_t>("keys");
  }
  void process_element(const window_count& c, context& ctx,
                       collector<std::string>&) override {
    auto max = max_.value();
    if (!max) {
      // The window's counts all carry its max timestamp, and come before
      // the watermark passes it.
      ctx.timer_service().register_event_time_timer(ctx.element_timestamp());
    }
    if (!max || c.count > *max) {
      max_.update(c.count);
      keys_.clear();
      keys_.add(c.key);
    } else if (c.count == *max) {
      keys_.add(c.key);
    }
  }
  void on_timer(timestamp, time_domain, context&,
                collector<std::string>& out) override {
    auto max = max_.value_or(0);
    for (auto key : keys_.get())
      out.collect(std::to_string(key) + "," + std::to_string(max));
    max_.clear();
    keys_.clear();
  }
};

data_stream<std::string> q5(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .key_by([](const bid& b) { return b.auction; })
      .window(sliding_event_time_windows::of(10000, 2000))
      .aggregate(count_bids{},
                 [] { return std::make_unique<emit_window_count<time_window>>(); },
                 "Q5 Counts")
      .key_by([](const window_count& c) { return c.window_start; })
      .process<std::string>([] { return std::make_unique<q5_max>(); },
                            "Q5 Max");
}

// q7: highest bid. Per 10 s window the bids at its highest price, where
// (as the reference's BETWEEN) a bid exactly at the window's end counts
// for the window that ends there too, but not for its maximum.
struct q7_max final
    : keyed_process_function<int64_t, std::pair<int64_t, bid>, std::string> {
  value_state<int64_t> max_price; // of the bids inside the window
  list_state<bid> best;           // the bids inside at that price
  list_state<bid> at_end;         // bids exactly at the window's end

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    max_price = st.get_state<int64_t>("max-price");
    best = st.get_list_state<bid>("best");
    at_end = st.get_list_state<bid>("at-end");
  }
  void process_element(const std::pair<int64_t, bid>& wb, context& ctx,
                       collector<std::string>&) override {
    auto end = wb.first + ten_seconds;
    auto& b = wb.second;
    // The window's timer, once: when its first bid comes.
    if (max_price.peek() == nullptr && at_end.peek() == nullptr)
      ctx.timer_service().register_event_time_timer(end);
    if (b.date_time == end) {
      at_end.add(b);
    } else {
      auto max = max_price.value_or(-1);
      if (b.price > max) {
        max_price.update(b.price);
        best.clear();
        best.add(b);
      } else if (b.price == max) {
        best.add(b);
      }
    }
  }
  static std::string row(const bid& b) {
    return std::to_string(b.auction) + "," + std::to_string(b.price) + ","
           + std::to_string(b.bidder) + "," + std::to_string(b.date_time)
           + "," + b.extra;
  }
  void on_timer(timestamp, time_domain, context&,
                collector<std::string>& out) override {
    if (auto max = max_price.value()) {
      for (auto& b : best.get())
        out.collect(row(b));
      for (auto& b : at_end.get())
        if (b.price == *max)
          out.collect(row(b));
    }
    max_price.clear();
    best.clear();
    at_end.clear();
  }
};

data_stream<std::string> q7(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .flat_map<std::pair<int64_t, bid>>(
          [](const bid& b, collector<std::pair<int64_t, bid>>& out) {
            auto start = tumble_start(b.date_time, ten_seconds);
            out.collect({start, b});
            if (b.date_time == start) // the end of the window before
              out.collect({start - ten_seconds, b});
          },
          "Q7 Windows")
      .key_by([](const std::pair<int64_t, bid>& wb) { return wb.first; })
      .process<std::string>([] { return std::make_unique<q7_max>(); },
                            "Q7 Max");
}

// q8: monitor new users. Persons who opened an auction in the 10 s
// window in which they registered. Only the columns the query reads go
// into the windows (as Flink's planner prunes them): a person's id, name
// and time, an auction's seller.
using q8_person = std::tuple<int64_t, std::string, int64_t>; // id, name, time

data_stream<std::string> q8(data_stream<event> events) {
  auto persons = events.flat_map<q8_person>(
      [](const event& e, collector<q8_person>& out) {
        if (auto* p = std::get_if<person>(&e))
          out.collect(q8_person{p->id, p->name, p->date_time});
      },
      "Persons");
  auto sellers = events.flat_map<int64_t>(
      [](const event& e, collector<int64_t>& out) {
        if (auto* a = std::get_if<auction>(&e))
          out.collect(a->seller);
      },
      "Sellers");
  return persons.co_group(sellers)
      .where([](const q8_person& p) { return std::get<0>(p); })
      .equal_to([](const int64_t& seller) { return seller; })
      .window(tumbling_event_time_windows::of(ten_seconds))
      .apply<std::string>(
          [](const std::vector<q8_person>& ps,
             const std::vector<int64_t>& sellers,
             collector<std::string>& out) {
            if (sellers.empty())
              return;
            for (auto& [id, name, time] : ps)
              out.collect(std::to_string(id) + "," + name + ","
                          + std::to_string(tumble_start(time, ten_seconds)));
          },
          "Q8 Join");
}

// q11: user sessions. Bids per bidder in sessions with a 10 s gap.
template <class W>
struct emit_session final
    : process_window_function<int64_t, int64_t, std::string, W> {
  using context =
      typename process_window_function<int64_t, int64_t, std::string,
                                       W>::context;
  void process(const int64_t& bidder, const context& ctx,
               const std::vector<int64_t>& counts,
               collector<std::string>& out) override {
    out.collect(std::to_string(bidder) + "," + std::to_string(counts.front())
                + "," + std::to_string(ctx.window().start) + ","
                + std::to_string(ctx.window().end));
  }
};

data_stream<std::string> q11(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .key_by([](const bid& b) { return b.bidder; })
      .window(event_time_session_windows::with_gap(ten_seconds))
      .aggregate(count_bids{},
                 [] { return std::make_unique<emit_session<time_window>>(); },
                 "Q11 Sessions");
}

// q12: bids per bidder in 10 s windows of processing time (so the rows
// depend on when the run happens; their counts add up to the bids).
data_stream<std::string> q12(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .key_by([](const bid& b) { return b.bidder; })
      .window(tumbling_processing_time_windows::of(ten_seconds))
      .aggregate(count_bids{},
                 [] { return std::make_unique<emit_session<time_window>>(); },
                 "Q12 Windows");
}

// q14: calculation. Euro prices between 1,000,000 and 50,000,000, the
// time of day (UTC) and the count of 'c' in extra.
data_stream<std::string> q14(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .filter(
          [](const bid& b) {
            auto milli = b.price * 908; // thousandths of 0.908 * price
            return milli > 1000000000LL && milli < 50000000000LL;
          },
          "Q14 Filter")
      .map(
          [](const bid& b) {
            auto hour = (b.date_time / 3600000) % 24;
            const char* type = hour >= 8 && hour <= 18 ? "dayTime"
                               : hour <= 6 || hour >= 20 ? "nightTime"
                                                         : "otherTime";
            auto cs = std::count(b.extra.begin(), b.extra.end(), 'c');
            return join_fields({std::to_string(b.auction),
                                std::to_string(b.bidder),
                                dollar_to_euro(b.price), type,
                                std::to_string(b.date_time), b.extra,
                                std::to_string(cs)});
          },
          "Q14 Rows");
}

// q20: bids joined with their auction when it is of category 10 (a
// regular join: bids may come before their auction).
struct q20_join final
    : keyed_co_process_function<int64_t, bid, auction, std::string> {
  value_state<auction> found; // the auction, of category 10
  value_state<bool> other;    // the auction is of another category
  list_state<bid> waiting;    // bids before their auction

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    found = st.get_state<auction>("auction");
    other = st.get_state<bool>("other");
    waiting = st.get_list_state<bid>("waiting");
  }
  static std::string row(const bid& b, const auction& a) {
    return join_fields(
        {std::to_string(b.auction), std::to_string(b.bidder),
         std::to_string(b.price), b.channel, b.url,
         std::to_string(b.date_time), b.extra, a.item_name, a.description,
         std::to_string(a.initial_bid), std::to_string(a.reserve),
         std::to_string(a.date_time), std::to_string(a.expires),
         std::to_string(a.seller), std::to_string(a.category), a.extra});
  }
  void process_element1(const bid& b, context&,
                        collector<std::string>& out) override {
    if (auto* a = found.peek()) {
      out.collect(row(b, *a));
    } else if (!other.has_value()) {
      waiting.add(b);
    }
  }
  void process_element2(const auction& a, context&,
                        collector<std::string>& out) override {
    if (a.category != 10) {
      other.update(true);
    } else {
      found.update(a);
      for (auto& b : waiting.get())
        out.collect(row(b, a));
    }
    waiting.clear();
  }
};

data_stream<std::string> q20(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .connect(of_type<auction>(events, "Auctions"))
      .key_by([](const bid& b) { return b.auction; },
              [](const auction& a) { return a.id; })
      .process<std::string>([] { return std::make_unique<q20_join>(); },
                            "Q20 Join");
}

// q23: every bid with the person who made it and each auction that person
// listed: the SQL's three-way regular join on person id (bid.bidder =
// person.id = auction.seller). All three sides are kept, as an unbounded
// join keeps them: a later auction joins every earlier bid of its seller.
struct q23_join final : keyed_process_function<int64_t, event, std::string> {
  value_state<person> who_;
  list_state<bid> bids_;
  list_state<auction> auctions_;

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    who_ = st.get_state<person>("person");
    bids_ = st.get_list_state<bid>("bids");
    auctions_ = st.get_list_state<auction>("auctions");
  }
  static std::string row(const bid& b, const person& p, const auction& a) {
    return join_fields(
        {std::to_string(b.bidder), std::to_string(b.price), b.channel, b.url,
         b.extra, std::to_string(p.id), p.name, p.email_address,
         p.credit_card, p.city, p.state, p.extra, a.item_name, a.description,
         std::to_string(a.initial_bid), std::to_string(a.reserve),
         std::to_string(a.date_time), std::to_string(a.expires),
         std::to_string(a.seller), std::to_string(a.category), a.extra});
  }
  void process_element(const event& e, context&,
                       collector<std::string>& out) override {
    if (auto* b = std::get_if<bid>(&e)) {
      bids_.add(*b);
      auto* as = auctions_.peek();
      auto* p = who_.peek();
      if (as != nullptr && p != nullptr)
        for (auto& a : *as)
          out.collect(row(*b, *p, a));
    } else if (auto* a = std::get_if<auction>(&e)) {
      auctions_.add(*a);
      auto* bs = bids_.peek();
      auto* p = who_.peek();
      if (bs != nullptr && p != nullptr)
        for (auto& x : *bs)
          out.collect(row(x, *p, *a));
    } else {
      auto& p = std::get<person>(e);
      who_.update(p);
      auto* as = auctions_.peek();
      auto* bs = bids_.peek();
      if (as != nullptr && bs != nullptr)
        for (auto& x : *bs)
          for (auto& a : *as)
            out.collect(row(x, p, a));
    }
  }
};

data_stream<std::string> q23(data_stream<event> events) {
  return events
      .key_by([](const event& e) -> int64_t {
        if (auto* b = std::get_if<bid>(&e))
          return b->bidder;
        if (auto* a = std::get_if<auction>(&e))
          return a->seller;
        return std::get<person>(e).id;
      })
      .process<std::string>([] { return std::make_unique<q23_join>(); },
                            "Q23 Join");
}

// q21: channel id, from the hot channels' names or the URL's channel_id.
std::optional<std::string> channel_id(const bid& b) {
  std::string lower = b.channel;
  for (auto& c : lower)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == "apple")
    return "0";
  if (lower == "google")
    return "1";
  if (lower == "facebook")
    return "2";
  if (lower == "baidu")
    return "3";
  // REGEXP_EXTRACT(url, '(&|^)channel_id=([^&]*)', 2)
  const std::string key = "channel_id=";
  size_t pos = 0;
  while ((pos = b.url.find(key, pos)) != std::string::npos) {
    if (pos == 0 || b.url[pos - 1] == '&') {
      auto from = pos + key.size();
      auto to = b.url.find('&', from);
      return b.url.substr(from, to == std::string::npos ? std::string::npos
                                                        : to - from);
    }
    pos += 1;
  }
  return std::nullopt;
}

data_stream<std::string> q21(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .flat_map<std::string>(
          [](const bid& b, collector<std::string>& out) {
            if (auto id = channel_id(b))
              out.collect(join_fields({std::to_string(b.auction),
                                       std::to_string(b.bidder),
                                       std::to_string(b.price), b.channel,
                                       *id}));
          },
          "Q21 Rows");
}

// q22: the URL's first three directories (SPLIT_INDEX(url, '/', 3..5)).
std::string split_index(const std::string& s, char sep, size_t index) {
  size_t start = 0;
  for (size_t i = 0; i < index; ++i) {
    start = s.find(sep, start);
    if (start == std::string::npos)
      return "";
    ++start;
  }
  auto end = s.find(sep, start);
  return s.substr(start, end == std::string::npos ? std::string::npos
                                                  : end - start);
}

data_stream<std::string> q22(data_stream<event> events) {
  return of_type<bid>(events, "Bids").map(
      [](const bid& b) {
        return join_fields({std::to_string(b.auction),
                            std::to_string(b.bidder),
                            std::to_string(b.price), b.channel,
                            split_index(b.url, '/', 3),
                            split_index(b.url, '/', 4),
                            split_index(b.url, '/', 5)});
      },
      "Q22 Rows");
}

// -- queries whose SQL result is an updating table: the final result once
// the bounded input ended (timers at the end of time fire with the final
// watermark) --------------------------------------------------------------

constexpr timestamp at_end = max_watermark;

constexpr int64_t ms_per_day = 86400000;

/// The UTC day of an epoch-ms time (days since 1970-01-01): the grouping
/// key; formatted only when a result is emitted.
int64_t day_of(int64_t ms) {
  return ms >= 0 ? ms / ms_per_day : (ms - ms_per_day + 1) / ms_per_day;
}

/// The minute of the UTC day (0..1439).
int64_t minute_of_day(int64_t ms) {
  return (ms - day_of(ms) * ms_per_day) / 60000;
}

/// yyyy-MM-dd of a day number.
std::string format_day(int64_t day) {
  time_t secs = static_cast<time_t>(day * 86400);
  tm parts{};
  gmtime_r(&secs, &parts);
  char buf[16];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d", &parts);
  return buf;
}

/// HH:mm of a minute of the day.
std::string format_minute(int64_t minute) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%02lld:%02lld",
                static_cast<long long>(minute / 60),
                static_cast<long long>(minute % 60));
  return buf;
}

// q10: every bid with its partition, dt (yyyy-MM-dd) and hm (HH:mm) of
// its time in UTC; the nexmark app writes them into files partitioned by
// dt and hm (split_q10_row).
data_stream<std::string> q10(data_stream<event> events) {
  struct rows {
    std::optional<int64_t> minute; // the epoch minute of `partition`
    std::string partition;
    std::string operator()(const bid& b) {
      auto m = b.date_time >= 0 ? b.date_time / 60000
                                : (b.date_time - 59999) / 60000;
      if (m != minute) {
        minute = m;
        auto day = day_of(b.date_time);
        partition = format_day(day) + ","
                    + format_minute(minute_of_day(b.date_time));
      }
      return join_fields({std::to_string(b.auction), std::to_string(b.bidder),
                          std::to_string(b.price), std::to_string(b.date_time),
                          b.extra, partition});
    }
  };
  return of_type<bid>(events, "Bids").map(rows{}, "Q10 Rows");
}

int rank_of(int64_t price) {
  return price < 10000 ? 1 : price < 1000000 ? 2 : 3;
}

/// q15/q16's counters of one group (K: the day, or channel and day): bids
/// per rank, and the distinct bidders and auctions (each with the ranks it
/// was seen in, as bits); q16 also the group's last minute.
template <class K>
struct rank_counts final : keyed_process_function<K, bid, std::string> {
  using context = typename keyed_process_function<K, bid, std::string>::context;

  value_state<std::array<int64_t, 4>> bids_; // total, rank 1..3
  map_state<int64_t, int64_t> bidders_;      // bidder -> rank bits
  map_state<int64_t, int64_t> auctions_;     // auction -> rank bits
  value_state<int64_t> minute_;              // max minute of the day

  void open(keyed_state_store<K>& st, const runtime_info&) override {
    bids_ = st.template get_state<std::array<int64_t, 4>>("bids");
    bidders_ = st.template get_map_state<int64_t, int64_t>("bidders");
    auctions_ = st.template get_map_state<int64_t, int64_t>("auctions");
    minute_ = st.template get_state<int64_t>("minute");
  }

  void process_element(const bid& b, context& ctx,
                       collector<std::string>&) override {
    auto r = rank_of(b.price);
    auto n = bids_.value();
    if (!n) {
      n.emplace(std::array<int64_t, 4>{0, 0, 0, 0});
      ctx.timer_service().register_event_time_timer(at_end);
    }
    (*n)[0] += 1;
    (*n)[static_cast<size_t>(r)] += 1;
    bids_.update(*n);
    auto bit = int64_t{1} << r;
    // Most bids repeat a bidder and an auction at a rank seen before.
    auto mark = [bit](auto& ids, int64_t id) {
      auto old = ids.get(id).value_or(0);
      if ((old | bit) != old)
        ids.put(id, old | bit);
    };
    mark(bidders_, b.bidder);
    mark(auctions_, b.auction);
    if constexpr (!std::is_same_v<K, int64_t>) {
      auto m = minute_of_day(b.date_time);
      if (m > minute_.value_or(-1))
        minute_.update(m);
    }
  }

  void on_timer(timestamp, time_domain, context& ctx,
                collector<std::string>& out) override {
    auto n = bids_.value_or({0, 0, 0, 0});
    auto distinct = [](const map_state<int64_t, int64_t>& m) {
      std::array<int64_t, 4> c{0, 0, 0, 0};
      m.for_each([&](int64_t, int64_t bits) {
        ++c[0];
        for (int r = 1; r <= 3; ++r)
          c[static_cast<size_t>(r)] += (bits >> r) & 1;
      });
      return c;
    };
    auto bidders = distinct(bidders_);
    auto auctions = distinct(auctions_);
    std::string row;
    if constexpr (std::is_same_v<K, int64_t>) {
      row = format_day(ctx.current_key());
    } else {
      auto& [channel, day] = ctx.current_key();
      row = channel + "," + format_day(day) + ","
            + format_minute(minute_.value_or(0));
    }
    for (auto& c : {n, bidders, auctions})
      for (auto x : c)
        row += "," + std::to_string(x);
    out.collect(row);
  }
};

data_stream<std::string> q15(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .key_by([](const bid& b) { return day_of(b.date_time); })
      .process<std::string>(
          [] { return std::make_unique<rank_counts<int64_t>>(); },
          "Q15 Counts");
}

data_stream<std::string> q16(data_stream<event> events) {
  using key = std::pair<std::string, int64_t>;
  return of_type<bid>(events, "Bids")
      .key_by([](const bid& b) {
        return std::make_pair(b.channel, day_of(b.date_time));
      })
      .process<std::string>([] { return std::make_unique<rank_counts<key>>(); },
                            "Q16 Counts");
}

// q17: per auction and day: bids per rank, min, max, average (integer)
// and sum of the prices.
struct q17_stats final
    : keyed_process_function<std::pair<int64_t, int64_t>, bid, std::string> {
  // total, rank 1..3, min, max, sum
  value_state<std::array<int64_t, 7>> stats_;

  void open(keyed_state_store<std::pair<int64_t, int64_t>>& st,
            const runtime_info&) override {
    stats_ = st.get_state<std::array<int64_t, 7>>("stats");
  }
  void process_element(const bid& b, context& ctx,
                       collector<std::string>&) override {
    auto s = stats_.value();
    if (!s) {
      s.emplace(std::array<int64_t, 7>{0, 0, 0, 0, b.price, b.price, 0});
      ctx.timer_service().register_event_time_timer(at_end);
    }
    (*s)[0] += 1;
    (*s)[static_cast<size_t>(rank_of(b.price))] += 1;
    (*s)[4] = std::min((*s)[4], b.price);
    (*s)[5] = std::max((*s)[5], b.price);
    (*s)[6] += b.price;
    stats_.update(*s);
  }
  void on_timer(timestamp, time_domain, context& ctx,
                collector<std::string>& out) override {
    auto s = stats_.value_or({});
    auto& key = ctx.current_key();
    out.collect(join_fields(
        {std::to_string(key.first), format_day(key.second),
         std::to_string(s[0]), std::to_string(s[1]), std::to_string(s[2]),
         std::to_string(s[3]), std::to_string(s[4]), std::to_string(s[5]),
         std::to_string(s[0] > 0 ? s[6] / s[0] : 0), std::to_string(s[6])}));
  }
};

data_stream<std::string> q17(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .key_by([](const bid& b) {
        return std::make_pair(b.auction, day_of(b.date_time));
      })
      .process<std::string>([] { return std::make_unique<q17_stats>(); },
                            "Q17 Stats");
}

// q18: the last bid of each bidder on each auction (by event time; on a
// tie the later arrival).
struct q18_last final
    : keyed_process_function<std::pair<int64_t, int64_t>, bid, std::string> {
  value_state<bid> last_;

  void open(keyed_state_store<std::pair<int64_t, int64_t>>& st,
            const runtime_info&) override {
    last_ = st.get_state<bid>("last");
  }
  void process_element(const bid& b, context& ctx,
                       collector<std::string>&) override {
    auto* cur = last_.peek();
    bool first = cur == nullptr;
    if (first || b.date_time >= cur->date_time)
      last_.update(b);
    if (first)
      ctx.timer_service().register_event_time_timer(at_end);
  }
  void on_timer(timestamp, time_domain, context&,
                collector<std::string>& out) override {
    if (auto b = last_.value())
      out.collect(join_fields({std::to_string(b->auction),
                               std::to_string(b->bidder),
                               std::to_string(b->price), b->channel, b->url,
                               std::to_string(b->date_time), b->extra}));
  }
};

data_stream<std::string> q18(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .key_by([](const bid& b) { return std::make_pair(b.bidder, b.auction); })
      .process<std::string>([] { return std::make_unique<q18_last>(); },
                            "Q18 Last");
}

// q4 and q9: the bids of each auction between its start and its expiry
// (the reference's regular join with a time condition). Bids may come
// before their auction (they are kept until it does); the auction's
// result is final once the watermark passes its expiry (events are no
// more than 4 s out of order), and its state goes then.
template <class R, class Emit>
struct auction_bids final
    : keyed_co_process_function<int64_t, auction, bid, R> {
  using context =
      typename keyed_co_process_function<int64_t, auction, bid, R>::context;

  explicit auction_bids(Emit emit) : emit_(std::move(emit)) {}

  value_state<auction> auction_;
  value_state<bid> best_; // highest price, earliest on equal prices
  list_state<bid> early_; // bids while the auction is not there

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    auction_ = st.get_state<auction>("auction");
    best_ = st.get_state<bid>("best");
    early_ = st.get_list_state<bid>("early");
  }

  void offer(const auction& a, const bid& b) {
    if (b.date_time < a.date_time || b.date_time > a.expires)
      return;
    auto* cur = best_.peek();
    if (cur == nullptr || b.price > cur->price
        || (b.price == cur->price && b.date_time < cur->date_time))
      best_.update(b);
  }

  void process_element1(const auction& a, context& ctx,
                        collector<R>&) override {
    auction_.update(a);
    for (auto& b : early_.get())
      offer(a, b);
    early_.clear();
    ctx.timer_service().register_event_time_timer(a.expires);
  }

  /// Without its auction a bid waits until the watermark passes its time:
  /// an auction that comes after that starts later than the bid (events
  /// are at most 4 s out of order), so the bid cannot count for it. So
  /// bids of auctions that finished, or never come, do not stay.
  void process_element2(const bid& b, context& ctx,
                        collector<R>&) override {
    if (auto* a = auction_.peek()) {
      offer(*a, b);
    } else {
      early_.add(b);
      ctx.timer_service().register_event_time_timer(b.date_time);
    }
  }

  void on_timer(timestamp t, time_domain, context&,
                collector<R>& out) override {
    auto a = auction_.value();
    if (!a) {
      early_.clear(); // bids whose time passed, without their auction
      return;
    }
    if (t < a->expires)
      return;
    if (auto b = best_.value())
      emit_(*a, *b, out);
    auction_.clear();
    best_.clear();
  }

  Emit emit_;
};

template <class R, class Emit>
data_stream<R> winning_bids(data_stream<event> events, Emit emit,
                            const char* name) {
  return of_type<auction>(events, "Auctions")
      .connect(of_type<bid>(events, "Bids"))
      .key_by([](const auction& a) { return a.id; },
              [](const bid& b) { return b.auction; })
      .template process<R>(
          [emit] { return std::make_unique<auction_bids<R, Emit>>(emit); },
          name);
}

// q4: average of the winning prices per category (integer, as the
// reference's AVG over BIGINT), final at the end.
struct q4_average final
    : keyed_process_function<int64_t, std::pair<int64_t, int64_t>,
                             std::string> {
  value_state<std::pair<int64_t, int64_t>> sum_count_;

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    sum_count_ = st.get_state<std::pair<int64_t, int64_t>>("sum-count");
  }
  void process_element(const std::pair<int64_t, int64_t>& cf, context& ctx,
                       collector<std::string>&) override {
    auto s = sum_count_.value();
    if (!s) {
      s.emplace(0, 0);
      ctx.timer_service().register_event_time_timer(at_end);
    }
    s->first += cf.second;
    s->second += 1;
    sum_count_.update(*s);
  }
  void on_timer(timestamp, time_domain, context& ctx,
                collector<std::string>& out) override {
    auto s = sum_count_.value_or({0, 1});
    out.collect(std::to_string(ctx.current_key()) + ","
                + std::to_string(s.first / s.second));
  }
};

data_stream<std::string> q4(data_stream<event> events) {
  using category_price = std::pair<int64_t, int64_t>;
  return winning_bids<category_price>(
             events,
             [](const auction& a, const bid& b,
                collector<category_price>& out) {
               out.collect({a.category, b.price});
             },
             "Q4 Winning Bids")
      .key_by([](const category_price& cf) { return cf.first; })
      .process<std::string>([] { return std::make_unique<q4_average>(); },
                            "Q4 Average");
}

// q9: the winning bid of each auction, with the auction.
data_stream<std::string> q9(data_stream<event> events) {
  return winning_bids<std::string>(
      events,
      [](const auction& a, const bid& b, collector<std::string>& out) {
        out.collect(join_fields(
            {std::to_string(a.id), a.item_name, a.description,
             std::to_string(a.initial_bid), std::to_string(a.reserve),
             std::to_string(a.date_time), std::to_string(a.expires),
             std::to_string(a.seller), std::to_string(a.category), a.extra,
             std::to_string(b.auction), std::to_string(b.bidder),
             std::to_string(b.price), std::to_string(b.date_time),
             b.extra}));
      },
      "Q9 Winning Bids");
}

// q19: the 10 highest bids of each auction with their rank (equal prices
// in arrival order), final at the end.
struct q19_top final : keyed_process_function<int64_t, bid, std::string> {
  value_state<std::vector<bid>> top_;

  void open(keyed_state_store<int64_t>& st, const runtime_info&) override {
    top_ = st.get_state<std::vector<bid>>("top");
  }
  void process_element(const bid& b, context& ctx,
                       collector<std::string>&) override {
    // Most bids do not make the top 10: checked without a copy.
    if (auto* kept = top_.peek();
        kept != nullptr && kept->size() == 10 && b.price <= kept->back().price)
      return;
    auto top = top_.value_or({});
    auto at = std::upper_bound(
        top.begin(), top.end(), b.price,
        [](int64_t price, const bid& x) { return price > x.price; });
    top.insert(at, b);
    if (top.size() > 10)
      top.pop_back();
    if (top.size() == 1)
      ctx.timer_service().register_event_time_timer(at_end);
    top_.update(std::move(top));
  }
  void on_timer(timestamp, time_domain, context&,
                collector<std::string>& out) override {
    int64_t rank = 0;
    for (auto& b : top_.value_or({}))
      out.collect(join_fields({std::to_string(b.auction),
                               std::to_string(b.bidder),
                               std::to_string(b.price), b.channel, b.url,
                               std::to_string(b.date_time), b.extra,
                               std::to_string(++rank)}));
  }
};

data_stream<std::string> q19(data_stream<event> events) {
  return of_type<bid>(events, "Bids")
      .key_by([](const bid& b) { return b.auction; })
      .process<std::string>([] { return std::make_unique<q19_top>(); },
                            "Q19 Top 10");
}

// q13: bids joined with a side input by auction mod 10000 (the
// reference's lookup join): a CSV file of key,value lines, read by each
// subtask when it opens; without one, the table the reference's
// SideInputGenerator writes (key i, value "i" for i < 10000).
/// q13's side input: key -> value as a CSV field (quoted where needed).
std::unordered_map<int64_t, std::string>
read_side_input(const std::string& path) {
  std::unordered_map<int64_t, std::string> table;
  if (path.empty()) {
    for (int64_t i = 0; i < 10000; ++i)
      table.emplace(i, std::to_string(i));
    return table;
  }
  std::ifstream in{path};
  if (!in)
    throw std::runtime_error("q13: cannot read the side input " + path);
  std::string line;
  size_t number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    auto comma = line.find(',');
    size_t used = 0;
    int64_t key = 0;
    try {
      key = std::stoll(line.substr(0, comma), &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (comma == std::string::npos || used != comma)
      throw std::runtime_error("q13: side input " + path + " line "
                               + std::to_string(number)
                               + ": expected key,value, got "
                               + quote_excerpt(line));
    table[key] = csv_field(line.substr(comma + 1));
  }
  return table;
}

struct q13_lookup final : process_function<bid, std::string> {
  explicit q13_lookup(std::string path) : path_(std::move(path)) {}

  void open(const runtime_info&) override { table_ = read_side_input(path_); }

  void process_element(const bid& b, context&,
                       collector<std::string>& out) override {
    auto i = table_.find(b.auction % 10000);
    if (i == table_.end())
      return;
    out.collect(join_fields({std::to_string(b.auction),
                             std::to_string(b.bidder),
                             std::to_string(b.price),
                             std::to_string(b.date_time), i->second}));
  }

  std::string path_;
  std::unordered_map<int64_t, std::string> table_;
};

data_stream<std::string> q13_with(data_stream<event> events,
                                  std::string side_input) {
  // Checked once when the job is defined: a missing file fails at once.
  read_side_input(side_input);
  return of_type<bid>(events, "Bids")
      .process<std::string>(
          [side_input] { return std::make_unique<q13_lookup>(side_input); },
          "Q13 Side Input");
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
      {{"q3", "name,city,state,id", "local item suggestion"}, q3},
      {{"q4", "category,avg_final", "average price per category"}, q4},
      {{"q5", "auction,num", "hot items"}, q5},
      {{"q7", "auction,price,bidder,date_time,extra", "highest bid"}, q7},
      {{"q8", "id,name,starttime", "monitor new users"}, q8},
      {{"q9",
        "id,item_name,description,initial_bid,reserve,date_time,expires,"
        "seller,category,extra,auction,bidder,price,bid_date_time,bid_extra",
        "winning bids"},
       q9},
      {{"q10", "auction,bidder,price,date_time,extra,dt,hm",
        "log to file system"},
       q10},
      {{"q11", "bidder,bid_count,starttime,endtime", "user sessions"}, q11},
      {{"q12", "bidder,bid_count,starttime,endtime",
        "processing-time windows"},
       q12},
      // Built by build_query, with its side input.
      {{"q13", "auction,bidder,price,date_time,value", "side input join"},
       nullptr},
      {{"q14", "auction,bidder,price,bid_time_type,date_time,extra,c_counts",
        "calculation"},
       q14},
      {{"q15",
        "day,total_bids,rank1_bids,rank2_bids,rank3_bids,total_bidders,"
        "rank1_bidders,rank2_bidders,rank3_bidders,total_auctions,"
        "rank1_auctions,rank2_auctions,rank3_auctions",
        "bidding statistics per day"},
       q15},
      {{"q16",
        "channel,day,minute,total_bids,rank1_bids,rank2_bids,rank3_bids,"
        "total_bidders,rank1_bidders,rank2_bidders,rank3_bidders,"
        "total_auctions,rank1_auctions,rank2_auctions,rank3_auctions",
        "channel statistics per day"},
       q16},
      {{"q17",
        "auction,day,total_bids,rank1_bids,rank2_bids,rank3_bids,min_price,"
        "max_price,avg_price,sum_price",
        "auction statistics per day"},
       q17},
      {{"q18", "auction,bidder,price,channel,url,date_time,extra",
        "last bid per bidder and auction"},
       q18},
      {{"q19", "auction,bidder,price,channel,url,date_time,extra,rank_number",
        "top 10 bids per auction"},
       q19},
      {{"q20",
        "auction,bidder,price,channel,url,bid_date_time,bid_extra,item_name,"
        "description,initial_bid,reserve,auction_date_time,expires,seller,"
        "category,auction_extra",
        "bids with their auction"},
       q20},
      {{"q21", "auction,bidder,price,channel,channel_id", "channel id"}, q21},
      {{"q22", "auction,bidder,price,channel,dir1,dir2,dir3",
        "url directories"},
       q22},
      {{"q23",
        "bidder,price,channel,url,bid_extra,person_id,name,email_address,"
        "credit_card,city,state,person_extra,item_name,description,"
        "initial_bid,reserve,auction_date_time,expires,seller,category,"
        "auction_extra",
        "bids with their person and auctions"},
       q23},
  };
  return xs;
}

} // namespace

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos)
    return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"')
      q += '"';
    q += c;
  }
  return q + "\"";
}

q10_row split_q10_row(const std::string& row) {
  auto hm = row.rfind(',');
  auto dt = hm == std::string::npos || hm == 0 ? std::string::npos
                                               : row.rfind(',', hm - 1);
  if (dt == std::string::npos)
    throw std::invalid_argument("not a q10 row (no dt,hm at its end): "
                                + row);
  return {row.substr(0, dt),
          "dt=" + row.substr(dt + 1, hm - dt - 1) + "/hm="
              + row.substr(hm + 1)};
}

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
                                     data_stream<event> events,
                                     const std::string& side_input) {
  query_named(name);
  if (name == "q13")
    return q13_with(events, side_input);
  for (auto& e : entries())
    if (e.info.name == name)
      return e.build(events);
  throw std::logic_error("unreachable");
}

} // namespace nexmark
