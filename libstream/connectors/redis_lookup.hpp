#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "libstream/async/async_function.hpp"
#include "libstream/connectors/redis.hpp"

namespace libstream {

/// Looks each record up in Redis (GET of the key `key(record)`) with an
/// asynchronous client: one connection per subtask, requests pipelined.
/// `result(record, value)` turns the record and the string stored at the
/// key (nullopt when there is none) into the results; it runs on the
/// client's I/O thread and may throw to fail the request with its message.
/// A connection that fails is retried with backoff (redis::options); when
/// the retries run out the request fails naming the server and the cause.
template <class In, class Out>
class redis_lookup final : public async_function<In, Out> {
public:
  using key_function = std::function<std::string(const In&)>;
  using result_function = std::function<std::vector<Out>(
      const In&, const std::optional<std::string>&)>;

  redis_lookup(redis::url where, key_function key, result_function result,
               redis::options opts = {})
      : where_(std::move(where)), key_(std::move(key)),
        result_(std::make_shared<result_function>(std::move(result))),
        opts_(opts) {}

  void open(const runtime_info&) override {
    client_ = std::make_unique<redis::async_client>(where_.host, where_.port,
                                                    opts_);
  }

  void async_invoke(const In& input, result_future<Out> future) override {
    auto key = key_(input);
    client_->command(
        {"GET", key},
        [input, future, key, result = result_,
         endpoint = client_->endpoint()](redis::result r) {
          if (!r.ok) {
            future.complete_exceptionally(r.error);
            return;
          }
          std::optional<std::string> value;
          switch (r.reply.kind) {
            case redis::reply::type::nil:
              break;
            case redis::reply::type::string:
            case redis::reply::type::status:
              value = std::move(r.reply.str);
              break;
            case redis::reply::type::error:
              future.complete_exceptionally("redis " + endpoint + ": GET "
                                            + key + ": " + r.reply.str);
              return;
            default:
              future.complete_exceptionally("redis " + endpoint + ": GET "
                                            + key
                                            + ": not a string reply");
              return;
          }
          try {
            future.complete((*result)(input, value));
          } catch (const std::exception& e) {
            future.complete_exceptionally(e.what());
          }
        });
  }

  void close() override { client_.reset(); }

private:
  redis::url where_;
  key_function key_;
  std::shared_ptr<result_function> result_;
  redis::options opts_;
  std::unique_ptr<redis::async_client> client_;
};

} // namespace libstream
