package cmd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
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
			return serverError(err, "detecting the cluster facts")
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
		if served, err = servedBy(cfg); err != nil {
			return serverError(err, "reading the API versions of admissionregistration.k8s.io")
		}
	}
	set, err := policy.Generate(policy.Options{Mode: o.Mode, Mutate: o.Mutate, Cluster: cluster, Served: served})
	if err != nil {
		return usageError{err}
	}
	switch {
	case o.Apply:
		return o.apply(ctx, cfg, set)
	case o.Output == "json":
		return set.WriteJSON(o.Out)
	}
	return set.WriteYAML(o.Out)
}

// servedBy asks the server which versions of admissionregistration.k8s.io serve the policy
// kinds (v1 preferred).
func servedBy(cfg *rest.Config) (policy.Served, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return policy.Served{}, err
	}
	var s policy.Served
	for _, v := range []string{policy.V1beta1, policy.V1} {
		list, err := dc.ServerResourcesForGroupVersion("admissionregistration.k8s.io/" + v)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return s, err
		}
		for _, r := range list.APIResources {
			switch r.Name {
			case "validatingadmissionpolicies":
				s.Validating = v
			case "mutatingadmissionpolicies":
				s.Mutating = v
			}
		}
	}
	return s, nil
}

// fieldManager is the field manager of every write (docs/contract.md "Safety rules").
const fieldManager = "kubectl-elbfix"

// apply writes the objects with server-side apply: every object as a server-side dry run
// first (nothing is written when one is refused), then each for real, printed as kubectl does.
// The objects are elbfix's own (named elbfix-*, labelled managed-by kubectl-elbfix): apply takes
// their fields over from another field manager (force), as a re-run after kubectl apply must.
func (o *PolicyOptions) apply(ctx context.Context, cfg *rest.Config, set *policy.Set) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	type item struct {
		res  dynamic.ResourceInterface
		name string // as kubectl prints it
		data []byte
		obj  *unstructured.Unstructured
	}
	var items []item
	for _, obj := range set.Objects {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		un := &unstructured.Unstructured{Object: u}
		unstructured.RemoveNestedField(un.Object, "metadata", "creationTimestamp")
		gvk := obj.GetObjectKind().GroupVersionKind()
		gvr := resourceFor(gvk)
		var res dynamic.ResourceInterface = dyn.Resource(gvr)
		if un.GetNamespace() != "" {
			res = dyn.Resource(gvr).Namespace(un.GetNamespace())
		}
		data, err := un.MarshalJSON()
		if err != nil {
			return err
		}
		items = append(items, item{res: res, name: kubectlName(gvk, un.GetName()), data: data, obj: un})
	}
	for _, it := range items {
		if _, err := it.res.Patch(ctx, it.obj.GetName(), types.ApplyPatchType, it.data,
			metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true), DryRun: []string{metav1.DryRunAll}}); err != nil {
			return applyError(err, it.name, "server dry run (nothing was written)")
		}
	}
	var written []string
	for _, it := range items {
		phase := "apply"
		if len(written) > 0 {
			phase = "apply (already applied: " + strings.Join(written, ", ") + ")"
		}
		before, err := it.res.Get(ctx, it.obj.GetName(), metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return applyError(err, it.name, "read before the "+phase)
		}
		after, err := it.res.Patch(ctx, it.obj.GetName(), types.ApplyPatchType, it.data, metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true)})
		if err != nil {
			return applyError(err, it.name, phase)
		}
		written = append(written, it.name)
		what := "created"
		if before != nil {
			what = "configured"
			if before.GetResourceVersion() == after.GetResourceVersion() {
				what = "unchanged"
			}
		}
		fmt.Fprintf(o.Out, "%s %s\n", it.name, what)
	}
	return nil
}

// kubectlName names an object as kubectl prints it: configmap/NAME,
// validatingadmissionpolicy.admissionregistration.k8s.io/NAME.
func kubectlName(gvk schema.GroupVersionKind, name string) string {
	kind := strings.ToLower(gvk.Kind)
	if gvk.Group != "" {
		kind += "." + gvk.Group
	}
	return kind + "/" + name
}

func applyError(err error, name, phase string) error {
	var st apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err):
		return caused(err, "%s: the %s was forbidden: %s; installing admission policies needs a cluster admin", name, phase, statusMessage(err))
	case apierrors.IsConflict(err):
		return caused(err, "%s: the %s conflicts with another field manager: %s; delete the object, or apply it with kubectl apply --server-side --force-conflicts", name, phase, statusMessage(err))
	case errors.As(err, &st):
		return caused(err, "%s: the API server refused the %s: %s", name, phase, statusMessage(err))
	}
	return serverError(err, name+": "+phase)
}

// resourceFor maps the kinds policy writes to their resources.
func resourceFor(gvk schema.GroupVersionKind) schema.GroupVersionResource {
	plural := map[string]string{
		"ConfigMap":                        "configmaps",
		"ValidatingAdmissionPolicy":        "validatingadmissionpolicies",
		"ValidatingAdmissionPolicyBinding": "validatingadmissionpolicybindings",
		"MutatingAdmissionPolicy":          "mutatingadmissionpolicies",
		"MutatingAdmissionPolicyBinding":   "mutatingadmissionpolicybindings",
	}[gvk.Kind]
	return gvk.GroupVersion().WithResource(plural)
}
