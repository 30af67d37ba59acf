package nsmap

import "testing"

func TestMap(t *testing.T) {
	m := Mapping{"a": "b", "empty": ""}
	for _, tt := range []struct{ in, want string }{{"a", "b"}, {"c", "c"}, {"empty", "empty"}} {
		if got := m.Map(tt.in); got != tt.want {
			t.Errorf("Map(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if !m.IsMapped("a") || m.IsMapped("c") || FromRestore(nil).IsMapped("a") {
		t.Error("IsMapped misjudged")
	}
}

func TestServiceAccountNames(t *testing.T) {
	m := Mapping{"a": "b"}
	tests := []struct{ in, user, group string }{
		{"system:serviceaccount:a:sa", "system:serviceaccount:b:sa", "system:serviceaccount:a:sa"},
		{"system:serviceaccounts:a", "system:serviceaccounts:a", "system:serviceaccounts:b"},
		{"system:serviceaccount:c:sa", "system:serviceaccount:c:sa", "system:serviceaccount:c:sa"},
		{"system:serviceaccount:a:sa:extra", "system:serviceaccount:a:sa:extra", "system:serviceaccount:a:sa:extra"},
		{"system:serviceaccounts", "system:serviceaccounts", "system:serviceaccounts"},
		{"alice", "alice", "alice"},
	}
	for _, tt := range tests {
		if got := m.MapUser(tt.in); got != tt.user {
			t.Errorf("MapUser(%q) = %q, want %q", tt.in, got, tt.user)
		}
		if got := m.MapGroup(tt.in); got != tt.group {
			t.Errorf("MapGroup(%q) = %q, want %q", tt.in, got, tt.group)
		}
	}
	if _, _, ok := ParseUser("system:serviceaccounts:a"); ok {
		t.Error("ParseUser accepted a group")
	}
	if _, ok := ParseGroup("system:serviceaccount:a:sa"); ok {
		t.Error("ParseGroup accepted a user")
	}
}
