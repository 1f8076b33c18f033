#!/usr/bin/env bash
# Builds the end-to-end control plane into a stable binary directory:
#   sg-controlplane            etcd, kube-apiserver, kube-controller-manager and
#                              kube-scheduler (multi-call)
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler
#                              links to sg-controlplane
#   agent-sandbox-controller   the agent-sandbox controller manager
#   kubectl                    the same Kubernetes release's kubectl
#
# Output: ${SG_E2E_BIN:-$HOME/.cache/sandbox-guard/e2e/bin}
# SG_E2E_BUILD_JOBS: parallel compile jobs (default 2).
# Module and build caches stay at the Go defaults (GOMODCACHE, GOCACHE), so a
# second run only checks that nothing changed (a few seconds).
#
# The first (cold) run downloads the modules (~600 MB) and compiles Kubernetes:
# about 4 to 7 minutes on 2 cores and ~2.5 GB of build cache (docs/e2e.md).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

. "$here/go-env.sh"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
bin="${SG_E2E_BIN:-${HOME}/.cache/sandbox-guard/e2e/bin}"
jobs="${SG_E2E_BUILD_JOBS:-2}"
mkdir -p "$bin"

k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' go.mod)
sandbox_version=$(awk '$1=="sigs.k8s.io/agent-sandbox"{print $2; exit}' go.mod)
minor=${k8s_version#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
ldflags="-s -w -X ${vpkg}.gitVersion=${k8s_version} -X ${vpkg}.gitMajor=1 -X ${vpkg}.gitMinor=${minor}"
ldflags="${ldflags} -X ${vpkg}.gitTreeState=clean -X ${vpkg}.buildDate=1970-01-01T00:00:00Z"
ldflags="${ldflags} -X k8s.io/client-go/pkg/version.gitVersion=${k8s_version}"

start=$(date +%s)
echo "e2e build: modules (k8s.io/kubernetes ${k8s_version}, sigs.k8s.io/agent-sandbox ${sandbox_version})"
go mod download

# Sequential links: the kube-apiserver link alone takes a few GB of memory.
echo "e2e build: sg-controlplane"
go build -p "$jobs" -ldflags "$ldflags" -o "$bin/sg-controlplane" ./cmd/sg-controlplane
for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
  ln -sfn sg-controlplane "$bin/$c"
done

echo "e2e build: agent-sandbox-controller"
go build -p "$jobs" -ldflags "-s -w" -o "$bin/agent-sandbox-controller" \
  sigs.k8s.io/agent-sandbox/cmd/agent-sandbox-controller

# kubectl of the same release: the scenarios drive the API server through
# it as users do, and a machine's own kubectl may be missing or far older.
echo "e2e build: kubectl"
go build -p "$jobs" -ldflags "$ldflags" -o "$bin/kubectl" k8s.io/kubernetes/cmd/kubectl

echo "e2e build: done in $(( $(date +%s) - start ))s -> $bin"
