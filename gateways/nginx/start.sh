#!/usr/bin/env bash
# Starts nginx as the gateway on gateways/nginx/nginx.conf. nginx reads no environment variables, so
# this fills in the config's four placeholders from the environment, writes the result to a run
# directory, and runs nginx in the foreground with that directory as its prefix: the pid file and
# temporary files go there, so no root and no system paths are needed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: gateways/nginx/start.sh [--render-only] [nginx arguments…]

Renders the nginx config template and runs nginx on it in the foreground, passing the arguments on
(-t tests the config and exits).
  --render-only   write the rendered config and print its path; start nothing

Environment:
  GATEWAY_PORT       the port clients connect to           (default 8000)
  FORWARD_AUTH_ADDR  api-key-service's AUTH_HTTP_PORT       (default 127.0.0.1:9003)
  BACKEND_ADDR       the upstream API                       (default 127.0.0.1:3000)
  INTERNAL_TOKEN     sent to the forward-auth endpoint as x-gateway-token (required there when the
                     service has INTERNAL_TOKEN set; 32 to 1024 letters, digits or . _ ~ + / = -)
  NGINX_TEMPLATE     the template                           (default nginx.conf beside this script)
  NGINX_RUN_DIR      nginx's prefix: the rendered config, pid and temporary files
                     (default a new directory under $TMPDIR)
  NGINX              the nginx binary                       (default nginx on the PATH)
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

die() {
  echo "gateways/nginx/start.sh: $*" >&2
  exit 1
}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEMPLATE=${NGINX_TEMPLATE:-$HERE/nginx.conf}
PORT=${GATEWAY_PORT:-8000}
AUTH=${FORWARD_AUTH_ADDR:-127.0.0.1:9003}
BACKEND=${BACKEND_ADDR:-127.0.0.1:3000}
TOKEN=${INTERNAL_TOKEN:-}

# The values go into the config as they are: anything but a plain port, address or token is refused
# rather than allowed to add directives.
if ! [[ "$PORT" =~ ^[0-9]{1,5}$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
  die "GATEWAY_PORT must be a port number (1-65535), not \"$PORT\""
fi
address='^[A-Za-z0-9.-]+:[0-9]{1,5}$|^\[[0-9A-Fa-f:.]+\]:[0-9]{1,5}$'
[[ "$AUTH" =~ $address ]] || die "FORWARD_AUTH_ADDR must be host:port, not \"$AUTH\""
[[ "$BACKEND" =~ $address ]] || die "BACKEND_ADDR must be host:port, not \"$BACKEND\""
if [ -n "$TOKEN" ]; then
  if [ "${#TOKEN}" -lt 32 ] || [ "${#TOKEN}" -gt 1024 ]; then die "INTERNAL_TOKEN must be 32 to 1024 characters"; fi
  [[ "$TOKEN" =~ ^[A-Za-z0-9._~+/=-]+$ ]] || die "INTERNAL_TOKEN may only hold letters, digits and . _ ~ + / = -"
fi
[ -r "$TEMPLATE" ] || die "cannot read the config template $TEMPLATE"

RUN_DIR=${NGINX_RUN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/gateway-nginx.XXXXXX")}
# The rendered config holds the token: readable by its owner only.
umask 077
mkdir -p "$RUN_DIR"

config=$(<"$TEMPLATE")
for name in GATEWAY_PORT FORWARD_AUTH_ADDR BACKEND_ADDR INTERNAL_TOKEN; do
  [[ "$config" == *"\${$name}"* ]] || die "$TEMPLATE has no \${$name} to fill in"
done
# Quoted replacements are taken literally (bash 5.2 would otherwise read & in them).
config=${config//"\${GATEWAY_PORT}"/"$PORT"}
config=${config//"\${FORWARD_AUTH_ADDR}"/"$AUTH"}
config=${config//"\${BACKEND_ADDR}"/"$BACKEND"}
config=${config//"\${INTERNAL_TOKEN}"/"$TOKEN"}
[[ "$config" != *"\${"* ]] || die "$TEMPLATE has a \${…} placeholder this script does not fill in"
printf '%s\n' "$config" >"$RUN_DIR/nginx.conf"

if [ "$RENDER_ONLY" = 1 ]; then
  echo "$RUN_DIR/nginx.conf"
  exit 0
fi
# -e stderr: nginx opens its compiled-in error log before reading the config, which an unprivileged
# user may not be able to write.
exec "${NGINX:-nginx}" -p "$RUN_DIR/" -c "$RUN_DIR/nginx.conf" -e stderr -g 'daemon off;' "$@"
