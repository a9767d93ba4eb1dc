#!/usr/bin/env bash
# Installs libstream from the build tree into a temporary prefix, then builds
# tests/external_app against it twice (CMake's find_package and pkg-config)
# and runs the result embedded, checking its output.
# Usage: installed_app.sh BUILD_DIR SOURCE_DIR [SANITIZERS]
# (a sanitized libstream needs the app built with the same sanitizers)
set -euo pipefail
build="$1"
src="$2"
flags=""
[ -n "${3:-}" ] && flags="-fsanitize=$3 -fno-sanitize-recover=all"
work="$(mktemp -d /tmp/installed_app.XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
prefix="$work/prefix"

cmake --install "$build" --prefix "$prefix" >/dev/null
for f in lib/libstream.so lib/libstream_runtime.so \
         bin/stream-coordinator bin/stream-node bin/streamctl \
         etc/libstream/coordinator.ini etc/libstream/node-1.ini \
         lib/cmake/libstream/libstreamConfig.cmake lib/pkgconfig/libstream.pc \
         include/libstream/libstream/libstream.hpp \
         include/libstream/libstream/app.hpp \
         include/libstream/actors/embedded.hpp; do
  [ -e "$prefix/$f" ] || { echo "FAIL: $f was not installed"; exit 1; }
done

expect() { # FILE: residues 0..6, 100 each, for --count 700
  local got
  got="$(sort "$1" | tr '\n' ' ')"
  [ "$got" = "0,100 1,100 2,100 3,100 4,100 5,100 6,100 " ] \
    || { echo "FAIL: $1 holds '$got'"; exit 1; }
}

# find_package(libstream)
cmake -S "$src/tests/external_app" -B "$work/b" -G Ninja \
      -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="$flags" >/dev/null
cmake --build "$work/b" >/dev/null
"$work/b/ticks" --count 700 --output "$work/cmake.csv"
expect "$work/cmake.csv"
[ -f "$work/b/ticks.so" ] || { echo "FAIL: no ticks.so module"; exit 1; }

# Bad arguments: a clear line and exit status 2.
set +e
err="$("$work/b/ticks" --bogus 2>&1)"
rc=$?
set -e
[ "$rc" -eq 2 ] && [[ "$err" == *"unknown argument '--bogus'"* ]] \
  || { echo "FAIL: --bogus gave $rc: $err"; exit 1; }

# pkg-config
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
g++ $flags $(pkg-config --cflags libstream) "$src/tests/external_app/main.cpp" \
    "$src/tests/external_app/ticks.cpp" -o "$work/ticks_pc" \
    $(pkg-config --libs libstream)
"$work/ticks_pc" --count 700 --output "$work/pc.csv"
expect "$work/pc.csv"
# Its module deployed with the installed daemons and streamctl.
"$prefix/bin/stream-coordinator" --port 0 >"$work/coord.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  grep -q "listening on" "$work/coord.out" && break
  sleep 0.1
done
address="$(sed -n 's/.*listening on \([0-9.]*:[0-9]*\).*/\1/p' "$work/coord.out")"
[ -n "$address" ] || { echo "FAIL: coordinator: $(cat "$work/coord.out")"; exit 1; }
"$prefix/bin/stream-node" --coordinator "$address" --slots 2 --name ext \
    --state-dir "$work/node" >"$work/node.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  grep -q "registered" "$work/node.out" && break
  sleep 0.1
done
"$prefix/bin/streamctl" --coordinator "$address" run --parallelism 2 \
    "$work/b/ticks.so" -- --count 700 --output "$work/cluster.csv"
expect "$work/cluster.csv"
echo "installed_app: ok"
