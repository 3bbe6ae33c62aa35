// The offline flow of svc -f - -o manifest: a stream planned as it comes.

package engine

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/manifest"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// runStream is Run for standard input with Lean (svc -f - -o manifest), planning the stream as
// it comes rather than once it is all read, and keeping of each Service only what a later
// document may still need, not the decoded object:
//   - a Service is planned as soon as its block of documents is read (manifest.ReadStream),
//     with the Events naming it read so far, unless a Service read before it has the same
//     kubernetes.io/elb.id (then its ELB's group is known only at the end);
//   - it is planned again at the end when an Event naming it came later, or when another
//     Service of the stream has its elb.id (its group then holds more than itself);
//   - of each Service with an elb.id, what the shared-ELB rules read of it is kept (peer), for
//     the groups made at the end;
//   - planning again decodes the Service again from its document (manifest.LoadEach).
//
// The plans are those Run makes of the same input as a file: each decision reads the same
// Service, the same Events and the same group (a Service alone on its elb.id sees no peer,
// with or without its group). The fixes are applied at the end, in order, as Run does, since a
// fix may patch a Service read earlier (a companion on its ELB).
func (o *Offline) runStream() (*OfflineResult, error) {
	sp := &streamPlan{o: o, cluster: detect.Offline(o.Overrides), events: map[string][]corev1.Event{}, cache: plan.NewELBCache(),
		onELB: map[string]int{}}
	return sp.run()
}

// run reads the stream, plans it and applies the fixes.
func (sp *streamPlan) run() (*OfflineResult, error) {
	o := sp.o
	set, err := manifest.ReadStream(o.In, o.Namespace, sp.visit)
	if err != nil {
		return nil, err
	}
	refs := set.Services()
	var stubs []*corev1.Service
	for _, p := range sp.peers {
		if sp.onELB[p.id] > 1 {
			stubs = append(stubs, p.stub())
		}
	}
	sp.peers = nil
	groups := plan.GroupByELB(stubs)
	var todo []*manifest.ServiceRef
	var at []int
	for i, r := range refs {
		if sp.again(i) {
			todo, at = append(todo, r), append(at, i)
		}
	}
	cache := plan.NewELBCache() // the final groups: the stubs, each parsed once
	if err := manifest.LoadEach(todo, func(j int, svc *corev1.Service) error {
		i := at[j]
		p, err := sp.plan(o.input(sp.cluster, svc, sp.events[sp.keys[i]], groups[svc.Annotations[elb.AnnID]], cache))
		cache.Forget(svc)
		sp.all[i] = p
		return err
	}); err != nil {
		return nil, err
	}
	if err := applyAll(set, refs, sp.keys, sp.all); err != nil {
		return nil, err
	}
	return &OfflineResult{Result: Result{Cluster: sp.cluster, Plans: sp.all}, Manifests: set}, nil
}

// streamPlan is what runStream keeps as the stream comes.
type streamPlan struct {
	o       *Offline
	cluster plan.Cluster
	cache   *plan.ELBCache
	// events are the Events read so far, by the namespace/name of the Service they name.
	events map[string][]corev1.Event
	// onELB counts the Services read so far by elb.id; peers is what the shared-ELB rules read
	// of each of them.
	onELB map[string]int
	peers []peer
	// For the i-th Service of the stream: its namespace/name, its elb.id, its plan, and how many
	// Events named it when it was planned (-1: not planned yet).
	keys []string
	ids  []string
	all  []*Planned
	seen []int
}

// visit takes a block of the stream: files its Events, and plans its Services but those on an
// elb.id that a Service read before has.
func (sp *streamPlan) visit(refs []*manifest.ServiceRef, events []*corev1.Event) error {
	for _, e := range events {
		addEvent(sp.events, *e)
	}
	base := len(sp.all)
	sp.all = append(sp.all, make([]*Planned, len(refs))...)
	var now []int
	for i, r := range refs {
		svc := r.Service
		id := svc.Annotations[elb.AnnID]
		sp.keys, sp.ids, sp.seen = append(sp.keys, svc.Namespace+"/"+svc.Name), append(sp.ids, id), append(sp.seen, -1)
		if id != "" {
			sp.peers = append(sp.peers, peerOf(svc))
			sp.onELB[id]++
			if sp.onELB[id] > 1 {
				continue
			}
		}
		now = append(now, i)
	}
	err := parallel.For(len(now), func(j int) error {
		i := base + now[j]
		evs := sp.events[sp.keys[i]]
		svc := refs[now[j]].Service
		p, err := sp.plan(sp.o.input(sp.cluster, svc, evs, nil, sp.cache))
		sp.cache.Forget(svc)
		sp.all[i], sp.seen[i] = p, len(evs) // a slot each
		return err
	})
	for _, r := range refs {
		r.Service = nil // decoded again if it must be planned again
	}
	return err
}

// again reports whether the i-th Service of the stream is to be planned at the end: it was
// not planned as it came, another Service has its elb.id, or an Event naming it came after it
// was planned.
func (sp *streamPlan) again(i int) bool {
	return sp.seen[i] < 0 || sp.onELB[sp.ids[i]] > 1 || sp.seen[i] != len(sp.events[sp.keys[i]])
}

// plan decides for one Service and keeps what writing the manifests needs (Lean).
func (sp *streamPlan) plan(in plan.Input) (*Planned, error) {
	sp1, err := plan.Decide(in, matrix.MustDefault())
	if err != nil {
		return nil, err
	}
	p, err := planPatch(in, sp1, nil)
	if err != nil {
		return nil, err
	}
	p.slim()
	return p, nil
}

// peer is what the shared-ELB rules (plan.GroupByELB, and the peers of a decision) read of a
// Service: its name, namespace, elb.id, ELB annotations (elb.Parse reads no other, as key and
// value pairs), type and traffic policy. It takes a fifth of the memory of a Service stub.
type peer struct {
	ns, name, id string
	typ, policy  string
	ann          []string
}

func peerOf(svc *corev1.Service) peer {
	p := peer{ns: svc.Namespace, name: svc.Name, id: svc.Annotations[elb.AnnID],
		typ: string(svc.Spec.Type), policy: string(svc.Spec.ExternalTrafficPolicy)}
	for k, v := range svc.Annotations {
		if strings.HasPrefix(k, elb.Prefix) || k == elb.AnnHostNetwork {
			p.ann = append(p.ann, k, v)
		}
	}
	return p
}

// stub is the peer as a Service, for plan.GroupByELB and plan.Input.SameELB.
func (p peer) stub() *corev1.Service {
	ann := make(map[string]string, len(p.ann)/2)
	for i := 0; i < len(p.ann); i += 2 {
		ann[p.ann[i]] = p.ann[i+1]
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns, Annotations: ann},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceType(p.typ), ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicy(p.policy)},
	}
}
