// Package nsmap answers "where does namespace X go on the destination" from a Restore's
// namespaceMapping, the one place that question is answered.
package nsmap

import velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"

// Mapping maps source namespaces to destination namespaces; unmapped namespaces keep their name.
type Mapping map[string]string

// FromRestore returns the mapping of a Restore (empty for nil).
func FromRestore(r *velerov1.Restore) Mapping {
	if r == nil {
		return Mapping{}
	}
	return Mapping(r.Spec.NamespaceMapping)
}

// Map returns the destination namespace of ns.
func (m Mapping) Map(ns string) string {
	if to, ok := m[ns]; ok && to != "" {
		return to
	}
	return ns
}

// IsMapped reports whether ns is renamed by the mapping.
func (m Mapping) IsMapped(ns string) bool { return m.Map(ns) != ns }
