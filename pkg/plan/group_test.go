package plan

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
)

func names(svcs []*corev1.Service) []string {
	var out []string
	for _, s := range svcs {
		out = append(out, namespaceOf(s)+"/"+s.Name)
	}
	return out
}

func TestGroupByELB(t *testing.T) {
	svcs := []*corev1.Service{
		mk(svcSpec{name: "web", namespace: "shop", ann: ann(aClass, "union", aID, "elb-1")}),
		mk(svcSpec{name: "api", namespace: "other", ann: ann(aClass, "union", aID, "elb-1", aPT, "true")}),
		func() *corev1.Service { // no class: CCE union; no namespace: "default"
			s := mk(svcSpec{name: "db", ann: ann(aID, "elb-1")})
			s.Namespace = ""
			return s
		}(),
		mk(svcSpec{name: "alone", namespace: "shop", ann: ann(aClass, "performance", aID, "elb-2")}),
		mk(svcSpec{name: "noid", namespace: "shop", ann: union}),
		mk(svcSpec{name: "emptyid", namespace: "shop", ann: ann(aClass, "union", aID, "")}),
		mk(svcSpec{name: "oss", namespace: "shop", ann: ann(aClass, "shared", aID, "elb-1")}),
		mk(svcSpec{name: "np", namespace: "shop", typ: corev1.ServiceTypeNodePort, ann: ann(aClass, "union", aID, "elb-1")}),
		nil,
	}
	svcs = append(svcs, svcs[0]) // listed twice
	got := GroupByELB(svcs)
	keys := []string{}
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if !reflect.DeepEqual(keys, []string{"elb-1", "elb-2"}) {
		t.Fatalf("keys = %v", keys)
	}
	if g := names(got["elb-1"]); !reflect.DeepEqual(g, []string{"default/db", "other/api", "shop/web"}) {
		t.Errorf("elb-1 = %v", g)
	}
	if g := names(got["elb-2"]); !reflect.DeepEqual(g, []string{"shop/alone"}) {
		t.Errorf("elb-2 = %v", g)
	}
	if len(GroupByELB(nil)) != 0 {
		t.Error("nil input")
	}
}

// A group that disagrees (IPVS) gives every member the finding, naming all members and their
// values; the pass-through fix of each member without it patches the others without it.
func TestGroupDisagreesEveryMember(t *testing.T) {
	svcs := []*corev1.Service{
		mk(svcSpec{name: "web", namespace: "shop", cluster: true, ann: ann(aClass, "union", aID, "elb-1")}),
		mk(svcSpec{name: "api", namespace: "other", cluster: true, ann: ann(aClass, "union", aID, "elb-1", aPT, "true")}),
		mk(svcSpec{name: "db", namespace: "data", ann: ann(aClass, "union", aID, "elb-1", aPT, "onlyLocal")}), // Local: onlyLocal is on
		mk(svcSpec{name: "cache", namespace: "data", cluster: true, ann: ann(aClass, "union", aID, "elb-1")}),
	}
	group := GroupByELB(svcs)["elb-1"]
	if len(group) != 4 {
		t.Fatalf("group = %v", names(group))
	}
	setting := map[string]string{ // every member as the findings name it
		"data/cache": `data/cache (%spass-through off: not set)`,
		"data/db":    `data/db (%spass-through on: "onlyLocal")`,
		"other/api":  `other/api (%spass-through on: "true")`,
		"shop/web":   `shop/web (%spass-through off: not set)`,
	}
	m := matrix.MustDefault()
	for _, svc := range group {
		sp, err := Decide(Input{Cluster: cluster("vpc", "ipvs", v125), Service: svc, SameELB: group}, m)
		if err != nil {
			t.Fatal(err)
		}
		f := find(sp.Findings, FindingPassThroughInconsistentSharedLB)
		if f == nil {
			t.Fatalf("%s/%s: no finding: %v", svc.Namespace, svc.Name, ids(sp.Findings))
		}
		self := svc.Namespace + "/" + svc.Name
		for name, format := range setting {
			this := ""
			if name == self {
				this = "this Service; "
			}
			if want := fmt.Sprintf(format, this); !strings.Contains(f.Message, want) {
				t.Errorf("%s: message lacks %q: %s", self, want, f.Message)
			}
		}
		if !strings.Contains(f.Message, "its 4 Services disagree") || strings.Count(f.Message, "this Service") != 1 {
			t.Errorf("%s: %s", self, f.Message)
		}
		on := svc.Annotations[aPT] != ""
		switch {
		case !on:
			// Pass-through here, with the other member without it.
			if sp.Fix == nil || sp.Fix.Strategy != StrategyPassThrough || !sp.Changed {
				t.Fatalf("%s/%s: fix = %+v", svc.Namespace, svc.Name, sp.Fix)
			}
			var also []string
			for _, a := range sp.Fix.AlsoPatch {
				also = append(also, a.Namespace+"/"+a.Name)
			}
			other := map[string]string{"shop/web": "data/cache", "data/cache": "shop/web"}[svc.Namespace+"/"+svc.Name]
			if !reflect.DeepEqual(also, []string{other}) {
				t.Errorf("%s/%s: alsoPatch = %v, want %s", svc.Namespace, svc.Name, also, other)
			}
		default:
			// Already on: align the members without it (onlyLocal is written as "true", the
			// very setting the others get).
			if sp.Fix == nil || sp.Fix.Strategy != StrategyPassThrough || sp.Changed != (svc.Annotations[aPT] == "onlyLocal") || len(sp.Fix.AlsoPatch) != 2 {
				t.Fatalf("%s/%s: fix = %+v changed=%v", svc.Namespace, svc.Name, sp.Fix, sp.Changed)
			}
		}
	}
}

// The peers each member of a group is compared with, worked out once a group (ELBCache), are
// the ones the per-Service rule picks: the group less the Service itself, only LoadBalancers of
// the CCE dialect, not DNAT, on the same elb.id, in namespace/name order (as the strings
// compare: "a-b/x" before "a/y"). The reference below is that rule as it was written before
// the cache; random groups with namespaces that prefix each other, duplicates, other ids,
// types and dialects.
func TestPeersPerGroupMatchPerService(t *testing.T) {
	reference := func(in Input) []string {
		var peers []*corev1.Service
		self := in.Service
		for _, p := range in.SameELB {
			if p == nil || (namespaceOf(p) == namespaceOf(self) && p.Name == self.Name) {
				continue
			}
			if p.Annotations[aID] != self.Annotations[aID] || p.Spec.Type != corev1.ServiceTypeLoadBalancer {
				continue
			}
			if pi, _ := (*ELBCache)(nil).Parse(p); pi.Dialect == elb.DialectCCE && !pi.DNAT {
				peers = append(peers, p)
			}
		}
		sort.SliceStable(peers, func(i, j int) bool {
			return namespaceOf(peers[i])+"/"+peers[i].Name < namespaceOf(peers[j])+"/"+peers[j].Name
		})
		return names(peers)
	}
	rng := rand.New(rand.NewPCG(7, 14))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	m := matrix.MustDefault()
	cache := NewELBCache()
	for round := range 300 {
		var group []*corev1.Service
		for range 1 + rng.IntN(12) {
			a := ann(aClass, pick("union", "performance", "dnat", "shared"), aID, pick("elb-1", "elb-1", "elb-1", "elb-2"))
			if pt := pick("", "true", "false", "onlyLocal"); pt != "" {
				a[aPT] = pt
			}
			ns := pick("x", "x-y", "x.y", "xy", "", "default")
			s := mk(svcSpec{name: pick("a", "a-b", "b", "a.b"), namespace: ns, cluster: rng.IntN(2) == 0, ann: a})
			s.Namespace = ns
			if rng.IntN(8) == 0 {
				s.Spec.Type = corev1.ServiceTypeNodePort
			}
			group = append(group, s)
		}
		if rng.IntN(4) == 0 {
			group = append(group, nil, group[0])
		}
		for _, svc := range group {
			if svc == nil {
				continue
			}
			in := Input{Cluster: cluster("vpc", "ipvs", v125), Service: svc, SameELB: group, ELBCache: cache}
			info, probs := cache.Parse(svc)
			f := newFacts(in, m, info, probs)
			if info.ID == "" {
				continue
			}
			if got, want := names(f.peers), reference(in); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d, %s/%s: peers %v, want %v", round, svc.Namespace, svc.Name, got, want)
			}
			for i, p := range f.peers {
				pi, _ := cache.Parse(p)
				on := ptOn(ptValue(pi), p.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal)
				if f.peerOn[i] != on ||
					f.peerMember[i] != memberSetting(namespaceOf(p), p.Name, on, pi.PassThrough, false) {
					t.Fatalf("round %d, %s/%s: peer %d: pass-through state or member words differ", round, svc.Namespace, svc.Name, i)
				}
			}
		}
	}
}

func TestKeyLess(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(alphabet string) string {
		b := make([]byte, rng.IntN(4))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 20000 {
		// Namespaces are DNS labels (no '/'); names here may hold anything.
		ns1, n1, ns2, n2 := word("a-.0"), word("a-/.0"), word("a-.0"), word("a-/.0")
		if got, want := keyLess(ns1, n1, ns2, n2), ns1+"/"+n1 < ns2+"/"+n2; got != want {
			t.Fatalf("keyLess(%q, %q, %q, %q) = %v, want %v", ns1, n1, ns2, n2, got, want)
		}
	}
}
