#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace libstream {

/// The name of the key hash below. Key groups, and so where keyed state
/// lives, follow from it: snapshots record this name, and a snapshot made
/// with another hash cannot be restored.
inline constexpr const char* key_hash_name = "libstream-kh1";

/// Mixes 64 bits into 64 bits (murmur3's finalizer).
constexpr uint64_t mix64(uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

/// Combines the hash of one more element into `seed` (for composite keys).
constexpr uint64_t combine_hash(uint64_t seed, uint64_t h) noexcept {
  return mix64(seed ^ (h + 0x9e3779b97f4a7c15ULL + (seed << 6) + (seed >> 2)));
}

namespace detail {

/// Little-endian loads of 8 and 4 bytes, on any platform.
inline uint64_t load_le64(const unsigned char* p) noexcept {
  uint64_t w;
  std::memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap64(w);
#endif
  return w;
}

inline uint64_t load_le32(const unsigned char* p) noexcept {
  uint32_t w;
  std::memcpy(&w, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  w = __builtin_bswap32(w);
#endif
  return w;
}

} // namespace detail

/// A hash of `n` bytes that depends only on the bytes, never on the
/// platform or the standard library: the bytes are taken as 64-bit little
/// endian words, the last one zero-padded, and folded in one after the
/// other (multiply, rotate). Not mixed at the end: key_hash spreads it.
inline uint64_t hash_bytes(const void* data, size_t n) noexcept {
  constexpr uint64_t k1 = 0x9e3779b97f4a7c15ULL;
  constexpr uint64_t k2 = 0xc2b2ae3d27d4eb4fULL;
  auto step = [](uint64_t h, uint64_t w) {
    h ^= w * k2;
    h = (h << 29) | (h >> 35);
    return h * k1;
  };
  auto p = static_cast<const unsigned char*>(data);
  uint64_t h = static_cast<uint64_t>(n) * k1;
  auto tail = n % 8;
  auto end = p + (n - tail);
  for (; p != end; p += 8)
    h = step(h, detail::load_le64(p));
  if (tail == 0)
    return h;
  // The tail, zero-padded, without reading past the end: from an
  // overlapping word when there is one, else from the bytes themselves.
  uint64_t w;
  if (n >= 8) {
    w = detail::load_le64(p + tail - 8) >> (8 * (8 - tail));
  } else if (tail >= 4) {
    w = detail::load_le32(p)
        | ((detail::load_le32(p + tail - 4) >> (8 * (8 - tail))) << 32);
  } else {
    w = p[0];
    if (tail > 1)
      w |= static_cast<uint64_t>(p[1]) << 8;
    if (tail > 2)
      w |= static_cast<uint64_t>(p[2]) << 16;
  }
  return step(h, w);
}

/// The stable hash of a key, as used for key groups: a function of the
/// key's value alone (its canonical encoding), the same on every machine
/// and standard library, so that a savepoint taken on one machine restores
/// on another. Unlike std::hash, which is implementation-defined.
///
/// Built in: integers, enums, bool and char types (by value, widened to 64
/// bits, so int32_t{5} and int64_t{5} hash alike; plain char as unsigned,
/// whatever its signedness on the platform), floating point (by value,
/// with -0.0 as 0.0 and one NaN), std::string and std::string_view (by
/// bytes), and pairs, tuples, vectors and optionals of hashable types.
/// A user key type either specializes key_hasher or provides
///   uint64_t libstream_key_hash(const T&)
/// found by argument-dependent lookup, built from the members' hashes
/// (hash_bytes, combine_hash and key_hasher of the members).
template <class T, class = void>
struct key_hasher;

namespace detail {

template <class T, class = void>
struct has_adl_key_hash : std::false_type {};

template <class T>
struct has_adl_key_hash<
    T, std::void_t<decltype(libstream_key_hash(std::declval<const T&>()))>>
    : std::true_type {};

} // namespace detail

template <class T>
struct key_hasher<T, std::enable_if_t<std::is_integral_v<T>>> {
  uint64_t operator()(T x) const noexcept {
    if constexpr (std::is_same_v<T, char>)
      return static_cast<unsigned char>(x); // signed or not by platform
    else if constexpr (std::is_signed_v<T>)
      return static_cast<uint64_t>(static_cast<int64_t>(x));
    else
      return static_cast<uint64_t>(x);
  }
};

template <class T>
struct key_hasher<T, std::enable_if_t<std::is_enum_v<T>>> {
  uint64_t operator()(T x) const noexcept {
    using u = std::underlying_type_t<T>;
    return key_hasher<u>{}(static_cast<u>(x));
  }
};

template <class T>
struct key_hasher<T, std::enable_if_t<std::is_floating_point_v<T>>> {
  uint64_t operator()(T x) const noexcept {
    auto d = static_cast<double>(x);
    if (d == 0)
      d = 0; // -0.0 equals 0.0
    if (std::isnan(d))
      return 0x7ff8000000000000ULL;
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof(bits));
    return mix64(bits);
  }
};

template <>
struct key_hasher<std::string_view> {
  uint64_t operator()(std::string_view s) const noexcept {
    return hash_bytes(s.data(), s.size());
  }
};

template <>
struct key_hasher<std::string> {
  uint64_t operator()(const std::string& s) const noexcept {
    return hash_bytes(s.data(), s.size());
  }
};

template <class A, class B>
struct key_hasher<std::pair<A, B>> {
  uint64_t operator()(const std::pair<A, B>& x) const {
    return combine_hash(key_hasher<A>{}(x.first), key_hasher<B>{}(x.second));
  }
};

template <class... Ts>
struct key_hasher<std::tuple<Ts...>> {
  uint64_t operator()(const std::tuple<Ts...>& x) const {
    uint64_t h = sizeof...(Ts);
    std::apply(
        [&h](const Ts&... xs) {
          ((h = combine_hash(h, key_hasher<Ts>{}(xs))), ...);
        },
        x);
    return h;
  }
};

template <class T>
struct key_hasher<std::vector<T>> {
  uint64_t operator()(const std::vector<T>& xs) const {
    uint64_t h = xs.size();
    for (auto& x : xs)
      h = combine_hash(h, key_hasher<T>{}(x));
    return h;
  }
};

template <class T>
struct key_hasher<std::optional<T>> {
  uint64_t operator()(const std::optional<T>& x) const {
    return x ? combine_hash(1, key_hasher<T>{}(*x)) : 0;
  }
};

template <class T>
struct key_hasher<T, std::enable_if_t<detail::has_adl_key_hash<T>::value>> {
  uint64_t operator()(const T& x) const {
    return static_cast<uint64_t>(libstream_key_hash(x));
  }
};

} // namespace libstream
