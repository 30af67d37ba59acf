package imagecopy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go/aws/awserr"
	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	"go.podman.io/image/v5/docker"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func bslFor(provider, bucket, prefix string, config map[string]string) *velerov1.BackupStorageLocation {
	return &velerov1.BackupStorageLocation{
		ObjectMeta: metav1.ObjectMeta{Namespace: "velero", Name: "loc"},
		Spec: velerov1.BackupStorageLocationSpec{
			Provider: provider, Config: config,
			StorageType: velerov1.StorageType{ObjectStorage: &velerov1.ObjectStorageLocation{Bucket: bucket, Prefix: prefix}},
		},
	}
}

func TestDriverConfig(t *testing.T) {
	clearAWSEnv(t)
	creds := []byte("[default]\naws_access_key_id=AK\naws_secret_access_key=SK\n[profile other]\naws_access_key_id = AK2\naws_secret_access_key = SK2\naws_session_token = TOK\n")
	for _, tc := range []struct {
		name    string
		bsl     *velerov1.BackupStorageLocation
		creds   []byte
		driver  string
		want    map[string]any
		wantErr string
	}{
		{
			name:   "aws endpoint, path style, default profile",
			bsl:    bslFor("aws", "b", "pre/fix", map[string]string{"s3Url": "http://minio:9000", "s3ForcePathStyle": "true"}),
			creds:  creds,
			driver: "s3aws",
			want: map[string]any{"bucket": "b", "chunksize": 5 << 20, "rootdirectory": "/pre/fix/plugins/openshift-velero-plugin/images", "regionendpoint": "http://minio:9000",
				"region": "us-east-1", "forcepathstyle": true, "accesskey": "AK", "secretkey": "SK"},
		},
		{
			name:   "velero.io/aws, region, profile, KMS",
			bsl:    bslFor("velero.io/aws", "b", "", map[string]string{"region": "eu-west-1", "profile": "other", "serverSideEncryption": "aws:kms", "kmsKeyId": "k1", "insecureSkipTLSVerify": "true"}),
			creds:  creds,
			driver: "s3aws",
			want: map[string]any{"bucket": "b", "chunksize": 5 << 20, "rootdirectory": "/plugins/openshift-velero-plugin/images", "region": "eu-west-1", "accesskey": "AK2", "secretkey": "SK2",
				"encrypt": true, "keyid": "k1", "skipverify": true},
		},
		{
			// The region is asked when the store opens; the role is assumed then.
			name:   "aws without region, web identity profile",
			bsl:    bslFor("aws", "b", "", nil),
			creds:  []byte("[default]\nrole_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = /var/run/secrets/openshift/serviceaccount/token\n"),
			driver: "s3aws",
			want:   map[string]any{"bucket": "b", "chunksize": 5 << 20, "rootdirectory": "/plugins/openshift-velero-plugin/images"},
		},
		{name: "aws missing profile", bsl: bslFor("aws", "b", "", map[string]string{"region": "us-east-1", "profile": "nope"}), creds: creds, wantErr: `no profile "nope"`},
		{name: "no bucket", bsl: bslFor("aws", "", "", nil), wantErr: "no objectStorage bucket"},
		{
			name:   "azure shared key",
			bsl:    bslFor("azure", "c", "p", map[string]string{"storageAccount": "acct", "storageAccountKeyEnvVar": "AZURE_STORAGE_ACCOUNT_ACCESS_KEY"}),
			creds:  []byte("AZURE_STORAGE_ACCOUNT_ACCESS_KEY=a2V5\nAZURE_CLOUD_NAME=AzurePublicCloud\n"),
			driver: "azure",
			want: map[string]any{"accountname": "acct", "container": "c", "rootdirectory": "/p/plugins/openshift-velero-plugin/images", "accountkey": "a2V5",
				"credentials": map[string]any{"type": "shared_key"}},
		},
		{
			name:   "azure client secret",
			bsl:    bslFor("azure", "c", "", map[string]string{"storageAccount": "acct"}),
			creds:  []byte("AZURE_TENANT_ID=t\nAZURE_CLIENT_ID=c\nAZURE_CLIENT_SECRET=s\nAZURE_CLOUD_NAME=AzureChinaCloud\n"),
			driver: "azure",
			want: map[string]any{"accountname": "acct", "container": "c", "rootdirectory": "/plugins/openshift-velero-plugin/images", "realm": "core.chinacloudapi.cn",
				"credentials": map[string]any{"type": "client_secret", "clientid": "c", "tenantid": "t", "secret": "s"}},
		},
		{
			name:   "gcp key",
			bsl:    bslFor("gcp", "g", "x", nil),
			creds:  []byte(`{"type":"service_account","client_email":"e@x"}`),
			driver: "gcs",
			want: map[string]any{"bucket": "g", "rootdirectory": "/x/plugins/openshift-velero-plugin/images",
				"credentials": map[any]any{"type": "service_account", "client_email": "e@x"}},
		},
		{
			name: "filesystem", bsl: bslFor(ProviderFilesystem, "b", "p", map[string]string{"path": "/data"}), driver: "filesystem",
			want: map[string]any{"rootdirectory": "/data/b/p/plugins/openshift-velero-plugin/images"},
		},
		{name: "unknown provider", bsl: bslFor("ibm", "b", "", nil), wantErr: `provider "ibm" is not supported`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := driverConfig(tc.bsl, tc.creds)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if err != nil && (strings.Contains(err.Error(), "SK") || strings.Contains(err.Error(), "TOK")) {
					t.Errorf("error leaks credentials: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.driver != tc.driver || fmt.Sprint(cfg.params) != fmt.Sprint(tc.want) {
				t.Errorf("got %s %v\nwant %s %v", cfg.driver, cfg.params, tc.driver, tc.want)
			}
		})
	}
	// Without region nor s3Url the region is left to ask; a web identity is kept for the open.
	cfg, err := driverConfig(bslFor("aws", "b", "", nil), []byte("[x]\nrole_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = /t\nrole_session_name = velero\n[default]\nrole_arn = arn:aws:iam::1:role/r\nweb_identity_token_file = /t\n"))
	if err != nil || cfg.s3 == nil || cfg.s3.region != "" || cfg.s3.bucket != "b" || cfg.s3.webIdentity == nil ||
		*cfg.s3.webIdentity != (webIdentity{roleARN: "arn:aws:iam::1:role/r", tokenFile: "/t", from: `credentials profile "default"`}) {
		t.Errorf("web identity without region: %+v %v", cfg.s3, err)
	}
	// The session token is applied to the client after creation.
	cfg, err = driverConfig(bslFor("aws", "b", "", map[string]string{"region": "us-east-1", "profile": "other"}), creds)
	if err != nil || cfg.s3 == nil || cfg.s3.sessionToken != "TOK" {
		t.Errorf("session token not kept: %+v %v", cfg.s3, err)
	}
}

func TestDescribeLocationHasNoSecrets(t *testing.T) {
	bsl := bslFor("aws", "b", "p", map[string]string{"s3Url": "https://s3", "region": "r"})
	bsl.Spec.ObjectStorage.CACert = []byte("CERT")
	if got, want := describeLocation(bsl), `backup storage location velero/loc (aws, bucket "b", prefix "p", s3Url https://s3)`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestTransient(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: &osSyscallError{syscall.ECONNREFUSED}}
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{refused, true},
		{fmt.Errorf("copying: %w", refused), true},
		{storagedriver.Error{DriverName: "s3aws", Detail: awserr.New("RequestError", "send request failed", refused)}, true},
		{storagedriver.Error{DriverName: "s3aws", Detail: awserr.NewRequestFailure(awserr.New("SignatureDoesNotMatch", "no", nil), 403, "id")}, false},
		{storagedriver.Error{DriverName: "s3aws", Detail: awserr.NewRequestFailure(awserr.New("SlowDown", "slow", nil), 503, "id")}, true},
		{fmt.Errorf("flush: %w", awserr.New("RequestError", "send", io.ErrUnexpectedEOF)), true},
		{fmt.Errorf("reading: %w", docker.ErrUnauthorizedForCredentials{Err: errors.New("401")}), false},
		{fmt.Errorf("x: %w", docker.UnexpectedHTTPStatusError{StatusCode: 502}), true},
		{fmt.Errorf("x: %w", docker.UnexpectedHTTPStatusError{StatusCode: 404}), false},
		{errors.New("reading manifest v1 in r/x: manifest unknown"), false},
		{errors.New("something: connection reset by peer"), true},
		{errors.New("digest mismatch"), false},
	} {
		if got := Transient(tc.err); got != tc.want {
			t.Errorf("Transient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

type osSyscallError struct{ err error }

func (e *osSyscallError) Error() string { return "connect: " + e.err.Error() }
func (e *osSyscallError) Unwrap() error { return e.err }

func TestImageNames(t *testing.T) {
	reg, err := NewRegistry(RegistryOptions{Host: "image-registry.openshift-image-registry.svc:5000", Token: "secret-token"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := reg.Image("ns/app", "sha256:"+strings.Repeat("a", 64))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.String(); got != "registry image-registry.openshift-image-registry.svc:5000 image ns/app@sha256:"+strings.Repeat("a", 64) {
		t.Errorf("got %s", got)
	}
	if _, err := reg.Image("NS/App", "v1"); err == nil {
		t.Error("an invalid repository name was accepted")
	}
	if strings.Contains(fmt.Sprintf("%v %+v", reg, img), "secret-token") {
		t.Error("the token shows in a formatted Registry or Image")
	}
	if _, err := NewRegistry(RegistryOptions{Host: "https://x"}); err == nil {
		t.Error("a URL was accepted as host")
	}
}
