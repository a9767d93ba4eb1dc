#include "libstream/sources/file_source.hpp"

#include <algorithm>

namespace libstream::detail {

namespace {

constexpr uint8_t state_version = 1;

using split_tuple = std::tuple<std::string, uint64_t, uint64_t, uint64_t, bool>;

} // namespace

std::string encode_file_source_state(const file_source_state& s) {
  std::vector<split_tuple> pending;
  pending.reserve(s.pending.size());
  for (auto& x : s.pending)
    pending.emplace_back(x.path, x.index, x.offset, x.end, x.at_record);
  return encode_value(
      std::make_tuple(state_version, s.listed, pending, s.taken));
}

file_source_state decode_file_source_state(std::string_view bytes) {
  uint8_t version = 0;
  bool listed = false;
  std::vector<split_tuple> pending;
  std::vector<std::pair<std::string, uint64_t>> taken;
  if (!bytes.empty() && static_cast<uint8_t>(bytes[0]) != state_version)
    throw std::runtime_error(
        "the file source cannot read its checkpointed position: it has "
        "format version "
        + std::to_string(static_cast<uint8_t>(bytes[0])) + ", this libstream "
        "reads version " + std::to_string(state_version)
        + " (a position from before file splits, or from a newer "
          "libstream?)");
  try {
    std::tie(version, listed, pending, taken) = decode_value<
        std::tuple<uint8_t, bool, std::vector<split_tuple>,
                   std::vector<std::pair<std::string, uint64_t>>>>(bytes);
  } catch (const std::exception& e) {
    throw std::runtime_error(
        "the file source cannot read its checkpointed position (written by "
        "another source or an older libstream, before file splits?): "
        + std::string{e.what()});
  }
  if (version != state_version)
    throw std::runtime_error("the file source's checkpointed position has "
                             "version "
                             + std::to_string(version) + ", expected "
                             + std::to_string(state_version));
  file_source_state s;
  s.listed = listed;
  s.taken = std::move(taken);
  for (auto& [path, index, offset, end, at_record] : pending) {
    file_split x;
    x.path = std::move(path);
    x.index = index;
    x.offset = offset;
    x.end = end;
    x.at_record = at_record;
    s.pending.push_back(std::move(x));
  }
  return s;
}

uint64_t effective_split_bytes(uint64_t configured, uint64_t total_bytes,
                               int parallelism) {
  if (configured > 0)
    return configured;
  constexpr uint64_t min_split = uint64_t{1} << 20;
  constexpr uint64_t max_split = uint64_t{128} << 20;
  auto splits = static_cast<uint64_t>(std::max(parallelism, 1)) * 4;
  auto size = (total_bytes + splits - 1) / splits;
  return std::clamp(size, min_split, max_split);
}

} // namespace libstream::detail
