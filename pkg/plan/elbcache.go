package plan

import (
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
)

// ELBCache remembers the parsed ELB annotations of Services by object, so that a run planning
// thousands of Services parses each one once, not once for every Service of its ELB. Safe for
// concurrent use; the Services must not change while it is used.
type ELBCache struct {
	m      sync.Map // *corev1.Service → parsedELB
	groups sync.Map // peerKey → *peerSet
}

type parsedELB struct {
	info  elb.Info
	probs []elb.Problem
}

// NewELBCache returns an empty cache.
func NewELBCache() *ELBCache { return &ELBCache{} }

// Parse is elb.Parse, remembered; on a nil cache it parses every time.
func (c *ELBCache) Parse(svc *corev1.Service) (elb.Info, []elb.Problem) {
	if c == nil {
		return elb.Parse(svc)
	}
	if v, ok := c.m.Load(svc); ok {
		p := v.(parsedELB)
		return p.info, p.probs
	}
	info, probs := elb.Parse(svc)
	c.m.Store(svc, parsedELB{info, probs})
	return info, probs
}

// Forget lets the cache drop what it remembers of svc: a caller that decodes Services one after
// another, planning each against groups of other objects (svc -f - keeps a stub of each
// Service for its ELB's group), would otherwise keep every decoded Service alive through the
// cache.
func (c *ELBCache) Forget(svc *corev1.Service) {
	if c != nil {
		c.m.Delete(svc)
	}
}

// peerSet is what the shared-ELB rules compare a Service with: the Services of a group
// (Input.SameELB) on one elb.id that are LoadBalancers of the CCE dialect and not DNAT, sorted
// by namespace/name, with their pass-through state (ptOn) and the words a
// finding names them with (memberSetting). Every member of the group sees the same set, less
// itself: it is worked out once a group, not once a member (a group of n Services cost n² parses
// and map reads, and a sort, each time).
type peerSet struct {
	svcs   []*corev1.Service
	on     []bool
	member []string
}

// peerKey names a group by its backing array and length (the same slice, passed as SameELB to
// each of its members) and the elb.id asked for.
type peerKey struct {
	first **corev1.Service
	n     int
	id    string
}

// peers returns the peer set of elb.id id within same, remembered by the group (the groups
// must not change while the cache is used, as the Services must not).
func (c *ELBCache) peers(id string, same []*corev1.Service) *peerSet {
	if len(same) == 0 {
		return &peerSet{}
	}
	if c == nil {
		return c.buildPeers(id, same)
	}
	k := peerKey{&same[0], len(same), id}
	if v, ok := c.groups.Load(k); ok {
		return v.(*peerSet)
	}
	ps := c.buildPeers(id, same)
	c.groups.Store(k, ps)
	return ps
}

func (c *ELBCache) buildPeers(id string, same []*corev1.Service) *peerSet {
	var svcs []*corev1.Service
	for _, p := range same {
		if p == nil || p.Annotations[elb.AnnID] != id || p.Spec.Type != corev1.ServiceTypeLoadBalancer {
			continue
		}
		if pi, _ := c.Parse(p); pi.Dialect == elb.DialectCCE && !pi.DNAT {
			svcs = append(svcs, p)
		}
	}
	sort.SliceStable(svcs, func(i, j int) bool {
		return keyLess(namespaceOf(svcs[i]), svcs[i].Name, namespaceOf(svcs[j]), svcs[j].Name)
	})
	ps := &peerSet{svcs: svcs, on: make([]bool, len(svcs)), member: make([]string, len(svcs))}
	for i, p := range svcs {
		pi, _ := c.Parse(p)
		ps.on[i] = ptOn(ptValue(pi), p.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal)
		ps.member[i] = memberSetting(namespaceOf(p), p.Name, ps.on[i], pi.PassThrough, false)
	}
	return ps
}

// keyLess orders two Services as their "namespace/name" strings compare, without building them.
// Namespaces are DNS labels, with no '/': two that differ differ within ns+"/".
func keyLess(ns1, n1, ns2, n2 string) bool {
	if ns1 == ns2 {
		return n1 < n2
	}
	at := func(ns string, i int) byte { // byte i of ns+"/"
		if i < len(ns) {
			return ns[i]
		}
		return '/'
	}
	i := 0
	for at(ns1, i) == at(ns2, i) {
		i++
	}
	return at(ns1, i) < at(ns2, i)
}
