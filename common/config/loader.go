package config

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/retry"
)

// ReadTimeout bounds one List of the plugin ConfigMap. A failed read is retried as package retry
// describes. Items fail while the configuration is unknown rather than using the defaults: the
// defaults would run actions the administrator switched off with disabledActions.
const ReadTimeout = 5 * time.Second

// Loader reads the plugin ConfigMap of a Velero namespace and caches the answer for the life of
// the process (one backup or restore); a failed read is retried (see ReadTimeout).
type Loader struct {
	client func() (corev1client.ConfigMapsGetter, error)
	log    logrus.FieldLogger
	policy retry.Policy

	mu       sync.Mutex
	answers  map[string]answer
	failures map[string]*failure
}

// answer is a definite outcome: a configuration, or the error of two matching ConfigMaps.
type answer struct {
	cfg Config
	err error
}

// failure is the current run of failed reads of one namespace.
type failure struct {
	err      error
	attempts int
	coolDown retry.CoolDown
	warned   bool
}

// NewLoader returns a Loader that builds its client on first use and logs through log (a value
// that does not parse, reads that had to be retried).
func NewLoader(client func() (corev1client.ConfigMapsGetter, error), log logrus.FieldLogger) *Loader {
	if log == nil {
		log = logrus.New()
	}
	return &Loader{client: client, log: log, policy: retry.Default(), answers: map[string]answer{}, failures: map[string]*failure{}}
}

// Config returns the configuration of the given Velero namespace. A value that does not parse is
// logged once, as an error naming the ConfigMap and key, and that setting keeps its default.
func (l *Loader) Config(ctx context.Context, ns string) (Config, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if a, ok := l.answers[ns]; ok {
		return a.cfg, a.err
	}
	f := l.failures[ns]
	if f != nil {
		if left := f.coolDown.Left(l.policy); left > 0 {
			return Config{}, fmt.Errorf("%w (not read again for %s)", f.err, left.Round(time.Millisecond))
		}
	}
	var list *corev1.ConfigMapList
	for attempt := 1; ; attempt++ {
		var err error
		if list, err = l.list(ctx, ns); err == nil {
			break
		}
		if f == nil {
			f = &failure{}
			l.failures[ns] = f
		}
		f.err, f.attempts = err, f.attempts+1
		if !l.policy.Again(ctx, attempt, err) {
			f.coolDown.Start(l.policy)
			entry := l.log.WithError(err).WithField("namespace", ns)
			if !f.warned {
				f.warned = true
				entry.Warnf("plugin config unreadable after %d attempts; items fail until it is read, read again at most every %s", f.attempts, l.policy.MaxCool)
			} else {
				entry.Debugf("plugin config still unreadable after %d attempts", f.attempts)
			}
			return Config{}, err
		}
	}
	if f != nil {
		l.log.WithField("namespace", ns).Infof("read plugin config after %d failed attempts (last error: %v)", f.attempts, f.err)
		delete(l.failures, ns)
	}
	a := l.answer(ns, list.Items)
	l.answers[ns] = a
	return a.cfg, a.err
}

func (l *Loader) list(ctx context.Context, ns string) (*corev1.ConfigMapList, error) {
	client, err := l.client()
	if err != nil {
		return nil, fmt.Errorf("reading plugin config: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	defer cancel()
	list, err := client.ConfigMaps(ns).List(ctx, metav1.ListOptions{LabelSelector: LabelSelector})
	if err != nil {
		return nil, fmt.Errorf("reading plugin config in namespace %s: %w", ns, err)
	}
	return list, nil
}

// answer turns the matching ConfigMaps into the cached outcome, logging each value that does not
// parse once (the process lives for one backup or restore, so once per operation).
//
// Two matching ConfigMaps stay an error on every item: either may be the one the administrator
// means, and guessing (or using the defaults) could run actions one of them switches off.
func (l *Loader) answer(ns string, items []corev1.ConfigMap) answer {
	switch len(items) {
	case 0:
		return answer{cfg: Default()}
	case 1:
		cfg, problems := parse(items[0].Data)
		for _, p := range problems {
			l.log.Errorf("configmap %s/%s: %v; that setting uses its default", ns, items[0].Name, p)
		}
		retired := make([]string, 0)
		for name := range cfg.DisabledActions {
			if _, ok := RetiredActions[name]; ok {
				retired = append(retired, name)
			}
		}
		sort.Strings(retired)
		for _, name := range retired {
			l.log.Warnf("configmap %s/%s: %s names %s, which this plugin version no longer registers, so it disables nothing: %s",
				ns, items[0].Name, KeyDisabledActions, name, RetiredActions[name])
		}
		return answer{cfg: cfg}
	default:
		names := make([]string, 0, len(items))
		for _, cm := range items {
			names = append(names, cm.Name)
		}
		return answer{err: fmt.Errorf("more than one plugin config ConfigMap in namespace %s matches %q: %v", ns, LabelSelector, names)}
	}
}
