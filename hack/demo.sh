#!/usr/bin/env bash
# make demo: from a fresh clone, build what is missing, start the local stack (two clusters, S3,
# registries, Velero 1.18.3 with the plugin), create the sample OpenShift namespace on cluster A,
# back it up with Velero on A, restore it on B (into the same and into a mapped namespace), print
# what the plugins changed, and stop everything -- also on failure or Ctrl-C.
#
#   hack/demo.sh                 VELERO_VERSION=1.14 hack/demo.sh for the Velero 1.14.1 server
#   STACK_NO_BUILD=1 hack/demo.sh   use the binaries as they are
#
# The backup and restores are the end-to-end suite's own (test/e2e), so the demo also asserts
# every behaviour it shows. Logs stay in .e2e/logs/ afterwards.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export VELERO_VERSION=${VELERO_VERSION:-1.18}
E2E_DIR=${E2E_DIR:-$ROOT/.e2e}
export E2E_DIR

say() { printf '\n==> %s\n' "$*"; }
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  say "stopping the stack"
  hack/stack.sh down || true
  if ((rc != 0)); then echo "demo failed (exit $rc); component logs: $E2E_DIR/logs/" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
say "building what is missing (bin/stack/, bin/openshift-velero-plugin; seconds when current)"
[[ -n ${STACK_NO_BUILD:-} ]] || hack/build-stack.sh etcd kube-apiserver kubectl "velero-$VELERO_VERSION" velero-plugin-for-aws s3 registry plugin
say "starting the stack: etcd, kube-apiserver A and B, S3, registry A and B, Velero $VELERO_VERSION A and B"
STACK_NO_BUILD=1 hack/stack.sh up
rm -f "$E2E_DIR"/changes-*.txt
say "sample namespace on A -> Velero backup on A -> synced through the bucket -> restores on B (about a minute: Velero syncs backups once a minute)"
go test -tags e2e -count=1 -timeout 10m -run 'TestBackupOnARestoreOnB$' ./test/e2e/
for f in "$E2E_DIR"/changes-*-namespace-mapping.txt; do
  [[ -f $f ]] || { echo "no before/after table was written" >&2; exit 1; }
  say "before/after"
  cat "$f"
done
say "demo done in $((SECONDS - t0))s"
