#!/usr/bin/env bash
# Makes a self-signed certificate and key for Envoy's TLS listener, for local use: docker compose
# mounts envoy/tls/ (the default output), k8s/deploy.sh falls back to one when given no certificate.
# Clients trust it with `curl --cacert envoy/tls/tls.crt` (test-api.sh: CA_CERT=envoy/tls/tls.crt).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'EOF'
Usage: scripts/dev-cert.sh [--force] [DIR]

Writes DIR/tls.crt and DIR/tls.key (default DIR: envoy/tls): a self-signed ECDSA P-256 certificate,
usable as its own CA, and its key (mode 0600). An existing pair is kept unless --force is given.
Not for production: give Envoy a certificate from a CA your clients trust (docs/SECURITY.md).

Environment:
  DEV_CERT_HOSTS  names and addresses the certificate is valid for, comma-separated
                  (default localhost,127.0.0.1,::1)
  DEV_CERT_DAYS   validity in days (default 30)
EOF
}

FORCE=0
DIR=
for arg in "$@"; do
  case "$arg" in
    -h | --help)
      usage
      exit 0
      ;;
    --force) FORCE=1 ;;
    -*)
      echo "dev-cert.sh: unknown option: $arg (see --help)" >&2
      exit 2
      ;;
    *) DIR=$arg ;;
  esac
done
DIR=${DIR:-$ROOT/envoy/tls}
HOSTS=${DEV_CERT_HOSTS:-localhost,127.0.0.1,::1}
DAYS=${DEV_CERT_DAYS:-30}

die() {
  echo "dev-cert.sh: $*" >&2
  exit 1
}
command -v openssl >/dev/null 2>&1 || die "openssl is required but not installed"
[[ "$DAYS" =~ ^[1-9][0-9]{0,4}$ ]] || die "DEV_CERT_DAYS must be a whole number of days"

if [ "$FORCE" != 1 ] && [ -s "$DIR/tls.crt" ] && [ -s "$DIR/tls.key" ]; then
  echo "$DIR/tls.crt and tls.key exist; keeping them (--force makes new ones)"
  exit 0
fi

# subjectAltName: addresses as IP entries, everything else as DNS names.
SAN=
IFS=',' read -r -a names <<<"$HOSTS"
for name in "${names[@]}"; do
  name=${name// /}
  [ -n "$name" ] || continue
  [[ "$name" =~ ^[A-Za-z0-9.:*-]+$ ]] || die "DEV_CERT_HOSTS: \"$name\" is not a host name or address"
  if [[ "$name" =~ ^[0-9.]+$ || "$name" == *:* ]]; then entry="IP:$name"; else entry="DNS:$name"; fi
  SAN=${SAN:+$SAN,}$entry
done
[ -n "$SAN" ] || die "DEV_CERT_HOSTS names no host"

mkdir -p "$DIR"
# The key is written readable by its owner only.
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -sha256 \
  -days "$DAYS" -subj "/CN=api-key-gateway local" \
  -addext "subjectAltName=$SAN" \
  -addext "keyUsage=critical,digitalSignature,keyCertSign" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$DIR/tls.key.new" -out "$DIR/tls.crt.new" 2>/dev/null ||
  die "openssl could not make the certificate"
mv "$DIR/tls.key.new" "$DIR/tls.key"
mv "$DIR/tls.crt.new" "$DIR/tls.crt"
chmod 0644 "$DIR/tls.crt"
echo "wrote $DIR/tls.crt and $DIR/tls.key ($SAN, $DAYS days)"
