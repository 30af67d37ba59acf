package imagecopy

// Locations set up as Velero's AWS plugin accepts them without static keys or without a region:
// web identity credentials (a profile with role_arn and web_identity_token_file, as on ROSA and
// OADP with short-lived tokens, or AWS_ROLE_ARN / AWS_WEB_IDENTITY_TOKEN_FILE) and a bucket whose
// region is discovered. An httptest server stands in for STS and another for S3; both record
// what they were asked.

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

// fakeSTS answers AssumeRoleWithWebIdentity with fixed temporary credentials.
type fakeSTS struct {
	*httptest.Server
	akid, secret, session string

	mu       sync.Mutex
	calls    int
	roleARN  string
	token    string
	failWith int // HTTP status to answer with instead of credentials (0: answer)
}

func startSTS(t *testing.T) *fakeSTS {
	t.Helper()
	f := &fakeSTS{akid: "ASIAFAKESTS" + randomSuffix(), secret: "sts-secret-" + randomSuffix(), session: "sts-session-" + randomSuffix()}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSTS) serve(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	f.mu.Lock()
	f.calls++
	f.roleARN, f.token = r.PostForm.Get("RoleArn"), r.PostForm.Get("WebIdentityToken")
	fail := f.failWith
	f.mu.Unlock()
	if r.PostForm.Get("Action") != "AssumeRoleWithWebIdentity" {
		http.Error(w, "unexpected action "+r.PostForm.Get("Action"), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/xml")
	if fail != 0 {
		w.WriteHeader(fail)
		fmt.Fprint(w, `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error><RequestId>r</RequestId></ErrorResponse>`)
		return
	}
	fmt.Fprintf(w, `<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>`+
		`<Credentials><AccessKeyId>%s</AccessKeyId><SecretAccessKey>%s</SecretAccessKey><SessionToken>%s</SessionToken><Expiration>%s</Expiration></Credentials>`+
		`</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>`,
		f.akid, f.secret, f.session, time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
}

func (f *fakeSTS) seen() (calls int, roleARN, token string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, f.roleARN, f.token
}

// fakeS3 answers HeadBucket (with the bucket's region, or a failure) and an empty
// ListObjectsV2, recording how each request was signed.
type fakeS3 struct {
	*httptest.Server
	region string

	mu        sync.Mutex
	heads     int
	headFail  int  // status to answer HeadBucket with (0: 200 with the region header)
	headHang  bool // never answer HeadBucket
	requests  []s3Request
	hangUntil chan struct{}
}

type s3Request struct {
	method, path, authorization, securityToken string
}

func startFakeS3(t *testing.T, region string) *fakeS3 {
	t.Helper()
	f := &fakeS3{region: region, hangUntil: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { close(f.hangUntil); f.Close() })
	return f
}

func (f *fakeS3) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, s3Request{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-Amz-Security-Token")})
	if r.Method == http.MethodHead {
		f.heads++
	}
	fail, hang := f.headFail, f.headHang
	f.mu.Unlock()
	switch {
	case r.Method == http.MethodHead && hang:
		select {
		case <-r.Context().Done():
		case <-f.hangUntil:
		}
	case r.Method == http.MethodHead && fail != 0:
		w.WriteHeader(fail)
	case r.Method == http.MethodHead:
		w.Header().Set("X-Amz-Bucket-Region", f.region)
	case r.Method == http.MethodGet && r.URL.Query().Get("list-type") == "2":
		// Requests signed for another region than the bucket's are refused, as S3 does.
		if !strings.Contains(r.Header.Get("Authorization"), "/"+f.region+"/s3/aws4_request") {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region is wrong; expecting '%s'</Message></Error>`, f.region)
			return
		}
		w.Header().Set("Content-Type", "application/xml")
		fmt.Fprint(w, `<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>velero</Name><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>`)
	default:
		w.WriteHeader(http.StatusNotImplemented)
	}
}

func (f *fakeS3) set(fn func(*fakeS3)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func (f *fakeS3) headCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heads
}

// signed returns the requests other than HeadBucket (the store's own, signed ones).
func (f *fakeS3) signed() []s3Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []s3Request
	for _, r := range f.requests {
		if r.method != http.MethodHead {
			out = append(out, r)
		}
	}
	return out
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%X", b)
}

// unitLog keeps what a logger wrote, to check what was (not) logged.
type unitLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *unitLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *unitLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newUnitLog() (*logrus.Logger, *unitLog) {
	out := &unitLog{}
	l := logrus.New()
	l.Out = out
	l.Level = logrus.DebugLevel
	return l, out
}

// clearAWSEnv keeps the host's AWS settings out of a test.
func clearAWSEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_SESSION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_STS", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
		"AWS_SDK_LOAD_CONFIG", "AWS_CA_BUNDLE", "AWS_STS_REGIONAL_ENDPOINTS"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)  // the SDKs tell "set to empty" from "not set"
	}
	dir := t.TempDir()
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "none"))
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "none"))
}

func writeToken(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWebIdentityCredentialsSignS3Requests: a location whose credentials are a web identity (a
// profile with role_arn and web_identity_token_file, or no credential and AWS_ROLE_ARN /
// AWS_WEB_IDENTITY_TOKEN_FILE in the environment) opens: the token file is sent to STS
// (AWS_ENDPOINT_URL_STS) with the role, and the temporary credentials STS returns sign the S3
// requests, session token included. Nothing of the token or the credentials shows in the log.
func TestWebIdentityCredentialsSignS3Requests(t *testing.T) {
	for _, tc := range []struct {
		name  string
		creds func(tokenFile string) string
		env   func(t *testing.T, tokenFile string)
		role  string
	}{
		{
			name: "credentials profile",
			creds: func(tokenFile string) string {
				return "[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n" +
					"[backup]\nsts_regional_endpoints = regional\nrole_arn = arn:aws:iam::123456789012:role/velero-profile\n" +
					"web_identity_token_file = " + tokenFile + "\n"
			},
			role: "arn:aws:iam::123456789012:role/velero-profile",
		},
		{
			name: "environment",
			env: func(t *testing.T, tokenFile string) {
				t.Setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/velero-env")
				t.Setenv("AWS_WEB_IDENTITY_TOKEN_FILE", tokenFile)
			},
			role: "arn:aws:iam::123456789012:role/velero-env",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearAWSEnv(t)
			sts := startSTS(t)
			s3 := startFakeS3(t, "us-east-1")
			t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
			token := "projected-sa-token-" + randomSuffix()
			tokenFile := writeToken(t, token)
			var creds []byte
			if tc.creds != nil {
				creds = []byte(tc.creds(tokenFile))
			}
			if tc.env != nil {
				tc.env(t, tokenFile)
			}
			bsl := bslFor("aws", "velero", "p", map[string]string{"region": "us-east-1", "s3Url": s3.URL, "s3ForcePathStyle": "true", "profile": "backup"})
			log, logs := newUnitLog()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if _, err := OpenStore(ctx, bsl, StoreOptions{Credentials: creds, Log: log}); err != nil {
				t.Fatalf("OpenStore: %v", err)
			}
			calls, role, sent := sts.seen()
			if calls == 0 || role != tc.role || sent != token {
				t.Errorf("STS saw %d calls, role %q, token %q; want the role %q and the token file's content", calls, role, sent, tc.role)
			}
			reqs := s3.signed()
			if len(reqs) == 0 {
				t.Fatal("no S3 request")
			}
			for _, r := range reqs {
				if !strings.Contains(r.authorization, "Credential="+sts.akid+"/") || r.securityToken != sts.session {
					t.Errorf("%s %s signed with %q, token %q; want STS's access key %s and session token", r.method, r.path, r.authorization, r.securityToken, sts.akid)
				}
			}
			for _, secret := range []string{token, sts.secret, sts.session} {
				if strings.Contains(logs.String(), secret) {
					t.Errorf("the log holds a token or credential:\n%s", logs.String())
				}
			}
		})
	}
}

// TestWebIdentityErrors: a web identity that cannot give credentials fails when the store is
// opened, naming the location and what is missing or refused, never the token.
func TestWebIdentityErrors(t *testing.T) {
	const role = "arn:aws:iam::123456789012:role/velero"
	for _, tc := range []struct {
		name    string
		creds   func(tokenFile string) string
		env     map[string]string
		stsFail int
		want    []string
	}{
		{
			name: "token file missing",
			creds: func(string) string {
				return "[default]\nrole_arn = " + role + "\nweb_identity_token_file = /nonexistent/token\n"
			},
			want: []string{"web identity", role, "/nonexistent/token"},
		},
		{
			name: "STS refuses the role",
			creds: func(f string) string {
				return "[default]\nrole_arn = " + role + "\nweb_identity_token_file = " + f + "\n"
			},
			stsFail: http.StatusForbidden,
			want:    []string{"web identity", role, "AccessDenied"},
		},
		{
			name:  "token file without role",
			creds: func(f string) string { return "[default]\nweb_identity_token_file = " + f + "\n" },
			want:  []string{`profile "default"`, "role_arn"},
		},
		{
			name:  "role without a token file (assume role from keys is not supported)",
			creds: func(string) string { return "[default]\nrole_arn = " + role + "\nsource_profile = base\n" },
			want:  []string{`profile "default"`, "role_arn", "web_identity_token_file"},
		},
		{
			name:  "profile with neither keys nor web identity",
			creds: func(string) string { return "[default]\nregion = us-east-1\n" },
			want:  []string{`profile "default"`, "aws_access_key_id", "web_identity_token_file"},
		},
		{
			name: "environment token file without role",
			env:  map[string]string{"AWS_WEB_IDENTITY_TOKEN_FILE": "TOKENFILE"},
			want: []string{"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearAWSEnv(t)
			sts := startSTS(t)
			sts.failWith = tc.stsFail
			s3 := startFakeS3(t, "us-east-1")
			t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
			token := "projected-sa-token-" + randomSuffix()
			tokenFile := writeToken(t, token)
			var creds []byte
			if tc.creds != nil {
				creds = []byte(tc.creds(tokenFile))
			}
			for k, v := range tc.env {
				t.Setenv(k, strings.ReplaceAll(v, "TOKENFILE", tokenFile))
			}
			bsl := bslFor("aws", "velero", "p", map[string]string{"region": "us-east-1", "s3Url": s3.URL, "s3ForcePathStyle": "true"})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := OpenStore(ctx, bsl, StoreOptions{Credentials: creds})
			t.Logf("%v", err)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append([]string{"backup storage location velero/loc"}, tc.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("the error holds the token")
			}
			if n := len(s3.signed()); n != 0 {
				t.Errorf("%d S3 requests were made without credentials", n)
			}
		})
	}
}

// TestBucketRegionDiscovery: a location with neither region nor s3Url is in the region its
// bucket reports (HeadBucket's x-amz-bucket-region, as Velero's AWS plugin asks). A failed or
// unanswered question is an error for this attempt, bounded in time and not remembered: the next
// attempt asks again. A definite answer is asked once.
func TestBucketRegionDiscovery(t *testing.T) {
	clearAWSEnv(t)
	s3 := startFakeS3(t, "eu-west-3")
	t.Setenv("AWS_ENDPOINT_URL_S3", s3.URL) // stands in for AWS's S3 endpoint
	bsl := bslFor("aws", "velero", "p", map[string]string{"s3ForcePathStyle": "true"})
	creds := []byte("[default]\naws_access_key_id = AKID\naws_secret_access_key = SECRET\n")
	log, logs := newUnitLog()
	open := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		_, err := OpenStore(ctx, bsl, StoreOptions{Credentials: creds, Log: log})
		return err
	}

	// The server fails: an error naming the location and the question, not the end of it.
	s3.set(func(f *fakeS3) { f.headFail = http.StatusServiceUnavailable })
	err := open(30 * time.Second)
	t.Logf("503: %v", err)
	if err == nil || !strings.Contains(err.Error(), "backup storage location velero/loc") || !strings.Contains(err.Error(), "region") {
		t.Fatalf("a failing HeadBucket: %v", err)
	}
	if !Transient(err) {
		t.Errorf("a 503 while discovering the region is not transient: %v", err)
	}

	// The server does not answer: bounded by the caller's deadline.
	s3.set(func(f *fakeS3) { f.headFail, f.headHang = 0, true })
	start := time.Now()
	err = open(time.Second)
	t.Logf("no answer (%v): %v", time.Since(start), err)
	if err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("an unanswered HeadBucket: %v after %v", err, time.Since(start))
	}

	// Then it answers: the store opens, signing for the bucket's region.
	s3.set(func(f *fakeS3) { f.headHang = false })
	before := s3.headCount()
	if err := open(30 * time.Second); err != nil {
		t.Fatalf("after the server recovered: %v", err)
	}
	if s3.headCount() == before {
		t.Error("the failure was remembered: no HeadBucket after it")
	}
	for _, r := range s3.signed() {
		if !strings.Contains(r.authorization, "/eu-west-3/s3/aws4_request") {
			t.Errorf("%s %s signed for another region: %s", r.method, r.path, r.authorization)
		}
	}
	if !strings.Contains(logs.String(), "eu-west-3") {
		t.Errorf("the discovered region is not logged:\n%s", logs.String())
	}

	// A definite answer is not asked again.
	after := s3.headCount()
	if err := open(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := s3.headCount() - after; n != 0 {
		t.Errorf("the region was asked again (%d HeadBucket) after a definite answer", n)
	}
	if strings.Contains(logs.String(), "SECRET") {
		t.Error("the log holds the secret key")
	}
}

// TestBucketRegionNotFound: a bucket the endpoint does not know is a clear error naming it.
func TestBucketRegionNotFound(t *testing.T) {
	clearAWSEnv(t)
	s3 := startFakeS3(t, "eu-west-3")
	s3.set(func(f *fakeS3) { f.headFail = http.StatusNotFound })
	t.Setenv("AWS_ENDPOINT_URL_S3", s3.URL)
	bsl := bslFor("aws", "no-such-bucket", "", map[string]string{"s3ForcePathStyle": "true"})
	_, err := OpenStore(context.Background(), bsl, StoreOptions{Credentials: []byte("[default]\naws_access_key_id = A\naws_secret_access_key = S\n")})
	t.Logf("%v", err)
	if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket"`) || !strings.Contains(err.Error(), "not found") || !strings.Contains(err.Error(), `"region"`) {
		t.Errorf("unknown bucket: %v", err)
	}
	if Transient(err) {
		t.Errorf("an unknown bucket is transient: %v", err)
	}
}
