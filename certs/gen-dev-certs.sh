#!/usr/bin/env bash
# Makes a development CA and an ECDSA P-256 serving certificate for
# sandbox-guard-webhook (and the extender), signed by that CA.
#
#   certs/gen-dev-certs.sh [--out DIR] [--service NAME] [--namespace NS]
#                          [--days N] [--force]
#
# The serving certificate carries the SANs the API server checks:
#   NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local, localhost,
#   127.0.0.1 and ::1 (so tests can register clientConfig.url on loopback).
# Writes DIR/ca.crt, DIR/ca.key, DIR/tls.crt, DIR/tls.key. Existing files
# are kept unless --force is given. For production use cert-manager
# (manifests/overlays/cert-manager); see docs/operations.md.
set -euo pipefail

out=certs/dev
service=sandbox-guard-webhook
namespace=sandbox-guard-system
days=365
force=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --service) service=$2; shift 2 ;;
    --service=*) service=${1#*=}; shift ;;
    --namespace) namespace=$2; shift 2 ;;
    --namespace=*) namespace=${1#*=}; shift ;;
    --days) days=$2; shift 2 ;;
    --days=*) days=${1#*=}; shift ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gen-dev-certs: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

command -v openssl >/dev/null || { echo "gen-dev-certs: openssl is required" >&2; exit 1; }
mkdir -p "$out"
if [ "$force" = 0 ] && [ -s "$out/tls.crt" ] && [ -s "$out/tls.key" ] && [ -s "$out/ca.crt" ]; then
  echo "gen-dev-certs: keeping existing certificates in $out (use --force to replace)"
  exit 0
fi

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/ca.key"
openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days "$days" \
  -subj "/CN=sandbox-guard development CA" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -out "$tmp/ca.crt" 2>/dev/null

openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tls.key"
cat > "$tmp/ext.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:$service,DNS:$service.$namespace,DNS:$service.$namespace.svc,DNS:$service.$namespace.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:::1
EXT
openssl req -new -key "$tmp/tls.key" -subj "/CN=$service.$namespace.svc" -out "$tmp/tls.csr"
openssl x509 -req -in "$tmp/tls.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" \
  -CAcreateserial -days "$days" -sha256 -extfile "$tmp/ext.cnf" -out "$tmp/tls.crt" 2>/dev/null

# Move into place last, so a reader never sees a half-written pair.
for f in ca.key ca.crt tls.key tls.crt; do
  mv -f "$tmp/$f" "$out/$f"
done
chmod 600 "$out/ca.key" "$out/tls.key"
chmod 644 "$out/ca.crt" "$out/tls.crt"
echo "gen-dev-certs: wrote $out/{ca.crt,ca.key,tls.crt,tls.key} for $service.$namespace.svc"
