//go:build tools

// Package kube pins k8s.io/kubernetes so that `go build k8s.io/kubernetes/cmd/kube-apiserver` (and
// cmd/kubectl) builds the pinned version from the module proxy (see ../README.md).
package kube

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
