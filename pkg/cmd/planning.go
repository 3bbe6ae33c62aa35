package cmd

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/patch"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// matrixData is the embedded vendor access matrix (its loading is tested in pkg/matrix).
var matrixData = matrix.MustDefault()

// planned is one Service's plan with what the output needs.
type planned struct {
	sp     plan.ServicePlan
	live   *corev1.Service
	patch  []byte
	result *corev1.Service // the object after the fix: local merge, the server's dry-run answer, or the applied object
}

// planOne decides for one Service and builds the patch of its fix: the code svc and scan share.
// ignore lists finding ids to ignore for this run (--ignore), besides the Service's own
// elbfix.io/ignore annotation.
func planOne(cluster plan.Cluster, svc *corev1.Service, strategy string, backends *bool, ignore []string) (*planned, error) {
	sp, err := plan.Decide(plan.Input{Cluster: cluster, Service: svc, Strategy: strategy, BackendsHostNetwork: backends}, matrixData)
	if err != nil {
		return nil, err
	}
	applyIgnores(&sp, svc.Annotations[ignoreAnnotation], ignore)
	p := &planned{sp: sp, live: svc, result: svc}
	if sp.Fix == nil {
		return p, nil
	}
	fixed, pt, err := patch.ForFix(svc, sp.Fix.Strategy)
	if err != nil {
		return nil, err
	}
	p.sp.Fix.Patch = json.RawMessage(pt)
	p.sp.Fix.PatchType = "strategic"
	p.sp.Changed = !patch.IsEmpty(pt)
	if p.sp.Changed {
		p.patch, p.result = pt, fixed
	}
	return p, nil
}
