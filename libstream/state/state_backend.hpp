#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace libstream {

/// Where keyed state lives (Flink's state backends).
enum class state_backend_kind {
  /// Objects on the heap of the subtask: fastest, bounded by memory.
  memory,
  /// A LevelDB database per keyed operator subtask on local disk: state
  /// larger than memory, a bounded write-back cache of recently used
  /// entries in front (see keyed_table).
  leveldb,
};

/// The state backend of a job (config key state.backend, flags
/// --state-backend and --state-dir).
struct state_backend_config {
  state_backend_kind kind = state_backend_kind::memory;
  /// The local state directory: LevelDB databases go to
  /// <dir>/libstream-<job>/<operator uid>-<subtask>-a<attempt>/. Empty =
  /// $TMPDIR, or /tmp.
  std::string dir;
  /// LevelDB: entries of each keyed operator subtask kept in memory (read
  /// once, changed in place, written back together) before they are
  /// written back to the database.
  size_t cache_entries = 65536;
};

/// The local state directory of `cfg`: its dir, else $TMPDIR, else /tmp.
std::string local_state_root(const state_backend_config& cfg);

inline std::optional<state_backend_kind>
parse_state_backend(std::string_view name) {
  if (name == "memory" || name == "hashmap" || name == "heap")
    return state_backend_kind::memory;
  if (name == "leveldb")
    return state_backend_kind::leveldb;
  return std::nullopt;
}

inline const char* to_string(state_backend_kind k) {
  return k == state_backend_kind::leveldb ? "leveldb" : "memory";
}

} // namespace libstream
