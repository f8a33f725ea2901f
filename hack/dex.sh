#!/usr/bin/env bash
# Builds the Dex that the OpenID connector's tests run against, from the version pinned
# in hack/dex/go.mod, into bin/dex-<version>, once.
#
#   hack/dex.sh build   build it when missing
#   hack/dex.sh path    print the binary's path
#
# Dex's main package (cmd/dex) registers its gRPC admin API, whose generated code lives in
# the nested module github.com/dexidp/dex/api/v2; Dex builds it from its own tree through a
# replace, and the Go module proxy serves no api/v2 as new as this Dex needs. So the main
# package is copied from the module cache and built without the gRPC API, which the tests
# never configure (a configuration naming grpc.addr makes it exit with an error). The
# server, its token endpoint, signing keys, storage and connectors are Dex's own.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
module="$root/hack/dex"
version=$(cd "$module" && go list -m -f '{{.Version}}' github.com/dexidp/dex)
binary="$root/bin/dex-$version"

build() {
	if [[ -x "$binary" ]]; then
		return
	fi
	echo "Building Dex $version into ${binary#"$root/"} (about 4 minutes on 2 cores, the first time)..."
	local src tmp
	src=$(cd "$module" && go mod download -json github.com/dexidp/dex | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/dex-build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	cp "$module/go.mod" "$module/go.sum" "$tmp/"
	for f in "$src"/cmd/dex/*.go; do
		[[ "$f" == *_test.go ]] || install -m 0644 "$f" "$tmp/"
	done
	# Drop the gRPC API: its two imports, and its registration, which becomes a refusal.
	sed -i \
		-e '\#"github.com/dexidp/dex/api/v2"#d' \
		-e '\#"github.com/dexidp/dex/server/apiserver"#d' \
		-e 's#^\(\s*\)api\.RegisterDexServer(.*$#\1return errors.New("this build of Dex has no gRPC API (see gatehouse hack/dex.sh)")#' \
		"$tmp/serve.go"
	grep -q 'this build of Dex has no gRPC API' "$tmp/serve.go" || { echo "hack/dex.sh: cmd/dex/serve.go changed; update the patch" >&2; exit 1; }
	mkdir -p "$root/bin"
	(cd "$tmp" && CGO_ENABLED=0 go build -ldflags "-X main.version=$version" -o "$tmp/dex" .)
	mv "$tmp/dex" "$binary"
	rm -rf "$tmp"
	trap - EXIT
	echo "Dex ready in ${binary#"$root/"}."
}

case "${1:-}" in
build) build ;;
path) echo "$binary" ;;
*) echo "usage: $0 build|path" >&2; exit 2 ;;
esac
