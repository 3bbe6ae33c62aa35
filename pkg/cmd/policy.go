package cmd

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/policy"
)

var policyExample = `  # Print the policies (warnings only) for the detected cluster facts
  kubectl elbfix policy

  # Install them: server-side dry run first, then the objects, each named as it is written
  kubectl elbfix policy --apply

  # Refuse Services with an error finding, and set pass-through where svc would, at create time
  kubectl elbfix policy --mode deny --mutate --apply`

// PolicyOptions holds the flags and state of `kubectl elbfix policy`.
type PolicyOptions struct {
	configFlags *genericclioptions.ConfigFlags
	genericiooptions.IOStreams

	Mode      string
	Mutate    bool
	Apply     bool
	Output    string
	Overrides detect.Overrides
}

// NewPolicyOptions returns the defaults.
func NewPolicyOptions(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *PolicyOptions {
	return &PolicyOptions{configFlags: configFlags, IOStreams: streams, Mode: policy.ModeWarn}
}

// NewCmdPolicy returns `kubectl elbfix policy`.
func NewCmdPolicy(configFlags *genericclioptions.ConfigFlags, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewPolicyOptions(configFlags, streams)
	c := &cobra.Command{
		Use:   "policy [--mode warn|audit|deny] [--mutate] [--apply]",
		Short: "Admission policies that stop the problem when a Service is created",
		Long: `Print (or with --apply, install) a ValidatingAdmissionPolicy per severity with its binding,
checking the per-Service findings of svc at create and update time, with the cluster facts in the
ConfigMap kube-system/elbfix-facts as their parameter; --mutate adds a MutatingAdmissionPolicy that
sets kubernetes.io/elb.pass-through "true" on the Services for which svc would. Findings that need
other objects (Services sharing an ELB, Events) are not checked; the output says which.

With --network-model, --proxy-mode and --cluster-version all given and no --apply, no cluster is
contacted. Exit status: 0 printed or applied; 2 any error.`,
		Example: policyExample,
		Args:    cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			o.Complete()
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(c.Context())
		},
	}
	policyModeFlag.add(c, &o.Mode, "", policy.ModeWarn)
	policyOutputFlag.add(c, &o.Output, "o", "")
	c.Flags().BoolVar(&o.Mutate, "mutate", false, "Also a MutatingAdmissionPolicy that sets kubernetes.io/elb.pass-through \"true\" on create where svc would (needs MutatingAdmissionPolicy: v1.36, or v1.34 with its feature gate)")
	c.Flags().BoolVar(&o.Apply, "apply", false, "Install the objects: a server-side dry run of every object first, then server-side apply (field manager kubectl-elbfix); prints each object as it is written")
	addFactFlags(c, &o.Overrides)
	return c
}

// Complete fills in what the flags imply.
func (o *PolicyOptions) Complete() { o.Overrides = o.Overrides.WithEnv() }

// Validate checks the flags before anything is read.
func (o *PolicyOptions) Validate() error {
	for _, check := range []struct {
		flag  enumFlag
		value string
	}{{policyModeFlag, o.Mode}, {policyOutputFlag, o.Output}} {
		if err := check.flag.validate(check.value); err != nil {
			return err
		}
	}
	if err := o.Overrides.Validate(); err != nil {
		return usageError{err}
	}
	if o.Apply && o.Output != "" {
		return usageErrorf("--apply prints each object as it is written; it takes no -o (print with -o, or apply, not both)")
	}
	return nil
}

// offline: every fact is given and nothing is written, so no cluster is needed.
func (o *PolicyOptions) offline() bool {
	set := func(v string) bool { return v != "" && v != detect.Auto }
	return !o.Apply && set(o.Overrides.NetworkModel) && set(o.Overrides.ProxyMode) && o.Overrides.ClusterVersion != ""
}

// Run detects the facts (or takes them from the flags), generates, and prints or applies.
func (o *PolicyOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	var cfg *rest.Config
	cluster := detect.Offline(o.Overrides)
	if !o.offline() {
		var err error
		if cfg, err = o.configFlags.ToRESTConfig(); err != nil {
			return err
		}
		if cluster, err = detect.Detect(ctx, cfg, o.Overrides); err != nil {
			return engine.ServerError(err, "detecting the cluster facts")
		}
	}
	v, err := kubeversion.Parse(cluster.Version)
	if err != nil {
		return usageErrorf("the cluster version %q is not known: pass --cluster-version (admission policies need v1.28 or later)", cluster.Version)
	}
	if !v.AtLeast(1, 28) {
		return usageErrorf("the cluster is %s: admission policies need Kubernetes v1.28 or later (ValidatingAdmissionPolicy, v1 from v1.30); use kubectl elbfix scan and svc instead", cluster.Version)
	}
	served := policy.ServedFor(v)
	if cfg != nil {
		if served, err = engine.ServedBy(cfg); err != nil {
			return engine.ServerError(err, "reading the API versions of admissionregistration.k8s.io")
		}
	}
	set, err := policy.Generate(policy.Options{Mode: o.Mode, Mutate: o.Mutate, Cluster: cluster, Served: served})
	if err != nil {
		return usageError{err}
	}
	switch {
	case o.Apply:
		return engine.InstallPolicies(ctx, cfg, set, o.Out)
	case o.Output == "json":
		return set.WriteJSON(o.Out)
	}
	return set.WriteYAML(o.Out)
}
