// Package e2e holds the end-to-end tests: real etcd and kube-apiservers (clusters A and B, the
// OpenShift APIs served as CRDs from crds/), a real Velero server per cluster running the built
// plugin binaries, one S3-compatible bucket both clusters share, and one registry per cluster.
//
// The tests carry the build tag e2e, so `go test ./...` does not run them. Start the stack and
// run them with:
//
//	hack/stack.sh up && go test -tags e2e -count=1 -v ./test/e2e/ ; hack/stack.sh down
//
// or hack/e2e.sh, which does all three (VELERO_VERSION=1.14 for the Velero 1.14.1 server).
// The tests read the env file `hack/stack.sh up` writes ($E2E_ENV, default .e2e/env).
//
// sample_test.go creates the sample namespace on A (and what B's controllers would have made
// before a restore), backup_restore_test.go holds the table of checks, table_test.go the
// before/after table `make demo` prints, images_test.go the ImageStream image backup and restore
// (images pushed to A's registry, found in B's after each restore), pullsecret_route_test.go the
// workloads running as a service account of their own and the route whose custom host has the
// generated form, podvolumes_test.go a DeploymentConfig whose pod's volume has a PodVolumeBackup
// (written as Velero's backup sync would: the stack has no node agent), and registry_test.go the
// tests' registry client and test images. bench_test.go (tags e2e,e2ebench) is `make bench-e2e`.
package e2e
