#include "libstream/sources/file_source.hpp"

#include <algorithm>

#include "libstream/quote.hpp"

namespace libstream::detail {

namespace {

constexpr uint8_t state_version = 1;

using split_tuple = std::tuple<std::string, uint64_t, uint64_t, uint64_t, bool>;


/// What a file source subtask checkpoints (see split_assignment).
struct file_source_state {
  bool listed = false;
  std::vector<file_split> pending;
  std::vector<std::pair<std::string, uint64_t>> taken;
};

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

} // namespace

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

// -- split_assignment ---------------------------------------------------------

void split_assignment::list() {
  if (watching()) {
    scan();
    listed_ = true;
    return;
  }
  std::vector<listed_file> files;
  if (listing_ == nullptr || !listing_->get(files))
    files = list_input_files(opts_);
  uint64_t total = 0;
  for (auto& f : files)
    if (f.regular)
      total += f.size;
  auto split_bytes
      = effective_split_bytes(opts_.split_bytes, total, parallelism_);
  size_t j = 0;
  for (auto& f : files)
    for (auto& s : split_file(f, split_bytes))
      if (j++ % static_cast<size_t>(parallelism_)
          == static_cast<size_t>(index_))
        pending_.push_back(std::move(s));
  listed_ = true;
}

void split_assignment::scan() {
  auto split_bytes
      = opts_.split_bytes > 0 ? opts_.split_bytes : uint64_t{32} << 20;
  for (auto& f : list_input_files(opts_)) {
    if (!seen_.insert(f.path).second)
      continue;
    auto h = path_hash(f.path);
    for (auto& s : split_file(f, split_bytes)) {
      if ((h + s.index) % static_cast<uint64_t>(parallelism_)
          != static_cast<uint64_t>(index_))
        continue;
      if (taken_.emplace(s.path, s.index).second)
        pending_.push_back(std::move(s));
    }
  }
}

std::string split_assignment::encode() const {
  file_source_state s;
  s.listed = listed_;
  s.pending = pending_;
  s.taken.assign(taken_.begin(), taken_.end());
  return encode_file_source_state(s);
}

void split_assignment::restore(const operator_restore& from) {
  bool listed = false;
  std::vector<file_split> pending;
  std::set<std::pair<std::string, uint64_t>> taken;
  size_t j = 0;
  for (int old = 0; old < from.old_parallelism(); ++old) {
    auto pos = from.source_position(old);
    if (pos.empty())
      continue;
    auto s = decode_file_source_state(pos);
    listed = listed || s.listed;
    for (auto& split : s.pending)
      if (j++ % static_cast<size_t>(parallelism_)
          == static_cast<size_t>(index_))
        pending.push_back(std::move(split));
    taken.insert(s.taken.begin(), s.taken.end());
  }
  if (!listed)
    return; // checkpointed before any subtask listed: list afresh
  listed_ = true;
  pending_ = std::move(pending);
  taken_ = std::move(taken);
  seen_.clear();
}

// -- errors -------------------------------------------------------------------

std::runtime_error record_too_long(split_reader& reader, uint64_t offset,
                                   size_t limit, bool quoted) {
  auto line = reader.line_of(offset);
  auto where = line == 0 ? reader.path() + ": the record at byte "
                               + std::to_string(offset)
                         : reader.path() + ": line " + std::to_string(line);
  return std::runtime_error(
      where + " is longer than " + std::to_string(limit) + " bytes"
      + (quoted ? " (is a closing quote missing?)" : "; is it a text file?")
      + " (the limit is file_source_options::max_record_bytes)");
}

std::runtime_error malformed_record(split_reader& reader, uint64_t offset,
                                    std::string_view record,
                                    const decode_error& error) {
  auto line = reader.line_of(offset);
  auto pos = std::min(error.position, record.size());
  std::string where;
  if (line == 0) {
    where = reader.path() + ", byte " + std::to_string(offset + pos);
  } else {
    // The line and column of the bad field within a record that may span
    // lines (quoted line breaks).
    size_t line_start = 0;
    for (size_t i = 0; i < pos; ++i)
      if (record[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    where = reader.path() + ":" + std::to_string(line) + ":"
            + std::to_string(pos - line_start + 1);
  }
  return std::runtime_error(where + ": malformed record: " + error.message
                            + " (line: " + quote_excerpt(record) + ")");
}

} // namespace libstream::detail
