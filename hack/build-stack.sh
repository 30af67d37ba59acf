#!/usr/bin/env bash
# Build the real components of the local end-to-end stack into bin/stack/ (incremental:
# with a warm Go cache every step takes seconds). The components are pinned by Go modules under
# build/ (see build/README.md). A module's build is serialized (a lock in
# bin/stack/.mod-<module>/), so a run started while another builds the same module waits for it and
# then finds its binaries current; runs building different modules go on side by side.
#
#   hack/build-stack.sh            build everything (and apt-install etcd-server when missing)
#   hack/build-stack.sh NAME...    build only these: kube-apiserver velero-1.18 velero-1.14
#                                  velero-plugin-for-aws s3 registry plugin etcd kubectl
#                                  (plugin: bin/openshift-velero-plugin and bin/openshift-migration-plugin)
#                                  floor-plugin, upstream-floor-plugin (make bench-e2e's baselines;
#                                  not built by default)
#
#   hack/build-stack.sh --download NAME...
#                                  only download the Go modules these components' builds need
#                                  (no compile): .ci/run does it while lint keeps the CPU busy
#
# kubectl is built (from the same pinned k8s.io/kubernetes) only when none is on PATH.
#
# Build times are printed and appended to $E2E_DIR/build-times.log.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${STACK_BIN:-$ROOT/bin/stack}
E2E_DIR=${E2E_DIR:-$ROOT/.e2e}
mkdir -p "$BIN" "$E2E_DIR"
LDFLAGS="-s -w"
# Velero's controller-runtime manager serves its own metrics on controller-runtime's default
# ":8080" (every interface, and the same port for both clusters' servers); Velero has no flag for
# it. Link the default to an ephemeral loopback port instead.
VELERO_LDFLAGS="$LDFLAGS -X sigs.k8s.io/controller-runtime/pkg/metrics/server.DefaultBindAddress=127.0.0.1:0"

# name | module dir under build/ | main package | output name. Components of one module are built
# by one `go build` (their shared packages compiled once, links in parallel). build/stack and
# build/kube require the plugin's own dependency versions where they share a module
# (hack/pin-stack.sh), so most of what they compile the plugin's build has compiled already.
COMPONENTS=(
  "kube-apiserver|kube|k8s.io/kubernetes/cmd/kube-apiserver|kube-apiserver"
  "kubectl|kube|k8s.io/kubernetes/cmd/kubectl|kubectl"
  "velero-1.18|stack|github.com/vmware-tanzu/velero/cmd/velero|velero-1.18"
  "velero-plugin-for-aws|stack|github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws|velero-plugin-for-aws"
  "registry|stack|github.com/distribution/distribution/v3/cmd/registry|registry"
  "velero-1.14|velero-1.14|github.com/vmware-tanzu/velero/cmd/velero|velero-1.14"
  "s3|s3|github.com/versity/versitygw/cmd/versitygw|versitygw"
)

log_time() { # name seconds
  printf '%s %-24s %4ss\n' "$(date -u +%FT%TZ)" "$1" "$2" | tee -a "$E2E_DIR/build-times.log"
}

build_one() {
  local name=$1 spec mod pkg out start
  # Downloads are for the Go modules of build/ only.
  [[ -n $DOWNLOAD_ONLY && $name =~ ^(etcd|plugin|floor-plugin|upstream-floor-plugin)$ ]] && return
  if [[ $name == etcd ]]; then
    if ! command -v etcd >/dev/null; then
      start=$SECONDS
      echo "installing etcd-server (apt)" >&2
      if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
      # One apt at a time: hack/images.sh may be installing buildah.
      $SUDO flock /tmp/velero-openshift-plugins-apt.lock sh -c 'apt-get update -qq >/dev/null &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null'
      log_time etcd $((SECONDS - start))
    fi
    return
  fi
  if [[ $name == kubectl ]] && command -v kubectl >/dev/null && [[ -z ${STACK_BUILD_KUBECTL:-} ]]; then
    return # the stack uses the kubectl on PATH
  fi
  if [[ $name == plugin ]]; then
    # Both plugin binaries (STACK_PLUGIN=general|migration), in one `go build` with the same flags
    # as `make build`, so the stack runs the binaries users get.
    start=$SECONDS
    (cd "$ROOT" && go build -tags containers_image_openpgp -ldflags="$LDFLAGS" -o "$ROOT/bin/" ./openshift-velero-plugin ./openshift-migration-plugin)
    log_time "openshift-velero-plugin + openshift-migration-plugin" $((SECONDS - start))
    return
  fi
  if [[ $name == floor-plugin ]]; then
    # make bench-e2e's baseline: the plugin's registrations with actions that do nothing.
    start=$SECONDS
    (cd "$ROOT" && go build -tags containers_image_openpgp -ldflags="$LDFLAGS" -o "$BIN/openshift-velero-plugin-floor" ./test/e2e/floorplugin)
    log_time openshift-velero-plugin-floor $((SECONDS - start))
    return
  fi
  if [[ $name == upstream-floor-plugin ]]; then
    # make bench-e2e's peer baseline: the upstream plugin's registrations with actions that do nothing.
    start=$SECONDS
    (cd "$ROOT" && go build -tags containers_image_openpgp -ldflags="$LDFLAGS" -o "$BIN/openshift-velero-plugin-upstream-floor" ./test/e2e/upstreamfloorplugin)
    log_time openshift-velero-plugin-upstream-floor $((SECONDS - start))
    return
  fi
  local spec n
  for spec in "${COMPONENTS[@]}"; do
    IFS='|' read -r n _ <<<"$spec"
    if [[ $n == "$name" ]]; then
      GO_COMPONENTS+=("$spec")
      return
    fi
  done
  echo "unknown component: $name" >&2
  return 2
}

# build_module MOD SPEC...: one `go build` of the module's requested components into
# $BIN/.mod-MOD/ (where the go command skips the link of a binary that is current), each then
# hard-linked to its output name in $BIN.
build_module() {
  local mod=$1 start=$SECONDS spec n pkg out ldflags=$LDFLAGS pkgs=() names=()
  shift
  for spec in "$@"; do
    IFS='|' read -r n _ pkg _ <<<"$spec"
    pkgs+=("$pkg")
    names+=("$n")
  done
  if [[ -n $DOWNLOAD_ONLY ]]; then
    (cd "$ROOT/build/$mod" && go list -deps "${pkgs[@]}" >/dev/null)
    log_time "download: module $mod" $((SECONDS - start))
    return
  fi
  for n in "${names[@]}"; do
    if [[ $n == velero-1.* ]]; then
      # Velero reports its version (ServerStatusRequest, `velero version`) from buildinfo.
      ldflags="$VELERO_LDFLAGS -X github.com/vmware-tanzu/velero/pkg/buildinfo.Version=$(cd "$ROOT/build/$mod" && go list -m -f '{{.Version}}' github.com/vmware-tanzu/velero)"
    elif [[ $n == kube-apiserver || $n == kubectl ]]; then
      # Kubernetes reports its version (discovery's /version, which the plugin's cluster facts
      # read) from component-base, as its release build stamps it.
      local kv
      kv=$(cd "$ROOT/build/$mod" && go list -m -f '{{.Version}}' k8s.io/kubernetes)
      kv=${kv#v}
      ldflags="$LDFLAGS -X k8s.io/component-base/version.gitVersion=v$kv -X k8s.io/component-base/version.gitMajor=${kv%%.*} -X k8s.io/component-base/version.gitMinor=$(cut -d. -f2 <<<"$kv") -X k8s.io/component-base/version.gitTreeState=clean"
    fi
  done
  # One build of a module at a time: a second run building the same module (hack/test.sh's
  # background build and e2e's, say) waits for the first, then finds its binaries current. Runs
  # building different modules go on side by side.
  mkdir -p "$BIN/.mod-$mod"
  (cd "$ROOT/build/$mod" && flock "$BIN/.mod-$mod/.lock" go build -ldflags="$ldflags" -o "$BIN/.mod-$mod/" "${pkgs[@]}")
  for spec in "$@"; do
    IFS='|' read -r _ _ pkg out <<<"$spec"
    ln -f "$BIN/.mod-$mod/${pkg##*/}" "$BIN/$out"
  done
  log_time "${names[*]}" $((SECONDS - start))
}

DOWNLOAD_ONLY=
if [[ ${1:-} == --download ]]; then
  DOWNLOAD_ONLY=1
  shift
fi
if [[ $# -eq 0 ]]; then
  set -- etcd kube-apiserver kubectl velero-1.18 velero-1.14 velero-plugin-for-aws s3 registry plugin
fi
GO_COMPONENTS=()
for c in "$@"; do build_one "$c"; done
modules=()
for spec in "${GO_COMPONENTS[@]}"; do
  IFS='|' read -r _ mod _ <<<"$spec"
  [[ " ${modules[*]} " == *" $mod "* ]] || modules+=("$mod")
done
for mod in "${modules[@]}"; do
  specs=()
  for spec in "${GO_COMPONENTS[@]}"; do
    IFS='|' read -r _ m _ <<<"$spec"
    [[ $m == "$mod" ]] && specs+=("$spec")
  done
  build_module "$mod" "${specs[@]}"
done
