# Shared by the benchmark scripts (sourced, not run).
#
# Sourcing it makes $work, a scratch directory, and $pids, the processes to
# stop: both are cleaned up when the script exits.

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# With two or more cores, servers run on CPU 1 and the load generator on
# CPU 0, so each side has a core of its own and the scheduler cannot put
# them together for part of a run (SG_BENCH_PIN=0 turns this off).
on_server_cpu=()
on_client_cpu=()
if [ "${SG_BENCH_PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  on_server_cpu=(taskset -c 1)
  on_client_cpu=(taskset -c 0)
fi

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_nginx DIR PORT BODY [CERT KEY]: one nginx worker on 127.0.0.1:PORT
# answering every request with BODY (application/json), over TLS when a
# certificate is given. Prints its pid.
start_nginx() {
  local dir=$1 port=$2 body=$3 cert=${4:-} key=${5:-} ssl=""
  mkdir -p "$dir/logs"
  if [ -n "$cert" ]; then
    ssl="ssl;
    ssl_certificate $cert;
    ssl_certificate_key $key;
    ssl_protocols TLSv1.2 TLSv1.3"
  fi
  body=$(sed 's/\\/\\\\/g; s/'"'"'/\\'"'"'/g' <<<"$body")
  cat >"$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  client_max_body_size 64m;
  client_body_buffer_size 1m;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$port $ssl;
    location / { default_type application/json; return 200 '$body'; }
  }
}
CONF
  "${on_server_cpu[@]}" nginx -p "$dir" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/logs/stdout" 2>&1 &
  echo $!
}

# wrk_run URL BODY-FILE CONNECTIONS SECONDS -> "req/s p50_ms p99_ms"; fails on any non-200.
wrk_run() {
  local out
  out=$(SG_BENCH_BODY="$2" "${on_client_cpu[@]}" wrk -t1 -c"$3" -d"$4s" --latency -s "$(dirname "${BASH_SOURCE[0]}")/post.lua" "$1" 2>&1)
  if ! grep -q '^non200 0$' <<<"$out"; then
    echo "non-200 answers or wrk failure:" >&2
    echo "$out" >&2
    return 1
  fi
  awk 'function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
       /Requests\/sec/ { r = $2 } $1 == "50%" { a = ms($2) } $1 == "99%" { b = ms($2) }
       END { printf "%.0f %.3f %.3f\n", r, a, b }' <<<"$out"
}

# wait_http URL: until it answers (up to 10 s).
wait_http() {
  for _ in $(seq 100); do
    curl -sfk -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}
