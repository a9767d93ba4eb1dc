#include "libstream/connectors/postgres.hpp"

#include <libpq-fe.h>

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
      if (eq != std::string::npos && kv.substr(0, eq) == "table")
        u.table = decode(kv.substr(eq + 1));
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

void connection::exec(const std::string& sql) {
  auto* r = PQexec(as_conn(conn_), sql.c_str());
  auto status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    auto why = one_line(r != nullptr ? PQresultErrorMessage(r) : "");
    if (why.empty())
      why = trimmed_error(as_conn(conn_));
    PQclear(r);
    throw pg_error(where_ + ": " + why);
  }
  PQclear(r);
}

std::vector<std::vector<std::optional<std::string>>>
connection::query(const std::string& sql) {
  auto* r = PQexec(as_conn(conn_), sql.c_str());
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    auto why = one_line(r != nullptr ? PQresultErrorMessage(r) : "");
    if (why.empty())
      why = trimmed_error(as_conn(conn_));
    PQclear(r);
    throw pg_error(where_ + ": " + why);
  }
  std::vector<std::vector<std::optional<std::string>>> rows;
  auto n = PQntuples(r);
  auto m = PQnfields(r);
  for (int i = 0; i < n; ++i) {
    std::vector<std::optional<std::string>> row;
    for (int j = 0; j < m; ++j)
      if (PQgetisnull(r, i, j))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(std::string{PQgetvalue(r, i, j),
                                     static_cast<size_t>(PQgetlength(r, i, j))});
    rows.push_back(std::move(row));
  }
  PQclear(r);
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
  if (o.prefix.empty() || o.prefix.size() > 150)
    throw std::invalid_argument("postgres sink: the transaction prefix must "
                                "have 1 to 150 characters, got '"
                                + o.prefix + "'");
  if (o.batch_rows == 0)
    throw std::invalid_argument("postgres sink: batch_rows must be positive");
}

void check_prepared_transactions(connection& c) {
  auto rows = c.query("SHOW max_prepared_transactions");
  if (rows.empty() || !rows[0][0] || *rows[0][0] == "0")
    throw pg_error(c.where()
                   + ": max_prepared_transactions is 0, so the exactly-once "
                     "sink cannot prepare transactions: set it above the "
                     "number of sink subtasks (postgresql.conf) and restart "
                     "the server");
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
  } catch (const pg_error&) {
    // Subtasks creating the same table at once: IF NOT EXISTS does not
    // guard the catalog's unique index, so all but one may fail. Once the
    // winner committed, the statement is a no-op.
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
                      "current_database() AND left(gid, "
                      + std::to_string(head.size())
                      + ") = " + c.literal(head));
  for (auto& r : rows) {
    if (!r[0])
      continue;
    // <prefix>-s<j>-c<n>: j decides which subtask sweeps it.
    auto rest = r[0]->substr(head.size());
    auto dash = rest.find("-c");
    if (dash == 0 || dash == std::string::npos)
      continue;
    int j = 0;
    bool digits = true;
    for (size_t i = 0; i < dash && digits; ++i) {
      digits = rest[i] >= '0' && rest[i] <= '9' && j < 100000000;
      j = j * 10 + (rest[i] - '0');
    }
    if (digits && j % parallelism == subtask)
      out.push_back(*r[0]);
  }
  return out;
}

namespace {

bool is_prepared(connection& c, const std::string& gid) {
  return !c.query("SELECT 1 FROM pg_prepared_xacts WHERE gid = "
                  + c.literal(gid))
              .empty();
}

} // namespace

void commit_prepared(connection& c, const std::string& gid) {
  try {
    c.exec("COMMIT PREPARED " + c.literal(gid));
  } catch (const pg_error&) {
    // Committed already (a restore commits again what its checkpoint
    // recorded): fine, unless it is still there.
    if (is_prepared(c, gid))
      throw;
  }
}

void rollback_prepared(connection& c, const std::string& gid) {
  try {
    c.exec("ROLLBACK PREPARED " + c.literal(gid));
  } catch (const pg_error&) {
    if (is_prepared(c, gid))
      throw;
  }
}

} // namespace detail

} // namespace libstream::pg
