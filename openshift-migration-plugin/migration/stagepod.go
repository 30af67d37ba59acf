package migration

import "strings"

// ExcludedVolumes parses the value of ExcludePVCsAnnotation: comma-separated volume names of the
// pod, spaces around each ignored, empty entries skipped. nil when nothing is excluded.
func ExcludedVolumes(value string) map[string]bool {
	var out map[string]bool
	for _, name := range strings.Split(value, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		if out == nil {
			out = map[string]bool{}
		}
		out[name] = true
	}
	return out
}
