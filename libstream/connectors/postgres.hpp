#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "libstream/sinks/two_phase_commit.hpp"
#include "libstream/time.hpp"

namespace libstream::pg {

/// A postgresql://USER@HOST:PORT/DB?table=NAME URL.
struct url {
  std::string user;
  std::string host;
  uint16_t port = 5432;
  std::string db;
  std::string table; // from ?table=

  /// HOST:PORT/DB, for messages.
  std::string where() const;
};

/// Parses the URL; throws std::invalid_argument naming `what` and the
/// problem.
url parse_url(const std::string& s, const std::string& what);

/// Names the server and the server's message.
class pg_error : public std::runtime_error {
public:
  explicit pg_error(const std::string& what, std::string sqlstate = "")
      : std::runtime_error(what), sqlstate_(std::move(sqlstate)) {}

  /// The server's error code (e.g. "42704"), empty for client errors.
  const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
  std::string sqlstate_;
};

/// How a connection is made and kept.
struct connect_options {
  /// Per attempt.
  duration_ms connect_timeout = 5000;
  /// Attempts after the first, 100 ms apart and doubling, before the
  /// connection fails naming the server and the cause.
  int retries = 3;
  /// A server that stops answering on an established connection (a
  /// partition, a stopped host) fails it after this long instead of
  /// hanging (TCP keepalives and TCP_USER_TIMEOUT).
  duration_ms dead_after = 15000;
  /// A statement fails when it waits this long for a lock (the server's
  /// lock_timeout).
  duration_ms lock_timeout = 10000;
  /// A statement fails when its answer has not come after this long: the
  /// server's statement_timeout is set to 90% of it, and the client
  /// stops waiting (and cancels it) at this deadline, also when the server
  /// cannot answer at all.
  duration_ms answer_timeout = 60000;
};

/// One libpq connection (blocking).
class connection {
public:
  /// Connects, retrying with backoff; throws pg_error.
  explicit connection(const url& u, const connect_options& o = {});
  ~connection();

  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Runs `sql` (one or more statements); throws pg_error. Returns the
  /// command status of the last ("INSERT 0 500", "PREPARE TRANSACTION").
  /// After a client-side failure (no answer in time, a lost connection)
  /// the connection refuses further use.
  std::string exec(const std::string& sql);

  /// Runs a query; rows of text values (nullopt for NULL).
  std::vector<std::vector<std::optional<std::string>>>
  query(const std::string& sql);

  std::string literal(const std::string& s) const;
  std::string identifier(const std::string& s) const;

  const std::string& where() const noexcept { return where_; }

private:
  void* conn_ = nullptr; // PGconn
  std::string where_;
  duration_ms answer_timeout_ = 60000;
  bool broken_ = false;
};

/// The transaction handle of postgres_sink: its global id once prepared
/// (empty while open).
struct prepared_txn {
  std::string gid;
  /// The server's transaction id (pg_current_xact_id): tells a
  /// transaction committed already from one rolled back once its gid is
  /// gone.
  uint64_t xid = 0;
};

/// What postgres_sink writes and how.
struct sink_options {
  /// The table's columns, in the order of the values a row function
  /// returns: "name" (type text) or "name type" ("trades bigint"). The
  /// table is created with them if it does not exist.
  std::vector<std::string> columns;
  /// Names the sink's prepared transactions: unique per job and table
  /// (a restore rolls back every prepared transaction of this prefix it
  /// did not commit). At most 150 characters.
  std::string prefix;
  /// Rows per INSERT statement.
  size_t batch_rows = 500;
  connect_options connect;
};

namespace detail {

/// The non-template parts of postgres_sink (in postgres.cpp).
void validate(const sink_options& o);
/// Throws when the server cannot hold a prepared transaction per subtask.
void check_prepared_transactions(connection& c, int parallelism);
void create_table(connection& c, const std::string& table,
                  const std::vector<std::string>& columns);
std::string insert_sql(connection& c, const std::string& table,
                       const std::vector<std::string>& columns,
                       const std::vector<std::vector<std::string>>& rows);
/// COMMIT PREPARED, also for a transaction committed already.
/// Throws when the transaction is gone but did not commit (someone rolled
/// it back: its rows are lost).
void commit_prepared(connection& c, const prepared_txn& txn);
/// ROLLBACK PREPARED, also for one gone already.
void rollback_prepared(connection& c, const std::string& gid);
/// The open transaction's id, then PREPARE TRANSACTION.
void prepare(connection& c, prepared_txn& txn);
/// The prepared transactions named `<prefix>-s<j>-c<n>` (of the current
/// database) with j mod parallelism = subtask.
std::vector<std::string> prepared_of(connection& c, const std::string& prefix,
                                     int subtask, int parallelism);

} // namespace detail

/// Rows into a PostgreSQL table, exactly once with checkpoints, through
/// the two-phase commit sink (add_two_phase_commit_sink): one transaction
/// per checkpoint and subtask, filled with batched multi-row INSERTs,
/// `PREPARE TRANSACTION '<prefix>-s<subtask>-c<checkpoint>'` at the
/// barrier, `COMMIT PREPARED` when the checkpoint completes. Before its
/// first row a subtask commits the prepared transactions a restored
/// checkpoint recorded and rolls back every other one of the prefix whose
/// subtask index maps to it (j mod parallelism): what a failed run left
/// prepared, at any earlier parallelism. Values are sent as text literals
/// and converted by the server to the column types.
/// Needs max_prepared_transactions > 0 on the server; without it open()
/// fails saying so. A lost connection fails the job (the open transaction
/// is gone with it); the restart strategy then restores the last
/// checkpoint.
template <class T>
class postgres_sink final : public two_phase_commit_function<T, prepared_txn> {
public:
  using row_function = std::function<std::vector<std::string>(const T&)>;

  postgres_sink(url where, row_function row, sink_options o)
      : where_(std::move(where)), row_(std::move(row)), o_(std::move(o)) {
    detail::validate(o_);
  }

  void open(const runtime_info& info) override;
  prepared_txn begin_transaction() override;
  void invoke(prepared_txn&, const T& value, timestamp) override {
    rows_.push_back(row_(value));
    if (rows_.size() >= o_.batch_rows)
      flush_rows();
  }
  void pre_commit(prepared_txn& txn, uint64_t checkpoint) override;
  void commit(const prepared_txn& txn) override;
  void abort(const prepared_txn& txn) override;
  void abort_leftovers(const std::vector<prepared_txn>& committed,
                       const std::vector<int>& olds) override;
  void close() override {
    conn_.reset();
    admin_.reset();
  }

private:
  void flush_rows();
  std::string gid_prefix(int subtask) const {
    return o_.prefix + "-s" + std::to_string(subtask) + "-c";
  }

  url where_;
  row_function row_;
  sink_options o_;
  int subtask_ = 0;
  int parallelism_ = 1;
  std::vector<std::vector<std::string>> rows_;
  std::unique_ptr<connection> conn_;  // the open transaction's
  std::unique_ptr<connection> admin_; // COMMIT/ROLLBACK PREPARED: outside
                                      // any transaction block
};


template <class T>
void postgres_sink<T>::open(const runtime_info& info) {
  subtask_ = info.subtask_index;
  parallelism_ = info.parallelism;
  conn_ = std::make_unique<connection>(where_, o_.connect);
  admin_ = std::make_unique<connection>(where_, o_.connect);
  detail::check_prepared_transactions(*conn_, parallelism_);
  detail::create_table(*conn_, where_.table, o_.columns);
}

template <class T>
prepared_txn postgres_sink<T>::begin_transaction() {
  conn_->exec("BEGIN");
  return {};
}

template <class T>
void postgres_sink<T>::flush_rows() {
  if (rows_.empty())
    return;
  conn_->exec(detail::insert_sql(*conn_, where_.table, o_.columns, rows_));
  rows_.clear();
}

template <class T>
void postgres_sink<T>::pre_commit(prepared_txn& txn, uint64_t checkpoint) {
  flush_rows();
  txn.gid = gid_prefix(subtask_) + std::to_string(checkpoint);
  detail::prepare(*conn_, txn);
}

template <class T>
void postgres_sink<T>::commit(const prepared_txn& txn) {
  detail::commit_prepared(*admin_, txn);
}

template <class T>
void postgres_sink<T>::abort(const prepared_txn& txn) {
  rows_.clear();
  // The open transaction (only on a failure or cancel, before close()):
  // dropping the connection rolls it back, and cannot fail as a ROLLBACK
  // on a broken connection would.
  if (txn.gid.empty())
    conn_.reset();
  else
    detail::rollback_prepared(*admin_, txn.gid);
}

template <class T>
void postgres_sink<T>::abort_leftovers(
    const std::vector<prepared_txn>& committed, const std::vector<int>&) {
  // Not just `olds`: a run that was not restored may follow a failed run
  // of a larger parallelism.
  for (auto& gid : detail::prepared_of(*admin_, o_.prefix, subtask_,
                                       parallelism_)) {
    bool keep = false;
    for (auto& c : committed)
      keep = keep || c.gid == gid;
    if (!keep)
      detail::rollback_prepared(*admin_, gid);
  }
}

/// A postgres_sink per subtask of `stream`, through the two-phase commit
/// sink, declared blocking: libpq's calls wait for the server, so its
/// subtasks run on a thread each instead of stalling the node's workers.
template <class T>
data_stream_sink<T>
add_sink(data_stream<T> stream, url where,
         typename postgres_sink<T>::row_function row, sink_options o,
         std::string name = "PostgreSQL Sink") {
  return add_two_phase_commit_sink(
             std::move(stream),
             [where = std::move(where), row = std::move(row),
              o = std::move(o)] {
               return std::make_unique<postgres_sink<T>>(where, row, o);
             },
             std::move(name))
      .blocking();
}

} // namespace libstream::pg

template <>
struct libstream::codec<libstream::pg::prepared_txn>
    : member_codec<libstream::pg::prepared_txn,
                   &libstream::pg::prepared_txn::gid,
                   &libstream::pg::prepared_txn::xid> {};
