package cmd

import (
	"context"
	"fmt"
	goruntime "runtime"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/report"
)

// pageSize is the LIST page size of scan (the API server's limit/continue).
const pageSize = 500

var scanExample = `  # Every Service of the cluster, worst first
  kubectl elbfix scan -A

  # In CI: fail on warnings too, as JSON
  kubectl elbfix scan -n shop --fail-on warning -o json > elbfix.json

  # Every patch, one per line
  kubectl elbfix scan -A -o patch`

// ScanOptions holds the flags and state of `kubectl elbfix scan`.
type ScanOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	AllNamespaces bool
	Selector      string
	Output        string
	FailOn        string
	Ignore        []string
	Overrides     detect.Overrides
	Cloud         cloudOptions
	NoHeaders     bool

	namespace string
	client    kubernetes.Interface
}

// NewCmdScan returns `kubectl elbfix scan`.
func NewCmdScan(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := &ScanOptions{configFlags: configFlags, IOStreams: streams, FailOn: plan.SeverityError}
	c := &cobra.Command{
		Use:   "scan [-A | -n NAMESPACE] [-l SELECTOR]",
		Short: "Report every Service that in-cluster clients can't reach (read-only)",
		Long: `Plan every Service in a namespace or the cluster, as svc does, and report the findings and
fixes. Never writes. Exit status: 0, or 1 when a finding is at or above --fail-on; 2 any error.

A finding can be ignored per Service with the annotation
  elbfix.io/ignore: "<finding-id>[,<finding-id>...]: <reason>"
(the reason is required and shown), or for a whole run with --ignore FINDING.`,
		Example: scanExample,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	f := c.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "Scan Services in every namespace")
	f.StringVarP(&o.Selector, "selector", "l", "", "Selector (label query) to filter Services, as in kubectl")
	scanOutputFlag.add(c, &o.Output, "o", "")
	f.BoolVar(&o.NoHeaders, "no-headers", false, "Print the table without the cluster line, the column headers and the summary (as kubectl get --no-headers)")
	failOnFlag.add(c, &o.FailOn, "", plan.SeverityError)
	f.StringSliceVar(&o.Ignore, "ignore", nil, "Finding ids to ignore in this run (repeatable or comma-separated)")
	addFactFlags(c, &o.Overrides)
	addCloudFlags(c, &o.Cloud)
	return c
}

// Complete resolves the namespace and the environment's overrides.
func (o *ScanOptions) Complete() error {
	o.Overrides = o.Overrides.WithEnv()
	o.Cloud.complete()
	if o.AllNamespaces {
		return nil
	}
	ns, _, err := o.configFlags.ToRawKubeConfigLoader().Namespace()
	o.namespace = ns
	return err
}

// Validate checks the flags.
func (o *ScanOptions) Validate() error {
	if err := scanOutputFlag.validate(o.Output); err != nil {
		return err
	}
	if err := failOnFlag.validate(o.FailOn); err != nil {
		return err
	}
	if o.Selector != "" {
		if _, err := labels.Parse(o.Selector); err != nil {
			return usageErrorf("invalid value %q for --selector: %v", o.Selector, err)
		}
	}
	for _, id := range o.Ignore {
		if !knownFinding(id) {
			return usageErrorf("invalid value %q for --ignore: not a finding id (see the README's finding catalogue)", id)
		}
	}
	if err := o.Overrides.Validate(); err != nil {
		return usageError{err}
	}
	if o.Overrides.ClusterVersion != "" {
		if err := validVersion(o.Overrides.ClusterVersion); err != nil {
			return usageErrorf("invalid value %q for --cluster-version: %v", o.Overrides.ClusterVersion, err)
		}
	}
	return o.Cloud.validate()
}

// Run lists, plans and reports. It never writes.
func (o *ScanOptions) Run(ctx context.Context) error {
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return err
	}
	listCfg := protobufConfig(cfg)
	// The pages are read one after another, so client-go's default rate limit (5/s) would only
	// add waiting; the number of requests does not grow with the number of Services.
	listCfg.QPS, listCfg.Burst = -1, 0
	if o.client, err = kubernetes.NewForConfig(listCfg); err != nil {
		return err
	}

	// A scan keeps every Service and plan until it prints: collecting garbage less often trades
	// some memory (still well below kubectl get's for the same Services) for less CPU.
	defer debug.SetGCPercent(debug.SetGCPercent(300))
	var scanned atomic.Int64
	stop := o.progress(&scanned)
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
		cluster, detectErr = o.Cloud.detect(ctx, cfg, o.Overrides)
	}()
	go func() {
		defer wg.Done()
		defer close(listed)
		svcs, svcErr = o.listServices(ctx, &scanned, func(s *corev1.Service) {
			if needsEndpoints(s) {
				lb.set()
			}
			if needsBackends(s) {
				local.set()
			}
		})
	}()
	go func() { defer wg.Done(); events = serviceEvents(ctx, o.client, o.namespace) }()
	go func() {
		defer wg.Done()
		if lb.wait(listed) {
			r.nodes = countNodes(ctx, o.client)
			r.endpoints = endpointCounts(ctx, o.client, o.namespace)
		}
	}()
	go func() {
		defer wg.Done()
		if !local.wait(listed) {
			return
		}
		<-detected
		if detectErr == nil && cluster.NetworkModel == plan.NetworkTurbo {
			r.backends = backendPods(ctx, o.client, o.namespace)
		}
	}()
	wg.Wait()
	switch {
	case detectErr != nil:
		stop()
		return serverError(detectErr, "reading the cluster facts")
	case svcErr != nil:
		stop()
		return svcErr
	}
	r.events, r.peers, r.elbCache = events, plan.GroupByELB(svcs), plan.NewELBCache()
	r.cloud = o.Cloud.readELBs(ctx, svcs)
	// Each plan depends only on its own Service and the shared, read-only data above: plan them
	// on every core.
	// The ELB groups are formed from the Services scanned: others (outside the namespace, or
	// not matching the selector) are not checked, and the plans say so.
	var unchecked string
	switch {
	case !o.AllNamespaces && o.Selector != "":
		unchecked = fmt.Sprintf("Services outside namespace %s or not matching %q (scan reads only those)", o.namespace, o.Selector)
	case !o.AllNamespaces:
		unchecked = fmt.Sprintf("Services outside namespace %s (scan -n reads one namespace; -A reads all)", o.namespace)
	case o.Selector != "":
		unchecked = fmt.Sprintf("Services not matching %q (scan reads only those)", o.Selector)
	}
	all := make([]*planned, len(svcs))
	err = parallelEach(len(svcs), func(i int) error {
		in := r.input(cluster, svcs[i], plan.StrategyAuto)
		in.PeersUnchecked = unchecked
		p, err := planOne(in, o.Ignore)
		all[i] = p
		return err
	})
	if err != nil {
		stop()
		return err
	}
	stop()
	sort.SliceStable(all, func(i, j int) bool {
		ri, rj := worst(all[i].sp), worst(all[j].sp)
		if ri != rj {
			return ri > rj
		}
		if all[i].sp.Namespace != all[j].sp.Namespace {
			return all[i].sp.Namespace < all[j].sp.Namespace
		}
		return all[i].sp.Name < all[j].sp.Name
	})
	if err := o.print(cluster, all); err != nil {
		return err
	}
	if failing(all, o.FailOn) {
		return exitStatus(ExitChanges)
	}
	return nil
}

// progress prints how many Services were read, on a terminal, once the scan takes longer than
// a second. The returned func stops it and clears the line.
func (o *ScanOptions) progress(n *atomic.Int64) func() {
	if !report.IsTerminal(o.ErrOut) {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		printed := false
		for {
			select {
			case <-done:
				if printed {
					fmt.Fprint(o.ErrOut, "\r\033[K")
				}
				return
			case <-t.C:
				fmt.Fprintf(o.ErrOut, "\rscanning: %d Services read", n.Load())
				printed = true
			}
		}
	}()
	return func() { close(done); <-finished }
}

// listServices reads every Service in pages of pageSize, calling read with each as it comes.
func (o *ScanOptions) listServices(ctx context.Context, n *atomic.Int64, read func(*corev1.Service)) ([]*corev1.Service, error) {
	var out []*corev1.Service
	err := each(ctx, func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
		return o.client.CoreV1().Services(o.namespace).List(ctx, opts)
	}, metav1.ListOptions{LabelSelector: o.Selector}, func(obj runtime.Object) error {
		svc := obj.(*corev1.Service)
		out = append(out, svc)
		read(svc)
		n.Add(1)
		return nil
	})
	if err != nil {
		where := fmt.Sprintf("in namespace %q", o.namespace)
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
		return nil, serverError(err, "listing services "+where)
	}
	return out, nil
}

func (o *ScanOptions) print(cluster plan.Cluster, all []*planned) error {
	doc := plan.Plan{APIVersion: plan.APIVersion, Kind: plan.Kind, Cluster: cluster, Services: []plan.ServicePlan{}}
	for _, p := range all {
		doc.Services = append(doc.Services, p.sp)
	}
	switch o.Output {
	case "json", "yaml":
		return report.WritePlan(o.Out, doc, o.Output)
	case "patch":
		for _, p := range all {
			if p.sp.Changed {
				fmt.Fprintln(o.Out, string(p.patch))
			}
		}
		return nil
	}
	report.WriteScanTable(o.Out, cluster, docServices(all), report.TableOptions{
		AllNamespaces: o.AllNamespaces, Wide: o.Output == "wide", NoHeaders: o.NoHeaders})
	return nil
}

func docServices(all []*planned) []plan.ServicePlan {
	out := make([]plan.ServicePlan, len(all))
	for i, p := range all {
		out[i] = p.sp
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

// failing tells whether a finding not ignored is at or above the --fail-on severity.
func failing(all []*planned, failOn string) bool {
	if failOn == "never" {
		return false
	}
	for _, p := range all {
		if worst(p.sp) >= plan.SeverityRank(failOn) {
			return true
		}
	}
	return false
}

// parallelEach runs f(0..n-1) on GOMAXPROCS goroutines. After an error it starts no more calls,
// and it returns the error of the lowest i, as a loop in order would: the calls are started in
// order, so every i below a failing one has run.
func parallelEach(n int, f func(i int) error) error {
	errs := make([]error, n)
	g, ctx := errgroup.WithContext(context.Background())
	g.SetLimit(goruntime.GOMAXPROCS(0))
	for i := 0; i < n && ctx.Err() == nil; i++ {
		g.Go(func() error {
			errs[i] = f(i)
			return errs[i]
		})
	}
	_ = g.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
