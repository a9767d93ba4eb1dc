#!/usr/bin/env bash
# Builds libstream with sanitizers in a build directory of its own and runs
# the whole test suite there. Any report fails the run.
#   scripts/sanitize.sh            AddressSanitizer + UndefinedBehaviorSanitizer
#                                  in build-asan (what CI runs)
#   scripts/sanitize.sh thread     ThreadSanitizer in build-tsan (by hand only:
#                                  CAF itself is not instrumented, so its
#                                  hand-offs between threads, which TSan cannot
#                                  see, show up as reports; read them, do not
#                                  expect a clean run)
# Run scripts/setup.sh first on a fresh machine (it installs the packages).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kind="${1:-address}"
case "$kind" in
  address) sanitizers="address,undefined"; build="$here/build-asan" ;;
  thread)  sanitizers="thread";            build="$here/build-tsan" ;;
  *) echo "usage: $0 [address|thread]" >&2; exit 2 ;;
esac

export CCACHE_SLOPPINESS="pch_defines,time_macros,include_file_mtime,include_file_ctime"
export CCACHE_BASEDIR="$here" # cache hits across clones in other folders
export CCACHE_NOHASHDIR=1 # -g builds of another clone hit too
cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
  -DLIBSTREAM_SANITIZE="$sanitizers" >/dev/null
cmake --build "$build" -j "$(nproc)"

# Leaks are reported too; halt_on_error makes every report fatal.
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
export TSAN_OPTIONS="halt_on_error=0:second_deadlock_stack=1"
ctest --test-dir "$build" --output-on-failure -j 2 "${@:2}"
