package engine

import (
	"slices"
	"strings"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// ignoreAnnotation is the per-Service exception.
const ignoreAnnotation = plan.IgnoreAnnotation

// KnownFinding tells whether id is a finding id of the catalogue.
func KnownFinding(id string) bool { return slices.Contains(plan.FindingIDs, id) }

// applyIgnores marks the findings the annotation or the --ignore flag ignore. An annotation
// without a reason, or naming unknown ids, ignores nothing and is itself a finding.
func applyIgnores(sp *plan.ServicePlan, annotation string, flagIDs []string) {
	defer func() {
		for _, id := range flagIDs {
			markIgnored(sp, id, "--ignore "+id)
		}
	}()
	if annotation == "" {
		return
	}
	ids, reason, ok := strings.Cut(annotation, ":")
	reason = strings.TrimSpace(reason)
	var bad []string
	var valid []string
	for _, id := range strings.Split(ids, ",") {
		id = strings.TrimSpace(id)
		if KnownFinding(id) {
			valid = append(valid, id)
		} else {
			bad = append(bad, id)
		}
	}
	switch {
	case !ok || reason == "":
		sp.Findings = append(sp.Findings, plan.Finding{ID: plan.FindingAnnotationInvalid, Severity: plan.SeverityError,
			Message: ignoreAnnotation + `: a reason is required ("<finding-id>[,...]: <reason>"); nothing is ignored`})
	case len(bad) > 0:
		sp.Findings = append(sp.Findings, plan.Finding{ID: plan.FindingAnnotationInvalid, Severity: plan.SeverityError,
			Message: ignoreAnnotation + ": unknown finding id " + strings.Join(bad, ", ") + "; nothing is ignored"})
	default:
		for _, id := range valid {
			markIgnored(sp, id, reason)
		}
	}
}

func markIgnored(sp *plan.ServicePlan, id, reason string) {
	for i := range sp.Findings {
		if sp.Findings[i].ID == id && sp.Findings[i].Ignored == "" {
			sp.Findings[i].Ignored = reason
		}
	}
}
