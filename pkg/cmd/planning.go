package cmd

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/patch"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// planned is one Service's plan with what the output needs.
type planned struct {
	sp     plan.ServicePlan
	in     plan.Input // what the decision saw, to decide again (conflict, refusal)
	live   *corev1.Service
	patch  []byte
	result *corev1.Service // the object after the fix: local merge, the server's dry-run answer, or the applied object
	// also are the other Services the fix patches with it (IPVS: one ELB, one pass-through).
	also []*companion
	// before and after, when set, are what the diff shows instead of the objects as YAML: the
	// manifest's own text in offline mode; file is the manifest's file.
	before, after []byte
	file          string
}

// companion is another Service patched together with a fix (the Plan's alsoPatch,
// docs/contract.md).
type companion struct {
	live, result *corev1.Service
	patch        []byte
	applied      bool
	// before and after, when set, are the manifest's own text (offline mode); file is its file.
	before, after []byte
	file          string
}

// planOne decides for one Service and builds the patch of its fix: the code svc and scan share.
// ignore lists finding ids to ignore for this run (--ignore), besides the Service's own
// elbfix.io/ignore annotation.
func planOne(in plan.Input, ignore []string) (*planned, error) {
	sp, err := plan.Decide(in, matrix.MustDefault()) // loaded once, on first use
	if err != nil {
		return nil, err
	}
	return fromPlan(in, sp, ignore)
}

// fromPlan completes a decision: ignores, the patch, and whether it changes the object.
func fromPlan(in plan.Input, sp plan.ServicePlan, ignore []string) (*planned, error) {
	svc := in.Service
	applyIgnores(&sp, svc.Annotations[ignoreAnnotation], ignore)
	p := &planned{sp: sp, in: in, live: svc, result: svc}
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
