#!/usr/bin/env bash
# Builds the Sandbox Guard container image without a container engine: both
# daemons, the shared libraries they load (as this Debian machine has them),
# an /etc/passwd with the nonroot user 65532, and nothing else (no shell, no
# package manager), written as an OCI image archive.
#
#   manifests/image/build.sh [--tag REF] [--out FILE] [--from BINDIR]
#
#   --tag   image reference (default ghcr.io/sandbox-guard/sandbox-guard:0.1.0,
#           the one manifests/ deploy)
#   --out   archive path (default build-image/sandbox-guard.oci.tar)
#   --from  take sandbox-guard-webhook and sandbox-guard-extender from BINDIR
#           instead of building them (a release build in build-image/)
#
# The archive is an OCI image layout in a tar file, reproducible (fixed
# timestamps and owners: the same binaries give the same digest). Load or
# push it with any OCI tool, for example:
#   ctr -n k8s.io images import build-image/sandbox-guard.oci.tar   (a node's containerd)
#   skopeo copy oci-archive:build-image/sandbox-guard.oci.tar docker://REGISTRY/sandbox-guard:0.1.0
#   podman load -i build-image/sandbox-guard.oci.tar
# Build it on the Debian release your nodes' image should carry (the
# libraries are copied from this machine; Debian 12 is the tested one).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
tag=ghcr.io/sandbox-guard/sandbox-guard:0.1.0
out=$root/build-image/sandbox-guard.oci.tar
from=

while [ $# -gt 0 ]; do
  case $1 in
    --tag) tag=${2:?--tag needs a value}; shift 2 ;;
    --out) out=${2:?--out needs a value}; shift 2 ;;
    --from) from=${2:?--from needs a value}; shift 2 ;;
    -h|--help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

command -v python3 >/dev/null || { echo "build.sh: python3 is needed to write the archive" >&2; exit 2; }

if [ -z "$from" ]; then
  "$root/tests/install-deps.sh" build >/dev/null
  cmake -S "$root" -B "$root/build-image/build" -G Ninja -DSG_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$root/build-image/build" sandbox-guard-webhook sandbox-guard-extender >/dev/null
  from=$root/build-image/build/bin
fi
bins=("$from/sandbox-guard-webhook" "$from/sandbox-guard-extender")
for b in "${bins[@]}"; do
  [ -x "$b" ] || { echo "build.sh: $b is missing or not executable" >&2; exit 2; }
done

rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
install -d -m 0755 "$rootfs/usr/local/bin" "$rootfs/etc" "$rootfs/usr/share/doc/sandbox-guard"
install -d -m 1777 "$rootfs/tmp"
for b in "${bins[@]}"; do
  install -m 0755 "$b" "$rootfs/usr/local/bin/"
done
install -m 0644 "$root/LICENSE" "$rootfs/usr/share/doc/sandbox-guard/LICENSE"

# Every library the daemons load, and the dynamic loader, at the paths ldd
# names here (the interpreter path recorded in the binaries and the
# loader's default search path then find them without LD_LIBRARY_PATH or a
# cache). With each, the copyright file of the Debian package it came from.
mapfile -t libs < <(ldd "${bins[@]}" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
for lib in "${libs[@]}"; do
  install -D -m 0644 "$(readlink -f "$lib")" "$rootfs$lib"
  # The loader must stay executable: the kernel runs it for every binary.
  case $lib in */ld-linux*) chmod 0755 "$rootfs$lib" ;; esac
  pkg=$( (dpkg -S "$lib" || dpkg -S "$(readlink -f "$lib")") 2>/dev/null | head -n 1 | cut -d: -f1) || true
  if [ -n "$pkg" ] &&
     [ -f "/usr/share/doc/$pkg/copyright" ]; then
    install -D -m 0644 "/usr/share/doc/$pkg/copyright" "$rootfs/usr/share/doc/$pkg/copyright"
  fi
done

printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"

mkdir -p "$(dirname "$out")"
python3 "$root/manifests/image/oci-archive.py" --rootfs "$rootfs" --tag "$tag" --out "$out" \
  --entrypoint /usr/local/bin/sandbox-guard-webhook --user 65532:65532 \
  --label "org.opencontainers.image.title=sandbox-guard" \
  --label "org.opencontainers.image.licenses=Apache-2.0" \
  --label "org.opencontainers.image.version=${tag##*:}"
echo "$out"
