#!/usr/bin/env bash
# Regenerate test/e2e/crds/ (the OpenShift APIs served as CRDs by the local stack) from the
# github.com/openshift/api version the main module pins. Deterministic: a second run changes
# nothing. `hack/gen-crds.sh --check` fails when the committed files are stale.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/test/e2e/crds

main_ver=$(cd "$ROOT" && go list -m -f '{{.Version}}' github.com/openshift/api)
gen_ver=$(cd "$ROOT/build/crdgen" && go list -m -f '{{.Version}}' github.com/openshift/api)
if [[ $main_ver != "$gen_ver" ]]; then
  echo "build/crdgen pins github.com/openshift/api $gen_ver but the main module uses $main_ver:" >&2
  echo "  (cd build/crdgen && go get github.com/openshift/api@$main_ver && go mod tidy)" >&2
  exit 1
fi
api_dir=$(cd "$ROOT/build/crdgen" && go mod download -json github.com/openshift/api | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p')

if [[ ${1:-} == --check ]]; then
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  (cd "$ROOT/build/crdgen" && go run . -openshift-api "$api_dir" -out "$tmp")
  diff -r "$tmp" "$OUT" && echo "test/e2e/crds is up to date"
  exit
fi
(cd "$ROOT/build/crdgen" && go run . -openshift-api "$api_dir" -out "$OUT")
ls "$OUT"
