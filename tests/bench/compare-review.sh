#!/usr/bin/env bash
# A review's in-process cost, this tree against another revision, side by
# side in one run (alternating, on the same core), so that a change to the
# decision code is measured as a ratio rather than against old figures
# taken on another day.
#
#   tests/bench/compare-review.sh [REV, default HEAD~1] [rounds, default 3]
#
# Builds review-bench (tests/bench/review_bench.c) here and in a temporary
# worktree of REV, then runs each `rounds` times, alternating, pinned to
# CPU 1 when there is one. Prints each run's table and the median /mutate
# time of both with their ratio.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
rev=${1:-HEAD~1}
rounds=${2:-3}
body="$root/tests/bench/pod-review-3k.json"
work=$(mktemp -d)
trap 'git -C "$root" worktree remove --force "$work/ref" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

tests/install-deps.sh build >/dev/null
git -C "$root" worktree add -q --detach "$work/ref" "$rev"
for tree in "$root:$work/new" "$work/ref:$work/old"; do
  src=${tree%%:*}
  out=${tree#*:}
  cmake -S "$src" -B "$out" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$out" review-bench >/dev/null
done

pin=()
if [ "$(nproc)" -gt 1 ] && command -v taskset >/dev/null; then pin=(taskset -c 1); fi

mutate_us() { awk -F'|' '/wh_admit, \/mutate/ {gsub(/ /, "", $3); print $3}'; }
new=() old=()
for i in $(seq "$rounds"); do
  for side in old new; do
    out=$("${pin[@]}" "$work/$side/bench/review-bench" 200000 "$body")
    printf '\n%s (%s), round %d:\n%s\n' "$side" "$([ $side = new ] && echo this tree || echo "$rev")" "$i" "$out"
    v=$(printf '%s\n' "$out" | mutate_us)
    if [ "$side" = new ]; then new+=("$v"); else old+=("$v"); fi
  done
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mn=$(median "${new[@]}")
mo=$(median "${old[@]}")
printf '\n| /mutate, median of %d | us per review |\n|---|---|\n| %s | %s |\n| this tree | %s |\n| ratio (this tree / %s) | %s |\n' \
  "$rounds" "$rev" "$mo" "$mn" "$rev" "$(awk -v a="$mn" -v b="$mo" 'BEGIN {printf "%.2f", a / b}')"
