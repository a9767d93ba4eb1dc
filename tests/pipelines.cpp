#define CAF_SUITE pipelines
#include "caf/test/unit_test.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "libstream/environment.hpp"
#include "test_util.hpp"

using namespace libstream;

namespace {

struct trade {
  std::string symbol;
  int64_t qty = 0;
  double price = 0;
};

template <class T>
std::vector<T> sorted(std::vector<T> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

} // namespace

CAF_TEST(map filter chain matches a plain loop) {
  for (int p : {1, 3}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    auto out = std::make_shared<collected<int64_t>>();
    env.from_generator(100000, [](uint64_t i) { return static_cast<int64_t>(i); })
      .map([](int64_t x) { return x * 3; })
      .filter([](int64_t x) { return x % 2 == 0; })
      .collect_into(out);
    env.execute("map-filter");
    std::vector<int64_t> expected;
    for (int64_t i = 0; i < 100000; ++i)
      if ((i * 3) % 2 == 0)
        expected.push_back(i * 3);
    CAF_CHECK_EQUAL(sorted(out->values()), expected);
  }
}

CAF_TEST(keyed rolling sum ends with per key totals) {
  for (int p : {1, 2, 4}) {
    stream_execution_environment env;
    env.set_parallelism(p);
    std::vector<trade> input;
    std::map<std::string, int64_t> totals;
    for (int i = 0; i < 5000; ++i) {
      trade t{"S" + std::to_string(i % 17), i % 7 + 1, 1.0};
      totals[t.symbol] += t.qty;
      input.push_back(t);
    }
    auto out = std::make_shared<collected<trade>>();
    env.from_collection(input)
      .rebalance()
      .key_by([](const trade& t) { return t.symbol; })
      .sum(&trade::qty)
      .collect_into(out);
    env.execute("rolling-sum");
    auto xs = out->values();
    CAF_CHECK_EQUAL(xs.size(), input.size());
    // The last update per key is the total: it is the maximum, since
    // quantities are positive.
    std::map<std::string, int64_t> last;
    for (auto& t : xs)
      last[t.symbol] = std::max(last[t.symbol], t.qty);
    CAF_CHECK(last == totals);
  }
}

CAF_TEST(union and flat map) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<collected<std::string>>();
  auto a = env.from_collection(std::vector<std::string>{"a b", "c"});
  auto b = env.from_collection(std::vector<std::string>{"d e f"});
  a.union_with(b)
    .flat_map<std::string>([](const std::string& line,
                              collector<std::string>& col) {
      std::string word;
      for (char c : line + " ") {
        if (c == ' ') {
          if (!word.empty())
            col.collect(word);
          word.clear();
        } else {
          word += c;
        }
      }
    })
    .collect_into(out);
  env.execute();
  CAF_CHECK_EQUAL(sorted(out->values()),
                  (std::vector<std::string>{"a", "b", "c", "d", "e", "f"}));
}

CAF_TEST(a failing user function fails the job with its message) {
  stream_execution_environment env;
  env.set_parallelism(1);
  env.from_generator(1000, [](uint64_t i) { return static_cast<int>(i); })
    .map([](int x) {
      if (x == 500)
        throw std::runtime_error("bad record 500");
      return x;
    })
    .name("Validate")
    .collect_into(std::make_shared<collected<int>>());
  try {
    env.execute("failing");
    CAF_FAIL("execute() did not throw");
  } catch (const job_failed& e) {
    std::string what = e.what();
    CAF_CHECK(what.find("bad record 500") != std::string::npos);
    CAF_CHECK(what.find("Validate") != std::string::npos);
  }
}

CAF_TEST(misconfigured jobs fail before they start) {
  {
    stream_execution_environment env;
    env.from_elements({1, 2, 3}).map([](int x) { return x; }).set_parallelism(200);
    CAF_CHECK(test::throws<std::invalid_argument>([&] { env.execute(); }));
  }
  {
    stream_execution_environment env;
    env.from_elements({1, 2, 3}).map([](int x) { return x; });
    // No sink: the map's output goes nowhere.
    CAF_CHECK(test::throws<std::invalid_argument>([&] { env.execute(); }));
  }
  {
    stream_execution_environment env;
    auto s = env.from_elements({1, 2, 3});
    s.map([](int x) { return x; }).uid("same").print();
    s.map([](int x) { return x; }).uid("same").print();
    CAF_CHECK(test::throws<std::invalid_argument>([&] { env.execute(); }));
  }
}

CAF_TEST(an unbounded job can be cancelled) {
  stream_execution_environment env;
  env.set_parallelism(2);
  auto out = std::make_shared<collected<uint64_t>>();
  env.from_generator(0, [](uint64_t i) { return i; }, 10000)
    .collect_into(out);
  auto client = env.execute_async("unbounded");
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CAF_CHECK(client->status() == job_status::running);
  client->cancel();
  auto r = client->wait();
  CAF_CHECK(r.status == job_status::canceled);
}
