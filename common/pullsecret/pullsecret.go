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

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/podspec"
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

// GeneratedDockercfg returns the service account of a generated dockercfg secret name
// ("<sa>-dockercfg-<5 lowercase alphanumerics>", as OpenShift names the pull secret it mints for
// every service account, custom ones included; the account's own name may contain dashes). Any
// other name is the user's: ok is false.
func GeneratedDockercfg(name string) (serviceAccount string, ok bool) {
	sa, kind, ok := Generated(name)
	if !ok || kind != Dockercfg {
		return "", false
	}
	return sa, true
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
// Lookups of different service accounts run in parallel: while one waits for its secret, items
// of other service accounts are not held up. Concurrent lookups of one service account share one
// wait.
type Finder struct {
	Client corev1client.CoreV1Interface
	// Poll is the interval between lookups while waiting (default 1s).
	Poll time.Duration

	mu       sync.Mutex        // guards cache and inflight only, never held through a lookup or a wait
	cache    map[string]string // ns/sa -> secret name ("" = not found after waiting)
	inflight map[string]*lookupCall
}

// lookupCall is one lookup in progress; done is closed when name and err are set.
type lookupCall struct {
	done chan struct{}
	name string
	err  error
}

// Find returns the name of the dockercfg secret the destination minted for service account sa in
// namespace ns, waiting up to wait for it. found is false when there is none by then; the
// answer is cached so later items do not wait again. A caller that finds a lookup of the same
// service account in progress waits for its answer (bounded by its own ctx); if that lookup
// fails, the caller tries itself: a failure is neither shared nor cached.
func (f *Finder) Find(ctx context.Context, ns, sa string, wait time.Duration) (name string, found bool, err error) {
	key := ns + "/" + sa
	for {
		f.mu.Lock()
		if name, ok := f.cache[key]; ok {
			f.mu.Unlock()
			return name, name != "", nil
		}
		if c, ok := f.inflight[key]; ok {
			f.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
				return "", false, ctx.Err()
			}
			if c.err == nil {
				return c.name, c.name != "", nil
			}
			continue
		}
		c := &lookupCall{done: make(chan struct{})}
		if f.inflight == nil {
			f.inflight = map[string]*lookupCall{}
		}
		f.inflight[key] = c
		f.mu.Unlock()

		c.name, c.err = f.await(ctx, ns, sa, wait)
		f.mu.Lock()
		delete(f.inflight, key)
		if c.err == nil {
			if f.cache == nil {
				f.cache = map[string]string{}
			}
			f.cache[key] = c.name
		}
		f.mu.Unlock()
		close(c.done)
		return c.name, c.err == nil && c.name != "", c.err
	}
}

// await looks the secret up until it exists or wait has passed.
func (f *Finder) await(ctx context.Context, ns, sa string, wait time.Duration) (string, error) {
	poll := f.Poll
	if poll <= 0 {
		poll = time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		name, err := f.lookup(ctx, ns, sa)
		if err != nil {
			return "", err
		}
		if name != "" || !time.Now().Add(poll).Before(deadline) {
			return name, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(poll):
		}
	}
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

// Destination returns the destination name for a pull/push secret reference: a generated
// "<sa>-dockercfg-xxxxx" name, of any service account, becomes the secret the destination minted
// for the same service account in targetNS; any other name, or one with no destination
// counterpart, is kept. Waiting only makes sense when the destination registry is enabled (only
// then are such secrets minted); otherwise the lookup is made once.
func (f *Finder) Destination(ctx context.Context, targetNS, name string, registryEnabled bool, wait time.Duration) (string, error) {
	sa, ok := GeneratedDockercfg(name)
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

// lookupSlack bounds the API calls of one secret lookup beyond the configured wait.
const lookupSlack = 30 * time.Second

// RenamePodSpec swaps, in obj's pod spec (a pod, or the pod template of any workload kind), every
// generated dockercfg reference of imagePullSecrets to the secret the destination minted for the
// same service account in targetNS (see Destination): the backed-up name never exists on the
// destination, because the secret restore leaves generated secrets to the destination. A name
// with no counterpart is kept with a warning (pulls then go without it, as on a source without the
// secret). The one implementation for pods and every workload kind. A nil Finder is an error only
// when a name needs swapping.
func (f *Finder) RenamePodSpec(ctx context.Context, obj *unstructured.Unstructured, targetNS string, registryEnabled bool, wait time.Duration, log logrus.FieldLogger) error {
	names, err := podspec.PullSecretNames(obj)
	if err != nil || len(names) == 0 {
		return err
	}
	path, _ := podspec.Path(obj)
	field := podspec.FieldName(path, "imagePullSecrets")
	renames := map[string]string{}
	for _, name := range names {
		if _, ok := GeneratedDockercfg(name); !ok {
			continue
		}
		if _, done := renames[name]; done {
			continue
		}
		if f == nil {
			return fmt.Errorf("%s: %s must be renamed to the destination's secret but no pull-secret finder is configured", field, name)
		}
		cctx, cancel := context.WithTimeout(ctx, wait+lookupSlack)
		to, err := f.Destination(cctx, targetNS, name, registryEnabled, wait)
		cancel()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", field, name, err)
		}
		renames[name] = to
		if to == name {
			log.Warnf("no destination dockercfg secret found for pull secret %s in %s; reference kept", name, targetNS)
		}
	}
	if len(renames) == 0 {
		return nil
	}
	n, err := podspec.RenamePullSecrets(obj, func(name string) string { return renames[name] })
	if n > 0 {
		log.Infof("renamed %d pull secret reference(s) to the destination's generated secrets", n)
	}
	return err
}
