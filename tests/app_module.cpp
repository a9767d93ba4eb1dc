#define CAF_SUITE app_module
#include "caf/test/unit_test.hpp"

// Apps as loadable modules: loading, refusing what is not an app, and
// rebuilding the same job graph (by fingerprint) from the same arguments.

#include <cstdio>
#include <fstream>
#include <string>

#include <unistd.h>

#include "libstream/app.hpp"
#include "test_util.hpp"

using namespace libstream;
using libstream::test::contains;
using libstream::test::message_of;

namespace {

std::string fingerprint_of(const std::string& module, const app_args& args,
                           app_overrides ov = {}) {
  auto m = app_module::load(module);
  return plan_fingerprint(build_app_graph(m.info().define, args, ov));
}

} // namespace

CAF_TEST(a module exports its app with name and entry point) {
  auto m = app_module::load(STOCK_MODULE);
  CAF_CHECK_EQUAL(std::string{m.info().name}, "stock_aggregator");
  CAF_CHECK_EQUAL(m.info().abi, app_abi_version);
  auto w = app_module::load(WORD_COUNT_MODULE);
  CAF_CHECK_EQUAL(std::string{w.info().name}, "word_count");
}

CAF_TEST(the same arguments rebuild the same graph) {
  app_args args{"--parallelism", "3", "--records", "1000", "--quiet"};
  auto a = fingerprint_of(STOCK_MODULE, args);
  auto b = fingerprint_of(STOCK_MODULE, args);
  CAF_CHECK_EQUAL(a, b);
  CAF_CHECK_EQUAL(a.size(), 32u);
  // Another parallelism, another sink, another app: other graphs.
  CAF_CHECK_NOT_EQUAL(a, fingerprint_of(STOCK_MODULE,
                                        {"--parallelism", "2", "--records",
                                         "1000", "--quiet"}));
  CAF_CHECK_NOT_EQUAL(a, fingerprint_of(STOCK_MODULE, {"--parallelism", "3"}));
  CAF_CHECK_NOT_EQUAL(a, fingerprint_of(WORD_COUNT_MODULE, {}));
}

CAF_TEST(the submitter resolves the default parallelism once) {
  auto m = app_module::load(WORD_COUNT_MODULE);
  // word_count's default parallelism is the number of cores; an override
  // replaces it, and the plan carries the number.
  auto g = build_app_graph(m.info().define, {}, app_overrides{5, ""});
  CAF_CHECK_EQUAL(g.config().default_parallelism, 5);
  CAF_CHECK_EQUAL(g.max_vertex_parallelism(), 5);
  auto own = build_app_graph(m.info().define, {});
  CAF_CHECK_GREATER(own.config().default_parallelism, 0);
}

CAF_TEST(bad arguments and help are usage errors) {
  auto m = app_module::load(STOCK_MODULE);
  try {
    build_app_graph(m.info().define, {"--no-such-flag"});
    CAF_FAIL("no error");
  } catch (const app_usage_error& e) {
    CAF_CHECK(!e.help());
    CAF_CHECK(contains(e.what(), "no-such-flag"));
  }
  try {
    build_app_graph(m.info().define, {"--help"});
    CAF_FAIL("no error");
  } catch (const app_usage_error& e) {
    CAF_CHECK(e.help());
    CAF_CHECK(contains(e.what(), "--window-ms"));
  }
  CAF_CHECK(contains(message_of<std::invalid_argument>([&] {
                       build_app_graph(m.info().define, {"--window-ms", "0"});
                     }),
                     "--window-ms must be positive"));
}

CAF_TEST(what is not an app is refused naming the cause) {
  // A shared library without the entry point.
  auto no_entry = message_of<std::runtime_error>(
      [] { app_module::load(LIBSTREAM_LIBRARY); });
  CAF_CHECK(contains(no_entry, "is not a libstream app"));
  CAF_CHECK(contains(no_entry, app_entry_symbol));
  // Garbage bytes.
  auto path = std::string{"/tmp/app_module_garbage_"} + std::to_string(::getpid())
              + ".so";
  {
    std::ofstream out{path};
    out << "this is not an ELF file\n";
  }
  auto garbage = message_of<std::runtime_error>([&] { app_module::load(path); });
  std::remove(path.c_str());
  CAF_CHECK(contains(garbage, "cannot load app module '" + path + "'"));
  auto missing = message_of<std::runtime_error>(
      [] { app_module::load("/nonexistent/app.so"); });
  CAF_CHECK(contains(missing, "cannot load app module '/nonexistent/app.so'"));
}
