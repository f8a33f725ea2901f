#!/usr/bin/env bash
# Builds the control plane that envtest and the local mode run, from the versions pinned
# in hack/controlplane/go.mod, into bin/k8s/<versions>/, once: kube-apiserver, etcd and
# kube-controller-manager (its garbage collector, namespace, service account token and
# RBAC aggregation controllers), and the kubectl that the tests run against them.
#
#   hack/controlplane.sh build   build the binaries that are missing
#   hack/controlplane.sh path    print the directory to use as KUBEBUILDER_ASSETS
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module="$root/hack/controlplane"

version_of() { (cd "$module" && go list -m -f '{{.Version}}' "$1"); }
dir="$root/bin/k8s/kube-apiserver-$(version_of k8s.io/kubernetes)-etcd-$(version_of go.etcd.io/etcd/server/v3)"

# The binaries and their main packages.
declare -A packages=(
	[kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
	[etcd]=go.etcd.io/etcd/server/v3
	[kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
	[kubectl]=k8s.io/kubernetes/cmd/kubectl
)

# build builds each missing binary into a temporary directory and moves it in alone, so
# that a binary in the directory is always complete and the others are never rebuilt
# (bin/ is shared: another build may be running).
build() {
	local missing=() bin
	for bin in kube-apiserver etcd kube-controller-manager kubectl; do
		[[ -x "$dir/$bin" ]] || missing+=("$bin")
	done
	if ((${#missing[@]} == 0)); then
		return
	fi
	echo "Building ${missing[*]} into ${dir#"$root/"} (about 8 minutes for all four on 2 cores, 5 for kube-controller-manager alone)..."
	mkdir -p "$dir"
	local tmp
	tmp=$(mktemp -d "$root/bin/.controlplane.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	for bin in "${missing[@]}"; do
		(cd "$module" && go build -o "$tmp/$bin" "${packages[$bin]}")
		mv "$tmp/$bin" "$dir/$bin"
		echo "Built $bin."
	done
	rm -rf "$tmp"
	trap - EXIT
	echo "Control plane ready in ${dir#"$root/"}."
}

case "${1:-}" in
build) build ;;
path) echo "$dir" ;;
*) echo "usage: $0 build|path" >&2; exit 2 ;;
esac
