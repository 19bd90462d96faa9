#!/usr/bin/env bash
# Deletes everything k8s/deploy.sh created: the api-key-gateway namespace, with its data.
set -euo pipefail

NAMESPACE=api-key-gateway

usage() {
  cat <<'EOF_USAGE'
Usage: k8s/cleanup.sh [--yes] [--help]

Deletes the namespace api-key-gateway from the cluster of the current kubectl context, and with it
every object of the gateway: Deployments, the Postgres StatefulSet and its volume claim (the
database, all keys and usage), the Secret with the admin token. Images loaded into the cluster stay.

Options:
  -y, --yes    do not ask for confirmation (required when not run from a terminal)
  -h, --help   this help

Environment:
  TIMEOUT      how long to wait for the namespace to disappear (default 180s)
EOF_USAGE
}

YES=0
for arg in "$@"; do
  case "$arg" in
    -y | --yes) YES=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      echo "cleanup.sh: unknown argument: $arg (see --help)" >&2
      exit 2
      ;;
  esac
done

TIMEOUT=${TIMEOUT:-180s}

die() {
  echo "cleanup.sh: $*" >&2
  exit 1
}
command -v kubectl >/dev/null 2>&1 || die "kubectl is required but not installed"

CONTEXT=$(kubectl config current-context 2>/dev/null) || die "no current kubectl context"
if ! kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
  echo "namespace $NAMESPACE does not exist in context \"$CONTEXT\": nothing to delete"
  exit 0
fi

if [ "$YES" != 1 ]; then
  [ -t 0 ] || die "not a terminal: pass --yes to delete namespace $NAMESPACE without asking"
  printf 'Delete namespace %s in context "%s", with its database? [y/N] ' "$NAMESPACE" "$CONTEXT"
  read -r answer
  case "$answer" in
    y | Y | yes | YES) ;;
    *)
      echo "nothing deleted"
      exit 1
      ;;
  esac
fi

echo "deleting namespace $NAMESPACE (context \"$CONTEXT\")"
kubectl delete namespace "$NAMESPACE" --wait=true --timeout="$TIMEOUT"
echo "done"
