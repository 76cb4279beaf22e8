# Outpost: see README.md. Every target works on a fresh Debian/Ubuntu machine
# with Go installed; `make test` installs missing system packages as root.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
export PATH := $(PATH):/usr/local/go/bin

GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
CTRD_VERSION := $(shell $(GO) list -m -f '{{.Version}}' github.com/containerd/containerd/v2 2>/dev/null)
LDFLAGS  := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) \
	-X github.com/containerd/containerd/v2/version.Version=$(CTRD_VERSION)
BUILD    := CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)'
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The three device architectures: GOOS/GOARCH[/GOARM] -> dist/outpost-<name>.
ARCHES   := amd64 arm64 armv7

.PHONY: all build cross test run bench lint deps clean

all: build

build:
	@mkdir -p bin
	$(BUILD) -o bin/outpost ./cmd/outpost
	@$(GO) run ./packaging/checkstatic bin/outpost

cross:
	@mkdir -p dist
	GOOS=linux GOARCH=amd64 $(BUILD) -o dist/outpost-amd64 ./cmd/outpost
	GOOS=linux GOARCH=arm64 $(BUILD) -o dist/outpost-arm64 ./cmd/outpost
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o dist/outpost-armv7 ./cmd/outpost
	$(GO) run ./packaging/checkstatic $(addprefix dist/outpost-,$(ARCHES))

deps:
	@sh packaging/install-deps.sh

test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 80m ./...

run: build
	./bin/outpost validate -f examples/
	./bin/outpost agent

# bench runs every benchmark once and writes the summary table and
# dist/bench.json (see cmd/benchreport). Binary sizes come from `cross`.
bench: deps cross
	@mkdir -p dist
	{ $(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 60m ./... ; \
	  echo "pkg: dist"; \
	  for a in $(ARCHES); do echo "BenchmarkBinarySize/$$a 1 $$(stat -c %s dist/outpost-$$a) bytes"; done ; \
	} | tee dist/bench.txt | $(GO) run ./cmd/benchreport -o dist/bench.json

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clean:
	rm -rf bin dist
