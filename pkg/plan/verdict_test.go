package plan

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
)

// verdictScenarios are the Services whose cells TestCellSources lists, one per kind of row. None
// has NodePorts unless the scenario is about them, so each lists only its own cells.
var verdictScenarios = map[string]svcSpec{
	"nodeport":               {typ: corev1.ServiceTypeNodePort},
	"shared-local":           {ann: union, noNP: true, ingress: vipPriv},
	"dedicated-local":        {ann: performance, noNP: true, ingress: vipPriv},
	"dedicated-onlylocal":    {ann: ann(aClass, "performance", aPT, "onlyLocal"), noNP: true, ingress: vipPriv},
	"dedicated-true":         {ann: perfPT, noNP: true, ingress: vipPriv},
	"dedicated-cluster-true": {ann: perfPT, noNP: true, ingress: vipPriv, cluster: true},
	"transparent-onlylocal":  {ann: ann(aClass, "union", "kubernetes.io/elb.transparent-client-ip", "true", aPT, "onlyLocal"), noNP: true, ingress: vipPriv},
	"dnat-local":             {ann: dnatAnn, noNP: true, ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.80"}}},
	"nginx-dedicated-local":  {ann: performance, noNP: true, ingress: vipPriv, name: "cceaddon-nginx-ingress-controller"},
}

var vipPriv = []corev1.LoadBalancerIngress{{IP: "192.168.0.147"}}

// cellRows has one row per cell of the vendor's table and one per derived cell, with its source:
// "SCENARIO COLUMN CLIENT TARGET vendor" or "... derived RULE" (COLUMN * = every column). Every
// cell Decide gives for a scenario must be a row here, and every row a cell Decide gives.
var cellRows = []string{
	// Vendor NodePort table (docs/domain.md §2), cell by cell.
	"nodeport tunnel+ipvs host-same-node nodeport-other-node vendor",
	"nodeport tunnel+ipvs host-other-node nodeport-other-node vendor",
	"nodeport tunnel+ipvs pod-same-node nodeport-other-node vendor",
	"nodeport tunnel+ipvs pod-other-node nodeport-other-node vendor",
	"nodeport vpc+ipvs host-same-node nodeport-other-node vendor",
	"nodeport vpc+ipvs host-other-node nodeport-other-node vendor",
	"nodeport vpc+ipvs pod-same-node nodeport-server-node vendor",
	"nodeport vpc+ipvs pod-same-node nodeport-other-node vendor",
	"nodeport vpc+ipvs pod-other-node nodeport-other-node vendor",
	"nodeport tunnel+iptables host-same-node nodeport-other-node vendor",
	"nodeport tunnel+iptables pod-same-node nodeport-other-node vendor",
	"nodeport tunnel+iptables pod-other-node nodeport-other-node vendor",
	"nodeport vpc+iptables host-same-node nodeport-other-node vendor",
	"nodeport vpc+iptables pod-same-node nodeport-server-node vendor",
	"nodeport vpc+iptables pod-same-node nodeport-other-node vendor",
	"nodeport vpc+iptables pod-other-node nodeport-other-node vendor",
	// Derived (docs/domain.md §2.1): shared ELB, Local, pass-through off: the client's own node's NodePort.
	"shared-local tunnel+ipvs host-other-node elb-private-ip derived shortcut-own-nodeport",
	"shared-local tunnel+ipvs pod-other-node elb-private-ip derived shortcut-own-nodeport",
	"shared-local vpc+ipvs host-other-node elb-private-ip derived shortcut-own-nodeport",
	"shared-local vpc+ipvs pod-same-node elb-private-ip derived shortcut-own-nodeport",
	"shared-local vpc+ipvs pod-other-node elb-private-ip derived shortcut-own-nodeport",
	"shared-local tunnel+iptables pod-other-node elb-private-ip derived shortcut-own-nodeport",
	"shared-local vpc+iptables pod-same-node elb-private-ip derived shortcut-own-nodeport",
	"shared-local vpc+iptables pod-other-node elb-private-ip derived shortcut-own-nodeport",
	// Vendor row: dedicated ELB with Local, whatever the pass-through; nothing else.
	"dedicated-local * host-same-node elb-private-ip vendor",
	"dedicated-local * pod-same-node elb-private-ip vendor",
	"dedicated-onlylocal * host-same-node elb-private-ip vendor",
	"dedicated-onlylocal * pod-same-node elb-private-ip vendor",
	"dedicated-true * host-same-node elb-private-ip vendor",
	"dedicated-true * pod-same-node elb-private-ip vendor",
	// Derived from the dedicated row: Cluster with pass-through "true" keeps the ELB path.
	"dedicated-cluster-true * host-same-node elb-private-ip derived pass-through-true-keeps-elb-path",
	"dedicated-cluster-true * pod-same-node elb-private-ip derived pass-through-true-keeps-elb-path",
	// Derived: a shared ELB keeping client IPs, pass-through on.
	"transparent-onlylocal * host-same-node elb-private-ip derived transparent-client-ip-as-dedicated",
	"transparent-onlylocal * pod-same-node elb-private-ip derived transparent-client-ip-as-dedicated",
	// Vendor rows: DNAT and the nginx-ingress add-on.
	"dnat-local * host-same-node dnat-ip vendor",
	"dnat-local * host-other-node dnat-ip vendor",
	"dnat-local * pod-same-node dnat-ip vendor",
	"dnat-local * pod-other-node dnat-ip vendor",
	"nginx-dedicated-local * host-same-node elb-private-ip vendor",
	"nginx-dedicated-local * pod-same-node elb-private-ip vendor",
}

func TestCellSources(t *testing.T) {
	m := matrix.MustDefault()
	want := map[string]bool{}
	for _, r := range cellRows {
		f := strings.Fields(r)
		cols := []string{f[1]}
		if f[1] == "*" {
			cols = matrix.ColumnNames(m.Columns())
		}
		for _, col := range cols {
			key := strings.Join(append([]string{f[0], col}, f[2:]...), " ")
			if want[key] {
				t.Fatalf("row %q twice", key)
			}
			want[key] = true
		}
	}
	got := map[string]bool{}
	for name, spec := range verdictScenarios {
		for _, col := range m.Columns() {
			sp, err := Decide(Input{Cluster: cluster(col.Network, col.Proxy, v125), Service: mk(spec)}, m)
			if err != nil {
				t.Fatal(err)
			}
			for _, fd := range sp.Findings {
				for _, c := range fd.Unreachable {
					if len(c.When) > 0 {
						t.Errorf("%s %s: %s>%s: a known column gives when %v", name, col, c.Client, c.Target, c.When)
					}
					src := c.Source
					switch c.Source {
					case CellVendor:
						if c.Edition != m.Edition || c.Rule != "" {
							t.Errorf("%s %s: vendor cell %+v: edition %q, rule %q", name, col, c, c.Edition, c.Rule)
						}
					case CellDerived:
						if m.Rules[c.Rule] == "" || c.Edition != "" {
							t.Errorf("%s %s: derived cell %+v without a known rule", name, col, c)
						}
						src += " " + c.Rule
					default:
						t.Errorf("%s %s: cell %+v without a source", name, col, c)
					}
					key := fmt.Sprintf("%s %s %s %s %s", name, col, c.Client, c.Target, src)
					if got[key] {
						t.Errorf("cell %q twice", key)
					}
					got[key] = true
				}
			}
		}
	}
	var missing, extra []string
	for k := range want {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	for k := range got {
		if !want[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	for _, k := range missing {
		t.Errorf("row without its cell: %s", k)
	}
	for _, k := range extra {
		t.Errorf("cell without its row: %s", k)
	}
}

// triggerCells is what the findings a fix answers say: one key per failing cell, one per such
// finding without cells (the test's own copy of the rule, not the code's).
func triggerCells(svc *corev1.Service, fs []Finding) map[string]bool {
	out := map[string]bool{}
	for _, f := range fs {
		switch f.ID {
		case FindingInClusterELBShortcut, FindingDedicatedELBHairpin, FindingDNATInClusterUnreachable,
			FindingTurboLocalNeedsHostNetwork, FindingPassThroughInconsistentSharedLB:
		case FindingNodePortLocalUnreachable:
			if svc.Spec.Type != corev1.ServiceTypeNodePort {
				continue
			}
		default:
			continue
		}
		if len(f.Unreachable) == 0 {
			out[f.ID] = true
		}
		for _, c := range f.Unreachable {
			out[f.ID+" "+c.Client+" "+c.Target+" "+strings.Join(c.When, ",")] = true
		}
	}
	return out
}

// TestVerdictProperties runs the whole space (ELB class, policy, pass-through, every column and
// unknown, version bands, transparent client IP, strategy) and checks what an operator relies on:
// a proposed fix takes failing cells away and adds none; a dedicated ELB with Local fails exactly
// in the vendor's cells; no derived cell where the vendor's table has a row; every cell says
// where it comes from; an auto plan either has a fix, or says why not (noFix), or has nothing to
// fix.
func TestVerdictProperties(t *testing.T) {
	m := matrix.MustDefault()
	cols := [][2]string{tIPVS, vIPVS, tIPT, vIPT, unk, {"vpc", "unknown"}, {"unknown", "ipvs"}}
	versions := []string{"v1.15.11-r1", "v1.17.9-r0", v125, ""}
	n := 0
	for _, col := range cols {
		for _, class := range []string{"union", "performance", "dnat"} {
			for _, local := range []bool{true, false} {
				for _, pt := range []string{"", "true", "onlyLocal"} {
					for _, version := range versions {
						for _, transparent := range []bool{false, true} {
							for _, strategy := range []string{StrategyAuto, StrategyPassThrough, StrategyCluster} {
								a := ann(aClass, class, aID, "elb-1")
								if pt != "" {
									a[aPT] = pt
								}
								if transparent {
									a["kubernetes.io/elb.transparent-client-ip"] = "true"
								}
								svc := mk(svcSpec{ann: a, cluster: !local, ingress: vipPrivPub})
								peer := mk(svcSpec{name: "peer", ann: ann(aClass, "union", aID, "elb-1", aPT, "true")})
								in := Input{Cluster: cluster(col[0], col[1], version), Service: svc, Strategy: strategy, SameELB: []*corev1.Service{peer}}
								name := fmt.Sprintf("%s class=%s local=%v pt=%q v=%q transparent=%v %s", col, class, local, pt, version, transparent, strategy)
								n++
								sp, err := Decide(in, m)
								if err != nil {
									var re *RefusedError
									if !errors.As(err, &re) || strategy == StrategyAuto {
										t.Fatalf("%s: %v", name, err)
									}
									continue
								}
								checkVerdict(t, name, in, sp, m)
							}
						}
					}
				}
			}
		}
	}
	if n < 3000 {
		t.Fatalf("only %d combinations", n)
	}
}

func checkVerdict(t *testing.T, name string, in Input, sp ServicePlan, m *matrix.Matrix) {
	t.Helper()
	class := in.Service.Annotations[aClass]
	local := in.Service.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	vendorRow := local && (class == "performance" || class == "dnat")
	var elbCells []string
	for _, f := range sp.Findings {
		if !severityDocumented(f.ID, f.Severity) {
			t.Fatalf("%s: %s has severity %s, the catalogue (and README) says otherwise", name, f.ID, f.Severity)
		}
		for _, c := range f.Unreachable {
			switch {
			case c.Source == CellVendor && c.Edition == m.Edition:
			case c.Source == CellDerived && m.Rules[c.Rule] != "":
				if vendorRow {
					t.Fatalf("%s: derived cell %+v where the vendor's table has a row", name, c)
				}
			default:
				t.Fatalf("%s: cell without a source: %+v", name, c)
			}
			if strings.HasPrefix(c.Target, "elb-") {
				elbCells = append(elbCells, c.Client+">"+c.Target+" "+c.Source)
			}
		}
	}
	if class == "performance" && local {
		sort.Strings(elbCells)
		want := []string{"host-same-node>elb-private-ip vendor", "pod-same-node>elb-private-ip vendor"}
		if strings.Join(elbCells, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: dedicated ELB cells %v, want exactly the vendor's %v", name, elbCells, want)
		}
	}
	if in.Service.Annotations[aPT] == "onlyLocal" && !local {
		// onlyLocal is off with Cluster (docs/domain.md §2.1): nothing that needs pass-through on.
		for _, f := range sp.Findings {
			if f.ID == FindingDedicatedELBHairpin || f.ID == FindingPassThroughUnsupportedVersion {
				t.Fatalf("%s: %s with onlyLocal and Cluster: %s", name, f.ID, f.Message)
			}
		}
	}
	cur := triggerCells(in.Service, sp.Findings)
	if sp.Fix != nil && sp.Changed {
		after := triggerCells(in.Service, sp.Fix.Residual)
		for k := range after {
			if !cur[k] {
				t.Fatalf("%s: the %s fix adds a failing cell %q", name, sp.Fix.Strategy, k)
			}
		}
		if len(after) >= len(cur) {
			t.Fatalf("%s: the %s fix leaves the cells it answers as they are: %v", name, sp.Fix.Strategy, cur)
		}
	}
	if in.Strategy == StrategyAuto && len(cur) > 0 && sp.Fix == nil && sp.NoFix == nil {
		hasError := false
		for _, f := range sp.Findings {
			hasError = hasError || (f.Severity == SeverityError && cur[f.ID] || f.Severity == SeverityError && len(f.Unreachable) > 0)
		}
		if hasError {
			t.Fatalf("%s: failing cells, no fix and no noFix: %v", name, cur)
		}
	}
	if sp.NoFix != nil && (len(sp.NoFix.Findings) == 0 || sp.NoFix.Reason == "" || len(sp.NoFix.Addresses) == 0) {
		t.Fatalf("%s: incomplete noFix %+v", name, sp.NoFix)
	}
}

// severityDocumented: the catalogue's severity for id is sev, or, for a rule like "error (warning
// on v1.16–v1.18)", names sev.
func severityDocumented(id, sev string) bool {
	for _, e := range Catalog {
		if e.ID == id {
			first, rest, _ := strings.Cut(e.Severity, " ")
			return first == sev || (rest != "" && strings.Contains(rest, sev))
		}
	}
	return false
}

// A dedicated ELB (Local) whose ELB peer has pass-through "true" in IPVS mode: Cluster clears the
// hairpin but not the disagreement, pass-through the disagreement but not the hairpin. The plan
// proposes Cluster and says plainly that no single patch clears both, never that no patch
// clears the disagreement.
func TestNoFixNamesThePatchThatWouldClearTheRest(t *testing.T) {
	svc := mk(svcSpec{ann: ann(aClass, "performance", aID, "elb-1")})
	peer := mk(svcSpec{name: "api", ann: ann(aClass, "union", aID, "elb-1", aPT, "true")})
	sp, err := Decide(Input{Cluster: cluster("vpc", "ipvs", v125), Service: svc, SameELB: []*corev1.Service{peer}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Fix == nil || sp.Fix.Strategy != StrategyCluster {
		t.Fatalf("fix = %+v, want cluster", sp.Fix)
	}
	if sp.NoFix == nil || strings.Join(sp.NoFix.Findings, ",") != FindingPassThroughInconsistentSharedLB {
		t.Fatalf("noFix = %+v", sp.NoFix)
	}
	r := sp.NoFix.Reason
	if strings.Contains(r, "no patch is known") || !strings.Contains(r, "no single patch clears every failing cell") ||
		!strings.Contains(r, "pass-through would clear "+FindingPassThroughInconsistentSharedLB) {
		t.Errorf("reason: %s", r)
	}
}
