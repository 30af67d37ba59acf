#!/usr/bin/env bash
# What a cold compile costs under each machine setting .ci/run chooses (BENCHMARKS.md, "Fresh
# machine"): the same packages built from an empty build cache with transparent huge pages
# 'madvise' (most distributions' default) and 'always', each with and without DWARF, the four
# configurations interleaved ROUNDS times. Prints CPU seconds (user + system) per build and the
# ratio of each configuration's median to the baseline's (madvise, DWARF: what a go command
# without hack/goenv.sh ran before).
#
#   hack/bench-cold.sh [ROUNDS] [PACKAGE...]   default: 2 rounds, k8s.io/client-go/kubernetes
#                                              (about 300 CPU-s per build at the baseline)
#   hack/bench-cold.sh 1 ./openshift-velero-plugin ./openshift-migration-plugin
#                                              the plugins' whole graph (about 900 CPU-s)
#
# Needs root (or sudo -n) to switch /sys/kernel/mm/transparent_hugepage/enabled; the previous
# mode is put back on exit. Run it on an otherwise idle machine.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
rounds=${1:-2}
shift || true
pkgs=("$@")
[[ ${#pkgs[@]} -gt 0 ]] || pkgs=(k8s.io/client-go/kubernetes)

. hack/thp.sh
thp_was=$(thp_mode)
[[ -n $thp_was ]] && thp_set "$thp_was" || {
  echo "bench-cold: cannot switch $THP_FILE (no transparent huge pages, or neither root nor sudo -n)" >&2
  exit 1
}
work=$(mktemp -d)
trap 'thp_set "$thp_was" || true; rm -rf "$work"' EXIT

export CGO_ENABLED=0
# Binaries go to the scratch directory; a build of library packages only writes nothing (and
# refuses -o with a directory).
out=()
if [[ -n $(go list -tags containers_image_openpgp -f '{{if eq .Name "main"}}main{{end}}' "${pkgs[@]}") ]]; then
  out=(-o "$work/out/")
fi
configs=("madvise dwarf" "madvise nodwarf" "always dwarf" "always nodwarf")
declare -A cpu=()
for ((r = 1; r <= rounds; r++)); do
  for c in "${configs[@]}"; do
    read -r mode dwarf <<<"$c"
    thp_set "$mode"
    flags=(-trimpath -tags containers_image_openpgp)
    [[ $dwarf == nodwarf ]] && flags+=(-gcflags=all=-dwarf=false)
    rm -rf "$work/cache" && mkdir -p "$work/cache"
    GOFLAGS= GOCACHE=$work/cache /usr/bin/time -f '%U %S %e' -o "$work/time" \
      go build "${flags[@]}" "${out[@]}" "${pkgs[@]}" >/dev/null
    read -r user sys wall <"$work/time"
    s=$(awk -v u="$user" -v s="$sys" 'BEGIN {printf "%.0f", u + s}')
    cpu[$c]="${cpu[$c]:-} $s"
    printf 'round %d  %-16s %5s CPU-s (user %s, system %s)  %s s wall\n' "$r" "$c" "$s" "$user" "$sys" "$wall"
  done
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
base=$(median <<<"${cpu["madvise dwarf"]}")
echo
echo "packages: ${pkgs[*]}; median CPU-s over $rounds round(s); ratio to 'madvise dwarf'"
for c in "${configs[@]}"; do
  m=$(median <<<"${cpu[$c]}")
  printf '%-16s %6s  %.2f\n' "$c" "$m" "$(awk -v m="$m" -v b="$base" 'BEGIN {print m / b}')"
done
