#!/usr/bin/env bash
# The two plugin images (Dockerfile.general, Dockerfile.migration), built from the binaries the
# Makefile cross-compiled into bin/linux_<arch>/ (make cross), with no registry reachable: they
# start FROM scratch.
#
#   hack/images.sh build       one manifest list per image for $PLATFORMS, tagged $IMAGE_TAG
#   hack/images.sh check       each manifest list names exactly $PLATFORMS, and each platform's
#                              binaries are static ELF executables for that machine
#   hack/images.sh push        push both manifest lists (every platform) to $REGISTRY
#   hack/images.sh engine      only pick the engine, installing buildah when none is found
#                              (make test does this in the background, while unit tests run)
#   hack/images.sh test DIR    both images for this machine only; run each image's entrypoint as
#                              Velero's init container does (an empty, world-writable directory at
#                              /target, the image's own user) and check it installs the binary byte
#                              for byte, mode 0755; check it fails clearly with no /target and with
#                              a /target it cannot write. The installed plugins are left in DIR.
#
# Engine: $IMAGE_ENGINE if set, else the first of buildah, podman, docker (only when its daemon
# answers) found; with none, buildah is installed from apt (Debian's, root or sudo). buildah runs
# daemonless with STORAGE_DRIVER=vfs and BUILDAH_ISOLATION=chroot unless these are set, which works
# as root in an unprivileged container. `make images` sets the variables below; run by hand:
#   IMAGE_REPO  (quay.io/velero-openshift)  IMAGE_TAG (git describe --tags --always --dirty)
#   PLATFORMS   ("linux/amd64 linux/arm64 linux/ppc64le linux/s390x")   REGISTRY (IMAGE_REPO)
#   LICENSES    SPDX expression for the org.opencontainers.image.licenses label (NOASSERTION)
#   IMAGE_SOURCE  org.opencontainers.image.source (https://github.com/velero-openshift/plugins)
#   IMAGE_REVISION  org.opencontainers.image.revision (git rev-parse HEAD)
#   PUSH_TLS_VERIFY=false  push over plain HTTP or to an unverified certificate (a local registry)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

IMAGE_REPO=${IMAGE_REPO:-quay.io/velero-openshift}
IMAGE_TAG=${IMAGE_TAG:-$(git describe --tags --always --dirty 2>/dev/null || true)}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 linux/ppc64le linux/s390x}
REGISTRY=${REGISTRY:-$IMAGE_REPO}
LICENSES=${LICENSES:-NOASSERTION}
IMAGE_SOURCE=${IMAGE_SOURCE:-https://github.com/velero-openshift/plugins}
IMAGE_REVISION=${IMAGE_REVISION:-$(git rev-parse HEAD 2>/dev/null || true)}
[[ -n $IMAGE_TAG ]] || { echo "images: IMAGE_TAG is empty (not a git checkout?): set IMAGE_TAG (and IMAGE_REVISION)" >&2; exit 2; }
# image name | Dockerfile | plugin binary
IMAGES=(
  "openshift-velero-plugin|Dockerfile.general|openshift-velero-plugin"
  "openshift-migration-plugin|Dockerfile.migration|openshift-migration-plugin"
)
# The numeric USER of both Dockerfiles: the owner of what the entrypoint installs.
IMAGE_UID=65532

log() { echo "images: $*" >&2; }
die() { log "$*"; exit 1; }

# ---------------------------------------------------------------- engine

pick_engine() {
  ENGINE=${IMAGE_ENGINE:-}
  if [[ -z $ENGINE ]]; then
    if command -v buildah >/dev/null; then ENGINE=buildah
    elif command -v podman >/dev/null; then ENGINE=podman
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
    else install_buildah; ENGINE=buildah
    fi
  fi
  case $ENGINE in
  buildah)
    export STORAGE_DRIVER=${STORAGE_DRIVER:-vfs} BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}
    # Rootless buildah needs its user namespace to mount images (check) and to run them (test).
    if [[ $(id -u) -ne 0 && -z ${_CONTAINERS_USERNS_CONFIGURED:-} ]]; then
      exec buildah unshare "$0" "$@"
    fi
    ;;
  podman) ;;
  docker) docker info >/dev/null 2>&1 || die "IMAGE_ENGINE=docker but the docker daemon does not answer (docker info)" ;;
  *) die "IMAGE_ENGINE must be buildah, podman or docker, not $ENGINE" ;;
  esac
  log "engine: $ENGINE $("$ENGINE" --version | head -n1)"
}

install_buildah() {
  local start=$SECONDS sudo=
  command -v apt-get >/dev/null || die "no buildah, podman or docker (with a running daemon), and no apt-get to install buildah: install one of them"
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  log "no buildah, podman or docker (with a running daemon): installing buildah (apt)"
  # One apt at a time: hack/build-stack.sh may be installing etcd-server in the background.
  $sudo flock /tmp/velero-openshift-plugins-apt.lock sh -c 'apt-get update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah >/dev/null'
  log "buildah installed in $((SECONDS - start))s"
}

# ---------------------------------------------------------------- helpers

archs() { local p; for p in $PLATFORMS; do echo "${p#linux/}"; done; }

need_binaries() { # arch...
  local a f
  for a in "$@"; do
    for f in install-plugin openshift-velero-plugin openshift-migration-plugin; do
      [[ -x bin/linux_$a/$f ]] || die "missing bin/linux_$a/$f: run make cross (or make images, which does)"
    done
  done
}

build_args() {
  echo --build-arg "VERSION=$IMAGE_TAG" --build-arg "REVISION=${IMAGE_REVISION:-unknown}" \
    --build-arg "SOURCE=$IMAGE_SOURCE" --build-arg "LICENSES=$LICENSES"
}

imagecheck() { go run ./hack/imagecheck "$@"; }

# remove_list NAME: remove the manifest list NAME and the images it lists (a rebuild otherwise
# leaves ~100 MB per platform behind in local storage).
remove_list() {
  local name=$1 digest ids=()
  $ENGINE manifest exists "$name" 2>/dev/null || return 0
  for digest in $($ENGINE manifest inspect "$name" | grep -o 'sha256:[0-9a-f]\{64\}'); do
    # An entry whose image is gone already (pruned) has nothing left to remove.
    case $ENGINE in
    buildah) ids+=($(buildah inspect --type image --format '{{.FromImageID}}' "$name@$digest" 2>/dev/null || true)) ;;
    podman) ids+=($(podman image inspect --format '{{.Id}}' "$name@$digest" 2>/dev/null || true)) ;;
    esac
  done
  $ENGINE manifest rm "$name" >/dev/null
  ((${#ids[@]} == 0)) || $ENGINE rmi "${ids[@]}" >/dev/null
}

# build_list NAME DOCKERFILE PLATFORM...: one manifest list NAME holding the image of each platform.
build_list() {
  local name=$1 file=$2 platforms
  shift 2
  platforms=$(IFS=,; echo "$*")
  # shellcheck disable=SC2046
  case $ENGINE in
  buildah | podman)
    # --manifest adds to a list of that name: start from none, or the old platforms stay listed.
    remove_list "$name"
    $ENGINE build --quiet --pull=never -f "$file" --platform "$platforms" --manifest "$name" $(build_args) . >/dev/null
    ;;
  docker)
    # BuildKit builds every platform; loading them all needs Docker's containerd image store
    # (the default since Docker 29). Not tried on this project's machines: they have no engine.
    docker buildx build --quiet -f "$file" --platform "$platforms" -t "$name" $(build_args) --load . >/dev/null
    ;;
  esac
}

# with_rootfs IMAGE PLATFORM FUNC ARGS...: run FUNC ARGS... with $rootfs set to the file system of
# IMAGE (NAME@DIGEST of one entry of a list; for docker NAME, and PLATFORM picks the image).
with_rootfs() {
  local image=$1 platform=$2 ctr rc=0
  shift 2
  case $ENGINE in
  buildah)
    ctr=$(buildah from --pull=never "$image")
    rootfs=$(buildah mount "$ctr")
    "$@" || rc=$?
    buildah umount "$ctr" >/dev/null
    buildah rm "$ctr" >/dev/null
    ;;
  podman | docker)
    rootfs=$(mktemp -d)
    if [[ $ENGINE == docker ]]; then ctr=$(docker create --pull=never --platform "$platform" "$image")
    else ctr=$(podman create --pull=never "$image"); fi
    $ENGINE export "$ctr" | tar -x -C "$rootfs"
    $ENGINE rm "$ctr" >/dev/null
    "$@" || rc=$?
    rm -rf "$rootfs"
    ;;
  esac
  return $rc
}

# run_entrypoint CTR [TARGET_DIR]: run the image's entrypoint with no arguments, as the image's
# user, as an init container does; TARGET_DIR, when given, is mounted at /target. CTR is a buildah
# working container of the image (each run is a new process: the copier keeps no state in the
# container), or the image itself for podman and docker. The entrypoint's error goes to stdout.
run_entrypoint() {
  local ctr=$1 dir=${2:-} vol=() entrypoint
  [[ -z $dir ]] || vol=(-v "$dir:/target")
  case $ENGINE in
  buildah)
    # buildah run needs the command: the image's ENTRYPOINT, read from the image.
    mapfile -t entrypoint < <(buildah inspect --format '{{range .OCIv1.Config.Entrypoint}}{{println .}}{{end}}' "$ctr" | sed '/^$/d')
    buildah run --isolation "$BUILDAH_ISOLATION" "${vol[@]}" "$ctr" -- "${entrypoint[@]}" 2>&1
    ;;
  podman | docker) $ENGINE run --rm --network none "${vol[@]}" "$ctr" 2>&1 ;;
  esac
}

# said OUTPUT: the copier's own line of an entrypoint's output (engines add their own lines).
said() { grep -m1 '^install-plugin: ' <<<"$1" || echo "$1"; }

# ---------------------------------------------------------------- commands

cmd_build() {
  local spec name file bin platforms=() a t
  for a in $(archs); do platforms+=("linux/$a"); done
  # shellcheck disable=SC2046
  need_binaries $(archs)
  for spec in "${IMAGES[@]}"; do
    IFS='|' read -r name file bin <<<"$spec"
    t=$SECONDS
    build_list "$IMAGE_REPO/$name:$IMAGE_TAG" "$file" "${platforms[@]}"
    log "built $IMAGE_REPO/$name:$IMAGE_TAG for ${platforms[*]} in $((SECONDS - t))s"
  done
}

check_binaries() { # arch bin
  imagecheck elf "$1" "$rootfs/install-plugin" "$rootfs/plugins/$2" | sed "s|$rootfs||"
}

cmd_check() {
  local spec name file bin list platform digest want entries
  want=$(echo $PLATFORMS | tr ' ' ',')
  for spec in "${IMAGES[@]}"; do
    IFS='|' read -r name file bin <<<"$spec"
    list=$IMAGE_REPO/$name:$IMAGE_TAG
    case $ENGINE in
    buildah | podman)
      entries=$($ENGINE manifest inspect "$list" | imagecheck platforms "$want") || die "$list: the manifest list does not name exactly $want"
      ;;
    docker)
      # The local image store shows no manifest list: each platform's image must be there.
      entries=$(for platform in $PLATFORMS; do echo "$platform -"; done)
      ;;
    esac
    while read -r platform digest; do
      log "$list $platform ($digest):"
      local ref=$list@$digest
      [[ $ENGINE != docker ]] || ref=$list
      with_rootfs "$ref" "$platform" check_binaries "${platform#linux/}" "$bin" || die "$list $platform: wrong binaries"
    done <<<"$entries"
    log "$list: $want, each with its own machine's binaries"
  done
}

cmd_push() {
  local spec name file bin src dst tls=()
  [[ ${PUSH_TLS_VERIFY:-true} == true ]] || tls=(--tls-verify=false)
  for spec in "${IMAGES[@]}"; do
    IFS='|' read -r name file bin <<<"$spec"
    src=$IMAGE_REPO/$name:$IMAGE_TAG
    dst=$REGISTRY/$name:$IMAGE_TAG
    case $ENGINE in
    buildah | podman) $ENGINE manifest push --all "${tls[@]}" "$src" "docker://$dst" ;;
    docker)
      [[ $src == "$dst" ]] || docker tag "$src" "$dst"
      docker push "$dst"
      ;;
    esac
    log "pushed $dst"
  done
}

cmd_test() {
  local out=${1:-} arch spec name file bin image ctr dir t0=$SECONDS t fail=0 msg
  [[ -n $out ]] || die "usage: $0 test DIR (where the installed plugins are left)"
  arch=$(go env GOARCH)
  need_binaries "$arch"
  rm -rf "$out"
  mkdir -p "$out"
  for spec in "${IMAGES[@]}"; do
    IFS='|' read -r name file bin <<<"$spec"
    # One fixed name: each run replaces the previous test image.
    image=localhost/velero-openshift-test/$name:latest
    t=$SECONDS
    build_list "$image" "$file" "linux/$arch"
    log "built $image (linux/$arch) in $((SECONDS - t))s"
    ctr=$image
    [[ $ENGINE != buildah ]] || ctr=$(buildah from --pull=never "$image")

    # No /target (the init container without Velero's volume): a clear error, non-zero. First:
    # buildah leaves the mount point of a volume in the container.
    if msg=$(run_entrypoint "$ctr"); then
      log "FAIL $name: the entrypoint succeeded with no /target: $msg"; fail=1
    elif [[ $msg != *"/target does not exist"* ]]; then
      log "FAIL $name: with no /target the entrypoint said: $msg"; fail=1
    else
      log "ok $name: with no /target it fails: $(said "$msg")"
    fi

    # A /target the image's user cannot write (owned by root, 0755).
    dir=$(mktemp -d)
    chmod 0755 "$dir"
    if msg=$(run_entrypoint "$ctr" "$dir"); then
      log "FAIL $name: the entrypoint succeeded with a read-only /target: $msg"; fail=1
    elif [[ $msg != *"/target is not writable by uid $IMAGE_UID"* || -n $(ls -A "$dir") ]]; then
      log "FAIL $name: with a read-only /target it said: $msg (left: $(ls -A "$dir"))"; fail=1
    else
      log "ok $name: with a read-only /target it fails: $(said "$msg")"
    fi
    rm -rf "$dir"

    # As Velero's init container: an empty emptyDir (world-writable) at /target.
    dir=$(mktemp -d)
    chmod 0777 "$dir"
    if ! msg=$(run_entrypoint "$ctr" "$dir"); then
      log "FAIL $name: the entrypoint failed with an empty /target: $msg"; fail=1
    elif ! cmp -s "$dir/$bin" "bin/linux_$arch/$bin"; then
      log "FAIL $name: /target/$bin is not bin/linux_$arch/$bin byte for byte"; fail=1
    elif [[ ! -x $dir/$bin || $(stat -c %a "$dir/$bin") != 755 || $(stat -c %u "$dir/$bin") != "$IMAGE_UID" ]]; then
      log "FAIL $name: /target/$bin has mode $(stat -c %a "$dir/$bin") owner $(stat -c %u "$dir/$bin"), want 755 and uid $IMAGE_UID (the image's user)"; fail=1
    elif [[ $(ls -A "$dir") != "$bin" ]]; then
      log "FAIL $name: /target holds $(ls -A "$dir" | tr '\n' ' '), want only $bin"; fail=1
    else
      log "ok $name: installed /target/$bin ($(stat -c %s "$dir/$bin") bytes, mode 755, uid $IMAGE_UID), identical to bin/linux_$arch/$bin"
      mv "$dir/$bin" "$out/$bin"
    fi
    rm -rf "$dir"
    [[ $ENGINE != buildah ]] || buildah rm "$ctr" >/dev/null
  done
  ((fail == 0)) || die "test: FAIL"
  log "test: PASS in $((SECONDS - t0))s; the plugins the images installed are in $out"
}

cmd_engine() { :; }

case ${1:-} in
build | check | push | test | engine) pick_engine "$@" ;;
*)
  echo "usage: $0 build|check|push|test DIR|engine" >&2
  exit 2
  ;;
esac
"cmd_$1" "${@:2}"
