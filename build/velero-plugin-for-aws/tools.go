//go:build tools

// Package aws pins velero-plugin-for-aws v1.14.3 (the object store plugin the BSL uses).
package aws

import _ "github.com/vmware-tanzu/velero-plugin-for-aws/velero-plugin-for-aws"
