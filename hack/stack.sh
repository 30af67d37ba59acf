#!/usr/bin/env bash
# The local end-to-end stack: two "OpenShift" clusters (A and B) made of real components, on
# loopback only.
#
#   hack/stack.sh up      build what is missing, start everything, write $E2E_DIR/env
#   hack/stack.sh down    stop everything `up` started (pid files), keep logs and data
#   hack/stack.sh env     print the env file (eval "$(hack/stack.sh env)" for a shell)
#   hack/stack.sh status  list the components and whether they run
#   hack/stack.sh velero-restart CLUSTER general|migration|without|floor|upstream-floor|both
#                         restart that cluster's Velero server with the general plugin binary
#                         (`with` is the same), the migration binary, no openshift plugin, the
#                         benchmark's do-nothing copy of the general registrations (make bench-e2e),
#                         or both plugin binaries at once (`both` only reports what Velero does:
#                         starts and lists, or exits and why)
#   hack/stack.sh stop-component NAME    stop one component (e.g. migration-registry-a)
#   hack/stack.sh start-component NAME   start a stopped migration-registry-a|b again, same address
#
# What runs (one process each, logs in $E2E_DIR/logs/):
#   etcd (Debian etcd-server)                     one store; each cluster has its own key prefix
#   kube-apiserver A, B                           self-signed cert (SAN 127.0.0.1), static admin
#                                                 token (system:masters), RBAC, OpenShift CRDs
#   versitygw (S3, posix backend)                 bucket "velero", SigV4 credentials checked
#   registry A, B (distribution v3)               each cluster's "internal registry" host: HTTPS
#                                                 with its own CA, htpasswd auth (Velero's plugin
#                                                 logs in with a token file, the tests as e2e-admin)
#   migration-registry-a, -b (distribution v3)    MTC's migration registry: plain HTTP, anonymous;
#                                                 two processes over ONE storage directory, so A and
#                                                 B reach the same registry under different
#                                                 addresses (MIGRATION_REGISTRY_A / _B)
#   velero A, B (server, out of cluster)          plugin dir: velero-plugin-for-aws +
#                                                 openshift-velero-plugin (STACK_PLUGIN=general) or
#                                                 openshift-migration-plugin (STACK_PLUGIN=migration)
#
# Environment:
#   E2E_DIR          work dir (default: <repo>/.e2e)
#   VELERO_VERSION   1.18 (default) or 1.14: which Velero server binary runs
#   STACK_PLUGIN     general (default) or migration: which plugin binary both Velero servers run
#   STACK_PLUGIN_DIR where openshift-velero-plugin and openshift-migration-plugin are taken from
#                    (default <repo>/bin; hack/e2e.sh gives bin/from-images/, what the images
#                    installed)
#   STACK_NO_BUILD=1 do not run hack/build-stack.sh (binaries must exist)
#   STACK_KEEP_ON_FAILURE=1  leave the components running when `up` fails (default: stop them)
#   STACK_PORT_SLICE=I/N  pick the loopback ports from the I-th of N equal slices (from 0) of the
#                    default range (10000 up to the kernel's ephemeral range): hack/e2e.sh gives
#                    stacks started together different slices
#   STACK_AUDIT=1    kube-apiservers write an audit log (Metadata level) to $E2E_DIR/logs/audit-<c>.log
#   VELERO_SERVER_ARGS  extra arguments for both Velero servers (word-split), e.g.
#                    "--item-block-worker-count 2" (Velero 1.18)
set -Eeuo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/goenv.sh" # one build configuration for every go command

ROOT=$(cd "$(dirname "$0")/.." && pwd)
E2E_DIR=${E2E_DIR:-$ROOT/.e2e}
BIN=${STACK_BIN:-$ROOT/bin/stack}
VELERO_VERSION=${VELERO_VERSION:-1.18}
STACK_PLUGIN=${STACK_PLUGIN:-general}
PLUGIN_BIN_DIR=${STACK_PLUGIN_DIR:-$ROOT/bin}
CRDS=$ROOT/test/e2e/crds
LOGS=$E2E_DIR/logs
PIDS=$E2E_DIR/pids
ENV_FILE=$E2E_DIR/env
# kubectl: $KUBECTL, else the one on PATH, else the one hack/build-stack.sh built into bin/stack/.
KUBECTL=${KUBECTL:-$(command -v kubectl || echo "$BIN/kubectl")}
S3_ACCESS_KEY=e2e-velero
S3_SECRET_KEY=e2e-velero-secret-$(printf '%s' "$E2E_DIR" | cksum | cut -d' ' -f1)
BUCKET=velero
CLUSTERS=(a b)
COMPONENTS=(etcd kube-apiserver-a kube-apiserver-b s3 registry-a registry-b migration-registry-a migration-registry-b velero-a velero-b)

log() { printf '%s stack: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
trap 'log "ERROR: command failed (line $LINENO): $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- helpers

declare -A USED_PORTS=()
# Ports are picked below the kernel's ephemeral range: a port chosen inside it can be taken by an
# outgoing connection (kube-apiserver -> etcd, Velero -> apiserver) between the check and the bind.
read -r EPHEMERAL_LO _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || EPHEMERAL_LO=32768
PORT_LO=10000
PORT_SPAN=$((EPHEMERAL_LO - PORT_LO))
((PORT_SPAN >= 1000)) || { PORT_LO=1025; PORT_SPAN=$((EPHEMERAL_LO - PORT_LO)); }
# Stacks started at the same time (hack/e2e.sh runs one per Velero version) each take a slice of
# their own of that range: neither knows which ports the other has picked but not bound yet.
if [[ -n ${STACK_PORT_SLICE:-} ]]; then
  [[ $STACK_PORT_SLICE =~ ^([0-9]+)/([1-9][0-9]*)$ ]] && ((BASH_REMATCH[1] < BASH_REMATCH[2] && PORT_SPAN / BASH_REMATCH[2] >= 100)) ||
    die "STACK_PORT_SLICE must be I/N with I < N and at least 100 ports a slice, not $STACK_PORT_SLICE"
  PORT_SPAN=$((PORT_SPAN / BASH_REMATCH[2]))
  PORT_LO=$((PORT_LO + BASH_REMATCH[1] * PORT_SPAN))
fi
# free_port VAR: set VAR to a loopback TCP port nothing listens on and not handed out before in
# this run (not called in a subshell, so the record of handed-out ports survives).
free_port() {
  local -n __fp_var=$1
  local p
  for _ in $(seq 200); do
    p=$((PORT_LO + (RANDOM * 32768 + RANDOM) % PORT_SPAN))
    [[ -n ${USED_PORTS[$p]:-} ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS[$p]=1
      __fp_var=$p
      return
    fi
  done
  die "no free port found"
}

# start NAME CMD...: run CMD in its own session (so `down` can stop its children too),
# logging to $LOGS/NAME.log, pid in $PIDS/NAME.pid.
start() {
  local name=$1
  shift
  setsid "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$PIDS/$name.pid"
}

alive() { [[ -f $PIDS/$1.pid ]] && kill -0 "$(cat "$PIDS/$1.pid")" 2>/dev/null; }

# fail_component NAME MESSAGE: a component that cannot start is a failure with its log attached
# (the last 40 lines; the whole log under CI=true, where nobody can look at $LOGS afterwards).
fail_component() {
  log "ERROR: $1: $2"
  if [[ -f $LOGS/$1.log ]]; then
    if [[ ${CI:-} == true ]]; then
      echo "----- $LOGS/$1.log -----" >&2
      cat "$LOGS/$1.log" >&2
    else
      echo "----- last lines of $LOGS/$1.log -----" >&2
      tail -n 40 "$LOGS/$1.log" >&2
    fi
    echo "-----" >&2
  else
    log "no log at $LOGS/$1.log"
  fi
  exit 1
}

# wait_for NAME TIMEOUT_S CMD...: poll CMD until it succeeds; fail with NAME's log tail if NAME
# dies or the time runs out.
wait_for() {
  local name=$1 timeout=$2 deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    alive "$name" || fail_component "$name" "exited during start-up"
    ((SECONDS < deadline)) || fail_component "$name" "not ready after ${timeout}s"
    sleep 0.2
  done
}

kc() { # cluster kubectl-args...
  local c=$1
  shift
  KUBECONFIG=$E2E_DIR/$c/kubeconfig "$KUBECTL" "$@"
}

# ---------------------------------------------------------------- components

start_etcd() {
  free_port ETCD_PORT
  local peer
  free_port peer
  mkdir -p "$E2E_DIR/etcd"
  start etcd etcd --name e2e --data-dir "$E2E_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "e2e=http://127.0.0.1:$peer" --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -fsS -m 2 "http://127.0.0.1:$ETCD_PORT/health"
  log "etcd ready on 127.0.0.1:$ETCD_PORT"
}

start_apiserver() { # cluster
  local c=$1 dir=$E2E_DIR/$1 port token
  free_port port
  mkdir -p "$dir/pki"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=e2e-apiserver-$c" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -addext "basicConstraints=critical,CA:TRUE" \
    -keyout "$dir/pki/serving.key" -out "$dir/pki/serving.crt" 2>/dev/null
  openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  echo "$token,e2e-admin,e2e-admin,system:masters" >"$dir/pki/tokens.csv"
  local audit=()
  if [[ -n ${STACK_AUDIT:-} ]]; then
    cat >"$dir/audit-policy.yaml" <<EOF
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
EOF
    audit=(--audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$LOGS/audit-$c.log"
      --audit-log-format json --audit-log-maxsize 0 --audit-log-mode blocking)
  fi
  start "kube-apiserver-$c" "$BIN/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" --etcd-prefix "/cluster-$c" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$port" \
    --cert-dir "$dir/pki" --tls-cert-file "$dir/pki/serving.crt" --tls-private-key-file "$dir/pki/serving.key" \
    --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
    --service-account-issuer "https://kubernetes.default.svc" \
    --token-auth-file "$dir/pki/tokens.csv" --authorization-mode RBAC \
    --service-cluster-ip-range 10.0.0.0/24 --disable-admission-plugins ServiceAccount \
    --allow-privileged=true --enable-priority-and-fairness=false --profiling=false "${audit[@]}"
  cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: $c
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(base64 -w0 <"$dir/pki/serving.crt")
users:
- name: e2e-admin
  user:
    token: $token
contexts:
- name: $c
  context: {cluster: $c, user: e2e-admin}
current-context: $c
EOF
  chmod 600 "$dir/kubeconfig"
  eval "APISERVER_PORT_${c^^}=$port"
}

wait_apiserver() { # cluster
  local c=$1
  wait_for "kube-apiserver-$c" 90 kc "$c" get --raw /readyz --request-timeout=2s
  log "kube-apiserver $c ready on https://127.0.0.1:$(eval echo "\$APISERVER_PORT_${c^^}")"
}

start_s3() {
  free_port S3_PORT
  mkdir -p "$E2E_DIR/s3/data" "$E2E_DIR/s3/meta"
  start s3 env ROOT_ACCESS_KEY="$S3_ACCESS_KEY" ROOT_SECRET_KEY="$S3_SECRET_KEY" \
    "$BIN/versitygw" --port "127.0.0.1:$S3_PORT" --region us-east-1 \
    posix --sidecar "$E2E_DIR/s3/meta" "$E2E_DIR/s3/data"
  wait_for s3 30 curl -sS -m 2 -o /dev/null "http://127.0.0.1:$S3_PORT/"
  # Credentials are checked: an unsigned and a wrongly signed request are refused...
  local code
  code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$S3_ACCESS_KEY:wrong-secret" "http://127.0.0.1:$S3_PORT/")
  [[ $code == 403 ]] || fail_component s3 "a request signed with a wrong secret got HTTP $code, want 403"
  # ...and the right ones create the bucket.
  curl -fsS -m 10 -o /dev/null -X PUT -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "http://127.0.0.1:$S3_PORT/$BUCKET" ||
    fail_component s3 "creating bucket $BUCKET failed"
  cat >"$E2E_DIR/s3/credentials" <<EOF
[default]
aws_access_key_id = $S3_ACCESS_KEY
aws_secret_access_key = $S3_SECRET_KEY
EOF
  chmod 600 "$E2E_DIR/s3/credentials"
  log "S3 (versitygw) ready on 127.0.0.1:$S3_PORT, bucket $BUCKET"
}

# registry_config DATA_DIR PORT: the part of a distribution registry config both kinds of
# registry share (filesystem storage with deletes, a loopback address, quiet logs); the caller
# appends TLS and authentication where it wants them.
registry_config() {
  cat <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $1
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$2
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
EOF
}

# start_registry CLUSTER: the cluster's "internal registry" over HTTPS with its own CA (as the
# service CA signs OpenShift's registry certificate) and htpasswd authentication. Two users:
# "serviceaccount", whose password is the token in $dir/token that Velero's openshift plugin reads
# (OPENSHIFT_IMAGESTREAM_TOKEN_FILE; the plugin sends it as bearer token and, to a registry asking
# for basic auth, as the password of user "serviceaccount"), and "e2e-admin" for the tests
# ($dir/credentials: one "user:password" line).
start_registry() { # cluster
  local c=$1 dir=$E2E_DIR/$1/registry port token admin
  free_port port
  mkdir -p "$dir/data"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 -subj "/CN=e2e-registry-ca-$c" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=e2e-registry-$c" \
    -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
  openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
    -extfile <(printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth") -out "$dir/tls.crt" 2>/dev/null
  rm -f "$dir/tls.csr" "$dir/ca.srl"
  token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  admin=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
  (umask 077 && printf '%s\n' "$token" >"$dir/token" && printf 'e2e-admin:%s\n' "$admin" >"$dir/credentials")
  # bcrypt, the one hash format distribution's htpasswd accepts (build/stack/htpasswd).
  printf 'serviceaccount:%s\ne2e-admin:%s\n' "$token" "$admin" | (cd "$ROOT/build/stack" && go run ./htpasswd) >"$dir/htpasswd" ||
    die "registry $c: generating the htpasswd file (build/stack/htpasswd) failed"
  {
    registry_config "$dir/data" "$port"
    cat <<EOF
  tls:
    certificate: $dir/tls.crt
    key: $dir/tls.key
auth:
  htpasswd:
    realm: e2e-registry-$c
    path: $dir/htpasswd
EOF
  } >"$dir/config.yml"
  # No OpenTelemetry exporter: distribution v3 otherwise posts traces to localhost:4318 and logs
  # an error each time.
  start "registry-$c" env OTEL_TRACES_EXPORTER=none "$BIN/registry" serve "$dir/config.yml"
  local url=https://127.0.0.1:$port/v2/ code
  wait_for "registry-$c" 30 curl -fsS -m 2 --cacert "$dir/ca.crt" -u "e2e-admin:$admin" "$url"
  # Authentication is required, and the plugin's token is accepted (TLS verified against the CA).
  code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' --cacert "$dir/ca.crt" "$url")
  [[ $code == 401 ]] || fail_component "registry-$c" "an anonymous request got HTTP $code, want 401"
  code=$(curl -sS -m 5 -o /dev/null -w '%{http_code}' --cacert "$dir/ca.crt" -u "serviceaccount:$token" "$url")
  [[ $code == 200 ]] || fail_component "registry-$c" "the plugin's token (user serviceaccount) got HTTP $code, want 200"
  eval "REGISTRY_${c^^}=127.0.0.1:$port"
  log "registry $c ready on https://127.0.0.1:$port (own CA, htpasswd auth)"
}

# start_migration_registry SIDE: one of the two processes serving MTC's migration registry (a
# distribution registry on plain HTTP without authentication, as MTC deploys it). Both sides share
# one storage directory, so an image pushed through A's address is served through B's: the Backup
# names A's address, the Restore B's, and a restore that used the backup's address fails once the
# A side is stopped (hack/stack.sh stop-component migration-registry-a). The config is kept, so
# start-component starts a side again on the same address.
start_migration_registry() { # a|b
  local side=$1 dir=$E2E_DIR/migration-registry port cfg
  cfg=$dir/config-$side.yml
  mkdir -p "$dir/data"
  if [[ ! -f $cfg ]]; then
    free_port port
    registry_config "$dir/data" "$port" >"$cfg"
  fi
  port=$(sed -n 's/^  addr: 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$cfg")
  [[ -n $port ]] || die "migration registry $side: no address in $cfg"
  start "migration-registry-$side" env OTEL_TRACES_EXPORTER=none "$BIN/registry" serve "$cfg"
  # Anonymous and plain HTTP: /v2/ answers 200 without credentials.
  wait_for "migration-registry-$side" 30 curl -fsS -m 2 "http://127.0.0.1:$port/v2/"
  eval "MIGRATION_REGISTRY_${side^^}=127.0.0.1:$port"
  log "migration registry side $side ready on http://127.0.0.1:$port (anonymous; storage $dir/data)"
}

install_cluster_objects() { # cluster
  local c=$1 registry domain
  registry=$(eval echo "\$REGISTRY_${c^^}")
  domain=apps.$c.example
  kc "$c" apply --server-side -f "$CRDS" >/dev/null
  "$VELERO_BIN" install --crds-only --dry-run -o yaml 2>/dev/null | kc "$c" apply --server-side -f - >/dev/null
  kc "$c" wait --for condition=established --timeout=60s crd --all >/dev/null
  kc "$c" apply --server-side -f - >/dev/null <<EOF
apiVersion: config.openshift.io/v1
kind: Image
metadata:
  name: cluster
spec: {}
---
apiVersion: config.openshift.io/v1
kind: Ingress
metadata:
  name: cluster
spec:
  domain: $domain
---
apiVersion: config.openshift.io/v1
kind: ClusterVersion
metadata:
  name: version
spec:
  clusterID: $(cat /proc/sys/kernel/random/uuid)
---
apiVersion: imageregistry.operator.openshift.io/v1
kind: Config
metadata:
  name: cluster
spec:
  managementState: Managed
  replicas: 1
---
apiVersion: v1
kind: Namespace
metadata:
  name: velero
---
apiVersion: v1
kind: Namespace
metadata:
  name: openshift
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: velero
  namespace: velero
  labels: {component: velero}
spec:
  replicas: 1
  selector:
    matchLabels: {component: velero}
  template:
    metadata:
      labels: {component: velero}
    spec:
      containers:
      - name: velero
        image: velero/velero:v$VELERO_VERSION
---
apiVersion: velero.io/v1
kind: BackupStorageLocation
metadata:
  name: default
  namespace: velero
spec:
  provider: aws
  default: true
  objectStorage:
    bucket: $BUCKET
  config:
    region: us-east-1
    s3ForcePathStyle: "true"
    s3Url: http://127.0.0.1:$S3_PORT
    checksumAlgorithm: ""
EOF
  kc "$c" patch image.config.openshift.io cluster --subresource=status --type=merge \
    -p "{\"status\":{\"internalRegistryHostname\":\"$registry\"}}" >/dev/null
  local now
  now=$(date -u +%FT%TZ)
  kc "$c" patch clusterversion version --subresource=status --type=merge -p "{\"status\":{
    \"desired\":{\"version\":\"4.16.3\",\"image\":\"quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64\"},
    \"history\":[{\"state\":\"Completed\",\"version\":\"4.16.3\",\"image\":\"quay.io/openshift-release-dev/ocp-release:4.16.3-x86_64\",
      \"startedTime\":\"$now\",\"completionTime\":\"$now\",\"verified\":false}],
    \"observedGeneration\":1,\"versionHash\":\"e2e\",\"availableUpdates\":[]}}" >/dev/null
  log "cluster $c: CRDs and singletons installed (registry $registry, domain $domain)"
}

# prepare_plugins DIR PLUGIN...: a plugin dir holding these binaries (hard links when possible).
prepare_plugins() {
  local dir=$1 f
  shift
  rm -rf "$dir"
  mkdir -p "$dir"
  for f in "$@"; do
    [[ -x $f ]] || die "missing $f (run hack/build-stack.sh)"
    ln -f "$f" "$dir/" 2>/dev/null || cp -f "$f" "$dir/"
  done
}

# plugin_binary MODE: the openshift plugin binary of a mode (general or migration), from
# PLUGIN_BIN_DIR (velero-restart takes it from the env file, as `up` had it).
plugin_binary() {
  case $1 in
  general) echo "$PLUGIN_BIN_DIR/openshift-velero-plugin" ;;
  migration) echo "$PLUGIN_BIN_DIR/openshift-migration-plugin" ;;
  *) die "STACK_PLUGIN must be general or migration, not $1" ;;
  esac
}

start_velero() { # cluster [plugin dir]
  local c=$1 plugin_dir=${2:-$E2E_DIR/plugins} metrics profiler
  free_port metrics
  free_port profiler
  local extra_env=()
  if [[ $VELERO_VERSION == 1.14 ]]; then
    # Velero 1.14 refuses a plugin binary that lists a kind it does not know (ItemBlockAction).
    extra_env+=(OPENSHIFT_VELERO_PLUGIN_ITEM_BLOCK_ACTIONS=false)
  fi
  # The openshift plugin's image copy reaches this cluster's registry with the token and CA an
  # in-cluster Velero has mounted (service-account token, service CA).
  # VELERO_NAMESPACE as Velero's own deployment sets it: the plugins find their ConfigMap by it
  # before a Backup names the namespace (AppliesTo).
  start "velero-$c" env KUBECONFIG="$E2E_DIR/$c/kubeconfig" VELERO_NAMESPACE=velero \
    AWS_SHARED_CREDENTIALS_FILE="$E2E_DIR/s3/credentials" \
    OPENSHIFT_IMAGESTREAM_TOKEN_FILE="$E2E_DIR/$c/registry/token" \
    OPENSHIFT_IMAGESTREAM_CA_FILE="$E2E_DIR/$c/registry/ca.crt" "${extra_env[@]}" \
    "$VELERO_BIN" server --namespace velero --plugin-dir "$plugin_dir" \
    --metrics-address "127.0.0.1:$metrics" --profiler-address "127.0.0.1:$profiler" \
    --backup-sync-period 5s --store-validation-frequency 10s --log-level info ${VELERO_SERVER_ARGS:-}
}

wait_velero() { # cluster
  local c=$1
  wait_for "velero-$c" 120 bash -c "[[ \$(KUBECONFIG='$E2E_DIR/$c/kubeconfig' '$KUBECTL' -n velero get backupstoragelocation default --request-timeout=5s -o jsonpath='{.status.phase}') == Available ]]"
  log "velero $c (v$VELERO_VERSION) ready: BackupStorageLocation default is Available"
}

write_env() {
  cat >"$ENV_FILE.tmp" <<EOF
E2E_DIR=$E2E_DIR
VELERO_VERSION=$VELERO_VERSION
VELERO_BIN=$VELERO_BIN
VELERO_NAMESPACE=velero
KUBECONFIG_A=$E2E_DIR/a/kubeconfig
KUBECONFIG_B=$E2E_DIR/b/kubeconfig
APISERVER_A=https://127.0.0.1:$APISERVER_PORT_A
APISERVER_B=https://127.0.0.1:$APISERVER_PORT_B
REGISTRY_A=$REGISTRY_A
REGISTRY_B=$REGISTRY_B
REGISTRY_CA_A=$E2E_DIR/a/registry/ca.crt
REGISTRY_CA_B=$E2E_DIR/b/registry/ca.crt
REGISTRY_CREDENTIALS_A=$E2E_DIR/a/registry/credentials
REGISTRY_CREDENTIALS_B=$E2E_DIR/b/registry/credentials
MIGRATION_REGISTRY_A=$MIGRATION_REGISTRY_A
MIGRATION_REGISTRY_B=$MIGRATION_REGISTRY_B
MIGRATION_REGISTRY_DIR=$E2E_DIR/migration-registry/data
STACK_PLUGIN=$STACK_PLUGIN
STACK_SCRIPT=$ROOT/hack/stack.sh
PLUGIN_BIN_DIR=$PLUGIN_BIN_DIR
APPS_DOMAIN_A=apps.a.example
APPS_DOMAIN_B=apps.b.example
ETCD_URL=http://127.0.0.1:$ETCD_PORT
ETCD_PREFIX_A=/cluster-a
ETCD_PREFIX_B=/cluster-b
S3_URL=http://127.0.0.1:$S3_PORT
S3_BUCKET=$BUCKET
AWS_SHARED_CREDENTIALS_FILE=$E2E_DIR/s3/credentials
LOG_DIR=$LOGS
EOF
  mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- commands

# stop_group NAME...: TERM each component's process group, wait up to 10 s for all, then KILL.
stop_group() {
  local name pid f pids=() names=()
  for name in "$@"; do
    f=$PIDS/$name.pid
    [[ -f $f ]] || continue
    pid=$(cat "$f")
    rm -f "$f"
    kill -0 "$pid" 2>/dev/null || continue
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    pids+=("$pid")
    names+=("$name")
  done
  ((${#pids[@]})) || return 0
  for _ in $(seq 50); do
    local running=
    for pid in "${pids[@]}"; do if kill -0 "$pid" 2>/dev/null; then running=1; fi; done
    [[ -n $running ]] || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; fi
  done
  log "stopped ${names[*]}"
  STOPPED=1
}

cmd_down() {
  STOPPED=
  [[ -d $PIDS ]] || { log "nothing was running"; return 0; }
  # Dependency order: Velero, then what it talks to, then the store.
  stop_group velero-a velero-b
  stop_group registry-a registry-b migration-registry-a migration-registry-b s3 kube-apiserver-a kube-apiserver-b
  stop_group etcd
  rm -f "$ENV_FILE"
  [[ -n $STOPPED ]] || log "nothing was running"
}

cmd_up() {
  local t0=$SECONDS name
  case $VELERO_VERSION in
    1.18 | 1.14) ;;
    *) die "VELERO_VERSION must be 1.18 or 1.14, not $VELERO_VERSION" ;;
  esac
  [[ $STACK_PLUGIN == general || $STACK_PLUGIN == migration ]] || die "STACK_PLUGIN must be general or migration, not $STACK_PLUGIN"
  VELERO_BIN=$BIN/velero-$VELERO_VERSION
  local plugin
  plugin=$(plugin_binary "$STACK_PLUGIN")
  for name in "${COMPONENTS[@]}"; do
    alive "$name" && die "$name is already running (hack/stack.sh down first)"
  done
  if [[ -z ${STACK_NO_BUILD:-} ]]; then
    "$ROOT/hack/build-stack.sh" etcd kube-apiserver kubectl "velero-$VELERO_VERSION" velero-plugin-for-aws s3 registry plugin
  fi
  for f in kube-apiserver "velero-$VELERO_VERSION" velero-plugin-for-aws versitygw registry; do
    [[ -x $BIN/$f ]] || die "missing $BIN/$f (run hack/build-stack.sh)"
  done
  command -v etcd >/dev/null || die "etcd not installed (hack/build-stack.sh etcd installs Debian's etcd-server)"
  [[ -x $KUBECTL ]] || die "no kubectl on PATH and none at $KUBECTL (hack/build-stack.sh kubectl)"

  # Fresh state every time; logs of the previous run are replaced.
  rm -rf "$E2E_DIR/etcd" "$E2E_DIR/a" "$E2E_DIR/b" "$E2E_DIR/s3" "$E2E_DIR/migration-registry" "$LOGS" "$PIDS"
  mkdir -p "$LOGS" "$PIDS"
  if [[ -z ${STACK_KEEP_ON_FAILURE:-} ]]; then
    trap 'rc=$?; if ((rc != 0)); then log "up failed: stopping what started"; cmd_down; fi' EXIT
  fi

  start_etcd
  for c in "${CLUSTERS[@]}"; do start_apiserver "$c"; done
  start_s3
  for c in "${CLUSTERS[@]}"; do start_registry "$c"; done
  for c in "${CLUSTERS[@]}"; do start_migration_registry "$c"; done
  for c in "${CLUSTERS[@]}"; do wait_apiserver "$c"; done
  for c in "${CLUSTERS[@]}"; do install_cluster_objects "$c"; done
  prepare_plugins "$E2E_DIR/plugins" "$BIN/velero-plugin-for-aws" "$plugin"
  for c in "${CLUSTERS[@]}"; do start_velero "$c"; done
  for c in "${CLUSTERS[@]}"; do wait_velero "$c"; done
  write_env
  trap - EXIT
  log "up in $((SECONDS - t0))s with the $STACK_PLUGIN plugin ($plugin); env: $ENV_FILE (hack/stack.sh env), logs: $LOGS"
}

cmd_env() {
  [[ -f $ENV_FILE ]] || die "no env file: the stack is not up (hack/stack.sh up)"
  sed 's/^/export /' "$ENV_FILE"
}

# velero_plugin_counts CLUSTER SSR: "<general> <migration>", the number of openshift.io/ and of
# migration.openshift.io/ actions a processed ServerStatusRequest lists.
velero_plugin_counts() {
  local names
  names=$(kc "$1" -n velero get "$2" -o jsonpath='{.status.plugins[*].name}' | tr ' ' '\n')
  echo "$(grep -c '^openshift\.io/' <<<"$names" || true) $(grep -c '^migration\.openshift\.io/' <<<"$names" || true)"
}

# cmd_velero_restart CLUSTER MODE: restart one Velero server with the plugin dir of MODE; ready
# when a ServerStatusRequest it answers lists what MODE means:
#   general (or with)  openshift.io/ actions and no migration.openshift.io/ ones
#   migration          migration.openshift.io/ actions (and the general ones it also serves)
#   without            no openshift.io/ action
#   floor              openshift.io/ actions (the do-nothing copy of the general registrations)
#   upstream-floor     openshift.io/ actions (do-nothing actions under the upstream plugin's
#                      registrations and AppliesTo)
#   both               both binaries at once: not a working mode. It waits until Velero either
#                      answers (prints what it lists) or exits (prints its exit code and the
#                      line of its log saying why) and returns 0 in both cases; the caller
#                      asserts. Restart in another mode afterwards.
# The server need not be running (e.g. after `both`).
cmd_velero_restart() {
  local c=${1:-} mode=${2:-} dir
  [[ $c == a || $c == b ]] && [[ $mode =~ ^(general|with|migration|without|floor|upstream-floor|both)$ ]] ||
    die "usage: $0 velero-restart a|b general|migration|without|floor|upstream-floor|both"
  [[ -f $ENV_FILE ]] || die "the stack is not up"
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  if alive "velero-$c"; then stop_group "velero-$c"; else log "velero-$c was not running"; fi
  case $mode in
  general | with)
    dir=$E2E_DIR/plugins-general
    prepare_plugins "$dir" "$BIN/velero-plugin-for-aws" "$(plugin_binary general)"
    ;;
  migration)
    dir=$E2E_DIR/plugins-migration
    prepare_plugins "$dir" "$BIN/velero-plugin-for-aws" "$(plugin_binary migration)"
    ;;
  without)
    dir=$E2E_DIR/plugins-without-openshift
    prepare_plugins "$dir" "$BIN/velero-plugin-for-aws"
    ;;
  floor)
    dir=$E2E_DIR/plugins-floor
    prepare_plugins "$dir" "$BIN/velero-plugin-for-aws" "$BIN/openshift-velero-plugin-floor"
    ;;
  upstream-floor)
    dir=$E2E_DIR/plugins-upstream-floor
    prepare_plugins "$dir" "$BIN/velero-plugin-for-aws" "$BIN/openshift-velero-plugin-upstream-floor"
    ;;
  both)
    dir=$E2E_DIR/plugins-both
    prepare_plugins "$dir" "$BIN/velero-plugin-for-aws" "$(plugin_binary general)" "$(plugin_binary migration)"
    ;;
  esac
  mv "$LOGS/velero-$c.log" "$LOGS/velero-$c.$(date +%s%N).log" 2>/dev/null || true
  start_velero "$c" "$dir"
  local pid ssr counts general migration
  pid=$(cat "$PIDS/velero-$c.pid")
  ssr=$(kc "$c" -n velero create -o name -f - <<EOF
apiVersion: velero.io/v1
kind: ServerStatusRequest
metadata: {generateName: restart-, namespace: velero}
EOF
)
  processed() { [[ $(kc "$c" -n velero get "$ssr" -o jsonpath='{.status.phase}' --request-timeout=5s) == Processed ]]; }
  if [[ $mode == both ]]; then
    local deadline=$((SECONDS + 120)) code=0 why
    while kill -0 "$pid" 2>/dev/null && ! processed 2>/dev/null; do
      ((SECONDS < deadline)) || fail_component "velero-$c" "with both plugin binaries: neither exited nor answered after 120s"
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      read -r general migration <<<"$(velero_plugin_counts "$c" "$ssr")"
      echo "velero-$c with both plugin binaries: running; lists $general openshift.io/ and $migration migration.openshift.io/ actions"
    else
      wait "$pid" 2>/dev/null || code=$?
      why=$(grep -m1 'unable to register plugin' "$LOGS/velero-$c.log" || tail -n1 "$LOGS/velero-$c.log")
      echo "velero-$c with both plugin binaries: exited with code $code: $why"
    fi
    return 0
  fi
  wait_for "velero-$c" 120 processed
  read -r general migration <<<"$(velero_plugin_counts "$c" "$ssr")"
  local ok=
  case $mode in
  general | with) ((general > 0 && migration == 0)) && ok=1 ;;
  migration) ((migration > 0 && general > 0)) && ok=1 ;;
  without) ((general == 0 && migration == 0)) && ok=1 ;;
  floor | upstream-floor) ((general > 0)) && ok=1 ;;
  esac
  [[ -n $ok ]] || fail_component "velero-$c" "restarted in mode $mode, but it lists $general openshift.io/ and $migration migration.openshift.io/ actions"
  log "velero $c restarted in mode $mode ($general openshift.io/, $migration migration.openshift.io/ actions)"
}

# cmd_stop_component NAME: stop one running component (its process group).
cmd_stop_component() {
  local name=${1:-}
  [[ " ${COMPONENTS[*]} " == *" $name "* ]] || die "usage: $0 stop-component NAME (one of: ${COMPONENTS[*]})"
  alive "$name" || die "$name is not running"
  stop_group "$name"
}

# cmd_start_component NAME: start a stopped migration registry side again on its address (the
# other components are started only by `up`, which knows their order and configuration).
cmd_start_component() {
  local name=${1:-}
  [[ $name == migration-registry-a || $name == migration-registry-b ]] || die "usage: $0 start-component migration-registry-a|migration-registry-b"
  [[ -f $ENV_FILE ]] || die "the stack is not up"
  alive "$name" && die "$name is already running"
  [[ -f $E2E_DIR/migration-registry/config-${name#migration-registry-}.yml ]] || die "$name was never started (no config)"
  start_migration_registry "${name#migration-registry-}"
}

cmd_status() {
  local name
  for name in "${COMPONENTS[@]}"; do
    if alive "$name"; then echo "$name running (pid $(cat "$PIDS/$name.pid"))"; else echo "$name stopped"; fi
  done
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  velero-restart) cmd_velero_restart "${@:2}" ;;
  stop-component) cmd_stop_component "${@:2}" ;;
  start-component) cmd_start_component "${@:2}" ;;
  *)
    echo "usage: $0 up|down|env|status|velero-restart|stop-component|start-component" >&2
    exit 2
    ;;
esac
