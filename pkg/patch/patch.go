// Package patch turns a fix into the object it produces and the minimal strategic merge patch
// between the two, shows the change as a unified diff, and sends it to the API server safely.
package patch

import (
	"encoding/json"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// PassThroughAnnotation is the CCE annotation that routes in-cluster traffic to the ELB address
// through the ELB instead of kube-proxy's short-cut (its key is pkg/elb's, with the others).
const PassThroughAnnotation = elb.AnnPassThrough

// Fixed returns a copy of svc with the fix of the given strategy applied. Only the fixed field
// changes: the pass-through annotation, or spec.externalTrafficPolicy.
func Fixed(svc *corev1.Service, strategy string) (*corev1.Service, error) {
	out := svc.DeepCopy()
	switch strategy {
	case plan.StrategyPassThrough:
		if out.Annotations == nil {
			out.Annotations = map[string]string{}
		}
		out.Annotations[PassThroughAnnotation] = "true"
	case plan.StrategyCluster:
		out.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	default:
		return nil, fmt.Errorf("unknown fix strategy %q", strategy)
	}
	return out, nil
}

// Build returns the strategic merge patch that turns original into modified. It holds only the
// fields that differ; "{}" means no change.
func Build(original, modified *corev1.Service) ([]byte, error) {
	o, err := json.Marshal(original)
	if err != nil {
		return nil, err
	}
	m, err := json.Marshal(modified)
	if err != nil {
		return nil, err
	}
	return strategicpatch.CreateTwoWayMergePatch(o, m, corev1.Service{})
}

// FixPatch returns the patch of one strategy's fix and whether it is empty (IsEmpty), without
// copying the Service. The patch is the two-way strategic merge patch (Build) of the only fields
// a fix touches, the pass-through annotation and the traffic policy: the same patch as Build on
// the whole objects, since nothing else differs (tested), and it depends only on those two
// values, so it is computed once per combination (scan plans thousands of Services).
func FixPatch(svc *corev1.Service, strategy string) (p []byte, empty bool, err error) {
	value, present := svc.Annotations[PassThroughAnnotation]
	key := fixKey{strategy, value, present, svc.Spec.ExternalTrafficPolicy}
	if v, ok := fixPatches.Load(key); ok {
		fp := v.(fixPatch)
		return fp.patch, fp.empty, nil
	}
	before := fixable(svc)
	after, err := Fixed(before, strategy)
	if err != nil {
		return nil, false, err
	}
	if p, err = Build(before, after); err != nil {
		return nil, false, fmt.Errorf("service %s/%s: building the patch: %w", svc.Namespace, svc.Name, err)
	}
	empty = IsEmpty(p)
	fixPatches.Store(key, fixPatch{p, empty})
	return p, empty, nil
}

// fixKey is everything a fix's patch depends on.
type fixKey struct {
	strategy, passThrough string
	hasPassThrough        bool
	policy                corev1.ServiceExternalTrafficPolicy
}

type fixPatch struct {
	patch []byte
	empty bool
}

// fixPatches remembers FixPatch's patches by fixKey (a handful of combinations exist).
var fixPatches sync.Map

// Revert returns the strategic merge patch that undoes a fix: from the fixed object back to the
// original, over the fields a fix may touch. Each annotation is named: one the fix added is
// removed with null, never the whole map (a Service without annotations before the fix would
// otherwise get "annotations": null, which deletes every annotation written since).
func Revert(original, fixed *corev1.Service) ([]byte, error) {
	out := map[string]any{}
	ann := map[string]any{}
	for k, v := range fixed.Annotations {
		if ov, ok := original.Annotations[k]; !ok {
			ann[k] = nil
		} else if ov != v {
			ann[k] = ov
		}
	}
	for k, ov := range original.Annotations {
		if _, ok := fixed.Annotations[k]; !ok {
			ann[k] = ov
		}
	}
	if len(ann) > 0 {
		out["metadata"] = map[string]any{"annotations": ann}
	}
	if original.Spec.ExternalTrafficPolicy != fixed.Spec.ExternalTrafficPolicy {
		out["spec"] = map[string]any{"externalTrafficPolicy": original.Spec.ExternalTrafficPolicy}
	}
	return json.Marshal(out)
}

// fixable is the part of a Service a fix may change: the pass-through annotation and the
// traffic policy.
func fixable(svc *corev1.Service) *corev1.Service {
	out := &corev1.Service{Spec: corev1.ServiceSpec{ExternalTrafficPolicy: svc.Spec.ExternalTrafficPolicy}}
	if v, ok := svc.Annotations[PassThroughAnnotation]; ok {
		out.ObjectMeta = metav1.ObjectMeta{Annotations: map[string]string{PassThroughAnnotation: v}}
	}
	return out
}

// IsEmpty tells whether a patch changes nothing.
func IsEmpty(p []byte) bool {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return false
	}
	return len(m) == 0
}

// Merge applies a strategic merge patch to an object's JSON, as the API server would.
func Merge(objJSON, p []byte) ([]byte, error) {
	return strategicpatch.StrategicMergePatch(objJSON, p, corev1.Service{})
}

// WithPrecondition returns the patch with metadata.resourceVersion set, so that the API server
// refuses it with 409 Conflict when the object changed since it was read.
func WithPrecondition(p []byte, resourceVersion string) ([]byte, error) {
	if resourceVersion == "" {
		return p, nil
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, err
	}
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
	}
	md["resourceVersion"] = resourceVersion
	m["metadata"] = md
	return json.Marshal(m)
}
