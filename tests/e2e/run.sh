#!/usr/bin/env bash
# Builds the end-to-end control plane (build.sh) and runs the Go e2e suite.
# Exit code = the test result.
#
# Environment:
#   SG_BUILD_DIR   Sandbox Guard build directory holding bin/sandbox-guard-webhook
#                  and bin/sandbox-guard-extender (default: <repo>/build).
#                  Tests that need a missing daemon are skipped.
#   SG_E2E_BIN     where build.sh puts the control-plane binaries
#                  (default: $HOME/.cache/sandbox-guard/e2e/bin).
#   SG_E2E_KEEP=1  keep each run's directory (logs, kubeconfig) even on success;
#                  on failure it is always kept and its path printed.
#   SG_E2E_WORKDIR where run directories are created (default: system temp dir).
#   GOTEST_FLAGS   extra `go test` flags, e.g. "-v -run TestSmoke".
#   SG_E2E_BUILD_DAEMONS=0  do not (re)build the daemons in SG_BUILD_DIR.
#   SG_PYTHON      Python (>= 3.11) for TestPythonSDK's venv (default python3).
#   SG_E2E_BENCH=1 also print the figures (TestBench).
#   SG_E2E_CAPTURE=DIR  also capture AdmissionReview fixtures into DIR.
#   KUBECTL        kubectl for the scenarios (default: the one build.sh made).
#   SG_E2E_NODE_BIN  where node/build.sh puts the real node's binaries
#                  (default: $HOME/.cache/sandbox-guard/e2e/node-bin).
#   SG_E2E_REAL_NODE=0  do not build the real node (its tests then skip).
#   SG_E2E_RUNSC_PLATFORM  gVisor platform (default systrap; ptrace works too).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export SG_E2E_BIN="${SG_E2E_BIN:-${HOME}/.cache/sandbox-guard/e2e/bin}"
export SG_BUILD_DIR="${SG_BUILD_DIR:-$(cd "$here/../.." && pwd)/build}"

# A Go new enough for go.mod (installed or fetched when missing: go-env.sh).
. "$here/go-env.sh"
"$here/build.sh"

# The real node (TestRealNode*): runc, the CNI plugins, iptables, ipset,
# a static busybox and a C compiler from Debian when missing, then its
# binaries (node/build.sh). Only as root: elsewhere the real-node tests skip
# with one line naming what is missing. SG_E2E_REAL_NODE=0 skips the build.
if [ "${SG_E2E_REAL_NODE:-1}" != 0 ] && [ "$(id -u)" = 0 ]; then
  need=()
  command -v runc >/dev/null || need+=(runc)
  [ -x /usr/lib/cni/bridge ] && [ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/loopback ] || need+=(containernetworking-plugins)
  command -v iptables >/dev/null && command -v ip6tables >/dev/null || need+=(iptables)
  command -v ipset >/dev/null || need+=(ipset)
  dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need+=(busybox-static)
  command -v "${CC:-gcc}" >/dev/null || need+=(gcc libc6-dev)
  if [ ${#need[@]} -gt 0 ] && command -v apt-get >/dev/null; then
    echo "e2e: installing ${need[*]} from Debian for the real node"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null
  fi
  "$here/node/build.sh"
fi
# The scenarios' kubectl: the one built with the control plane.
export KUBECTL="${KUBECTL:-$SG_E2E_BIN/kubectl}"

# The Sandbox Guard daemons the scenarios run: bring them up to date (a stale
# binary would test old code). A missing build directory is configured the
# README's way; without cmake/ninja the scenario tests skip themselves.
if [ "${SG_E2E_BUILD_DAEMONS:-1}" != 0 ] && command -v ninja >/dev/null; then
  if [ ! -f "$SG_BUILD_DIR/build.ninja" ] && command -v cmake >/dev/null; then
    cmake -S "$here/../.." -B "$SG_BUILD_DIR" -G Ninja >/dev/null
  fi
  if [ -f "$SG_BUILD_DIR/build.ninja" ]; then
    ninja -C "$SG_BUILD_DIR" sandbox-guard-webhook sandbox-guard-extender >/dev/null
  fi
fi

cd "$here"
# shellcheck disable=SC2086
exec go test -count=1 -timeout 40m -p 1 ${GOTEST_FLAGS:-} ./...
