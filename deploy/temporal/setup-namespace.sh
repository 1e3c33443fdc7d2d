#!/bin/sh
# One-shot `temporal-setup` service (temporalio/admin-tools image): waits for the Temporal server,
# creates idri's namespace if it is missing and registers the search attributes listed in
# search-attributes.txt. Safe on every start: an existing namespace is left as it is, and the
# server skips search attributes that already exist (the CLI refuses one whose type changed).
set -eu

address="${TEMPORAL_ADDRESS:-temporal:7233}"
namespace="${TEMPORAL_NAMESPACE:-idri}"
retention="${NAMESPACE_RETENTION:-30d}"
list="$(dirname "$0")/search-attributes.txt"

retry() {
  attempt=1
  until "$@"; do
    if [ "$attempt" -ge 30 ]; then
      echo "gave up after $attempt attempts: $*" >&2
      exit 1
    fi
    attempt=$((attempt + 1))
    sleep 2
  done
}

retry temporal operator cluster health --address "$address"

if temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; then
  echo "namespace $namespace already exists"
else
  retry temporal operator namespace create --address "$address" --namespace "$namespace" \
    --retention "$retention" --description "Tianjin industrial design research institutes"
  echo "namespace $namespace created (retention of closed cases: $retention)"
fi

# "--name A --type Keyword --name B --type Int ..." from the list (comments and blanks skipped).
set --
while read -r name type _; do
  case "$name" in ''|'#'*) continue ;; esac
  set -- "$@" --name "$name" --type "$type"
done < "$list"

# A namespace just created takes a few seconds to reach every frontend: retry until it has.
retry temporal operator search-attribute create --address "$address" --namespace "$namespace" "$@"
temporal operator search-attribute list --address "$address" --namespace "$namespace"
