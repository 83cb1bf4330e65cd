#!/bin/sh
# Makes a kubeconfig for a remote cluster that the spotswarm operator can use:
# a ServiceAccount token, no exec credential plugin (the operator image has
# no gcloud, aws or az CLI, so GKE/EKS/AKS kubeconfigs with an exec user
# cannot work there). Run it where kubectl can reach CONTEXT (with your own
# cloud credentials); it creates in that cluster:
#   - namespace spotswarm-remote with ServiceAccount spotswarm-operator;
#   - ClusterRole+Binding spotswarm-remote: list/watch nodes and pods (free
#     GPUs are counted from every pod on the nodes);
#   - in each swarm NAMESPACE (default: default): Role+RoleBinding
#     spotswarm-remote to create/get/update/patch/delete pods and Secrets
#     (trainer pods and the swarm's NATS credentials copy);
#   - a token: by default a long-lived token Secret
#     (kubernetes.io/service-account-token, valid until the Secret is
#     deleted); with --duration D a bound token from `kubectl create token`
#     that expires after D (e.g. 8760h; the API server may cap it), which you
#     must renew by running this again.
# and prints the kubeconfig on stdout.
#
# Usage: scripts/remote-kubeconfig.sh [--duration D] CONTEXT [NAMESPACE...] > west.yaml
#        kubectl -n spotswarm-system create secret generic dc-west-kubeconfig --from-file=kubeconfig=west.yaml
set -eu

duration=
if [ "${1:-}" = --duration ]; then
  duration=${2:?--duration needs a value such as 8760h}
  shift 2
fi
if [ $# -lt 1 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
ctx=$1
shift
[ $# -gt 0 ] || set -- default
command -v kubectl >/dev/null 2>&1 || { echo "remote-kubeconfig: kubectl not found on PATH" >&2; exit 1; }

k() { kubectl --context "$ctx" "$@"; }
sa=spotswarm-operator
sans=spotswarm-remote

k apply -f - >&2 <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $sans}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: $sa, namespace: $sans}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: spotswarm-remote}
rules:
  - {apiGroups: [""], resources: [nodes, pods], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: spotswarm-remote}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: spotswarm-remote}
subjects: [{kind: ServiceAccount, name: $sa, namespace: $sans}]
YAML

for ns in "$@"; do
  k apply -f - >&2 <<YAML
apiVersion: v1
kind: Namespace
metadata: {name: $ns}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: spotswarm-remote, namespace: $ns}
rules:
  - {apiGroups: [""], resources: [pods, secrets], verbs: [get, create, update, patch, delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: spotswarm-remote, namespace: $ns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: spotswarm-remote}
subjects: [{kind: ServiceAccount, name: $sa, namespace: $sans}]
YAML
done

if [ -n "$duration" ]; then
  token=$(k -n "$sans" create token "$sa" --duration "$duration")
else
  k apply -f - >&2 <<YAML
apiVersion: v1
kind: Secret
type: kubernetes.io/service-account-token
metadata:
  name: $sa-token
  namespace: $sans
  annotations: {kubernetes.io/service-account.name: $sa}
YAML
  token=
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    token=$(k -n "$sans" get secret "$sa-token" -o jsonpath='{.data.token}' | base64 -d)
    [ -n "$token" ] && break
    sleep 1
  done
  [ -n "$token" ] || { echo "remote-kubeconfig: the token controller filled no token into $sans/$sa-token" >&2; exit 1; }
fi

server=$(kubectl config view --raw --minify --context "$ctx" -o jsonpath='{.clusters[0].cluster.server}')
ca=$(kubectl config view --raw --minify --context "$ctx" -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
if [ -z "$ca" ]; then
  cafile=$(kubectl config view --raw --minify --context "$ctx" -o jsonpath='{.clusters[0].cluster.certificate-authority}')
  [ -n "$cafile" ] && ca=$(base64 < "$cafile" | tr -d '\n')
fi

cat <<YAML
apiVersion: v1
kind: Config
clusters:
  - name: $ctx
    cluster:
      server: $server
$( [ -n "$ca" ] && echo "      certificate-authority-data: $ca" )
users:
  - name: $sa
    user:
      token: $token
contexts:
  - name: $ctx
    context: {cluster: $ctx, user: $sa}
current-context: $ctx
YAML
