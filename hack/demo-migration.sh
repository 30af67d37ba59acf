#!/usr/bin/env bash
# make demo-migration: from a fresh clone, build what is missing, start the local stack with the
# migration plugin (two clusters, S3, registries, the migration registry, Velero 1.18.3 with
# openshift-migration-plugin), migrate a sample namespace from cluster A to B as MTC's controller
# does (a stage migration, then a final migration with quiesce, then the rollback command on A),
# print what each phase did, and stop everything -- also on failure or Ctrl-C.
#
#   hack/demo-migration.sh           VELERO_VERSION=1.14 hack/demo-migration.sh for Velero 1.14.1
#   STACK_NO_BUILD=1 hack/demo-migration.sh   use the binaries as they are
#
# The migration is the end-to-end suite's own (test/e2e, TestMigrationStageThenFinal), so the
# demo also asserts every behaviour it shows. Logs stay in .e2e/logs/ afterwards.
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
say "building what is missing (bin/stack/, bin/openshift-migration-plugin; seconds when current)"
[[ -n ${STACK_NO_BUILD:-} ]] || hack/build-stack.sh etcd kube-apiserver kubectl "velero-$VELERO_VERSION" velero-plugin-for-aws s3 registry plugin
say "starting the stack with the migration plugin: etcd, kube-apiserver A and B, S3, registries A and B, the migration registry, Velero $VELERO_VERSION A and B"
STACK_PLUGIN=migration STACK_NO_BUILD=1 hack/stack.sh up
rm -f "$E2E_DIR"/migration-*.txt
say "stage migration, then final migration with quiesce, of a sample namespace from A to B (about a minute: Velero syncs backups once a minute)"
go test -tags e2e -count=1 -timeout 10m -run 'TestMigrationStageThenFinal$' ./test/e2e/
found=
for f in "$E2E_DIR"/migration-*.txt; do
  [[ -f $f ]] || continue
  found=1
  say "what each phase did"
  cat "$f"
done
[[ -n $found ]] || { echo "no migration table was written" >&2; exit 1; }
say "demo done in $((SECONDS - t0))s"
