// Package pullsecret recognises the registry pull/push secrets OpenShift generates per service
// account ("<sa>-dockercfg-xxxxx", "<sa>-token-xxxxx") and finds, on the destination, the secret
// the destination minted for the same service account, so restored references can be renamed.
package pullsecret

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/keys"
)

// Generated secret kinds.
const (
	Dockercfg = "dockercfg"
	Token     = "token"
)

var generated = regexp.MustCompile(`^(.+)-(dockercfg|token)-[a-z0-9]{5}$`)

// Generated splits a generated secret name into its service account and kind ("dockercfg" or
// "token"); ok is false for any other name.
func Generated(name string) (serviceAccount, kind string, ok bool) {
	m := generated.FindStringSubmatch(name)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// IsGeneratedFor reports whether name is a generated secret of service account sa.
func IsGeneratedFor(name, sa string) bool {
	got, _, ok := Generated(name)
	return ok && got == sa
}

// BuiltinServiceAccounts own the dockercfg secrets that pods and builds reference by default.
var BuiltinServiceAccounts = []string{"default", "builder", "deployer"}

// BuiltinDockercfg returns the service account of a default-/builder-/deployer-dockercfg-* name.
func BuiltinDockercfg(name string) (string, bool) {
	sa, kind, ok := Generated(name)
	if !ok || kind != Dockercfg {
		return "", false
	}
	for _, b := range BuiltinServiceAccounts {
		if sa == b {
			return sa, true
		}
	}
	return "", false
}

// IsRegenerated reports whether a secret is one the destination mints again for its service
// account: a dockercfg or service-account token secret whose name is generated for the service
// account its annotations name. A user-made long-lived token secret keeps its own name and is kept.
func IsRegenerated(s *corev1.Secret) bool {
	if s.Type != corev1.SecretTypeDockercfg && s.Type != corev1.SecretTypeServiceAccountToken {
		return false
	}
	sa := s.Annotations[keys.InternalRegistryAuthTokenSA]
	if sa == "" {
		sa = s.Annotations[keys.ServiceAccountName]
	}
	return sa != "" && IsGeneratedFor(s.Name, sa)
}

// Finder looks up the destination's dockercfg secret of a service account, waiting a bounded time
// for the destination's controller to mint it, and remembers each answer for the process.
type Finder struct {
	Client corev1client.CoreV1Interface
	// Poll is the interval between lookups while waiting (default 1s).
	Poll time.Duration

	mu    sync.Mutex
	cache map[string]string // ns/sa -> secret name ("" = not found after waiting)
}

// Find returns the name of the dockercfg secret the destination minted for service account sa in
// namespace ns, waiting up to wait for it. found is false when there is none by then; the
// answer is cached so later items do not wait again.
func (f *Finder) Find(ctx context.Context, ns, sa string, wait time.Duration) (name string, found bool, err error) {
	key := ns + "/" + sa
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cache == nil {
		f.cache = map[string]string{}
	}
	if name, ok := f.cache[key]; ok {
		return name, name != "", nil
	}
	poll := f.Poll
	if poll <= 0 {
		poll = time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		name, err = f.lookup(ctx, ns, sa)
		if err != nil {
			return "", false, err
		}
		if name != "" || !time.Now().Add(poll).Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return "", false, ctx.Err()
		case <-time.After(poll):
		}
	}
	f.cache[key] = name
	return name, name != "", nil
}

func (f *Finder) lookup(ctx context.Context, ns, sa string) (string, error) {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	account, err := f.Client.ServiceAccounts(ns).Get(cctx, sa, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading service account %s/%s: %w", ns, sa, err)
	}
	// 4.16+: the service account names its managed pull secret.
	if ref := account.Annotations[keys.InternalRegistryPullSecretRef]; ref != "" {
		s, err := f.Client.Secrets(ns).Get(cctx, ref, metav1.GetOptions{})
		if err == nil && Belongs(s, account) {
			return s.Name, nil
		}
		if err != nil && !apierrors.IsNotFound(err) {
			return "", fmt.Errorf("reading secret %s/%s: %w", ns, ref, err)
		}
	}
	list, err := f.Client.Secrets(ns).List(cctx, metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeDockercfg)})
	if err != nil {
		return "", fmt.Errorf("listing dockercfg secrets in %s: %w", ns, err)
	}
	var names []string
	for i := range list.Items {
		if s := &list.Items[i]; Belongs(s, account) {
			names = append(names, s.Name)
		}
	}
	if len(names) == 0 {
		return "", nil
	}
	sort.Strings(names)
	return names[0], nil
}

// Belongs reports whether secret s is the generated dockercfg secret of service account sa on this
// cluster: its name is generated for sa, its annotations name sa (4.16+ or legacy), and whatever
// owner it records (owner reference or legacy UID annotation) is this very service account.
func Belongs(s *corev1.Secret, sa *corev1.ServiceAccount) bool {
	if s.Type != "" && s.Type != corev1.SecretTypeDockercfg {
		return false
	}
	if !strings.HasPrefix(s.Name, sa.Name+"-dockercfg-") {
		return false
	}
	named := s.Annotations[keys.InternalRegistryAuthTokenSA] == sa.Name || s.Annotations[keys.ServiceAccountName] == sa.Name
	if !named {
		return false
	}
	if uid := s.Annotations[keys.ServiceAccountUID]; uid != "" && uid != string(sa.UID) {
		return false
	}
	for _, o := range s.OwnerReferences {
		if o.Kind == "ServiceAccount" && o.UID != sa.UID {
			return false
		}
	}
	return true
}

// Destination returns the destination name for a pull/push secret reference: a builtin
// default-/builder-/deployer-dockercfg-* name becomes the secret the destination minted for the same
// service account in targetNS; any other name, or one with no destination counterpart, is kept.
// Waiting only makes sense when the destination registry is enabled (only then are such secrets
// minted); otherwise the lookup is made once.
func (f *Finder) Destination(ctx context.Context, targetNS, name string, registryEnabled bool, wait time.Duration) (string, error) {
	sa, ok := BuiltinDockercfg(name)
	if !ok {
		return name, nil
	}
	if !registryEnabled {
		wait = 0
	}
	found, ok, err := f.Find(ctx, targetNS, sa, wait)
	if err != nil || !ok {
		return name, err
	}
	return found, nil
}
