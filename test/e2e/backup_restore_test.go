//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/velero-openshift/plugins/openshift-migration-plugin/migration"
)

// Annotation keys asserted on restored items (the plugin's contract, see common/keys).
const (
	annBackupRegistryHostname  = "openshift.io/backup-registry-hostname"
	annRestoreRegistryHostname = "openshift.io/restore-registry-hostname"
	annHostGenerated           = "openshift.io/host.generated"
)

// Registered action names the checks depend on (README's action table). The list of registered
// actions is a fixed contract: a check whose action the running plugin does not register fails.
const (
	actSABackup        = "openshift.io/02-serviceaccount-backup"
	actSARestore       = "openshift.io/02-serviceaccount-restore"
	actPodRestore      = "openshift.io/03-pod-restore"
	actDCRestore       = "openshift.io/04-deploymentconfig-restore"
	actRCRestore       = "openshift.io/05-replicationcontroller-restore"
	actWorkloadRestore = "openshift.io/07-workload-restore"
	actBuildRestore    = "openshift.io/08-build-restore"
	actBCRestore       = "openshift.io/09-buildconfig-restore"
	actRouteRestore    = "openshift.io/10-route-restore"
	actServiceRestore  = "openshift.io/11-service-restore"
	actSecretRestore   = "openshift.io/12-secret-restore"
	actRBACRestore     = "openshift.io/15-rolebinding-restore"
	actHPARestore      = "openshift.io/16-hpa-restore"
	actISTagRestore    = "openshift.io/17-imagestreamtag-restore"
	actISRestore       = "openshift.io/19-imagestream-restore"
)

var routesGVR = gvr("route.openshift.io", "v1", "routes")

// scenario is one backup on A restored on B, with what the checks need to know.
type scenario struct {
	A, B     *Cluster
	SourceNS string // namespace on A
	TargetNS string // namespace on B (differs with namespace mapping)
	Mapped   bool
	Backup   *velerov1.Backup
	Restore  *velerov1.Restore
	Sample   *sample
	Minted   map[string]string // the dockercfg secret B minted in TargetNS, by service account
}

// imgB is the reference an internal image of A's namespace must have on B.
func (s *scenario) imgB(name string) string {
	return fmt.Sprintf("%s/%s/%s", s.B.Registry, s.TargetNS, name)
}

func (s *scenario) get(ctx context.Context, t *testing.T, res schema.GroupVersionResource, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := s.B.Dynamic.Resource(res).Namespace(s.TargetNS).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: %s %s/%s: %v", s.B, res.Resource, s.TargetNS, name, err)
	}
	return u
}

func (s *scenario) absent(ctx context.Context, t *testing.T, res schema.GroupVersionResource, names ...string) {
	t.Helper()
	for _, name := range names {
		_, err := s.B.Dynamic.Resource(res).Namespace(s.TargetNS).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			t.Errorf("%s %s/%s was restored, want it absent", res.Resource, s.TargetNS, name)
		} else if !apierrors.IsNotFound(err) {
			t.Errorf("%s %s/%s: %v", res.Resource, s.TargetNS, name, err)
		}
	}
}

// str reads a string field (failing on a wrong type).
func str(t *testing.T, u *unstructured.Unstructured, path ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedFieldNoCopy(u.Object, path...)
	if err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), strings.Join(path, "."), err)
	}
	if v == nil {
		return ""
	}
	sv, ok := v.(string)
	if !ok {
		t.Fatalf("%s %s: %T, want a string", u.GetKind(), strings.Join(path, "."), v)
	}
	return sv
}

func expect(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

// sourceAndDestinationAnnotations asserts the source and destination annotations users see on a
// restored pod, workload or image item (written by the action that restores it).
func sourceAndDestinationAnnotations(t *testing.T, s *scenario, u *unstructured.Unstructured) {
	t.Helper()
	a := u.GetAnnotations()
	what := u.GetKind() + " " + u.GetName()
	expect(t, what+" annotation "+annBackupRegistryHostname, a[annBackupRegistryHostname], s.A.Registry)
	expect(t, what+" annotation "+annRestoreRegistryHostname, a[annRestoreRegistryHostname], s.B.Registry)
	if a["openshift.io/backup-server-version"] == "" || a["openshift.io/restore-server-version"] == "" {
		t.Errorf("%s: backup/restore server-version annotations missing: %v", what, a)
	}
}

func secretNames(refs []corev1.LocalObjectReference) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Name)
	}
	return out
}

// check is one assertion on the restored cluster; requires names the registered actions it
// depends on (all must be registered: a missing one fails the check).
type check struct {
	name     string
	requires []string
	run      func(ctx context.Context, t *testing.T, s *scenario)
}

// checks is the table every restore is asserted against (README's action table, SPEC §4).
var checks = []check{
	{name: "restore completed without errors or warnings", run: func(ctx context.Context, t *testing.T, s *scenario) {
		st := s.Restore.Status
		if st.Phase != velerov1.RestorePhaseCompleted || st.Errors != 0 || st.Warnings != 0 {
			t.Fatalf("restore %s: phase %s, %d errors, %d warnings; Velero log:\n%s", s.Restore.Name, st.Phase,
				st.Errors, st.Warnings, logLinesAbout(s.B, s.Restore.Name, 30))
		}
	}},
	{name: "bare pod: annotations, image and pull secrets", requires: []string{actPodRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		u := s.get(ctx, t, podsGVR, barePodName)
		sourceAndDestinationAnnotations(t, s, u)
		pod := getPod(ctx, t, s.B, s.TargetNS, barePodName)
		expect(t, "pod image", pod.Spec.Containers[0].Image, s.imgB("app:latest"))
		expect(t, "pod imagePullSecrets", strings.Join(secretNames(pod.Spec.ImagePullSecrets), ","), s.Minted[saBuilder]+","+secretUser)
	}},
	{name: "pod and Deployment running as service account db: its pull secret swapped to B's", requires: []string{actPodRestore, actWorkloadRestore, actSecretRestore, actSARestore}, run: checkCustomServiceAccountPullSecrets},
	{name: "controller-owned and build pods absent", requires: []string{actPodRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		s.absent(ctx, t, podsGVR, dcPodName, rsPodName, buildPodName)
	}},
	{name: "DeploymentConfig restored with images and trigger rewritten", requires: []string{actDCRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		dc := s.get(ctx, t, deploymentConfigsGVR, dcName)
		sourceAndDestinationAnnotations(t, s, dc)
		containers, _, _ := unstructured.NestedSlice(dc.Object, "spec", "template", "spec", "containers")
		if len(containers) != 1 {
			t.Fatalf("DC containers: %v", containers)
		}
		expect(t, "DC image", containers[0].(map[string]any)["image"].(string), s.imgB("frontend:latest"))
		triggers, _, _ := unstructured.NestedSlice(dc.Object, "spec", "triggers")
		found := false
		for _, tr := range triggers {
			p, ok := tr.(map[string]any)["imageChangeParams"].(map[string]any)
			if !ok {
				continue
			}
			found = true
			from := p["from"].(map[string]any)
			expect(t, "DC imageChangeParams.from.namespace", fmt.Sprint(from["namespace"]), s.TargetNS)
			expect(t, "DC imageChangeParams.lastTriggeredImage", fmt.Sprint(p["lastTriggeredImage"]), s.imgB("frontend@"+frontendDigest))
		}
		if !found {
			t.Errorf("DC lost its image-change trigger: %v", triggers)
		}
	}},
	{name: "DeploymentConfig's ReplicationController absent", requires: []string{actRCRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		s.absent(ctx, t, rcGVR, rcName)
	}},
	{name: "Deployment and ReplicaSet restored with images rewritten", requires: []string{actWorkloadRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		d, err := s.B.Kube.AppsV1().Deployments(s.TargetNS).Get(ctx, deployName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, "deployment image", d.Spec.Template.Spec.Containers[0].Image, s.imgB("web:latest"))
		expect(t, "deployment annotation "+annBackupRegistryHostname, d.Annotations[annBackupRegistryHostname], s.A.Registry)
		rs, err := s.B.Kube.AppsV1().ReplicaSets(s.TargetNS).Get(ctx, rsName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("ReplicaSet %s not restored: %v", rsName, err)
		}
		expect(t, "replicaset image", rs.Spec.Template.Spec.Containers[0].Image, s.imgB("web:latest"))
		sourceAndDestinationAnnotations(t, s, s.get(ctx, t, replicaSetsGVR, rsName))
	}},
	{name: "Deployment backed up by an earlier version (its records name another registry) rewritten from its record", requires: []string{actWorkloadRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		d, err := s.B.Kube.AppsV1().Deployments(s.TargetNS).Get(ctx, legacyDeployName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		expect(t, "legacy deployment image", d.Spec.Template.Spec.Containers[0].Image, s.imgB("web:latest"))
		expect(t, "legacy deployment annotation "+annBackupRegistryHostname, d.Annotations[annBackupRegistryHostname], legacyRegistry)
	}},
	{name: "Build absent", requires: []string{actBuildRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		s.absent(ctx, t, buildsGVR, buildName)
	}},
	{name: "BuildConfig references and secrets rewritten", requires: []string{actBCRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		bc := s.get(ctx, t, buildConfigsGVR, bcName)
		sourceAndDestinationAnnotations(t, s, bc)
		expect(t, "BC spec.output.to.name", str(t, bc, "spec", "output", "to", "name"), s.imgB("frontend:latest"))
		expect(t, "BC dockerStrategy.from.name", str(t, bc, "spec", "strategy", "dockerStrategy", "from", "name"), s.B.Registry+"/openshift/nodejs:18")
		expect(t, "BC output.pushSecret", str(t, bc, "spec", "output", "pushSecret", "name"), s.Minted[saBuilder])
		expect(t, "BC dockerStrategy.pullSecret", str(t, bc, "spec", "strategy", "dockerStrategy", "pullSecret", "name"), s.Minted[saBuilder])
	}},
	{name: "generated route host cleared, custom host kept", requires: []string{actRouteRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		gen := s.get(ctx, t, routesGVR, "generated")
		expect(t, "generated route spec.host (was "+s.Sample.GeneratedHost+" on A)", str(t, gen, "spec", "host"), "")
		custom := s.get(ctx, t, routesGVR, "custom")
		expect(t, "custom route spec.host (stale generated annotation)", str(t, custom, "spec", "host"), s.Sample.CustomHost)
	}},
	{name: "custom route host of the generated form kept despite a stale annotation", requires: []string{actRouteRestore}, run: checkCustomFormRouteHostKept},
	{name: "LoadBalancer service loses externalIPs", requires: []string{actServiceRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		svc, err := s.B.Kube.CoreV1().Services(s.TargetNS).Get(ctx, lbServiceName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.ExternalIPs) != 0 {
			t.Errorf("service %s: type %s, externalIPs %v; want LoadBalancer without externalIPs", lbServiceName, svc.Spec.Type, svc.Spec.ExternalIPs)
		}
	}},
	{name: "generated and service-CA secrets absent, user secret kept", requires: []string{actSecretRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		s.absent(ctx, t, secretsGVR, secretBuilderCfg, secretAppToken, secretServingCert)
		s.get(ctx, t, secretsGVR, secretUser)
	}},
	{name: "service account loses its generated secrets", requires: []string{actSARestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		sa, err := s.B.Kube.CoreV1().ServiceAccounts(s.TargetNS).Get(ctx, saApp, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var secrets []string
		for _, r := range sa.Secrets {
			secrets = append(secrets, r.Name)
		}
		expect(t, "SA app secrets", strings.Join(secrets, ","), secretUser)
		expect(t, "SA app imagePullSecrets", strings.Join(secretNames(sa.ImagePullSecrets), ","), secretUser)
		b, err := s.B.Kube.CoreV1().ServiceAccounts(s.TargetNS).Get(ctx, saBuilder, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Secrets {
			if r.Name == secretBuilderCfg || r.Name == secretBuilderToken {
				t.Errorf("SA builder on B lists A's generated secret %s", r.Name)
			}
		}
	}},
	{name: "role bindings: image-pullers skipped when mapped, SA subject remapped", requires: []string{actRBACRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		if s.Mapped {
			s.absent(ctx, t, roleBindingsGVR, rbImagePullers)
		} else {
			s.get(ctx, t, roleBindingsGVR, rbImagePullers)
		}
		rb, err := s.B.Kube.RbacV1().RoleBindings(s.TargetNS).Get(ctx, rbAppEdit, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rb.Subjects) != 1 {
			t.Fatalf("rolebinding %s subjects: %v", rbAppEdit, rb.Subjects)
		}
		expect(t, "rolebinding "+rbAppEdit+" subject namespace", rb.Subjects[0].Namespace, s.TargetNS)
	}},
	{name: "HPA targets apps.openshift.io/v1 DeploymentConfig", requires: []string{actHPARestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		h := s.get(ctx, t, hpaGVR, hpaName)
		expect(t, "HPA scaleTargetRef.apiVersion", str(t, h, "spec", "scaleTargetRef", "apiVersion"), "apps.openshift.io/v1")
	}},
	{name: "ImageStream restored with references rewritten", requires: []string{actISRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		is := s.get(ctx, t, imageStreamsGVR, isName)
		sourceAndDestinationAnnotations(t, s, is)
		expect(t, "IS label app", is.GetLabels()["app"], dcName)
		if local, _, _ := unstructured.NestedBool(is.Object, "spec", "lookupPolicy", "local"); !local {
			t.Errorf("IS lookupPolicy.local lost")
		}
		tags, _, _ := unstructured.NestedSlice(is.Object, "spec", "tags")
		got := map[string]string{}
		for _, tg := range tags {
			m := tg.(map[string]any)
			from, _ := m["from"].(map[string]any)
			got[fmt.Sprint(m["name"])] = fmt.Sprint(from["name"])
		}
		expect(t, "IS tag latest from", got["latest"], s.imgB("frontend:latest"))
		expect(t, "IS tag base from", got["base"], externalBase)
	}},
	{name: "backup storage locations still Available after the image backup", requires: []string{actISBackup}, run: checkLocationsAvailable},
	{name: "ImageStream images in B's registry: same digests, each tag on its newest generation", requires: []string{actISBackup, actISRestore}, run: checkImagesInRegistry},
	{name: "ImageStreams with images: references rewritten, labels, annotations and lookupPolicy kept", requires: []string{actISRestore}, run: checkImageStreamsWithImages},
	{name: "pod and Deployment run the restored images, same digests", requires: []string{actPodRestore, actWorkloadRestore, actISBackup, actISRestore}, run: checkWorkloadsRunRestoredImages},
	{name: "ImageStreamTags: internal skipped, reference kept", requires: []string{actISTagRestore}, run: func(ctx context.Context, t *testing.T, s *scenario) {
		s.absent(ctx, t, imageStreamTagsGVR, istagInternal)
		ref := s.get(ctx, t, imageStreamTagsGVR, istagReference)
		expect(t, "reference istag tag.from.name", str(t, ref, "tag", "from", "name"), externalBase)
	}},
}

func TestBackupOnARestoreOnB(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := loadEnv(t)
	a, b := newCluster(t, env, "a"), newCluster(t, env, "b")
	t.Logf("Velero %s; registry A %s, B %s", env.Get(t, "VELERO_VERSION"), a.Registry, b.Registry)

	start := time.Now()
	step := func(what string) { t.Logf("%-28s %6.1fs", what, time.Since(start).Seconds()); start = time.Now() }
	versionA, pluginsA := RegisteredPlugins(ctx, t, a)
	versionB, pluginsB := RegisteredPlugins(ctx, t, b)
	step("plugins listed")
	if !strings.HasPrefix(versionB, "v"+env.Get(t, "VELERO_VERSION")) {
		t.Errorf("Velero on B reports %s, want v%s.x", versionB, env.Get(t, "VELERO_VERSION"))
	}
	if !pluginsA[actSABackup] || !pluginsB[actPodRestore] {
		veleroFailure(t, a, "the openshift plugin is not served (Velero %s/%s lists %d plugins)", versionA, versionB, len(pluginsB))
	}
	// This suite is the general binary's; the migration binary has its own (migration_test.go).
	for c, plugins := range map[*Cluster]map[string]bool{a: pluginsA, b: pluginsB} {
		for name := range plugins {
			if strings.HasPrefix(name, migration.NamePrefix) {
				veleroFailure(t, c, "Velero serves %s: the general suite runs against openshift-velero-plugin (STACK_PLUGIN=general, hack/stack.sh velero-restart %s general)", name, c.Name)
			}
		}
	}

	for _, c := range checks {
		for _, req := range c.requires {
			if !pluginsA[req] && !pluginsB[req] {
				t.Errorf("check %q: the plugin does not register %s (Velero lists %d plugins)", c.name, req, len(pluginsB))
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	suffix := fmt.Sprintf("%d", time.Now().UnixNano()%1_000_000_000)
	ns := "e2e-app-" + suffix
	smp := createSampleApp(ctx, t, a, ns)
	step("sample app created on A")
	smp.Images = createImageSample(ctx, t, a, ns)
	enableImageBackup(ctx, t, a)
	// A's registry is not one of OpenShift's own hostnames: B is told, as README says for a source
	// with a customised registry host.
	nameSourceRegistry(ctx, t, b, a.Registry)
	step("images pushed to A")

	backup := RunBackup(ctx, t, a, "e2e-"+suffix, ns)
	if backup.Status.Phase != velerov1.BackupPhaseCompleted || backup.Status.Errors != 0 || backup.Status.Warnings != 0 {
		veleroFailure(t, a, "backup %s: phase %s, %d errors, %d warnings", backup.Name, backup.Status.Phase,
			backup.Status.Errors, backup.Status.Warnings)
	}
	t.Logf("backup %s on A: %s, %d items", backup.Name, backup.Status.Phase, itemsBackedUp(backup))
	step("backup on A")
	t.Run("backup stored the images under <prefix>/"+imageStoreDir, func(t *testing.T) { checkImagesInBucket(ctx, t, env, a, ns, smp.Images) })
	WaitBackupSynced(ctx, t, b, backup.Name)
	step("backup synced to B")

	for _, tc := range []struct {
		name     string
		targetNS string
	}{
		{name: "same-namespace", targetNS: ns},
		{name: "namespace-mapping", targetNS: ns + "-mapped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mapping map[string]string
			if tc.targetNS != ns {
				mapping = map[string]string{ns: tc.targetNS}
			}
			minted := prepareDestination(ctx, t, b, tc.targetNS)
			restore := RunRestore(ctx, t, b, backup.Name+"-"+tc.name, backup.Name, mapping)
			step("restore on B")
			t.Logf("restore %s on B: %s (%d warnings, %d errors)", restore.Name, restore.Status.Phase,
				restore.Status.Warnings, restore.Status.Errors)
			s := &scenario{A: a, B: b, SourceNS: ns, TargetNS: tc.targetNS, Mapped: mapping != nil, Backup: backup,
				Restore: restore, Sample: smp, Minted: minted}
			for _, c := range checks {
				t.Run(c.name, func(t *testing.T) { c.run(ctx, t, s) })
			}
			writeChangeTable(ctx, t, env, s)
		})
	}
}

func itemsBackedUp(b *velerov1.Backup) int {
	if b.Status.Progress == nil {
		return 0
	}
	return b.Status.Progress.ItemsBackedUp
}

func getPod(ctx context.Context, t *testing.T, c *Cluster, ns, name string) *corev1.Pod {
	t.Helper()
	p, err := c.Kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: pod %s/%s: %v", c, ns, name, err)
	}
	return p
}
