#!/usr/bin/env bash
# Runs the per-action Go benchmarks and prints a markdown table: for each package, the median
# ns/op of the action's restore Execute and of a JSON decode+encode of the same item (the work
# Velero itself does per item), measured in the same run, and their ratio.
# Usage: hack/bench.sh [count]   (default count 5)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
cd "$(dirname "$0")/.."
count=${1:-5}
pkgs=$(git ls-files '*_test.go' | xargs grep -l '^func BenchmarkJSONRoundTrip' | xargs -n1 dirname | sort -u)
[ -n "$pkgs" ] || { echo "no benchmarks found" >&2; exit 1; }
raw=$(mktemp)
for p in $pkgs; do
  go test -tags containers_image_openpgp -run '^$' -bench . -benchmem -count "$count" "./$p" | sed "s|^|$p |" >>"$raw"
done
echo "| package | benchmark | median ns/op | JSON round trip ns/op | ratio | B/op | allocs/op |"
echo "|---|---|---|---|---|---|---|"
awk '
  $2 ~ /^Benchmark/ {
    name=$2; sub(/-[0-9]+$/, "", name); key=$1" "name
    n[key]++; v[key, n[key]]=$4; bop[key]=$6; aop[key]=$8; pkgs[$1]=1; names[key]=1
  }
  function median(key,   i, j, t, c, a) {
    c=n[key]; for (i=1;i<=c;i++) a[i]=v[key,i]+0
    for (i=1;i<=c;i++) for (j=i+1;j<=c;j++) if (a[j]<a[i]) {t=a[i];a[i]=a[j];a[j]=t}
    return (c%2) ? a[(c+1)/2] : (a[c/2]+a[c/2+1])/2
  }
  END {
    for (key in names) {
      split(key, parts, " "); p=parts[1]; b=parts[2]
      if (b == "BenchmarkJSONRoundTrip") continue
      base=p" BenchmarkJSONRoundTrip"
      if (!(base in n)) continue
      m=median(key); bm=median(base)
      printf "| %s | %s | %.0f | %.0f | %.2f | %s | %s |\n", p, b, m, bm, m/bm, bop[key], aop[key]
    }
  }' "$raw" | sort
rm -f "$raw"
