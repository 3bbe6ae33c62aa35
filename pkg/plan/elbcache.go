package plan

import (
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
)

// ELBCache remembers the parsed ELB annotations of Services by object, so that a run planning
// thousands of Services parses each one once, not once for every Service of its ELB. Safe for
// concurrent use; the Services must not change while it is used.
type ELBCache struct {
	m sync.Map // *corev1.Service → parsedELB
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
