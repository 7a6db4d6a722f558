#!/bin/sh
# One-shot job (temporalio/admin-tools image) run once the Temporal server answers: registers the
# namespace the backup worker uses, with the retention of its workflow histories (how long runs stay
# visible in the Web UI). A namespace that exists is left as it is.
set -eu

address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${NAMESPACE:-default}"
retention="${RETENTION:-30d}"

tries=0
until temporal operator cluster health --address "${address}" >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "${tries}" -ge 90 ]; then
    echo "Temporal at ${address} is not serving after 3 minutes" >&2
    exit 1
  fi
  sleep 2
done

if temporal operator namespace describe --namespace "${namespace}" --address "${address}" >/dev/null 2>&1; then
  echo "namespace ${namespace} exists"
else
  temporal operator namespace create --namespace "${namespace}" --retention "${retention}" --address "${address}"
  echo "namespace ${namespace} created (retention ${retention})"
fi
