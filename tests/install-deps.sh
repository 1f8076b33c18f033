#!/usr/bin/env bash
# Installs what Sandbox Guard needs on Debian 12, skipping what is there.
#
#   tests/install-deps.sh build    compiler, CMake, OpenSSL, libevent, cJSON, libcurl, libyaml
#   tests/install-deps.sh test     build + Criterion, clang-format, clang with libFuzzer,
#                                  a Python venv with pytest and jsonpatch (at $SG_VENV)
#   tests/install-deps.sh bench    test + wrk and nginx (the benchmark's load and ceiling)
#
# Debian packages come from apt-get (run as root, or with sudo available);
# Python packages go into a virtual environment, never into the system
# Python. Prints the venv's python path last when asked for test or bench.
set -euo pipefail

what=${1:-build}
venv=${SG_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/sandbox-guard/venv}

build_pkgs=(build-essential cmake ninja-build pkg-config openssl libssl-dev libevent-dev
            libcjson-dev libcurl4-openssl-dev libyaml-dev)
test_pkgs=(libcriterion-dev clang-format python3 python3-venv clang libclang-rt-14-dev)
bench_pkgs=(wrk nginx-light)

pkgs=("${build_pkgs[@]}")
case "$what" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [ "$what" != build ]; then
  py=$(command -v python3)
  if [ ! -x "$venv/bin/python" ]; then
    echo "install-deps: creating Python venv at $venv" >&2
    mkdir -p "$(dirname "$venv")"
    "$py" -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c 'import pytest, jsonpatch' 2>/dev/null; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check \
      -r "$(dirname "$0")/requirements.txt" >&2
  fi
  echo "$venv/bin/python"
fi
