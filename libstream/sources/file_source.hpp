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

/// Which splits one file source subtask reads, and what it checkpoints of
/// them: whether it listed its input, the splits it has not finished (the
/// first at its read position), and, when it watches directories, every
/// (path, split index) it has taken.
class split_assignment {
public:
  split_assignment(file_source_options opts,
                   std::shared_ptr<const file_listing> listing)
      : opts_(std::move(opts)), listing_(std::move(listing)) {}

  void bind(int index, int parallelism) {
    index_ = index;
    parallelism_ = parallelism;
  }

  bool listed() const noexcept { return listed_; }
  bool watching() const noexcept { return opts_.monitor_interval > 0; }

  /// The first listing. Bounded: the splits of all files (from the
  /// submission's listing when there is one), numbered in path order;
  /// this subtask takes numbers index, index + p, ... Watching: scan().
  void list();

  /// Lists again and takes this subtask's splits, (hash(path) + k) mod p,
  /// of files not seen before (watching sources).
  void scan();

  /// The splits not finished, the one being read first.
  std::vector<file_split>& pending() noexcept { return pending_; }

  std::string encode() const;

  /// Deals the unfinished splits of every old subtask out again: old
  /// split j (counting over the old subtasks in order) to subtask j mod p;
  /// keeps the union of what they had taken. A checkpoint taken before
  /// any subtask listed leaves this one to list afresh.
  void restore(const operator_restore& from);

private:
  file_source_options opts_;
  std::shared_ptr<const file_listing> listing_;
  int index_ = 0;
  int parallelism_ = 1;
  bool listed_ = false;
  std::vector<file_split> pending_;
  std::set<std::pair<std::string, uint64_t>> taken_; // watching
  std::set<std::string> seen_;                       // watching, this run
};

/// "the record at byte N of F is longer than ..." with the line when known.
std::runtime_error record_too_long(split_reader& reader, uint64_t offset,
                                   size_t limit, bool quoted);

/// "F:line:column: malformed record: ..." for a bad field at byte
/// `position` of a record (which may span lines) starting at `offset`.
std::runtime_error malformed_record(split_reader& reader, uint64_t offset,
                                    std::string_view record,
                                    const decode_error& error);

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
      : opts_(opts), format_(std::move(format)),
        dead_(std::move(dead_letters)),
        splits_(std::move(opts), std::move(listing)) {
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
    parallelism_ = ctx.parallelism();
    splits_.bind(ctx.subtask_index(), parallelism_);
    start_ns_ = monotonic_now_ns();
  }

  poll_result poll() override {
    auto& out = this->out_.main();
    size_t emitted = 0;
    auto done = [&](poll_result r) {
      out.flush();
      emitted_ += emitted;
      return r;
    };
    if (cancelled_)
      return done(poll_result::finished);
    if (!splits_.listed())
      splits_.list();
    if (splits_.watching() && monotonic_now_ns() >= next_scan_ns_) {
      next_scan_ns_ = monotonic_now_ns() + opts_.monitor_interval * 1000000;
      splits_.scan();
    }
    auto& pending = splits_.pending();
    auto at_end = splits_.watching() ? poll_result::idle
                                     : poll_result::finished;
    size_t budget = default_batch_records;
    if (opts_.rate > 0) {
      auto elapsed_s
          = static_cast<double>(monotonic_now_ns() - start_ns_) / 1e9;
      auto allowed = static_cast<uint64_t>(
                         elapsed_s * opts_.rate / parallelism_)
                     + 1;
      if (emitted_ >= allowed)
        return done(pending.empty() ? at_end : poll_result::idle);
      budget = static_cast<size_t>(
          std::min<uint64_t>(budget, allowed - emitted_));
    }
    while (emitted < budget) {
      if (!synced_) {
        if (!open_ && pending.empty())
          return done(at_end);
        if (!open_next())
          return done(poll_result::idle); // a pipe without data yet
        continue;
      }
      if (!read(budget, emitted))
        return done(poll_result::idle); // a pipe without data for now
    }
    return done(poll_result::more);
  }

  void cancel() override { cancelled_ = true; }

  void close() override { reader_.close(); }

  void snapshot_state(uint64_t, operator_state_snapshot& out) override {
    if (!splits_.listed() && !cancelled_)
      splits_.list(); // the snapshot must say which splits this subtask owns
    if (open_ && synced_) {
      auto& s = splits_.pending().front();
      // Before the file's first record, the split starts over (its header
      // and byte order mark are skipped again).
      s.offset = first_owned_ ? 0 : reader_.offset_of(reader_.data());
      s.at_record = true;
    }
    out.source_position = splits_.encode();
  }

  void restore_state(const operator_restore& from) override {
    splits_.restore(from);
    reader_.close();
    open_ = false;
    synced_ = false;
  }

private:
  /// Opens the first pending split: header, then its first record.
  /// Returns false while a pipe has no data yet.
  bool open_next() {
    auto& s = splits_.pending().front();
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
    auto& pending = splits_.pending();
    auto stop = reader_.offset_of(reader_.data());
    reader_.note_record_start(stop);
    last_path_ = pending.front().path;
    last_end_ = pending.front().end;
    last_stop_ = stop;
    pending.erase(pending.begin());
    open_ = false;
    synced_ = false;
    if (pending.empty() || pending.front().path != reader_.path())
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
        auto* nl = static_cast<const char*>(
            std::memchr(p, '\n', static_cast<size_t>(e - p)));
        bool has_quotes = false;
        if constexpr (Format::quoted) {
          // A header is skipped undecoded: delimit it with quote parity.
          if (skip_header_
              && std::memchr(p, '"', static_cast<size_t>(
                                         (nl != nullptr ? nl : e) - p))
                     != nullptr) {
            has_quotes = true;
            nl = quoted_end(p, e);
          }
        }
        const char* next = nullptr;
        bool need_more = false;
        for (;;) { // twice when the record turns out to have quotes
          if (nl == nullptr) {
            if (!eof) {
              if (static_cast<size_t>(e - p) > max)
                throw detail::record_too_long(reader_, off, max, has_quotes);
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
            throw detail::record_too_long(reader_, off, max, has_quotes);
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
            nl = quoted_end(p, e);
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

  /// The end of a record with quotes that starts at p (outside quotes).
  static const char* quoted_end(const char* p, const char* e) {
    bool in_quotes = false;
    return detail::find_record_end(p, e, true, in_quotes);
  }

  void malformed(uint64_t off, std::string_view rec) {
    if (!dead_)
      throw detail::malformed_record(reader_, off, rec, error_);
    this->out_.side(*dead_).collect(
        text_line{reader_.path(), reader_.line_of(off), std::string{rec}},
        no_timestamp);
  }

  file_source_options opts_;
  Format format_;
  std::optional<output_tag<text_line>> dead_;
  detail::split_assignment splits_;
  int parallelism_ = 1;
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
