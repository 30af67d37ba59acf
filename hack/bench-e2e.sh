#!/usr/bin/env bash
# make bench-e2e: the per-item overhead of the plugin, measured on the real local stack.
# Backs up a 2,000-object namespace (configmaps, secrets, pods, deployments, routes, imagestreams
# without images) on cluster A, then restores that backup on cluster B into a new namespace, each
# with Velero alone, with the floor plugin (this plugin's registrations, actions that do nothing),
# with the upstream floor plugin (the upstream OpenShift plugin's 37 registrations, actions that do
# nothing) and with openshift-velero-plugin, 5 runs each (BENCH_E2E_RUNS), interleaved (the
# cluster's Velero server is restarted with the right plugin dir before each run); counts the API
# requests the plugin made per backup and per restore in the kube-apiserver audit logs (user agent
# "openshift-velero-plugins"), and times a namespace of 1,800 secrets with and without the plugin.
# Writes the section "Backup and restore overhead on the local stack" of BENCHMARKS.md. Not part
# of `make test`.
#
#   hack/bench-e2e.sh            VELERO_VERSION=1.14 hack/bench-e2e.sh for the 1.14.1 server
#   STACK_NO_BUILD=1             use the binaries as they are; BENCH_E2E_RUNS=N runs of each kind
#   BENCH_E2E_RESTORE=0          backups only (e.g. for other server flags); BENCH_E2E_RESTORE_RUNS=N
#                                restores of each mode (default: as many as backups)
#   VELERO_SERVER_ARGS           default "--client-qps 1000 --client-burst 1000": with Velero's
#                                default client rate limit a 2,000-item restore waits on the
#                                limiter, which absorbs the plugin's time; the flags are named in
#                                the section. Append e.g. "--item-block-worker-count 8".
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export VELERO_VERSION=${VELERO_VERSION:-1.18}
export E2E_DIR=${E2E_DIR:-$ROOT/.e2e}
export VELERO_SERVER_ARGS=${VELERO_SERVER_ARGS---client-qps 1000 --client-burst 1000}
trap 'hack/stack.sh down || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
[[ -n ${STACK_NO_BUILD:-} ]] || hack/build-stack.sh etcd kube-apiserver kubectl "velero-$VELERO_VERSION" velero-plugin-for-aws s3 registry plugin floor-plugin upstream-floor-plugin
STACK_AUDIT=1 STACK_NO_BUILD=1 hack/stack.sh up
rm -f "$E2E_DIR/bench-e2e.md"
go test -tags containers_image_openpgp,e2e,e2ebench -count=1 -v -timeout 90m -run 'TestBenchBackupRestore$' ./test/e2e/ | grep -v '^=== '
[[ -s $E2E_DIR/bench-e2e.md ]] || { echo "bench-e2e: no result written" >&2; exit 1; }

section="## Backup and restore overhead on the local stack"
old_section="## Backup overhead on the local stack" # this section's heading before restores were measured
{
  echo "$section"
  echo
  echo "A 2,000-object namespace (500 configmaps, 500 secrets, 400 pods, 200 deployments, 200 routes,"
  echo "200 imagestreams without images) backed up on the end-to-end stack's cluster A, and one of those"
  echo "backups (taken with the plugin) restored on cluster B into a new namespace each time"
  echo "(namespaceMapping; its objects deleted after the run, so every restore meets the same cluster),"
  echo "in four modes interleaved in rotating order: Velero alone, Velero with the"
  echo "*floor plugin*, Velero with the *upstream floor plugin* and Velero with \`openshift-velero-plugin\`."
  echo "The cluster's Velero server is restarted with the mode's plugin dir before each run, and each"
  echo "time is from creating the Backup or Restore to seeing it Completed (polled every 50 ms); every"
  echo "restore is checked to have restored all 2,000 objects. The floor plugin (test/e2e/floorplugin)"
  echo "registers this plugin's actions with the same AppliesTo, but every action hands the item back"
  echo "unchanged: Velero makes exactly the same gRPC calls (one per item and matching action), so"
  echo "floor/without is the price of Velero's plugin protocol for what the actions apply to, and"
  echo "with/floor is what the actions' own work adds. The upstream floor plugin"
  echo "(test/e2e/upstreamfloorplugin) does the same with the upstream OpenShift plugin's 37"
  echo "registrations and AppliesTo lists (openshift/openshift-velero-plugin at 0b73ea6), so"
  echo "with/upstream floor compares this plugin, work included, with the calls alone of the peer."
  echo "Plugin API requests are counted in the kube-apiserver audit logs by the plugin's user agent."
  echo "Then the case users complained about (a namespace of 1,800 secrets), backed up with and"
  echo "without the plugin. Velero's client rate limit is raised (server flags below) so that the"
  echo "restore is not paced by the limiter, which would hide the plugins' time. Runs this size vary"
  echo "by up to a second (backup) and several seconds (restore) on a shared machine."
  echo
  echo "Command: \`make bench-e2e\` (\`hack/bench-e2e.sh\`)."
  echo
  cat "$E2E_DIR/bench-e2e.md"
} >"$E2E_DIR/bench-e2e.section.md"
# Replace the section in BENCHMARKS.md (up to the next "## " heading), or append it.
awk -v section="$section" -v old="$old_section" -v file="$E2E_DIR/bench-e2e.section.md" '
  ($0 == section || $0 == old) && !done { while ((getline l < file) > 0) print l; print ""; skip = 1; done = 1; next }
  skip && /^## / { skip = 0 }
  !skip { print }
  END { if (!done) { print ""; while ((getline l < file) > 0) print l } }
' BENCHMARKS.md >"$E2E_DIR/BENCHMARKS.md.new"
mv "$E2E_DIR/BENCHMARKS.md.new" BENCHMARKS.md
cat "$E2E_DIR/bench-e2e.section.md"
echo "bench-e2e: done in $((SECONDS - t0))s; BENCHMARKS.md updated"
