//go:build tools

// Package velero pins the Velero v1.18.3 server (cmd/velero) for the local end-to-end stack.
package velero

import _ "github.com/vmware-tanzu/velero/cmd/velero"
