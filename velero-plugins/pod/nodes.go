package pod

import (
	"context"
	"fmt"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/velero-openshift/plugins/common/opcache"
)

// HostnameLabel is the node label a node selector pins a pod to one node with.
const HostnameLabel = "kubernetes.io/hostname"

// nodeSet is what the destination has: node names (for spec.nodeName) and hostname label values
// (for node selectors; usually but not always equal to the name).
type nodeSet struct {
	names, hostnames map[string]bool
	err              error // listing failed: nothing is known, nothing is dropped
}

// nodeCache lists the destination's nodes once per restore: nodes do not come and go in a way that
// matters during one restore, and a Get per pod is the per-item cost users complain about.
type nodeCache struct {
	client  corev1client.NodesGetter
	timeout time.Duration

	cache opcache.Cache[*nodeSet]
}

func newNodeCache(client corev1client.NodesGetter) *nodeCache {
	return &nodeCache{client: client, timeout: 30 * time.Second}
}

// get returns the destination's nodes for restore. A failed list is remembered for the restore too:
// retrying per pod would multiply the cost of an outage or a missing permission.
func (c *nodeCache) get(ctx context.Context, restore *velerov1.Restore) *nodeSet {
	s, _ := c.cache.Get(opcache.Op(restore), "", func() (*nodeSet, error) { return c.list(ctx), nil })
	return s
}

func (c *nodeCache) list(ctx context.Context) *nodeSet {
	if c.client == nil {
		return &nodeSet{err: fmt.Errorf("no Kubernetes client")}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	s := &nodeSet{names: map[string]bool{}, hostnames: map[string]bool{}}
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := c.client.Nodes().List(ctx, opts)
		if err != nil {
			return &nodeSet{err: fmt.Errorf("listing nodes: %w", err)}
		}
		for i := range list.Items {
			n := &list.Items[i]
			s.names[n.Name] = true
			if h := n.Labels[HostnameLabel]; h != "" {
				s.hostnames[h] = true
			}
		}
		if list.Continue == "" {
			return s
		}
		opts.Continue = list.Continue
	}
}
