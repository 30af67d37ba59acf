//go:build tools

// Package s3 pins versitygw, an S3-compatible gateway that verifies AWS SigV4 signatures
// (so the BSL credential plumbing is really exercised), served from its posix backend.
package s3

import _ "github.com/versity/versitygw/cmd/versitygw"
