#!/usr/bin/env bash
# Builds sandbox-guard-webhook and runs it with development certificates
# and the built-in default policy, installing what is missing first.
#
#   webhook/run-dev.sh [extra webhook flags...]
#
# Listens on 127.0.0.1:8443 (HTTPS, /mutate and /validate) and
# 127.0.0.1:8080 (/healthz, /readyz, /metrics) unless LISTEN or
# HEALTH_LISTEN say otherwise. Certificates go to certs/dev/ (kept between
# runs). Stop it with Ctrl-C: it drains and exits 0.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
listen=${LISTEN:-127.0.0.1:8443}
health=${HEALTH_LISTEN:-127.0.0.1:8080}

tests/install-deps.sh build
cmake -S . -B build -G Ninja -DSG_TESTS=OFF >/dev/null
ninja -C build sandbox-guard-webhook >/dev/null
certs/gen-dev-certs.sh --out certs/dev

port=${listen##*:}
cat <<MSG

sandbox-guard-webhook: admission on https://$listen (/mutate, /validate),
health on http://$health (/healthz, /readyz, /metrics), built-in policy
(print it: build/bin/sandbox-guard-webhook --print-default-policy).

Send it a review from another terminal:
  curl --cacert certs/dev/ca.crt -H 'Content-Type: application/json' \\
       --data @tests/fixtures/reviews/pod-warm-create.json \\
       https://localhost:$port/mutate
  curl --cacert certs/dev/ca.crt -H 'Content-Type: application/json' \\
       --data @tests/fixtures/reviews/pod-runc-create.json \\
       https://localhost:$port/validate

MSG
exec build/bin/sandbox-guard-webhook --listen="$listen" --health-listen="$health" \
  --tls-cert=certs/dev/tls.crt --tls-key=certs/dev/tls.key "$@"
