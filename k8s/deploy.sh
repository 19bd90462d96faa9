#!/usr/bin/env bash
# Builds the three service images, loads them into the current kubectl context's cluster, creates the
# secrets (tokens, TLS certificate) and Envoy's config, applies k8s/*.yaml in order and waits for each step.
set -euo pipefail

NAMESPACE=api-key-gateway
SECRET=gateway-secrets
TLS_SECRET=gateway-tls
SERVICES=(api-key-service billing-sidecar backend-service)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
K8S="$ROOT/k8s"

usage() {
  cat <<'EOF'
Usage: k8s/deploy.sh [--skip-build] [--help]

Deploys the gateway to the cluster of the current kubectl context, in namespace api-key-gateway:
  1. builds api-key-gateway/{api-key-service,billing-sidecar,backend-service}:local with docker
     (from the repository root, each from <service>/Dockerfile);
  2. loads them into the cluster: kind (kind load docker-image), k3d (k3d image import),
     k3s (k3s ctr images import, on the k3s host itself), minikube (minikube image load);
     Docker Desktop and Rancher Desktop (dockerd) see docker's images directly;
  3. creates the gateway-secrets and gateway-tls Secrets and the envoy-config ConfigMap (from
     envoy/envoy.yaml and envoy/start.sh);
  4. applies k8s/00-…08-*.yaml in order, waiting for Postgres and Redis, the migration Job, and each
     Deployment to roll out.

Options:
  --skip-build    neither build nor load images: use those the cluster already has
  -h, --help      this help

Environment:
  ADMIN_TOKEN        management API token, 32+ characters; default: the existing Secret's, else
                     generated with openssl (read it back: see the end of the output)
  INTERNAL_TOKEN     shared by Envoy and the gRPC ports it calls, 32+ letters, digits or . _ ~ + / = -;
                     default: the existing Secret's, else generated (a change restarts all three)
  POSTGRES_PASSWORD  database password (letters, digits, . _ ~ -); default: existing, else generated
  STRIPE_API_KEY     sk_… or rk_…; optional (default: the existing Secret's; set it empty to remove)
  STRIPE_WEBHOOK_SECRET  whsec_…, the Stripe webhook endpoint's signing secret; optional, kept and
                     removed like STRIPE_API_KEY
  TLS_CERT, TLS_KEY  PEM files of the gateway's certificate (chain after it) and key, for the
                     gateway-tls Secret; default: the existing Secret, else a self-signed pair for
                     localhost and the Service's names (scripts/dev-cert.sh)
  IMAGE_LOADER       kind | k3d | k3s | minikube | none: override the detection ("none" when the
                     cluster already has the images, e.g. pulled from your registry)
  TIMEOUT            how long to wait for each rollout (default 300s)
EOF
}

SKIP_BUILD=0
for arg in "$@"; do
  case "$arg" in
    --skip-build) SKIP_BUILD=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "deploy.sh: unknown argument: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

TIMEOUT=${TIMEOUT:-300s}

say() { printf '\n==> %s\n' "$*"; }
die() {
  echo "deploy.sh: $*" >&2
  exit 1
}
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required${2:+ ($2)} but not installed"; }
kc() { kubectl -n "$NAMESPACE" "$@"; }

[[ "$TIMEOUT" =~ ^[0-9]+s$ ]] || die "TIMEOUT must be whole seconds, like 300s"
need kubectl
need openssl "to generate secrets"
[ "$SKIP_BUILD" = 1 ] || need docker "to build the images"
[ -f "$ROOT/envoy/envoy.yaml" ] || die "envoy/envoy.yaml is missing: Envoy's ConfigMap is built from it"
[ -f "$ROOT/envoy/start.sh" ] || die "envoy/start.sh is missing: Envoy's ConfigMap is built from it"
if [ -n "${TLS_CERT:-}${TLS_KEY:-}" ]; then
  if ! [ -r "${TLS_CERT:-}" ] || ! [ -r "${TLS_KEY:-}" ]; then die "TLS_CERT and TLS_KEY must both name readable PEM files"; fi
fi

CONTEXT=$(kubectl config current-context 2>/dev/null) || die "no current kubectl context: point kubectl at a cluster first"
kubectl version --request-timeout=10s >/dev/null 2>&1 ||
  die "cannot reach the cluster of context \"$CONTEXT\" (kubectl version failed)"
echo "deploying to context \"$CONTEXT\", namespace $NAMESPACE"

image_of() { echo "api-key-gateway/$1:local"; }

# --- 1. images ----------------------------------------------------------------------------------

detect_loader() {
  if [ -n "${IMAGE_LOADER:-}" ]; then
    echo "$IMAGE_LOADER"
    return
  fi
  case "$CONTEXT" in
    kind-*) echo kind ;;
    k3d-*) echo k3d ;;
    minikube) echo minikube ;;
    docker-desktop | docker-for-desktop | rancher-desktop) echo none ;;
    *)
      local kubelet
      kubelet=$(kubectl get nodes -o jsonpath='{.items[0].status.nodeInfo.kubeletVersion}' 2>/dev/null || true)
      if [[ "$kubelet" == *k3s* ]] && command -v k3s >/dev/null 2>&1; then echo k3s; else echo unknown; fi
      ;;
  esac
}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

load_image() {
  local loader=$1 image=$2
  case "$loader" in
    kind)
      kind load docker-image "$image" --name "${CONTEXT#kind-}"
      ;;
    k3d)
      k3d image import "$image" --cluster "${CONTEXT#k3d-}"
      ;;
    k3s)
      docker save "$image" | as_root k3s ctr images import -
      ;;
    minikube)
      minikube image load "$image" --profile "$CONTEXT"
      ;;
  esac
}

LOADER=$(detect_loader)
# --skip-build: the images are already in the cluster from an earlier run.
[ "$SKIP_BUILD" != 1 ] || LOADER=none
# Before the (slow) build: a deploy that cannot load its images should stop at once.
case "$LOADER" in
  kind | k3d | minikube) need "$LOADER" "to load the images into the cluster" ;;
  k3s) need docker "to export the images for k3s" ;;
  none) ;;
  unknown)
    die "cannot tell how to get local images into the cluster of context \"$CONTEXT\".
  Set IMAGE_LOADER=kind|k3d|k3s|minikube, or push the images to a registry the cluster pulls from
  (docker tag/push, keeping the names api-key-gateway/<service>:local or editing the manifests) and
  set IMAGE_LOADER=none."
    ;;
  *) die "unknown IMAGE_LOADER \"$LOADER\": use kind, k3d, k3s, minikube or none" ;;
esac
if [ "$SKIP_BUILD" != 1 ]; then
  for service in "${SERVICES[@]}"; do
    say "building $(image_of "$service")"
    [ -f "$ROOT/$service/Dockerfile" ] || die "$service/Dockerfile is missing"
    docker build -f "$ROOT/$service/Dockerfile" -t "$(image_of "$service")" "$ROOT"
  done
fi

if [ "$LOADER" != none ]; then
  for service in "${SERVICES[@]}"; do
    say "loading $(image_of "$service") into the cluster ($LOADER)"
    load_image "$LOADER" "$(image_of "$service")"
  done
fi

# --- 2. namespace, secret, Envoy's config ---------------------------------------------------------

say "namespace"
kubectl apply -f "$K8S/00-namespace.yaml"

# A value of the existing Secret, empty when there is none: a second deploy keeps the token clients
# use and the password Postgres was initialised with.
existing() {
  kc get secret "$SECRET" -o "jsonpath={.data.$1}" 2>/dev/null | openssl base64 -d -A 2>/dev/null || true
}

say "secret $SECRET"
GENERATED_TOKEN=0
ADMIN_TOKEN=${ADMIN_TOKEN:-$(existing ADMIN_TOKEN)}
if [ -z "$ADMIN_TOKEN" ]; then
  ADMIN_TOKEN=$(openssl rand -hex 32)
  GENERATED_TOKEN=1
fi
[ "${#ADMIN_TOKEN}" -ge 32 ] || die "ADMIN_TOKEN must be at least 32 characters (openssl rand -hex 32)"
[[ "$ADMIN_TOKEN" != *[[:space:]]* ]] || die "ADMIN_TOKEN must not contain whitespace"

PREVIOUS_INTERNAL_TOKEN=$(existing INTERNAL_TOKEN)
INTERNAL_TOKEN=${INTERNAL_TOKEN:-$PREVIOUS_INTERNAL_TOKEN}
[ -n "$INTERNAL_TOKEN" ] || INTERNAL_TOKEN=$(openssl rand -hex 32)
[ "${#INTERNAL_TOKEN}" -ge 32 ] || die "INTERNAL_TOKEN must be at least 32 characters (openssl rand -hex 32)"
[[ "$INTERNAL_TOKEN" =~ ^[A-Za-z0-9._~+/=-]+$ ]] ||
  die "INTERNAL_TOKEN may only hold letters, digits and . _ ~ + / = - (Envoy's config carries it as is)"
# Pods read the Secret at start: a new token must reach Envoy and both services together.
TOKEN_CHANGED=0
if [ -n "$PREVIOUS_INTERNAL_TOKEN" ] && [ "$INTERNAL_TOKEN" != "$PREVIOUS_INTERNAL_TOKEN" ]; then TOKEN_CHANGED=1; fi

PREVIOUS_PASSWORD=$(existing POSTGRES_PASSWORD)
POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-$PREVIOUS_PASSWORD}
[ -n "$POSTGRES_PASSWORD" ] || POSTGRES_PASSWORD=$(openssl rand -hex 24)
[[ "$POSTGRES_PASSWORD" =~ ^[A-Za-z0-9._~-]+$ ]] ||
  die "POSTGRES_PASSWORD may only hold letters, digits and . _ ~ - (it goes into DATABASE_URL unescaped)"
if [ -n "$PREVIOUS_PASSWORD" ] && [ "$POSTGRES_PASSWORD" != "$PREVIOUS_PASSWORD" ]; then
  echo "warning: POSTGRES_PASSWORD differs from the Secret's: Postgres keeps the password its volume was" >&2
  echo "         initialised with; change it inside Postgres too (ALTER USER gateway PASSWORD …)" >&2
fi
# Unset keeps the existing key; set to empty removes it.
STRIPE_API_KEY=${STRIPE_API_KEY-$(existing STRIPE_API_KEY)}
if [ -n "$STRIPE_API_KEY" ] && ! [[ "$STRIPE_API_KEY" =~ ^(sk|rk)_[A-Za-z0-9_]+$ ]]; then
  die "STRIPE_API_KEY must be a Stripe secret or restricted key (sk_… or rk_…)"
fi
STRIPE_WEBHOOK_SECRET=${STRIPE_WEBHOOK_SECRET-$(existing STRIPE_WEBHOOK_SECRET)}
if [ -n "$STRIPE_WEBHOOK_SECRET" ] && ! [[ "$STRIPE_WEBHOOK_SECRET" =~ ^whsec_[^[:space:]]+$ ]]; then
  die "STRIPE_WEBHOOK_SECRET must be a Stripe webhook signing secret (whsec_…)"
fi

# Values go through a file descriptor, not the command line, where ps would show them.
kc create secret generic "$SECRET" --dry-run=client -o yaml --from-env-file=<(
  echo "ADMIN_TOKEN=$ADMIN_TOKEN"
  echo "INTERNAL_TOKEN=$INTERNAL_TOKEN"
  echo "POSTGRES_PASSWORD=$POSTGRES_PASSWORD"
  echo "DATABASE_URL=postgres://gateway:$POSTGRES_PASSWORD@postgres:5432/gateway"
  if [ -n "$STRIPE_API_KEY" ]; then echo "STRIPE_API_KEY=$STRIPE_API_KEY"; fi
  if [ -n "$STRIPE_WEBHOOK_SECRET" ]; then echo "STRIPE_WEBHOOK_SECRET=$STRIPE_WEBHOOK_SECRET"; fi
) | kubectl apply -f -

say "$TLS_SECRET (the gateway's certificate)"
TLS_RESULT=
GENERATED_CERT=0
if [ -n "${TLS_CERT:-}" ]; then
  TLS_RESULT=$(kc create secret tls "$TLS_SECRET" --cert="$TLS_CERT" --key="$TLS_KEY" --dry-run=client -o yaml |
    kubectl apply -f -)
elif kc get secret "$TLS_SECRET" >/dev/null 2>&1; then
  echo "keeping the existing $TLS_SECRET (TLS_CERT and TLS_KEY replace it)"
else
  CERT_DIR=$(mktemp -d)
  trap 'rm -rf "$CERT_DIR"' EXIT
  DEV_CERT_HOSTS="localhost,127.0.0.1,envoy,envoy.$NAMESPACE,envoy.$NAMESPACE.svc" DEV_CERT_DAYS=365 \
    bash "$ROOT/scripts/dev-cert.sh" "$CERT_DIR" >/dev/null
  TLS_RESULT=$(kc create secret tls "$TLS_SECRET" --cert="$CERT_DIR/tls.crt" --key="$CERT_DIR/tls.key" \
    --dry-run=client -o yaml | kubectl apply -f -)
  GENERATED_CERT=1
fi
[ -z "$TLS_RESULT" ] || echo "$TLS_RESULT"

say "envoy-config from envoy/envoy.yaml and envoy/start.sh"
ENVOY_CONFIG=$(kc create configmap envoy-config --from-file=envoy.yaml="$ROOT/envoy/envoy.yaml" --from-file=start.sh="$ROOT/envoy/start.sh" \
  --dry-run=client -o yaml | kubectl apply -f -)
echo "$ENVOY_CONFIG"

# --- 3. state: Postgres, Redis, migrations ------------------------------------------------------

say "config, Postgres and Redis"
kubectl apply -f "$K8S/01-config.yaml" -f "$K8S/02-postgres.yaml" -f "$K8S/03-redis.yaml"
kc rollout status statefulset/postgres --timeout="$TIMEOUT"
kc rollout status deployment/redis --timeout="$TIMEOUT"

say "migrations (job/api-key-service-migrate)"
# A finished Job never runs again when re-applied: remove the last run so this deploy migrates.
kc delete job api-key-service-migrate --ignore-not-found --wait=true
kubectl apply -f "$K8S/04-migrate-job.yaml"
wait_for_job() {
  local job=$1 deadline=$((SECONDS + ${TIMEOUT%s}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if [ "$(kc get job "$job" -o 'jsonpath={.status.succeeded}')" = 1 ]; then return 0; fi
    if [ "$(kc get job "$job" -o 'jsonpath={.status.conditions[?(@.type=="Failed")].status}')" = True ]; then
      kc logs "job/$job" --tail=50 >&2 || true
      die "job/$job failed (its log is above; kubectl -n $NAMESPACE describe job/$job says more)"
    fi
    sleep 3
  done
  kc logs "job/$job" --tail=50 >&2 || true
  die "job/$job did not finish within $TIMEOUT"
}
wait_for_job api-key-service-migrate
kc logs job/api-key-service-migrate --tail=20 || true

# --- 4. the services and Envoy ------------------------------------------------------------------

WORKLOADS=(api-key-service billing-sidecar backend-service envoy)
# Images keep their :local tag across builds, so a Deployment that already exists must be restarted
# to run the new build (and Envoy to read a changed ConfigMap).
EXISTING=()
for name in "${WORKLOADS[@]}"; do
  if kc get deployment "$name" >/dev/null 2>&1; then EXISTING+=("$name"); fi
done

say "services and Envoy"
kubectl apply -f "$K8S/05-api-key-service.yaml" -f "$K8S/06-billing-sidecar.yaml" \
  -f "$K8S/07-backend-service.yaml" -f "$K8S/08-envoy.yaml"
for name in ${EXISTING[@]+"${EXISTING[@]}"}; do
  case "$name" in
    envoy) [[ "$ENVOY_CONFIG $TLS_RESULT" == *configured* ]] || [ "$TOKEN_CHANGED" = 1 ] || continue ;;
    backend-service) [ "$SKIP_BUILD" != 1 ] || continue ;;
    *) [ "$SKIP_BUILD" != 1 ] || [ "$TOKEN_CHANGED" = 1 ] || continue ;;
  esac
  kc rollout restart "deployment/$name"
done
for name in "${WORKLOADS[@]}"; do
  kc rollout status "deployment/$name" --timeout="$TIMEOUT"
done

# --- 5. how to reach it ---------------------------------------------------------------------------

ADDRESS=$(kc get service envoy -o 'jsonpath={.status.loadBalancer.ingress[0].ip}{.status.loadBalancer.ingress[0].hostname}' 2>/dev/null || true)
say "deployed"
if [ -n "$ADDRESS" ]; then
  echo "gateway:        https://$ADDRESS:8443   (Envoy's LoadBalancer Service)"
else
  echo "gateway:        no external address yet (kind has no load balancer; minikube needs 'minikube tunnel')"
  echo "                kubectl -n $NAMESPACE port-forward svc/envoy 8443:8443   → https://localhost:8443"
fi
echo "                plain HTTP, this machine only: kubectl -n $NAMESPACE port-forward deploy/envoy 8000:8000"
if [ "$GENERATED_CERT" = 1 ]; then
  echo "certificate:    self-signed (scripts/dev-cert.sh); trust it with curl --cacert, or deploy your own"
  echo "                with TLS_CERT=… TLS_KEY=… k8s/deploy.sh --skip-build"
fi
echo "management API: kubectl -n $NAMESPACE port-forward svc/api-key-service 8080:8080   → http://localhost:8080"
echo "admin token:    kubectl -n $NAMESPACE get secret $SECRET -o jsonpath='{.data.ADMIN_TOKEN}' | base64 --decode"
if [ "$GENERATED_TOKEN" = 1 ]; then echo "                (generated now; later deploys keep it)"; fi
echo "end-to-end:     k8s/test.sh"
