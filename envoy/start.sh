#!/usr/bin/env bash
# Envoy's entry point in docker-compose.yml and k8s/08-envoy.yaml. Envoy reads no environment
# variables, so this renders envoy.yaml (a template) with the two values it needs from the
# deployment, then starts Envoy through the image's own entry point on the rendered copy:
#   ${INTERNAL_TOKEN}  the secret both gRPC services require as x-gateway-token (from the environment)
#   ${ENVOY_TLS_DIR}   where the public listener's certificate and key are (copied here, see below)
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: start.sh [--render-only] [envoy arguments…]

Renders the Envoy config template and starts Envoy on it (through /docker-entrypoint.sh when the
image has it, which drops root to the envoy user), passing the arguments on.
  --render-only   write the rendered config and print its path; start nothing

Environment:
  INTERNAL_TOKEN      required: 32 to 1024 letters, digits or . _ ~ + / = - (the services' own rule)
  ENVOY_TEMPLATE      the template            (default /etc/envoy/envoy.yaml)
  ENVOY_TLS_SOURCE    tls.crt and tls.key     (default /etc/envoy-tls; make them for local use
                      with scripts/dev-cert.sh)
  ENVOY_RUN_DIR       where the rendered config and the copies go (default /tmp/envoy)
EOF
}

RENDER_ONLY=0
case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  --render-only)
    RENDER_ONLY=1
    shift
    ;;
esac

TEMPLATE=${ENVOY_TEMPLATE:-/etc/envoy/envoy.yaml}
TLS_SOURCE=${ENVOY_TLS_SOURCE:-/etc/envoy-tls}
RUN_DIR=${ENVOY_RUN_DIR:-/tmp/envoy}

die() {
  echo "envoy/start.sh: $*" >&2
  exit 1
}

TOKEN=${INTERNAL_TOKEN:-}
[ -n "$TOKEN" ] || die "INTERNAL_TOKEN is not set: Envoy sends it to api-key-service and billing-sidecar (openssl rand -hex 32)"
if [ "${#TOKEN}" -lt 32 ] || [ "${#TOKEN}" -gt 1024 ]; then die "INTERNAL_TOKEN must be 32 to 1024 characters"; fi
[[ "$TOKEN" =~ ^[A-Za-z0-9._~+/=-]+$ ]] || die "INTERNAL_TOKEN may only hold letters, digits and . _ ~ + / = -"
[ -r "$TEMPLATE" ] || die "cannot read the config template $TEMPLATE"
for file in tls.crt tls.key; do
  [ -r "$TLS_SOURCE/$file" ] ||
    die "no readable $TLS_SOURCE/$file for the TLS listener (for local use: scripts/dev-cert.sh)"
done

# The rendered config holds the token and the copy holds the key: readable by their owner only.
umask 077
mkdir -p "$RUN_DIR/tls"
# Copied rather than read in place: a mounted key may be readable only by its owner on the host
# (compose) while Envoy runs as the envoy user.
cp "$TLS_SOURCE/tls.crt" "$TLS_SOURCE/tls.key" "$RUN_DIR/tls/"

config=$(<"$TEMPLATE")
token_placeholder="\${INTERNAL_TOKEN}"
tls_placeholder="\${ENVOY_TLS_DIR}"
[[ "$config" == *"$token_placeholder"* ]] || die "$TEMPLATE has no $token_placeholder to fill in"
# Quoted replacements are taken literally (bash 5.2 would otherwise read & in them).
config=${config//"$token_placeholder"/"$TOKEN"}
config=${config//"$tls_placeholder"/"$RUN_DIR/tls"}
[[ "$config" != *"\${"* ]] || die "$TEMPLATE has a \${…} placeholder this script does not fill in"
printf '%s\n' "$config" >"$RUN_DIR/envoy.yaml"

# Started as root (docker compose), the image's entry point drops to the envoy user, who must read these.
if [ "$(id -u)" = 0 ] && id envoy >/dev/null 2>&1; then chown -R envoy:envoy "$RUN_DIR"; fi

if [ "$RENDER_ONLY" = 1 ]; then
  echo "$RUN_DIR/envoy.yaml"
  exit 0
fi
if [ -x /docker-entrypoint.sh ]; then
  exec /docker-entrypoint.sh envoy -c "$RUN_DIR/envoy.yaml" "$@"
fi
exec envoy -c "$RUN_DIR/envoy.yaml" "$@"
