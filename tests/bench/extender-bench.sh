#!/usr/bin/env bash
# Benchmark: sandbox-guard-extender at agent-sandbox's scale (500 pools x
# 400 replicas = 200,000 pods on 850 nodes).
#
#   tests/bench/extender-bench.sh [seconds per wrk run, default 10]
#
# 1. In process (build/bench/extender-bench): ingest rate, inventory memory,
#    decision latency for 500 / 5,000 names and a full NodeList of 500.
# 2. The daemon against a generated API server (tests/bench/fake_bulk_api.py):
#    time to the first complete list of 200,000 pods, RSS after it, and
#    watch events ingested per second (100,000 MODIFIED events).
# 3. Over HTTP with wrk (one connection: kube-scheduler calls the extender
#    for one pod at a time): prioritize and filter with 500 and 5,000 node
#    names, next to an nginx server answering the same requests with a
#    fixed body (the HTTP floor) in the same run.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
secs=${1:-10}
build=${SG_BUILD_DIR:-$root/build}
tests/install-deps.sh bench >/dev/null
cmake -S . -B "$build" -G Ninja >/dev/null
ninja -C "$build" sandbox-guard-extender extender-bench >/dev/null

echo "# sandbox-guard-extender benchmark ($(date -u +%Y-%m-%d), $(nproc) cores)"
echo
"$build/bench/extender-bench"
echo

. tests/bench/lib.sh

api_port=$(free_port)
python3 tests/bench/fake_bulk_api.py "$api_port" 500 400 850 100000 >"$work/api.out" 2>&1 &
pids+=("$!")
for _ in $(seq 600); do grep -q ready "$work/api.out" 2>/dev/null && break; sleep 0.1; done
cat >"$work/kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: bench
  cluster:
    server: http://127.0.0.1:$api_port
contexts:
- name: bench
  context:
    cluster: bench
    user: bench
current-context: bench
users:
- name: bench
  user:
    token: bench
KC
ex_port=$(free_port)
ex_health=$(free_port)
t0=$(date +%s.%N)
"$build/bin/sandbox-guard-extender" --kubeconfig="$work/kubeconfig" --listen="127.0.0.1:$ex_port" \
  --health-listen="127.0.0.1:$ex_health" --log-level=warn 2>"$work/extender.log" &
ex_pid=$!
pids+=("$ex_pid")
metric() {
  curl -s "http://127.0.0.1:$ex_health/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
until [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ex_health/readyz")" = 200 ]; do
  sleep 0.05
done
t1=$(date +%s.%N)
rss_sync=$(awk '/VmRSS/ { print $2 }' "/proc/$ex_pid/status")
# Events: the watch starts right after the list; from then to the 100,000th applied.
e0=$t1
until [ "$(metric sandbox_guard_inventory_events_total)" -ge 100000 ] 2>/dev/null; do sleep 0.01; done
e1=$(date +%s.%N)
rss_peak=$(awk '/VmHWM/ { print $2 }' "/proc/$ex_pid/status")
echo "## The daemon against a generated API server (200,000 pods, 850 nodes)"
echo
echo "| what | figure |"
echo "|---|---|"
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "| start to ready (first list of 200,000 pods in pages of 500, plus nodes) | %.1f s |\n", b - a }'
awk -v k="$rss_sync" 'BEGIN { printf "| RSS when ready | %.1f MiB |\n", k / 1024 }'
awk -v a="$e0" -v b="$e1" 'BEGIN { printf "| watch events ingested (100,000 over one stream, from ready) | %.0f /s (a lower bound: it includes opening the watch) |\n", 100000 / (b - a) }'
awk -v k="$rss_peak" 'BEGIN { printf "| peak RSS (VmHWM) | %.1f MiB |\n", k / 1024 }'
echo "| pods tracked | $(metric sandbox_guard_inventory_pods) |"
echo

# HTTP: bodies as kube-scheduler sends them, for a cold-start claim pod.
python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
def fnv(s):
    h = 2166136261
    for c in s.encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h
pod = {"metadata": {"name": "claim-1", "namespace": "team-7", "labels": {
    "agents.x-k8s.io/sandbox-name-hash": "01234567",
    "agents.x-k8s.io/sandbox-template-ref-hash": "%08x" % (fnv("pool-7") ^ 0x5a5a5a5a)}},
    "spec": {"runtimeClassName": "gvisor", "containers": [{"name": "runtime", "image": "x"}]}}
for n in (500, 5000):
    with open("%s/names-%d.json" % (work, n), "w") as f:
        json.dump({"Pod": pod, "Nodes": None,
                   "NodeNames": ["node-%04d" % (i % 10000) for i in range(n)]}, f)
PY
ng_port=$(free_port)
pids+=("$(start_nginx "$work/nginx" "$ng_port" "[]")")
wait_http "http://127.0.0.1:$ng_port/"
run() { wrk_run "$1" "$2" 1 "$secs"; }
echo "## Over HTTP (wrk, 1 connection, ${secs}s per run), with nginx answering [] as the floor"
echo
echo "| call | extender req/s | p50 ms | p99 ms | nginx req/s | nginx p99 ms | extender/nginx |"
echo "|---|---|---|---|---|---|---|"
for n in 500 5000; do
  for verb in prioritize filter; do
    read -r xr xa xb < <(run "http://127.0.0.1:$ex_port/$verb" "$work/names-$n.json")
    read -r nr na nb < <(run "http://127.0.0.1:$ng_port/$verb" "$work/names-$n.json")
    awk -v v="$verb" -v n="$n" -v xr="$xr" -v xa="$xa" -v xb="$xb" -v nr="$nr" -v nb="$nb" \
      'BEGIN { printf "| %s, %d names | %s | %s | %s | %s | %s | %.2f |\n", v, n, xr, xa, xb, nr, nb, xr / nr }'
  done
done
