#!/usr/bin/env bash
# Benchmark: sandbox-guard-webhook against an nginx static-response TLS
# server (the ceiling), side by side in one run.
#
#   tests/bench/webhook-bench.sh [seconds per run, default 10]
#
# Both servers get the same ~3 KB sandbox-pod AdmissionReview
# (tests/bench/pod-review-3k.json) over TLS 1.3 keep-alive connections from
# wrk, at 1, 8 and 64 connections. The webhook runs with its defaults
# (info-level log line per review, written to a file); nginx answers with
# a fixed body of the same size as the webhook's answer. Each runs on one
# core (the webhook is one event loop; nginx gets worker_processes 1) and
# wrk gets one thread, so on a 2-core machine each side has a core.
# Prints Markdown tables: a review's in-process cost
# (tests/bench/review_bench.c, against cJSON's parser in the same run),
# then throughput, p50/p99 latency, the ratio to nginx, and the webhook's
# peak RSS (VmHWM). Installs wrk and nginx if missing.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
secs=${1:-10}
build=${SG_BUILD_DIR:-$root/build}

tests/install-deps.sh bench >/dev/null
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build" sandbox-guard-webhook review-bench >/dev/null

. tests/bench/lib.sh

certs/gen-dev-certs.sh --out "$work/certs" >/dev/null
body="$root/tests/bench/pod-review-3k.json"
export SG_BENCH_BODY="$body"

wh_port=$(free_port)
wh_health=$(free_port)
ng_port=$(free_port)

"${on_server_cpu[@]}" "$build/bin/sandbox-guard-webhook" --listen="127.0.0.1:$wh_port" \
  --health-listen="127.0.0.1:$wh_health" --tls-cert="$work/certs/tls.crt" \
  --tls-key="$work/certs/tls.key" 2>"$work/webhook.log" &
wh_pid=$!
pids+=("$wh_pid")

# nginx answers what the webhook answers to this review, byte for byte.
for _ in $(seq 50); do
  curl -sf --cacert "$work/certs/ca.crt" "https://127.0.0.1:$wh_port/mutate" \
    -H 'Content-Type: application/json' --data-binary @"$body" -o "$work/answer.json" && break
  sleep 0.1
done
[ -s "$work/answer.json" ] || { echo "webhook did not answer" >&2; cat "$work/webhook.log" >&2; exit 1; }
pids+=("$(start_nginx "$work/nginx" "$ng_port" "$(cat "$work/answer.json")" "$work/certs/tls.crt" "$work/certs/tls.key")")
wait_http "https://127.0.0.1:$ng_port/mutate"

run() { wrk_run "$1" "$body" "$2" "$secs"; }

# Warm both up (TLS session caches, page faults).
wrk -t1 -c8 -d2s -s tests/bench/post.lua "https://127.0.0.1:$wh_port/mutate" >/dev/null
wrk -t1 -c8 -d2s -s tests/bench/post.lua "https://127.0.0.1:$ng_port/mutate" >/dev/null

# In process first: what a review costs without TLS and HTTP.
"$build/bench/review-bench"
echo

printf '| connections | webhook req/s | nginx req/s | webhook/nginx | webhook p50 ms | webhook p99 ms | nginx p50 ms | nginx p99 ms |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for c in 1 8 64; do
  read -r ng_rps ng_p50 ng_p99 < <(run "https://127.0.0.1:$ng_port/mutate" "$c")
  read -r wh_rps wh_p50 wh_p99 < <(run "https://127.0.0.1:$wh_port/mutate" "$c")
  ratio=$(awk -v a="$wh_rps" -v b="$ng_rps" 'BEGIN { printf "%.2f", a / b }')
  printf '| %d | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$wh_rps" "$ng_rps" "$ratio" \
    "$wh_p50" "$wh_p99" "$ng_p50" "$ng_p99"
done
rss=$(awk '/VmHWM/ { print $2 }' "/proc/$wh_pid/status")
printf '\nwebhook peak RSS (VmHWM): %.1f MiB; request body %d bytes, answer %d bytes; %ss per run; %s\n' \
  "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" "$(wc -c <"$body")" "$(wc -c <"$work/answer.json")" \
  "$secs" "$(nproc) cores"
