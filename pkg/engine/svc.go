// The online flow of svc: read, plan, ask the server, write through the apply engine.

package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/apply"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/patch"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// Dry-run modes, as kubectl's --dry-run.
const (
	DryRunNone   = "none"
	DryRunClient = "client"
	DryRunServer = "server"
)

// Svc is one run of `svc` against a cluster. The command fills it from its flags; Run never
// prints the result, which it returns.
type Svc struct {
	Config *rest.Config
	// Namespace, and the Services in it: by Names, or by the label Selector.
	Namespace string
	Names     []string
	Selector  string
	DryRun    string // DryRunNone, DryRunClient or DryRunServer
	Strategy  string // plan.StrategyAuto or a forced strategy
	Overrides detect.Overrides
	Cloud     Cloud
	// Warnings gets what is said besides the result: no Service matches the selector, or every
	// missing name but the last (which is the error).
	Warnings io.Writer

	// peersUnchecked says which Services that may share an ELB could not be read ("" when all).
	peersUnchecked string
	client         kubernetes.Interface
	lists          kubernetes.Interface // the same in protobuf, for lists of many objects
	meta           metadata.Interface   // the pods' metadata alone (backendPods)
}

// Result is what a run planned (and, for svc without a dry run, applied), in the order read.
type Result struct {
	Cluster plan.Cluster
	Plans   []*Planned
}

// Document is the Plan document of a run's plans (docs/contract.md): what -o json and -o yaml
// write, and what the tables show.
func Document(cluster plan.Cluster, all []*Planned) plan.Plan {
	doc := plan.Plan{APIVersion: plan.APIVersion, Kind: plan.Kind, Cluster: cluster, Services: make([]plan.ServicePlan, len(all))}
	for i, p := range all {
		doc.Services[i] = p.Plan
	}
	return doc
}

// Run reads the Services asked for and what their decisions need, plans every one, asks the
// server about every change (a server dry run, unless DryRun is client), and then, without a
// dry run, writes the fixes through the apply engine. Nothing is written before every change has
// passed the server's dry run: a refusal or a bad name leaves no Service half patched.
func (o *Svc) Run(ctx context.Context) (*Result, error) {
	cfg := o.Config
	var err error
	if o.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if o.lists, err = kubernetes.NewForConfig(protobufConfig(cfg)); err != nil {
		return nil, err
	}
	if o.meta, err = metadata.NewForConfig(cfg); err != nil {
		return nil, err
	}
	// The cluster facts and the Services' own objects are independent: detect while reading the
	// Services, their peers, Events and EndpointSlices. A detection error comes first, as when
	// the two were read one after the other.
	var (
		cluster   plan.Cluster
		detectErr error
		detected  = make(chan struct{})
	)
	go func() {
		defer close(detected)
		cluster, detectErr = o.Cloud.Detect(ctx, cfg, o.Overrides)
	}()
	r, svcs, err := o.readServices(ctx)
	<-detected
	if detectErr != nil {
		return nil, ServerError(detectErr, "detecting the cluster facts")
	}
	if err != nil {
		return nil, err
	}
	// Plan everything first, and ask the server about every change, before writing anything: a
	// refusal or a bad name must not leave half of the Services patched.
	if o.peersUnchecked != "" {
		cluster.Evidence = append(cluster.Evidence, plan.Evidence{Fact: "sameELBServices", Value: "namespace " + o.Namespace,
			Source: "not checked: " + o.peersUnchecked, Confidence: plan.ConfidenceNone, Signal: "services-all-namespaces"})
	}
	// The ELB API (--cloud) is asked once the facts are detected: detection finds the cluster.
	r.cloud = o.Cloud.ReadELBs(ctx, svcs)
	if len(svcs) <= perServiceLimit {
		r.readBackends(ctx, o.client, cluster, svcs)
	} else {
		r.readFor(ctx, o.lists, o.meta, o.Namespace, cluster, svcs)
	}
	peers := r.peers
	var all []*Planned
	for _, svc := range svcs {
		in := r.input(cluster, svc, o.Strategy)
		in.PeersUnchecked = o.peersUnchecked
		p, err := o.plan(in)
		if err != nil {
			return nil, err
		}
		all = append(all, p)
	}
	o.attachCompanions(all, peers)
	eng := apply.Engine{Services: o.client.CoreV1(), Retries: apply.DefaultRetries}
	if o.DryRun != DryRunClient {
		for _, p := range all {
			if err := o.serverDryRun(ctx, eng, p); err != nil {
				return nil, err
			}
		}
	}
	if o.DryRun == DryRunNone {
		var done []apply.Written
		for i, p := range all {
			if p.Plan.Changed {
				if all[i], err = o.apply(ctx, eng, p); err != nil {
					var maybe []apply.Written
					if apply.MaybeWritten(err) {
						maybe = []apply.Written{{Before: p.Live, After: p.Result}}
					}
					return nil, apply.Partial(err, done, maybe)
				}
				if all[i].Plan.Applied { // not when a concurrent writer already made the change
					done = append(done, apply.Written{Before: all[i].Live, After: all[i].Result})
				}
			}
			for _, c := range all[i].Also {
				if err := o.applyCompanion(ctx, eng, c); err != nil {
					var maybe []apply.Written
					if apply.MaybeWritten(err) {
						maybe = []apply.Written{{Before: c.Live, After: c.Result}}
					}
					return nil, apply.Partial(err, done, maybe)
				}
				if c.Applied {
					done = append(done, apply.Written{Before: c.Live, After: c.Result})
				}
			}
		}
	}
	return &Result{Cluster: cluster, Plans: all}, nil
}

// serverDryRun sends the exact patch of p (and of its companions) with dryRun=All. When the
// server refuses the strategy auto chose (e.g. CCE's webhook refuses elb.* annotation changes),
// the plan falls back to the other strategy where that one is allowed, saying so.
func (o *Svc) serverDryRun(ctx context.Context, eng apply.Engine, p *Planned) error {
	if !p.Plan.Changed {
		return o.serverDryRunCompanions(ctx, eng, p)
	}
	answer, err := eng.DryRun(ctx, apply.Target{Live: p.Live, Patch: p.Patch})
	if err != nil && !apierrors.IsConflict(err) && apply.IsRefusal(err) {
		if sp, ok := plan.Fallback(p.Plan, p.in, statusMessage(err)); ok && o.Strategy == plan.StrategyAuto {
			np, ferr := fromPlan(p.in, sp, nil)
			if ferr != nil {
				return ferr
			}
			*p = *np
			if !p.Plan.Changed {
				return nil
			}
			answer, err = eng.DryRun(ctx, apply.Target{Live: p.Live, Patch: p.Patch})
		}
	}
	if err != nil {
		return writeError(err, "")
	}
	p.Result = answer
	return o.serverDryRunCompanions(ctx, eng, p)
}

func (o *Svc) serverDryRunCompanions(ctx context.Context, eng apply.Engine, p *Planned) error {
	for _, c := range p.Also {
		answer, err := eng.DryRun(ctx, apply.Target{Live: c.Live, Patch: c.Patch})
		if err != nil {
			return writeError(err, " (same ELB as service "+p.Live.Namespace+"/"+p.Live.Name+")")
		}
		c.Result = answer
	}
	return nil
}

// writeError turns an error of the apply engine into one sentence naming the Service; what
// qualifies the phase for the reader (e.g. " (same ELB)").
func writeError(err error, what string) error {
	var re *apply.RequestError
	if !errors.As(err, &re) {
		return err // a *apply.ConflictsError says it all
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: re.Namespace, Name: re.Name}}
	if re.Phase == "re-read after a conflict" {
		return ServerError(re.Err, "re-reading service "+re.Namespace+"/"+re.Name+" after a conflict")
	}
	return refusal(svc, re.Err, re.Phase+what)
}

// sameELB reads the Services that may share an ELB with the planned ones, where a planned
// Service names an elb.id (in IPVS mode they must agree on pass-through; in iptables mode the
// verdict says the rule does not apply). One LIST of the whole cluster (or, when that is
// forbidden, of the namespace).
// readServices reads the Services asked for, the Services that share their ELBs, and (for a few
// Services) their Events, endpoint counts and the node count; for many Services, the namespace's
// Events (readFor reads the rest once the cluster facts are known).
func (o *Svc) readServices(ctx context.Context) (*reads, []*corev1.Service, error) {
	// Services asked for by name: what each needs is read at the same time as the Service.
	var early *serviceReads
	if o.Selector == "" && len(o.Names) <= perServiceLimit {
		early = startServiceReads(ctx, o.client, o.Namespace, o.Names)
	}
	svcs, err := o.services(ctx)
	if err != nil {
		return nil, nil, err // the early reads end on their own; nothing waits for them
	}
	peers, err := o.sameELB(ctx, svcs)
	if err != nil {
		return nil, nil, err // the early reads end on their own; nothing waits for them
	}
	r := &reads{peers: peers}
	if len(svcs) <= perServiceLimit {
		if early == nil {
			names := make([]string, len(svcs))
			for i, s := range svcs {
				names[i] = s.Name
			}
			early = startServiceReads(ctx, o.client, o.Namespace, names)
		}
		early.finish(r, svcs)
	} else {
		r.events = serviceEvents(ctx, o.lists, o.Namespace)
	}
	return r, svcs, nil
}

func (o *Svc) sameELB(ctx context.Context, svcs []*corev1.Service) (map[string][]*corev1.Service, error) {
	need := false
	for _, s := range svcs {
		need = need || s.Annotations[elb.AnnID] != ""
	}
	if !need {
		return nil, nil
	}
	list, err := o.lists.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		// Forbidden (a namespaced role) or failed: the namespace's own Services are still read,
		// and the plan says what could not be checked (never a silent narrowing).
		o.peersUnchecked = fmt.Sprintf("Services outside namespace %s (listing Services in all namespaces failed: %s)", o.Namespace, reasonOf(err))
		list, err = o.lists.CoreV1().Services(o.Namespace).List(ctx, metav1.ListOptions{})
	}
	if err != nil {
		return nil, ServerError(err, "listing the Services that share an ELB")
	}
	// Only the ELBs of the Services asked for matter: the others' annotations are not parsed.
	ids := map[string]bool{}
	for _, s := range svcs {
		if id := s.Annotations[elb.AnnID]; id != "" {
			ids[id] = true
		}
	}
	var items []*corev1.Service
	for i := range list.Items {
		if ids[list.Items[i].Annotations[elb.AnnID]] {
			items = append(items, &list.Items[i])
		}
	}
	return plan.GroupByELB(items), nil
}

// attachCompanions turns each fix's alsoPatch into writes on the live peers. A peer that is
// itself planned and fixed in this run needs no second write.
func (o *Svc) attachCompanions(all []*Planned, peers map[string][]*corev1.Service) {
	fixed := map[string]bool{}
	for _, p := range all {
		if p.Plan.Changed {
			fixed[p.Live.Namespace+"/"+p.Live.Name] = true
		}
	}
	for _, p := range all {
		if p.Plan.Fix == nil {
			continue
		}
		for _, a := range p.Plan.Fix.AlsoPatch {
			key := a.Namespace + "/" + a.Name
			if fixed[key] {
				continue
			}
			for _, peer := range peers[p.Live.Annotations[elb.AnnID]] {
				if peer.Namespace == a.Namespace && peer.Name == a.Name {
					c := &Companion{Live: peer, Result: peer, Patch: []byte(a.Patch)}
					if o.DryRun == DryRunClient {
						if merged, err := mergeLocally(peer, c.Patch); err == nil {
							c.Result = merged
						}
					}
					p.Also = append(p.Also, c)
					fixed[key] = true
				}
			}
		}
	}
}

// applyCompanion patches a peer of the same ELB, guarded by its resourceVersion; after a
// conflict it writes again only if the peer, as re-read, still lacks the setting.
func (o *Svc) applyCompanion(ctx context.Context, eng apply.Engine, c *Companion) error {
	res, err := eng.Write(ctx, apply.Target{Live: c.Live, Patch: c.Patch}, func(fresh *corev1.Service) ([]byte, error) {
		merged, err := mergeLocally(fresh, c.Patch)
		if err != nil {
			return nil, err
		}
		if merged.Annotations[patch.PassThroughAnnotation] == fresh.Annotations[patch.PassThroughAnnotation] {
			return nil, nil
		}
		return c.Patch, nil
	})
	if err != nil {
		return writeError(err, " (same ELB)")
	}
	c.Result, c.Applied = res.Object, res.Written
	return nil
}

// plan decides for one Service and, for a client dry run, merges the patch locally.
func (o *Svc) plan(in plan.Input) (*Planned, error) {
	p, err := planOne(in, nil)
	if err != nil {
		return nil, err
	}
	if p.Plan.Changed && o.DryRun == DryRunClient {
		// The local result is the live object merged with the patch, exactly as the server would.
		merged, err := mergeLocally(in.Service, p.Patch)
		if err != nil {
			return nil, err
		}
		p.Result = merged
	}
	return p, nil
}

func mergeLocally(svc *corev1.Service, pt []byte) (*corev1.Service, error) {
	liveJSON, err := json.Marshal(svc)
	if err != nil {
		return nil, err
	}
	mergedJSON, err := patch.Merge(liveJSON, pt)
	if err != nil {
		return nil, fmt.Errorf("service %s/%s: merging the patch: %v", svc.Namespace, svc.Name, err)
	}
	merged := &corev1.Service{}
	if err := json.Unmarshal(mergedJSON, merged); err != nil {
		return nil, err
	}
	return merged, nil
}

// apply writes one fix (its server dry run passed) through the engine: on a conflict the
// Service is re-read and re-planned here, and the plan says so.
func (o *Svc) apply(ctx context.Context, eng apply.Engine, p *Planned) (*Planned, error) {
	cur := p
	res, err := eng.Write(ctx, apply.Target{Live: p.Live, Patch: p.Patch}, func(fresh *corev1.Service) ([]byte, error) {
		in := cur.in
		in.Service = fresh
		np, err := planOne(in, nil)
		if err != nil {
			return nil, err
		}
		np.Also = cur.Also
		np.Plan.Notes = append(np.Plan.Notes, plan.Note{Source: plan.SourceEvidence,
			Message: "the Service changed while elbfix was patching it (409 Conflict): it was re-read and re-planned, and this plan is for the object as re-read; nothing of the other change was overwritten"})
		cur = np
		if !np.Plan.Changed {
			return nil, nil
		}
		return np.Patch, nil
	})
	if err != nil {
		return nil, writeError(err, "")
	}
	if res.Written {
		cur.Result = res.Object
		cur.Plan.Applied = true
	}
	return cur, nil
}

// services reads the Services named on the command line, or those the selector matches. Every
// name is read before anything is planned, so that one bad name stops the run before any write.
func (o *Svc) services(ctx context.Context) ([]*corev1.Service, error) {
	api := o.client.CoreV1().Services(o.Namespace)
	if o.Selector != "" {
		list, err := api.List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
		if err != nil {
			return nil, ServerError(err, fmt.Sprintf("listing services in namespace %q", o.Namespace))
		}
		if len(list.Items) == 0 {
			fmt.Fprintf(o.Warnings, "No Services match %q in namespace %q.\n", o.Selector, o.Namespace)
		}
		out := make([]*corev1.Service, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, nil
	}
	var out []*corev1.Service
	var errs []string
	for _, name := range o.Names {
		svc, err := api.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			errs = append(errs, fmt.Sprintf("service %q not found in namespace %q; check the name, or pass -n NAMESPACE", name, o.Namespace))
		case err != nil:
			return nil, ServerError(err, fmt.Sprintf("reading service %s/%s", o.Namespace, name))
		default:
			out = append(out, svc)
		}
	}
	if len(errs) > 0 {
		for _, e := range errs[:len(errs)-1] {
			fmt.Fprintln(o.Warnings, "error: "+e)
		}
		return nil, errors.New(errs[len(errs)-1])
	}
	return out, nil
}
