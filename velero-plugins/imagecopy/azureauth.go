package imagecopy

import (
	"fmt"
	"os"
)

// checkWorkloadIdentity checks, when the environment signals Azure workload identity
// (AZURE_FEDERATED_TOKEN_FILE, which Velero's Azure plugin takes as the choice of it), that
// azidentity's WorkloadIdentityCredential, the one of the driver's default chain that reads the
// token file, has what it needs. Otherwise the chain skips it silently and fails later, at managed
// identity, with an error that does not say why. Like Velero's plugin, workload identity takes the
// client and tenant IDs from the environment, not from the location's credential.
func checkWorkloadIdentity(creds map[string]string) error {
	file := os.Getenv("AZURE_FEDERATED_TOKEN_FILE")
	if file == "" {
		return nil
	}
	for _, k := range []string{"AZURE_CLIENT_ID", "AZURE_TENANT_ID"} {
		if os.Getenv(k) == "" {
			hint := ""
			if creds[k] != "" {
				hint = " (the location's credential has it, but workload identity reads the environment, as with Velero's Azure plugin)"
			}
			return fmt.Errorf("workload identity: the environment sets AZURE_FEDERATED_TOKEN_FILE but not %s%s", k, hint)
		}
	}
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("workload identity: token file AZURE_FEDERATED_TOKEN_FILE=%s: %w", file, err)
	}
	return nil
}
