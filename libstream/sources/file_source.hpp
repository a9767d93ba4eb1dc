#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "libstream/codec.hpp"
#include "libstream/operator.hpp"
#include "libstream/sources/file_reader.hpp"
#include "libstream/sources/formats.hpp"
#include "libstream/sources/text.hpp"

namespace libstream {

namespace detail {

/// What a file source subtask checkpoints: whether it listed its input,
/// the splits it has not finished (the first at its read position), and,
/// when it watches directories, every (path, split index) it has taken.
struct file_source_state {
  bool listed = false;
  std::vector<file_split> pending;
  std::vector<std::pair<std::string, uint64_t>> taken;
};

std::string encode_file_source_state(const file_source_state& s);
file_source_state decode_file_source_state(std::string_view bytes);

/// The input of a bounded file source, listed once when the job is
/// submitted and shared by its subtasks (all in the submitting process),
/// so that every subtask cuts and numbers the same files even when the
/// input changes while the job starts. Restarts reuse it.
class file_listing {
public:
  void take(const file_source_options& opts) {
    std::vector<listed_file> files;
    std::string error;
    try {
      files = list_input_files(opts);
    } catch (const std::exception& e) {
      error = e.what();
    }
    std::lock_guard<std::mutex> guard{mtx_};
    files_ = std::move(files);
    error_ = std::move(error);
    ready_ = true;
  }

  /// The listing, if the job was submitted with it; throws the listing's
  /// error (a missing path) as the subtask's.
  bool get(std::vector<listed_file>& out) const {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!ready_)
      return false;
    if (!error_.empty())
      throw std::runtime_error(error_);
    out = files_;
    return true;
  }

private:
  mutable std::mutex mtx_;
  bool ready_ = false;
  std::vector<listed_file> files_;
  std::string error_;
};

/// The split size for a bounded listing: `configured`, or with 0 about
/// four splits per subtask (between 1 MiB and 128 MiB).
uint64_t effective_split_bytes(uint64_t configured, uint64_t total_bytes,
                               int parallelism);

} // namespace detail

/// The file source, as Flink's FileSource: reads files, lists of files or
/// directories (see file_source_options), cut into splits on record
/// boundaries that the source's parallel subtasks read concurrently, and
/// decodes records with `Format` (text_lines_format, csv_format<T>).
///
/// - Splits: a bounded source lists its input once, when it starts, and
///   numbers the splits of all files in path order; subtask i of p reads
///   splits i, i + p, ... A watching source (monitor_interval > 0) lists
///   again every interval; split k of a new file goes to subtask
///   (hash(path) + k) mod p. No subtask needs to hear from another.
/// - A split's records are those that start in its byte range: a reader
///   starting mid-file skips to after the first record delimiter at or
///   after its offset - 1 (for CSV, a '\n' outside quotes: the quote
///   parity is counted from the start of the file), and reads on past its
///   end to finish its last record.
/// - Checkpoints hold each subtask's unfinished splits with the byte
///   offset of the next record; a restore with another parallelism deals
///   all old subtasks' splits out again (old split j to subtask j mod p).
/// - A malformed record goes to the `dead_letters` side output (as a
///   text_line with file and line) or fails the job naming file, line and
///   column. A record longer than max_record_bytes fails the job.
/// - Line numbers are counted lazily, only for an error or a dead letter.
template <class Format>
class file_source final
    : public source_operator<typename Format::record_type> {
public:
  using T = typename Format::record_type;
  using poll_result = typename source_operator<T>::poll_result;

  file_source(file_source_options opts, Format format,
              std::optional<output_tag<text_line>> dead_letters = {},
              std::shared_ptr<const detail::file_listing> listing = nullptr)
      : opts_(std::move(opts)), format_(std::move(format)),
        dead_(std::move(dead_letters)), listing_(std::move(listing)) {
    if (opts_.paths.empty())
      throw std::invalid_argument("the file source needs at least one path");
    if (opts_.max_record_bytes == 0)
      throw std::invalid_argument("the maximum record length must be "
                                  "positive");
    if (opts_.rate < 0)
      throw std::invalid_argument("the file source rate must not be "
                                  "negative");
    if (opts_.monitor_interval < 0)
      throw std::invalid_argument("the monitor interval must not be "
                                  "negative");
    if (dead_)
      this->out_.side(*dead_); // declared, so it can be connected
  }

  void open(operator_context& ctx) override {
    operator_base::open(ctx);
    index_ = ctx.subtask_index();
    parallelism_ = ctx.parallelism();
    start_ns_ = monotonic_now_ns();
  }

  poll_result poll() override {
    auto& out = this->out_.main();
    if (cancelled_) {
      out.flush();
      return poll_result::finished;
    }
    if (!state_.listed)
      list();
    if (watching() && monotonic_now_ns() >= next_scan_ns_)
      scan();
    size_t budget = default_batch_records;
    if (opts_.rate > 0) {
      auto elapsed_s
          = static_cast<double>(monotonic_now_ns() - start_ns_) / 1e9;
      auto allowed = static_cast<uint64_t>(
                         elapsed_s * opts_.rate / parallelism_)
                     + 1;
      if (emitted_ >= allowed) {
        out.flush();
        return state_.pending.empty() && !watching() ? poll_result::finished
                                                     : poll_result::idle;
      }
      budget = static_cast<size_t>(
          std::min<uint64_t>(budget, allowed - emitted_));
    }
    size_t emitted = 0;
    while (emitted < budget) {
      if (!synced_) {
        if (!open_ && state_.pending.empty()) {
          out.flush();
          emitted_ += emitted;
          return watching() ? poll_result::idle : poll_result::finished;
        }
        if (!open_next()) {
          out.flush();
          emitted_ += emitted;
          return poll_result::idle; // a pipe without data yet
        }
        continue;
      }
      if (!read(budget, emitted)) {
        out.flush();
        emitted_ += emitted;
        return poll_result::idle; // a pipe without data for now
      }
    }
    out.flush();
    emitted_ += emitted;
    return poll_result::more;
  }

  void cancel() override { cancelled_ = true; }

  void close() override { reader_.close(); }

  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    if (!state_.listed && !cancelled_)
      list(); // the snapshot must say which splits this subtask owns
    if (open_ && synced_) {
      auto& s = state_.pending.front();
      // Before the file's first record, the split starts over (its header
      // and byte order mark are skipped again).
      s.offset = first_owned_ ? 0 : reader_.offset_of(reader_.data());
      s.at_record = true;
    }
    out.source_position = detail::encode_file_source_state(state_);
  }

  /// Deals the unfinished splits of every old subtask out again: old
  /// split j (counting over the old subtasks in order) to subtask j mod p.
  void restore_state(const operator_restore& from) override {
    detail::file_source_state merged;
    std::set<std::pair<std::string, uint64_t>> taken;
    size_t j = 0;
    for (int old = 0; old < from.old_parallelism(); ++old) {
      auto pos = from.source_position(old);
      if (pos.empty())
        continue;
      auto s = detail::decode_file_source_state(pos);
      merged.listed = merged.listed || s.listed;
      for (auto& split : s.pending) {
        if (j++ % static_cast<size_t>(parallelism_)
            == static_cast<size_t>(index_))
          merged.pending.push_back(std::move(split));
      }
      for (auto& t : s.taken)
        taken.insert(std::move(t));
    }
    if (!merged.listed)
      return; // checkpointed before any subtask listed: list afresh
    merged.taken.assign(taken.begin(), taken.end());
    taken_ = std::move(taken);
    state_ = std::move(merged);
    reader_.close();
    open_ = false;
  }

private:
  bool watching() const noexcept { return opts_.monitor_interval > 0; }

  /// The first listing: a bounded source takes its share of all splits; a
  /// watching one scans.
  void list() {
    if (watching()) {
      scan();
      state_.listed = true;
      return;
    }
    std::vector<detail::listed_file> files;
    if (listing_ == nullptr || !listing_->get(files))
      files = detail::list_input_files(opts_);
    uint64_t total = 0;
    for (auto& f : files)
      if (f.regular)
        total += f.size;
    auto split_bytes
        = detail::effective_split_bytes(opts_.split_bytes, total, parallelism_);
    size_t j = 0;
    for (auto& f : files)
      for (auto& s : detail::split_file(f, split_bytes))
        if (j++ % static_cast<size_t>(parallelism_)
            == static_cast<size_t>(index_))
          state_.pending.push_back(std::move(s));
    state_.listed = true;
  }

  /// Lists the input again and takes this subtask's splits of files it
  /// has not seen (watching sources).
  void scan() {
    next_scan_ns_ = monotonic_now_ns() + opts_.monitor_interval * 1000000;
    auto split_bytes = opts_.split_bytes > 0 ? opts_.split_bytes
                                             : uint64_t{32} << 20;
    for (auto& f : detail::list_input_files(opts_)) {
      if (!seen_.insert(f.path).second)
        continue;
      auto h = detail::path_hash(f.path);
      for (auto& s : detail::split_file(f, split_bytes)) {
        if ((h + s.index) % static_cast<uint64_t>(parallelism_)
            != static_cast<uint64_t>(index_))
          continue;
        auto key = std::make_pair(s.path, s.index);
        if (taken_.count(key) != 0)
          continue;
        taken_.insert(key);
        state_.taken.push_back(std::move(key));
        state_.pending.push_back(std::move(s));
      }
    }
  }

  /// Opens the first pending split: header, then its first record.
  /// Returns false while a pipe has no data yet.
  bool open_next() {
    auto& s = state_.pending.front();
    if (!open_) {
      // The split right after the one this subtask just read: its first
      // record is where that one stopped (no quote counting needed).
      if (!s.at_record && s.path == last_path_ && s.offset == last_end_
          && last_stop_ >= s.offset) {
        s.offset = last_stop_;
        s.at_record = true;
      }
      reader_.open(s, opts_.max_record_bytes);
      synced_ = false;
      skip_header_ = false;
      header_pending_ = false;
      if (format_.has_header() && !reader_.regular()) {
        // A pipe cannot be read twice: its header is the first record the
        // read loop meets (the split starts at 0).
        header_pending_ = true;
        skip_header_ = true;
      } else if (format_.has_header()) {
        bool empty = false;
        auto header = reader_.first_record(Format::quoted, empty);
        if (empty) {
          if (s.index == 0)
            rethrow_at(reader_.path(), [&] { format_.empty_file(); });
          finish_split();
          return true;
        }
        rethrow_at(reader_.path() + ":1",
                   [&] { format_.read_header(header); });
        skip_header_ = s.offset == 0;
      }
      open_ = true;
    }
    split_end_ = s.end;
    if (!s.at_record || s.offset == 0) {
      if (!reader_.sync(Format::quoted))
        return false;
    }
    // The first record of a file is the first split's even when a byte
    // order mark pushes its start past that split's end.
    first_owned_ = s.offset == 0;
    synced_ = true;
    return true;
  }

  template <class F>
  static void rethrow_at(const std::string& where, F&& f) {
    try {
      f();
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(where + ": " + e.what());
    }
  }

  void finish_split() {
    auto stop = reader_.offset_of(reader_.data());
    reader_.note_record_start(stop);
    last_path_ = state_.pending.front().path;
    last_end_ = state_.pending.front().end;
    last_stop_ = stop;
    state_.pending.erase(state_.pending.begin());
    open_ = false;
    synced_ = false;
    if (state_.pending.empty() || state_.pending.front().path != reader_.path())
      reader_.close();
  }

  /// Decodes records of the open split until `budget` is reached or the
  /// split ends. Returns false when a pipe has no more data for now.
  bool read(size_t budget, size_t& emitted) {
    auto& out = this->out_.main();
    auto max = opts_.max_record_bytes;
    for (;;) {
      const char* p = reader_.data();
      const char* e = reader_.limit();
      bool eof = reader_.eof();
      reader_.prefault(p);
      while (p != e) {
        auto off = reader_.offset_of(p);
        if (off >= split_end_ && !first_owned_) {
          reader_.consume(p);
          finish_split();
          return true;
        }
        if (emitted >= budget) {
          reader_.consume(p);
          return true;
        }
        auto* first_nl = static_cast<const char*>(
            std::memchr(p, '\n', static_cast<size_t>(e - p)));
        auto* nl = first_nl;
        bool has_quotes = false;
        if constexpr (Format::quoted) {
          // A header is skipped undecoded: delimit it with quote parity.
          if (skip_header_
              && std::memchr(p, '"', static_cast<size_t>(
                                         (nl != nullptr ? nl : e) - p))
                     != nullptr) {
            has_quotes = true;
            nl = quoted_end(p, first_nl, e);
          }
        }
        const char* next = nullptr;
        bool need_more = false;
        for (;;) { // twice when the record turns out to have quotes
          if (nl == nullptr) {
            if (!eof) {
              if (static_cast<size_t>(e - p) > max)
                throw too_long(off, has_quotes);
              need_more = true;
              break;
            }
            nl = e;
            next = e;
          } else {
            next = nl + 1;
          }
          auto len = static_cast<size_t>(nl - p);
          if (len > max)
            throw too_long(off, has_quotes);
          if (len > 0 && p[len - 1] == '\r')
            --len;
          if (skip_header_) {
            skip_header_ = false;
            if (header_pending_) {
              header_pending_ = false;
              rethrow_at(reader_.path() + ":1", [&] {
                format_.read_header(std::string_view{p, len});
              });
            }
            break;
          }
          auto& slot = out.next_slot();
          auto st = format_.decode(std::string_view{p, len}, has_quotes, slot,
                                   error_);
          if (st == decode_status::record) {
            out.commit(no_timestamp);
            ++emitted;
          } else if (st == decode_status::error) {
            malformed(off, std::string_view{p, len});
          } else if (st == decode_status::quoted) {
            if (!Format::quoted || has_quotes)
              throw std::logic_error("a format asked twice for quote-aware "
                                     "delimiting");
            // Delimit again: a '\n' inside quotes is data.
            has_quotes = true;
            nl = quoted_end(p, first_nl, e);
            continue;
          }
          break;
        }
        if (need_more)
          break;
        first_owned_ = false;
        p = next;
      }
      reader_.consume(p);
      if (eof && p == e) {
        if (header_pending_) // a pipe that ended before its header
          rethrow_at(reader_.path(), [&] { format_.empty_file(); });
        finish_split();
        return true;
      }
      if (reader_.fill() == detail::split_reader::fill_result::would_block)
        return false;
    }
  }

  /// The end of a record with quotes from p: the first '\n' after which
  /// the quotes from p are balanced, or null when the buffer ends first.
  static const char* quoted_end(const char* p, const char* nl,
                                const char* e) {
    size_t quotes = 0;
    const char* from = p;
    for (;;) {
      auto* stop = nl != nullptr ? nl : e;
      for (auto* c = from; c != stop; ++c)
        quotes += *c == '"';
      if ((quotes & 1) == 0 || nl == nullptr)
        return (quotes & 1) == 0 ? nl : nullptr;
      from = nl + 1;
      nl = static_cast<const char*>(
          std::memchr(from, '\n', static_cast<size_t>(e - from)));
    }
  }

  std::runtime_error too_long(uint64_t off, bool quoted) {
    auto line = reader_.line_of(off);
    auto where = line == 0 ? reader_.path() + ": the record at byte "
                                 + std::to_string(off)
                           : reader_.path() + ": line " + std::to_string(line);
    return std::runtime_error(
        where + " is longer than "
        + std::to_string(opts_.max_record_bytes) + " bytes"
        + (quoted ? " (is a closing quote missing?)" : "; is it a text file?")
        + " (the limit is file_source_options::max_record_bytes)");
  }

  void malformed(uint64_t off, std::string_view rec) {
    auto line = reader_.line_of(off);
    // The line and column of the bad field within a record that may span
    // lines (quoted line breaks).
    auto pos = std::min(error_.position, rec.size());
    uint64_t err_line = line;
    size_t line_start = 0;
    for (size_t i = 0; i < pos; ++i)
      if (rec[i] == '\n') {
        ++err_line;
        line_start = i + 1;
      }
    if (dead_) {
      this->out_.side(*dead_).collect(
          text_line{reader_.path(), line, std::string{rec}}, no_timestamp);
      return;
    }
    std::string where = line == 0 ? reader_.path() + ", byte "
                                        + std::to_string(off + pos)
                                  : reader_.path() + ":"
                                        + std::to_string(err_line) + ":"
                                        + std::to_string(pos - line_start + 1);
    throw std::runtime_error(where + ": malformed record: " + error_.message
                             + " (line: " + quote_excerpt(rec) + ")");
  }

  file_source_options opts_;
  Format format_;
  std::optional<output_tag<text_line>> dead_;
  std::shared_ptr<const detail::file_listing> listing_; // bounded, shared
  int index_ = 0;
  int parallelism_ = 1;
  detail::file_source_state state_;
  std::set<std::pair<std::string, uint64_t>> taken_; // watching
  std::set<std::string> seen_;                       // watching
  detail::split_reader reader_;
  bool open_ = false;   // the first pending split is open
  bool synced_ = false; // ... and positioned at a record
  bool skip_header_ = false;
  bool header_pending_ = false; // a pipe's header is still to be read
  bool first_owned_ = false; // the next record is the file's first
  uint64_t split_end_ = 0;
  // Where the last finished split ended and its reading stopped.
  std::string last_path_;
  uint64_t last_end_ = 0;
  uint64_t last_stop_ = 0;
  decode_error error_;
  int64_t start_ns_ = 0;
  int64_t next_scan_ns_ = 0;
  uint64_t emitted_ = 0; // for the rate
  bool cancelled_ = false;
};

} // namespace libstream
