//go:build e2e

package e2e

import (
	"context"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Two cases where the backed-up names alone would mislead the restore: workloads running as a
// service account of their own, whose generated pull secret has a name B never mints, and a route
// whose custom host has the <name>-<ns>. form of a generated one.

const (
	saDB         = "db"
	secretDBCfg  = "db-dockercfg-p4r7t" // the pull secret A minted for SA db
	dbPodName    = "db"
	dbDeployName = "db"
	// routeCustomForm's host web-<ns>.shop.example.com was customised from the generated one and
	// kept its host.generated annotation: only the source apps domain tells it from a generated host.
	routeCustomForm = "web"
	// annPullSecretRef (4.16+) on a service account names the pull secret OpenShift minted for it.
	annPullSecretRef = "openshift.io/internal-registry-pull-secret-ref"
	// annBackupAppsDomain is the source apps domain the route restore judged by (earlier versions
	// recorded it at backup; now the source's router status gives it).
	annBackupAppsDomain = "openshift.io/backup-apps-domain"
)

// generatedPullSecret is the dockercfg secret OpenShift 4.16+ mints for service account sa:
// annotated with the account's name and owned by it.
func generatedPullSecret(name string, sa *corev1.ServiceAccount) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations:     map[string]string{"openshift.io/internal-registry-auth-token.service-account": sa.Name},
			OwnerReferences: ownerRef("v1", "ServiceAccount", sa.Name, sa.UID)},
		Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte("{}")},
	}
}

// createCustomServiceAccountApp creates on c (cluster A) service account db as OpenShift 4.16+
// leaves it, with the pull secret minted for it linked both ways, and a bare pod and a Deployment
// running as db whose imagePullSecrets list that secret (OpenShift's admission adds the account's
// pull secrets to every pod; the Deployment states it as users do).
func createCustomServiceAccountApp(ctx context.Context, t *testing.T, c *Cluster, ns, image string) {
	t.Helper()
	core := c.Kube.CoreV1()
	sa, err := core.ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: saDB, Annotations: map[string]string{annPullSecretRef: secretDBCfg}},
		Secrets:          []corev1.ObjectReference{{Name: secretDBCfg}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: secretDBCfg}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	if _, err := core.Secrets(ns).Create(ctx, generatedPullSecret(secretDBCfg, sa), metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	labels := map[string]string{"app": saDB}
	spec := corev1.PodSpec{ServiceAccountName: saDB, Containers: []corev1.Container{{Name: "db", Image: image}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: secretDBCfg}}}
	if _, err := core.Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: dbPodName, Labels: labels}, Spec: spec},
		metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: %v", c, err)
	}
	if _, err := c.Kube.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: dbDeployName},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("%s: %v", c, err)
	}
}

// checkCustomServiceAccountPullSecrets: the pod and the Deployment running as db reference the
// secret B minted for its own account db, never A's name; A's secret is not restored.
func checkCustomServiceAccountPullSecrets(ctx context.Context, t *testing.T, s *scenario) {
	want := s.Minted[saDB]
	sa, err := s.B.Kube.CoreV1().ServiceAccounts(s.TargetNS).Get(ctx, saDB, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: service account %s/%s: %v", s.B, s.TargetNS, saDB, err)
	}
	secret, err := s.B.Kube.CoreV1().Secrets(s.TargetNS).Get(ctx, want, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: the secret B minted for %s: %v", s.B, saDB, err)
	}
	if refs := secret.OwnerReferences; len(refs) != 1 || refs[0].UID != sa.UID {
		t.Fatalf("%s: secret %s is not owned by B's service account %s (uid %s): %v", s.B, want, saDB, sa.UID, refs)
	}

	pod := getPod(ctx, t, s.B, s.TargetNS, dbPodName)
	expect(t, "pod db serviceAccountName", pod.Spec.ServiceAccountName, saDB)
	expect(t, "pod db imagePullSecrets (was "+secretDBCfg+" on A)", strings.Join(secretNames(pod.Spec.ImagePullSecrets), ","), want)
	d, err := s.B.Kube.AppsV1().Deployments(s.TargetNS).Get(ctx, dbDeployName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("%s: Deployment %s/%s: %v", s.B, s.TargetNS, dbDeployName, err)
	}
	expect(t, "Deployment db template imagePullSecrets (was "+secretDBCfg+" on A)",
		strings.Join(secretNames(d.Spec.Template.Spec.ImagePullSecrets), ","), want)

	s.absent(ctx, t, secretsGVR, secretDBCfg)
	for _, r := range sa.Secrets {
		if r.Name == secretDBCfg {
			t.Errorf("SA db on B lists A's generated secret %s in secrets", r.Name)
		}
	}
	for _, r := range sa.ImagePullSecrets {
		if r.Name == secretDBCfg {
			t.Errorf("SA db on B lists A's generated secret %s in imagePullSecrets", r.Name)
		}
	}
}

// checkCustomFormRouteHostKept: the custom host of the generated <name>-<ns>. form is kept (A's
// router recorded A's apps domain in the route's status, and the host is not on it); the host
// generated on A's apps domain is cleared (checked with the other routes).
func checkCustomFormRouteHostKept(ctx context.Context, t *testing.T, s *scenario) {
	r := s.get(ctx, t, routesGVR, routeCustomForm)
	expect(t, "route "+routeCustomForm+" annotation "+annBackupAppsDomain, r.GetAnnotations()[annBackupAppsDomain], s.A.AppsDomain)
	expect(t, "route "+routeCustomForm+" spec.host (custom, stale generated annotation)", str(t, r, "spec", "host"), s.Sample.CustomFormHost)
}
