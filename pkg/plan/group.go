package plan

import (
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
)

// GroupByELB groups LoadBalancer Services of the CCE dialect by their kubernetes.io/elb.id (the
// key, as written), for scan's grouped view; Services without an id, of another dialect or type,
// and nil entries are left out, and a Service listed twice (same namespace and name) counts once.
// Each group is sorted by namespace/name; a group may have a single Service. Pass a group as
// Input.SameELB of each of its Services: Decide then reports passthrough-inconsistent-shared-elb
// on every member of a group that disagrees, naming all of them.
func GroupByELB(svcs []*corev1.Service) map[string][]*corev1.Service {
	groups := map[string][]*corev1.Service{}
	seen := map[string]bool{}
	for _, svc := range svcs {
		if svc == nil || svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		id := svc.Annotations[elb.AnnID]
		if id == "" {
			continue
		}
		if info, _ := elb.Parse(svc); info.Dialect != elb.DialectCCE {
			continue
		}
		key := id + "\x00" + namespaceOf(svc) + "/" + svc.Name
		if seen[key] {
			continue
		}
		seen[key] = true
		groups[id] = append(groups[id], svc)
	}
	for _, g := range groups {
		sort.SliceStable(g, func(i, j int) bool {
			return keyLess(namespaceOf(g[i]), g[i].Name, namespaceOf(g[j]), g[j].Name)
		})
	}
	return groups
}
