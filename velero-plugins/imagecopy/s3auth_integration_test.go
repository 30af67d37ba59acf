//go:build integration

package imagecopy

// The setups of s3auth_test.go against the real S3 server (versitygw, which checks SigV4 and
// refuses requests signed for another region than its own).

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/velero-openshift/plugins/test/testimage"
)

// copyOneImage copies a small image from a test registry into store and checks that the store
// holds it under the same digest, and that its objects are in the bucket.
func copyOneImage(t *testing.T, s3 *testS3, store *Store, prefix string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg := startRegistry(t, "token-"+randomHex(8))
	img := testimage.New(t, testimage.Spec{Arch: "amd64"}, testimage.Layer{Seed: 41, Size: 256 * kib})
	reg.Push(t, "team/app", img, "v1")
	src, err := endpoint(t, reg).Image("team/app", "v1")
	if err != nil {
		t.Fatal(err)
	}
	dst, err := store.Image("team/app", "v1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&Copier{}).Copy(ctx, src, dst); err != nil {
		t.Fatalf("copy into %s: %v", store, err)
	}
	if d, err := store.Resolve(ctx, dst); err != nil || d != img.Digest {
		t.Fatalf("stored %s, %v; pushed %s", d, err, img.Digest)
	}
	keys := listKeys(t, s3)
	if len(keys) == 0 || !strings.HasPrefix(keys[0], prefix+"/"+ImagesDir+"/") {
		t.Errorf("objects in the bucket: %v", keys)
	}
}

// TestStoreDiscoversBucketRegionOnS3: a location with neither region nor s3Url (the S3 endpoint
// comes from AWS_ENDPOINT_URL_S3, as for Velero's AWS plugin) is signed for the region the
// server reports for the bucket. The server refuses the default region, so the copy only works
// with the discovered one.
func TestStoreDiscoversBucketRegionOnS3(t *testing.T) {
	clearAWSEnv(t)
	s3 := startS3In(t, "eu-west-3")
	ctx := context.Background()
	creds := s3.credentials(s3.secretKey)

	// The server does refuse requests signed for us-east-1.
	wrong := s3.bsl("wrong-region", "p")
	wrong.Spec.Config["region"] = "us-east-1"
	_, err := OpenStore(ctx, wrong, StoreOptions{Credentials: creds})
	t.Logf("signed for us-east-1: %v", err)
	if err == nil {
		t.Fatal("the S3 server accepted requests signed for another region: this test would show nothing")
	}

	t.Setenv("AWS_ENDPOINT_URL_S3", s3.url())
	bsl := s3.bsl("no-region", "p")
	delete(bsl.Spec.Config, "region")
	delete(bsl.Spec.Config, "s3Url")
	log, logs := newTestLog(t)
	store, err := OpenStore(ctx, bsl, StoreOptions{Credentials: creds, Log: log})
	if err != nil {
		t.Fatalf("no region: %v", err)
	}
	copyOneImage(t, s3, store, "p")
	if !strings.Contains(logs.String(), "eu-west-3") {
		t.Errorf("the discovered region is not logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), s3.secretKey) {
		t.Error("the log holds the secret key")
	}
}

// TestStoreWebIdentityOnS3: a location whose credential is only a web identity (role_arn and
// web_identity_token_file, as OpenShift's STS mode writes it) gets its S3 keys from STS (an
// httptest server standing in for it): the credentials file holds no key, so the image copy
// signs for the S3 server only with what STS returned. STS here returns the server's own keys
// without a session token: versitygw accepts session tokens only from its own IAM service, so
// that the session token is sent is shown against a recording server in s3auth_test.go.
func TestStoreWebIdentityOnS3(t *testing.T) {
	clearAWSEnv(t)
	s3 := startS3(t)
	sts := startSTS(t)
	sts.akid, sts.secret, sts.session = s3.accessKey, s3.secretKey, ""
	t.Setenv("AWS_ENDPOINT_URL_STS", sts.URL)
	token := "projected-sa-token-" + randomHex(8)
	role := "arn:aws:iam::123456789012:role/velero"
	creds := []byte("[default]\naws_access_key_id = nobody\naws_secret_access_key = nothing\n\n" +
		"[backup]\nsts_regional_endpoints = regional\nrole_arn = " + role + "\nweb_identity_token_file = " + writeToken(t, token) + "\n")
	log, logs := newTestLog(t)
	store, err := OpenStore(context.Background(), s3.bsl("sts", "p"), StoreOptions{Credentials: creds, Log: log})
	if err != nil {
		t.Fatalf("web identity: %v", err)
	}
	copyOneImage(t, s3, store, "p")
	if calls, gotRole, gotToken := sts.seen(); calls == 0 || gotRole != role || gotToken != token {
		t.Errorf("STS saw %d calls, role %q; want %q and the token file's content", calls, gotRole, role)
	}
	for _, secret := range []string{token, s3.secretKey} {
		if strings.Contains(logs.String(), secret) {
			t.Error("the log holds the token or the secret key")
		}
	}
}
