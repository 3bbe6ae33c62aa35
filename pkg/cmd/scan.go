package cmd

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/report"
)

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
		if !engine.KnownFinding(id) {
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
	var scanned atomic.Int64
	stop := o.progress(&scanned)
	scan := &engine.Scan{Config: cfg, Namespace: o.namespace, AllNamespaces: o.AllNamespaces, Selector: o.Selector,
		Ignore: o.Ignore, Overrides: o.Overrides, Cloud: o.Cloud.Cloud, Scanned: &scanned}
	if o.Output == "json" {
		scan.Encode = report.EncodeService // as each plan is made (print writes them)
	}
	res, err := scan.Run(ctx)
	stop()
	if err != nil {
		return err
	}
	if err := o.print(res.Cluster, res.Plans); err != nil {
		return err
	}
	if engine.Failing(res.Plans, o.FailOn) {
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

func (o *ScanOptions) print(cluster plan.Cluster, all []*engine.Planned) error {
	doc := engine.Document(cluster, all)
	switch o.Output {
	case "json":
		encoded := make([][]byte, len(all))
		for i, p := range all {
			encoded[i] = p.JSON
		}
		return report.WritePlanJSON(o.Out, doc, encoded)
	case "yaml":
		return report.WritePlan(o.Out, doc, o.Output)
	case "patch":
		for _, p := range all {
			if p.Plan.Changed {
				fmt.Fprintln(o.Out, string(p.Patch))
			}
		}
		return nil
	}
	report.WriteScanTable(o.Out, cluster, doc.Services, report.TableOptions{
		AllNamespaces: o.AllNamespaces, Wide: o.Output == "wide", NoHeaders: o.NoHeaders})
	return nil
}
