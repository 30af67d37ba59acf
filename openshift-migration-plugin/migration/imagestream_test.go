package migration

import (
	"strings"
	"testing"

	"github.com/velero-openshift/plugins/common/keys"
)

// TestKeysSpelledInGeneralCode: the general plugin reads a few migration keys from common/keys
// (general code never imports this package); they must be the very same keys.
func TestKeysSpelledInGeneralCode(t *testing.T) {
	for general, here := range map[string]string{
		keys.MigrationRegistry: RegistryAnnotation,
		keys.DisableImageCopy:  DisableImageCopyAnnotation,
	} {
		if general != here {
			t.Errorf("common/keys spells %q, the migration package %q", general, here)
		}
	}
	if !strings.HasPrefix(ImageCopyRegistryAnnotation, NamePrefix) || ImageCopyRegistryAnnotation == keys.ImageCopyLocation {
		t.Errorf("ImageCopyRegistryAnnotation = %q: want a migration key of its own", ImageCopyRegistryAnnotation)
	}
}
