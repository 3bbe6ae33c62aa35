package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// TableOptions shape scan's table as kubectl get's: the NAMESPACE column only with -A, more
// columns with -o wide, no header and no summary with --no-headers.
type TableOptions struct {
	AllNamespaces, Wide, NoHeaders bool
}

// WriteScanTable writes scan's report: the cluster line, and the facts that hold for every row
// (detection-incomplete) once, then one row per Service, worst first, then a summary line
// ("2 of 9 Services need a fix: 1 pass-through, 1 Cluster; worst finding: 3 error, 1 warning, 5
// none").
func WriteScanTable(w io.Writer, cluster plan.Cluster, svcs []plan.ServicePlan, opts TableOptions) {
	// A finding every Local Service has because a cluster fact is unknown belongs in the header.
	common := map[string]bool{}
	if n := countWith(svcs, plan.FindingDetectionIncomplete); n > 0 {
		common[plan.FindingDetectionIncomplete] = true
	}
	if !opts.NoHeaders {
		WriteClusterLine(w, cluster)
		if common[plan.FindingDetectionIncomplete] {
			fmt.Fprintf(w, "%s (info, %d Services): the verdicts cover every column that the unknown facts leave possible\n",
				plan.FindingDetectionIncomplete, countWith(svcs, plan.FindingDetectionIncomplete))
		}
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	cols := []string{"NAME", "TYPE", "POLICY", "ELB", "FINDINGS", "FIX"}
	if opts.Wide {
		cols = []string{"NAME", "TYPE", "POLICY", "ELB", "ELB-ID", "PASS-THROUGH", "ADDRESS", "FINDINGS", "UNREACHABLE", "FIX"}
	}
	if opts.AllNamespaces {
		cols = append([]string{"NAMESPACE"}, cols...)
	}
	if !opts.NoHeaders {
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	worst := map[string]int{}
	fixes := map[string]int{}
	needFix := 0
	for _, sp := range svcs {
		var ids []string
		for _, f := range sp.Findings {
			switch {
			case common[f.ID] && f.Ignored == "":
			case f.Ignored != "":
				ids = append(ids, f.ID+" (ignored: "+f.Ignored+")")
			default:
				ids = append(ids, f.ID)
			}
		}
		fix := "-"
		switch {
		case sp.Fix != nil && (sp.Changed || len(sp.Fix.AlsoPatch) > 0):
			fix = sp.Fix.Strategy
			fixes[sp.Fix.Strategy]++
			needFix++
		case sp.NoFix != nil:
			fix = "none: use the DNS name"
		}
		sev := sp.MaxSeverity()
		if sev == "" {
			sev = "none"
		}
		worst[sev]++
		row := []string{sp.Name, sp.Type, orDash(sp.ExternalTrafficPolicy), elbWords(sp)}
		if opts.Wide {
			row = append(row, orDash(sp.ELBID), orDash(sp.PassThrough), orDash(addresses(sp)))
		}
		row = append(row, orDash(strings.Join(ids, ",")))
		if opts.Wide {
			row = append(row, orDash(unreachable(sp)))
		}
		row = append(row, fix)
		if opts.AllNamespaces {
			row = append([]string{sp.Namespace}, row...)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	if opts.NoHeaders {
		return
	}
	var fixWords []string
	for _, s := range []string{plan.StrategyPassThrough, plan.StrategyCluster} {
		if fixes[s] > 0 {
			name := s
			if s == plan.StrategyCluster {
				name = "Cluster"
			}
			fixWords = append(fixWords, fmt.Sprintf("%s %s", thousands(fixes[s]), name))
		}
	}
	line := fmt.Sprintf("\n%s of %s Services need a fix", thousands(needFix), thousands(len(svcs)))
	if len(fixWords) > 0 {
		line += ": " + strings.Join(fixWords, ", ")
	}
	var worstWords []string
	for _, s := range []string{plan.SeverityError, plan.SeverityWarning, plan.SeverityInfo, "none"} {
		if worst[s] > 0 {
			worstWords = append(worstWords, fmt.Sprintf("%s %s", thousands(worst[s]), s))
		}
	}
	if noFix := countNoFix(svcs); noFix > 0 {
		line += fmt.Sprintf("; %s with an error no patch clears", thousands(noFix))
	}
	line += "; worst finding per Service: " + strings.Join(worstWords, ", ") + "."
	fmt.Fprintln(w, line)
}

func countWith(svcs []plan.ServicePlan, id string) int {
	n := 0
	for _, sp := range svcs {
		for _, f := range sp.Findings {
			if f.ID == id && f.Ignored == "" {
				n++
				break
			}
		}
	}
	return n
}

func countNoFix(svcs []plan.ServicePlan) int {
	n := 0
	for _, sp := range svcs {
		if sp.NoFix != nil {
			n++
		}
	}
	return n
}

func elbWords(sp plan.ServicePlan) string {
	switch {
	case sp.Type != "LoadBalancer":
		return "-"
	case sp.ELBClass == "" || sp.ELBClass == "union":
		return "shared"
	case sp.ELBClass == "performance":
		return "dedicated"
	case sp.ELBClass == "shared" || sp.ELBClass == "dedicated":
		return sp.ELBClass + "(open-source-ccm)"
	}
	return sp.ELBClass
}

func addresses(sp plan.ServicePlan) string {
	seen := map[string]bool{}
	var out []string
	for _, f := range sp.Findings {
		for _, c := range f.Unreachable {
			for _, a := range strings.Split(c.Address, ", ") {
				if a != "" && !seen[a] {
					seen[a] = true
					out = append(out, a)
				}
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// unreachable lists the failing client locations of the error findings, shortly
// (host-other-node,pod-other-node).
func unreachable(sp plan.ServicePlan) string {
	seen := map[string]bool{}
	var out []string
	for _, f := range sp.Findings {
		if f.Severity != plan.SeverityError || f.Ignored != "" {
			continue
		}
		for _, c := range f.Unreachable {
			if !seen[c.Client] {
				seen[c.Client] = true
				out = append(out, c.Client)
			}
		}
	}
	return strings.Join(out, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// thousands writes n with a comma every three digits (5,009).
func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
