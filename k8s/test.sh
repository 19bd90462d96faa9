#!/usr/bin/env bash
# Runs test-api.sh against the gateway deployed by k8s/deploy.sh, through port-forwards to the envoy
# (TLS) and api-key-service Services, with the admin token from the cluster's Secret.
set -euo pipefail

NAMESPACE=api-key-gateway
SECRET=gateway-secrets
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<'EOF_USAGE'
Usage: k8s/test.sh [--help]

Port-forwards svc/envoy (its TLS listener) and svc/api-key-service of namespace api-key-gateway to
local ports, runs ./test-api.sh against them with ADMIN_TOKEN read from the gateway-secrets Secret,
and stops the port-forwards on exit. Exits with test-api.sh's status.

The gateway is reached as https://localhost:GATEWAY_PORT, trusting the certificate of the gateway-tls
Secret: that works for the self-signed one deploy.sh makes (it names localhost). For your own
certificate, which names your host instead, set INSECURE_TLS=1 (or CA_CERT to a file that fits).

Environment:
  GATEWAY_PORT   local port for Envoy's TLS listener  (default 18443)
  API_PORT       local port for the management API    (default 18080)
  Anything else test-api.sh reads (SKIP_GATEWAY, USAGE_TIMEOUT, SCOPED_PATH, CA_CERT, INSECURE_TLS)
  is passed through.
EOF_USAGE
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  "") ;;
  *)
    echo "test.sh: unknown argument: $1 (see --help)" >&2
    exit 2
    ;;
esac

GATEWAY_PORT=${GATEWAY_PORT:-18443}
API_PORT=${API_PORT:-18080}

die() {
  echo "test.sh: $*" >&2
  exit 1
}
command -v kubectl >/dev/null 2>&1 || die "kubectl is required but not installed"
command -v curl >/dev/null 2>&1 || die "curl is required but not installed"
command -v openssl >/dev/null 2>&1 || die "openssl is required (to decode the Secret) but not installed"

ENCODED=$(kubectl -n "$NAMESPACE" get secret "$SECRET" -o 'jsonpath={.data.ADMIN_TOKEN}') ||
  die "cannot read secret/$SECRET in namespace $NAMESPACE: has k8s/deploy.sh run against this context?"
ADMIN_TOKEN=$(printf '%s' "$ENCODED" | openssl base64 -d -A)
[ -n "$ADMIN_TOKEN" ] || die "secret/$SECRET has no ADMIN_TOKEN"

LOGS=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$LOGS"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# forward SERVICE LOCAL:REMOTE URL-TO-POLL: starts a port-forward and waits until URL answers (any
# certificate will do here: this only waits for the tunnel).
forward() {
  local service=$1 ports=$2 url=$3 log
  log="$LOGS/${service}.log"
  kubectl -n "$NAMESPACE" port-forward "svc/$service" "$ports" >"$log" 2>&1 &
  PIDS+=("$!")
  local pid=$!
  for _ in $(seq 1 60); do
    if curl -s -k -o /dev/null --max-time 2 "$url"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$log" >&2
      die "port-forward to svc/$service stopped (is local port ${ports%%:*} free?)"
    fi
    sleep 0.5
  done
  cat "$log" >&2
  die "svc/$service did not answer at $url within 30s"
}

if [ -z "${CA_CERT:-}" ] && [ "${INSECURE_TLS:-0}" != 1 ]; then
  CA_CERT="$LOGS/gateway-tls.crt"
  kubectl -n "$NAMESPACE" get secret gateway-tls -o 'jsonpath={.data.tls\.crt}' | openssl base64 -d -A >"$CA_CERT" ||
    die "cannot read secret/gateway-tls in namespace $NAMESPACE: has k8s/deploy.sh run against this context?"
fi

echo "port-forwarding svc/envoy to :$GATEWAY_PORT and svc/api-key-service to :$API_PORT"
forward envoy "$GATEWAY_PORT:8443" "https://localhost:$GATEWAY_PORT/"
forward api-key-service "$API_PORT:8080" "http://127.0.0.1:$API_PORT/health"

# The last command: its exit status is the script's (the EXIT trap still stops the port-forwards).
GATEWAY_URL="https://localhost:$GATEWAY_PORT" API_URL="http://127.0.0.1:$API_PORT" ADMIN_TOKEN="$ADMIN_TOKEN" \
  CA_CERT="${CA_CERT:-}" "$ROOT/test-api.sh"
