#include "stock/enrich.hpp"

#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "libstream/async/async_io.hpp"
#include "libstream/connectors/http.hpp"
#include "libstream/connectors/redis_lookup.hpp"
#include "libstream/functions.hpp"

using namespace libstream;

namespace stock::detail {

/// A trade with the outcome of its lookup.
struct looked_up {
  trade t;
  bool found = false;
};

} // namespace stock::detail

// The lookup's results cross nodes when the job is not chained.
template <>
struct libstream::codec<stock::detail::looked_up>
    : member_codec<stock::detail::looked_up, &stock::detail::looked_up::t,
                   &stock::detail::looked_up::found> {};

namespace stock {

using detail::looked_up;

namespace {

bool is_redis(const std::string& url) {
  return url.rfind("redis://", 0) == 0;
}

/// The industry from a lookup's value: trailing blanks and line ends
/// dropped; empty means none.
std::optional<std::string> industry_of(const std::optional<std::string>& v) {
  if (!v)
    return std::nullopt;
  auto s = *v;
  while (!s.empty()
         && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '
             || s.back() == '\t'))
    s.pop_back();
  if (s.empty())
    return std::nullopt;
  return s;
}

/// What the lookups do with the value they found (on the client's
/// thread): a missing industry is a result, not an error (route_missing
/// decides), so the retries never see it.
std::vector<looked_up> resolve(const trade& t,
                               const std::optional<std::string>& v) {
  auto industry = industry_of(v);
  if (!industry)
    return {looked_up{t, false}};
  looked_up out{t, true};
  out.t.industry = std::move(*industry);
  return {std::move(out)};
}

/// Passes trades with an industry on; the others go to `missing`.
class route_missing final : public process_function<looked_up, trade> {
public:
  route_missing(std::optional<output_tag<text_line>> missing, std::string where)
      : missing_(std::move(missing)), where_(std::move(where)) {}

  void process_element(const looked_up& x, context& ctx,
                       collector<trade>& out) override {
    if (x.found) {
      out.collect(x.t);
    } else if (missing_) {
      ctx.output(*missing_,
                 text_line{where_, 0, to_csv_without_industry(x.t)});
    } else {
      throw std::runtime_error("no industry for symbol '" + x.t.symbol
                               + "' at " + where_);
    }
  }

private:
  std::optional<output_tag<text_line>> missing_;
  std::string where_;
};

} // namespace

void validate(const lookup_options& o) {
  if (is_redis(o.from)) {
    auto u = redis::parse_url(o.from, "--industry-from");
    if (!u.path.empty())
      throw std::invalid_argument("--industry-from redis://HOST:PORT takes no "
                                  "path, got '"
                                  + o.from + "'");
  } else {
    auto u = http::parse_url(o.from, "--industry-from (redis://HOST:PORT or "
                                     "http://HOST:PORT/PATH)");
    if (u.path.find("{symbol}") == std::string::npos)
      throw std::invalid_argument("--industry-from " + o.from
                                  + ": the path needs {symbol}, where the "
                                    "trade's symbol goes");
  }
  if (o.capacity < 1 || o.capacity > 100000)
    throw std::invalid_argument("--lookup-capacity must be between 1 and "
                                "100000, got "
                                + std::to_string(o.capacity));
  if (o.timeout_ms <= 0)
    throw std::invalid_argument("--lookup-timeout-ms must be positive, got "
                                + std::to_string(o.timeout_ms));
  if (o.retries > 100)
    throw std::invalid_argument("--lookup-retries must be at most 100, got "
                                + std::to_string(o.retries));
}

data_stream<trade>
look_up_industries(data_stream<trade> trades, const lookup_options& o,
                   const std::optional<output_tag<text_line>>& missing) {
  validate(o);
  async_options<looked_up> opts;
  opts.mode = o.ordered ? async_output_mode::ordered
                        : async_output_mode::unordered;
  opts.capacity = o.capacity;
  opts.timeout = o.timeout_ms;
  // Connection failures and 5xx answers are retried; a 4xx answer is not
  // (http_lookup's error: "HTTP <status> from GET <url>").
  opts.retry = async_retry_strategy<looked_up>::exponential_backoff(
      o.retries, 50, 1000);
  opts.retry.if_error([](const std::string& e) {
    auto status = e.find("HTTP ");
    return status == std::string::npos || e.compare(status, 6, "HTTP 5") == 0;
  });
  auto where = o.from;
  std::function<std::unique_ptr<async_function<trade, looked_up>>()> make;
  if (is_redis(o.from)) {
    auto u = redis::parse_url(o.from, "--industry-from");
    // The client gives up on a connection quickly; the lookup's retries
    // (with their backoff) try again.
    redis::options ro;
    ro.max_retries = 2;
    ro.backoff = 50;
    ro.connect_timeout = 1000;
    make = [u, ro] {
      return std::make_unique<redis_lookup<trade, looked_up>>(
          u, [](const trade& t) { return "industry:" + t.symbol; }, resolve,
          ro);
    };
  } else {
    auto u = http::parse_url(o.from, "--industry-from");
    // A keep-alive connection per thread: at most 16 per subtask.
    auto threads = std::min<size_t>(o.capacity, 16);
    // A call never outlives the lookup's timeout: closing the lookup
    // (failure, cancel) waits for the calls running.
    http::client_options co;
    co.read_timeout = o.timeout_ms;
    co.connect_timeout = std::min<int64_t>(2000, o.timeout_ms);
    make = [u, threads, co] {
      auto path = u.path;
      return std::make_unique<http_lookup<trade, looked_up>>(
          u,
          [path](const trade& t) {
            auto p = path;
            for (auto at = p.find("{symbol}"); at != std::string::npos;
                 at = p.find("{symbol}", at))
              p.replace(at, 8, http::encode_path_segment(t.symbol));
            return p;
          },
          resolve, threads, co);
    };
  }
  auto looked = async_data_stream::wait(std::move(trades), make, opts,
                                        "Industry Lookup");
  looked.uid("industry-lookup");
  auto routed = looked.process<trade>(
      [missing, where] {
        return std::make_unique<route_missing>(missing, where);
      },
      "Known Industries");
  routed.uid("known-industries");
  return routed;
}

} // namespace stock
