package planapi

// SeverityRank orders severities: info 1, warning 2, error 3; anything else 0.
func SeverityRank(s string) int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityError:
		return 3
	}
	return 0
}

// MaxSeverity is the highest severity among findings ("" when there are none).
func MaxSeverity(findings []Finding) string {
	best := ""
	for _, f := range findings {
		if SeverityRank(f.Severity) > SeverityRank(best) {
			best = f.Severity
		}
	}
	return best
}

// MaxSeverity is the highest severity of the Service's findings ("" when there are none).
func (sp ServicePlan) MaxSeverity() string { return MaxSeverity(sp.Findings) }

// MaxSeverity is the highest severity over every Service of the plan ("" when there are no
// findings). scan's --fail-on compares it with SeverityRank.
func (p Plan) MaxSeverity() string {
	best := ""
	for _, sp := range p.Services {
		if s := sp.MaxSeverity(); SeverityRank(s) > SeverityRank(best) {
			best = s
		}
	}
	return best
}
