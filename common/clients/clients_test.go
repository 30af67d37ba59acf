package clients

import (
	"errors"
	"testing"

	"k8s.io/client-go/rest"
)

// TestFirstCallReturnsBuiltClient: each accessor, called first on a fresh Set, builds the clients
// and returns one (not the nil the field held before init); a configuration that cannot load is
// the error of every accessor.
func TestFirstCallReturnsBuiltClient(t *testing.T) {
	accessors := map[string]func(*Set) (any, error){
		"Kube":          func(s *Set) (any, error) { return s.Kube() },
		"Dynamic":       func(s *Set) (any, error) { return s.Dynamic() },
		"Config":        func(s *Set) (any, error) { return s.Config() },
		"Image":         func(s *Set) (any, error) { return s.Image() },
		"ImageRegistry": func(s *Set) (any, error) { return s.ImageRegistry() },
		"Security":      func(s *Set) (any, error) { return s.Security() },
	}
	for name, get := range accessors {
		t.Run(name, func(t *testing.T) {
			c, err := get(NewForConfig(&rest.Config{Host: "https://127.0.0.1:1"}))
			if err != nil || c == nil {
				t.Fatalf("first call = %v, %v; want a client", c, err)
			}
			noConfig := errors.New("no cluster configuration")
			if _, err := get(&Set{load: func() (*rest.Config, error) { return nil, noConfig }}); !errors.Is(err, noConfig) {
				t.Fatalf("unloadable config: err = %v", err)
			}
		})
	}
}
