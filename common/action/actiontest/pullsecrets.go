package actiontest

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/velero-openshift/plugins/common/keys"
	"github.com/velero-openshift/plugins/common/pullsecret"
)

// MintedSuffix ends the name of every dockercfg secret MintedSecrets creates, so a test can tell
// a swapped reference ("<sa>-dockercfg-zzzzz") from a backed-up one.
const MintedSuffix = "zzzzz"

// Minted is the name of the dockercfg secret MintedSecrets creates for service account sa.
func Minted(sa string) string { return sa + "-dockercfg-" + MintedSuffix }

// MintedSecrets returns a fake destination cluster on which every "namespace/serviceaccount" of
// accounts exists with the dockercfg secret the destination minted for it (4.16+ style: the
// account names it, it names and is owned by the account), and a finder over that cluster that
// polls every 10ms.
func MintedSecrets(accounts ...string) (*pullsecret.Finder, *fake.Clientset) {
	var objs []runtime.Object
	for _, a := range accounts {
		ns, name, _ := strings.Cut(a, "/")
		uid := types.UID("uid-" + ns + "-" + name)
		objs = append(objs,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid,
				Annotations: map[string]string{keys.InternalRegistryPullSecretRef: Minted(name)}}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: Minted(name),
				Annotations:     map[string]string{keys.InternalRegistryAuthTokenSA: name},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "ServiceAccount", Name: name, UID: uid}}},
				Type: corev1.SecretTypeDockercfg})
	}
	kube := fake.NewSimpleClientset(objs...)
	return &pullsecret.Finder{Client: kube.CoreV1(), Poll: 10 * time.Millisecond}, kube
}
