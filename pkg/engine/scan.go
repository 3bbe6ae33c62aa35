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
	"k8s.io/client-go/metadata"
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
	meta   metadata.Interface // the pods' metadata alone (backendPods)
}

// Run lists and plans every Service in scope, sorted worst first. It never writes.
func (o *Scan) Run(ctx context.Context) (*Result, error) {
	listCfg := protobufConfig(o.Config)
	// The pages are read one after another, so client-go's default rate limit (5/s) would only
	// add waiting; the number of requests does not grow with the number of Services.
	listCfg.QPS, listCfg.Burst = -1, 0
	var err error
	if o.client, err = kubernetes.NewForConfig(listCfg); err != nil {
		return nil, err
	}
	if o.meta, err = metadata.NewForConfig(listCfg); err != nil {
		return nil, err
	}
	rd := o.startReads(ctx)
	<-rd.detected
	<-rd.listed
	<-rd.eventsRead
	switch {
	case rd.detectErr != nil:
		rd.wg.Wait()
		return nil, ServerError(rd.detectErr, "reading the cluster facts")
	case rd.svcErr != nil:
		rd.wg.Wait()
		return nil, rd.svcErr
	}
	r := &reads{events: rd.events, peers: plan.GroupByELB(rd.svcs), elbCache: plan.NewELBCache()}
	r.cloud = o.Cloud.ReadELBs(ctx, rd.svcs)
	pl := o.newPlanner(rd.cluster, rd.svcs, r)
	// The plans are made on every core as what each needs is read, told by the reads.
	for {
		done, ok := rd.done.take()
		if !ok {
			break
		}
		for _, m := range done {
			if m.backends {
				pl.podsDone(rd.backends)
			} else {
				pl.slicesDone(m.slices, m.nodes)
			}
		}
	}
	rd.wg.Wait()
	all, err := pl.finish(rd.nodes, rd.endpoints, rd.backends)
	if err != nil {
		return nil, err
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
	return &Result{Cluster: rd.cluster, Plans: all}, nil
}

// scanReads are scan's reads, all started at once: detection, the Services and their Events
// are independent. What readFor reads after the Services (svc does) starts as soon as a Service
// read calls for it: the node count and the EndpointSlices at the first LoadBalancer Service,
// the pods at the first Local Service with a selector once detection says CCE Turbo. Each field
// is read once its goroutine is done (the channels, done, wg).
type scanReads struct {
	wg                           sync.WaitGroup
	detected, listed, eventsRead chan struct{}
	// done tells what the longest lists have read as they go: each namespace whose
	// EndpointSlices are all read (the longest list on CCE Standard: it starts after the first
	// LoadBalancer Service and is as large as the Services), then the pods (the longest on CCE
	// Turbo). It is closed when both reads are over.
	done *mailbox[readDone]

	cluster           plan.Cluster
	svcs              []*corev1.Service
	detectErr, svcErr error
	events            map[string][]corev1.Event
	backends          backendIndex
	nodes             int
	endpoints         map[string]int // the whole list's counts; nil: not read, or not readable
}

// readDone is a message of scanReads.done: a namespace whose EndpointSlices are all read
// (slices), or the backend pods read (backends).
type readDone struct {
	slices   *namespaceDone
	nodes    int // with slices: the node count, read before the list
	backends bool
}

func (o *Scan) startReads(ctx context.Context) *scanReads {
	scanned := o.Scanned
	if scanned == nil {
		scanned = new(atomic.Int64)
	}
	rd := &scanReads{detected: make(chan struct{}), listed: make(chan struct{}), eventsRead: make(chan struct{}), done: newMailbox[readDone]()}
	lb, local := newSeen(), newSeen()
	var producers atomic.Int32
	producers.Store(2)
	produced := func() {
		if producers.Add(-1) == 0 {
			rd.done.close()
		}
	}
	rd.wg.Add(5)
	go func() {
		defer rd.wg.Done()
		defer close(rd.detected)
		rd.cluster, rd.detectErr = o.Cloud.Detect(ctx, o.Config, o.Overrides)
	}()
	go func() {
		defer rd.wg.Done()
		defer close(rd.listed)
		rd.svcs, rd.svcErr = o.listServices(ctx, scanned, func(s *corev1.Service) {
			if needsEndpoints(s) {
				lb.set()
			}
			if needsBackends(s) {
				local.set()
			}
		})
	}()
	go func() {
		defer rd.wg.Done()
		defer close(rd.eventsRead)
		rd.events = serviceEvents(ctx, o.client, o.Namespace)
	}()
	go func() {
		defer rd.wg.Done()
		defer produced()
		if lb.wait(rd.listed) {
			rd.nodes = countNodes(ctx, o.client)
			rd.endpoints = endpointCounts(ctx, o.client, o.Namespace, func(d namespaceDone) {
				rd.done.put(readDone{slices: &d, nodes: rd.nodes})
			})
		}
	}()
	go func() {
		defer rd.wg.Done()
		defer produced()
		if !local.wait(rd.listed) {
			return
		}
		<-rd.detected
		if rd.detectErr == nil && rd.cluster.NetworkModel == plan.NetworkTurbo {
			rd.backends = backendPods(ctx, o.client, o.meta, o.Namespace)
			rd.done.put(readDone{backends: true})
		}
	}()
	return rd
}

// planner plans scan's Services on every core, each as soon as what it needs is read: at once
// for a Service that needs neither an endpoint count nor the pods; once the EndpointSlice list
// (in key order) has moved past its namespace for one that needs a count; once the pods are
// read for one that needs them. Its methods are called from one goroutine; the plans are made
// on a parallel.Pool, each from an input made before it is queued.
type planner struct {
	o         *Scan
	cluster   plan.Cluster
	svcs      []*corev1.Service
	r         *reads
	unchecked string // Input.PeersUnchecked

	all    []*Planned
	inputs []plan.Input
	pool   *parallel.Pool

	waiting map[string][]int // the Services that need an endpoint count, by namespace
	order   []string         // their namespaces in the list's order: every key of N is below N+"0"
	counts  map[string]int   // what the list has told so far
	reset   bool             // the list said that what it told may not hold
	early   []int            // the Services planned with counts told along the way
	ended   bool             // the lists are over

	podsRead bool  // the pods are read, or not to be read
	held     []int // the Services ready but for the pods
}

func (o *Scan) newPlanner(cluster plan.Cluster, svcs []*corev1.Service, r *reads) *planner {
	p := &planner{o: o, cluster: cluster, svcs: svcs, r: r, all: make([]*Planned, len(svcs)), inputs: make([]plan.Input, len(svcs)),
		waiting: map[string][]int{}, counts: map[string]int{}}
	// The ELB groups are formed from the Services scanned: others (outside the namespace, or
	// not matching the selector) are not checked, and the plans say so.
	switch {
	case !o.AllNamespaces && o.Selector != "":
		p.unchecked = fmt.Sprintf("Services outside namespace %s or not matching %q (scan reads only those)", o.Namespace, o.Selector)
	case !o.AllNamespaces:
		p.unchecked = fmt.Sprintf("Services outside namespace %s (scan -n reads one namespace; -A reads all)", o.Namespace)
	case o.Selector != "":
		p.unchecked = fmt.Sprintf("Services not matching %q (scan reads only those)", o.Selector)
	}
	p.pool = parallel.NewPool(len(svcs), p.decide)
	// The pods are read on CCE Turbo when a Local Service has a selector (scanReads).
	p.podsRead = cluster.NetworkModel != plan.NetworkTurbo || !slices.ContainsFunc(svcs, needsBackends)
	for i, s := range svcs {
		if needsEndpoints(s) {
			p.waiting[s.Namespace] = append(p.waiting[s.Namespace], i)
		} else {
			p.ready(i)
		}
	}
	for ns := range p.waiting {
		p.order = append(p.order, ns)
	}
	sort.Slice(p.order, func(i, j int) bool { return p.order[i]+"0" < p.order[j]+"0" })
	return p
}

// decide plans Service i from its input (on the pool's goroutines).
func (p *planner) decide(i int) error {
	sp, err := plan.Decide(p.inputs[i], matrix.MustDefault())
	if err != nil {
		return err
	}
	if p.all[i], err = planPatch(p.inputs[i], sp, p.o.Ignore); err != nil || p.o.Encode == nil {
		return err
	}
	pl := p.all[i]
	if pl.JSON, err = p.o.Encode(pl.Plan); err != nil {
		return err
	}
	pl.Plan = skeleton(pl.Plan)
	return nil
}

// setInput makes Service i's input from what is read now.
func (p *planner) setInput(i int) {
	p.inputs[i] = p.r.input(p.cluster, p.svcs[i], plan.StrategyAuto)
	p.inputs[i].PeersUnchecked = p.unchecked
}

// start queues Service i with what is read now.
func (p *planner) start(i int) {
	p.setInput(i)
	if !p.ended && needsEndpoints(p.svcs[i]) {
		p.early = append(p.early, i)
	}
	p.pool.Add(i)
}

// ready starts Service i, or holds it until the pods are read if it needs them.
func (p *planner) ready(i int) {
	if !p.podsRead && needsBackends(p.svcs[i]) {
		p.held = append(p.held, i)
		return
	}
	p.start(i)
}

// slicesDone takes what the EndpointSlice list told, with the node count, and readies the
// Services of each namespace it has moved past.
func (p *planner) slicesDone(d *namespaceDone, nodes int) {
	p.reset = p.reset || d.reset
	if p.reset {
		return
	}
	maps.Copy(p.counts, d.counts)
	p.r.nodes, p.r.endpoints = nodes, p.counts
	for len(p.order) > 0 && p.order[0]+"0" <= d.through {
		for _, i := range p.waiting[p.order[0]] {
			p.ready(i)
		}
		p.order = p.order[1:]
	}
}

// podsDone takes the pods, and starts the Services held for them.
func (p *planner) podsDone(backends backendIndex) {
	p.r.backends, p.podsRead = backends, true
	for _, i := range p.held {
		p.start(i)
	}
	p.held = nil
}

// finish starts the Services left with the lists' final answers (the EndpointSlice counts nil
// when the list could not be read whole), waits for every plan, and plans again those planned
// with counts told along the way if the list then failed or was read again from the start.
func (p *planner) finish(nodes int, endpoints map[string]int, backends backendIndex) ([]*Planned, error) {
	p.ended = true
	p.r.nodes, p.r.endpoints, p.r.backends = nodes, endpoints, backends
	p.podsRead = true
	for _, i := range p.held {
		p.start(i)
	}
	for _, ns := range p.order {
		for _, i := range p.waiting[ns] {
			p.start(i)
		}
	}
	if err := p.pool.Wait(); err != nil {
		return nil, err
	}
	if len(p.early) > 0 && (p.reset || endpoints == nil) {
		if err := parallel.For(len(p.early), func(k int) error {
			i := p.early[k]
			p.setInput(i)
			return p.decide(i)
		}); err != nil {
			return nil, err
		}
	}
	return p.all, nil
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
