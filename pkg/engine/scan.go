// The flow of scan: every Service in scope and what the decisions need, read at the same time
// in pages, then planned on every core.

package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// pageSize is the LIST page size of scan (the API server's limit/continue).
const pageSize = 500

// Scan is one run of `scan`: every Service of Namespace (all namespaces with AllNamespaces)
// that matches Selector.
type Scan struct {
	Config        *rest.Config
	Namespace     string // "" with AllNamespaces
	AllNamespaces bool
	Selector      string
	Ignore        []string // finding ids ignored in this run (--ignore)
	Overrides     detect.Overrides
	Cloud         Cloud
	// Scanned, when set, counts the Services read as they come (a progress line).
	Scanned *atomic.Int64
	// Encode, when set, encodes each plan as it is made, on the goroutines that plan, most of
	// them while the EndpointSlices are still being read (Planned.JSON): the JSON document is
	// then written, not encoded, once the last plan is made. The Plan then keeps only what the
	// order and the exit code read (namespace, name, each finding's id, severity and ignored):
	// the rest is in JSON, and 10,000 plans held whole until the end were a third of the heap.
	Encode func(plan.ServicePlan) ([]byte, error)

	client kubernetes.Interface
}

// Run lists and plans every Service in scope, sorted worst first. It never writes.
func (o *Scan) Run(ctx context.Context) (*Result, error) {
	cfg := o.Config
	listCfg := protobufConfig(cfg)
	// The pages are read one after another, so client-go's default rate limit (5/s) would only
	// add waiting; the number of requests does not grow with the number of Services.
	listCfg.QPS, listCfg.Burst = -1, 0
	var err error
	if o.client, err = kubernetes.NewForConfig(listCfg); err != nil {
		return nil, err
	}
	scanned := o.Scanned
	if scanned == nil {
		scanned = new(atomic.Int64)
	}
	// Detection, the Services and their Events are independent: read them at the same time.
	// What readFor reads after the Services (svc does) starts here as soon as a Service read
	// calls for it: the node count and the EndpointSlices at the first LoadBalancer Service,
	// the pods at the first Local Service with a selector once detection says CCE Turbo.
	var (
		cluster           plan.Cluster
		svcs              []*corev1.Service
		events            map[string][]corev1.Event
		backends          backendIndex
		nodes             int
		endpoints         map[string]int // the whole list's counts; nil: not read, or not readable
		detectErr, svcErr error
		wg                sync.WaitGroup
	)
	lb, local := newSeen(), newSeen()
	detected, listed, eventsRead := make(chan struct{}), make(chan struct{}), make(chan struct{})
	// The EndpointSlices are the longest list on CCE Standard (they start after the first
	// LoadBalancer Service and are as large as the Services), the pods on CCE Turbo: each
	// namespace whose slices are all read, and then the pods, are told here as they come, so
	// that the Services whose reads are done are planned while the rest comes.
	readsDone := newMailbox[readDone]()
	var producers atomic.Int32
	producers.Store(2)
	produced := func() {
		if producers.Add(-1) == 0 {
			readsDone.close()
		}
	}
	wg.Add(5)
	go func() {
		defer wg.Done()
		defer close(detected)
		cluster, detectErr = o.Cloud.Detect(ctx, cfg, o.Overrides)
	}()
	go func() {
		defer wg.Done()
		defer close(listed)
		svcs, svcErr = o.listServices(ctx, scanned, func(s *corev1.Service) {
			if needsEndpoints(s) {
				lb.set()
			}
			if needsBackends(s) {
				local.set()
			}
		})
	}()
	go func() {
		defer wg.Done()
		defer close(eventsRead)
		events = serviceEvents(ctx, o.client, o.Namespace)
	}()
	go func() {
		defer wg.Done()
		defer produced()
		if lb.wait(listed) {
			nodes = countNodes(ctx, o.client)
			endpoints = endpointCounts(ctx, o.client, o.Namespace, func(d namespaceDone) {
				d.nodes = nodes
				readsDone.put(readDone{slices: &d})
			})
		}
	}()
	go func() {
		defer wg.Done()
		defer produced()
		if !local.wait(listed) {
			return
		}
		<-detected
		if detectErr == nil && cluster.NetworkModel == plan.NetworkTurbo {
			backends = backendPods(ctx, o.client, o.Namespace)
			readsDone.put(readDone{backends: true})
		}
	}()
	<-detected
	<-listed
	<-eventsRead
	switch {
	case detectErr != nil:
		wg.Wait()
		return nil, ServerError(detectErr, "reading the cluster facts")
	case svcErr != nil:
		wg.Wait()
		return nil, svcErr
	}
	r := reads{events: events, peers: plan.GroupByELB(svcs), elbCache: plan.NewELBCache()}
	r.cloud = o.Cloud.ReadELBs(ctx, svcs)
	// The ELB groups are formed from the Services scanned: others (outside the namespace, or
	// not matching the selector) are not checked, and the plans say so.
	var unchecked string
	switch {
	case !o.AllNamespaces && o.Selector != "":
		unchecked = fmt.Sprintf("Services outside namespace %s or not matching %q (scan reads only those)", o.Namespace, o.Selector)
	case !o.AllNamespaces:
		unchecked = fmt.Sprintf("Services outside namespace %s (scan -n reads one namespace; -A reads all)", o.Namespace)
	case o.Selector != "":
		unchecked = fmt.Sprintf("Services not matching %q (scan reads only those)", o.Selector)
	}
	// Each plan depends only on its own Service and the shared, read-only data above: plan them
	// on every core, each as soon as what it needs is read. The inputs are made here, on this
	// goroutine, which alone follows the EndpointSlice list.
	all := make([]*Planned, len(svcs))
	inputs := make([]plan.Input, len(svcs))
	decide := func(i int) (err error) {
		sp, err := plan.Decide(inputs[i], matrix.MustDefault())
		if err != nil {
			return err
		}
		if all[i], err = planPatch(inputs[i], sp, o.Ignore); err != nil || o.Encode == nil {
			return err
		}
		p := all[i]
		if p.JSON, err = o.Encode(p.Plan); err != nil {
			return err
		}
		p.Plan = skeleton(p.Plan)
		return nil
	}
	pool := parallel.NewPool(len(svcs), decide)
	var (
		early     []int // planned with the counts told along the way
		listEnded bool
	)
	start := func(i int) {
		inputs[i] = r.input(cluster, svcs[i], plan.StrategyAuto)
		inputs[i].PeersUnchecked = unchecked
		if !listEnded && needsEndpoints(svcs[i]) {
			early = append(early, i)
		}
		pool.Add(i)
	}
	// The pods are read (CCE Turbo, a Local Service with a selector) and the Services that need
	// them wait for them, as the goroutine that reads them decides.
	podsRead := cluster.NetworkModel != plan.NetworkTurbo
	if !podsRead {
		podsRead = !slices.ContainsFunc(svcs, needsBackends)
	}
	var held []int // ready but for the pods
	ready := func(i int) {
		if !podsRead && needsBackends(svcs[i]) {
			held = append(held, i)
			return
		}
		start(i)
	}
	waiting := map[string][]int{} // the Services that need an endpoint count, by namespace
	for i, s := range svcs {
		if needsEndpoints(s) {
			waiting[s.Namespace] = append(waiting[s.Namespace], i)
		} else {
			ready(i)
		}
	}
	// The namespaces in the list's order: every key of namespace N is below N+"0".
	order := make([]string, 0, len(waiting))
	for ns := range waiting {
		order = append(order, ns)
	}
	sort.Slice(order, func(i, j int) bool { return order[i]+"0" < order[j]+"0" })
	counts, reset := map[string]int{}, false
	for {
		done, ok := readsDone.take()
		if !ok {
			break
		}
		for _, m := range done {
			if m.backends {
				r.backends, podsRead = backends, true
				for _, i := range held {
					start(i)
				}
				held = nil
				continue
			}
			d := m.slices
			reset = reset || d.reset
			if reset {
				continue
			}
			maps.Copy(counts, d.counts)
			r.nodes, r.endpoints = d.nodes, counts
			for len(order) > 0 && order[0]+"0" <= d.through {
				for _, i := range waiting[order[0]] {
					ready(i)
				}
				order = order[1:]
			}
		}
	}
	wg.Wait()
	// The lists have ended: the EndpointSlice list's counts (nil when it could not be read
	// whole) are the answer for the Services left.
	listEnded = true
	r.nodes, r.endpoints, r.backends = nodes, endpoints, backends
	podsRead = true
	for _, i := range held {
		start(i)
	}
	for _, ns := range order {
		for _, i := range waiting[ns] {
			start(i)
		}
	}
	if err := pool.Wait(); err != nil {
		return nil, err
	}
	if len(early) > 0 && (reset || endpoints == nil) {
		// What the list told along the way does not hold (it was read again from the start,
		// came out of order, or failed): plan those Services again with the list's answer.
		if err := parallel.For(len(early), func(k int) error {
			i := early[k]
			inputs[i] = r.input(cluster, svcs[i], plan.StrategyAuto)
			inputs[i].PeersUnchecked = unchecked
			return decide(i)
		}); err != nil {
			return nil, err
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		ri, rj := worst(all[i].Plan), worst(all[j].Plan)
		if ri != rj {
			return ri > rj
		}
		if all[i].Plan.Namespace != all[j].Plan.Namespace {
			return all[i].Plan.Namespace < all[j].Plan.Namespace
		}
		return all[i].Plan.Name < all[j].Plan.Name
	})
	return &Result{Cluster: cluster, Plans: all}, nil
}

// listServices reads every Service in pages of pageSize, calling read with each as it comes.
func (o *Scan) listServices(ctx context.Context, n *atomic.Int64, read func(*corev1.Service)) ([]*corev1.Service, error) {
	var out []*corev1.Service
	err := each(ctx, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return o.client.CoreV1().Services(o.Namespace).List(ctx, opts)
	}, metav1.ListOptions{LabelSelector: o.Selector}, func(obj runtime.Object) error {
		svc := obj.(*corev1.Service)
		// No rule reads managedFields, and scan writes nothing: let them go as each page comes,
		// rather than hold them (a fair share of a Service's bytes) for the whole run.
		svc.ManagedFields = nil
		out = append(out, svc)
		read(svc)
		n.Add(1)
		return nil
	})
	if err != nil {
		where := fmt.Sprintf("in namespace %q", o.Namespace)
		if o.AllNamespaces {
			where = "in all namespaces"
		}
		if apierrors.IsForbidden(err) {
			hint := "ask for list permission on services"
			if o.AllNamespaces {
				hint = "scan the namespaces you may read with -n NAMESPACE"
			}
			return nil, fmt.Errorf("listing services %s is forbidden: %s; %s", where, statusMessage(err), hint)
		}
		return nil, ServerError(err, "listing services "+where)
	}
	return out, nil
}

// skeleton is what scan keeps of an encoded plan: what worst and the order read.
func skeleton(sp plan.ServicePlan) plan.ServicePlan {
	out := plan.ServicePlan{Namespace: sp.Namespace, Name: sp.Name, Findings: make([]plan.Finding, len(sp.Findings))}
	for i, f := range sp.Findings {
		out.Findings[i] = plan.Finding{ID: f.ID, Severity: f.Severity, Ignored: f.Ignored}
	}
	return out
}

// worst is the rank (plan.SeverityRank) of a plan's highest severity among findings not
// ignored; 0 for none.
func worst(sp plan.ServicePlan) int {
	r := 0
	for _, f := range sp.Findings {
		if f.Ignored == "" {
			r = max(r, plan.SeverityRank(f.Severity))
		}
	}
	return r
}

// Failing tells whether a finding not ignored is at or above the --fail-on severity.
func Failing(all []*Planned, failOn string) bool {
	if failOn == "never" {
		return false
	}
	for _, p := range all {
		if worst(p.Plan) >= plan.SeverityRank(failOn) {
			return true
		}
	}
	return false
}

// mailbox passes messages from one goroutine to another without ever blocking the sender (the
// EndpointSlice list is not held up while the Services are still being read).
type mailbox[T any] struct {
	mu     sync.Mutex
	items  []T
	closed bool
	ready  chan struct{}
}

func newMailbox[T any]() *mailbox[T] { return &mailbox[T]{ready: make(chan struct{}, 1)} }

func (m *mailbox[T]) put(v T) {
	m.mu.Lock()
	m.items = append(m.items, v)
	m.mu.Unlock()
	m.wake()
}

// close says no message will come after those put.
func (m *mailbox[T]) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.wake()
}

func (m *mailbox[T]) wake() {
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// take waits for messages and returns those put so far; false once closed and all taken.
func (m *mailbox[T]) take() ([]T, bool) {
	for {
		m.mu.Lock()
		items, closed := m.items, m.closed
		m.items = nil
		m.mu.Unlock()
		if len(items) > 0 {
			return items, true
		}
		if closed {
			return nil, false
		}
		<-m.ready
	}
}

// readDone is a message to scan's planning loop: a namespace whose EndpointSlices are all read
// (slices), or the backend pods read (backends).
type readDone struct {
	slices   *namespaceDone
	backends bool
}
