#!/usr/bin/env bash
# Run the end-to-end suites against each Velero server version: build what is missing, then per
# version start a stack, run the general suite with the general plugin binary, restart both Velero
# servers with the migration binary and run the migration suite, stop the stack (also on
# failure). The versions run at the same time, each on its own stack: the suites mostly wait on
# servers (Velero's controllers, backup sync), so two lines take little longer than one. Timings
# are printed.
#
#   hack/e2e.sh                      Velero 1.18 and 1.14 at once, general then migration suite
#   VELERO_VERSIONS=1.14 hack/e2e.sh one version
#   E2E_SERIAL=1 hack/e2e.sh         one version after the other (output as it comes, less load)
#   E2E_SUITES=migration hack/e2e.sh one suite (general, migration, or both: "general migration")
#   E2E_KEEP=1 hack/e2e.sh           leave the stacks running afterwards
#   STACK_NO_BUILD=1 hack/e2e.sh     use the binaries (and bin/from-images/) as they are
#   E2E_PLUGINS=bin hack/e2e.sh      Velero runs the plugin binaries of bin/ (make build), not the
#                                    ones the images installed: the quick loop, no image build
#   extra arguments go to both `go test` runs (e.g. -failfast)
#
# The first version's stack works in $E2E_DIR (default .e2e; its env file is what `go test
# ./test/e2e/` reads by default), every other version's in $E2E_DIR/velero-<version> (its env
# file: E2E_ENV=$E2E_DIR/velero-<version>/env). Each stack takes its ports from its own slice of
# the loopback range (STACK_PORT_SLICE), so two stacks starting together cannot pick the same
# one. The first version's output is printed as it comes; the others' when they end.
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
E2E_DIR=${E2E_DIR:-$ROOT/.e2e}
read -r -a versions <<<"${VELERO_VERSIONS:-1.18 1.14}"
((${#versions[@]} > 0)) || { echo "VELERO_VERSIONS: no version" >&2; exit 2; }
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

gotest() { go test -tags e2e -count=1 -v -timeout 15m ./test/e2e/ "$@"; }

# line DIR VERSION [go test args]: one Velero version's stack in DIR and its suites; writes its
# one-line summary to DIR/e2e-summary and exits non-zero when anything failed. Run in a subshell.
line() {
  local dir=$1 v=$2 t1=$SECONDS t2 t3 t4 first=general result restarted summary rc=0
  shift 2
  export E2E_DIR=$dir E2E_ENV=$dir/env VELERO_VERSION=$v
  mkdir -p "$dir"
  rm -f "$dir/e2e-summary"
  [[ -n ${E2E_KEEP:-} ]] || trap 'hack/stack.sh down' EXIT
  # go test exits 1 on ^C rather than dying of it, so a shell would go on to the next suite.
  trap 'exit 130' INT
  trap 'exit 143' TERM
  # The stack starts with the binary of the first suite to run.
  has_suite general || first=migration
  if ! STACK_PLUGIN=$first STACK_NO_BUILD=1 hack/stack.sh up; then
    # stack.sh has printed the failing component's log (all of it under CI=true) and stopped the rest.
    echo "Velero $v: FAIL (the stack did not start)" >"$dir/e2e-summary"
    trap - EXIT
    return 1
  fi
  t2=$SECONDS
  summary="Velero $v: stack up $((t2 - t1))s"
  if has_suite general; then
    if gotest -skip '^TestMigration' "$@"; then result=PASS; else result=FAIL; rc=1; fi
    summary+=", general suite $result $((SECONDS - t2))s"
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
    summary+=", migration suite $result $((SECONDS - t3))s (restart to the migration binary $((t4 - t3))s, tests $((SECONDS - t4))s)"
  fi
  [[ -z ${E2E_KEEP:-} ]] || summary+="; stack left running: E2E_ENV=$dir/env"
  echo "$summary" >"$dir/e2e-summary"
  return $rc
}

# hack/e2e.sh --line DIR VERSION [go test args]: one line alone (how the lines beside the first
# are started, each in its own session).
if [[ ${1:-} == --line ]]; then
  shift
  line "$@"
  exit
fi

t0=$SECONDS
build=(etcd kube-apiserver kubectl velero-plugin-for-aws s3 registry)
[[ $plugins == images ]] || build+=(plugin)
for v in "${versions[@]}"; do build+=("velero-$v"); done
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

# Each line's directory; each also gets a slice of its own of the ports stack.sh picks from.
dirs=()
for i in "${!versions[@]}"; do
  if ((i == 0)); then dirs+=("$E2E_DIR"); else dirs+=("$E2E_DIR/velero-${versions[i]}"); fi
done

rc=0
declare -A pids=()
if [[ -z ${E2E_SERIAL:-} ]] && ((${#versions[@]} > 1)); then
  # Every version but the first in the background, each in its own session (so that stopping it
  # stops its go test too), logging to DIR.log; the first in the foreground.
  stop_lines() {
    local i
    for i in "${!pids[@]}"; do
      kill -TERM -- "-${pids[$i]}" 2>/dev/null || true
      wait "${pids[$i]}" 2>/dev/null || true
      E2E_DIR=${dirs[i]} hack/stack.sh down >/dev/null 2>&1 || true
    done
  }
  trap stop_lines EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  for i in "${!versions[@]}"; do
    ((i > 0)) || continue
    mkdir -p "${dirs[i]}"
    STACK_PORT_SLICE=$i/${#versions[@]} setsid bash "$ROOT/hack/e2e.sh" --line "${dirs[i]}" "${versions[i]}" "$@" >"${dirs[i]}.log" 2>&1 &
    pids[$i]=$!
  done
  (STACK_PORT_SLICE=0/${#versions[@]} line "${dirs[0]}" "${versions[0]}" "$@") || rc=1
  for i in "${!versions[@]}"; do
    ((i > 0)) || continue
    wait "${pids[$i]}" || rc=1
    unset "pids[$i]"
    echo "e2e: ---------------- Velero ${versions[i]} (ran beside Velero ${versions[0]}; log ${dirs[i]}.log)"
    cat "${dirs[i]}.log"
  done
  trap - EXIT
else
  for i in "${!versions[@]}"; do
    (line "${dirs[i]}" "${versions[i]}" "$@") || rc=1
  done
fi
for i in "${!versions[@]}"; do
  echo "e2e: $(cat "${dirs[i]}/e2e-summary" 2>/dev/null || echo "Velero ${versions[i]}: FAIL (no summary: the line was stopped)")"
done
echo "e2e: total $((SECONDS - t0))s"
exit $rc
