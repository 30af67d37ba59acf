//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// A row of the before/after table: one field of one object (path nil: whether it exists).
type tableRow struct {
	what string
	res  schema.GroupVersionResource
	name string
	path []string // map keys, or slice indexes as numbers; "*name" lists the names of a slice
}

var changeRows = []tableRow{
	{"pod image", podsGVR, barePodName, []string{"spec", "containers", "0", "image"}},
	{"pod pull secrets", podsGVR, barePodName, []string{"spec", "imagePullSecrets", "*name"}},
	{"pod db (SA db) pull secrets", podsGVR, dbPodName, []string{"spec", "imagePullSecrets", "*name"}},
	{"Deployment db (SA db) pull secrets", gvr("apps", "v1", "deployments"), dbDeployName, []string{"spec", "template", "spec", "imagePullSecrets", "*name"}},
	{"DC image", deploymentConfigsGVR, dcName, []string{"spec", "template", "spec", "containers", "0", "image"}},
	{"DC trigger namespace", deploymentConfigsGVR, dcName, []string{"spec", "triggers", "1", "imageChangeParams", "from", "namespace"}},
	{"ReplicaSet image", replicaSetsGVR, rsName, []string{"spec", "template", "spec", "containers", "0", "image"}},
	{"BuildConfig output", buildConfigsGVR, bcName, []string{"spec", "output", "to", "name"}},
	{"BuildConfig from", buildConfigsGVR, bcName, []string{"spec", "strategy", "dockerStrategy", "from", "name"}},
	{"BuildConfig push secret", buildConfigsGVR, bcName, []string{"spec", "output", "pushSecret", "name"}},
	{"ImageStream tag latest", imageStreamsGVR, isName, []string{"spec", "tags", "0", "from", "name"}},
	{"ImageStream runtime tag prod ns", imageStreamsGVR, isRuntime, []string{"spec", "tags", "1", "from", "namespace"}},
	{"Deployment images image", gvr("apps", "v1", "deployments"), imagesWorkload, []string{"spec", "template", "spec", "containers", "0", "image"}},
	{"route generated host", routesGVR, "generated", []string{"spec", "host"}},
	{"route custom host", routesGVR, "custom", []string{"spec", "host"}},
	{"route custom host of generated form", routesGVR, routeCustomForm, []string{"spec", "host"}},
	{"service lb externalIPs", gvr("", "v1", "services"), lbServiceName, []string{"spec", "externalIPs"}},
	{"HPA target apiVersion", hpaGVR, hpaName, []string{"spec", "scaleTargetRef", "apiVersion"}},
	{"SA app secrets", gvr("", "v1", "serviceaccounts"), saApp, []string{"secrets", "*name"}},
	{"rolebinding app-edit subject ns", roleBindingsGVR, rbAppEdit, []string{"subjects", "0", "namespace"}},
	{"rolebinding " + rbImagePullers, roleBindingsGVR, rbImagePullers, nil},
	{"DC pod " + dcPodName, podsGVR, dcPodName, nil},
	{"RS pod " + rsPodName, podsGVR, rsPodName, nil},
	{"build pod " + buildPodName, podsGVR, buildPodName, nil},
	{"RC " + rcName, rcGVR, rcName, nil},
	{"Build " + buildName, buildsGVR, buildName, nil},
	{"secret " + secretBuilderCfg, secretsGVR, secretBuilderCfg, nil},
	{"secret " + secretAppToken, secretsGVR, secretAppToken, nil},
	{"secret " + secretServingCert + " (service CA)", secretsGVR, secretServingCert, nil},
	{"istag " + istagInternal, imageStreamTagsGVR, istagInternal, nil},
}

// field renders one row's value on a cluster.
func field(ctx context.Context, c *Cluster, ns string, r tableRow) string {
	u, err := c.Dynamic.Resource(r.res).Namespace(ns).Get(ctx, r.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "(absent)"
	}
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if r.path == nil {
		return "present"
	}
	var v any = u.Object
	for _, p := range r.path {
		switch cur := v.(type) {
		case map[string]any:
			v = cur[p]
		case []any:
			if p == "*name" {
				var names []string
				for _, e := range cur {
					if m, ok := e.(map[string]any); ok {
						names = append(names, fmt.Sprint(m["name"]))
					}
				}
				v = strings.Join(names, ",")
				continue
			}
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(cur) {
				return "-"
			}
			v = cur[i]
		default:
			return "-"
		}
	}
	switch x := v.(type) {
	case nil:
		return "(none)"
	case string:
		if x == "" {
			return "(none)"
		}
		return x
	case []any:
		var parts []string
		for _, e := range x {
			parts = append(parts, fmt.Sprint(e))
		}
		return strings.Join(parts, ",")
	}
	return fmt.Sprint(v)
}

// changeTable renders what the plugins changed between the sample on A and its restore on B.
func changeTable(ctx context.Context, s *scenario) string {
	var b strings.Builder
	fmt.Fprintf(&b, "What the plugins changed: namespace %s on A (registry %s, apps domain %s)\n", s.SourceNS, s.A.Registry, s.A.AppsDomain)
	fmt.Fprintf(&b, "restored by Velero %s as %s on B (registry %s, apps domain %s)\n\n", s.Restore.Name, s.TargetNS, s.B.Registry, s.B.AppsDomain)
	rows := [][3]string{{"object / field", "on A (backed up)", "on B (restored)"}}
	for _, r := range changeRows {
		rows = append(rows, [3]string{r.what, field(ctx, s.A, s.SourceNS, r), field(ctx, s.B, s.TargetNS, r)})
	}
	w := [3]int{}
	for _, r := range rows {
		for i := range r {
			w[i] = max(w[i], len(r[i]))
		}
	}
	for i, r := range rows {
		fmt.Fprintf(&b, "%-*s  %-*s  %s\n", w[0], r[0], w[1], r[1], r[2])
		if i == 0 {
			fmt.Fprintf(&b, "%s  %s  %s\n", strings.Repeat("-", w[0]), strings.Repeat("-", w[1]), strings.Repeat("-", w[2]))
		}
	}
	return b.String()
}

// writeChangeTable logs the table and writes it to $E2E_DIR/changes-<restore>.txt (make demo prints it).
func writeChangeTable(ctx context.Context, t *testing.T, env Env, s *scenario) {
	t.Helper()
	table := changeTable(ctx, s)
	t.Log("\n" + table)
	p := filepath.Join(env.Get(t, "E2E_DIR"), "changes-"+s.Restore.Name+".txt")
	if err := os.WriteFile(p, []byte(table), 0o644); err != nil {
		t.Error(err)
	}
}
