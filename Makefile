# kubectl-elbfix. `make test` is what CI runs (see .ci/run).
SHELL := /bin/bash
GO ?= go
BIN := bin/kubectl-elbfix
PKG := github.com/kubectl-elbfix/kubectl-elbfix
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.Commit=$(COMMIT)
# make dist: GoReleaser (.goreleaser.yaml) writes one archive per platform and checksums.txt to
# $(DIST); then hack/dist renders the krew-release-bot template .krew.yaml into $(DIST)/krew.yaml
# with the archives' sha256. krew needs a semver version: an untagged tree is packaged as
# v0.0.0-dev-<git describe> (GORELEASER_CURRENT_TAG). GoReleaser reads the commit and its date
# from git (entries are dated with the commit time, so the archives are reproducible); it needs
# a remote to do so, which every clone has (without one it stamps the commit "none").
DIST := dist
DIST_VERSION := $(shell v='$(VERSION)'; if printf '%s' "$$v" | grep -Eq '^v[0-9]+\.[0-9]+\.[0-9]+'; then echo "$$v"; else echo "v0.0.0-dev-$$v"; fi)
# Fuzz targets run briefly by `make test`: package:target:budget. The budgets are counts of
# executions (about 10 s each on the 2-core CI machine), not durations: with a duration, Go
# 1.26's fuzz coordinator can fail a target with "context deadline exceeded" when the time runs
# out while a worker is mid-call (golang/go#75804, fixed in Go 1.27; CI saw it on FuzzParse).
# FUZZTIME=30s (or 1000x) gives every target that budget instead.
FUZZTIME ?=
FUZZ_TARGETS := ./pkg/manifest:FuzzRead:3000x ./pkg/manifest:FuzzApplyPatch:30000x ./pkg/elb:FuzzParseAnnotations:60000x ./pkg/kubeversion:FuzzParse:300000x ./pkg/plan:FuzzDecide:15000x ./pkg/report:FuzzIndent:60000x ./pkg/engine:FuzzSliceCounter:8000x

.PHONY: all build test unit e2e fuzz vet lint demo cluster bench clean dist krew-test

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kubectl-elbfix

## test: unit tests, end-to-end tests against a real kube-apiserver + etcd, and short fuzz runs.
test: vet lint unit e2e fuzz

# Tools built once from the Go module proxy and cached outside the repository, next to the test
# cluster's binaries: golangci-lint v2 (.golangci.yml) and GoReleaser v2 (.goreleaser.yaml).
TOOLS := $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/kubectl-elbfix-tools
LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(TOOLS)/golangci-lint-$(LINT_VERSION)/golangci-lint
GORELEASER_VERSION := v2.15.1
GORELEASER := $(TOOLS)/goreleaser-$(GORELEASER_VERSION)/goreleaser

lint:
	@test -x $(GOLANGCI_LINT) || { echo "building golangci-lint $(LINT_VERSION) into $(dir $(GOLANGCI_LINT))"; \
		GOBIN=$(dir $(GOLANGCI_LINT)) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(LINT_VERSION); }
	$(GOLANGCI_LINT) run ./...

vet:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

# go test -json through hack/testreport: package results, failed tests with their output, and
# every skipped test with its reason (a skipped test is not a passing one). It prints the
# allow-list SKIPS_ALLOW and fails when a test skipped that is not on it (or the list is
# malformed). The target fails when go test or testreport does.
SKIPS_ALLOW := test/skips.allow
REPORT := $(GO) run ./hack/testreport -allow $(SKIPS_ALLOW)
# After `go test | tee | $(REPORT)`: fail unless both go test and testreport succeeded.
PIPE_OK := s=("$${PIPESTATUS[@]}"); [ "$${s[0]}" = 0 ] && [ "$${s[2]}" = 0 ]

unit:
	$(GO) build -o /dev/null ./hack/testreport
	$(GO) test -count=1 -json ./cmd/... ./pkg/... ./hack/... 2>&1 | tee /tmp/elbfix-unit.json | $(REPORT); $(PIPE_OK)

# The harness builds kube-apiserver, etcd and kubectl once (~6 minutes cold on 2 cores) and
# caches them in $${XDG_CACHE_HOME:-~/.cache}/kubectl-elbfix-test.
e2e:
	$(GO) build -o /dev/null ./hack/testreport
	$(GO) test -count=1 -timeout 60m -json ./test/... 2>&1 | tee /tmp/elbfix-e2e.json | $(REPORT); $(PIPE_OK)

fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; budget=$${rest#*:}; \
		[ -n "$(FUZZTIME)" ] && budget=$(FUZZTIME); \
		echo "fuzz $$pkg $$fn for $$budget"; \
		$(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $$budget $$pkg || exit 1; \
	done

## demo: a local kube-apiserver with CCE-shaped objects; prints the KUBECONFIG to use.
demo cluster:
	$(GO) run ./test/cluster/cmd --demo

## dist: release archives built by GoReleaser (CGO_ENABLED=0, -trimpath, version from git
## describe), checksums.txt, and $(DIST)/krew.yaml with their sha256. .goreleaser.yaml has no
## dist key: it is added here, so that DIST can point anywhere (the krew test uses a temporary
## directory).
dist:
	@test -x $(GORELEASER) || { echo "building GoReleaser $(GORELEASER_VERSION) into $(dir $(GORELEASER))"; \
		GOBIN=$(dir $(GORELEASER)) $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION); }
	{ cat .goreleaser.yaml; printf 'dist: %s\n' '$(DIST)'; } | \
		GORELEASER_CURRENT_TAG=$(DIST_VERSION) $(GORELEASER) release --snapshot --clean -f -
	$(GO) run ./hack/dist krew -dir $(DIST) -version $(DIST_VERSION) -template .krew.yaml -o $(DIST)/krew.yaml

## krew-test: the manifest passes krew's validate-krew-manifest, and the real krew installs the
## plugin from dist/, kubectl runs it, krew uninstalls it (offline; krew v0.4.3 is built from the
## Go module proxy once and cached next to the test cluster's binaries).
krew-test: dist
	$(GO) test -count=1 ./hack/...
	ELBFIX_DIST_DIR=$(CURDIR)/$(DIST) $(GO) test -count=1 -timeout 30m -v ./test/krew

## bench: go test -bench for the pure logic, then the scan benchmark (test/bench/scan): a
## realistic cluster in the test cluster (10,000 LoadBalancer Services, 300 CCE Nodes, an
## EndpointSlice a Service, 5,000 Events; then CCE Turbo with 30,000 Pods), `kubectl elbfix scan
## -A -o json` timed against the LISTs it needs (decoded, and raw bytes: test/bench/floor) and
## `kubectl get svc,endpointslices,events -A -o json`. BENCH_FLAGS passes flags to it, e.g.
## BENCH_FLAGS='-runs 9 -profile tmp/prof' or '-turbo=false'. Then the svc benchmark (test/bench/svc): `svc NAME
## --dry-run` in a namespace of 1 Service and of 10,000, and against `kubectl get svc NAME -o
## yaml` (SVC_BENCH_FLAGS, e.g. '-runs 9'). A target missed is printed as MISS, not a failure.
BENCH_FLAGS ?=
SVC_BENCH_FLAGS ?=
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...
	$(GO) run ./test/bench/scan $(BENCH_FLAGS)
	$(GO) run ./test/bench/svc $(SVC_BENCH_FLAGS)
	$(GO) run ./test/bench/offline

clean:
	rm -rf bin dist
