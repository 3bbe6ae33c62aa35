package engine

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// TestPlannerStartsEachServiceWhenItsReadsAre: scan's planner starts a Service that needs no
// list at once, one that needs an endpoint count once the EndpointSlice list has moved past
// its namespace (in key order: "b-x" comes before "b"), one that also needs the pods (CCE
// Turbo, Local with a selector) once they are read too; and, at the end, plans again with the
// list's final answer the Services planned with counts told along the way, when the list then
// said they may not hold or could not be read whole, and only then.
func TestPlannerStartsEachServiceWhenItsReadsAre(t *testing.T) {
	svc := func(ns, name string, typ corev1.ServiceType, local bool) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: corev1.ServiceSpec{Type: typ, Selector: map[string]string{"app": name}}}
		if local {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
		return s
	}
	const (
		internal = iota // ClusterIP: needs no list
		inB             // LoadBalancer in b: needs the count
		inBX            // LoadBalancer in b-x: needs the count, told before b's
		local           // Local LoadBalancer in c: needs the count and the pods
	)
	final := map[string]int{"b/lb": 7, "b-x/lb": 8, "c/local": 9}
	backends := backendIndex{}
	backends.add("c", backendPod{labels: map[string]string{"app": "local"}, hostNetwork: true})
	for _, end := range []struct {
		name      string
		reset     bool           // the list says, after b-x, that what it told may not hold
		endpoints map[string]int // the list's final answer (nil: not read whole)
		want      map[int]int    // each Service's endpoint count in the input of its last plan
	}{
		{"the list read whole", false, final, map[int]int{internal: -1, inB: 2, inBX: 3, local: 4}},
		{"the list failed", false, nil, map[int]int{internal: -1, inB: -1, inBX: -1, local: -1}},
		{"the list read again", true, final, map[int]int{internal: -1, inB: 7, inBX: 8, local: 9}},
	} {
		t.Run(end.name, func(t *testing.T) {
			svcs := []*corev1.Service{
				internal: svc("a", "internal", corev1.ServiceTypeClusterIP, false),
				inB:      svc("b", "lb", corev1.ServiceTypeLoadBalancer, false),
				inBX:     svc("b-x", "lb", corev1.ServiceTypeLoadBalancer, false),
				local:    svc("c", "local", corev1.ServiceTypeLoadBalancer, true),
			}
			p := (&Scan{AllNamespaces: true}).newPlanner(plan.Cluster{NetworkModel: plan.NetworkTurbo, ProxyMode: plan.ProxyIPVS},
				svcs, &reads{elbCache: plan.NewELBCache()})
			started := func(want ...int) {
				t.Helper()
				for i := range svcs {
					in := false
					for _, w := range want {
						in = in || w == i
					}
					if got := p.inputs[i].Service != nil; got != in {
						t.Fatalf("Service %s/%s started %v, want %v", svcs[i].Namespace, svcs[i].Name, got, in)
					}
				}
			}
			started(internal)
			p.slicesDone(&namespaceDone{counts: map[string]int{"b-x/lb": 3}, through: "b/lb"}, 5)
			started(internal, inBX)
			if !end.reset {
				p.slicesDone(&namespaceDone{counts: map[string]int{"b/lb": 2, "c/local": 4}, through: "d/x"}, 5)
				started(internal, inBX, inB) // c waits for the pods
				p.podsDone(backends)
				started(internal, inBX, inB, local)
			} else {
				p.slicesDone(&namespaceDone{reset: true}, 5)
				p.slicesDone(&namespaceDone{counts: map[string]int{"b/lb": 2, "c/local": 4}, through: "d/x"}, 5)
				started(internal, inBX) // nothing more is taken after a reset
			}
			all, err := p.finish(5, end.endpoints, backends)
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range end.want {
				if got := p.inputs[i].EndpointCount; got != want || all[i] == nil {
					t.Errorf("Service %s/%s: planned with %d endpoints (plan %v), want %d", svcs[i].Namespace, svcs[i].Name, got, all[i] != nil, want)
				}
			}
			if hn := p.inputs[local].BackendsHostNetwork; hn == nil || !*hn {
				t.Errorf("the Local Service was planned without its pods' hostNetwork: %v", hn)
			}
		})
	}
}
