// The writes of policy --apply: the admission policies, their bindings and parameters, with
// server-side apply after a server-side dry run of every object.

package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/policy"
)

// ServedBy asks the server which versions of admissionregistration.k8s.io serve the policy
// kinds (v1 preferred).
func ServedBy(cfg *rest.Config) (policy.Served, error) {
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

// InstallPolicies writes the objects of set with server-side apply: every object as a server-side dry run
// first (nothing is written when one is refused), then each for real, printed as kubectl does.
// The objects are elbfix's own (named elbfix-*, labelled managed-by kubectl-elbfix): apply takes
// their fields over from another field manager (force), as a re-run after kubectl apply must.
func InstallPolicies(ctx context.Context, cfg *rest.Config, set *policy.Set, out io.Writer) error {
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
		fmt.Fprintf(out, "%s %s\n", it.name, what)
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
	case apierrors.IsTimeout(err):
		return caused(err, "%s: the API server did not complete the %s in time (504): %s; it may still have made it", name, phase, statusMessage(err))
	case apierrors.IsConflict(err):
		return caused(err, "%s: the %s conflicts with another field manager: %s; delete the object, or apply it with kubectl apply --server-side --force-conflicts", name, phase, statusMessage(err))
	case errors.As(err, &st):
		return caused(err, "%s: the API server refused the %s: %s", name, phase, statusMessage(err))
	}
	return ServerError(err, name+": "+phase)
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
