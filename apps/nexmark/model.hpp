#pragma once

// The Nexmark data model (persons, auctions, bids), as the reference
// generator of nexmark/nexmark makes them. Times are epoch milliseconds.

#include <cstdint>
#include <string>
#include <variant>

#include "libstream/codec.hpp"

namespace nexmark {

struct person {
  int64_t id = 0;
  std::string name;
  std::string email_address;
  std::string credit_card;
  std::string city;
  std::string state;
  int64_t date_time = 0;
  std::string extra;
};

struct auction {
  int64_t id = 0;
  std::string item_name;
  std::string description;
  int64_t initial_bid = 0;
  int64_t reserve = 0;
  int64_t date_time = 0;
  int64_t expires = 0;
  int64_t seller = 0;
  int64_t category = 0;
  std::string extra;
};

struct bid {
  int64_t auction = 0;
  int64_t bidder = 0;
  int64_t price = 0;
  std::string channel;
  std::string url;
  int64_t date_time = 0;
  std::string extra;
};

/// One generated event: exactly one of the three.
using event = std::variant<person, auction, bid>;

/// The event's time.
inline int64_t date_time_of(const event& e) {
  return std::visit([](const auto& x) { return x.date_time; }, e);
}

} // namespace nexmark

template <>
struct libstream::codec<nexmark::person>
    : member_codec<nexmark::person, &nexmark::person::id,
                   &nexmark::person::name, &nexmark::person::email_address,
                   &nexmark::person::credit_card, &nexmark::person::city,
                   &nexmark::person::state, &nexmark::person::date_time,
                   &nexmark::person::extra> {};

template <>
struct libstream::codec<nexmark::auction>
    : member_codec<nexmark::auction, &nexmark::auction::id,
                   &nexmark::auction::item_name,
                   &nexmark::auction::description,
                   &nexmark::auction::initial_bid, &nexmark::auction::reserve,
                   &nexmark::auction::date_time, &nexmark::auction::expires,
                   &nexmark::auction::seller, &nexmark::auction::category,
                   &nexmark::auction::extra> {};

template <>
struct libstream::codec<nexmark::bid>
    : member_codec<nexmark::bid, &nexmark::bid::auction, &nexmark::bid::bidder,
                   &nexmark::bid::price, &nexmark::bid::channel,
                   &nexmark::bid::url, &nexmark::bid::date_time,
                   &nexmark::bid::extra> {};

