#!/usr/bin/env bash
# Builds the real node of the end-to-end suite into a stable directory:
#   kubelet                      k8s.io/kubernetes/cmd/kubelet (the harness's module, same release)
#   containerd, ctr, containerd-shim-runc-v2   github.com/containerd/containerd/v2 (node/containerd/go.mod)
#   runsc                        gvisor.dev/gvisor (node/gvisor/go.mod)
#   kube-router                  github.com/cloudnativelabs/kube-router/v2 (node/kube-router/go.mod)
#   sg-pause                     the pod sandbox ("pause") program, node/pause/pause.c
#   sg-dns                       a one-zone UDP DNS server for the kube-dns stand-in, node/dns/dns.c
#   images/*.tar                 OCI archives of the pause image and a busybox image
#
# Output: ${SG_E2E_NODE_BIN:-$HOME/.cache/sandbox-guard/e2e/node-bin}
# Every Go component is built from the Go module proxy at the version its
# go.mod pins (go.sum committed), each in its own module so that the
# dependency graphs of containerd and gVisor do not move the Kubernetes
# build's. runc and the CNI plugins come from Debian (see run.sh / node.go).
# SG_E2E_BUILD_JOBS: parallel compile jobs (default 2).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
e2e="$(cd "$here/.." && pwd)"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
bin="${SG_E2E_NODE_BIN:-${HOME}/.cache/sandbox-guard/e2e/node-bin}"
jobs="${SG_E2E_BUILD_JOBS:-2}"
mkdir -p "$bin"
start=$(date +%s)
step() { echo "e2e node build: $* ($(( $(date +%s) - start ))s)"; }

# kubelet from the harness's module: same k8s.io/kubernetes release and the
# same version stamp as the control plane (build.sh).
k8s_version=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$e2e/go.mod")
minor=${k8s_version#v1.}; minor=${minor%%.*}
vpkg=k8s.io/component-base/version
ldflags="-s -w -X ${vpkg}.gitVersion=${k8s_version} -X ${vpkg}.gitMajor=1 -X ${vpkg}.gitMinor=${minor}"
ldflags="${ldflags} -X ${vpkg}.gitTreeState=clean -X ${vpkg}.buildDate=1970-01-01T00:00:00Z"
step "kubelet ${k8s_version}"
(cd "$e2e" && go build -p "$jobs" -ldflags "$ldflags" -o "$bin/kubelet" k8s.io/kubernetes/cmd/kubelet)

# containerd: no btrfs (needs cgo), the rest as upstream's static build.
cd "$here/containerd"
cd_version=$(awk '$1=="github.com/containerd/containerd/v2"{print $2; exit}' go.mod)
step "containerd ${cd_version}"
cdflags="-s -w -X github.com/containerd/containerd/v2/version.Version=${cd_version}"
cdflags="${cdflags} -X github.com/containerd/containerd/v2/version.Revision=module-proxy"
for c in containerd containerd-shim-runc-v2 ctr; do
  go build -p "$jobs" -tags "no_btrfs urfave_cli_no_docs" -ldflags "$cdflags" \
    -o "$bin/$c" "github.com/containerd/containerd/v2/cmd/$c"
done

# gVisor: runsc. Not its containerd shim: containerd-shim-runsc-v1 sets its
# OOM score to -999, which needs CAP_SYS_RESOURCE, and root on the test
# machines lacks it; containerd's runc shim drives runsc instead (docs/e2e.md).
cd "$here/gvisor"
gv_version=$(awk '$1=="gvisor.dev/gvisor"{print $2; exit}' go.mod)
step "gVisor ${gv_version}"
go build -p "$jobs" -ldflags "-s -w -X gvisor.dev/gvisor/runsc/version.version=${gv_version}" \
  -o "$bin/runsc" gvisor.dev/gvisor/runsc

# The NetworkPolicy enforcer: kube-router's firewall (iptables + ipset).
# Not kube-network-policies: it queues packets with nftables' queue
# expression, and this kernel has no CONFIG_NFT_QUEUE (docs/e2e.md).
cd "$here/kube-router"
kr_version=$(awk '$1=="github.com/cloudnativelabs/kube-router/v2"{print $2; exit}' go.mod)
step "kube-router ${kr_version}"
go build -p "$jobs" -ldflags "-s -w -X github.com/cloudnativelabs/kube-router/v2/pkg/version.Version=${kr_version}" \
  -o "$bin/kube-router" github.com/cloudnativelabs/kube-router/v2/cmd/kube-router

# The pod sandbox program: static, so its image needs nothing else.
step "sg-pause"
cc="${CC:-gcc}"
"$cc" -static -O2 -Wall -Wextra -Werror -o "$bin/sg-pause.tmp" "$here/pause/pause.c"
mv -f "$bin/sg-pause.tmp" "$bin/sg-pause"
# The stand-in for cluster DNS (UDP, one zone), shipped in the busybox image.
step "sg-dns"
"$cc" -static -O2 -Wall -Wextra -Werror -o "$bin/sg-dns.tmp" "$here/dns/dns.c"
mv -f "$bin/sg-dns.tmp" "$bin/sg-dns"

step "done"
