package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

var detectExample = `  # What elbfix believes about the current cluster, and why
  kubectl elbfix detect

  # Every signal tried, including those that could not be read
  kubectl elbfix detect --verbose

  # The facts as the "cluster" object of the Plan document
  kubectl elbfix detect -o json

  # State what detection can't tell (here: kube-proxy's mode on CCE)
  kubectl elbfix detect --proxy-mode ipvs

  # Ask CCE's own API (opt-in; credentials from HUAWEICLOUD_SDK_AK/SK or the SDK's profile)
  kubectl elbfix detect --cloud --region ap-southeast-1`

// DetectOptions holds the flags and state of `kubectl elbfix detect`.
type DetectOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Output    string
	Verbose   bool
	Overrides detect.Overrides
	Cloud     cloudOptions
}

// NewDetectOptions returns the defaults.
func NewDetectOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *DetectOptions {
	return &DetectOptions{configFlags: configFlags, IOStreams: streams}
}

// NewCmdDetect returns `kubectl elbfix detect`.
func NewCmdDetect(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewDetectOptions(configFlags, streams)
	c := &cobra.Command{
		Use:   "detect",
		Short: "Show the cluster facts elbfix decides on, with the evidence behind each",
		Long: `Detect the facts a verdict stands on: the cluster flavor (CCE Turbo, CCE Standard, the
open-source Huawei Cloud CCM, generic), the network model (turbo, tunnel, vpc), kube-proxy's mode
(iptables, ipvs, nftables), the server version and whether it has the ipMode field. Each fact
shows the evidence that decided it; --verbose shows every signal tried. A fact no signal decides is
"unknown": svc and scan then evaluate every possibility; pass the override flag to settle it.

Signals that can't be read (forbidden, missing, timed out) are reported, not errors. At most 6
API requests are made. With --cloud, CCE's own API adds the network model, flavor and kube-proxy
mode (evidence cce-api, confidence high); what it could not read is evidence too, never an error.

Exit status: 0, or 2 on an error (API server unreachable, credentials rejected, bad flags).`,
		Example: detectExample,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, args []string) error {
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
	detectOutputFlag.add(c, &o.Output, "o", "")
	f.BoolVar(&o.Verbose, "verbose", false, "List every signal tried, also those that told nothing or could not be read")
	addFactFlags(c, &o.Overrides)
	addCloudFlags(c, &o.Cloud)
	return c
}

// Complete fills in what the flags imply.
func (o *DetectOptions) Complete() error {
	o.Overrides = o.Overrides.WithEnv()
	o.Cloud.complete()
	return nil
}

// Validate checks the flags.
func (o *DetectOptions) Validate() error {
	if err := detectOutputFlag.validate(o.Output); err != nil {
		return err
	}
	if err := o.Overrides.Validate(); err != nil {
		return usageError{err}
	}
	return o.Cloud.validate()
}

// Run detects and prints the facts.
func (o *DetectOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, err := o.configFlags.ToRESTConfig()
	if err != nil {
		return err
	}
	cluster, err := o.Cloud.Detect(ctx, cfg, o.Overrides)
	if err != nil {
		return engine.ServerError(err, "detecting the cluster facts")
	}
	switch o.Output {
	case "json", "yaml":
		b, err := json.MarshalIndent(cluster, "", "  ")
		if err != nil {
			return err
		}
		if o.Output == "yaml" {
			if b, err = yaml.JSONToYAML(b); err != nil {
				return err
			}
			_, err = o.Out.Write(b)
			return err
		}
		_, err = fmt.Fprintln(o.Out, string(b))
		return err
	}
	writeFacts(o.Out, cluster, o.Verbose)
	return nil
}

// writeFacts prints each fact, its value and the evidence that decided it (or, for an unknown
// fact, what to pass), then the conflicts; verbose adds every signal tried.
func writeFacts(w io.Writer, c plan.Cluster, verbose bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FACT\tVALUE\tCONFIDENCE\tEVIDENCE")
	for _, fact := range detect.Facts {
		value := detect.FactValue(c, fact)
		tried := 0
		for _, e := range c.Evidence {
			if e.Fact == fact {
				tried++
			}
		}
		ev, ok := detect.Strongest(c, fact)
		switch {
		case value != plan.Unknown && ok:
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", fact, value, ev.Confidence, ev.Source)
		default:
			why := "no signal to try"
			if tried > 0 {
				why = fmt.Sprintf("no signal decided it (%d tried%s)", tried, map[bool]string{true: ", listed below", false: "; -v lists them"}[verbose])
			}
			if conflicted(c, fact) {
				why = "signals disagree (see Conflicts)"
			}
			fmt.Fprintf(tw, "%s\t%s\t-\t%s; %s\n", fact, plan.Unknown, why, detect.Remedy(fact))
		}
	}
	tw.Flush()
	if len(c.Conflicts) > 0 {
		fmt.Fprintln(w, "\nConflicts:")
		for _, cf := range c.Conflicts {
			fmt.Fprintf(w, "  %s (%s): %s\n", cf.Fact, strings.Join(cf.Values, " vs "), cf.Resolution)
		}
	}
	if !verbose {
		return
	}
	fmt.Fprintln(w, "\nSignals tried:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  FACT\tIMPLIES\tCONFIDENCE\tSIGNAL\tSOURCE")
	for _, e := range c.Evidence {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", e.Fact, e.Value, e.Confidence, e.Signal, e.Source)
	}
	tw.Flush()
}

func conflicted(c plan.Cluster, fact string) bool {
	for _, cf := range c.Conflicts {
		if cf.Fact == fact {
			return true
		}
	}
	return false
}
