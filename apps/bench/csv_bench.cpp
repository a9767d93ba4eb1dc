// stream-bench pipeline 7: the stock aggregation over a generated CSV file,
// the engine (the stock aggregator's own job) against a hand-written loop
// on the same file, and the file source alone against cat.

#include "bench/csv_bench.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libstream/libstream.hpp"
#include "stock/stock_job.hpp"
#include "stock/trade.hpp"

using namespace libstream;

namespace bench {

namespace {

// Sixty industries named as GICS names them (several longer than a short
// string holds), 5,000 symbols spread over them.
const char* const industry_names[] = {
    "Aerospace & Defense", "Air Freight & Logistics", "Automobile Components",
    "Automobiles", "Banks", "Beverages", "Biotechnology", "Broadline Retail",
    "Building Products", "Capital Markets", "Chemicals",
    "Commercial Services & Supplies", "Communications Equipment",
    "Construction & Engineering", "Construction Materials", "Consumer Finance",
    "Consumer Staples Distribution", "Containers & Packaging", "Distributors",
    "Diversified Consumer Services", "Diversified REITs",
    "Diversified Telecommunication Services", "Electric Utilities",
    "Electrical Equipment", "Electronic Equipment", "Energy Equipment",
    "Entertainment", "Financial Services", "Food Products", "Gas Utilities",
    "Ground Transportation", "Health Care Equipment", "Health Care Providers",
    "Health Care REITs", "Health Care Technology", "Hotel & Resort REITs",
    "Hotels & Restaurants", "Household Durables", "Household Products",
    "Independent Power Producers", "Industrial Conglomerates",
    "Industrial REITs", "Insurance", "Interactive Media & Services",
    "IT Services", "Leisure Products", "Life Sciences Tools", "Machinery",
    "Marine Transportation", "Media", "Metals & Mining", "Multi-Utilities",
    "Office REITs", "Oil & Gas", "Paper & Forest Products", "Passenger Airlines",
    "Personal Care Products", "Pharmaceuticals", "Professional Services",
    "Semiconductors",
};
constexpr size_t num_industries = sizeof(industry_names) / sizeof(char*);
constexpr size_t num_symbols = 5000;

std::string symbol_of(size_t s) {
  char buf[16];
  // Four or five letters, deterministic per symbol.
  auto h = mix64(s + 7);
  size_t n = 3 + h % 3;
  for (size_t i = 0; i < n; ++i)
    buf[i] = static_cast<char>('A' + (h >> (8 + 5 * i)) % 26);
  return std::string{buf, n} + std::to_string(s % 10);
}

struct acc {
  int64_t trades = 0;
  int64_t volume = 0;
  __extension__ __int128 price_nanos = 0;
};

/// The rows of a result CSV without its header, sorted (the engine writes
/// them in the order windows fire).
std::vector<std::string> sorted_rows(const std::string& path) {
  std::ifstream in{path};
  std::vector<std::string> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    rows.push_back(line);
  }
  std::sort(rows.begin(), rows.end());
  return rows;
}

bool parse_i64(std::string_view s, int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc{} && p == s.data() + s.size();
}

} // namespace

uint64_t write_trades_csv(const std::string& path, uint64_t lines) {
  std::vector<std::string> symbols;
  std::vector<size_t> industry_of;
  for (size_t s = 0; s < num_symbols; ++s) {
    symbols.push_back(symbol_of(s));
    industry_of.push_back(mix64(s) % num_industries);
  }
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr)
    throw std::runtime_error("cannot write " + path);
  std::fputs("timestamp_ms,symbol,industry,price,quantity\n", f);
  constexpr int64_t epoch = 1700000040000;
  char line[256];
  for (uint64_t i = 0; i < lines; ++i) {
    auto h = mix64(i * 0x9e3779b97f4a7c15ULL + 1);
    // 1,000 trades per second, up to 3 s out of order.
    auto ts = epoch + static_cast<int64_t>(i / 1000)
              - static_cast<int64_t>(h % 3000);
    auto s = (h >> 12) % num_symbols;
    auto cents = 100 + (h >> 28) % 99900;
    auto qty = 1 + (h >> 48) % 500;
    auto n = std::snprintf(line, sizeof(line), "%lld,%s,%s,%llu.%02llu,%llu\n",
                           static_cast<long long>(ts), symbols[s].c_str(),
                           industry_names[industry_of[s]],
                           static_cast<unsigned long long>(cents / 100),
                           static_cast<unsigned long long>(cents % 100),
                           static_cast<unsigned long long>(qty));
    std::fwrite(line, 1, static_cast<size_t>(n), f);
  }
  if (std::fclose(f) != 0)
    throw std::runtime_error("cannot write " + path);
  struct stat st {};
  ::stat(path.c_str(), &st);
  return static_cast<uint64_t>(st.st_size);
}

double loop_stock(const std::string& input, const std::string& output,
                  int64_t window_ms, uint64_t& records) {
  auto start = monotonic_now_ns();
  int fd = ::open(input.c_str(), O_RDONLY);
  struct stat st {};
  ::fstat(fd, &st);
  auto size = static_cast<size_t>(st.st_size);
  auto* base = static_cast<const char*>(
      ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0));
  const char* p = base;
  const char* e = base + size;
  p = static_cast<const char*>(std::memchr(p, '\n', size)) + 1;
  struct key_hash {
    size_t operator()(const std::pair<int64_t, std::string>& k) const {
      return std::hash<std::string>{}(k.second) ^ static_cast<size_t>(k.first);
    }
  };
  std::unordered_map<std::pair<int64_t, std::string>, acc, key_hash> windows;
  // One key object, assigned per line: no allocation per lookup.
  std::pair<int64_t, std::string> key;
  records = 0;
  while (p < e) {
    auto* nl = static_cast<const char*>(std::memchr(p, '\n', e - p));
    if (nl == nullptr)
      nl = e;
    std::string_view f[5];
    int k = 0;
    const char* s = p;
    for (const char* q = p; q <= nl && k < 5; ++q)
      if (q == nl || *q == ',') {
        f[k++] = std::string_view{s, static_cast<size_t>(q - s)};
        s = q + 1;
      }
    int64_t ts = 0;
    int64_t qty = 0;
    int64_t nanos = 0;
    if (k != 5 || !parse_i64(f[0], ts) || !parse_i64(f[4], qty)
        || !stock::parse_price_nanos(f[3], nanos))
      throw std::runtime_error("the loop cannot parse a line");
    auto ws = ts - ((ts % window_ms) + window_ms) % window_ms;
    key.first = ws;
    key.second.assign(f[2].data(), f[2].size());
    auto& a = windows[key];
    ++a.trades;
    a.volume += qty;
    a.price_nanos += nanos;
    ++records;
    p = nl + 1;
  }
  ::munmap(const_cast<char*>(base), size);
  ::close(fd);
  std::map<std::pair<int64_t, std::string>, acc> sorted(windows.begin(),
                                                       windows.end());
  std::FILE* out = std::fopen(output.c_str(), "w");
  std::fprintf(out, "%s\n", std::string{stock::output_header}.c_str());
  for (auto& [k, a] : sorted) {
    stock::industry_window row;
    row.window_start_ms = k.first;
    row.window_end_ms = k.first + window_ms;
    row.industry = k.second;
    row.trades = a.trades;
    row.volume = a.volume;
    row.avg_price = static_cast<double>(
        static_cast<long double>(a.price_nanos) / a.trades / 1e9L);
    std::fprintf(out, "%s\n", stock::to_csv(row).c_str());
  }
  std::fclose(out);
  return static_cast<double>(monotonic_now_ns() - start) / 1e9;
}

double engine_stock(const std::string& input, const std::string& output,
                    int parallelism, uint64_t& records) {
  stock::job_options o;
  o.input = input;
  o.output = output;
  o.parallelism = parallelism;
  auto start = monotonic_now_ns();
  auto s = stock::run(o);
  records = s.records;
  return static_cast<double>(monotonic_now_ns() - start) / 1e9;
}

double engine_source_only(const std::string& input, int parallelism,
                          uint64_t& records) {
  stream_execution_environment env;
  env.set_parallelism(parallelism);
  auto count = std::make_shared<std::atomic<uint64_t>>(0);
  file_source_options files;
  files.paths.push_back(input);
  env.read_files(files, stock::trade_format())
      .add_sink([count] {
        struct counting final : sink_function<stock::trade> {
          std::shared_ptr<std::atomic<uint64_t>> c;
          uint64_t n = 0;
          void invoke(const stock::trade&, timestamp) override { ++n; }
          void finish() override { *c += n; }
        };
        auto s = std::make_unique<counting>();
        s->c = count;
        return s;
      });
  auto start = monotonic_now_ns();
  env.execute("bench file source");
  records = count->load();
  return static_cast<double>(monotonic_now_ns() - start) / 1e9;
}

double cat_seconds(const std::string& input) {
  auto start = monotonic_now_ns();
  auto pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::execlp("cat", "cat", input.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return static_cast<double>(monotonic_now_ns() - start) / 1e9;
}

bool same_rows(const std::string& a, const std::string& b) {
  return sorted_rows(a) == sorted_rows(b);
}

} // namespace bench
