package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/apply"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/manifest"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/patch"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/report"
)

// Dry-run modes, as kubectl's --dry-run.
const (
	dryRunNone   = "none"
	dryRunClient = "client"
	dryRunServer = "server"
)

var svcExample = `  # Tell why pods can't reach the ELB address of Service nginx, and show the fix without applying it
  kubectl elbfix svc nginx --dry-run

  # Ask the API server (admission, validation, webhooks) what the fix would do
  kubectl elbfix svc nginx --dry-run=server

  # Fix every Service labelled app=web in namespace shop
  kubectl elbfix svc -n shop -l app=web

  # Only the patch, for kubectl patch
  kubectl patch svc nginx --type strategic -p "$(kubectl elbfix svc nginx -o patch)"

  # Offline: fix manifests before they reach a cluster
  kubectl elbfix svc -f k8s/ --cluster-version v1.25.5-r0 --network-model vpc -o manifest > fixed.yaml`

// SvcOptions holds the flags and state of `kubectl elbfix svc`.
type SvcOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Selector  string
	Filename  string
	DryRun    string
	Strategy  string
	Output    string
	Overrides detect.Overrides
	// ExplainHealth adds, per Service, how the ELB's health check works and what it is set to.
	ExplainHealth bool
	// Explain adds the details behind each verdict: the cells with their sources, the evidence
	// behind each cluster fact, the notes and the residual cells.
	Explain bool
	// InPlace writes each changed manifest file back (offline).
	InPlace bool

	names     []string
	namespace string
	// peersUnchecked says which Services that may share an ELB could not be read ("" when all).
	peersUnchecked string
	client         kubernetes.Interface
	color          bool
}

// NewSvcOptions returns the defaults.
func NewSvcOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *SvcOptions {
	return &SvcOptions{configFlags: configFlags, IOStreams: streams, DryRun: dryRunNone, Strategy: plan.StrategyAuto}
}

// NewCmdSvc returns `kubectl elbfix svc`.
func NewCmdSvc(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewSvcOptions(configFlags, streams)
	c := &cobra.Command{
		Use:     "svc NAME [NAME...] | -l SELECTOR | -f FILE|DIR|-",
		Aliases: []string{"service", "services"},
		Short:   "Explain and fix in-cluster access to LoadBalancer Services",
		Long: `Analyze each Service: which in-cluster clients fail to reach which address and why, the fix,
and a unified diff of the change; then apply the fix unless --dry-run is given.

Exit status: 0 nothing to change or fix applied; 1 with --dry-run, a change is needed, and in
every mode but offline -o manifest, an error finding that no patch clears (noFix); 2 any error.`,
		Example: svcExample,
		RunE: func(c *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	c.ValidArgsFunction = completeServiceNames(configFlags)
	f := c.Flags()
	f.StringVarP(&o.Selector, "selector", "l", "", "Selector (label query) to filter Services, as in kubectl")
	f.StringVarP(&o.Filename, "filename", "f", "", "Offline: plan the Services in this file, directory or - (stdin); never contacts a cluster")
	dryRunFlag.add(c, &o.DryRun, "", dryRunNone)
	f.Lookup("dry-run").NoOptDefVal = dryRunClient
	strategyFlag.add(c, &o.Strategy, "", plan.StrategyAuto)
	svcOutputFlag.add(c, &o.Output, "o", "")
	f.BoolVar(&o.Explain, "explain", false, "Also show the details behind each verdict: every failing cell with its source (vendor table row or derived rule), the evidence behind each cluster fact, and what still fails after the fix")
	f.BoolVarP(&o.InPlace, "in-place", "i", false, "Offline (-f): write each changed file back in place, every other byte kept (not with stdin)")
	f.BoolVar(&o.ExplainHealth, "explain-health", false, "Also explain the ELB health check of each Service (TCP SYN, SYN-ACK, ACK, then RST: the 'Connection reset by peer' logs) and its settings")
	addFactFlags(c, &o.Overrides)
	return c
}

// addFactFlags adds the detection overrides shared by every command that plans.
func addFactFlags(c *cobra.Command, o *detect.Overrides) {
	f := c.Flags()
	f.StringVar(&o.NetworkModel, "network-model", detect.Auto, "Override detection of the network model: auto, turbo, tunnel or vpc (env "+detect.EnvNetworkModel+")")
	f.StringVar(&o.ProxyMode, "proxy-mode", detect.Auto, "Override detection of the kube-proxy mode: auto, iptables or ipvs (env "+detect.EnvProxyMode+")")
	f.StringVar(&o.ClusterVersion, "cluster-version", "", "Override the server version, e.g. v1.25.5-r0 (needed offline)")
	registerEnumCompletion(c, "network-model", append([]string{detect.Auto}, detect.NetworkModels...)...)
	registerEnumCompletion(c, "proxy-mode", append([]string{detect.Auto}, detect.ProxyModes...)...)
}

func registerEnumCompletion(c *cobra.Command, flag string, values ...string) {
	_ = c.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	})
}

// Complete fills in what the flags imply.
func (o *SvcOptions) Complete(args []string) error {
	o.names = args
	o.Overrides = o.Overrides.WithEnv()
	o.color = report.IsTerminal(o.Out) && os.Getenv("NO_COLOR") == ""
	if o.Filename != "" {
		o.namespace = "default"
		if o.configFlags.Namespace != nil && *o.configFlags.Namespace != "" {
			o.namespace = *o.configFlags.Namespace
		}
		return nil
	}
	ns, _, err := o.configFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return err
	}
	o.namespace = ns
	return nil
}

// Validate checks flags and arguments before anything is read.
func (o *SvcOptions) Validate() error {
	for _, check := range []struct {
		flag  enumFlag
		value string
	}{{dryRunFlag, o.DryRun}, {strategyFlag, o.Strategy}, {svcOutputFlag, o.Output}} {
		if err := check.flag.validate(check.value); err != nil {
			return err
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
	sources := 0
	for _, given := range []bool{len(o.names) > 0, o.Selector != "", o.Filename != ""} {
		if given {
			sources++
		}
	}
	switch {
	case sources == 0:
		return usageErrorf("name the Services: kubectl elbfix svc NAME [NAME...], -l SELECTOR or -f FILE")
	case sources > 1:
		return usageErrorf("give Service names, -l SELECTOR or -f FILE, not several of them")
	}
	if o.Filename != "" && o.DryRun == dryRunServer {
		return usageErrorf("--dry-run=server needs a cluster; with -f (offline) use --dry-run=client")
	}
	if o.InPlace {
		switch {
		case o.Filename == "":
			return usageErrorf("--in-place writes manifest files: it needs -f FILE or -f DIR")
		case manifest.IsStdin(o.Filename):
			return usageErrorf("--in-place cannot write back to standard input; use -o manifest")
		case o.Output != "":
			return usageErrorf("--in-place writes the files; it takes no -o (the report goes to stdout)")
		case o.DryRun != dryRunNone:
			return usageErrorf("--in-place writes the files, --dry-run writes nothing: give one of them")
		}
	}
	return nil
}

// Run plans every Service, shows the verdicts and diffs, and applies unless dry-run.
func (o *SvcOptions) Run(ctx context.Context) error {
	if o.Filename != "" {
		return o.runOffline()
	}
	return o.runOnline(ctx)
}

func (o *SvcOptions) runOffline() error {
	set, err := manifest.Read(o.Filename, o.In, o.namespace)
	if err != nil {
		return err
	}
	cluster := detect.Offline(o.Overrides)
	refs := set.Services()
	// As online: the Services of the input that share an elb.id are planned together, and the
	// Events of the input are read for the Services they name.
	svcs := make([]*corev1.Service, len(refs))
	byKey := map[string]*manifest.ServiceRef{}
	for i, ref := range refs {
		svcs[i] = ref.Service
		byKey[ref.Service.Namespace+"/"+ref.Service.Name] = ref
	}
	groups := plan.GroupByELB(svcs)
	events := map[string][]corev1.Event{}
	for _, e := range set.Events() {
		if e.InvolvedObject.Kind == "Service" {
			key := e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
			events[key] = append(events[key], e)
		}
	}
	// Plan every Service before any text changes, so that each decision sees the input as given.
	var all []*planned
	for _, svc := range svcs {
		in := plan.Input{Cluster: cluster, Service: svc, Strategy: o.Strategy, Offline: true, EndpointCount: -1,
			Events: events[svc.Namespace+"/"+svc.Name], SameELB: groups[svc.Annotations[elb.AnnID]]}
		p, err := planOne(in, nil)
		if err != nil {
			return err
		}
		all = append(all, p)
	}
	fixed := map[string]bool{}
	for _, p := range all {
		if p.sp.Changed {
			fixed[p.sp.Namespace+"/"+p.sp.Name] = true
		}
	}
	for _, p := range all {
		ref := byKey[p.sp.Namespace+"/"+p.sp.Name]
		p.file = ref.Doc.File
		if p.sp.Changed {
			p.before = ref.Doc.Original()
			if err := ref.ApplyPatch(p.patch); err != nil {
				return fmt.Errorf("%s: service %s/%s: %v", ref.Doc.File, p.sp.Namespace, p.sp.Name, err)
			}
			p.after = ref.Doc.Bytes()
		}
		if p.sp.Fix == nil {
			continue
		}
		// The other Services of the same ELB in the input get the pass-through with it (IPVS).
		for _, a := range p.sp.Fix.AlsoPatch {
			key := a.Namespace + "/" + a.Name
			peer := byKey[key]
			if peer == nil || fixed[key] {
				continue
			}
			fixed[key] = true
			c := &companion{live: peer.Service, patch: []byte(a.Patch), before: peer.Doc.Original(), file: peer.Doc.File}
			if err := peer.ApplyPatch(c.patch); err != nil {
				return fmt.Errorf("%s: service %s: %v", peer.Doc.File, key, err)
			}
			c.result, c.after = peer.Service, peer.Doc.Bytes()
			p.also = append(p.also, c)
		}
	}
	if len(all) == 0 && o.Output != "manifest" {
		fmt.Fprintf(o.ErrOut, "no Services in %s\n", o.Filename)
	}
	if o.Output == "manifest" {
		if err := set.Write(o.Out); err != nil {
			return err
		}
		return o.exit(all)
	}
	if o.InPlace {
		if err := set.WriteInPlace(); err != nil {
			return err
		}
	}
	return o.print(cluster, all, "")
}

func (o *SvcOptions) runOnline(ctx context.Context) error {
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return err
	}
	if o.client, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	cluster, err := detect.Detect(ctx, cfg, o.Overrides)
	if err != nil {
		return serverError(err, "detecting the cluster facts")
	}
	svcs, err := o.services(ctx)
	if err != nil {
		return err
	}
	peers, err := o.sameELB(ctx, svcs)
	if err != nil {
		return err
	}
	// Plan everything first, and ask the server about every change, before writing anything: a
	// refusal or a bad name must not leave half of the Services patched.
	if o.peersUnchecked != "" {
		cluster.Evidence = append(cluster.Evidence, plan.Evidence{Fact: "sameELBServices", Value: "namespace " + o.namespace,
			Source: "not checked: " + o.peersUnchecked, Confidence: plan.ConfidenceNone, Signal: "services-all-namespaces"})
	}
	r := reads{peers: peers}
	if len(svcs) <= perServiceLimit {
		r.readForServices(ctx, o.client, cluster, svcs)
	} else {
		r.events = serviceEvents(ctx, o.client, o.namespace)
		r.readFor(ctx, o.client, o.namespace, cluster, svcs)
	}
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
func (o *SvcOptions) sameELB(ctx context.Context, svcs []*corev1.Service) (map[string][]*corev1.Service, error) {
	need := false
	for _, s := range svcs {
		need = need || s.Annotations[elb.AnnID] != ""
	}
	if !need {
		return nil, nil
	}
	list, err := o.client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		// Forbidden (a namespaced role) or failed: the namespace's own Services are still read,
		// and the plan says what could not be checked (never a silent narrowing).
		o.peersUnchecked = fmt.Sprintf("Services outside namespace %s (listing Services in all namespaces failed: %s)", o.namespace, reasonOf(err))
		list, err = o.client.CoreV1().Services(o.namespace).List(ctx, metav1.ListOptions{})
	}
	if err != nil {
		return nil, serverError(err, "listing the Services that share an ELB")
	}
	items := make([]*corev1.Service, len(list.Items))
	for i := range list.Items {
		items[i] = &list.Items[i]
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

func (o *SvcOptions) print(cluster plan.Cluster, all []*planned, suffix string) error {
	doc := plan.Plan{APIVersion: plan.APIVersion, Kind: plan.Kind, Cluster: cluster, Services: []plan.ServicePlan{}}
	for _, p := range all {
		doc.Services = append(doc.Services, p.sp)
	}
	switch o.Output {
	case "json", "yaml":
		if err := report.WritePlan(o.Out, doc, o.Output); err != nil {
			return err
		}
	case "patch":
		for _, p := range all {
			if p.sp.Changed {
				fmt.Fprintln(o.Out, string(p.patch))
			}
			for _, c := range p.also {
				fmt.Fprintln(o.Out, string(c.patch))
			}
		}
	case "manifest":
		var objs []*corev1.Service
		for _, p := range all {
			objs = append(objs, p.result)
			for _, c := range p.also {
				objs = append(objs, c.result)
			}
		}
		for i, obj := range objs {
			if i > 0 {
				fmt.Fprintln(o.Out, "---")
			}
			b, err := objectYAML(obj)
			if err != nil {
				return err
			}
			o.Out.Write(b)
		}
	default:
		differ := patch.NewDiffer(o.Out, o.ErrOut, o.color)
		if o.Explain {
			report.WriteCluster(o.Out, cluster)
		} else {
			differ.Context = 1
			report.WriteClusterLine(o.Out, cluster)
		}
		// Services of this run that another one's fix patches with it (same ELB).
		with := map[string]string{}
		for _, p := range all {
			for _, c := range p.also {
				with[c.live.Namespace+"/"+c.live.Name] = p.sp.Namespace + "/" + p.sp.Name
			}
		}
		for i, p := range all {
			if o.Explain || i > 0 {
				fmt.Fprintln(o.Out)
			}
			if o.Explain {
				report.WriteService(o.Out, p.sp)
			} else {
				report.WriteServiceShort(o.Out, p.sp)
			}
			if o.ExplainHealth {
				fmt.Fprintln(o.Out)
				fmt.Fprintln(o.Out, strings.TrimRight(plan.ExplainHealthCheck(p.live), "\n"))
				fmt.Fprintln(o.Out)
			}
			if p.sp.Changed {
				if p.before != nil {
					if _, err := differ.Diff(patch.DiffName(p.sp.Namespace, p.sp.Name), p.before, p.after); err != nil {
						return err
					}
				} else if err := diffObjects(differ, p.live, p.result); err != nil {
					return err
				}
			}
			if by := with[p.sp.Namespace+"/"+p.sp.Name]; by != "" && !p.sp.Changed {
				verb := "pass-through set"
				if o.Filename != "" && !o.InPlace {
					verb = "would get pass-through"
				}
				fmt.Fprintln(o.Out, strings.TrimSpace(fmt.Sprintf("service/%s: %s with service %s (same ELB, above) %s", p.sp.Name, verb, by, suffix)))
			} else {
				fmt.Fprintln(o.Out, o.statusLine(p.sp.Name, p.sp.Changed, p.sp.Fix, p.file, suffix))
			}
			for _, c := range p.also {
				fmt.Fprintf(o.Out, "service/%s (namespace %s) is on the same ELB %s: it gets the same pass-through\n", c.live.Name, c.live.Namespace, p.sp.ELBID)
				if c.before != nil {
					if _, err := differ.Diff(patch.DiffName(c.live.Namespace, c.live.Name), c.before, c.after); err != nil {
						return err
					}
				} else if err := diffObjects(differ, c.live, c.result); err != nil {
					return err
				}
				fmt.Fprintln(o.Out, o.statusLine(c.live.Name, true, &plan.Fix{Strategy: plan.StrategyPassThrough}, c.file, suffix))
			}
		}
	}
	return o.exit(all)
}

// statusLine says what this run did to one Service: online as kubectl says it ("patched (dry
// run)"); offline never "patched", since nothing was written: what would change and how to
// write it, or, with --in-place, which file was written.
func (o *SvcOptions) statusLine(name string, changed bool, fix *plan.Fix, file, suffix string) string {
	if o.Filename == "" {
		verb := "unchanged"
		if changed {
			verb = "patched"
		}
		return strings.TrimSpace(fmt.Sprintf("service/%s %s %s", name, verb, suffix))
	}
	switch {
	case !changed || fix == nil:
		return fmt.Sprintf("service/%s: nothing to change", name)
	case o.InPlace:
		return fmt.Sprintf("service/%s: %s, written to %s", name, report.ChangeWords(fix.Strategy), file)
	}
	return fmt.Sprintf("service/%s: would %s; write it with -o manifest or --in-place", name, report.ChangeWords(fix.Strategy))
}

func diffObjects(differ *patch.Differ, live, result *corev1.Service) error {
	a, err := objectYAML(live)
	if err != nil {
		return err
	}
	b, err := objectYAML(result)
	if err != nil {
		return err
	}
	_, err = differ.Diff(patch.DiffName(live.Namespace, live.Name), a, b)
	return err
}

// exit returns the exit status: 1 when an error finding is left that no patch of this run
// clears (noFix, not ignored), in every mode but the offline writes (-o manifest), so that a CI
// running svc notices it; with --dry-run, also 1 when a change is needed.
func (o *SvcOptions) exit(all []*planned) error {
	for _, p := range all {
		if o.Output != "manifest" && !o.InPlace && unresolved(p.sp) {
			return exitStatus(ExitChanges)
		}
		if o.DryRun != dryRunNone && (p.sp.Changed || len(p.also) > 0) {
			return exitStatus(ExitChanges)
		}
	}
	return nil
}

// unresolved: the plan has an error finding that no patch clears, and it is not ignored.
func unresolved(sp plan.ServicePlan) bool {
	if sp.NoFix == nil {
		return false
	}
	for _, id := range sp.NoFix.Findings {
		for _, f := range sp.Findings {
			if f.ID == id && f.Ignored == "" {
				return true
			}
		}
	}
	return false
}

func objectYAML(svc *corev1.Service) ([]byte, error) {
	obj := svc.DeepCopy()
	obj.APIVersion, obj.Kind = "v1", "Service"
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return patch.CleanYAML(b)
}

func validVersion(v string) error {
	_, err := kubeversion.Parse(v)
	return err
}
