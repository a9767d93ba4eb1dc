#pragma once

// The binary encoding of records and state: one codec per type, used for
// state snapshots and (with the cluster) for record batches on the network.
//
// The format ("libstream-codec-1") is the same on every machine: integers
// as LEB128 varints (signed ones zigzag-encoded first), floating point as
// the 8 bytes of an IEEE double, little endian, lengths as varints before
// the bytes or elements they count. Decoding checks every length against
// the bytes that are left, so a truncated or corrupt buffer is an error
// (codec_error), never a crash or a giant allocation.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

namespace libstream {

/// The name of the encoding below, recorded with every snapshot.
inline constexpr const char* codec_format_name = "libstream-codec-1";

/// A buffer that cannot be decoded: truncated, corrupt or of another type.
class codec_error : public std::runtime_error {
public:
  explicit codec_error(const std::string& what) : std::runtime_error(what) {}
};

/// Appends encoded values to a byte string.
class byte_writer {
public:
  void put_u8(uint8_t x) { buf_.push_back(static_cast<char>(x)); }

  void put_varint(uint64_t x) {
    while (x >= 0x80) {
      buf_.push_back(static_cast<char>((x & 0x7f) | 0x80));
      x >>= 7;
    }
    buf_.push_back(static_cast<char>(x));
  }

  void put_fixed64(uint64_t x) {
    char bytes[8];
    for (int i = 0; i < 8; ++i)
      bytes[i] = static_cast<char>((x >> (8 * i)) & 0xff);
    buf_.append(bytes, 8);
  }

  void put_bytes(std::string_view bytes) {
    put_varint(bytes.size());
    buf_.append(bytes.data(), bytes.size());
  }

  /// Appends bytes as they are (already encoded).
  void put_raw(std::string_view bytes) {
    buf_.append(bytes.data(), bytes.size());
  }

  const std::string& data() const noexcept { return buf_; }
  std::string take() { return std::move(buf_); }
  size_t size() const noexcept { return buf_.size(); }
  void clear() noexcept { buf_.clear(); }

private:
  std::string buf_;
};

/// Reads what byte_writer wrote. Every read checks the bytes that are left
/// and throws codec_error naming what it was reading.
class byte_reader {
public:
  explicit byte_reader(std::string_view bytes)
      : begin_(bytes.data()), pos_(bytes.data()),
        end_(bytes.data() + bytes.size()) {}

  uint8_t get_u8() {
    need(1, "a byte");
    return static_cast<uint8_t>(*pos_++);
  }

  uint64_t get_varint() {
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      need(1, "a varint");
      auto b = static_cast<uint8_t>(*pos_++);
      if (shift == 63 && (b & 0x7e) != 0)
        fail("a varint does not fit 64 bits");
      x |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0)
        return x;
    }
    fail("a varint is longer than 10 bytes");
    return 0;
  }

  uint64_t get_fixed64() {
    need(8, "8 bytes");
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i)
      x |= static_cast<uint64_t>(static_cast<uint8_t>(pos_[i])) << (8 * i);
    pos_ += 8;
    return x;
  }

  /// A length-prefixed byte string; a view into the buffer.
  std::string_view get_bytes() {
    auto n = get_length(1);
    std::string_view out{pos_, n};
    pos_ += n;
    return out;
  }

  /// A count of elements each at least `min_bytes` long, checked against
  /// what is left (a corrupt count cannot make a giant allocation).
  size_t get_length(size_t min_bytes) {
    auto n = get_varint();
    if (min_bytes > 0 && n > remaining() / min_bytes)
      fail("a length of " + std::to_string(n) + " exceeds the "
           + std::to_string(remaining()) + " bytes left");
    return static_cast<size_t>(n);
  }

  size_t remaining() const noexcept { return static_cast<size_t>(end_ - pos_); }
  size_t position() const noexcept { return static_cast<size_t>(pos_ - begin_); }
  bool at_end() const noexcept { return pos_ == end_; }

  /// The bytes between two positions already read (from <= to <=
  /// position()): what the reads between them consumed.
  std::string_view consumed(size_t from, size_t to) const noexcept {
    return std::string_view{begin_ + from, to - from};
  }

  [[noreturn]] void fail(const std::string& what) const {
    throw codec_error("cannot decode at byte " + std::to_string(position())
                      + ": " + what);
  }

private:
  void need(size_t n, const char* what) const {
    if (remaining() < n)
      fail(std::string{"truncated: "} + what + " needs " + std::to_string(n)
           + " bytes, " + std::to_string(remaining()) + " left");
  }

  const char* begin_;
  const char* pos_;
  const char* end_;
};

/// The codec of T: `static void encode(const T&, byte_writer&)` and
/// `static T decode(byte_reader&)`. Built in for bool, integers, enums,
/// floating point, std::string, pairs, tuples, arrays, vectors, (unordered)
/// maps and sets, and optionals of types with codecs. A user type
/// specializes libstream::codec, usually by encoding its members in order:
///
///   template <> struct libstream::codec<trade> {
///     static void encode(const trade& t, byte_writer& w) {
///       codec<int64_t>::encode(t.ts, w);
///       codec<std::string>::encode(t.symbol, w);
///     }
///     static trade decode(byte_reader& r) {
///       trade t;
///       t.ts = codec<int64_t>::decode(r);
///       t.symbol = codec<std::string>::decode(r);
///       return t;
///     }
///   };
template <class T, class = void>
struct codec;

/// True when T has a codec (built in or specialized).
template <class T, class = void>
struct has_codec : std::false_type {};

template <class T>
struct has_codec<T, std::void_t<decltype(codec<T>::encode(
                        std::declval<const T&>(), std::declval<byte_writer&>()))>>
    : std::true_type {};

template <class T>
inline constexpr bool has_codec_v = has_codec<T>::value;

/// A codec that encodes the listed members of T in order, for a struct of
/// members that have codecs:
///
///   template <> struct libstream::codec<trade>
///       : member_codec<trade, &trade::ts, &trade::symbol> {};
template <class T, auto... Members>
struct member_codec {
  template <auto M>
  using member_t = std::remove_cv_t<
      std::remove_reference_t<decltype(std::declval<T&>().*M)>>;

  static void encode(const T& x, byte_writer& w) {
    (codec<member_t<Members>>::encode(x.*Members, w), ...);
  }

  static T decode(byte_reader& r) {
    T x;
    ((x.*Members = codec<member_t<Members>>::decode(r)), ...);
    return x;
  }
};

// -- scalars ------------------------------------------------------------------

template <>
struct codec<bool> {
  static void encode(bool x, byte_writer& w) { w.put_u8(x ? 1 : 0); }
  static bool decode(byte_reader& r) {
    auto b = r.get_u8();
    if (b > 1)
      r.fail("a bool is " + std::to_string(b) + ", not 0 or 1");
    return b == 1;
  }
};

template <class T>
struct codec<T, std::enable_if_t<std::is_integral_v<T>
                                 && !std::is_same_v<T, bool>>> {
  static void encode(T x, byte_writer& w) {
    if constexpr (std::is_signed_v<T>) {
      auto v = static_cast<int64_t>(x);
      w.put_varint((static_cast<uint64_t>(v) << 1)
                   ^ static_cast<uint64_t>(v >> 63));
    } else {
      w.put_varint(static_cast<uint64_t>(x));
    }
  }

  static T decode(byte_reader& r) {
    auto u = r.get_varint();
    if constexpr (std::is_signed_v<T>) {
      auto v = static_cast<int64_t>((u >> 1) ^ (~(u & 1) + 1));
      if (v < static_cast<int64_t>(std::numeric_limits<T>::min())
          || v > static_cast<int64_t>(std::numeric_limits<T>::max()))
        r.fail(std::to_string(v) + " does not fit the integer type");
      return static_cast<T>(v);
    } else {
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        r.fail(std::to_string(u) + " does not fit the integer type");
      return static_cast<T>(u);
    }
  }
};

template <class T>
struct codec<T, std::enable_if_t<std::is_enum_v<T>>> {
  using u = std::underlying_type_t<T>;
  static void encode(T x, byte_writer& w) {
    codec<u>::encode(static_cast<u>(x), w);
  }
  static T decode(byte_reader& r) { return static_cast<T>(codec<u>::decode(r)); }
};

template <class T>
struct codec<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  static void encode(T x, byte_writer& w) {
    auto d = static_cast<double>(x);
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    w.put_fixed64(bits);
  }
  static T decode(byte_reader& r) {
    auto bits = r.get_fixed64();
    double d;
    std::memcpy(&d, &bits, 8);
    return static_cast<T>(d);
  }
};

template <>
struct codec<std::string> {
  static void encode(const std::string& x, byte_writer& w) { w.put_bytes(x); }
  static std::string decode(byte_reader& r) { return std::string{r.get_bytes()}; }
};

// -- composites ---------------------------------------------------------------

template <class A, class B>
struct codec<std::pair<A, B>> {
  static void encode(const std::pair<A, B>& x, byte_writer& w) {
    codec<A>::encode(x.first, w);
    codec<B>::encode(x.second, w);
  }
  static std::pair<A, B> decode(byte_reader& r) {
    auto a = codec<A>::decode(r);
    auto b = codec<B>::decode(r);
    return {std::move(a), std::move(b)};
  }
};

template <class... Ts>
struct codec<std::tuple<Ts...>> {
  static void encode(const std::tuple<Ts...>& x, byte_writer& w) {
    std::apply([&w](const Ts&... xs) { (codec<Ts>::encode(xs, w), ...); }, x);
  }
  static std::tuple<Ts...> decode(byte_reader& r) {
    // Braced initialization evaluates left to right.
    return std::tuple<Ts...>{codec<Ts>::decode(r)...};
  }
};

/// A variant: its index (one byte), then the alternative's codec (also
/// for repeated types, as the tagged records of two inputs of one type).
template <class... Ts>
struct codec<std::variant<Ts...>> {
  static_assert(sizeof...(Ts) <= 255, "a variant codec takes 255 types");
  using variant_type = std::variant<Ts...>;

  static void encode(const variant_type& v, byte_writer& w) {
    w.put_u8(static_cast<uint8_t>(v.index()));
    std::visit(
        [&w](const auto& x) { codec<std::decay_t<decltype(x)>>::encode(x, w); },
        v);
  }

  static variant_type decode(byte_reader& r) {
    auto index = r.get_u8();
    if (index >= sizeof...(Ts))
      throw codec_error("a variant has index " + std::to_string(index)
                        + " (a tagged record's input index), not below "
                        + std::to_string(sizeof...(Ts)));
    return decode_at(r, index, std::index_sequence_for<Ts...>{});
  }

private:
  template <size_t... Is>
  static variant_type decode_at(byte_reader& r, size_t index,
                                std::index_sequence<Is...>) {
    std::optional<variant_type> out;
    ((index == Is
          ? (void)out.emplace(
                std::in_place_index<Is>,
                codec<std::variant_alternative_t<Is, variant_type>>::decode(r))
          : (void)0),
     ...);
    return std::move(*out);
  }
};

template <class T, size_t N>
struct codec<std::array<T, N>> {
  static void encode(const std::array<T, N>& xs, byte_writer& w) {
    for (auto& x : xs)
      codec<T>::encode(x, w);
  }
  static std::array<T, N> decode(byte_reader& r) {
    std::array<T, N> xs;
    for (auto& x : xs)
      x = codec<T>::decode(r);
    return xs;
  }
};

template <class T>
struct codec<std::optional<T>> {
  static void encode(const std::optional<T>& x, byte_writer& w) {
    w.put_u8(x ? 1 : 0);
    if (x)
      codec<T>::encode(*x, w);
  }
  static std::optional<T> decode(byte_reader& r) {
    if (!codec<bool>::decode(r))
      return std::nullopt;
    return codec<T>::decode(r);
  }
};

namespace detail {

/// Containers: a count, then the elements (each at least one byte).
template <class C, class Insert>
C decode_elements(byte_reader& r, Insert insert) {
  C out;
  auto n = r.get_length(1);
  for (size_t i = 0; i < n; ++i)
    insert(out, r);
  return out;
}

} // namespace detail

template <class T, class A>
struct codec<std::vector<T, A>> {
  static void encode(const std::vector<T, A>& xs, byte_writer& w) {
    w.put_varint(xs.size());
    for (const auto& x : xs) // also vector<bool>'s proxies
      codec<T>::encode(x, w);
  }
  static std::vector<T, A> decode(byte_reader& r) {
    return detail::decode_elements<std::vector<T, A>>(
        r, [](auto& out, byte_reader& in) {
          out.push_back(codec<T>::decode(in));
        });
  }
};

template <class Map>
struct map_codec {
  using K = typename Map::key_type;
  using V = typename Map::mapped_type;
  static void encode(const Map& m, byte_writer& w) {
    w.put_varint(m.size());
    for (auto& [k, v] : m) {
      codec<K>::encode(k, w);
      codec<V>::encode(v, w);
    }
  }
  static Map decode(byte_reader& r) {
    return detail::decode_elements<Map>(r, [](auto& out, byte_reader& in) {
      auto k = codec<K>::decode(in);
      auto v = codec<V>::decode(in);
      if (!out.emplace(std::move(k), std::move(v)).second)
        in.fail("a map holds the same key twice");
    });
  }
};

template <class Set>
struct set_codec {
  using K = typename Set::key_type;
  static void encode(const Set& s, byte_writer& w) {
    w.put_varint(s.size());
    for (auto& k : s)
      codec<K>::encode(k, w);
  }
  static Set decode(byte_reader& r) {
    return detail::decode_elements<Set>(r, [](auto& out, byte_reader& in) {
      if (!out.insert(codec<K>::decode(in)).second)
        in.fail("a set holds the same element twice");
    });
  }
};

template <class K, class V, class C, class A>
struct codec<std::map<K, V, C, A>> : map_codec<std::map<K, V, C, A>> {};

template <class K, class V, class H, class E, class A>
struct codec<std::unordered_map<K, V, H, E, A>>
    : map_codec<std::unordered_map<K, V, H, E, A>> {};

template <class K, class C, class A>
struct codec<std::set<K, C, A>> : set_codec<std::set<K, C, A>> {};

template <class K, class H, class E, class A>
struct codec<std::unordered_set<K, H, E, A>>
    : set_codec<std::unordered_set<K, H, E, A>> {};

// -- has_codec of composites: as their elements ------------------------------

template <class A, class B>
struct has_codec<std::pair<A, B>>
    : std::bool_constant<has_codec_v<A> && has_codec_v<B>> {};

template <class... Ts>
struct has_codec<std::tuple<Ts...>>
    : std::bool_constant<(has_codec_v<Ts> && ...)> {};

template <class... Ts>
struct has_codec<std::variant<Ts...>>
    : std::bool_constant<(has_codec_v<Ts> && ...)> {};

template <class T, size_t N>
struct has_codec<std::array<T, N>> : has_codec<T> {};

template <class T>
struct has_codec<std::optional<T>> : has_codec<T> {};

template <class T, class A>
struct has_codec<std::vector<T, A>> : has_codec<T> {};

template <class K, class V, class C, class A>
struct has_codec<std::map<K, V, C, A>>
    : std::bool_constant<has_codec_v<K> && has_codec_v<V>> {};

template <class K, class V, class H, class E, class A>
struct has_codec<std::unordered_map<K, V, H, E, A>>
    : std::bool_constant<has_codec_v<K> && has_codec_v<V>> {};

template <class K, class C, class A>
struct has_codec<std::set<K, C, A>> : has_codec<K> {};

template <class K, class H, class E, class A>
struct has_codec<std::unordered_set<K, H, E, A>> : has_codec<K> {};

// -- helpers ------------------------------------------------------------------

/// The encoding of `x` as a byte string.
template <class T>
std::string encode_value(const T& x) {
  byte_writer w;
  codec<T>::encode(x, w);
  return w.take();
}

/// Decodes a whole buffer as one T; bytes left over are an error.
template <class T>
T decode_value(std::string_view bytes) {
  byte_reader r{bytes};
  auto x = codec<T>::decode(r);
  if (!r.at_end())
    r.fail(std::to_string(r.remaining()) + " bytes left over after the value");
  return x;
}

} // namespace libstream
