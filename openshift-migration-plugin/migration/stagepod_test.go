package migration

import (
	"reflect"
	"testing"
)

func TestExcludedVolumes(t *testing.T) {
	tests := []struct {
		value string
		want  map[string]bool
	}{
		{"", nil},
		{" , ,", nil},
		{"data", map[string]bool{"data": true}},
		{" data , logs,,cache ", map[string]bool{"data": true, "logs": true, "cache": true}},
	}
	for _, tt := range tests {
		if got := ExcludedVolumes(tt.value); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ExcludedVolumes(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}
