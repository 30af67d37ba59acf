# Build, test and lint the two plugin binaries. `make test` is the project's test command.
GO        ?= go
TAGS      := containers_image_openpgp
BUILDARGS := -tags $(TAGS) -trimpath -ldflags "-s -w"
BIN       := $(CURDIR)/bin
FUZZTIME  ?= 20s
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
IMAGE_REPO ?= quay.io/velero-openshift
IMAGE_TAG  ?= latest

.PHONY: all build unit test lint fuzz bench images clean

all: build

## build: both plugin binaries, pure Go (CGO_ENABLED=0), into bin/
build:
	CGO_ENABLED=0 $(GO) build $(BUILDARGS) -o $(BIN)/ ./openshift-velero-plugin ./openshift-migration-plugin

## unit: the quick loop, unit tests of every package
unit:
	$(GO) test -tags $(TAGS) ./...

## test: README's test command (unit tests, then the plugins built as Velero runs them)
test: unit build
	@$(BIN)/openshift-velero-plugin >/dev/null 2>&1; test $$? -ne 0 || (echo "plugin binary exited 0 when run by hand" && exit 1)

## lint: gofmt, go vet and staticcheck, all clean
lint: $(STATICCHECK)
	@out=$$(gofmt -l common velero-plugins openshift-velero-plugin openshift-migration-plugin test build 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...
	$(STATICCHECK) -tags $(TAGS) ./...

$(STATICCHECK):
	GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## fuzz: every Go fuzz target, FUZZTIME each
fuzz:
	hack/fuzz.sh $(FUZZTIME)

## bench: Go benchmarks of restore Execute against a JSON round trip of the same item
bench:
	hack/bench.sh

## images: the two init-container images (needs a container engine)
images:
	docker build -f Dockerfile.general -t $(IMAGE_REPO)/openshift-velero-plugin:$(IMAGE_TAG) .
	docker build -f Dockerfile.migration -t $(IMAGE_REPO)/openshift-migration-plugin:$(IMAGE_TAG) .

clean:
	rm -rf $(BIN)
