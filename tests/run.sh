#!/usr/bin/env bash
# Runs every test Sandbox Guard has, installing what is missing first.
#
#   tests/run.sh
#
# In order: format check; a -Werror build with unit and integration tests;
# the same under AddressSanitizer + UndefinedBehaviorSanitizer (any report
# fails); the end-to-end suite against a real control plane built from the
# Go module proxy (tests/e2e/run.sh; the first build takes a while, later
# runs reuse the Go caches). Environment:
#   SG_E2E=0        skip the end-to-end suite
#   SG_SANITIZE=0   skip the sanitizer build
#   SG_BUILD_DIR    build directory (default build/); the sanitizer build
#                   goes to build-asan/
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${SG_BUILD_DIR:-$root/build}
asan=${SG_ASAN_BUILD_DIR:-$root/build-asan}

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
py=$(tests/install-deps.sh test | tail -n 1)

step "format (clang-format)"
mapfile -t sources < <(git ls-files '*.c' '*.h' 2>/dev/null || find common webhook scheduler-plugin tests -name '*.[ch]')
clang-format --dry-run --Werror "${sources[@]}"

run_suite() {
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -G Ninja -DSG_TESTS=ON -DSG_WERROR=ON -DPython3_EXECUTABLE="$py" "$@" >/dev/null
  ninja -C "$dir"
  (cd "$dir" && ctest --output-on-failure)
}

step "build and test ($build)"
run_suite "$build"

if [ "${SG_SANITIZE:-1}" != 0 ]; then
  step "build and test with sanitizers ($asan)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite "$asan" -DSG_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
fi

if [ "${SG_E2E:-1}" != 0 ]; then
  step "end-to-end against a real control plane"
  SG_BUILD_DIR="$build" SG_PYTHON="$py" tests/e2e/run.sh
fi

step "all tests passed"
