#include "libstream/connectors/postgres.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cctype>
#include <cerrno>
#include <string_view>
#include <memory>

#include <algorithm>
#include <chrono>
#include <optional>
#include <thread>

#include "libstream/host_port.hpp"

namespace libstream::pg {

namespace {

PGconn* as_conn(void* p) {
  return static_cast<PGconn*>(p);
}

/// libpq's messages span lines ("ERROR:  ...\nDETAIL:  ..."): one line,
/// whitespace runs as one space, none at the ends.
std::string one_line(const std::string& s) {
  std::string out;
  for (char ch : s) {
    bool space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
    if (space && (out.empty() || out.back() == ' '))
      continue;
    out.push_back(space ? ' ' : ch);
  }
  while (!out.empty() && out.back() == ' ')
    out.pop_back();
  return out;
}

std::string trimmed_error(PGconn* c) {
  return one_line(c != nullptr ? PQerrorMessage(c) : "out of memory");
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/// Decodes %XX in a URL part; nullopt for a bad escape.
std::optional<std::string> percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size())
      return std::nullopt;
    auto hi = hex_digit(s[i + 1]);
    auto lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0)
      return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

} // namespace

std::string url::where() const {
  return host + ":" + std::to_string(port) + "/" + db;
}

url parse_url(const std::string& s, const std::string& what) {
  auto fail = [&](const std::string& why) {
    return std::invalid_argument(
        what + " expects postgresql://USER@HOST:PORT/DB?table=NAME, got '" + s
        + "': " + why);
  };
  const std::string scheme = "postgresql://";
  if (s.compare(0, scheme.size(), scheme) != 0)
    throw fail("not a postgresql:// URL");
  auto rest = s.substr(scheme.size());
  url u;
  auto at = rest.find('@');
  if (at == std::string::npos)
    throw fail("no USER@");
  auto decode = [&](const std::string& part) {
    auto d = percent_decode(part);
    if (!d)
      throw fail("bad %-escape in '" + part + "'");
    return *d;
  };
  if (rest.substr(0, at).find(':') != std::string::npos)
    throw fail("a password in the URL (give it in PGPASSWORD or "
               "~/.pgpass)");
  u.user = decode(rest.substr(0, at));
  rest = rest.substr(at + 1);
  auto slash = rest.find('/');
  if (slash == std::string::npos)
    throw fail("no /DB");
  auto hp = parse_host_port(rest.substr(0, slash), what);
  u.host = hp.host;
  u.port = hp.port;
  rest = rest.substr(slash + 1);
  auto q = rest.find('?');
  u.db = decode(rest.substr(0, q));
  if (u.db.empty())
    throw fail("no database name");
  if (q != std::string::npos) {
    auto query = rest.substr(q + 1);
    size_t pos = 0;
    while (pos <= query.size()) {
      auto amp = query.find('&', pos);
      auto kv = query.substr(pos, amp == std::string::npos ? std::string::npos
                                                           : amp - pos);
      auto eq = kv.find('=');
      auto key = kv.substr(0, eq);
      if (key == "table" && eq != std::string::npos)
        u.table = decode(kv.substr(eq + 1));
      else if (!kv.empty())
        // Not silently dropped: `sslmode=require` must not look as if
        // it took effect.
        throw fail("unknown parameter '" + key
                   + "' (only table=NAME; libpq reads the others from "
                     "PG* environment variables)");
      if (amp == std::string::npos)
        break;
      pos = amp + 1;
    }
  }
  if (u.table.empty())
    throw fail("no ?table=NAME");
  return u;
}

connection::connection(const url& u, const connect_options& o) {
  where_ = "postgresql " + u.where();
  auto port = std::to_string(u.port);
  auto timeout = std::to_string(std::max<int64_t>(1, (o.connect_timeout + 999)
                                                         / 1000));
  auto idle = std::to_string(std::max<int64_t>(1, o.dead_after / 3000));
  auto user_timeout = std::to_string(o.dead_after);
  answer_timeout_ = o.answer_timeout;
  // The server gives up first (and says why): a statement waiting on a
  // lock, or running long, fails before the client stops waiting.
  auto server_options = "-c lock_timeout=" + std::to_string(o.lock_timeout)
                        + " -c statement_timeout="
                        + std::to_string(std::max<int64_t>(
                            1, o.answer_timeout * 9 / 10));
  const char* keys[] = {"host",
                        "port",
                        "dbname",
                        "user",
                        "connect_timeout",
                        "keepalives",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "tcp_user_timeout",
                        "application_name",
                        "options",
                        nullptr};
  const char* values[] = {u.host.c_str(),
                          port.c_str(),
                          u.db.c_str(),
                          u.user.c_str(),
                          timeout.c_str(),
                          "1",
                          idle.c_str(),
                          idle.c_str(),
                          "2",
                          user_timeout.c_str(),
                          "libstream",
                          server_options.c_str(),
                          nullptr};
  for (int attempt = 0;; ++attempt) {
    auto* c = PQconnectdbParams(keys, values, 0);
    if (c != nullptr && PQstatus(c) == CONNECTION_OK) {
      // Server notices (CREATE TABLE IF NOT EXISTS skipping) are not
      // errors: no line on stderr for each.
      PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
      conn_ = c;
      return;
    }
    auto why = trimmed_error(c);
    if (c != nullptr)
      PQfinish(c);
    if (attempt >= o.retries)
      throw pg_error(where_ + ": cannot connect after "
                     + std::to_string(attempt + 1) + " attempts: " + why);
    std::this_thread::sleep_for(
        std::chrono::milliseconds(100 << std::min(attempt, 6)));
  }
}

connection::~connection() {
  if (conn_ != nullptr)
    PQfinish(as_conn(conn_));
}

namespace {

/// Owns a PGresult.
struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

} // namespace

/// Sends `sql` and waits for its results up to the answer timeout (a
/// server that stopped, or a lock held elsewhere, would otherwise block
/// the subtask for good); returns the last result, which is a success.
static result_ptr run(void* conn, const std::string& where,
                      duration_ms answer_timeout, bool& broken,
                      const std::string& sql) {
  auto* c = as_conn(conn);
  if (broken)
    throw pg_error(where + ": the connection is unusable after an earlier "
                           "error");
  if (PQsendQuery(c, sql.c_str()) == 0) {
    broken = true;
    throw pg_error(where + ": " + trimmed_error(c));
  }
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds(answer_timeout);
  result_ptr last;
  std::string error;
  std::string state;
  for (;;) {
    while (PQisBusy(c) != 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        if (auto* cancel = PQgetCancel(c)) {
          char buf[256];
          PQcancel(cancel, buf, sizeof(buf));
          PQfreeCancel(cancel);
        }
        broken = true;
        throw pg_error(where + ": no answer within "
                       + std::to_string(answer_timeout) + " ms");
      }
      pollfd pfd{PQsocket(c), POLLIN, 0};
      auto rc = ::poll(&pfd, 1, static_cast<int>(std::min<int64_t>(left,
                                                                  1000)));
      if (rc < 0 && errno != EINTR) {
        broken = true;
        throw pg_error(where + ": poll failed");
      }
      if (rc > 0 && PQconsumeInput(c) == 0) {
        broken = true;
        throw pg_error(where + ": " + trimmed_error(c));
      }
    }
    result_ptr r{PQgetResult(c)};
    if (r == nullptr)
      break;
    auto status = PQresultStatus(r.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK
        && error.empty()) {
      error = one_line(PQresultErrorMessage(r.get()));
      if (error.empty())
        error = trimmed_error(c);
      auto* code = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      state = code != nullptr ? code : "";
    }
    last = std::move(r);
  }
  if (PQstatus(c) != CONNECTION_OK)
    broken = true;
  if (!error.empty())
    throw pg_error(where + ": " + error, state);
  if (last == nullptr)
    throw pg_error(where + ": no result for a statement");
  return last;
}

std::string connection::exec(const std::string& sql) {
  auto r = run(conn_, where_, answer_timeout_, broken_, sql);
  return PQcmdStatus(r.get());
}

std::vector<std::vector<std::optional<std::string>>>
connection::query(const std::string& sql) {
  auto r = run(conn_, where_, answer_timeout_, broken_, sql);
  std::vector<std::vector<std::optional<std::string>>> rows;
  auto n = PQntuples(r.get());
  auto m = PQnfields(r.get());
  for (int i = 0; i < n; ++i) {
    std::vector<std::optional<std::string>> row;
    for (int j = 0; j < m; ++j)
      if (PQgetisnull(r.get(), i, j))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(
            std::string{PQgetvalue(r.get(), i, j),
                        static_cast<size_t>(PQgetlength(r.get(), i, j))});
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string connection::literal(const std::string& s) const {
  auto* p = PQescapeLiteral(as_conn(conn_), s.data(), s.size());
  if (p == nullptr)
    throw pg_error(where_ + ": cannot quote a value: "
                   + trimmed_error(as_conn(conn_)));
  std::string out{p};
  PQfreemem(p);
  return out;
}

std::string connection::identifier(const std::string& s) const {
  auto* p = PQescapeIdentifier(as_conn(conn_), s.data(), s.size());
  if (p == nullptr)
    throw pg_error(where_ + ": cannot quote a name: "
                   + trimmed_error(as_conn(conn_)));
  std::string out{p};
  PQfreemem(p);
  return out;
}

namespace detail {

void validate(const sink_options& o) {
  if (o.columns.empty())
    throw std::invalid_argument("postgres sink: no columns");
  for (auto& col : o.columns)
    if (col.empty() || col.front() == ' ')
      throw std::invalid_argument("postgres sink: a column without a name: '"
                                  + col + "'");
  for (auto& col : o.columns) {
    auto space = col.find(' ');
    if (space == std::string::npos)
      continue;
    for (char ch : col.substr(space + 1))
      if (!std::isalnum(static_cast<unsigned char>(ch))
          && std::string_view{" _(),"}.find(ch) == std::string_view::npos)
        throw std::invalid_argument("postgres sink: column '" + col
                                    + "' has a type with '"
                                    + std::string(1, ch) + "' in it");
  }
  if (o.prefix.empty() || o.prefix.size() > 150)
    throw std::invalid_argument("postgres sink: the transaction prefix must "
                                "have 1 to 150 characters, got '"
                                + o.prefix + "'");
  if (o.batch_rows == 0)
    throw std::invalid_argument("postgres sink: batch_rows must be positive");
}

void check_prepared_transactions(connection& c, int parallelism) {
  auto rows = c.query("SHOW max_prepared_transactions");
  int max = 0;
  if (!rows.empty() && rows[0][0])
    max = std::atoi(rows[0][0]->c_str());
  if (max == 0)
    throw pg_error(c.where()
                   + ": max_prepared_transactions is 0, so the exactly-once "
                     "sink cannot prepare transactions: set it above the "
                     "number of sink subtasks (postgresql.conf) and restart "
                     "the server");
  if (max < parallelism)
    throw pg_error(c.where() + ": max_prepared_transactions is "
                   + std::to_string(max) + ", below the sink's "
                   + std::to_string(parallelism)
                   + " subtasks that each keep a transaction prepared: set "
                     "it higher (postgresql.conf) and restart the server");
}

void create_table(connection& c, const std::string& table,
                  const std::vector<std::string>& columns) {
  std::string sql = "CREATE TABLE IF NOT EXISTS " + c.identifier(table) + " (";
  for (size_t i = 0; i < columns.size(); ++i) {
    auto& col = columns[i];
    auto space = col.find(' ');
    auto name = col.substr(0, space);
    auto type = space == std::string::npos ? "text" : col.substr(space + 1);
    sql += (i > 0 ? ", " : "") + c.identifier(name) + " " + type;
  }
  sql += ")";
  try {
    c.exec(sql);
  } catch (const pg_error& e) {
    // Subtasks creating the same table at once: IF NOT EXISTS does not
    // guard the catalog's unique index, so all but one may fail (unique
    // violation or duplicate table). Once the winner committed, the
    // statement is a no-op. Other errors (permissions) are not retried.
    if (e.sqlstate() != "23505" && e.sqlstate() != "42P07")
      throw;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    c.exec(sql);
  }
}

std::string insert_sql(connection& c, const std::string& table,
                       const std::vector<std::string>& columns,
                       const std::vector<std::vector<std::string>>& rows) {
  std::string sql = "INSERT INTO " + c.identifier(table) + " (";
  for (size_t i = 0; i < columns.size(); ++i)
    sql += (i > 0 ? ", " : "") + c.identifier(columns[i].substr(
                                     0, columns[i].find(' ')));
  sql += ") VALUES ";
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r].size() != columns.size())
      throw std::logic_error("postgres sink: a row has "
                             + std::to_string(rows[r].size())
                             + " values for " + std::to_string(columns.size())
                             + " columns");
    sql += r > 0 ? ",(" : "(";
    for (size_t i = 0; i < rows[r].size(); ++i)
      sql += (i > 0 ? "," : "") + c.literal(rows[r][i]);
    sql += ")";
  }
  return sql;
}

std::vector<std::string> prepared_of(connection& c, const std::string& prefix,
                                     int subtask, int parallelism) {
  std::vector<std::string> out;
  auto head = prefix + "-s";
  auto rows = c.query("SELECT gid FROM pg_prepared_xacts WHERE database = "
                      "current_database() AND starts_with(gid, "
                      + c.literal(head) + ")");
  auto number = [](const std::string& s, size_t from, size_t to, int64_t& n) {
    if (from >= to || to - from > 18)
      return false;
    n = 0;
    for (size_t i = from; i < to; ++i) {
      if (s[i] < '0' || s[i] > '9')
        return false;
      n = n * 10 + (s[i] - '0');
    }
    return true;
  };
  for (auto& r : rows) {
    if (!r[0])
      continue;
    // Exactly <prefix>-s<j>-c<n>: j decides which subtask sweeps it (a
    // longer prefix that starts with this one is another job's).
    auto& gid = *r[0];
    auto dash = gid.find("-c", head.size());
    int64_t j = 0;
    int64_t n = 0;
    if (dash != std::string::npos && number(gid, head.size(), dash, j)
        && number(gid, dash + 2, gid.size(), n) && j % parallelism == subtask)
      out.push_back(gid);
  }
  return out;
}

namespace {

/// PostgreSQL's code for "prepared transaction ... does not exist".
constexpr const char* undefined_object = "42704";

} // namespace

void prepare(connection& c, prepared_txn& txn) {
  auto id = c.query("SELECT pg_current_xact_id()::text");
  txn.xid = std::stoull(id.at(0).at(0).value());
  auto tag = c.exec("PREPARE TRANSACTION " + c.literal(txn.gid));
  // Outside a transaction, or in a failed one, PREPARE does nothing and
  // says ROLLBACK: the rows would be lost without an error.
  if (tag != "PREPARE TRANSACTION")
    throw pg_error(c.where() + ": PREPARE TRANSACTION '" + txn.gid
                   + "' did not prepare (" + tag + ")");
}

void commit_prepared(connection& c, const prepared_txn& txn) {
  try {
    c.exec("COMMIT PREPARED " + c.literal(txn.gid));
  } catch (const pg_error& e) {
    if (e.sqlstate() != undefined_object)
      throw;
    // Gone: committed already (a restore commits again what its
    // checkpoint recorded), unless it was rolled back.
    if (txn.xid == 0)
      throw pg_error(c.where() + ": prepared transaction '" + txn.gid
                     + "' is gone and its transaction id is unknown: "
                       "cannot tell whether it was committed");
    auto status = c.query("SELECT pg_xact_status("
                          + c.literal(std::to_string(txn.xid)) + "::xid8)");
    auto s = status.at(0).at(0);
    // NULL: too old for the server to know; it was prepared, so it was
    // committed unless someone rolled it back long ago.
    if (!s || *s == "committed")
      return;
    throw pg_error(c.where() + ": prepared transaction '" + txn.gid
                   + "' (xid " + std::to_string(txn.xid)
                   + ") is gone without being committed (" + *s
                   + "): its rows are lost. Another job with the same "
                     "transaction prefix, or a ROLLBACK PREPARED by hand?");
  }
}

void rollback_prepared(connection& c, const std::string& gid) {
  try {
    c.exec("ROLLBACK PREPARED " + c.literal(gid));
  } catch (const pg_error& e) {
    if (e.sqlstate() != undefined_object)
      throw;
  }
}

} // namespace detail

} // namespace libstream::pg
