package imagecopy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go/aws/awserr"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"go.podman.io/image/v5/docker"
)

// Transient reports whether a copy error is worth retrying: network failures (refused, reset,
// timeouts, truncated streams, a copy idle past the Copier's idle bound) and server-side overload
// or failure (HTTP 5xx, 429, S3 SlowDown). Authentication and authorization failures, missing
// images, digest mismatches, invalid manifests, a copy over its time limit and a recovered panic
// are not.
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	verdict, decided := false, false
	walk(err, func(e error) bool {
		if v, ok := classify(e); ok {
			verdict, decided = v, true
			return true
		}
		return false
	})
	if decided {
		return verdict
	}
	// Some layers flatten errors into strings; fall back to the message.
	msg := strings.ToLower(err.Error())
	for _, s := range permanentPhrases {
		if strings.Contains(msg, s) {
			return false
		}
	}
	for _, s := range transientPhrases {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

var permanentPhrases = []string{
	"unauthorized", "authentication required", "access denied", "accessdenied", "forbidden",
	"signaturedoesnotmatch", "invalidaccesskeyid", "nosuchbucket", "manifest unknown",
	"name unknown", "not found", "x509:", "certificate", "internal error: panic",
}

var transientPhrases = []string{
	"connection refused", "connection reset", "broken pipe", "i/o timeout", "unexpected eof",
	"eof", "tls handshake timeout", "server misbehaving", "timeout", "temporarily unavailable",
	"slowdown", "service unavailable", "bad gateway", "gateway timeout", "internal server error",
	"too many requests", "requesttimeout", "internalerror",
}

// classify returns a verdict for an error it recognises, looking at this error only (walk
// visits the causes).
func classify(e error) (transient, ok bool) {
	switch e := e.(type) {
	case *TimeoutError:
		return e.Idle, true
	case *PanicError:
		return false, true
	case docker.ErrUnauthorizedForCredentials, *docker.ErrUnauthorizedForCredentials:
		return false, true
	case docker.UnexpectedHTTPStatusError:
		return retryableStatus(e.StatusCode), true
	case *CertificateError, *tls.CertificateVerificationError, x509.UnknownAuthorityError, x509.HostnameError,
		x509.CertificateInvalidError, tls.RecordHeaderError:
		return false, true
	case awserr.RequestFailure:
		if e.StatusCode() != 0 {
			return retryableStatus(e.StatusCode()), true
		}
	case *net.DNSError:
		return e.IsTimeout || e.IsTemporary, true
	case syscall.Errno:
		switch e {
		case syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, syscall.ETIMEDOUT,
			syscall.EHOSTUNREACH, syscall.ENETUNREACH, syscall.ECONNABORTED:
			return true, true
		}
		return false, false
	}
	if ae, ok := e.(awserr.Error); ok {
		switch ae.Code() {
		case "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
			"Throttling", "ThrottlingException", "RequestTimeTooSkewed", "ResponseTimeout":
			return true, true
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket",
			"ExpiredToken", "InvalidToken", "NoCredentialProviders", "RequestCanceled":
			return false, true
		}
		return false, false // "RequestError" and others: look at the cause
	}
	if e == io.ErrUnexpectedEOF || e == io.EOF || e == context.DeadlineExceeded {
		return true, true
	}
	if ne, ok := e.(net.Error); ok && ne.Timeout() {
		return true, true
	}
	return false, false
}

func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusTooManyRequests || code == http.StatusRequestTimeout
}

// walk visits err and its causes, including the ones distribution's storage driver errors and
// the AWS SDK keep outside the standard Unwrap chain, until visit returns true.
func walk(err error, visit func(error) bool) bool {
	if err == nil {
		return false
	}
	if visit(err) {
		return true
	}
	switch e := err.(type) {
	case storagedriver.Error:
		return walk(e.Detail, visit)
	case *storagedriver.Error:
		return walk(e.Detail, visit)
	case storagedriver.Errors:
		for _, c := range e.Errs {
			if walk(c, visit) {
				return true
			}
		}
		return false
	case awserr.Error:
		if walk(e.OrigErr(), visit) {
			return true
		}
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walk(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, c := range u.Unwrap() {
			if walk(c, visit) {
				return true
			}
		}
	}
	return false
}
