#!/usr/bin/env bash
# Run the end-to-end suites against each Velero server version: build what is missing, start the
# stack, run the general suite with the general plugin binary, restart both Velero servers with
# the migration binary and run the migration suite, stop the stack (also on failure). Timings are
# printed.
#
#   hack/e2e.sh                      Velero 1.18 then 1.14, general then migration suite
#   VELERO_VERSIONS=1.14 hack/e2e.sh one version
#   E2E_SUITES=migration hack/e2e.sh one suite (general, migration, or both: "general migration")
#   E2E_KEEP=1 hack/e2e.sh           leave the (last) stack running afterwards
#   STACK_NO_BUILD=1 hack/e2e.sh     use the binaries (and bin/from-images/) as they are
#   E2E_PLUGINS=bin hack/e2e.sh      Velero runs the plugin binaries of bin/ (make build), not the
#                                    ones the images installed: the quick loop, no image build
#   extra arguments go to both `go test` runs (e.g. -failfast)
#
# The general suite is every test but TestMigration*, against openshift-velero-plugin; the
# migration suite is TestMigration*, against openshift-migration-plugin. Each test fails when the
# servers do not list the actions of its binary, so neither suite can pass against the other's.
#
# By default (E2E_PLUGINS=images, what `make test` runs) the plugin binaries are the ones the two
# images install: `make images-test` builds both images for this machine, runs each image's
# entrypoint as Velero's init container does and leaves what it installed in bin/from-images/,
# which Velero's plugin dirs are made from. What ships is what is tested.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
versions=${VELERO_VERSIONS:-1.18 1.14}
suites=${E2E_SUITES:-general migration}
for s in $suites; do
  [[ $s == general || $s == migration ]] || { echo "E2E_SUITES: unknown suite $s (general, migration)" >&2; exit 2; }
done
has_suite() { [[ " $suites " == *" $1 "* ]]; }
plugins=${E2E_PLUGINS:-images}
case $plugins in
images) export STACK_PLUGIN_DIR=$ROOT/bin/from-images ;;
bin) export STACK_PLUGIN_DIR=$ROOT/bin ;;
*) echo "E2E_PLUGINS: images (default) or bin, not $plugins" >&2; exit 2 ;;
esac

t0=$SECONDS
build=(etcd kube-apiserver kubectl velero-plugin-for-aws s3 registry)
[[ $plugins == images ]] || build+=(plugin)
for v in $versions; do build+=("velero-$v"); done
if [[ -z ${STACK_NO_BUILD:-} ]]; then
  hack/build-stack.sh "${build[@]}"
  echo "e2e: build ${#build[@]} components: $((SECONDS - t0))s"
  if [[ $plugins == images ]]; then
    t1=$SECONDS
    make --no-print-directory images-test
    echo "e2e: the plugins installed by the images (make images-test): $((SECONDS - t1))s"
  fi
fi
for f in openshift-velero-plugin openshift-migration-plugin; do
  [[ -x $STACK_PLUGIN_DIR/$f ]] || { echo "e2e: missing $STACK_PLUGIN_DIR/$f (E2E_PLUGINS=$plugins: run make images-test, or make build for bin/)" >&2; exit 1; }
done
echo "e2e: Velero runs the plugins of $STACK_PLUGIN_DIR (E2E_PLUGINS=$plugins)"

gotest() { go test -tags e2e -count=1 -v -timeout 15m ./test/e2e/ "$@"; }

rc=0
summary=()
last=${versions##* }
for v in $versions; do
  t1=$SECONDS
  export VELERO_VERSION=$v
  keep=
  [[ -n ${E2E_KEEP:-} && $v == "$last" ]] && keep=1
  [[ -n $keep ]] || trap 'hack/stack.sh down' EXIT
  # The stack starts with the binary of the first suite to run.
  first=general
  has_suite general || first=migration
  if ! STACK_PLUGIN=$first STACK_NO_BUILD=1 hack/stack.sh up; then
    # stack.sh has printed the failing component's log (all of it under CI=true) and stopped the rest.
    echo "e2e: Velero $v: FAIL (the stack did not start)"
    summary+=("Velero $v: FAIL (the stack did not start)")
    rc=1
    trap - EXIT
    continue
  fi
  t2=$SECONDS
  line="Velero $v: stack up $((t2 - t1))s"
  if has_suite general; then
    if gotest -skip '^TestMigration' "$@"; then result=PASS; else result=FAIL; rc=1; fi
    line+=", general suite $result $((SECONDS - t2))s"
  fi
  if has_suite migration; then
    t3=$SECONDS
    restarted=1
    if [[ $first != migration ]]; then
      hack/stack.sh velero-restart a migration && hack/stack.sh velero-restart b migration || restarted=
    fi
    t4=$SECONDS
    if [[ -z $restarted ]]; then
      result="FAIL (a Velero server did not restart with the migration plugin)"
      rc=1
    elif gotest -run '^TestMigration' "$@"; then
      result=PASS
    else
      result=FAIL
      rc=1
    fi
    line+=", migration suite $result $((SECONDS - t3))s (restart to the migration binary $((t4 - t3))s, tests $((SECONDS - t4))s)"
  fi
  if [[ -z $keep ]]; then hack/stack.sh down; trap - EXIT; fi
  echo "e2e: $line"
  summary+=("$line")
done
printf 'e2e: %s\n' "${summary[@]}"
echo "e2e: total $((SECONDS - t0))s"
exit $rc
