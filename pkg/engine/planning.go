package engine

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/patch"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// Planned is one Service's plan with what the output needs.
type Planned struct {
	Plan plan.ServicePlan
	in   plan.Input // what the decision saw, to decide again (conflict, refusal)
	// Live is the Service as read; Patch the strategic merge patch of its fix (nil: none).
	Live  *corev1.Service
	Patch []byte
	// JSON is the plan as Scan.Encode encoded it when it was made; nil: not encoded.
	JSON []byte
	// Result is the object after the fix: the local merge, the server's dry-run answer, or the
	// applied object.
	Result *corev1.Service
	// Also are the other Services the fix patches with it (IPVS: one ELB, one pass-through).
	Also []*Companion
	// Before and After, when set, are what the diff shows instead of the objects as YAML: the
	// manifest's own text in offline mode; File is the manifest's file.
	Before, After []byte
	File          string
}

// Companion is another Service patched together with a fix (the Plan's alsoPatch,
// docs/contract.md).
type Companion struct {
	Live, Result *corev1.Service
	Patch        []byte
	Applied      bool
	// Before and After, when set, are the manifest's own text (offline mode); File is its file.
	Before, After []byte
	File          string
}

// planOne decides for one Service and builds the patch of its fix: the code svc and scan share.
// ignore lists finding ids to ignore for this run (--ignore), besides the Service's own
// elbfix.io/ignore annotation.
func planOne(in plan.Input, ignore []string) (*Planned, error) {
	sp, err := plan.Decide(in, matrix.MustDefault()) // loaded once, on first use
	if err != nil {
		return nil, err
	}
	return fromPlan(in, sp, ignore)
}

// fromPlan completes a decision: ignores, the patch, whether it changes the object, and the
// object after the fix (Result), which svc diffs, dry-runs and applies.
func fromPlan(in plan.Input, sp plan.ServicePlan, ignore []string) (*Planned, error) {
	p, err := planPatch(in, sp, ignore)
	if err != nil {
		return nil, err
	}
	p.in, p.Live, p.Result = in, in.Service, in.Service
	if p.Plan.Changed {
		if p.Result, err = patch.Fixed(in.Service, p.Plan.Fix.Strategy); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// planPatch completes a decision with its ignores and its fix's patch (Patch when it changes the
// object), and nothing else: what scan keeps of a plan, which it only prints (not the Service,
// not a copy of it with the fix).
func planPatch(in plan.Input, sp plan.ServicePlan, ignore []string) (*Planned, error) {
	svc := in.Service
	applyIgnores(&sp, svc.Annotations[ignoreAnnotation], ignore)
	p := &Planned{Plan: sp}
	if sp.Fix == nil {
		return p, nil
	}
	pt, empty, err := patch.FixPatch(svc, sp.Fix.Strategy)
	if err != nil {
		return nil, err
	}
	p.Plan.Fix.Patch = json.RawMessage(pt)
	p.Plan.Fix.PatchType = "strategic"
	p.Plan.Changed = !empty
	if p.Plan.Changed {
		p.Patch = pt
	}
	return p, nil
}
