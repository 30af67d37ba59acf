package nsmap

import "strings"

// The user and group names Kubernetes gives service accounts; SCCs and role bindings grant by them.
const (
	userPrefix  = "system:serviceaccount:"
	groupPrefix = "system:serviceaccounts:"
)

// ServiceAccountUser is the user name of service account sa in namespace ns.
func ServiceAccountUser(ns, sa string) string { return userPrefix + ns + ":" + sa }

// ServiceAccountGroup is the group of every service account in namespace ns.
func ServiceAccountGroup(ns string) string { return groupPrefix + ns }

// ParseUser splits "system:serviceaccount:<ns>:<sa>"; ok is false for any other user.
func ParseUser(user string) (ns, sa string, ok bool) {
	rest, found := strings.CutPrefix(user, userPrefix)
	if !found {
		return "", "", false
	}
	ns, sa, found = strings.Cut(rest, ":")
	if !found || ns == "" || sa == "" || strings.Contains(sa, ":") {
		return "", "", false
	}
	return ns, sa, true
}

// ParseGroup returns the namespace of "system:serviceaccounts:<ns>"; ok is false for any other group.
func ParseGroup(group string) (ns string, ok bool) {
	ns, found := strings.CutPrefix(group, groupPrefix)
	if !found || ns == "" || strings.Contains(ns, ":") {
		return "", false
	}
	return ns, true
}

// MapUser returns user with its service-account namespace mapped; other users are returned as is.
func (m Mapping) MapUser(user string) string {
	if ns, sa, ok := ParseUser(user); ok {
		return ServiceAccountUser(m.Map(ns), sa)
	}
	return user
}

// MapGroup returns group with its service-account namespace mapped; other groups are returned as is.
func (m Mapping) MapGroup(group string) string {
	if ns, ok := ParseGroup(group); ok {
		return ServiceAccountGroup(m.Map(ns))
	}
	return group
}
