//go:build tools

// Package registry pins the distribution v3 registry that stands in for each cluster's
// internal image registry.
package registry

import _ "github.com/distribution/distribution/v3/cmd/registry"
