// word_count's job: parsing its arguments and defining its pipeline, shared
// by the executable (main.cpp) and the loadable module (module.cpp).
//
// word_count: the classic streaming word count.
//
//   word_count                            counts the built-in text
//   word_count --input book.txt           final count per word
//   word_count --socket localhost:9999    rolling counts from a TCP server
//   word_count --input book.txt --window-ms 1000
//                                         counts per 1 s processing-time window
//
// Run with --help for every flag and what is printed in each mode.

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/program_options.hpp>

#include "libstream/app.hpp"
#include "libstream/host_port.hpp"
#include "libstream/libstream.hpp"
#include "common/options.hpp"
#include "wordcount/word_count_job.hpp"

namespace po = boost::program_options;
using namespace libstream;

namespace {

/// The text counted when neither --input nor --socket is given.
const std::vector<std::string> builtin_text = {
    "To be, or not to be,--that is the question:--",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune",
    "Or to take arms against a sea of troubles,",
    "And by opposing end them?--To die,--to sleep,--",
    "No more; and by a sleep to say we end",
    "The heartache, and the thousand natural shocks",
    "That flesh is heir to,--'tis a consummation",
    "Devoutly to be wish'd. To die,--to sleep;--",
    "To sleep! perchance to dream:--ay, there's the rub;",
    "For in that sleep of death what dreams may come,",
    "When we have shuffled off this mortal coil,",
    "Must give us pause: there's the respect",
    "That makes calamity of so long life;",
};

struct word_count {
  std::string word;
  int64_t count = 0;
};

} // namespace

/// Rolling counts are keyed state: checkpointed with this codec.
template <>
struct libstream::codec<word_count> {
  static void encode(const word_count& w, byte_writer& out) {
    codec<std::string>::encode(w.word, out);
    codec<int64_t>::encode(w.count, out);
  }
  static word_count decode(byte_reader& in) {
    word_count w;
    w.word = codec<std::string>::decode(in);
    w.count = codec<int64_t>::decode(in);
    return w;
  }
};

namespace {

/// Splits a line into lowercase words. A word is a run of ASCII letters and
/// digits; bytes of 0x80 and above (UTF-8 sequences) also belong to words,
/// so non-ASCII words stay whole (only ASCII is lowercased). Everything
/// else separates words, and so does U+FEFF (a byte order mark, also where
/// files were concatenated or in socket input), which is no letter.
void split_words(std::string_view line, collector<word_count>& out) {
  std::string word;
  auto emit = [&] {
    if (!word.empty()) {
      out.collect(word_count{std::move(word), 1});
      word.clear();
    }
  };
  for (size_t i = 0; i < line.size(); ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    if (c == 0xEF && line.compare(i, 3, "\xEF\xBB\xBF") == 0) {
      emit();
      i += 2;
    } else if (std::isalnum(c) != 0 || c >= 0x80) {
      word += static_cast<char>(c < 0x80 ? std::tolower(c) : c);
    } else {
      emit();
    }
  }
  emit();
}

std::string to_line(const word_count& w) {
  return w.word + "," + std::to_string(w.count);
}

/// Keeps the latest count of every word and emits "word,count" lines,
/// sorted by word, when the input ends. Runs with parallelism 1. The counts
/// are checkpointed as function state, so a restored job ends with the
/// same lines.
class final_counts final : public process_function<word_count, std::string> {
public:
  void process_element(const word_count& w, context&,
                       collector<std::string>&) override {
    // The rolling count of a word only grows; the largest is the latest.
    auto& c = counts_[w.word];
    c = std::max(c, w.count);
  }

  void end_input(collector<std::string>& out) override {
    for (auto& [word, count] : counts_)
      out.collect(word + "," + std::to_string(count));
  }

  void initialize_state(operator_state_store& store) override {
    saved_ = &store.get_list_state<std::pair<std::string, int64_t>>("counts");
    for (auto& [word, count] : saved_->get())
      counts_[word] = std::max(counts_[word], count);
  }

  void snapshot_state(uint64_t) override {
    saved_->update({counts_.begin(), counts_.end()});
  }

private:
  std::map<std::string, int64_t> counts_;
  operator_list_state<std::pair<std::string, int64_t>>* saved_ = nullptr;
};

/// Counts the words of one processing-time window.
struct count_words : aggregate_function<word_count, int64_t, int64_t> {
  int64_t create_accumulator() const { return 0; }
  void add(const word_count& w, int64_t& acc) const { acc += w.count; }
  int64_t get_result(const int64_t& acc) const { return acc; }
  void merge(int64_t& into, const int64_t& from) const { into += from; }
};

/// "window_start_ms,window_end_ms,word,count" for one word in one window.
class window_row final
    : public process_window_function<std::string, int64_t, std::string,
                                     time_window> {
public:
  void process(const std::string& word, const context& ctx,
               const std::vector<int64_t>& counts,
               collector<std::string>& out) override {
    for (auto n : counts)
      out.collect(std::to_string(ctx.window().start) + ","
                  + std::to_string(ctx.window().end) + "," + word + ","
                  + std::to_string(n));
  }
};

/// Writes `rows` to --output (a part-file directory with checkpoints, else
/// a file that appears when the job has finished) or stdout.
void write_rows(data_stream<std::string> rows, const wordcount::options& o,
                const std::string& header) {
  auto same = [](const std::string& s) { return s; };
  if (!o.output)
    rows.print().set_parallelism(1);
  else if (o.ft.checkpointed())
    rows.sink_to_files(*o.output, same, header)
        .set_parallelism(1)
        .name("File Output")
        .uid("file-output");
  else
    rows.write_as_text(*o.output, same)
        .set_parallelism(1)
        .name("File Output");
}

} // namespace

namespace wordcount {

options parse_args(const std::vector<std::string>& args) {
  po::options_description desc{
      "word_count: counts the words of a text (lowercased; a word is a run of "
      "letters and digits).\n\n"
      "Output, one line per record:\n"
      "  without --window-ms, bounded input (--input or the built-in text):\n"
      "    'word,count' once per word with its final count, sorted by word,\n"
      "    when the input ends\n"
      "  without --window-ms, --socket: 'word,count' each time a word's\n"
      "    rolling count changes, until the server closes the connection\n"
      "  with --window-ms W: 'window_start_ms,window_end_ms,word,count' for\n"
      "    every word of each tumbling processing-time window of W ms, when\n"
      "    the window ends (at the end of the input, the open window fires)\n\n"
      "Options"};
  std::string input, socket, output;
  int parallelism = 0;
  int64_t window_ms = 0;
  desc.add_options()("help,h", "show this help")(
      "input", po::value(&input),
      "text file, or directory of text files, to count; read in parallel "
      "splits (default: a built-in text)")(
      "socket", po::value(&socket),
      "HOST:PORT of a TCP server sending lines (unbounded input; the job "
      "ends when the server closes the connection)")(
      "output", po::value(&output), "write the result here (default: stdout)")(
      "parallelism", po::value(&parallelism),
      "parallelism of the job's operators, 1..128 (default: the number of "
      "cores)")(
      "window-ms", po::value(&window_ms),
      "count per tumbling processing-time window of this many milliseconds")(
      "config", po::value<std::string>(),
      "INI file with any of these options (key = value); the command line "
      "wins");
  options o;
  o.ft.add_options(desc);
  po::variables_map vm;
  try {
    vm = apps::parse_options(args, desc);
    o.ft.read(vm);
    if (vm.count("help")) {
      std::ostringstream text;
      text << desc;
      throw app_usage_error(text.str(), true);
    }
    if (vm.count("input") && vm.count("socket"))
      throw std::invalid_argument("--input and --socket exclude each other");
    if (vm.count("input")) {
      if (input.empty())
        throw std::invalid_argument("--input needs a file name");
      o.input = input;
    }
    if (vm.count("socket"))
      o.socket = parse_host_port(socket, "--socket");
    if (vm.count("output")) {
      if (output.empty())
        throw std::invalid_argument("--output needs a file name");
      o.output = output;
    }
    if (vm.count("parallelism")) {
      if (parallelism < 1 || parallelism > default_max_parallelism)
        throw std::invalid_argument("--parallelism must be between 1 and "
                                    + std::to_string(default_max_parallelism)
                                    + ", got " + std::to_string(parallelism));
      o.parallelism = parallelism;
    }
    if (vm.count("window-ms")) {
      if (window_ms <= 0)
        throw std::invalid_argument("--window-ms must be positive, got "
                                    + std::to_string(window_ms));
      o.window_ms = window_ms;
    }
  } catch (const po::error& e) {
    throw app_usage_error(std::string{e.what()} + " (see --help)");
  } catch (const app_usage_error&) {
    throw;
  } catch (const std::invalid_argument& e) {
    throw app_usage_error(std::string{e.what()} + " (see --help)");
  }
  return o;
}

void define_job(stream_execution_environment& env, const options& o) {
  o.ft.validate();
  if (o.parallelism)
    env.set_parallelism(*o.parallelism);
  o.ft.apply(env.config());
  std::optional<data_stream<std::string>> lines;
  if (o.input) {
    // Parallel splits of the file (or the files of a directory).
    file_source_options files;
    files.paths.push_back(*o.input);
    files.rate = o.ft.rate;
    lines = env.read_files(files, text_lines_format{}, std::nullopt,
                           "Text File " + *o.input);
    lines->uid("text-file");
  }
  else if (o.socket)
    lines = env.socket_text_stream(o.socket->host, o.socket->port);
  else
    lines = env.from_collection(builtin_text, "Built-in Text");
  auto words = lines
                   ->flat_map<word_count>(
                       [](const std::string& line, collector<word_count>& out) {
                         split_words(line, out);
                       },
                       "Split Words")
                   .key_by([](const word_count& w) -> const std::string& {
                     return w.word;
                   });
  if (o.window_ms) {
    auto rows
        = words.window(tumbling_processing_time_windows::of(*o.window_ms))
              .aggregate(
                  count_words{}, [] { return std::make_unique<window_row>(); },
                  "Window Count")
              .uid("window-count");
    write_rows(rows, o, "window_start_ms,window_end_ms,word,count");
  } else {
    auto counts = words.sum(&word_count::count).uid("rolling-count");
    if (o.socket) {
      // Unbounded: every update of a count, as it happens.
      write_rows(counts.map(to_line, "Format"), o, "word,count");
    } else {
      auto finals = counts
                        .process<std::string>(
                            [] { return std::make_unique<final_counts>(); },
                            "Final Counts")
                        .uid("final-counts")
                        .set_parallelism(1);
      write_rows(finals, o, "word,count");
    }
  }
}

void define_app(stream_execution_environment& env,
                const std::vector<std::string>& args) {
  define_job(env, parse_args(args));
}

} // namespace wordcount
