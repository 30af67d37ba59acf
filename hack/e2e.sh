#!/usr/bin/env bash
# Run the end-to-end suite against each Velero server version: build what is missing, start the
# stack, run `go test -tags e2e ./test/e2e/`, stop the stack (also on failure). Timings are printed.
#
#   hack/e2e.sh                      Velero 1.18 then 1.14
#   VELERO_VERSIONS=1.14 hack/e2e.sh one version
#   E2E_KEEP=1 hack/e2e.sh           leave the (last) stack running afterwards
#   STACK_NO_BUILD=1 hack/e2e.sh     use the binaries as they are
#   extra arguments go to `go test` (e.g. -run TestBackupOnARestoreOnB)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
versions=${VELERO_VERSIONS:-1.18 1.14}

t0=$SECONDS
build=(etcd kube-apiserver kubectl velero-plugin-for-aws s3 registry plugin)
for v in $versions; do build+=("velero-$v"); done
if [[ -z ${STACK_NO_BUILD:-} ]]; then
  hack/build-stack.sh "${build[@]}"
  echo "e2e: build ${#build[@]} components: $((SECONDS - t0))s"
fi

rc=0
last=${versions##* }
for v in $versions; do
  t1=$SECONDS
  export VELERO_VERSION=$v
  keep=
  [[ -n ${E2E_KEEP:-} && $v == "$last" ]] && keep=1
  [[ -n $keep ]] || trap 'hack/stack.sh down' EXIT
  if ! STACK_NO_BUILD=1 hack/stack.sh up; then
    # stack.sh has printed the failing component's log (all of it under CI=true) and stopped the rest.
    echo "e2e: Velero $v: FAIL (the stack did not start)"
    rc=1
    trap - EXIT
    continue
  fi
  t2=$SECONDS
  if go test -tags e2e -count=1 -v -timeout 15m ./test/e2e/ "$@"; then
    result=PASS
  else
    result=FAIL
    rc=1
  fi
  t3=$SECONDS
  if [[ -z $keep ]]; then hack/stack.sh down; trap - EXIT; fi
  echo "e2e: Velero $v: $result (stack up $((t2 - t1))s, tests $((t3 - t2))s)"
done
echo "e2e: total $((SECONDS - t0))s"
exit $rc
