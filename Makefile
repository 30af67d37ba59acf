# Build, test and lint the two plugin binaries. `make test` is the project's test command.
GO        ?= go
TAGS      := containers_image_openpgp
BUILDARGS := -tags $(TAGS) -trimpath -ldflags "-s -w"
BIN       := $(CURDIR)/bin
FUZZTIME  ?= 30000x
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck
# The images: names $(IMAGE_REPO)/openshift-velero-plugin:$(IMAGE_TAG) and
# $(IMAGE_REPO)/openshift-migration-plugin:$(IMAGE_TAG), one manifest list each for PLATFORMS;
# `make images-push` pushes them to $(REGISTRY) (default: IMAGE_REPO). See hack/images.sh.
IMAGE_REPO ?= quay.io/velero-openshift
IMAGE_TAG  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REGISTRY   ?= $(IMAGE_REPO)
PLATFORMS  ?= linux/amd64 linux/arm64 linux/ppc64le linux/s390x
HOSTARCH   := $(shell $(GO) env GOARCH)
export IMAGE_REPO IMAGE_TAG REGISTRY PLATFORMS
# One build configuration for every go command, static and path-trimmed (hack/goenv.sh says why).
export CGO_ENABLED := 0
export GOFLAGS := $(shell . hack/goenv.sh && echo "$$GOFLAGS")

.PHONY: all build unit test pins pins-check integration e2e demo demo-migration bench-e2e bench-migration stack-build stack-up stack-down crds crds-check lint fuzz bench cross cross-others images images-test images-push clean

all: build

## build: both plugin binaries, pure Go (CGO_ENABLED=0), into bin/
build:
	$(GO) build $(BUILDARGS) -o $(BIN)/ ./openshift-velero-plugin ./openshift-migration-plugin

## unit: the quick loop, unit tests of every package
unit:
	$(GO) test -tags $(TAGS) ./...

## test: README's test command: unit tests, the plugins built as Velero runs them, then the
## end-to-end suite on the real local stack against both Velero servers, running the plugins
## the two images installed (e2e runs make images-test first). hack/test.sh runs the steps and
## builds the stack's independent components in the background meanwhile.
test:
	hack/test.sh

## integration: the image copy engine against a real registry and a real S3 server (versitygw);
## the ImageStream actions backing up and restoring images through a filesystem location, and the
## migration ImageStream actions through a plain-HTTP migration registry
integration:
	hack/build-stack.sh s3
	VERSITYGW=$${VERSITYGW:-$${STACK_BIN:-$(BIN)/stack}/versitygw} \
		$(GO) test -tags $(TAGS),integration ./velero-plugins/imagecopy/... ./velero-plugins/imagestream/... ./openshift-migration-plugin/imagestream/...

## e2e: build what is missing, build the images and take the plugins they install (make
## images-test; E2E_PLUGINS=bin takes bin/ instead), start the stack, back up on cluster A,
## restore on B; Velero 1.18 and 1.14
e2e:
	hack/e2e.sh

## demo: build what is missing, start the stack, back up the sample on A, restore on B, print what
## the plugins changed, stop everything
demo:
	hack/demo.sh

## demo-migration: build what is missing, start the stack with the migration plugin, migrate a
## sample namespace from A to B (stage, then final with quiesce, then the rollback on A), print
## what each phase did, stop everything
demo-migration:
	hack/demo-migration.sh

## bench-e2e: backup and restore time with Velero alone, the floor plugins and the plugin on the local stack (BENCHMARKS.md);
## not part of make test
bench-e2e:
	hack/bench-e2e.sh

## bench-migration: a migration's final restore with Velero alone and with openshift-migration-plugin
## on the local stack (BENCHMARKS.md, work dir .e2e-bench/); not part of make test
bench-migration:
	hack/bench-migration.sh

## stack-build / stack-up / stack-down: the real local stack (bin/stack/, work dir .e2e/)
stack-build:
	hack/build-stack.sh
stack-up:
	hack/stack.sh up
stack-down:
	hack/stack.sh down

## pins / pins-check: build/stack and build/kube require the plugin module's versions of every
## module they share with it, so a package is compiled once for both (hack/pin-stack.sh)
pins:
	hack/pin-stack.sh
pins-check:
	hack/pin-stack.sh --check

## crds: regenerate the OpenShift CRDs the stack serves from the openshift/api Go types
crds:
	hack/gen-crds.sh
crds-check:
	hack/gen-crds.sh --check

## lint: gofmt, go vet and staticcheck, all clean
lint: $(STATICCHECK)
	@out=$$(gofmt -l common velero-plugins openshift-velero-plugin openshift-migration-plugin cmd hack test build 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags $(TAGS),e2e,e2ebench,integration ./...
	$(STATICCHECK) -tags $(TAGS),e2e,e2ebench,integration ./...

$(STATICCHECK):
	GOFLAGS= $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## fuzz: every Go fuzz target, FUZZTIME each (an execution count: see hack/fuzz.sh for why)
fuzz:
	hack/fuzz.sh $(FUZZTIME)

## bench: Go benchmarks of restore Execute against a JSON round trip of the same item
bench:
	hack/bench.sh

## cross: the plugin binaries and the images' entrypoint (install-plugin), static, for every
## architecture of PLATFORMS, into bin/linux_<arch>/ (what the Dockerfiles copy, by TARGETARCH)
cross: $(foreach p,$(PLATFORMS),cross-$(notdir $(p)))
## cross-others: the same for every architecture but this machine's (.ci/run builds them in the
## background while make test, which builds this machine's, runs)
cross-others: $(foreach p,$(filter-out linux/$(HOSTARCH),$(PLATFORMS)),cross-$(notdir $(p)))
cross-%:
	GOOS=linux GOARCH=$* $(GO) build $(BUILDARGS) -o $(BIN)/linux_$*/ ./openshift-velero-plugin ./openshift-migration-plugin ./cmd/install-plugin

## images: the two init-container images, one manifest list each for PLATFORMS, built with
## buildah, podman or docker (buildah installed from apt when none is), then checked: every
## platform listed, each image's binaries ELF executables for its machine
images: cross
	hack/images.sh build
	hack/images.sh check

## images-test: both images for this machine's architecture; each image's entrypoint run as
## Velero's init container runs it (empty dir at /target) must install the plugin byte for byte,
## executable; the installed plugins are left in bin/from-images/ (the end-to-end suite runs them)
images-test: cross-$(HOSTARCH)
	hack/images.sh test $(BIN)/from-images

## images-push: push both manifest lists (make images first) to REGISTRY, e.g.
## make images-push REGISTRY=quay.io/myorg
images-push:
	hack/images.sh push

clean:
	rm -rf $(BIN)
