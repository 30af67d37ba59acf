package restorehooks

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/velero-openshift/plugins/common/keys"
)

// DeploymentConfigPods describes the backed-up pods of DeploymentConfig dc (read it from the item
// in the backup) for Decide. The DC restore never sees its pods, so:
//   - they are known in the PodVolumeBackups by their names, which the ReplicationController
//     manager derives from the DC's name (DeploymentConfigPodName);
//   - their hook annotations and labels are what the DC backup recorded from the live pods: this
//     plugin's keys when present, else the keys of OADP's plugin, else (a DC backed up without
//     either) the pod template's;
//   - whether they had volumes is read from the same keys only when PodVolumeBackups cannot be
//     listed: the keys judge from live pods, while only a PodVolumeBackup gets a pod restored.
//
// A malformed recorded label value is an error naming the annotation.
func DeploymentConfigPods(dc *unstructured.Unstructured) (Pods, error) {
	name, latest := dc.GetName(), latestVersion(dc)
	pods := Pods{
		Namespace: dc.GetNamespace(),
		Named:     func(pod string) bool { return DeploymentConfigPodName(name, latest, pod) },
	}
	template := nonRestorable(dc.Object, "spec", "template", "spec", "volumes")
	pods.NonRestorable = func(volume string) bool {
		return template(volume) || strings.HasPrefix(volume, serviceAccountTokenVolume)
	}
	a := dc.GetAnnotations()
	_, oursVolumes := a[keys.DCPodsHaveVolumeBackups]
	_, oursHooks := a[keys.DCPodsHaveRestoreHooks]
	_, oursLabels := a[keys.DCPodLabels]
	_, oadp := a[keys.OADPPodsHaveVolumes]
	switch {
	case oursVolumes || oursHooks || oursLabels:
		pods.HookAnnotations = a[keys.DCPodsHaveRestoreHooks] == "true"
		if a[keys.DCPodsHaveVolumeBackups] == "true" {
			pods.Fallback = "recorded at backup: " + keys.DCPodsHaveVolumeBackups
		}
		if raw, ok := a[keys.DCPodLabels]; ok { // absent: the DC had no pods at backup
			err := json.Unmarshal([]byte(raw), &pods.Labels)
			if err == nil && pods.Labels == nil {
				err = fmt.Errorf("null")
			}
			if err != nil {
				return Pods{}, fmt.Errorf("metadata.annotations[%s]: not a JSON object of labels: %w", keys.DCPodLabels, err)
			}
		}
	case oadp || a[keys.OADPIncludesDMFix] != "":
		pods.HookAnnotations = a[keys.OADPHasPodRestoreHooks] == "true"
		if a[keys.OADPPodsHaveVolumes] == "true" {
			pods.Fallback = "recorded at backup by OADP's plugin: " + keys.OADPPodsHaveVolumes
		}
		if raw := a[keys.OADPPodLabels]; raw != "" { // empty: the DC had no pods at backup
			set, err := labels.ConvertSelectorToLabelsMap(raw)
			if err != nil {
				return Pods{}, fmt.Errorf("metadata.annotations[%s]: not a list of labels k=v,...: %w", keys.OADPPodLabels, err)
			}
			pods.Labels = set
		}
	default:
		template, _, _ := unstructured.NestedStringMap(dc.Object, "spec", "template", "metadata", "annotations")
		pods.HookAnnotations = HasHookAnnotations(template)
		if HasVolumeAnnotation(template) {
			pods.Fallback = "pod template annotation " + keys.VeleroBackupVolumes
		}
		pods.Labels = map[string]string{}
		if l, _, err := unstructured.NestedStringMap(dc.Object, "spec", "template", "metadata", "labels"); err == nil {
			for k, v := range l {
				pods.Labels[k] = v
			}
		}
		pods.Labels[keys.DeploymentConfigLabel] = name
	}
	return pods, nil
}

// serviceAccountTokenVolume starts the name of the projected volume the ServiceAccount admission
// adds to every pod ("kube-api-access-<5 random>"): it is in no pod template, and Velero restores
// nothing into it, as into any projected volume.
const serviceAccountTokenVolume = "kube-api-access-"

// latestVersion is the DC's status.latestVersion as backed up (0: unknown).
func latestVersion(dc *unstructured.Unstructured) int64 {
	v, _, _ := unstructured.NestedFieldNoCopy(dc.Object, "status", "latestVersion")
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	}
	return 0
}

// Kubernetes names generated objects <prefix><5 random lowercase alphanumerics>, the prefix cut to
// maxGeneratedPrefix characters (k8s.io/apiserver/pkg/storage/names).
const (
	generatedSuffix    = 5
	maxGeneratedPrefix = 63 - generatedSuffix
)

// DeploymentConfigPodName reports whether pod is named like a pod of DeploymentConfig dc: the
// ReplicationController of version N is "<dc>-<N>" and names its pods with the generated-name
// prefix "<dc>-<N>-". A version above latest (when known, > 0) cannot be the DC's, so a CronJob's
// Job "<dc>-<minutes since 1970>" of the same name is not taken for one.
func DeploymentConfigPodName(dc string, latest int64, pod string) bool {
	if len(pod) <= generatedSuffix || !lowerAlphanumeric(pod[len(pod)-generatedSuffix:]) {
		return false
	}
	prefix := pod[:len(pod)-generatedSuffix]
	cut := len(prefix) == maxGeneratedPrefix // the real prefix may have been longer
	head := dc + "-"
	if len(head) >= maxGeneratedPrefix {
		return cut && prefix == head[:maxGeneratedPrefix]
	}
	rest, ok := strings.CutPrefix(prefix, head)
	if !ok {
		return false
	}
	digits, complete := strings.CutSuffix(rest, "-")
	if !complete {
		return cut && allDigits(digits) // cut inside the version: nothing more to compare
	}
	if digits == "" || digits[0] == '0' || !allDigits(digits) {
		return false
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	return err == nil && (latest <= 0 || n <= latest)
}

func lowerAlphanumeric(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
