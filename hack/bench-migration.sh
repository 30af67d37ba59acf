#!/usr/bin/env bash
# make bench-migration: what openshift-migration-plugin adds to a migration's final restore, on the
# real local stack (issue 8). Backs up a 2,000-object namespace (TestBenchBackup's mix) once on
# cluster A, then restores it on B as mig-controller's final restore (app.kubernetes.io/part-of=
# openshift-migration, migration-final-restore, the migrated-by labels, migmigration-type=final),
# B's Velero restarted before each run without any openshift plugin and with
# openshift-migration-plugin (BENCH_MIGRATION_MODES=without,migration,general adds
# openshift-velero-plugin), BENCH_MIGRATION_RUNS runs each (default 3), interleaved, each into a new
# namespace (namespaceMapping). Counts the restored objects carrying the migrated-by labels and the
# plugin's API requests (B's audit log). Writes the section "Migration restore overhead on the local
# stack" of BENCHMARKS.md. Not part of `make test`.
#
#   STACK_NO_BUILD=1     use the binaries as they are
#   E2E_DIR=...          the stack's work dir (default <repo>/.e2e-bench, apart from hack/e2e.sh's)
#   VELERO_SERVER_ARGS   default "--client-qps 1000 --client-burst 1000": with Velero's default
#                        client rate limit (100/s) a 2,000-item restore waits on the limiter, which
#                        absorbs the plugin's time; set VELERO_SERVER_ARGS= to measure that case.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export VELERO_VERSION=${VELERO_VERSION:-1.18}
export E2E_DIR=${E2E_DIR:-$ROOT/.e2e-bench}
export VELERO_SERVER_ARGS=${VELERO_SERVER_ARGS---client-qps 1000 --client-burst 1000}
trap 'hack/stack.sh down || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
[[ -n ${STACK_NO_BUILD:-} ]] || hack/build-stack.sh etcd kube-apiserver kubectl "velero-$VELERO_VERSION" velero-plugin-for-aws s3 registry plugin
STACK_AUDIT=1 STACK_NO_BUILD=1 hack/stack.sh up
rm -f "$E2E_DIR/bench-migration.md"
E2E_ENV=$E2E_DIR/env go test -tags containers_image_openpgp,e2e,e2ebench -count=1 -v -timeout 45m -run 'TestBenchMigrationRestore$' ./test/e2e/ | grep -v '^=== '
[[ -s $E2E_DIR/bench-migration.md ]] || { echo "bench-migration: no result written" >&2; exit 1; }

section="## Migration restore overhead on the local stack"
{
  echo "$section"
  echo
  echo "A migration's final restore runs \`migration.openshift.io/07-migrated-by-restore\` on every item"
  echo "(it adds the MigMigration and MigPlan UID labels), on top of the general restore actions. A"
  echo "2,000-object namespace (TestBenchBackup's mix: 500 configmaps, 500 secrets, 400 pods, 200"
  echo "deployments, 200 routes, 200 imagestreams without images) is backed up once on cluster A, then"
  echo "restored on B as mig-controller's final restore (Restore labelled \`app.kubernetes.io/part-of=openshift-migration\`,"
  echo "\`migration-final-restore\`, the migrated-by labels, annotated \`migmigration-type=final\`) with B's"
  echo "Velero server restarted before each run without any openshift plugin or with"
  echo "\`openshift-migration-plugin\`, interleaved in rotating order, each run into a new namespace"
  echo "(namespaceMapping; without a kube-controller-manager a deleted namespace stays Terminating)."
  echo "Each time is from creating the Restore to seeing it Completed (polled every 50 ms); after each"
  echo "run the restored objects are listed on B and those carrying both migrated-by labels counted"
  echo "(the test fails unless all do with the migration plugin and none without), then deleted, so"
  echo "every run meets the same cluster. The general"
  echo "plugin's restore against its floor is measured by \`make bench-e2e\` (\"Backup and restore"
  echo "overhead on the local stack\"). Velero's client rate limit is raised (see the server flags"
  echo "below) so that the restore is not paced by the limiter, which would hide the plugin's time."
  echo
  echo "Command: \`make bench-migration\` (\`hack/bench-migration.sh\`; \`BENCH_MIGRATION_RUNS=N\`,"
  echo "\`BENCH_MIGRATION_MODES=without,migration,general\`, \`STACK_NO_BUILD=1\`)."
  echo
  cat "$E2E_DIR/bench-migration.md"
} >"$E2E_DIR/bench-migration.section.md"
# Replace the section in BENCHMARKS.md (up to the next "## " heading), or append it.
awk -v section="$section" -v file="$E2E_DIR/bench-migration.section.md" '
  $0 == section { while ((getline l < file) > 0) print l; print ""; skip = 1; done = 1; next }
  skip && /^## / { skip = 0 }
  !skip { print }
  END { if (!done) { print ""; while ((getline l < file) > 0) print l } }
' BENCHMARKS.md >"$E2E_DIR/BENCHMARKS.md.new"
mv "$E2E_DIR/BENCHMARKS.md.new" BENCHMARKS.md
cat "$E2E_DIR/bench-migration.section.md"
echo "bench-migration: done in $((SECONDS - t0))s; BENCHMARKS.md updated"
