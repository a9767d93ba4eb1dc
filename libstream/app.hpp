#pragma once

// Applications as loadable modules.
//
// An application has one entry point: a function that defines its job in a
// stream_execution_environment from its command-line arguments (it parses
// them, sets the configuration, adds sources, transformations and sinks,
// and does not execute). The app's own executable calls it and executes the
// job embedded; built as a module (a shared library exporting the entry
// point with LIBSTREAM_APP), the same app is deployed to a cluster with
// `streamctl run app.so -- ARGS`: streamctl and every node that runs its
// subtasks call the entry point with the same arguments and must get the
// same job graph (checked with plan_fingerprint).

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "libstream/environment.hpp"
#include "libstream/job_graph.hpp"

namespace libstream {

/// The arguments an app gets, without the program name.
using app_args = std::vector<std::string>;

/// Thrown by an entry point for arguments it cannot use; the message says
/// which and why. (`--help` is one: the message is then the help text.)
class app_usage_error : public std::invalid_argument {
public:
  explicit app_usage_error(const std::string& what, bool help = false)
      : std::invalid_argument(what), help_(help) {}
  /// The app was asked for its help text, which is what().
  bool help() const noexcept { return help_; }

private:
  bool help_;
};

/// An app's entry point.
using app_define_fn = void (*)(stream_execution_environment& env,
                               const app_args& args);

/// Changes when app_info or the meaning of its fields changes: a module
/// built against another version is refused by name.
constexpr uint32_t app_abi_version = 1;

/// What a module exports (through LIBSTREAM_APP).
struct app_info {
  uint32_t abi = app_abi_version;
  const char* name = "";
  app_define_fn define = nullptr;
};

/// The symbol LIBSTREAM_APP defines in a module.
constexpr const char* app_entry_symbol = "libstream_app_info";

/// A module loaded with dlopen: stays loaded while the object (or a copy)
/// lives, since the operators of job graphs it built run its code.
class app_module {
public:
  /// Loads the shared library at `path` and checks that it is a libstream
  /// app of this ABI. Throws std::runtime_error naming the path and the
  /// cause (cannot load, no entry point, another ABI version).
  static app_module load(const std::string& path);

  const app_info& info() const noexcept { return *info_; }
  const std::string& path() const noexcept { return path_; }

  /// Keeps the module loaded while any copy lives: whatever runs its code
  /// (operators, checkpoint writers) holds one.
  std::shared_ptr<const void> keep_alive() const noexcept { return handle_; }

private:
  std::shared_ptr<void> handle_;
  const app_info* info_ = nullptr;
  std::string path_;
};

/// Overrides a submitter applies on top of what an app sets.
struct app_overrides {
  int parallelism = 0;          // default parallelism; 0 = the app's own
  std::string restore_from;     // start from this savepoint; "" = app's own
  std::string state_dir;        // local state (LevelDB) directory; "" = own
  /// The default parallelism when neither `parallelism` nor the app sets
  /// one (a cluster's configured default); 0 = the cores here.
  int fallback_parallelism = 0;
};

/// Calls `define` with `args` into a fresh environment, applies the
/// overrides, resolves the default parallelism (0 = the number of cores of
/// the machine this runs on: a submitter resolves it once and passes the
/// number on) and plans the job. Throws app_usage_error for bad arguments,
/// std::invalid_argument for a misconfigured job.
job_graph build_app_graph(app_define_fn define, const app_args& args,
                          const app_overrides& overrides = {});

/// Runs an app's executable: builds the job from argv (argv[0] is the
/// program name used in messages), executes it embedded and waits,
/// cancelling on SIGINT or SIGTERM. Returns the process exit status: 0 when
/// the job finished, 2 for bad arguments, 1 when it failed, 128 + signal
/// when cancelled. `--help` prints the help text and returns 0. For apps
/// without a main of their own.
int run_app_main(app_define_fn define, int argc, char** argv);

/// Runs the hooks a job's operators registered for its submission (a
/// bounded file source lists its input) in this process.
void run_submit_hooks(const job_graph& g);

/// A 128-bit content hash of `bytes` as 32 hex digits (module caches are
/// keyed by it; not a cryptographic digest).
std::string content_hash(std::string_view bytes);

/// A digest of what makes two builds of a job the same job: its vertices
/// (operator ids, names, uids, parallelism, max parallelism), edges
/// (partitioning, side outputs) and record types. A node compares the
/// graph it rebuilt with the coordinator's plan by it.
std::string plan_fingerprint(const job_graph& g);

} // namespace libstream

/// Exports `fn` (an app_define_fn) as the entry point of a module named
/// `name`. Once per module.
#define LIBSTREAM_APP(name, fn)                                                \
  extern "C" __attribute__((visibility("default"))) const ::libstream::app_info* \
  libstream_app_info() {                                                       \
    static const ::libstream::app_info info{::libstream::app_abi_version,      \
                                            name, fn};                         \
    return &info;                                                              \
  }
