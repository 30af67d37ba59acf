#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a bounded time each (default 20s). A failure leaves
# the crashing input under the package's testdata/fuzz/ and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${1:-20s}
status=0
count=0
while IFS=: read -r file name; do
  dir=$(dirname "$file")
  echo "== fuzz $dir $name ($fuzztime)"
  if ! go test -tags containers_image_openpgp -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir"; then
    status=1
  fi
  count=$((count + 1))
done < <(git ls-files '*_test.go' | xargs grep -oE '^func (Fuzz[A-Za-z0-9_]+)' | sed -E 's/func //' | sort)
echo "fuzz: $count targets run"
[ "$count" -gt 0 ] || { echo "no fuzz targets found"; exit 1; }
exit $status
