#!/usr/bin/env bash
# Builds the real control-plane tools from the Go module proxy into a cache
# outside the repo, keyed by version, so a second run only checks stamps.
#
#   testkit/cluster/build-tools.sh              # build what is missing, print the bin dir
#   testkit/cluster/build-tools.sh nats-server  # only these components (etcd,
#                                               # nats-server, helm, kubernetes,
#                                               # actionlint, prometheus)
#   SPOTSWARM_CACHE=/somewhere testkit/...      # use another cache root
#
# Each component builds under its own lock, so concurrent callers wait for
# one build instead of racing it.
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces every staging
# module with a local path), so it is built from a wrapper module that requires
# it and points each staging module at its published v0.Y.Z version. etcd's
# server module has the same shape, so it gets a wrapper too.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
HELM_VERSION="${HELM_VERSION:-v3.20.2}"
NATS_VERSION="${NATS_VERSION:-v2.15.2}"
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-v1.7.12}"
# Prometheus 3.16 (its Go module is tagged v0.316.0); built without the web UI
# assets and, with the remove_all_sd tag, without the cloud service-discovery
# plugins (static and file targets stay), which the tests do not need and whose
# SDKs take most of a cold build.
PROM_VERSION="${PROM_VERSION:-v0.316.0}"

CACHE="${SPOTSWARM_CACHE:-$HOME/.cache/spotswarm}"
TOOLS="$CACHE/tools"
mkdir -p "$TOOLS"

log() { printf '[build-tools %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { log "FAILED building $1: $2"; exit 1; }

# Runs a long command, printing a heartbeat so the user sees it is alive, and
# keeping the full output in a log file that is shown on failure.
run_logged() {
  local what="$1" logfile="$2"; shift 2
  local start=$SECONDS
  ( "$@" ) >"$logfile" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 15
    kill -0 "$pid" 2>/dev/null && log "$what: still building ($((SECONDS - start))s)"
  done
  if ! wait "$pid"; then
    tail -n 40 "$logfile" >&2
    fail "$what" "see $logfile"
  fi
  log "$what: done in $((SECONDS - start))s"
}

k8s_dir="$TOOLS/kubernetes-$K8S_VERSION"
build_kubernetes() {
  local bins=(kube-apiserver kube-scheduler kube-controller-manager kubectl)
  local missing=0
  for b in "${bins[@]}"; do [[ -x "$k8s_dir/bin/$b" ]] || missing=1; done
  if [[ $missing == 0 ]]; then log "kubernetes $K8S_VERSION: cached"; return; fi
  log "kubernetes $K8S_VERSION: building ${bins[*]} (cold builds take 10-30 min on 2 cores)"
  local src="$k8s_dir/src"
  mkdir -p "$src" "$k8s_dir/bin"
  local modfile
  modfile="$(cd "$src" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')" \
    || fail kubernetes "cannot download k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local patch="${K8S_VERSION##*.}"
  {
    echo "module spotswarm.local/kubernetes-tools"
    echo
    grep -E '^go [0-9]' "$modfile"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    grep -E '^\s*k8s.io/[a-z0-9-]+ => ./staging/' "$modfile" |
      awk -v v="v0.$minor.$patch" '{print "replace " $1 " => " $1 " " v}'
  } >"$src/go.mod"
  log "kubernetes: wrapper module replaces $(grep -c '^replace' "$src/go.mod") staging modules"
  local pkg=k8s.io/component-base/version
  local ld="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  ld+=" -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
  local targets=()
  for b in "${bins[@]}"; do targets+=("k8s.io/kubernetes/cmd/$b"); done
  run_logged "kubernetes (resolve modules)" "$k8s_dir/resolve.log" \
    bash -c "cd '$src' && go mod download -x k8s.io/kubernetes && GOFLAGS=-mod=mod go list ${targets[*]} >/dev/null"
  for b in "${bins[@]}"; do
    run_logged "kubernetes/$b" "$k8s_dir/$b.log" \
      bash -c "cd '$src' && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags '$ld' -o '$k8s_dir/bin/$b.tmp' k8s.io/kubernetes/cmd/$b && mv '$k8s_dir/bin/$b.tmp' '$k8s_dir/bin/$b'"
  done
}

etcd_dir="$TOOLS/etcd-$ETCD_VERSION"
build_etcd() {
  if [[ -x "$etcd_dir/bin/etcd" ]]; then log "etcd $ETCD_VERSION: cached"; return; fi
  log "etcd $ETCD_VERSION: building"
  local src="$etcd_dir/src"
  mkdir -p "$src" "$etcd_dir/bin"
  {
    echo "module spotswarm.local/etcd-tools"
    echo
    echo "go 1.25.0"
    echo
    echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION"
    for m in api/v3 client/pkg/v3 client/v3 pkg/v3; do
      echo "replace go.etcd.io/etcd/$m => go.etcd.io/etcd/$m $ETCD_VERSION"
    done
  } >"$src/go.mod"
  run_logged "etcd" "$etcd_dir/build.log" \
    bash -c "cd '$src' && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags '-s -w' -o '$etcd_dir/bin/etcd.tmp' go.etcd.io/etcd/server/v3 && mv '$etcd_dir/bin/etcd.tmp' '$etcd_dir/bin/etcd'"
}

# helm, nats-server and prometheus have no replace directives, so `go install` works.
go_install() {
  local name="$1" module="$2" version="$3" bin="$4" tags="${5:-}"
  local dir="$TOOLS/$name-$version"
  if [[ -x "$dir/bin/$bin" ]]; then log "$name $version: cached"; return; fi
  log "$name $version: building"
  mkdir -p "$dir/bin"
  run_logged "$name" "$dir/build.log" \
    env GOBIN="$dir/bin" CGO_ENABLED=0 go install -trimpath -tags "$tags" -ldflags '-s -w' "$module@$version"
}

# Runs a component's build while holding that component's lock.
locked() {
  local lock="$TOOLS/.lock-$1"; shift
  exec {fd}>"$lock"
  flock "$fd"
  "$@"
  exec {fd}>&-
}

wanted=("$@")
[[ ${#wanted[@]} == 0 ]] && wanted=(etcd nats-server helm kubernetes actionlint prometheus)
for c in "${wanted[@]}"; do
  case "$c" in
    etcd) locked "etcd-$ETCD_VERSION" build_etcd ;;
    nats-server) locked "nats-$NATS_VERSION" go_install nats-server github.com/nats-io/nats-server/v2 "$NATS_VERSION" nats-server ;;
    helm) locked "helm-$HELM_VERSION" go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" helm ;;
    kubernetes) locked "kubernetes-$K8S_VERSION" build_kubernetes ;;
    # Checks .github/workflows/*.yml (.github/workflows.test.ts runs it).
    actionlint) locked "actionlint-$ACTIONLINT_VERSION" go_install actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION" actionlint ;;
    prometheus) locked "prometheus-$PROM_VERSION" go_install prometheus github.com/prometheus/prometheus/cmd/prometheus "$PROM_VERSION" prometheus remove_all_sd ;;
    *) fail "$c" "unknown component (etcd, nats-server, helm, kubernetes, actionlint, prometheus)" ;;
  esac
done

# One directory of symlinks, keyed by the whole version set, for PATH use.
set_dir="$TOOLS/bin-k8s$K8S_VERSION-etcd$ETCD_VERSION-helm$HELM_VERSION-nats$NATS_VERSION-prom$PROM_VERSION"
mkdir -p "$set_dir"
for f in "$k8s_dir"/bin/* "$etcd_dir/bin/etcd" "$TOOLS/helm-$HELM_VERSION/bin/helm" "$TOOLS/nats-server-$NATS_VERSION/bin/nats-server" \
  "$TOOLS/actionlint-$ACTIONLINT_VERSION/bin/actionlint" "$TOOLS/prometheus-$PROM_VERSION/bin/prometheus"; do
  [[ -x "$f" && "$f" != *.tmp ]] || continue
  ln -sf "$f" "$set_dir/$(basename "$f")"
done
log "tools (${wanted[*]}) ready in $set_dir"
echo "$set_dir"
