#include "nexmark/generator.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace nexmark {

int32_t java_random::next_int(int32_t bound) {
  auto r = next(31);
  auto m = bound - 1;
  if ((bound & m) == 0)
    return static_cast<int32_t>((static_cast<int64_t>(bound) * r) >> 31);
  for (int32_t u = r;; u = next(31)) {
    r = u % bound;
    // Java's int arithmetic wraps: u - r + m < 0 rejects the top range.
    auto check = static_cast<int32_t>(static_cast<uint32_t>(u)
                                      - static_cast<uint32_t>(r)
                                      + static_cast<uint32_t>(m));
    if (check >= 0)
      return r;
  }
}

namespace {

// -- the reference's constants --------------------------------------------------

constexpr int64_t proportion_total = 50; // 1 person, 3 auctions, 46 bids
constexpr int64_t person_proportion = 1;
constexpr int64_t auction_proportion = 3;
constexpr int64_t first_person_id = 1000;
constexpr int64_t first_auction_id = 1000;
constexpr int64_t first_category_id = 10;
constexpr int32_t num_categories = 5;
constexpr int64_t person_id_lead = 10;
constexpr int64_t auction_id_lead = 10;
constexpr int64_t hot_batch = 100; // HOT_SELLER/AUCTION/BIDDER_RATIO
constexpr int32_t hot_sellers_ratio = 4;
constexpr int32_t hot_bidders_ratio = 4;
constexpr int32_t hot_auction_ratio = 2;
constexpr int64_t num_active_people = 1000;
constexpr int64_t num_in_flight_auctions = 100;
constexpr int64_t avg_person_bytes = 200;
constexpr int64_t avg_auction_bytes = 500;
constexpr int64_t avg_bid_bytes = 100;
constexpr int32_t channels = 10000;
constexpr size_t pool_bytes = 1 << 20;

const char* const first_names[] = {"Peter", "Paul",  "Luke",   "John",
                                   "Saul",  "Vicky", "Kate",   "Julie",
                                   "Sarah", "Deiter", "Walter"};
const char* const last_names[] = {"Shultz", "Abrams", "Spencer",
                                  "White",  "Bartels", "Walton",
                                  "Smith",  "Jones",  "Noris"};
const char* const cities[] = {"Phoenix", "Los Angeles", "San Francisco",
                              "Boise",   "Portland",    "Bend",
                              "Redmond", "Seattle",     "Kent",
                              "Cheyenne"};
const char* const states[] = {"AZ", "CA", "ID", "OR", "WA", "WY"};
const char* const hot_channels[] = {"Google", "Facebook", "Baidu", "Apple"};

// -- strings ----------------------------------------------------------------------

/// Java's String.trim: strips characters <= ' ' at both ends.
std::string java_trim(std::string s) {
  size_t b = 0;
  while (b < s.size() && static_cast<unsigned char>(s[b]) <= ' ')
    ++b;
  size_t e = s.size();
  while (e > b && static_cast<unsigned char>(s[e - 1]) <= ' ')
    --e;
  return s.substr(b, e - b);
}

/// 3 to max_len - 1 characters, each `special` with probability 1/13,
/// else a-z; trimmed.
std::string next_string(java_random& rnd, int32_t max_len,
                        char special = ' ') {
  auto len = 3 + rnd.next_int(max_len - 3);
  std::string s;
  s.reserve(static_cast<size_t>(len));
  for (int32_t i = 0; i < len; ++i) {
    if (rnd.next_int(13) == 0)
      s.push_back(special);
    else
      s.push_back(static_cast<char>('a' + rnd.next_int(26)));
  }
  return java_trim(std::move(s));
}

/// The reference's generic exact-length string: six characters per
/// nextInt(), from the signed remainder (so 'H'..'z', a quirk kept).
std::string exact_string_generic(java_random& rnd, size_t length) {
  std::string s;
  s.reserve(length);
  int32_t r = 0;
  int n = 0;
  for (size_t i = 0; i < length; ++i) {
    if (n == 0) {
      r = rnd.next_int();
      n = 6;
    }
    s.push_back(static_cast<char>('a' + r % 26));
    r /= 26;
    --n;
  }
  return s;
}

/// The 1 MiB pool padding strings are cut from (built once, here from a
/// fixed seed: the reference's pool comes from an unseeded generator).
const std::string& padding_pool() {
  static const std::string pool = [] {
    java_random rnd{0x6e65786d61726bLL}; // "nexmark"
    return exact_string_generic(rnd, pool_bytes);
  }();
  return pool;
}

std::string next_exact_string(java_random& rnd, int64_t length) {
  if (length <= 0)
    return {};
  auto len = static_cast<size_t>(length);
  if (len < pool_bytes / 2) {
    auto off = rnd.next_int(static_cast<int32_t>(pool_bytes - len));
    return padding_pool().substr(static_cast<size_t>(off), len);
  }
  return exact_string_generic(rnd, len);
}

/// Java's Math.round for the positive values used here.
int64_t java_round(double x) {
  return static_cast<int64_t>(std::floor(x + 0.5));
}

/// Padding so that the event averages `avg` bytes.
std::string next_extra(java_random& rnd, int64_t current, int64_t avg) {
  if (current > avg)
    return {};
  auto d = avg - current;
  auto delta = static_cast<int32_t>(java_round(static_cast<double>(d) * 0.2));
  auto size = (d - delta)
              + (delta == 0 ? 0 : rnd.next_int(2 * delta));
  return next_exact_string(rnd, size);
}

/// Cents, 100 to 100,000,000, log-uniform.
int64_t next_price(java_random& rnd) {
  return java_round(std::pow(10.0, rnd.next_double() * 6.0) * 100.0);
}

int64_t next_long_bounded(java_random& rnd, int64_t n) {
  if (n < 2147483647)
    return rnd.next_int(static_cast<int32_t>(n));
  auto r = rnd.next_long() % n;
  return r < 0 ? -r : r;
}

// -- channels and URLs -------------------------------------------------------------

std::string base_url(java_random& rnd) {
  auto a = next_string(rnd, 5, '_');
  auto b = next_string(rnd, 5, '_');
  auto c = next_string(rnd, 5, '_');
  return "https://www.nexmark.com/" + a + "/" + b + "/" + c
         + "/item.htm?query=1";
}

int32_t java_reverse(int32_t i) {
  auto x = static_cast<uint32_t>(i);
  uint32_t r = 0;
  for (int b = 0; b < 32; ++b) {
    r = (r << 1) | (x & 1);
    x >>= 1;
  }
  return static_cast<int32_t>(r);
}

struct channel_table {
  std::vector<std::string> hot_urls;
  std::vector<std::pair<std::string, std::string>> cache; // channel, url
};

/// The hot channels' URLs and the cache of 10,000 channels with URLs, as
/// the reference builds them once (here from a fixed seed).
const channel_table& channel_urls() {
  static const channel_table table = [] {
    channel_table t;
    java_random rnd{0x6368616e6e656cLL}; // "channel"
    for (int i = 0; i < 4; ++i)
      t.hot_urls.push_back(base_url(rnd));
    t.cache.reserve(channels);
    for (int32_t i = 0; i < channels; ++i) {
      auto url = base_url(rnd);
      if (rnd.next_int(10) > 0) {
        // Java's Math.abs(Integer.MIN_VALUE) stays negative (i = 1).
        auto rev = java_reverse(i);
        int64_t id = rev == INT32_MIN ? rev : (rev < 0 ? -rev : rev);
        url += "&channel_id=" + std::to_string(id);
      }
      t.cache.emplace_back("channel-" + std::to_string(i), std::move(url));
    }
    return t;
  }();
  return table;
}

// -- ids ----------------------------------------------------------------------------

int64_t next_base0_person_id(int64_t event_id, java_random& rnd) {
  auto num_people = last_base0_person_id(event_id) + 1;
  auto active = std::min(num_people, num_active_people);
  auto r = next_long_bounded(rnd, active + person_id_lead);
  return num_people - active + r;
}

int64_t next_base0_auction_id(int64_t event_id, java_random& rnd) {
  auto max_a = last_base0_auction_id(event_id);
  auto min_a = std::max<int64_t>(max_a - num_in_flight_auctions, 0);
  return min_a + next_long_bounded(rnd, max_a - min_a + 1 + auction_id_lead);
}

// -- events ---------------------------------------------------------------------------

person make_person(int64_t event_id, int64_t ts, java_random& rnd) {
  person p;
  p.id = last_base0_person_id(event_id) + first_person_id;
  // Each draw in its own statement: the operands of + may be evaluated
  // in any order, and the reference draws left to right.
  auto first = rnd.next_int(11);
  auto last = rnd.next_int(9);
  p.name = std::string{first_names[first]} + " " + last_names[last];
  auto local = next_string(rnd, 7);
  auto domain = next_string(rnd, 5);
  p.email_address = local + "@" + domain + ".com";
  char cc[24];
  int parts[4];
  for (auto& x : parts)
    x = rnd.next_int(10000);
  std::snprintf(cc, sizeof(cc), "%04d %04d %04d %04d", parts[0], parts[1],
                parts[2], parts[3]);
  p.credit_card = cc;
  p.city = cities[rnd.next_int(10)];
  p.state = states[rnd.next_int(6)];
  p.date_time = ts;
  auto size = static_cast<int64_t>(8 + p.name.size() + p.email_address.size()
                                   + p.credit_card.size() + p.city.size()
                                   + p.state.size());
  p.extra = next_extra(rnd, size, avg_person_bytes);
  return p;
}

auction make_auction(const generator_config& cfg, uint64_t number,
                     int64_t event_id, int64_t ts, java_random& rnd) {
  auction a;
  a.id = last_base0_auction_id(event_id) + first_auction_id;
  if (rnd.next_int(hot_sellers_ratio) > 0)
    a.seller = (last_base0_person_id(event_id) / hot_batch) * hot_batch;
  else
    a.seller = next_base0_person_id(event_id, rnd);
  a.seller += first_person_id;
  a.category = first_category_id + rnd.next_int(num_categories);
  a.initial_bid = next_price(rnd);
  // Auctions last up to twice the time it takes to make the in-flight
  // auctions' worth of events.
  auto n_events = (num_in_flight_auctions * proportion_total)
                  / auction_proportion;
  auto horizon = timestamp_of(cfg, number + static_cast<uint64_t>(n_events))
                 - ts;
  a.expires = ts + 1
              + next_long_bounded(rnd, std::max<int64_t>(2 * horizon, 1));
  a.item_name = next_string(rnd, 20);
  a.description = next_string(rnd, 100);
  a.reserve = a.initial_bid + next_price(rnd);
  a.date_time = ts;
  auto size = static_cast<int64_t>(8 + a.item_name.size()
                                   + a.description.size() + 8 + 8 + 8 + 8
                                   + 8);
  a.extra = next_extra(rnd, size, avg_auction_bytes);
  return a;
}

bid make_bid(int64_t event_id, int64_t ts, java_random& rnd) {
  bid b;
  if (rnd.next_int(hot_auction_ratio) > 0)
    b.auction = (last_base0_auction_id(event_id) / hot_batch) * hot_batch;
  else
    b.auction = next_base0_auction_id(event_id, rnd);
  b.auction += first_auction_id;
  if (rnd.next_int(hot_bidders_ratio) > 0)
    b.bidder = (last_base0_person_id(event_id) / hot_batch) * hot_batch + 1;
  else
    b.bidder = next_base0_person_id(event_id, rnd);
  b.bidder += first_person_id;
  b.price = next_price(rnd);
  auto& table = channel_urls();
  if (rnd.next_int(2) > 0) {
    auto i = rnd.next_int(4);
    b.channel = hot_channels[i];
    b.url = table.hot_urls[static_cast<size_t>(i)];
  } else {
    auto& entry = table.cache[static_cast<size_t>(rnd.next_int(channels))];
    b.channel = entry.first;
    b.url = entry.second;
  }
  // The reference adds the person id offset a second time (since 2021):
  // bidders are base-0 person ids + 2000. Kept, as the queries' results
  // depend on it.
  b.bidder += first_person_id;
  b.date_time = ts;
  b.extra = next_extra(rnd, 32, avg_bid_bytes);
  return b;
}

} // namespace

int64_t last_base0_person_id(int64_t event_id) {
  auto epoch = event_id / proportion_total;
  auto off = event_id % proportion_total;
  if (off >= person_proportion)
    off = person_proportion - 1;
  return epoch * person_proportion + off;
}

int64_t last_base0_auction_id(int64_t event_id) {
  auto epoch = event_id / proportion_total;
  auto off = event_id % proportion_total;
  if (off < person_proportion) {
    epoch -= 1;
    off = auction_proportion - 1;
  } else if (off >= person_proportion + auction_proportion) {
    off = auction_proportion - 1;
  } else {
    off -= person_proportion;
  }
  return epoch * auction_proportion + off;
}

int64_t timestamp_of(const generator_config& cfg, uint64_t n) {
  // One generator: the delay between events in microseconds; the product
  // is truncated before the division, as the reference does.
  auto delay_us = 1000000.0 / cfg.events_per_second;
  auto us = static_cast<int64_t>(static_cast<double>(n) * delay_us);
  return cfg.base_time_ms + us / 1000;
}

event generate(const generator_config& cfg, uint64_t k) {
  auto number = k + 1;
  auto id = static_cast<int64_t>(number) + 1;
  auto ts = timestamp_of(cfg, number);
  java_random rnd{id};
  switch (type_of_id(id)) {
    case 0:
      return make_person(id, ts, rnd);
    case 1:
      return make_auction(cfg, number, id, ts, rnd);
    default:
      return make_bid(id, ts, rnd);
  }
}

} // namespace nexmark
