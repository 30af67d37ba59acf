//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/uuid"
)

// createLegacy stores obj (a namespaced object of a built-in resource, in the resource's storage
// version) straight into cluster c's etcd keyspace, where kube-apiserver keeps it
// (<prefix>/<resource>/<namespace>/<name>), and waits until the API serves it. It holds what a
// cluster keeps from before its API server's validation tightened, and today's API refuses to
// create: an HPA whose scaleTargetRef.apiVersion is "v1", as OpenShift 3 wrote them. The API
// server reads JSON from storage as well as its own protobuf.
func createLegacy(ctx context.Context, t *testing.T, c *Cluster, res schema.GroupVersionResource, ns string, obj map[string]any) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	u.SetNamespace(ns)
	u.SetUID(uuid.NewUUID())
	u.SetCreationTimestamp(metav1.Now())
	value, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	key := fmt.Sprintf("%s/%s/%s/%s", c.EtcdPrefix, res.Resource, ns, u.GetName())
	if err := etcdPut(ctx, c.EtcdURL, key, value); err != nil {
		t.Fatalf("%s: storing legacy %s %s/%s in etcd: %v", c, res.Resource, ns, u.GetName(), err)
	}
	var got *unstructured.Unstructured
	err = poll(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		got, err = c.Dynamic.Resource(res).Namespace(ns).Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatalf("%s: legacy %s %s/%s stored in etcd (%s) but not served: %v", c, res.Resource, ns, u.GetName(), key, err)
	}
	return got
}

// etcdPut writes one key through etcd's v3 JSON gateway (POST /v3/kv/put, key and value base64).
func etcdPut(ctx context.Context, etcdURL, key string, value []byte) error {
	body, err := json.Marshal(map[string]string{
		"key":   base64.StdEncoding.EncodeToString([]byte(key)),
		"value": base64.StdEncoding.EncodeToString(value),
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, etcdURL+"/v3/kv/put", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd answered %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
