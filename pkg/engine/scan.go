// The flow of scan: every Service in scope and what the decisions need, read at the same time
// in pages, then planned on every core.

package engine

import (
	"context"
	"fmt"
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
		detectErr, svcErr error
		wg                sync.WaitGroup
		r                 reads
	)
	lb, local := newSeen(), newSeen()
	detected, listed := make(chan struct{}), make(chan struct{})
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
	go func() { defer wg.Done(); events = serviceEvents(ctx, o.client, o.Namespace) }()
	go func() {
		defer wg.Done()
		if lb.wait(listed) {
			r.nodes = countNodes(ctx, o.client)
			r.endpoints = endpointCounts(ctx, o.client, o.Namespace)
		}
	}()
	go func() {
		defer wg.Done()
		if !local.wait(listed) {
			return
		}
		<-detected
		if detectErr == nil && cluster.NetworkModel == plan.NetworkTurbo {
			r.backends = backendPods(ctx, o.client, o.Namespace)
		}
	}()
	wg.Wait()
	switch {
	case detectErr != nil:
		return nil, ServerError(detectErr, "reading the cluster facts")
	case svcErr != nil:
		return nil, svcErr
	}
	r.events, r.peers, r.elbCache = events, plan.GroupByELB(svcs), plan.NewELBCache()
	r.cloud = o.Cloud.ReadELBs(ctx, svcs)
	// Each plan depends only on its own Service and the shared, read-only data above: plan them
	// on every core.
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
	all := make([]*Planned, len(svcs))
	err = parallel.For(len(svcs), func(i int) error {
		in := r.input(cluster, svcs[i], plan.StrategyAuto)
		in.PeersUnchecked = unchecked
		sp, err := plan.Decide(in, matrix.MustDefault())
		if err != nil {
			return err
		}
		all[i], err = planPatch(in, sp, o.Ignore)
		return err
	})
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
