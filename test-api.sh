#!/usr/bin/env bash
# End-to-end check of a running gateway: keys through the management API, requests through Envoy,
# usage through the billing sidecar. One PASS or FAIL line per step; exits 1 if any step failed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: ADMIN_TOKEN=… ./test-api.sh [--help]

Checks a running gateway end to end. Needs curl and node (for JSON); not jq.

Environment:
  ADMIN_TOKEN     the management API's admin token (required)
  API_URL         management API            (default http://localhost:8080)
  GATEWAY_URL     Envoy's listener          (default http://localhost:8000; Envoy's TLS listener is
                  https://localhost:8443)
  CA_CERT         a PEM file of certificates to trust for https URLs besides the system's, e.g. the
                  self-signed envoy/tls/tls.crt of scripts/dev-cert.sh (curl --cacert)
  INSECURE_TLS=1  accept any certificate for https URLs (curl -k): a gateway reached through a
                  port-forward or by an address its certificate does not name
  SKIP_GATEWAY=1  only the management-API steps (create, list, rotate, revoke, audit), for the
                  services running without Envoy
  USAGE_TIMEOUT   seconds to wait for the access log to reach /api/usage (default 20)
  SCOPED_PATH     gateway route that requires the scope "admin" (default /admin)

Through the gateway it checks: 200 on /hello with a key (and the backend saw the key id), 401
without a key and with a wrong one, 403 on the scoped route, 429 with Retry-After past the
per-minute limit, 401 within a second of revoking, and the requests in GET /api/usage.
EOF
}

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  "") ;;
  *)
    echo "test-api.sh: unknown argument: $1 (see --help)" >&2
    exit 2
    ;;
esac

API_URL=${API_URL:-http://localhost:8080}
GATEWAY_URL=${GATEWAY_URL:-http://localhost:8000}
case "${SKIP_GATEWAY:-0}" in
  1 | true | yes) SKIP_GATEWAY=1 ;;
  *) SKIP_GATEWAY=0 ;;
esac
case "${INSECURE_TLS:-0}" in
  1 | true | yes) INSECURE_TLS=1 ;;
  *) INSECURE_TLS=0 ;;
esac
USAGE_TIMEOUT=${USAGE_TIMEOUT:-20}
SCOPED_PATH=${SCOPED_PATH:-/admin}
API_URL=${API_URL%/}
GATEWAY_URL=${GATEWAY_URL%/}

if [ -z "${ADMIN_TOKEN:-}" ]; then
  echo "test-api.sh: ADMIN_TOKEN is required (the management API's admin token); see --help" >&2
  exit 2
fi
for tool in curl node; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "test-api.sh: $tool is required but not installed" >&2
    exit 2
  fi
done

# curl's TLS options, for both URLs (they change nothing for http ones).
TLS_ARGS=()
if [ -n "${CA_CERT:-}" ]; then
  if [ ! -r "$CA_CERT" ]; then
    echo "test-api.sh: CA_CERT=$CA_CERT is not a readable file" >&2
    exit 2
  fi
  TLS_ARGS+=(--cacert "$CA_CERT")
fi
if [ "$INSECURE_TLS" = 1 ]; then TLS_ARGS+=(--insecure); fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# The token goes to curl in a file (curl -H @file), not on its command line, where ps would show it.
printf 'authorization: Bearer %s\n' "$ADMIN_TOKEN" >"$WORK/admin-auth"

PASSED=0
FAILED=0
pass() {
  PASSED=$((PASSED + 1))
  echo "PASS  $1"
}
fail() {
  FAILED=$((FAILED + 1))
  echo "FAIL  $1${2:+ — $2}"
}
summary() {
  echo
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
# A step nothing after it can do without: stop here, counting what ran.
give_up() {
  fail "$1" "${2:-}"
  echo "(stopping: the remaining steps depend on this one)"
  summary || true
  exit 1
}

# request METHOD URL [curl args…]: sets STATUS (000 when nothing answered) and BODY; headers in $WORK/headers.
STATUS=000
BODY=
request() {
  local method=$1 url=$2
  shift 2
  # Nothing of the previous answer may be read as this one's when nothing answers.
  rm -f "$WORK/body" "$WORK/headers"
  STATUS=$(curl -sS -o "$WORK/body" -D "$WORK/headers" -w '%{http_code}' --max-time 10 \
    ${TLS_ARGS[@]+"${TLS_ARGS[@]}"} -X "$method" "$@" "$url" 2>"$WORK/curl-error") || STATUS=000
  BODY=$(cat "$WORK/body" 2>/dev/null || true)
}
admin() {
  local method=$1 path=$2
  shift 2
  request "$method" "$API_URL$path" -H "@$WORK/admin-auth" "$@"
}
admin_json() {
  local method=$1 path=$2 json=$3
  admin "$method" "$path" -H 'content-type: application/json' --data "$json"
}
gateway() {
  local path=$1
  shift
  request GET "$GATEWAY_URL$path" "$@"
}
with_key() {
  local path=$1 key=$2
  gateway "$path" -H "authorization: Bearer $key"
}

# header NAME: the value of a response header of the last request, empty when absent.
header() {
  [ -f "$WORK/headers" ] || return 0
  tr -d '\r' <"$WORK/headers" | awk -v name="$1" '
    index($0, ":") { n = tolower(substr($0, 1, index($0, ":") - 1)) }
    n == tolower(name) { v = substr($0, index($0, ":") + 1); sub(/^[ \t]+/, "", v); value = v; n = "" }
    END { print value }'
}

# js EXPRESSION: evaluates EXPRESSION with `d` bound to the last JSON body; prints the result
# (strings bare, other values as JSON, nothing for null or undefined). Fails on a body that is not JSON.
js() {
  printf '%s' "$BODY" | node -e '
    const text = require("fs").readFileSync(0, "utf8");
    const d = JSON.parse(text);
    const v = new Function("d", "return (" + process.argv[1] + ");")(d);
    if (v !== undefined && v !== null) process.stdout.write(typeof v === "string" ? v : JSON.stringify(v));
  ' "$1" 2>/dev/null
}

# What a failed request said, briefly, for FAIL lines.
answer() {
  if [ "$STATUS" = 000 ]; then
    echo "no answer: $(head -c 200 "$WORK/curl-error")"
  else
    echo "HTTP $STATUS: $(printf '%s' "$BODY" | head -c 300)"
  fi
}

RUN_ID="$(date +%s)-$$"
USER_ID="test-api-$RUN_ID"
RATE_LIMIT=5

echo "management API $API_URL$([ "$SKIP_GATEWAY" = 1 ] || echo ", gateway $GATEWAY_URL")"
echo

# --- the management API -------------------------------------------------------------------------

request GET "$API_URL/health"
[ "$STATUS" = 200 ] || give_up "management API is up (GET /health)" "$(answer)"
pass "management API is up (GET /health)"

admin_json POST /api/keys "{\"user_id\":\"$USER_ID\",\"name\":\"test-api.sh $RUN_ID\",\"scopes\":[\"read\"],\"rate_limit_per_minute\":$RATE_LIMIT}"
KEY_ID=$(js 'd.id' || true)
KEY=$(js 'd.key' || true)
if [ "$STATUS" != 201 ] || [ -z "$KEY_ID" ] || [ -z "$KEY" ]; then
  give_up "create a key (POST /api/keys)" "$(answer)"
fi
pass "create a key (POST /api/keys): $KEY_ID"

admin GET "/api/keys/$USER_ID"
if [ "$STATUS" = 200 ] && [ "$(js "d.data.map((k) => k.id).join(' ')" || true)" = "$KEY_ID" ]; then
  pass "list the user's keys (GET /api/keys/$USER_ID)"
else
  fail "list the user's keys (GET /api/keys/$USER_ID)" "$(answer)"
fi

# --- through the gateway ------------------------------------------------------------------------

if [ "$SKIP_GATEWAY" != 1 ]; then
  with_key /hello "$KEY"
  SEEN=$(js 'd.api_key_id' || true)
  if [ "$STATUS" = 200 ] && [ "$SEEN" = "$KEY_ID" ]; then
    pass "200 through the gateway with the key; the backend saw x-api-key-id $SEEN"
  else
    fail "200 through the gateway with the key, x-api-key-id at the backend" "$(answer)"
  fi

  gateway /hello
  if [ "$STATUS" = 401 ]; then pass "401 without a key"; else fail "401 without a key" "$(answer)"; fi

  with_key /hello "gw_NotARealKeyButShapedLikeOne0000000000"
  if [ "$STATUS" = 401 ]; then pass "401 with a wrong key"; else fail "401 with a wrong key" "$(answer)"; fi

  with_key "$SCOPED_PATH" "$KEY"
  if [ "$STATUS" = 403 ]; then
    pass "403 on $SCOPED_PATH, which needs the scope the key lacks (admin)"
  else
    fail "403 on $SCOPED_PATH, which needs the scope admin" "$(answer)"
  fi

  # One request was admitted above; keep going until the limit answers.
  LIMITED=
  for _ in $(seq 1 $((RATE_LIMIT + 2))); do
    with_key /hello "$KEY"
    if [ "$STATUS" = 429 ]; then
      LIMITED=1
      break
    fi
    [ "$STATUS" = 200 ] || break
  done
  RETRY_AFTER=$(header retry-after)
  if [ -n "$LIMITED" ] && [[ "$RETRY_AFTER" =~ ^[0-9]+$ ]]; then
    pass "429 past $RATE_LIMIT requests a minute, with Retry-After: $RETRY_AFTER"
  else
    fail "429 with Retry-After past $RATE_LIMIT requests a minute" "$(answer), Retry-After: ${RETRY_AFTER:-none}"
  fi
fi

# --- rotate, revoke, audit ----------------------------------------------------------------------

admin_json POST "/api/keys/by-id/$KEY_ID/rotate" '{"grace_period":"0s"}'
NEW_KEY=$(js 'd.key' || true)
if [ "$STATUS" = 200 ] && [ -n "$NEW_KEY" ] && [ "$NEW_KEY" != "$KEY" ] && [ "$(js 'd.id' || true)" = "$KEY_ID" ]; then
  pass "rotate the key (POST /api/keys/by-id/$KEY_ID/rotate): new secret, same id"
else
  fail "rotate the key (POST /api/keys/by-id/$KEY_ID/rotate)" "$(answer)"
  NEW_KEY=$KEY
fi

if [ "$SKIP_GATEWAY" != 1 ]; then
  # The key is at its limit, so the new secret is recognised (429) rather than refused (401).
  with_key /hello "$NEW_KEY"
  NEW_STATUS=$STATUS
  with_key /hello "$KEY"
  if [ "$NEW_STATUS" != 401 ] && [ "$STATUS" = 401 ]; then
    pass "the new secret is accepted (HTTP $NEW_STATUS), the old one refused (401) without a grace period"
  else
    fail "new secret accepted, old one refused after rotation" "new: HTTP $NEW_STATUS, old: $(answer)"
  fi
fi

admin DELETE "/api/keys/$KEY_ID"
if [ "$STATUS" = 200 ] && [ "$(js 'd.status' || true)" = revoked ]; then
  pass "revoke the key (DELETE /api/keys/$KEY_ID)"
else
  fail "revoke the key (DELETE /api/keys/$KEY_ID)" "$(answer)"
fi

if [ "$SKIP_GATEWAY" != 1 ]; then
  # Revocation must reach every replica within a second.
  REFUSED=
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    with_key /hello "$NEW_KEY"
    if [ "$STATUS" = 401 ]; then
      REFUSED=1
      break
    fi
    sleep 0.1
  done
  if [ -n "$REFUSED" ]; then
    pass "401 within a second of revoking"
  else
    fail "401 within a second of revoking" "$(answer)"
  fi
fi

admin GET "/api/audit?key_id=$KEY_ID"
ACTIONS=$(js "d.data.map((e) => e.action).sort().join(' ')" || true)
if [ "$STATUS" = 200 ] && [ "$ACTIONS" = "key.created key.revoked key.rotated" ]; then
  pass "audit log has the key's creation, rotation and revocation (GET /api/audit?key_id=…)"
else
  fail "audit log has key.created, key.rotated, key.revoked" "$(answer)"
fi

# --- usage: Envoy's access log → billing sidecar → Postgres -------------------------------------

if [ "$SKIP_GATEWAY" != 1 ]; then
  REQUESTS=0
  DEADLINE=$(($(date +%s) + USAGE_TIMEOUT))
  while :; do
    admin GET "/api/usage?key_id=$KEY_ID&granularity=minute"
    if [ "$STATUS" = 200 ]; then
      REQUESTS=$(js 'd.data.reduce((n, w) => n + w.requests, 0)' || echo 0)
    fi
    if [ "${REQUESTS:-0}" -gt 0 ] || [ "$(date +%s)" -ge "$DEADLINE" ]; then break; fi
    sleep 1
  done
  if [ "${REQUESTS:-0}" -gt 0 ]; then
    pass "usage shows $REQUESTS request(s) from the access log (GET /api/usage?key_id=…)"
  else
    fail "usage shows the requests within ${USAGE_TIMEOUT}s (billing sidecar and Envoy's access log)" "$(answer)"
  fi
fi

summary
