#!/usr/bin/env bash
# make test, README's test command: unit tests, the plugin binaries, the CRD check, then the
# integration tests beside the end-to-end suites on both Velero lines (hack/e2e.sh, which runs
# the two lines at once).
#
# On a fresh machine most of the time is compiling. The stack components that share no package
# with the plugin module (Velero 1.14 and versitygw, each pinned by its own module) and the apt
# installs (etcd-server, buildah) need nothing the unit tests build, so they are built in the
# background while the unit tests compile and run, at a lower CPU priority: they take what the
# unit tests leave idle (downloads, links, single-package stretches of the compile). The
# components that do share the plugin's packages (build/stack, build/kube; hack/pin-stack.sh) are
# built after the unit tests, from what those put in the build cache (built concurrently they
# would compile the same packages twice), while the background build goes on.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
E2E_DIR=${E2E_DIR:-$ROOT/.e2e}
mkdir -p "$E2E_DIR"
make=(make --no-print-directory)
# On ^C or TERM stop here (the EXIT traps below stop what runs in the background).
trap 'exit 130' INT
trap 'exit 143' TERM

# Transparent huge pages: on a virtual machine a cold compile spends much of its time on page
# faults and TLB misses, and `always` cuts its CPU time by about half (BENCHMARKS.md, "Fresh
# machine"). It is the machine's setting, not this script's: say so, and leave it alone (.ci/run
# sets it on CI's own machine).
. "$ROOT/hack/thp.sh"
thp=$(thp_mode)
if [[ -n $thp && $thp != always ]]; then
  echo "test: transparent huge pages are '$thp'; with a cold build cache this runs faster after" \
    "'echo always | sudo tee /sys/kernel/mm/transparent_hugepage/enabled' (README, \"Test and build\")"
fi

t0=$SECONDS
log=$E2E_DIR/test-background.log
(nice -n 10 hack/build-stack.sh etcd velero-1.14 s3 && nice -n 10 hack/images.sh engine) >"$log" 2>&1 &
background=$!
# Stop the background build if this script ends early (a unit test failed, ^C).
trap 'kill "$background" 2>/dev/null || true' EXIT

"${make[@]}" unit build crds-check pins-check
echo "test: unit tests, plugin binaries, CRD and pin checks: $((SECONDS - t0))s"

# The components that share the plugin's packages, from the cache the unit tests filled, while
# the background build goes on (they share no package with it).
t1=$SECONDS
hack/build-stack.sh kube-apiserver kubectl velero-1.18 velero-plugin-for-aws registry
echo "test: the stack's components that share the plugin's packages: $((SECONDS - t1))s"

t1=$SECONDS
if ! wait "$background"; then
  cat "$log" >&2
  echo "test: building the stack's own components in the background failed (above)" >&2
  exit 1
fi
trap - EXIT
echo "test: waited $((SECONDS - t1))s for the background build; it logged:"
sed 's/^/  /' "$log"

# The integration tests beside the end-to-end suites (which mostly wait on servers), their
# output printed when both are done.
# In a session of its own, so that stopping it stops its go test too.
ilog=$E2E_DIR/test-integration.log
setsid bash -c 's=$SECONDS; "$@"; rc=$?; echo "test: integration tests took $((SECONDS - s))s"; exit $rc' \
  integration "${make[@]}" integration >"$ilog" 2>&1 &
integration=$!
trap 'kill -- "-$integration" 2>/dev/null || true' EXIT
e2e=0
"${make[@]}" e2e || e2e=$?
irc=0
wait "$integration" || irc=$?
trap - EXIT
echo "test: ---------------- integration tests (ran beside the end-to-end suites)"
cat "$ilog"
((irc == 0)) || { echo "test: integration tests FAILED (above)" >&2; exit 1; }
((e2e == 0)) || { echo "test: end-to-end suites FAILED (above)" >&2; exit 1; }
"$ROOT/bin/openshift-velero-plugin" >/dev/null 2>&1 && {
  echo "test: the plugin binary exited 0 when run by hand" >&2
  exit 1
}
echo "test: PASS in $((SECONDS - t0))s"
