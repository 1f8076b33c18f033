#!/usr/bin/env bash
# Runs every test Sandbox Guard has, installing what is missing first.
#
#   tests/run.sh
#
# In order: format check; a -Werror build with unit and integration tests;
# the same under AddressSanitizer + UndefinedBehaviorSanitizer (any report
# fails); a short run of each libFuzzer target, seeded with the review
# fixtures; a soak of both daemons at a steady rate (tests/soak/soak.py:
# zero errors, RSS and descriptors flat); the end-to-end suite against a
# real control plane built from the Go module proxy (tests/e2e/run.sh; the
# first build takes a while, later runs reuse the Go caches). Environment:
#   SG_E2E=0        skip the end-to-end suite
#   SG_SANITIZE=0   skip the sanitizer build
#   SG_FUZZ_SECONDS seconds per fuzz target (default 30; 0 skips them)
#   SG_SOAK_SECONDS seconds of soak, both daemons at once (default 120; 0 skips it)
#   SG_SOAK_RATE    requests per second to each daemon in the soak (default 50)
#   SG_BUILD_DIR    build directory (default build/)
#   SG_ASAN_BUILD_DIR, SG_FUZZ_BUILD_DIR
#                   the sanitizer and fuzz builds (default build-asan/, build-fuzz/)
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

if [ "${SG_FUZZ_SECONDS:-30}" != 0 ]; then
  step "fuzz targets (${SG_FUZZ_SECONDS:-30}s each)"
  fuzz=${SG_FUZZ_BUILD_DIR:-$root/build-fuzz}
  cmake -S "$root" -B "$fuzz" -G Ninja -DSG_FUZZ=ON -DSG_SANITIZE=ON -DSG_TESTS=OFF \
    -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug >/dev/null
  targets=(fuzz_json fuzz_admission fuzz_policy fuzz_extender fuzz_expolicy fuzz_yaml
           fuzz_quantity fuzz_kubeconfig fuzz_watch)
  ninja -C "$fuzz" "${targets[@]}"
  for t in "${targets[@]}"; do
    corpus=$(mktemp -d)
    case $t in
      fuzz_extender) cp tests/fuzz/seeds/extender/* "$corpus/" ;;
      fuzz_policy) cp tests/fuzz/seeds/policy/* tests/fixtures/check/policies/* "$corpus/" ;;
      fuzz_expolicy) cp tests/fuzz/seeds/expolicy/* "$corpus/" ;;
      fuzz_yaml) cp tests/fuzz/seeds/kubeconfig/* tests/fixtures/check/*.yaml "$corpus/" ;;
      fuzz_quantity) cp tests/fuzz/seeds/quantity/* "$corpus/" ;;
      fuzz_kubeconfig) cp tests/fuzz/seeds/kubeconfig/* "$corpus/" ;;
      fuzz_watch) cp tests/fuzz/seeds/watch/* "$corpus/" ;;
      *) cp tests/fixtures/reviews/*.json "$corpus/" ;;
    esac
    # Any crash, leak or sanitizer report makes libFuzzer exit non-zero.
    "$fuzz/tests/fuzz/$t" -max_total_time="${SG_FUZZ_SECONDS:-30}" -max_len=65536 \
      -rss_limit_mb=4096 -print_final_stats=1 "$corpus" 2>&1 | tail -n 3
    rm -rf "$corpus"
  done
fi

if [ "${SG_SOAK_SECONDS:-120}" != 0 ]; then
  # The optimised build, as deployed: the sanitizers' own allocations would
  # hide a leak's growth in RSS (LeakSanitizer covers leaks at exit above).
  step "soak (${SG_SOAK_SECONDS:-120}s, ${SG_SOAK_RATE:-50} requests/s to each daemon)"
  SG_BUILD_DIR="$build" "$py" tests/soak/soak.py --seconds "${SG_SOAK_SECONDS:-120}" \
    --rate "${SG_SOAK_RATE:-50}"
fi

if [ "${SG_E2E:-1}" != 0 ]; then
  step "end-to-end against a real control plane"
  SG_BUILD_DIR="$build" SG_PYTHON="$py" tests/e2e/run.sh
fi

step "all tests passed"
