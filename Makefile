# Gatehouse build, code generation, verification and tests.
#
# Every tool is pinned here and built from the Go module proxy into bin/ on first use;
# nothing is downloaded from anywhere else.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

# Pinned tool versions. The control plane (kube-apiserver, etcd, kube-controller-manager)
# and kubectl are pinned by hack/controlplane/go.mod.
CONTROLLER_GEN_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION  ?= v2.15.0
HELM_VERSION           ?= v3.22.0

BIN            := $(CURDIR)/bin
CONTROLLER_GEN := $(BIN)/controller-gen-$(CONTROLLER_GEN_VERSION)
GOLANGCI_LINT  := $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM           := $(BIN)/helm-$(HELM_VERSION)
ENVTEST_ASSETS  = $(shell hack/controlplane.sh path)

GO_TEST_FLAGS ?= -race -count=1 -timeout 30m

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC under config/.
	$(CONTROLLER_GEN) rbac:roleName=gatehouse-controller crd paths="./..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac
	hack/chart-manifests.sh

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..." paths="./tokenserver/refresh/kubestore/..."

.PHONY: fmt
fmt: ## Format the Go code.
	gofmt -s -w $$(git ls-files '*.go')

.PHONY: build
build: ## Build bin/gatehouse.
	go build -o $(BIN)/gatehouse ./cmd/gatehouse

# LOCAL_FLAGS are flags of hack/local, e.g. LOCAL_FLAGS=--port=0 for a free port.
LOCAL_FLAGS ?=

.PHONY: run
run: build ## Run the whole system locally: control plane, controller, token server and the samples; prints a curl for the sample user.
	@hack/controlplane.sh build
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/local -gatehouse $(BIN)/gatehouse $(LOCAL_FLAGS)

##@ Verification and tests

.PHONY: verify
verify: manifests generate ## Fail when generated files, go.mod or formatting differ from what is committed, or an import breaks the one-way flow.
	@go mod tidy && (cd hack/controlplane && go mod tidy) && (cd hack/dex && go mod tidy)
	@unformatted=$$(gofmt -s -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt -s would change: $$unformatted"; exit 1; fi
	@hack/verify-imports.sh
	@if [ -n "$$(git status --porcelain -- api config charts go.mod go.sum hack)" ]; then \
		echo "Generated files or go.mod are out of date; run 'make manifests generate' and 'go mod tidy', then commit:"; \
		git status --porcelain -- api config charts go.mod go.sum hack; git diff --stat -- api config charts go.mod go.sum hack; exit 1; fi

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest
envtest: ## Build kube-apiserver, etcd, kube-controller-manager and kubectl when missing; print the KUBEBUILDER_ASSETS directory.
	@hack/controlplane.sh build >&2
	@hack/controlplane.sh path

.PHONY: test
test: verify lint test-chart test-unit test-bench ## Everything CI runs: verify, lint, the chart, all tests and every benchmark once.

.PHONY: test-unit
test-unit: envtest test-deps dex $(HELM) ## Run all Go tests against a real API server, slapd, Samba AD and Dex (and helm for the chart tests).
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" HELM="$(HELM)" go test $(GO_TEST_FLAGS) ./...

# BENCH_PACKAGES are the packages that hold benchmarks, so that test-bench starts no API
# server for the others.
BENCH_PACKAGES = $(shell git grep -l '^func Benchmark' -- '*_test.go' | xargs -n1 dirname | sort -u | sed 's|^|./|')

.PHONY: test-bench
test-bench: build envtest test-deps ## Run every benchmark once at small sizes (-short), and bench-reconcile with 5 Tenants, so that a benchmark that breaks fails CI instead of rotting.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test -short -count=1 -run '^$$' -bench . -benchtime 1x $(BENCH_PACKAGES)
	$(MAKE) --no-print-directory bench-reconcile BENCH_TENANTS=5

.PHONY: test-chart
test-chart: $(HELM) ## Lint the chart and render it with the default and the test values.
	$(HELM) lint --strict charts/gatehouse
	$(HELM) lint --strict charts/gatehouse -f test/deploy/testdata/custom-values.yaml
	$(HELM) template gatehouse charts/gatehouse --namespace gatehouse-system >/dev/null
	$(HELM) template gatehouse charts/gatehouse --namespace gatehouse-system -f test/deploy/testdata/custom-values.yaml >/dev/null

.PHONY: bench-oidc
bench-oidc: dex ## Benchmark oidc logins through the connector against a local Dex, beside Dex's own password-grant cost, at concurrency 1 and 8.
	go test -run '^$$' -bench '^BenchmarkOIDCLogin$$' -benchtime 3s ./tokenserver/connector/oidc/

.PHONY: dex
dex: ## Build Dex, the OpenID provider the oidc connector's tests run against, into bin/ when missing.
	@hack/dex.sh build

##@ Tools

$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.controller-gen go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_GEN_VERSION)
	mv $(BIN)/.controller-gen/controller-gen $@ && rmdir $(BIN)/.controller-gen

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.golangci-lint go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.golangci-lint/golangci-lint $@ && rmdir $(BIN)/.golangci-lint

$(HELM):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.helm go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.helm/helm $@ && rmdir $(BIN)/.helm

##@ LDAP

.PHONY: test-deps
test-deps: ## Install slapd and Samba, which the LDAP and Active Directory tests start, and curl, which a test runs.
	hack/install-test-deps.sh

.PHONY: bench-ldap
bench-ldap: test-deps envtest ## Benchmark LDAP logins against a local slapd, pooled vs a fresh connection per step: through the connector, then through the token server (ES256 and RS256), then through one and two token-server processes sharing attack counts (the chart's default), with CPU per login beside its floor.
	go test -run '^$$' -bench '^BenchmarkLogin$$' -benchtime 2s ./tokenserver/connector/ldap/
	go test -run '^$$' -bench '^BenchmarkLDAPPasswordGrant$$' -benchtime 2s ./tokenserver/
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test -run '^$$' -bench '^BenchmarkReplicas$$' -benchtime $(BENCH_REPLICA_LOGINS)x ./test/e2e/

##@ Benchmarks

BENCH_TENANTS   ?= 1000
BENCH_ALGORITHM ?= RS256

.PHONY: bench-reconcile
bench-reconcile: build envtest ## Apply BENCH_TENANTS Tenants (2 connections, 2 APIs, 3 clients each) at once; print time to Ready, writes/s, controller peak memory, second-pass writes.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/benchreconcile \
		-tenants $(BENCH_TENANTS) -algorithm $(BENCH_ALGORITHM) -gatehouse $(BIN)/gatehouse

BENCH_LOGINS ?= 128
BENCH_MACHINE_TOKENS ?= 2000
BENCH_REPLICA_LOGINS ?= 2000

.PHONY: bench-token
bench-token: ## Benchmark the token server: logins (bcrypt cost 10, RS256) at concurrency 1, 8, 32 against this machine's bcrypt-and-sign limit; client_credentials (secret, and ServiceAccount assertion) at 1, 8, 32 with ES256 and RS256 beside their signing floor; userinfo and JWKS rates; time until a new Client is accepted.
	go test -run '^$$' -bench 'BenchmarkPasswordGrant' -benchtime $(BENCH_LOGINS)x ./tokenserver/
	go test -run '^$$' -bench 'BenchmarkClientCredentials' -benchtime $(BENCH_MACHINE_TOKENS)x ./tokenserver/
	go test -run '^$$' -bench 'BenchmarkUserinfo|BenchmarkJWKS' -benchtime 2s ./tokenserver/
	KUBEBUILDER_ASSETS="$${KUBEBUILDER_ASSETS:-$(ENVTEST_ASSETS)}" go test -run '^$$' -bench 'BenchmarkClientAccepted' -benchtime 20x ./tokenserver/store/

BENCH_REFRESHES ?= 2000

.PHONY: bench-refresh-store
bench-refresh-store: envtest test-deps ## Benchmark BENCH_REFRESHES refreshes with rotation through each refresh token store (kubernetes on a real API server, postgres on a real PostgreSQL) at concurrency 1, 8, 32; print refreshes/s, p50, p99 and the API-server reads and writes or SQL statements per refresh.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test -run '^$$' -bench '^BenchmarkRefresh$$' -benchtime $(BENCH_REFRESHES)x ./tokenserver/refresh/kubestore/ ./tokenserver/refresh/pgstore/

.PHONY: bench-refresh
bench-refresh: bench-refresh-store ## Benchmark refreshes: through each store alone (bench-refresh-store), then as refresh grants over HTTP through the token server (client authentication, user lookup, an RS256 access token), at concurrency 1, 8, 32 per store, with the store's API-server requests or SQL statements per refresh.
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go test -run '^$$' -bench '^BenchmarkRefreshGrant$$' -benchtime $(BENCH_REFRESHES)x ./tokenserver/

.PHONY: bench-limiter
bench-limiter: ## Benchmark tenant isolation: tenant A floods password checks with argon2id at the memory cap while tenant B logs in steadily; print B's p99 alone and under the flood against the 2x floor, A's answers and the peak memory against the 512Mi limit.
	go test -run '^$$' -bench '^BenchmarkTenantIsolation$$' -benchtime 1x ./tokenserver/

##@ Soak

# SOAK_RATE is requests/s, of which 6 in 20 are logins: at 20/s, 6 bcrypt checks/s, half
# of what a shared 2-core machine sustains (see hack/soak). SOAK_FLAGS are more flags
# of hack/soak, e.g. SOAK_FLAGS=-tokenserver-flag=<a flag of gatehouse tokenserver>.
SOAK_DURATION ?= 5m
SOAK_RATE     ?= 20
SOAK_FLAGS    ?=

.PHONY: soak
soak: build ## Run the whole system on loopback under SOAK_RATE requests/s for SOAK_DURATION; print requests by kind, p50/p99 latency and the token server's memory over time; fail on any 5xx or unanswered request.
	@hack/controlplane.sh build
	KUBEBUILDER_ASSETS="$(ENVTEST_ASSETS)" go run ./hack/soak -duration $(SOAK_DURATION) -rate $(SOAK_RATE) -gatehouse $(BIN)/gatehouse $(SOAK_FLAGS)
