package action

import (
	"reflect"
	"testing"
)

func TestRunCommand(t *testing.T) {
	var got []string
	commands := []Command{
		{Name: "unquiesce", Run: func(args []string) int { got = args; return 3 }},
		{Name: "other", Run: func([]string) int { t.Fatal("wrong command ran"); return 0 }},
	}
	tests := []struct {
		name     string
		args     []string
		wantRan  bool
		wantCode int
		wantArgs []string
	}{
		{"no arguments: serve", nil, false, 0, nil},
		{"Velero's flags: serve", []string{"--log-level", "info"}, false, 0, nil},
		{"unknown word: serve (the framework reports it)", []string{"unquiesc"}, false, 0, nil},
		{"command with its arguments", []string{"unquiesce", "--namespace", "a"}, true, 3, []string{"--namespace", "a"}},
		{"command name only as a later argument: serve", []string{"--x", "unquiesce"}, false, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			code, ran := runCommand(tt.args, commands)
			if ran != tt.wantRan || code != tt.wantCode || !reflect.DeepEqual(got, tt.wantArgs) {
				t.Fatalf("runCommand(%q) = %d, %v (args %q); want %d, %v (args %q)", tt.args, code, ran, got, tt.wantCode, tt.wantRan, tt.wantArgs)
			}
		})
	}
}
