package cmd

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/manifest"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/report"
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
	Cloud     cloudOptions
	// ExplainHealth adds, per Service, how the ELB's health check works and what it is set to.
	ExplainHealth bool
	// Explain adds the details behind each verdict: the cells with their sources, the evidence
	// behind each cluster fact, the notes and the residual cells.
	Explain bool
	// InPlace writes each changed manifest file back (offline).
	InPlace bool

	names     []string
	namespace string
	color     bool
}

// NewSvcOptions returns the defaults.
func NewSvcOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *SvcOptions {
	return &SvcOptions{configFlags: configFlags, IOStreams: streams, DryRun: engine.DryRunNone, Strategy: plan.StrategyAuto}
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
	dryRunFlag.add(c, &o.DryRun, "", engine.DryRunNone)
	f.Lookup("dry-run").NoOptDefVal = engine.DryRunClient
	strategyFlag.add(c, &o.Strategy, "", plan.StrategyAuto)
	svcOutputFlag.add(c, &o.Output, "o", "")
	f.BoolVar(&o.Explain, "explain", false, "Also show the details behind each verdict: every failing cell with its source (vendor table row or derived rule), the evidence behind each cluster fact, and what still fails after the fix")
	f.BoolVarP(&o.InPlace, "in-place", "i", false, "Offline (-f): write each changed file back in place, every other byte kept (not with stdin)")
	f.BoolVar(&o.ExplainHealth, "explain-health", false, "Also explain the ELB health check of each Service (TCP SYN, SYN-ACK, ACK, then RST: the 'Connection reset by peer' logs) and its settings")
	addFactFlags(c, &o.Overrides)
	addCloudFlags(c, &o.Cloud)
	return c
}

// addFactFlags adds the detection overrides shared by every command that plans.
func addFactFlags(c *cobra.Command, o *detect.Overrides) {
	f := c.Flags()
	// The values come from detect's tables, which also validate them (naming the flag or the
	// environment variable the bad value came from).
	networks, proxies := append([]string{detect.Auto}, detect.NetworkModels...), append([]string{detect.Auto}, detect.ProxyModes...)
	f.StringVar(&o.NetworkModel, "network-model", detect.Auto, "Override detection of the network model (env "+detect.EnvNetworkModel+"); one of: "+strings.Join(networks, ", "))
	f.StringVar(&o.ProxyMode, "proxy-mode", detect.Auto, "Override detection of the kube-proxy mode (env "+detect.EnvProxyMode+"); one of: "+strings.Join(proxies, ", "))
	f.StringVar(&o.ClusterVersion, "cluster-version", "", "Override the server version, e.g. v1.25.5-r0 (needed offline)")
	registerEnumCompletion(c, "network-model", networks...)
	registerEnumCompletion(c, "proxy-mode", proxies...)
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
	o.Cloud.complete()
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
	if err := o.Cloud.validate(); err != nil {
		return err
	}
	if o.Filename != "" && o.Cloud.Enabled {
		return usageErrorf("--cloud reads the cloud for a live cluster; with -f (offline) nothing but the files is read")
	}
	if o.Filename != "" && o.DryRun == engine.DryRunServer {
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
		case o.DryRun != engine.DryRunNone:
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
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return err
	}
	res, err := (&engine.Svc{Config: cfg, Namespace: o.namespace, Names: o.names, Selector: o.Selector, DryRun: o.DryRun,
		Strategy: o.Strategy, Overrides: o.Overrides, Cloud: o.Cloud.Cloud, Warnings: o.ErrOut}).Run(ctx)
	if err != nil {
		return err
	}
	suffix := ""
	switch o.DryRun {
	case engine.DryRunClient:
		suffix = "(dry run)"
	case engine.DryRunServer:
		suffix = "(server dry run)"
	}
	return o.print(res.Cluster, res.Plans, suffix)
}

// runOffline plans the manifests, then writes them (-o manifest) or the report.
func (o *SvcOptions) runOffline() error {
	res, err := (&engine.Offline{Filename: o.Filename, In: o.In, Namespace: o.namespace, Strategy: o.Strategy,
		Overrides: o.Overrides, InPlace: o.InPlace, Lean: o.Output == "manifest"}).Run()
	if err != nil {
		return err
	}
	if o.Output == "manifest" {
		if err := res.Manifests.Write(o.Out); err != nil {
			return err
		}
		return o.exit(res.Plans)
	}
	if len(res.Plans) == 0 {
		fmt.Fprintf(o.ErrOut, "no Services in %s\n", o.Filename)
	}
	return o.print(res.Cluster, res.Plans, "")
}

// exit returns the exit status: 1 when an error finding is left that no patch of this run
// clears (noFix, not ignored), in every mode but the offline writes (-o manifest), so that a CI
// running svc notices it; with --dry-run, also 1 when a change is needed.
func (o *SvcOptions) exit(all []*engine.Planned) error {
	for _, p := range all {
		if o.Output != "manifest" && !o.InPlace && unresolved(p.Plan) {
			return exitStatus(ExitChanges)
		}
		if o.DryRun != engine.DryRunNone && (p.Plan.Changed || len(p.Also) > 0) {
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

func validVersion(v string) error {
	_, err := kubeversion.Parse(v)
	return err
}
