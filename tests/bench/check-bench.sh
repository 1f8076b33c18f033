#!/usr/bin/env bash
# How fast `sandbox-guard-webhook check` is on a realistic template set:
# objects per second, against two references measured in the same run on
# the same files:
#   - parsing the files with Python's yaml.safe_load_all (the C loader when
#     PyYAML has it), what a Python pre-commit hook would spend only to read
#     them;
#   - the review loop alone: review-bench's in-process /mutate cost per
#     review (tests/bench/review_bench.c), the floor for two reviews per object.
#
#   tests/bench/check-bench.sh [copies of the set, default 200] [rounds, default 3]
#
# The set: the object of every CREATE review fixture (tests/fixtures/reviews,
# pods, Sandboxes, SandboxTemplates, SandboxClaims and NetworkPolicies, real
# shapes with managedFields and all) and the manifests of
# tests/fixtures/check, written as YAML files of 25 objects, repeated.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
copies=${1:-200}
rounds=${2:-3}
build=${SG_BUILD_DIR:-$root/build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

tests/install-deps.sh build >/dev/null
cmake -S "$root" -B "$build" -G Ninja >/dev/null
ninja -C "$build" sandbox-guard-webhook review-bench >/dev/null
python3 -c 'import yaml' 2>/dev/null || { echo "check-bench: needs python3-yaml" >&2; exit 2; }

python3 - "$work/set" "$copies" <<'PY'
import glob, json, os, sys, yaml
out, copies = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
objs = []
for f in sorted(glob.glob("tests/fixtures/reviews/*.json")):
    if f.endswith("cases.json"):
        continue
    req = json.load(open(f)).get("request", {})
    if req.get("operation") == "CREATE" and req.get("object") and not req.get("subResource"):
        o = req["object"]
        o.setdefault("metadata", {}).setdefault("namespace", req.get("namespace") or "default")
        objs.append(o)
for f in sorted(glob.glob("tests/fixtures/check/*.yaml")):
    objs.extend(d for d in yaml.safe_load_all(open(f)) if d)
objs = objs * copies
for i in range(0, len(objs), 25):
    with open(os.path.join(out, "m%05d.yaml" % (i // 25)), "w") as fh:
        yaml.safe_dump_all(objs[i:i + 25], fh, sort_keys=False)
print(len(objs))
PY
n=$(python3 -c 'import glob,sys,yaml; print(sum(1 for f in glob.glob(sys.argv[1]+"/*.yaml") for d in yaml.safe_load_all(open(f)) if d))' "$work/set")
bytes=$(cat "$work"/set/*.yaml | wc -c)

pin=()
if [ "$(nproc)" -gt 1 ] && command -v taskset >/dev/null; then pin=(taskset -c 1); fi
now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

check_s=() py_s=()
for r in $(seq "$rounds"); do
  t0=$(now)
  rc=0
  "${pin[@]}" "$build/bin/sandbox-guard-webhook" check -o json "$work/set" >"$work/out.json" || rc=$?
  t1=$(now)
  [ "$rc" -le 1 ] || { echo "check-bench: check failed ($rc)" >&2; exit 1; }
  "${pin[@]}" python3 -c '
import glob, sys, yaml
L = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
n = sum(1 for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")) for d in yaml.load_all(open(f), Loader=L) if d)
' "$work/set"
  t2=$(now)
  check_s+=("$(echo "$t1 - $t0" | bc -l)")
  py_s+=("$(echo "$t2 - $t1" | bc -l)")
done
checked=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["summary"]; print(s["checked"], s["refused"], s["skipped"])' "$work/out.json")
c=$(printf '%s\n' "${check_s[@]}" | median)
p=$(printf '%s\n' "${py_s[@]}" | median)
mut=$("${pin[@]}" "$build/bench/review-bench" 100000 | awk -F'|' '/wh_admit, \/mutate/ {gsub(/ /, "", $3); print $3}')
loader=$(python3 -c 'import yaml; print("CSafeLoader" if hasattr(yaml, "CSafeLoader") else "SafeLoader (pure Python)")')

printf '%s objects (checked, refused, skipped: %s) in %s files, %s bytes; median of %s rounds\n' \
  "$n" "$checked" "$(ls "$work/set" | wc -l)" "$bytes" "$rounds"
printf '| what | seconds | objects/s | vs check |\n|---|---|---|---|\n'
printf '| sandbox-guard-webhook check -o json DIR | %.3f | %.0f | 1.00 |\n' "$c" "$(echo "$n / $c" | bc -l)"
printf '| python3 yaml.load_all, %s (parse only) | %.3f | %.0f | %.2f |\n' "$loader" "$p" "$(echo "$n / $p" | bc -l)" "$(echo "$p / $c" | bc -l)"
printf '| 2 x wh_admit /mutate of the 3 KB pod review (review-bench), per object | %.3f | %.0f | %.2f |\n' \
  "$(echo "$n * 2 * $mut / 1000000" | bc -l)" "$(echo "1000000 / (2 * $mut)" | bc -l)" "$(echo "$n * 2 * $mut / 1000000 / $c" | bc -l)"
