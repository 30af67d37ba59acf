package imagecopy

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/distribution/distribution/v3/registry/storage/driver/factory"
)

// clearAzureEnv keeps the host's Azure settings out of a test.
func clearAzureEnv(t *testing.T) {
	t.Helper()
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE",
		"AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_TOKEN_CREDENTIALS", "AZURE_AUTHORITY_HOST"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)  // the SDKs tell "set to empty" from "not set"
	}
}

// oadpAzureSTS is the credential OADP writes for Azure workload identity: identifiers, no secret.
const oadpAzureSTS = "AZURE_SUBSCRIPTION_ID=12345678-1234-1234-1234-123456789012\nAZURE_TENANT_ID=87654321-4321-4321-4321-210987654321\n" +
	"AZURE_CLIENT_ID=abcdef12-3456-7890-abcd-ef1234567890\nAZURE_CLOUD_NAME=AzurePublicCloud\n"

// TestAzureWorkloadIdentity: with Velero's signal for workload identity in the plugin's
// environment (AZURE_FEDERATED_TOKEN_FILE with AZURE_CLIENT_ID and AZURE_TENANT_ID) and a
// credential holding no secret, the driver authenticates with azidentity's default chain, whose
// WorkloadIdentityCredential reads exactly those variables, and the driver is constructed without
// anything failing first. What this cannot show here: the token exchange with Entra ID and the
// blob requests (no Azure endpoint or emulator is reachable; azidentity accepts only an https
// authority it can discover).
func TestAzureWorkloadIdentity(t *testing.T) {
	clearAzureEnv(t)
	t.Setenv("AZURE_FEDERATED_TOKEN_FILE", writeToken(t, "projected-sa-token"))
	t.Setenv("AZURE_CLIENT_ID", "abcdef12-3456-7890-abcd-ef1234567890")
	t.Setenv("AZURE_TENANT_ID", "87654321-4321-4321-4321-210987654321")
	bsl := bslFor("azure", "velero", "p", map[string]string{"storageAccount": "acct", "resourceGroup": "rg", "subscriptionId": "s", "useAAD": "true"})
	for _, creds := range []string{oadpAzureSTS, ""} {
		cfg, err := driverConfig(bsl, []byte(creds))
		if err != nil {
			t.Fatalf("credential %q: %v", creds, err)
		}
		if got, _ := cfg.params["credentials"].(map[string]any); got["type"] != "default_credentials" {
			t.Errorf("credential %q: credentials %v, want the default chain (it holds workload identity)", creds, got)
		}
		drv, err := factory.Create(context.Background(), cfg.driver, cfg.params)
		if err != nil {
			t.Fatalf("credential %q: constructing the driver: %v", creds, err)
		}
		if drv.Name() != "azure" {
			t.Errorf("driver %s", drv.Name())
		}
	}
}

// TestAzureWorkloadIdentityIncomplete: AZURE_FEDERATED_TOKEN_FILE set without what workload
// identity also needs is a clear error naming the location and the missing piece, instead of the
// default chain silently skipping workload identity and failing later at managed identity.
func TestAzureWorkloadIdentityIncomplete(t *testing.T) {
	token := "projected-sa-token-" + randomSuffix()
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no client ID", map[string]string{"AZURE_TENANT_ID": "t"}, "AZURE_CLIENT_ID"},
		{"no tenant ID", map[string]string{"AZURE_CLIENT_ID": "c"}, "AZURE_TENANT_ID"},
		{"token file missing", map[string]string{"AZURE_CLIENT_ID": "c", "AZURE_TENANT_ID": "t", "AZURE_FEDERATED_TOKEN_FILE": "/nonexistent/azure-token"}, "/nonexistent/azure-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearAzureEnv(t)
			t.Setenv("AZURE_FEDERATED_TOKEN_FILE", writeToken(t, token))
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			bsl := bslFor("azure", "velero", "p", map[string]string{"storageAccount": "acct"})
			_, err := OpenStore(context.Background(), bsl, StoreOptions{Credentials: []byte(oadpAzureSTS)})
			t.Logf("%v", err)
			if err == nil || !strings.Contains(err.Error(), "backup storage location velero/loc") ||
				!strings.Contains(err.Error(), "workload identity") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error naming the location, workload identity and %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Error("the error holds the token")
			}
		})
	}
}

// TestAzureClientSecretIncomplete: a client secret without the tenant or client ID names what is
// missing (Velero's Azure plugin requires both).
func TestAzureClientSecretIncomplete(t *testing.T) {
	clearAzureEnv(t)
	bsl := bslFor("azure", "velero", "", map[string]string{"storageAccount": "acct"})
	for creds, want := range map[string]string{
		"AZURE_CLIENT_ID=c\nAZURE_CLIENT_SECRET=s3cr3t\n": "AZURE_TENANT_ID",
		"AZURE_TENANT_ID=t\nAZURE_CLIENT_SECRET=s3cr3t\n": "AZURE_CLIENT_ID",
	} {
		_, err := driverConfig(bsl, []byte(creds))
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("credential without %s: %v", want, err)
		}
	}
}
