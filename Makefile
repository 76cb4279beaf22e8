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
MODULE   := $(shell $(GO) list -m 2>/dev/null)
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The three device architectures: GOOS/GOARCH[/GOARM] -> dist/outpost-<name>.
ARCHES   := amd64 arm64 armv7
# cross also builds armv6 (GOARM=6: Raspberry Pi Zero and 1, whose Raspberry
# Pi OS armhf userland is ARMv6); it has no package of its own.
CROSS_ARCHES := $(ARCHES) armv6

.PHONY: all build cross deb deb-lint test run bench lint deps clean

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
	GOOS=linux GOARCH=amd64 $(BUILD) -o dist/outpostctl-amd64 ./cmd/outpostctl
	GOOS=linux GOARCH=arm64 $(BUILD) -o dist/outpostctl-arm64 ./cmd/outpostctl
	GOOS=linux GOARCH=arm GOARM=7 $(BUILD) -o dist/outpostctl-armv7 ./cmd/outpostctl
	GOOS=linux GOARCH=arm GOARM=6 $(BUILD) -o dist/outpost-armv6 ./cmd/outpost
	GOOS=linux GOARCH=arm GOARM=6 $(BUILD) -o dist/outpostctl-armv6 ./cmd/outpostctl
	$(GO) run ./packaging/checkstatic $(addprefix dist/outpost-,$(CROSS_ARCHES)) $(addprefix dist/outpostctl-,$(CROSS_ARCHES))

# deb packages the cross builds: dist/outpost_<version>_<arch>.deb and
# dist/outpostctl_<version>_<arch>.deb for amd64, arm64 and armhf (armv7);
# see packaging/mkdeb. deb-lint runs lintian on them (packaging/deb holds the
# overrides, each with its reason).
deb: cross
	$(GO) run ./packaging/mkdeb -version '$(VERSION)' -dist dist

deb-lint: deb
	@command -v lintian >/dev/null || { echo "deb-lint: lintian is missing (apt-get install lintian)"; exit 1; }
	v=$$($(GO) run ./packaging/mkdeb -version '$(VERSION)' -print-version) && \
	lintian --fail-on error,warning --display-info dist/outpost_$${v}_*.deb dist/outpostctl_$${v}_*.deb

deps:
	@sh packaging/install-deps.sh

# The cgroup v2 guest (internal/vmtest) runs on its own, after the rest: it
# keeps both cores busy under qemu's emulation for about two minutes.
VMTEST := ./internal/vmtest
test: deps
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 60m $$($(GO) list ./... | grep -v '/internal/vmtest$$')
	$(GO) test -count=1 -timeout 30m $(VMTEST)

# run starts the agent in the foreground on a local data dir (.run/) with the
# examples' static pod and its image; Ctrl-C stops the agent, not the pods.
RUN_DIR := $(CURDIR)/.run
run: build deps
	@test "$$(id -u)" = 0 || { echo "make run: the agent runs containers and needs root (sudo make run)"; exit 1; }
	./bin/outpost validate -f examples/
	@mkdir -p $(RUN_DIR)/data/images $(RUN_DIR)/manifests
	@$(GO) run ./packaging/mkimage -dir $(RUN_DIR)/data/images >/dev/null
	@cp examples/httpd.yaml $(RUN_DIR)/manifests/
	@printf 'dataDir: $(RUN_DIR)/data\nmanifestDir: $(RUN_DIR)/manifests\ncontainerd: {stateDir: /run/outpost-dev}\nlog: {format: console}\n' > $(RUN_DIR)/config.yaml
	@echo
	@echo "Starting the agent (Ctrl-C stops it; the pods keep running). In another shell:"
	@echo "  ./bin/outpost get pods -o wide --config $(RUN_DIR)/config.yaml"
	@echo "  ./bin/outpost describe pod hello --config $(RUN_DIR)/config.yaml"
	@echo "  ./bin/outpost logs hello -f --config $(RUN_DIR)/config.yaml"
	@echo "  curl http://\$$(./bin/outpost get pods -o wide --config $(RUN_DIR)/config.yaml | awk '/hello/{print \$$6}'):8080/"
	@echo "  ./bin/outpost agent --drain --config $(RUN_DIR)/config.yaml   # stop the pods"
	@echo
	./bin/outpost agent --config $(RUN_DIR)/config.yaml

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
	@# docs/architecture.md's package table lists exactly the module's packages.
	@diff <($(GO) list ./... | sed 's|^$(MODULE)/||' | sort) \
	      <(sed -n '/^## Packages/,$$p' docs/architecture.md | grep -o '^| `[a-z0-9/]*`' | tr -d '|` ' | sort) \
	  || { echo "docs/architecture.md: the package table differs from go list (< missing, > extra)"; exit 1; }

clean:
	rm -rf bin dist
