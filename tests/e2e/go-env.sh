# Sourced by run.sh and build.sh: puts a Go toolchain new enough for go.mod
# first on PATH, installing one when the machine has none or an older one.
#
#   1. `go` on PATH, or the usual place of an official install
#      (/usr/local/go/bin), if it is at least go.mod's `go` version: used as is.
#   2. Otherwise Debian's Go (apt-get golang-go) when there is no Go at all,
#      and with it the toolchain module golang.org/toolchain of the version
#      below, fetched from the Go module proxy as Go's own toolchain switching
#      does (Debian 12's Go 1.19 predates GOTOOLCHAIN, so the module is
#      fetched and unpacked here rather than by `go` itself). It is kept in
#      ${XDG_CACHE_HOME:-$HOME/.cache}/sandbox-guard/go/ for later runs.
#
# Environment: SG_GO_TOOLCHAIN (default go1.26.8) names the toolchain to fetch.

sg_go_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sg_go_need="go$(awk '$1=="go"{print $2; exit}' "$sg_go_here/go.mod")"
SG_GO_TOOLCHAIN="${SG_GO_TOOLCHAIN:-go1.26.8}"

# True if the Go at $1 is at least $sg_go_need ("go1.26.0" style versions).
sg_go_new_enough() {
  local have
  have=$("$1" env GOVERSION 2>/dev/null) || return 1
  have=${have%%[ -]*}
  [ "$(printf '%s\n%s\n' "$sg_go_need" "$have" | sort -V | head -n 1)" = "$sg_go_need" ]
}

sg_go_fetch_toolchain() {
  local base="${XDG_CACHE_HOME:-$HOME/.cache}/sandbox-guard/go" arch dir tmp
  local dest="$base/$SG_GO_TOOLCHAIN"
  if [ -x "$dest/bin/go" ] && sg_go_new_enough "$dest/bin/go"; then
    export PATH="$dest/bin:$PATH"
    return 0
  fi
  if ! command -v go >/dev/null; then
    echo "go-env: no Go on this machine; installing Debian's golang-go to fetch $SG_GO_TOOLCHAIN" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      golang-go ca-certificates >/dev/null
  fi
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) echo "go-env: no Go toolchain module for $(uname -m)" >&2; return 1 ;;
  esac
  echo "go-env: $(go env GOVERSION 2>/dev/null || echo 'this Go') is older than $sg_go_need;" \
    "fetching golang.org/toolchain $SG_GO_TOOLCHAIN from the module proxy" >&2
  tmp=$(mktemp -d)
  dir=$(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod GO111MODULE=on \
    go mod download -json "golang.org/toolchain@v0.0.1-$SG_GO_TOOLCHAIN.linux-$arch" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  rmdir "$tmp"
  if [ -z "$dir" ] || [ ! -f "$dir/bin/go" ]; then
    echo "go-env: could not fetch golang.org/toolchain $SG_GO_TOOLCHAIN" >&2
    return 1
  fi
  # Module zips carry no file modes: the executables get theirs back here,
  # in a private copy (the module cache is read-only).
  mkdir -p "$base"
  rm -rf "$dest.tmp"
  cp -R "$dir" "$dest.tmp"
  chmod -R u+w "$dest.tmp"
  find "$dest.tmp/bin" "$dest.tmp/pkg/tool" -type f -exec chmod +x {} +
  rm -rf "$dest"
  mv "$dest.tmp" "$dest"
  export PATH="$dest/bin:$PATH"
  sg_go_new_enough "$dest/bin/go"
}

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
if ! command -v go >/dev/null || ! sg_go_new_enough "$(command -v go)"; then
  sg_go_fetch_toolchain || {
    echo "go-env: no Go $sg_go_need or newer could be set up; skip the end-to-end suite" \
      "with SG_E2E=0 tests/run.sh" >&2
    exit 1
  }
fi
