package engine

import (
	"context"
	"sync"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cloud"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// reads is what the decision needs besides each Service, read once per run for all of them
// (svc and scan alike): a handful of LISTs whatever the number of Services. Anything that can't
// be read stays nil or zero, and the rule that needs it says so rather than failing the run.
type reads struct {
	nodes     int                          // 0: unknown
	endpoints map[string]int               // ready endpoint addresses by namespace/name; nil: unknown
	events    map[string][]corev1.Event    // Events about Services, by namespace/name
	backends  backendIndex                 // pods, only where a rule needs them
	peers     map[string][]*corev1.Service // Services by kubernetes.io/elb.id
	elbCache  *plan.ELBCache
	cloud     *cloud.ELBs // what the ELB API said (--cloud); nil when off
}

// readFor reads the node count and the EndpointSlices (only when there are LoadBalancer
// Services: the ELB member quota rules) and the pods (only on CCE Turbo with Local Services).
func (r *reads) readFor(ctx context.Context, client kubernetes.Interface, meta metadata.Interface, namespace string, cluster plan.Cluster, svcs []*corev1.Service) {
	lb, local := false, false
	for _, s := range svcs {
		lb = lb || needsEndpoints(s)
		local = local || needsBackends(s)
	}
	if lb {
		r.nodes = countNodes(ctx, client)
		r.endpoints = endpointCounts(ctx, client, namespace, nil)
	}
	if local && cluster.NetworkModel == plan.NetworkTurbo {
		r.backends = backendPods(ctx, client, meta, namespace)
	}
}

// needsEndpoints: a LoadBalancer Service, for which the node count and the EndpointSlices are
// read (the ELB member quota rules).
func needsEndpoints(s *corev1.Service) bool { return s.Spec.Type == corev1.ServiceTypeLoadBalancer }

// needsBackends: a Local Service with a selector, for which the pods are read on CCE Turbo.
func needsBackends(s *corev1.Service) bool {
	return s.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal && len(s.Spec.Selector) > 0
}

// seen is a condition that a Service read may meet (needsEndpoints, needsBackends), so that a
// read that depends on it can start as soon as it holds rather than after the whole list.
type seen struct {
	once sync.Once
	ch   chan struct{}
}

func newSeen() *seen { return &seen{ch: make(chan struct{})} }

func (c *seen) set() { c.once.Do(func() { close(c.ch) }) }

// wait returns true as soon as the condition holds, false once done is closed without it.
func (c *seen) wait(done <-chan struct{}) bool {
	select {
	case <-c.ch:
		return true
	case <-done:
		select {
		case <-c.ch:
			return true
		default:
			return false
		}
	}
}

// input is the decision's input for one Service.
func (r *reads) input(cluster plan.Cluster, svc *corev1.Service, strategy string) plan.Input {
	key := svc.Namespace + "/" + svc.Name
	in := plan.Input{Cluster: cluster, Service: svc, Strategy: strategy, BackendsHostNetwork: r.backends.hostNetwork(svc),
		Events: r.events[key], EndpointCount: -1, ELBCache: r.elbCache}
	if id := svc.Annotations[elb.AnnID]; id != "" {
		in.SameELB = r.peers[id]
	}
	if ref, ok := elbRef(svc); ok && r.cloud != nil {
		in.Cloud = r.cloud.For(ref)
	}
	if needsEndpoints(svc) {
		in.NodeCount = r.nodes
		if r.endpoints != nil {
			in.EndpointCount = r.endpoints[key]
		}
	}
	return in
}

// protobufConfig is cfg asking for protobuf: lists of many objects are several times cheaper
// to decode than in JSON.
func protobufConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c.ContentType = "application/vnd.kubernetes.protobuf"
	return c
}

// each lists every object of a paged LIST (pages of pageSize).
func each(ctx context.Context, list func(context.Context, metav1.ListOptions) (runtime.Object, error), opts metav1.ListOptions, f func(runtime.Object) error) error {
	p := pager.New(list)
	p.PageSize = pageSize
	return p.EachListItem(ctx, opts, f)
}

// serviceEvents reads the Events about Services in namespace ("" for all) in one paged list, by
// namespace/name; nil when they may not be read.
func serviceEvents(ctx context.Context, client kubernetes.Interface, namespace string) map[string][]corev1.Event {
	out := map[string][]corev1.Event{}
	err := each(ctx, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return client.CoreV1().Events(namespace).List(ctx, opts)
	}, metav1.ListOptions{FieldSelector: "involvedObject.kind=Service"}, func(obj runtime.Object) error {
		e := obj.(*corev1.Event)
		key := e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
		out[key] = append(out[key], *e)
		return nil
	})
	if err != nil {
		return nil
	}
	return out
}

// countNodes reads the number of nodes with one small request: a LIST with limit=1 carries the
// number of the others in remainingItemCount. 0 means unknown.
func countNodes(ctx context.Context, client kubernetes.Interface) int {
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0
	}
	n := len(list.Items)
	if list.RemainingItemCount != nil {
		n += int(*list.RemainingItemCount)
	}
	return n
}

// backendIndex answers whether a Service's backend pods use hostNetwork, from the pods' labels
// and which of them use hostNetwork (backendPods). It keeps of each pod only what that needs,
// not the whole object: a Turbo cluster may run tens of thousands of pods. The pods of each
// namespace are indexed by label, so that finding a Service's pods costs what its selector
// selects, not every pod of the namespace (with 4,000 Local Services and 1,500 pods a
// namespace, matching every pod took 0.8 s of CPU).
type backendIndex map[string]*backendNamespace // by namespace

type backendNamespace struct {
	pods    []backendPod
	byLabel map[labelPair][]int // indexes into pods
}

type labelPair struct{ key, value string }

type backendPod struct {
	labels      map[string]string
	hostNetwork bool
}

func slimPod(p *corev1.Pod) backendPod {
	return backendPod{labels: p.Labels, hostNetwork: p.Spec.HostNetwork}
}

// add indexes a pod of namespace ns.
func (idx backendIndex) add(ns string, p backendPod) {
	n := idx[ns]
	if n == nil {
		n = &backendNamespace{byLabel: map[labelPair][]int{}}
		idx[ns] = n
	}
	for k, v := range p.labels {
		n.byLabel[labelPair{k, v}] = append(n.byLabel[labelPair{k, v}], len(n.pods))
	}
	n.pods = append(n.pods, p)
}

var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

// backendPods reads the pods of namespace ("" for all) in two paged lists at the same time:
// every pod's metadata alone (PartialObjectMetadata: its labels, not its spec and status, most
// of a pod's bytes), and the pods that use hostNetwork (field selector spec.hostNetwork=true),
// whole but few. On a Turbo cluster of 30,000 pods that took 0.61x the time of one list of
// the pods whole. The two lists are not one snapshot: a pod made or deleted between them may
// be counted with the wrong hostNetwork, as a Service changed between the Service list and the
// pods may be planned with pods it no longer selects. nil when they may not be read.
func backendPods(ctx context.Context, client kubernetes.Interface, meta metadata.Interface, namespace string) backendIndex {
	host := map[types.NamespacedName]bool{}
	var hostErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		hostErr = each(ctx, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Pods(namespace).List(ctx, opts)
		}, metav1.ListOptions{FieldSelector: "spec.hostNetwork=true"}, func(obj runtime.Object) error {
			pod := obj.(*corev1.Pod)
			host[types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}] = true
			return nil
		})
	}()
	type named struct {
		ns, name string
		labels   map[string]string
	}
	var pods []named
	err := each(ctx, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return meta.Resource(podsResource).Namespace(namespace).List(ctx, opts)
	}, metav1.ListOptions{}, func(obj runtime.Object) error {
		m := obj.(*metav1.PartialObjectMetadata)
		pods = append(pods, named{m.Namespace, m.Name, m.Labels})
		return nil
	})
	<-done
	if err != nil || hostErr != nil {
		return nil
	}
	idx := backendIndex{}
	for _, p := range pods {
		idx.add(p.ns, backendPod{labels: p.labels, hostNetwork: host[types.NamespacedName{Namespace: p.ns, Name: p.name}]})
	}
	return idx
}

// hostNetwork tells whether every backend pod of a Local Service uses hostNetwork; nil when not
// read or no backend pod is found.
func (idx backendIndex) hostNetwork(svc *corev1.Service) *bool {
	if idx == nil || !needsBackends(svc) {
		return nil
	}
	n := idx[svc.Namespace]
	if n == nil {
		return nil
	}
	// The pods that carry the selector's rarest label: every pod selected is among them.
	var candidates []int
	first := true
	for k, v := range svc.Spec.Selector {
		if c := n.byLabel[labelPair{k, v}]; first || len(c) < len(candidates) {
			candidates, first = c, false
		}
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	found, all := false, true
	for _, i := range candidates {
		if pod := n.pods[i]; sel.Matches(labels.Set(pod.labels)) {
			found = true
			all = all && pod.hostNetwork
		}
	}
	if !found {
		return nil
	}
	return &all
}

// perServiceLimit is the number of Services up to which svc reads what each needs with requests
// of its own (Events by field selector, EndpointSlices by the service-name label, backend pods by
// the Service's selector), so that its cost follows the Services asked for, not the size of the
// namespace; above it, one paged list of the namespace is cheaper.
const perServiceLimit = 20

// serviceReads are the reads of readFor for a few Services named on the command line: Events
// and endpoint counts read per Service, plus the node count in one small request, all at the
// same time (at most readConcurrency requests in flight). They need only the Services' names,
// so svc starts them with the Services' own GETs, and while the cluster facts are detected:
// the namespace's size then adds to svc's time only what the API server takes to answer them.
// The backend pods (CCE Turbo only) are read afterwards by readBackends.
type serviceReads struct {
	g         errgroup.Group
	mu        sync.Mutex
	nodes     int
	events    map[string][]corev1.Event // by namespace/name; absent when not readable
	endpoints map[string]int            // ready endpoint addresses, by namespace/name; absent when not readable
}

// startServiceReads starts the reads for the Services namespace/names.
func startServiceReads(ctx context.Context, client kubernetes.Interface, namespace string, names []string) *serviceReads {
	sr := &serviceReads{events: map[string][]corev1.Event{}, endpoints: map[string]int{}}
	sr.g.SetLimit(readConcurrency)
	sr.g.Go(func() error {
		sr.nodes = countNodes(ctx, client) // read after Wait only
		return nil
	})
	for _, name := range names {
		key := namespace + "/" + name
		sr.g.Go(func() error {
			sel := fields.Set{"involvedObject.kind": "Service", "involvedObject.name": name}.AsSelector().String()
			evs, err := client.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
			if err == nil { // not readable: no Events, as with the namespace's list
				sr.mu.Lock()
				sr.events[key] = evs.Items
				sr.mu.Unlock()
			}
			return nil
		})
		sr.g.Go(func() error {
			if n, err := serviceEndpoints(ctx, client, namespace, name); err == nil {
				sr.mu.Lock()
				sr.endpoints[key] = n
				sr.mu.Unlock()
			}
			return nil
		})
	}
	return sr
}

// finish waits for the reads and keeps in r what the Services svcs need: the node count and
// endpoint counts only when one of them is a LoadBalancer Service, and the endpoint counts not
// at all when one such Service's could not be read. What may not be read stays unknown, as in
// readFor.
func (sr *serviceReads) finish(r *reads, svcs []*corev1.Service) {
	_ = sr.g.Wait() // the functions report nothing: what failed stays unknown
	r.events = sr.events
	lb, read := false, true
	for _, s := range svcs {
		if needsEndpoints(s) {
			_, ok := sr.endpoints[s.Namespace+"/"+s.Name]
			lb, read = true, read && ok
		}
	}
	if lb {
		r.nodes = sr.nodes
		if read {
			r.endpoints = sr.endpoints
		}
	}
}

// readConcurrency bounds the requests serviceReads has in flight.
const readConcurrency = 8

// readBackends reads, on CCE Turbo, the backend pods of the Local Services among a few named
// Services, by each Service's selector.
func (r *reads) readBackends(ctx context.Context, client kubernetes.Interface, cluster plan.Cluster, svcs []*corev1.Service) {
	if cluster.NetworkModel != plan.NetworkTurbo {
		return
	}
	r.backends = backendIndex{}
	for _, s := range svcs {
		if !needsBackends(s) {
			continue
		}
		pods, err := client.CoreV1().Pods(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(s.Spec.Selector).String()})
		if err != nil {
			r.backends = nil
			return
		}
		for i := range pods.Items {
			r.backends.add(s.Namespace, slimPod(&pods.Items[i]))
		}
	}
}

// serviceEndpoints counts one Service's ready endpoint addresses (each once) from its
// EndpointSlices, found by their kubernetes.io/service-name label.
func serviceEndpoints(ctx context.Context, client kubernetes.Interface, namespace, name string) (int, error) {
	list, err := client.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labels.Set{discoveryv1.LabelServiceName: name}.String()})
	if err != nil {
		return 0, err
	}
	c := sliceCounter{seen: map[string]map[string]struct{}{}}
	c.decodedSlices(list.Items)
	return len(c.seen[namespace+"/"+name]), nil
}
