#!/usr/bin/env bash
# Builds the kube-apiserver and etcd that envtest and the local mode run, from the
# versions pinned in hack/controlplane/go.mod, into bin/k8s/<versions>/, once.
#
#   hack/controlplane.sh build   build the binaries when missing
#   hack/controlplane.sh path    print the directory to use as KUBEBUILDER_ASSETS
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module="$root/hack/controlplane"

version_of() { (cd "$module" && go list -m -f '{{.Version}}' "$1"); }
dir="$root/bin/k8s/kube-apiserver-$(version_of k8s.io/kubernetes)-etcd-$(version_of go.etcd.io/etcd/server/v3)"

build() {
	if [[ -x "$dir/kube-apiserver" && -x "$dir/etcd" ]]; then
		return
	fi
	echo "Building kube-apiserver and etcd into ${dir#"$root/"} (about 8 minutes the first time on 2 cores)..."
	local tmp
	tmp=$(mktemp -d "$root/bin/.controlplane.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	(cd "$module" && go build -o "$tmp/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver)
	echo "Built kube-apiserver; building etcd..."
	(cd "$module" && go build -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
	mkdir -p "$(dirname "$dir")"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	trap - EXIT
	echo "Control plane ready in ${dir#"$root/"}."
}

case "${1:-}" in
build) build ;;
path) echo "$dir" ;;
*) echo "usage: $0 build|path" >&2; exit 2 ;;
esac
