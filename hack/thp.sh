# Sourced by .ci/run, hack/test.sh and hack/bench-cold.sh: the machine's transparent huge pages
# mode (BENCHMARKS.md, "Fresh machine": a cold compile on a VM takes about half the CPU with
# 'always').
THP_FILE=/sys/kernel/mm/transparent_hugepage/enabled
# thp_mode: the current mode (always, madvise or never); nothing when the kernel has no THP.
thp_mode() { sed -n 's/.*\[\(.*\)\].*/\1/p' "$THP_FILE" 2>/dev/null || true; }
# thp_set MODE: as root, or through sudo -n; fails when neither may write it.
thp_set() { { echo "$1" >"$THP_FILE"; } 2>/dev/null || echo "$1" | sudo -n tee "$THP_FILE" >/dev/null 2>&1; }
