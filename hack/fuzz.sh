#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a bounded budget each (default 30000x: 30,000
# executions, 15-30 s per target on 2 cores). A failure leaves the crashing input under the
# package's testdata/fuzz/ and fails the run.
#
# Budgets are execution counts, not durations: Go 1.26's fuzz coordinator can report
# "context deadline exceeded" as a failure when a duration budget (e.g. 20s) expires while a
# worker is mid-call (golang/go#75804, fixed in Go 1.27), with no crashing input at all. A count
# budget never arms that deadline. A duration still works but can fail that way.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
cd "$(dirname "$0")/.."
fuzztime=${1:-30000x}
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
