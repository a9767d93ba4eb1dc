#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace libstream {

/// An ordered key-value store on local disk: the LevelDB database of one
/// operator subtask's keyed state (see keyed_table). LevelDB's headers stay
/// in kv_store.cpp.
///
/// Writes go into a pending batch that write_pending() applies atomically;
/// get() and scan() read what was applied. Every LevelDB error throws
/// std::runtime_error naming the database's directory.
///
/// The database is private to its subtask attempt: open_fresh() removes
/// whatever an earlier process left at the path, and the directory is
/// removed when the store and its last snapshot are gone.
class kv_store {
public:
  class snapshot;
  using visitor = std::function<void(std::string_view key,
                                     std::string_view value)>;

  /// Opens a new, empty database in directory `path` (created with its
  /// parents; a database already there is destroyed first).
  static std::shared_ptr<kv_store> open_fresh(const std::string& path);

  ~kv_store();
  kv_store(const kv_store&) = delete;
  kv_store& operator=(const kv_store&) = delete;

  const std::string& path() const noexcept;

  /// Reads `key` into `value`; false when absent.
  bool get(std::string_view key, std::string& value);

  /// Adds a write or a delete to the pending batch.
  void put(std::string_view key, std::string_view value);
  void erase(std::string_view key);

  /// Bytes in the pending batch.
  size_t pending_bytes() const noexcept;

  /// Applies the pending batch (not synced: the database is a cache of the
  /// subtask's state, durability comes from checkpoints).
  void write_pending();

  /// Calls f(key, value) for every key in [first, last), in key order.
  /// Applies the pending batch first.
  void scan(std::string_view first, std::string_view last, const visitor& f);

  /// Deletes every key in [first, last). Applies the pending batch first.
  void erase_range(std::string_view first, std::string_view last);

  /// A consistent read-only view of the database as it is now (after
  /// applying the pending batch), readable from any thread while the store
  /// goes on changing: the synchronous part of a checkpoint.
  std::shared_ptr<const snapshot> take_snapshot();

  /// Removes databases under `dir` (directories named `<prefix>*`, and
  /// the databases directly inside them) that no process has open: what a
  /// killed process left behind. Returns how many it removed.
  static size_t remove_stale(const std::string& dir, const std::string& prefix);

  struct impl;

private:
  explicit kv_store(std::shared_ptr<impl> ptr);
  static std::shared_ptr<kv_store> open_once(const std::string& path);
  std::shared_ptr<impl> impl_;
};

class kv_store::snapshot {
public:
  virtual ~snapshot() = default;
  /// As kv_store::scan, on the snapshot's view.
  virtual void scan(std::string_view first, std::string_view last,
                    const visitor& f) const = 0;
};

} // namespace libstream
