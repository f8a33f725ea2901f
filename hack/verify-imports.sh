#!/usr/bin/env bash
# verify-imports.sh checks the one-way flow api/ -> controllers/ -> tokenserver/ through
# everything a package links, its tests and the test harnesses they use included, where
# depguard (make lint) sees only each file's own imports:
#   - tokenserver/ links nothing of api/, controllers/, cmd/, hack/ or internal/;
#   - api/ links nothing of controllers/, tokenserver/, cmd/, hack/ or internal/.
# For each forbidden package it finds, it prints the shortest chain of imports that
# brings it in, and it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
module=$(go list -m)

# forbid PACKAGES DIRS fails when PACKAGES (a go list pattern) or their tests link a
# package below one of DIRS (space-separated directories of the module).
forbid() {
	local packages=$1 dirs=$2 roots graph
	# set -e does not apply within a function called by ||, so failures return by hand.
	roots=$(go list -test -f '{{.ImportPath}}' "$packages") || return
	graph=$(go list -test -deps -f '{{.ImportPath}}{{range .Imports}}|{{.}}{{end}}' "$packages") || return
	printf '%s\n--\n%s\n' "$roots" "$graph" | awk -F'|' -v module="$module/" -v packages="$packages" -v dirs="$dirs" '
		# short is a package ID relative to the module, "m/p [m/q.test]" -> "p [q.test]".
		function short(id,    i, s) {
			for (s = ""; (i = index(id, module)) > 0; id = substr(id, i + length(module))) s = s substr(id, 1, i - 1)
			return s id
		}
		# plain is a package ID without its test variant, "p [q.test]" -> "p".
		function plain(id) { sub(/ \[.*\]$/, "", id); return id }
		function forbidden(id,    p, d) {
			p = plain(id)
			if (index(p, module) != 1) return 0
			p = substr(p, length(module) + 1)
			for (d in dir) if (p == dir[d] || index(p, dir[d] "/") == 1) return 1
			return 0
		}
		function chain(id,    s) {
			for (s = short(id); parent[id] != ""; id = parent[id]) s = short(parent[id]) " -> " s
			return s
		}
		BEGIN {
			n = split(dirs, dir, " ")
			for (d = 1; d <= n; d++) named = named (d > 1 ? ", " : "") dir[d] "/"
		}
		$0 == "--" { graph = 1; next }
		!graph { queue[++tail] = $1; seen[$1] = 1; next }
		{ imports[$1] = $0 }
		END {
			for (head = 1; head <= tail; head++) {
				id = queue[head]
				if (forbidden(id)) {
					if (!(plain(id) in reported)) {
						if (!failed) printf "%s, tests included, must link nothing of %s; these imports do:\n", packages, named
						print "  " chain(id)
						reported[plain(id)] = failed = 1
					}
					continue
				}
				n = split(imports[id], imported, "|")
				for (i = 2; i <= n; i++) {
					if (imported[i] in seen) continue
					seen[imported[i]] = 1
					parent[imported[i]] = id
					queue[++tail] = imported[i]
				}
			}
			exit failed
		}'
}

status=0
forbid ./tokenserver/... "api controllers cmd hack internal" || status=1
forbid ./api/... "controllers tokenserver cmd hack internal" || status=1
exit $status
