#!/usr/bin/env bash
# The stack modules that can (build/stack: Velero 1.18, velero-plugin-for-aws, the registry;
# build/kube: kube-apiserver, kubectl) require the plugin module's own version of
# every module they share with it. With one build configuration (hack/goenv.sh) the Go build
# cache then compiles each shared package once, for the plugin, its tests and the stack alike,
# instead of once per version: on a fresh machine that is most of the stack's compile time.
# Velero 1.14 (build/velero-1.14) keeps its own, older versions.
#
#   hack/pin-stack.sh          require the plugin's versions in build/stack and build/kube, tidy,
#                              then check
#   hack/pin-stack.sh --check  list the shared modules whose version differs from the plugin's
#                              (a component that needs a newer one than the plugin has); exit 1
#                              when a module the plugin's go.mod was bumped for is left behind
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# module dir under build/ | the component packages it builds
PINNED=(
  "stack|github.com/vmware-tanzu/velero/cmd/velero github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws github.com/distribution/distribution/v3/cmd/registry ./htpasswd"
  "kube|k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl"
)
mods_of() { # dir packages...: "path version" of every non-main module the packages link
  local dir=$1
  shift
  (cd "$dir" && go list -deps -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}' "$@") | sort -u
}
plugin_mods=$(mktemp)
trap 'rm -f "$plugin_mods"' EXIT
# Every build of the plugin module: its binaries, all tests, lint's tags.
(go list -deps -test -tags containers_image_openpgp,e2e,e2ebench,integration \
  -f '{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}' ./...) | sort -u >"$plugin_mods"

if [[ ${1:-} != --check ]]; then
  for spec in "${PINNED[@]}"; do
    IFS='|' read -r mod _ <<<"$spec"
    args=()
    while read -r p v; do args+=("-require=$p@$v"); done <"$plugin_mods"
    (cd "build/$mod" && go mod edit "${args[@]}" && go mod tidy -e)
  done
fi

status=0
for spec in "${PINNED[@]}"; do
  IFS='|' read -r mod pkgs <<<"$spec"
  # shellcheck disable=SC2086 # pkgs is a word list
  diverged=$(join "$plugin_mods" <(mods_of "build/$mod" $pkgs) | awk '$2 != $3 {print "  " $1 ": plugin " $2 ", build/'"$mod"' " $3}')
  shared=$(join "$plugin_mods" <(mods_of "build/$mod" $pkgs) | wc -l)
  if [[ -z $diverged ]]; then
    echo "build/$mod: all $shared modules shared with the plugin at the plugin's versions"
    continue
  fi
  echo "build/$mod: $shared modules shared with the plugin; at other versions (compiled twice):"
  echo "$diverged"
  # A shared module at a LOWER version than the plugin's means build/$mod was not re-pinned after
  # the plugin's go.mod changed: that costs a fresh machine a compile, and is fixed by running
  # this script without --check. A higher one is what a component needs and stays.
  while read -r p pv sv; do
    if [[ $(printf '%s\n%s\n' "$pv" "$sv" | sort -V | head -1) == "$sv" && $pv != "$sv" ]]; then
      echo "build/$mod: $p $sv is behind the plugin's $pv: run hack/pin-stack.sh" >&2
      status=1
    fi
  done < <(join "$plugin_mods" <(mods_of "build/$mod" $pkgs) | awk '$2 != $3')
done
exit $status
