package imagecopy

// What an S3 location needs besides distribution's driver parameters for the setups Velero's AWS
// plugin accepts: the bucket's region when the location names none, and web identity
// credentials (an IAM role assumed with a projected service account token, as on ROSA, EKS and
// OADP with short-lived tokens). Both use aws-sdk-go v1, the SDK distribution's driver is built on.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go/aws"
	"github.com/aws/aws-sdk-go/aws/awserr"
	"github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/credentials/stscreds"
	"github.com/aws/aws-sdk-go/aws/endpoints"
	"github.com/aws/aws-sdk-go/aws/session"
	awss3 "github.com/aws/aws-sdk-go/service/s3"
	"github.com/aws/aws-sdk-go/service/s3/s3manager"
	"github.com/aws/aws-sdk-go/service/sts"
	"github.com/sirupsen/logrus"
)

const (
	// regionTimeout bounds asking a bucket's region, retries included.
	regionTimeout = 30 * time.Second
	// stsTimeout bounds the first exchange of a web identity token for credentials; later
	// refreshes are bounded by the request that needs them.
	stsTimeout = 30 * time.Second
	// stsExpiryWindow refreshes temporary credentials this long before they expire, so a request
	// signed with them is not refused on the way.
	stsExpiryWindow = time.Minute
)

// webIdentity is an IAM role to assume with a token file (AssumeRoleWithWebIdentity).
type webIdentity struct {
	roleARN, tokenFile, sessionName string
	from                            string // where it is configured, for errors
}

// webIdentityFromEnv is the web identity the AWS SDKs take from the environment when there are
// no static keys there (EKS's IRSA, OpenShift's STS mode): AWS_WEB_IDENTITY_TOKEN_FILE with
// AWS_ROLE_ARN. nil when the environment has none.
func webIdentityFromEnv() (*webIdentity, error) {
	file := os.Getenv("AWS_WEB_IDENTITY_TOKEN_FILE")
	if file == "" || (os.Getenv("AWS_ACCESS_KEY_ID") != "" && os.Getenv("AWS_SECRET_ACCESS_KEY") != "") {
		return nil, nil
	}
	role := os.Getenv("AWS_ROLE_ARN")
	if role == "" {
		return nil, errors.New("the location has no credential and the environment sets AWS_WEB_IDENTITY_TOKEN_FILE without AWS_ROLE_ARN (web identity needs both)")
	}
	return &webIdentity{roleARN: role, tokenFile: file, sessionName: os.Getenv("AWS_ROLE_SESSION_NAME"),
		from: "environment AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE"}, nil
}

// endpointFromEnv is the endpoint the AWS SDKs' environment settings give a service
// (AWS_ENDPOINT_URL_<SERVICE>, else AWS_ENDPOINT_URL, unless
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is true): Velero's AWS plugin (SDK v2) honours them, the SDK
// v1 of distribution's driver does not.
func endpointFromEnv(service string) string {
	if ignore, _ := strconv.ParseBool(os.Getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")); ignore {
		return ""
	}
	if v := os.Getenv("AWS_ENDPOINT_URL_" + service); v != "" {
		return v
	}
	return os.Getenv("AWS_ENDPOINT_URL")
}

// httpClient is the HTTP client for the location's CA bundle and insecureSkipTLSVerify, for S3
// and, as Velero's AWS plugin does, for STS; nil means the SDK's default.
func (f *s3Fixups) httpClient() *http.Client {
	f.clientOnce.Do(func() {
		if f.roots == nil && !f.skipVerify {
			return
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: f.roots, InsecureSkipVerify: f.skipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // only when the location says so
		f.client = &http.Client{Transport: tr}
	})
	return f.client
}

// prepare completes the driver parameters before the driver is created: the bucket's region
// when the location names none, and web identity credentials (exchanged once now, so a refusal
// is an error naming the role instead of a failed request later).
func (f *s3Fixups) prepare(ctx context.Context, params map[string]any, log logrus.FieldLogger) error {
	if f.region == "" {
		r, err := f.bucketRegion(ctx, log)
		if err != nil {
			return err
		}
		f.region = r
		params["region"] = r
	}
	if f.webIdentity != nil {
		creds, err := f.webIdentity.credentials(ctx, f.region, f.httpClient())
		if err != nil {
			return err
		}
		f.creds = creds
	}
	return nil
}

// regions are the bucket regions asked so far, by endpoint and bucket: only definite answers.
var regions = struct {
	sync.Mutex
	known map[string]string
}{known: map[string]string{}}

// bucketRegion asks the endpoint (AWS's when the location names none) for the bucket's region
// as Velero's AWS plugin does: an anonymous HeadBucket whose x-amz-bucket-region header S3
// sends whatever the answer (also with 301 and 403), starting from us-east-1. An answer is
// remembered for the process; a failure is this attempt's error and the next one asks again.
func (f *s3Fixups) bucketRegion(ctx context.Context, log logrus.FieldLogger) (string, error) {
	key := f.endpoint + "\x00" + f.bucket
	regions.Lock()
	r, ok := regions.known[key]
	regions.Unlock()
	if ok {
		return r, nil
	}
	cfg := aws.NewConfig().WithRegion("us-east-1").WithCredentials(credentials.AnonymousCredentials)
	if f.endpoint != "" {
		cfg = cfg.WithEndpoint(f.endpoint)
	}
	if c := f.httpClient(); c != nil {
		cfg = cfg.WithHTTPClient(c)
	}
	sess, err := session.NewSession(cfg)
	if err != nil {
		return "", fmt.Errorf(`config "region" is not set and a client to ask the bucket's region cannot be made: %w`, err)
	}
	ctx, cancel := context.WithTimeout(ctx, regionTimeout)
	defer cancel()
	r, err = s3manager.GetBucketRegionWithClient(ctx, awss3.New(sess), f.bucket)
	var failure awserr.RequestFailure
	switch {
	case errors.As(err, &failure) && failure.StatusCode() == http.StatusNotFound:
		return "", fmt.Errorf(`config "region" is not set and bucket %q was not found when asking for its region: %w`, f.bucket, err)
	case err != nil && ctx.Err() != nil:
		return "", fmt.Errorf(`config "region" is not set and the question for bucket %q's region got no answer in time: %w`, f.bucket, err)
	case err != nil:
		return "", fmt.Errorf(`config "region" is not set and asking bucket %q's region failed: %w`, f.bucket, err)
	case r == "":
		return "", fmt.Errorf(`config "region" is not set and the endpoint did not say bucket %q's region`, f.bucket)
	}
	regions.Lock()
	regions.known[key] = r
	regions.Unlock()
	if log != nil {
		log.Infof("bucket %q is in region %s (asked the endpoint: the location's config names no region)", f.bucket, r)
	}
	return r, nil
}

// credentials assumes the role with the token file through STS in region (regional endpoint, or
// AWS_ENDPOINT_URL_STS), and checks that it works now. The SDK provider reads the token file on
// each refresh: projected tokens rotate.
func (w *webIdentity) credentials(ctx context.Context, region string, client *http.Client) (*credentials.Credentials, error) {
	cfg := aws.NewConfig().WithRegion(region).WithCredentials(credentials.AnonymousCredentials).
		WithSTSRegionalEndpoint(endpoints.RegionalSTSEndpoint)
	if ep := endpointFromEnv("STS"); ep != "" {
		cfg = cfg.WithEndpoint(ep)
	}
	if client != nil {
		cfg = cfg.WithHTTPClient(client)
	}
	sess, err := session.NewSession(cfg)
	if err != nil {
		return nil, fmt.Errorf("web identity (%s): making an STS client: %w", w.from, err)
	}
	p := stscreds.NewWebIdentityRoleProviderWithOptions(sts.New(sess), w.roleARN, w.sessionName, stscreds.FetchTokenPath(w.tokenFile),
		func(p *stscreds.WebIdentityRoleProvider) { p.ExpiryWindow = stsExpiryWindow })
	creds := credentials.NewCredentials(p)
	ctx, cancel := context.WithTimeout(ctx, stsTimeout)
	defer cancel()
	if _, err := creds.GetWithContext(ctx); err != nil {
		return nil, fmt.Errorf("web identity (%s): assuming role %s with token file %s: %w", w.from, w.roleARN, w.tokenFile, err)
	}
	return creds, nil
}
