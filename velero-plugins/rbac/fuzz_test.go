package rbac

import (
	"testing"

	"github.com/velero-openshift/plugins/common/action/actiontest"
)

// FuzzExecute feeds arbitrary objects, forced to be RoleBindings, through the guarded action: any
// outcome but a recovered panic is acceptable.
func FuzzExecute(f *testing.F) {
	for _, seed := range []string{
		`{"metadata":{"name":"b","namespace":"app"},"subjects":[{"kind":"ServiceAccount","name":"sa","namespace":"app"}],"roleRef":{"kind":"Role","name":"r","namespace":"app"}}`,
		`{"metadata":{"name":"system:deployers","namespace":"app"},"userNames":["system:serviceaccount:app:x"],"groupNames":["system:serviceaccounts:app"]}`,
		`{"metadata":{"name":"b","namespace":"app"},"subjects":[{"kind":"User","name":"system:serviceaccount:app"},{"kind":"Group","name":"system:serviceaccounts:"}]}`,
		`{"metadata":"x","subjects":{"kind":"User"}}`,
		`{"metadata":{"name":7,"namespace":["app"],"annotations":"a"},"subjects":[1,null,"s"],"roleRef":[]}`,
		`{"subjects":[{"kind":"ServiceAccount","namespace":3}],"userNames":"x","groupNames":[null]}`,
		`{}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		item, ok := actiontest.FuzzItem(data, "rbac.authorization.k8s.io/v1", "RoleBinding")
		if !ok {
			return
		}
		reg, _ := registration()
		_, err := actiontest.RunRestore(t, reg, actiontest.Env(), item, actiontest.Restore(map[string]string{"app": "app2"}))
		actiontest.NoPanic(t, data, err)
	})
}
