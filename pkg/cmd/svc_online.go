// The online flow of svc: read, plan, ask the server, write through the apply engine.

package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/apply"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/patch"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

func (o *SvcOptions) runOnline(ctx context.Context) error {
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return err
	}
	if o.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	if o.lists, err = kubernetes.NewForConfig(protobufConfig(cfg)); err != nil {
		return err
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
		cluster, detectErr = o.Cloud.detect(ctx, cfg, o.Overrides)
	}()
	r, svcs, err := o.readServices(ctx)
	<-detected
	if detectErr != nil {
		return serverError(detectErr, "detecting the cluster facts")
	}
	if err != nil {
		return err
	}
	// Plan everything first, and ask the server about every change, before writing anything: a
	// refusal or a bad name must not leave half of the Services patched.
	if o.peersUnchecked != "" {
		cluster.Evidence = append(cluster.Evidence, plan.Evidence{Fact: "sameELBServices", Value: "namespace " + o.namespace,
			Source: "not checked: " + o.peersUnchecked, Confidence: plan.ConfidenceNone, Signal: "services-all-namespaces"})
	}
	// The ELB API (--cloud) is asked once the facts are detected: detection finds the cluster.
	r.cloud = o.Cloud.readELBs(ctx, svcs)
	if len(svcs) <= perServiceLimit {
		r.readBackends(ctx, o.client, cluster, svcs)
	} else {
		r.readFor(ctx, o.lists, o.namespace, cluster, svcs)
	}
	peers := r.peers
	var all []*planned
	for _, svc := range svcs {
		in := r.input(cluster, svc, o.Strategy)
		in.PeersUnchecked = o.peersUnchecked
		p, err := o.plan(in)
		if err != nil {
			return err
		}
		all = append(all, p)
	}
	o.attachCompanions(all, peers)
	eng := apply.Engine{Services: o.client.CoreV1(), Retries: apply.DefaultRetries}
	if o.DryRun != dryRunClient {
		for _, p := range all {
			if err := o.serverDryRun(ctx, eng, p); err != nil {
				return err
			}
		}
	}
	suffix := ""
	switch o.DryRun {
	case dryRunClient:
		suffix = "(dry run)"
	case dryRunServer:
		suffix = "(server dry run)"
	default:
		var done []apply.Written
		for i, p := range all {
			if p.sp.Changed {
				if all[i], err = o.apply(ctx, eng, p); err != nil {
					var maybe []apply.Written
					if apply.MaybeWritten(err) {
						maybe = []apply.Written{{Before: p.live, After: p.result}}
					}
					return apply.Partial(err, done, maybe)
				}
				if all[i].sp.Applied { // not when a concurrent writer already made the change
					done = append(done, apply.Written{Before: all[i].live, After: all[i].result})
				}
			}
			for _, c := range all[i].also {
				if err := o.applyCompanion(ctx, eng, c); err != nil {
					var maybe []apply.Written
					if apply.MaybeWritten(err) {
						maybe = []apply.Written{{Before: c.live, After: c.result}}
					}
					return apply.Partial(err, done, maybe)
				}
				if c.applied {
					done = append(done, apply.Written{Before: c.live, After: c.result})
				}
			}
		}
	}
	return o.print(cluster, all, suffix)
}

// serverDryRun sends the exact patch of p (and of its companions) with dryRun=All. When the
// server refuses the strategy auto chose (e.g. CCE's webhook refuses elb.* annotation changes),
// the plan falls back to the other strategy where that one is allowed, saying so.
func (o *SvcOptions) serverDryRun(ctx context.Context, eng apply.Engine, p *planned) error {
	if !p.sp.Changed {
		return o.serverDryRunCompanions(ctx, eng, p)
	}
	answer, err := eng.DryRun(ctx, apply.Target{Live: p.live, Patch: p.patch})
	if err != nil && !apierrors.IsConflict(err) && apply.IsRefusal(err) {
		if sp, ok := plan.Fallback(p.sp, p.in, statusMessage(err)); ok && o.Strategy == plan.StrategyAuto {
			np, ferr := fromPlan(p.in, sp, nil)
			if ferr != nil {
				return ferr
			}
			*p = *np
			if !p.sp.Changed {
				return nil
			}
			answer, err = eng.DryRun(ctx, apply.Target{Live: p.live, Patch: p.patch})
		}
	}
	if err != nil {
		return writeError(err, "")
	}
	p.result = answer
	return o.serverDryRunCompanions(ctx, eng, p)
}

func (o *SvcOptions) serverDryRunCompanions(ctx context.Context, eng apply.Engine, p *planned) error {
	for _, c := range p.also {
		answer, err := eng.DryRun(ctx, apply.Target{Live: c.live, Patch: c.patch})
		if err != nil {
			return writeError(err, " (same ELB as service "+p.live.Namespace+"/"+p.live.Name+")")
		}
		c.result = answer
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
		return serverError(re.Err, "re-reading service "+re.Namespace+"/"+re.Name+" after a conflict")
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
func (o *SvcOptions) readServices(ctx context.Context) (*reads, []*corev1.Service, error) {
	svcs, err := o.services(ctx)
	if err != nil {
		return nil, nil, err
	}
	peers, err := o.sameELB(ctx, svcs)
	if err != nil {
		return nil, nil, err
	}
	r := &reads{peers: peers}
	if len(svcs) <= perServiceLimit {
		r.readForServices(ctx, o.client, svcs)
	} else {
		r.events = serviceEvents(ctx, o.lists, o.namespace)
	}
	return r, svcs, nil
}

func (o *SvcOptions) sameELB(ctx context.Context, svcs []*corev1.Service) (map[string][]*corev1.Service, error) {
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
		o.peersUnchecked = fmt.Sprintf("Services outside namespace %s (listing Services in all namespaces failed: %s)", o.namespace, reasonOf(err))
		list, err = o.lists.CoreV1().Services(o.namespace).List(ctx, metav1.ListOptions{})
	}
	if err != nil {
		return nil, serverError(err, "listing the Services that share an ELB")
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
func (o *SvcOptions) attachCompanions(all []*planned, peers map[string][]*corev1.Service) {
	fixed := map[string]bool{}
	for _, p := range all {
		if p.sp.Changed {
			fixed[p.live.Namespace+"/"+p.live.Name] = true
		}
	}
	for _, p := range all {
		if p.sp.Fix == nil {
			continue
		}
		for _, a := range p.sp.Fix.AlsoPatch {
			key := a.Namespace + "/" + a.Name
			if fixed[key] {
				continue
			}
			for _, peer := range peers[p.live.Annotations[elb.AnnID]] {
				if peer.Namespace == a.Namespace && peer.Name == a.Name {
					c := &companion{live: peer, result: peer, patch: []byte(a.Patch)}
					if o.DryRun == dryRunClient {
						if merged, err := mergeLocally(peer, c.patch); err == nil {
							c.result = merged
						}
					}
					p.also = append(p.also, c)
					fixed[key] = true
				}
			}
		}
	}
}

// applyCompanion patches a peer of the same ELB, guarded by its resourceVersion; after a
// conflict it writes again only if the peer, as re-read, still lacks the setting.
func (o *SvcOptions) applyCompanion(ctx context.Context, eng apply.Engine, c *companion) error {
	res, err := eng.Write(ctx, apply.Target{Live: c.live, Patch: c.patch}, func(fresh *corev1.Service) ([]byte, error) {
		merged, err := mergeLocally(fresh, c.patch)
		if err != nil {
			return nil, err
		}
		if merged.Annotations[patch.PassThroughAnnotation] == fresh.Annotations[patch.PassThroughAnnotation] {
			return nil, nil
		}
		return c.patch, nil
	})
	if err != nil {
		return writeError(err, " (same ELB)")
	}
	c.result, c.applied = res.Object, res.Written
	return nil
}

// plan decides for one Service and, for a client dry run, merges the patch locally.
func (o *SvcOptions) plan(in plan.Input) (*planned, error) {
	p, err := planOne(in, nil)
	if err != nil {
		return nil, err
	}
	if p.sp.Changed && o.DryRun == dryRunClient {
		// The local result is the live object merged with the patch, exactly as the server would.
		merged, err := mergeLocally(in.Service, p.patch)
		if err != nil {
			return nil, err
		}
		p.result = merged
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
func (o *SvcOptions) apply(ctx context.Context, eng apply.Engine, p *planned) (*planned, error) {
	cur := p
	res, err := eng.Write(ctx, apply.Target{Live: p.live, Patch: p.patch}, func(fresh *corev1.Service) ([]byte, error) {
		in := cur.in
		in.Service = fresh
		np, err := planOne(in, nil)
		if err != nil {
			return nil, err
		}
		np.also = cur.also
		np.sp.Notes = append(np.sp.Notes, plan.Note{Source: plan.SourceEvidence,
			Message: "the Service changed while elbfix was patching it (409 Conflict): it was re-read and re-planned, and this plan is for the object as re-read; nothing of the other change was overwritten"})
		cur = np
		if !np.sp.Changed {
			return nil, nil
		}
		return np.patch, nil
	})
	if err != nil {
		return nil, writeError(err, "")
	}
	if res.Written {
		cur.result = res.Object
		cur.sp.Applied = true
	}
	return cur, nil
}

// services reads the Services named on the command line, or those the selector matches. Every
// name is read before anything is planned, so that one bad name stops the run before any write.
func (o *SvcOptions) services(ctx context.Context) ([]*corev1.Service, error) {
	api := o.client.CoreV1().Services(o.namespace)
	if o.Selector != "" {
		list, err := api.List(ctx, metav1.ListOptions{LabelSelector: o.Selector})
		if err != nil {
			return nil, serverError(err, fmt.Sprintf("listing services in namespace %q", o.namespace))
		}
		if len(list.Items) == 0 {
			fmt.Fprintf(o.ErrOut, "No Services match %q in namespace %q.\n", o.Selector, o.namespace)
		}
		out := make([]*corev1.Service, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, nil
	}
	var out []*corev1.Service
	var errs []string
	for _, name := range o.names {
		svc, err := api.Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			errs = append(errs, fmt.Sprintf("service %q not found in namespace %q; check the name, or pass -n NAMESPACE", name, o.namespace))
		case err != nil:
			return nil, serverError(err, fmt.Sprintf("reading service %s/%s", o.namespace, name))
		default:
			out = append(out, svc)
		}
	}
	if len(errs) > 0 {
		for _, e := range errs[:len(errs)-1] {
			fmt.Fprintln(o.ErrOut, "error: "+e)
		}
		return nil, errors.New(errs[len(errs)-1])
	}
	return out, nil
}
