package e2e

// Verdicts where the vendor's access table has a row for the Service (dedicated ELB), where no
// patch helps (noFix), where a forced strategy is refused, where the Services of one ELB are
// planned together (offline) or cannot all be read (a namespaced user), and where an offline
// Event changes the verdict. Every command goes through the real kubectl with the plugin on PATH.

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

const (
	annPassThrough = "kubernetes.io/elb.pass-through"
	annELBID       = "kubernetes.io/elb.id"
)

// vpcIPVSFacts fixes the two facts detection would otherwise have to guess, so that the verdicts
// below do not depend on detection (and detection-incomplete does not appear).
var vpcIPVSFacts = []string{"--network-model", "vpc", "--proxy-mode", "ipvs"}

// decodePlan decodes -o json output, failing the test with the whole result when it is not a Plan.
func decodePlan(t *testing.T, r result) plan.Plan {
	t.Helper()
	var doc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("-o json is not a Plan: %v\n%s", err, r)
	}
	if doc.Kind != "Plan" {
		t.Fatalf("-o json: kind %q, want Plan\n%s", doc.Kind, r)
	}
	return doc
}

// servicePlan returns the plan of ns/name in doc.
func servicePlan(t *testing.T, doc plan.Plan, ns, name string) plan.ServicePlan {
	t.Helper()
	for _, sp := range doc.Services {
		if sp.Namespace == ns && sp.Name == name {
			return sp
		}
	}
	t.Fatalf("the plan has no Service %s/%s: %+v", ns, name, doc.Services)
	return plan.ServicePlan{}
}

// findingIDs lists the ids of fs, sorted.
func findingIDs(fs []plan.Finding) []string {
	ids := []string{}
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	sort.Strings(ids)
	return ids
}

func findingByID(fs []plan.Finding, id string) (plan.Finding, bool) {
	for _, f := range fs {
		if f.ID == id {
			return f, true
		}
	}
	return plan.Finding{}, false
}

func prettyJSON(v interface{}) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}

// dedicatedService is testdata/dedicated-elb-local.yaml (Service orders, elb.class performance,
// externalTrafficPolicy Local, port 8080, private and public ingress addresses) in ns, with an
// ELB id of its own (peers are listed cluster-wide, and other tests use the fixture's id) and
// the given pass-through annotation ("" leaves it absent).
func dedicatedService(t *testing.T, ns, passThrough string) *corev1.Service {
	t.Helper()
	svc := loadService(t, "dedicated-elb-local.yaml", ns)
	svc.Annotations[annELBID] = "2f6d3a8e-1b4c-4d2e-9f7a-" + ns
	if passThrough != "" {
		svc.Annotations[annPassThrough] = passThrough
	}
	return svc
}

// TestVerdictsDedicatedELB: a dedicated ELB with Local is the vendor table's row, whatever the
// pass-through annotation says: exactly host-same-node and pod-same-node fail to reach the ELB's
// private address (vendor cells, every column), plus the NodePort warning, and no derived
// short-cut. What to do depends on pass-through: absent or onlyLocal, policy Cluster clears the
// hairpin (and is applied); "true", no patch is known to clear it, and svc says so, exits 1 and
// writes nothing.
func TestVerdictsDedicatedELB(t *testing.T) {
	for _, tc := range []struct {
		name        string
		passThrough string
		wantFix     string // "" = no fix (noFix instead)
	}{
		{"pass-through absent", "", plan.StrategyCluster},
		{"pass-through onlyLocal (set by CCE)", "onlyLocal", plan.StrategyCluster},
		{"pass-through true", "true", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t)
			before := createService(t, dedicatedService(t, ns, tc.passThrough))
			r := elbfix(t, append([]string{"svc", "orders", "-n", ns, "-o", "json", "--dry-run"}, vpcIPVSFacts...)...)
			wantCode(t, r, 1) // a change is needed, or an error finding no patch clears
			sp := servicePlan(t, decodePlan(t, r), ns, "orders")

			// The verdict: the vendor's dedicated-ELB row, and nothing derived.
			want := []string{plan.FindingDedicatedELBHairpin, plan.FindingNodePortLocalUnreachable}
			sort.Strings(want)
			if got := findingIDs(sp.Findings); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("findings %v, want exactly %v (no incluster-elb-shortcut: the vendor row is the verdict)\n%s", got, want, prettyJSON(sp.Findings))
			}
			hairpin, _ := findingByID(sp.Findings, plan.FindingDedicatedELBHairpin)
			if hairpin.Severity != plan.SeverityError {
				t.Errorf("dedicated-elb-hairpin severity %q, want error", hairpin.Severity)
			}
			var cells []string
			for _, c := range hairpin.Unreachable {
				cells = append(cells, c.Client+"→"+c.Target)
				if c.Source != plan.CellVendor || c.Edition == "" || c.Rule != "" {
					t.Errorf("hairpin cell %s→%s: want source vendor with an edition and no rule, got %+v", c.Client, c.Target, c)
				}
				if len(c.When) != 0 {
					t.Errorf("hairpin cell %s→%s fails only in %v; the vendor row fails in every column", c.Client, c.Target, c.When)
				}
			}
			sort.Strings(cells)
			if got, want := strings.Join(cells, ", "), "host-same-node→elb-private-ip, pod-same-node→elb-private-ip"; got != want {
				t.Errorf("hairpin cells %q, want exactly %q", got, want)
			}
			if np, _ := findingByID(sp.Findings, plan.FindingNodePortLocalUnreachable); np.Severity != plan.SeverityWarning {
				t.Errorf("nodeport-local-unreachable severity %q, want warning", np.Severity)
			}

			if tc.wantFix != "" {
				if sp.Fix == nil || sp.Fix.Strategy != tc.wantFix || sp.NoFix != nil || !sp.Changed {
					t.Fatalf("want the %s fix (changed, no noFix), got fix %s noFix %s changed %v", tc.wantFix, prettyJSON(sp.Fix), prettyJSON(sp.NoFix), sp.Changed)
				}
				var patch bytes.Buffer
				if err := json.Compact(&patch, sp.Fix.Patch); err != nil || patch.String() != `{"spec":{"externalTrafficPolicy":"Cluster"}}` {
					t.Errorf("fix patch %s, want the policy only", sp.Fix.Patch)
				}
				if _, left := findingByID(sp.Fix.Residual, plan.FindingDedicatedELBHairpin); left {
					t.Errorf("policy Cluster must clear the hairpin (pass-through %q is off with Cluster); residual: %v", tc.passThrough, findingIDs(sp.Fix.Residual))
				}
				if tc.passThrough != "onlyLocal" {
					return // applying the Cluster fix on a dedicated ELB: TestApplyChangesExactlyTheFixedField
				}
				// Applied for real: exit 0, the live object has policy Cluster, and CCE's annotation
				// is left as it was.
				r = elbfix(t, append([]string{"svc", "orders", "-n", ns}, vpcIPVSFacts...)...)
				wantCode(t, r, 0)
				after := getService(t, ns, "orders")
				if after.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
					t.Errorf("after apply, externalTrafficPolicy %q, want Cluster\n%s", after.Spec.ExternalTrafficPolicy, r)
				}
				if got := after.Annotations[annPassThrough]; got != "onlyLocal" {
					t.Errorf("after apply, pass-through %q, want onlyLocal untouched", got)
				}
				// Nothing left to do.
				r = elbfix(t, append([]string{"svc", "orders", "-n", ns, "--dry-run"}, vpcIPVSFacts...)...)
				wantCode(t, r, 0)
				return
			}

			// pass-through "true": no patch clears the hairpin.
			if sp.Fix != nil || sp.Changed {
				t.Errorf("want no fix (pass-through \"true\" keeps traffic on the ELB whatever the policy), got %s", prettyJSON(sp.Fix))
			}
			if sp.NoFix == nil {
				t.Fatalf("want noFix for dedicated-elb-hairpin, got none:\n%s", r.Stdout)
			}
			if got := strings.Join(sp.NoFix.Findings, ","); got != plan.FindingDedicatedELBHairpin {
				t.Errorf("noFix.findings %q, want [dedicated-elb-hairpin]", sp.NoFix.Findings)
			}
			dns := "orders." + ns + ".svc:8080"
			if len(sp.NoFix.Addresses) == 0 || sp.NoFix.Addresses[0] != dns {
				t.Errorf("noFix.addresses %q, want %q first", sp.NoFix.Addresses, dns)
			}
			if sp.NoFix.Reason == "" || !strings.Contains(sp.NoFix.Remedy, dns) {
				t.Errorf("noFix must say why and give the DNS name as the remedy: %s", prettyJSON(sp.NoFix))
			}
			// Both dry run and apply exit 1 (CI notices), say why in words, and write nothing.
			for _, mode := range []struct {
				name string
				args []string
			}{{"dry run", []string{"--dry-run"}}, {"apply", nil}} {
				r := elbfix(t, append(append([]string{"svc", "orders", "-n", ns}, mode.args...), vpcIPVSFacts...)...)
				if r.Code != 1 {
					t.Errorf("%s: want exit 1 (an error finding no patch clears), got %s", mode.name, r)
				}
				for _, want := range []string{"No fix for dedicated-elb-hairpin", dns} {
					if !strings.Contains(r.Stdout, want) {
						t.Errorf("%s: output lacks %q:\n%s", mode.name, want, r)
					}
				}
				if strings.Contains(r.Stdout, " patched") {
					t.Errorf("%s: nothing is patched, but the output says so:\n%s", mode.name, r)
				}
				if after := getService(t, ns, "orders"); after.ResourceVersion != before.ResourceVersion {
					t.Errorf("%s wrote to the Service: resourceVersion %s → %s", mode.name, before.ResourceVersion, after.ResourceVersion)
				}
			}
		})
	}
}

// TestVerdictsSharedELBCellsAreDerived: the vendor table has no row for a shared ELB, so the
// short-cut cells are derived, each naming its rule and no edition (the counterpart of the
// vendor cells of a dedicated ELB above).
func TestVerdictsSharedELBCellsAreDerived(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	r := elbfix(t, append([]string{"svc", "nginx", "-n", ns, "-o", "json", "--dry-run"}, vpcIPVSFacts...)...)
	wantCode(t, r, 1)
	sp := servicePlan(t, decodePlan(t, r), ns, "nginx")
	f, ok := findingByID(sp.Findings, "incluster-elb-shortcut")
	if !ok || len(f.Unreachable) == 0 {
		t.Fatalf("want incluster-elb-shortcut with cells, got %s", prettyJSON(sp.Findings))
	}
	for _, c := range f.Unreachable {
		if c.Source != plan.CellDerived || c.Rule != "shortcut-own-nodeport" || c.Edition != "" {
			t.Errorf("short-cut cell %s→%s: want source derived, rule shortcut-own-nodeport, no edition; got %+v", c.Client, c.Target, c)
		}
	}
	if _, ok := findingByID(sp.Findings, plan.FindingDedicatedELBHairpin); ok {
		t.Errorf("a plain shared ELB has no hairpin: %v", findingIDs(sp.Findings))
	}
}

// TestVerdictsForcedPassThroughRefused: pass-through does not help a dedicated ELB (vendor doc),
// so forcing it is an error (exit 2, one line naming the Service), before anything is written.
func TestVerdictsForcedPassThroughRefused(t *testing.T) {
	ns := namespace(t)
	before := createService(t, dedicatedService(t, ns, ""))
	for _, mode := range [][]string{{"--dry-run"}, nil, {"-o", "json", "--dry-run"}} {
		t.Run(strings.Join(append([]string{"strategy pass-through"}, mode...), " "), func(t *testing.T) {
			args := append(append([]string{"svc", "orders", "-n", ns, "--strategy", "pass-through"}, mode...), vpcIPVSFacts...)
			r := elbfix(t, args...)
			wantCode(t, r, 2)
			wantOneLineError(t, r, "--strategy pass-through cannot work because")
			if !strings.Contains(r.Stderr, ns+"/orders") {
				t.Errorf("the refusal must name the Service %s/orders: %s", ns, r)
			}
			if r.Stdout != "" {
				t.Errorf("a refusal prints no data on stdout: %s", r)
			}
			if after := getService(t, ns, "orders"); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("a refused strategy wrote: resourceVersion %s → %s", before.ResourceVersion, after.ResourceVersion)
			}
		})
	}
}

// sharedPair is a hand-written file: two Services of namespace shop on one shared ELB (same
// kubernetes.io/elb.id), one Local and one Cluster, neither with pass-through. The comments and
// flow style must come back byte for byte.
const sharedPair = `# Two Services on one shared ELB.
apiVersion: v1
kind: Service
metadata:
  name: front
  namespace: shop
  annotations:
    kubernetes.io/elb.class: union
    kubernetes.io/elb.id: 0b8c6a1e-7d2f-4e3a-9c5b-1f0e2d3c4b5a   # existing ELB
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local   # keep client IPs
  selector: {app: front}
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Service
metadata:
  name: api
  namespace: shop
  annotations:
    kubernetes.io/elb.class: union
    kubernetes.io/elb.id: 0b8c6a1e-7d2f-4e3a-9c5b-1f0e2d3c4b5a
spec:
  type: LoadBalancer
  externalTrafficPolicy: Cluster
  selector: {app: api}
  ports:
  - port: 443
    targetPort: 8443
`

// TestVerdictsOfflineSharedELBPair: offline, the Services of one file that share an elb.id are
// planned together. In IPVS mode the Local one's pass-through fix carries the other (alsoPatch)
// and -o manifest prints both with the annotation, every other byte kept; in iptables mode the
// rule does not apply and only the Local one is patched.
func TestVerdictsOfflineSharedELBPair(t *testing.T) {
	file := filepath.Join(t.TempDir(), "pair.yaml")
	if err := os.WriteFile(file, []byte(sharedPair), 0o600); err != nil {
		t.Fatal(err)
	}
	// Offline never contacts a cluster.
	env := []string{"KUBECONFIG=/nonexistent"}
	const (
		frontID = "    kubernetes.io/elb.id: 0b8c6a1e-7d2f-4e3a-9c5b-1f0e2d3c4b5a   # existing ELB\n"
		apiID   = "    kubernetes.io/elb.id: 0b8c6a1e-7d2f-4e3a-9c5b-1f0e2d3c4b5a\n"
		added   = "    kubernetes.io/elb.pass-through: \"true\"\n"
	)
	withFront := strings.Replace(sharedPair, frontID, frontID+added, 1)
	withBoth := strings.Replace(withFront, apiID, apiID+added, 1)
	for _, tc := range []struct {
		proxyMode    string
		wantManifest string
		wantAlso     []string // alsoPatch of front, as namespace/name
	}{
		{"ipvs", withBoth, []string{"shop/api"}},
		{"iptables", withFront, nil},
	} {
		t.Run(tc.proxyMode, func(t *testing.T) {
			facts := []string{"--cluster-version", "v1.25.5-r0", "--proxy-mode", tc.proxyMode, "--network-model", "vpc"}
			r := kubectl(t, env, "", append([]string{"elbfix", "svc", "-f", file, "-o", "manifest"}, facts...)...)
			wantCode(t, r, 0)
			if r.Stdout != tc.wantManifest {
				t.Errorf("-o manifest: want the file with only the pass-through annotation added.\n--- got:\n%s\n--- want:\n%s", r.Stdout, tc.wantManifest)
			}

			r = kubectl(t, env, "", append([]string{"elbfix", "svc", "-f", file, "-o", "json", "--dry-run"}, facts...)...)
			wantCode(t, r, 1)
			doc := decodePlan(t, r)
			front, api := servicePlan(t, doc, "shop", "front"), servicePlan(t, doc, "shop", "api")
			if front.Fix == nil || front.Fix.Strategy != plan.StrategyPassThrough || !front.Changed {
				t.Fatalf("front: want the pass-through fix, got %s", prettyJSON(front.Fix))
			}
			var also []string
			for _, a := range front.Fix.AlsoPatch {
				also = append(also, a.Namespace+"/"+a.Name)
				var p bytes.Buffer
				if err := json.Compact(&p, a.Patch); err != nil || p.String() != passThroughPatch {
					t.Errorf("alsoPatch %s/%s: patch %s, want %s", a.Namespace, a.Name, a.Patch, passThroughPatch)
				}
			}
			if strings.Join(also, ",") != strings.Join(tc.wantAlso, ",") {
				t.Errorf("front alsoPatch %v, want %v", also, tc.wantAlso)
			}
			if api.Fix != nil || api.Changed || len(api.Findings) != 0 {
				t.Errorf("api (policy Cluster) needs nothing of its own: %s", prettyJSON(api))
			}
		})
	}
}

// TestVerdictsNamespacedUserSameELBUnchecked: a user who may read Services in one namespace
// only cannot list the other Services of an ELB cluster-wide. svc still plans (with the
// namespace's own Services), and says what it could not check: evidence sameELBServices "not
// checked: ..." and a note of source evidence. The admin, who can list everything, gets neither,
// and its fix also patches the peer the namespaced user could not see.
func TestVerdictsNamespacedUserSameELBUnchecked(t *testing.T) {
	ns, elsewhere := namespace(t), namespace(t)
	elbID := "9e4d2c1b-0a8f-4b7e-8d6c-" + ns
	createService(t, elbService(ns, "web", elbID, "", "192.168.10.80"))
	createService(t, elbService(ns, "web-peer", elbID, "", "192.168.10.80"))
	createService(t, elbService(elsewhere, "hidden", elbID, "", "192.168.10.80"))
	args := []string{"elbfix", "svc", "web", "-n", ns, "--dry-run", "-o", "json", "--proxy-mode", "ipvs"}

	for _, tc := range []struct {
		name       string
		kubeconfig func(t *testing.T) string
		unchecked  bool
		wantAlso   []string
	}{
		{"namespaced user", func(t *testing.T) string { return namespaceUser(t, ns) }, true, []string{ns + "/web-peer"}},
		{"admin", func(*testing.T) string { return kc.AdminKubeconfig }, false, []string{elsewhere + "/hidden", ns + "/web-peer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kubectl(t, []string{"KUBECONFIG=" + tc.kubeconfig(t)}, "", args...)
			wantCode(t, r, 1) // shared ELB, Local, pass-through off: a change is needed
			doc := decodePlan(t, r)
			var evidence []plan.Evidence
			for _, e := range doc.Cluster.Evidence {
				if e.Fact == "sameELBServices" {
					evidence = append(evidence, e)
				}
			}
			sp := servicePlan(t, doc, ns, "web")
			var notes []plan.Note
			for _, n := range sp.Notes {
				if n.Source == plan.SourceEvidence && strings.Contains(n.Message, "not checked") {
					notes = append(notes, n)
				}
			}
			if tc.unchecked {
				if len(evidence) == 0 || !strings.HasPrefix(evidence[0].Source, "not checked:") {
					t.Errorf("cluster.evidence lacks sameELBServices with a source starting \"not checked:\": %s", prettyJSON(doc.Cluster.Evidence))
				}
				if len(notes) == 0 {
					t.Errorf("the Service's notes lack an evidence note saying what was not checked: %s", prettyJSON(sp.Notes))
				}
			} else if len(evidence) != 0 || len(notes) != 0 {
				t.Errorf("the admin can list every Service, yet the plan says something was not checked: evidence %s notes %s", prettyJSON(evidence), prettyJSON(notes))
			}
			if sp.Fix == nil || sp.Fix.Strategy != plan.StrategyPassThrough {
				t.Fatalf("want the pass-through fix, got %s", prettyJSON(sp.Fix))
			}
			var also []string
			for _, a := range sp.Fix.AlsoPatch {
				also = append(also, a.Namespace+"/"+a.Name)
			}
			sort.Strings(also)
			sort.Strings(tc.wantAlso) // the namespaces' suffixes are random
			if strings.Join(also, ",") != strings.Join(tc.wantAlso, ",") {
				t.Errorf("alsoPatch %v, want %v", also, tc.wantAlso)
			}
		})
	}
}

// TestVerdictsOfflineEvents: offline, an Event in the input is read for the Service it names:
// the repo's example quota Event gives the example Service elb-member-quota-exceeded; without
// the Event file it does not.
func TestVerdictsOfflineEvents(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  bool
	}{
		{"with the Event", []string{"service-shared-elb-local.yaml", "event-member-quota.yaml"}, true},
		{"without the Event", []string{"service-shared-elb-local.yaml"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tc.files {
				b, err := os.ReadFile(filepath.Join("..", "..", "examples", f))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r := kubectl(t, []string{"KUBECONFIG=/nonexistent"}, "", append([]string{"elbfix", "svc", "-f", dir, "-o", "json", "--dry-run", "--cluster-version", "v1.25.5-r0"}, vpcIPVSFacts...)...)
			wantCode(t, r, 1) // the Service needs pass-through either way
			doc := decodePlan(t, r)
			if len(doc.Services) != 1 {
				t.Fatalf("want one Service (the Event is not one), got %d: %s", len(doc.Services), r.Stdout)
			}
			sp := servicePlan(t, doc, "default", "nginx")
			f, got := findingByID(sp.Findings, "elb-member-quota-exceeded")
			if got != tc.want {
				t.Fatalf("elb-member-quota-exceeded present=%v, want %v (findings %v)", got, tc.want, findingIDs(sp.Findings))
			}
			if got && (f.Severity != plan.SeverityWarning || !strings.Contains(f.Message, "members_per_pool")) {
				t.Errorf("quota finding: want a warning quoting members_per_pool, got %+v", f)
			}
		})
	}
}
