//go:build tools

// Package stack pins the end-to-end stack's components that can share the plugin module's
// dependency versions (hack/pin-stack.sh): the Velero v1.18.3 server, velero-plugin-for-aws
// v1.14.3 (the object store plugin the BackupStorageLocation uses), and the distribution v3 registry that stands in
// for each cluster's internal image registry.
package stack

import (
	_ "github.com/distribution/distribution/v3/cmd/registry"
	_ "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws"
	_ "github.com/vmware-tanzu/velero/cmd/velero"
)
