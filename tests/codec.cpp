#define CAF_SUITE codec
#include "caf/test/unit_test.hpp"

// The binary codecs of records and state: round trips, the pinned byte
// format, and corrupt input that must fail with codec_error.

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/network_output.hpp"
#include "test_util.hpp"

using namespace libstream;

namespace {

struct trade {
  int64_t ts = 0;
  std::string symbol;
  double price = 0;

  friend bool operator==(const trade& x, const trade& y) {
    return x.ts == y.ts && x.symbol == y.symbol && x.price == y.price;
  }
};

enum class side : uint8_t { buy = 1, sell = 2 };

/// Hex of a byte string, for pinned encodings.
std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xf];
  }
  return out;
}

template <class T>
bool round_trips(const T& x) {
  return decode_value<T>(encode_value(x)) == x;
}

template <class T>
std::string decode_error(const std::string& bytes) {
  try {
    decode_value<T>(bytes);
  } catch (const codec_error& e) {
    return e.what();
  }
  return "";
}

} // namespace

template <>
struct libstream::codec<trade> {
  static void encode(const trade& t, byte_writer& w) {
    codec<int64_t>::encode(t.ts, w);
    codec<std::string>::encode(t.symbol, w);
    codec<double>::encode(t.price, w);
  }
  static trade decode(byte_reader& r) {
    trade t;
    t.ts = codec<int64_t>::decode(r);
    t.symbol = codec<std::string>::decode(r);
    t.price = codec<double>::decode(r);
    return t;
  }
};

CAF_TEST(scalars round trip at their limits) {
  for (int64_t x : {int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{63},
                    int64_t{-64}, int64_t{64},
                    std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()})
    CAF_CHECK(round_trips(x));
  for (uint64_t x : {uint64_t{0}, uint64_t{127}, uint64_t{128},
                     std::numeric_limits<uint64_t>::max()})
    CAF_CHECK(round_trips(x));
  CAF_CHECK(round_trips(int8_t{-128}));
  CAF_CHECK(round_trips(uint16_t{65535}));
  CAF_CHECK(round_trips(true));
  CAF_CHECK(round_trips(false));
  CAF_CHECK(round_trips(3.25));
  CAF_CHECK(round_trips(-0.5f));
  CAF_CHECK(round_trips(std::numeric_limits<double>::infinity()));
  CAF_CHECK(round_trips(side::sell));
  CAF_CHECK(round_trips(std::string{}));
  CAF_CHECK(round_trips(std::string{"a\0b", 3}));
}

CAF_TEST(composites round trip) {
  CAF_CHECK(round_trips(std::make_pair(std::string{"k"}, int64_t{-7})));
  CAF_CHECK(round_trips(std::make_tuple(1, std::string{"x"}, 2.5, false)));
  CAF_CHECK(round_trips(std::vector<std::string>{"a", "", "ccc"}));
  CAF_CHECK(round_trips(std::vector<int>{}));
  CAF_CHECK(round_trips(std::map<std::string, std::vector<int64_t>>{
      {"a", {1, 2}}, {"b", {}}}));
  CAF_CHECK(round_trips(std::unordered_map<int, std::string>{{1, "one"},
                                                             {2, "two"}}));
  CAF_CHECK(round_trips(std::set<int>{3, 1, 2}));
  CAF_CHECK(round_trips(std::optional<std::string>{}));
  CAF_CHECK(round_trips(std::optional<std::string>{"here"}));
  CAF_CHECK(round_trips(std::array<int, 3>{4, 5, 6}));
  CAF_CHECK(round_trips(trade{1700000000000, "ACME", 12.5}));
  CAF_CHECK(round_trips(std::vector<trade>{{1, "A", 1}, {2, "B", 2}}));
  CAF_CHECK(has_codec_v<trade>);
  CAF_CHECK(!has_codec_v<std::vector<std::nullptr_t>>);
}

// Snapshots written on one machine are read on another: the bytes are
// pinned.
CAF_TEST(the encoding is pinned) {
  CAF_CHECK_EQUAL(std::string{codec_format_name}, "libstream-codec-1");
  CAF_CHECK_EQUAL(hex(encode_value(int64_t{0})), "00");
  CAF_CHECK_EQUAL(hex(encode_value(int64_t{-1})), "01");
  CAF_CHECK_EQUAL(hex(encode_value(int64_t{1})), "02");
  CAF_CHECK_EQUAL(hex(encode_value(int64_t{300})), "d804");
  CAF_CHECK_EQUAL(hex(encode_value(uint32_t{300})), "ac02");
  CAF_CHECK_EQUAL(hex(encode_value(1.0)), "000000000000f03f");
  CAF_CHECK_EQUAL(hex(encode_value(std::string{"hi"})), "026869");
  CAF_CHECK_EQUAL(hex(encode_value(std::optional<int>{5})), "010a");
  CAF_CHECK_EQUAL(hex(encode_value(std::vector<bool>{true, false})),
                  "020100");
  CAF_CHECK_EQUAL(hex(encode_value(std::map<int, int>{{1, 2}})), "010204");
}

CAF_TEST(corrupt input is a codec error never a crash) {
  auto s = encode_value(std::string{"hello"});
  // Truncated anywhere.
  for (size_t n = 0; n < s.size(); ++n)
    CAF_CHECK(test::contains(decode_error<std::string>(s.substr(0, n)),
                             "truncated")
              || test::contains(decode_error<std::string>(s.substr(0, n)),
                                "exceeds"));
  // Trailing bytes.
  CAF_CHECK(
      test::contains(decode_error<std::string>(s + "x"), "left over"));
  // A length far beyond the buffer does not allocate it.
  byte_writer w;
  w.put_varint(uint64_t{1} << 60);
  CAF_CHECK(
      test::contains(decode_error<std::vector<int64_t>>(w.data()), "exceeds"));
  // A varint that never ends, and one beyond 64 bits.
  CAF_CHECK(test::contains(decode_error<uint64_t>(std::string(11, '\xff')),
                           "varint"));
  CAF_CHECK(test::contains(
      decode_error<uint64_t>(std::string(9, '\xff') + "\x7f"), "64 bits"));
  // Values that do not fit the type, a bad bool, a duplicate map key.
  CAF_CHECK(test::contains(decode_error<int8_t>(encode_value(int64_t{200})),
                           "does not fit"));
  CAF_CHECK(test::contains(decode_error<bool>(std::string{"\x02"}), "bool"));
  CAF_CHECK(test::contains(
      decode_error<std::map<int, int>>(std::string{"\x02\x02\x04\x02\x06"}),
      "same key twice"));
  // Every prefix of a composite value fails cleanly.
  auto t = encode_value(std::vector<trade>{{1, "AB", 1}, {2, "CD", 2}});
  for (size_t n = 0; n < t.size(); ++n)
    CAF_CHECK(!decode_error<std::vector<trade>>(t.substr(0, n)).empty());
}

CAF_TEST(record batches survive the wire and damaged ones are refused) {
  using rec = std::pair<std::string, int64_t>;
  record_batch<rec> xs;
  xs.push_back(record<rec>{{"ab", 1}, -5});
  xs.push_back(record<rec>{{std::string(300, 'x'), -2}, max_watermark});
  xs.push_back(record<rec>{{"", 0}, no_timestamp});
  typed_batch<rec> batch{record_batch<rec>{xs}};
  auto bytes = encode_batch<rec>(batch);
  auto back = decode_batch<rec>(bytes);
  CAF_REQUIRE_EQUAL(back->records.size(), 3u);
  for (size_t i = 0; i < xs.size(); ++i) {
    CAF_CHECK(back->records[i].value == xs[i].value);
    CAF_CHECK_EQUAL(back->records[i].ts, xs[i].ts);
  }
  // Truncated at every length, a wrong version, trailing bytes: errors.
  for (size_t n = 0; n < bytes.size(); ++n) {
    bool refused = false;
    try {
      decode_batch<rec>(bytes.substr(0, n));
    } catch (const codec_error&) {
      refused = true;
    }
    CAF_CHECK(refused);
  }
  auto wrong = bytes;
  wrong[0] = 9;
  CAF_CHECK(libstream::test::throws<codec_error>([&] { decode_batch<rec>(wrong); }));
  CAF_CHECK(libstream::test::throws<codec_error>([&] { decode_batch<rec>(bytes + "z"); }));
  // A count far beyond the bytes is refused before anything is allocated.
  byte_writer w;
  w.put_u8(batch_wire_version);
  w.put_varint(uint64_t{1} << 60);
  CAF_CHECK(libstream::test::throws<codec_error>([&] { decode_batch<rec>(w.take()); }));
}
