package plan

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const webhookRefusal = `admission webhook "cce-elb.webhook" denied the request: changing kubernetes.io/elb.* annotations is not allowed`

func TestFallback(t *testing.T) {
	tests := []struct {
		name     string
		svc      svcSpec
		col      [2]string
		version  string
		strategy string
		peers    []*corev1.Service
		refusal  string

		ok       bool
		from     string // the fix Decide chose
		to       string
		reason   string // exact reason
		changed  bool
		residual []string
	}{
		{name: "auto pass-through refused: Cluster", svc: svcSpec{ann: union}, col: vIPVS, version: v125, refusal: webhookRefusal + "\n",
			ok: true, from: StrategyPassThrough, to: StrategyCluster, changed: true, residual: []string{},
			reason: "the server refused pass-through: " + webhookRefusal + "; falling back to externalTrafficPolicy: Cluster, which lets kube-proxy send in-cluster traffic to any endpoint"},
		{name: "auto Cluster refused on Turbo: pass-through, which clears the host cells", svc: svcSpec{ann: union}, col: [2]string{"turbo", "ipvs"}, version: v125, refusal: "denied: policy",
			ok: true, from: StrategyCluster, to: StrategyPassThrough, changed: true, residual: []string{FindingTurboLocalNeedsHostNetwork + "/error", FindingNodePortLocalUnreachable + "/warning"},
			reason: "the server refused externalTrafficPolicy: Cluster: denied: policy; falling back to pass-through, which sends in-cluster traffic for the ELB address through the ELB"},
		{name: "auto Cluster refused on a dedicated ELB: pass-through does not help, no fallback", svc: svcSpec{ann: performance}, col: vIPT, version: v125, refusal: "denied: policy",
			from: StrategyCluster},
		{name: "empty refusal message", svc: svcSpec{ann: union}, col: vIPVS, version: v125, refusal: "  ",
			ok: true, from: StrategyPassThrough, to: StrategyCluster, changed: true, residual: []string{},
			reason: "the server refused pass-through: (no message); falling back to externalTrafficPolicy: Cluster, which lets kube-proxy send in-cluster traffic to any endpoint"},
		{name: "forced pass-through: no fallback", svc: svcSpec{ann: union}, col: vIPVS, version: v125, strategy: StrategyPassThrough, refusal: webhookRefusal,
			from: StrategyPassThrough},
		{name: "forced cluster: no fallback", svc: svcSpec{ann: union}, col: vIPVS, version: v125, strategy: StrategyCluster, refusal: webhookRefusal,
			from: StrategyCluster},
		{name: "Cluster refused, version unknown: auto may not use pass-through", svc: svcSpec{ann: union}, col: vIPVS, version: "", refusal: "no",
			from: StrategyCluster},
		{name: "Cluster refused, v1.17: auto may not use pass-through", svc: svcSpec{ann: union}, col: vIPVS, version: "v1.17.9-r0", refusal: "no",
			from: StrategyCluster},
		{name: "Cluster refused on a DNAT Service: nothing else", svc: svcSpec{ann: dnatAnn}, col: vIPVS, version: v125, refusal: "no",
			from: StrategyCluster},
		{name: "Cluster refused on a NodePort Service: nothing else", svc: svcSpec{typ: corev1.ServiceTypeNodePort}, col: vIPVS, version: v125, refusal: "no",
			from: StrategyCluster},
		{name: "pass-through refused on a Cluster Service (peers): Cluster changes nothing", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1"), cluster: true}, col: tIPVS, version: v125,
			peers: []*corev1.Service{mk(svcSpec{name: "api", ann: ann(aClass, "union", aID, "elb-1", aPT, "true")})}, refusal: webhookRefusal,
			from: StrategyPassThrough},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Cluster: cluster(tt.col[0], tt.col[1], tt.version), Service: mk(tt.svc), Strategy: tt.strategy, SameELB: tt.peers, BackendsHostNetwork: &boolF}
			sp, err := Decide(in, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sp.Fix == nil || sp.Fix.Strategy != tt.from {
				t.Fatalf("Decide fix = %+v, want %s", sp.Fix, tt.from)
			}
			sp.Findings[0].Ignored = "kept" // the ignore marks survive
			got, ok := Fallback(sp, in, tt.refusal)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (fix %+v)", ok, tt.ok, got.Fix)
			}
			if !ok {
				if got.Fix != sp.Fix {
					t.Error("the plan changed without a fallback")
				}
				return
			}
			if got.Fix.Strategy != tt.to || got.Fix.Reason != tt.reason || got.Changed != tt.changed || got.Applied || got.Fix.Patch != nil {
				t.Errorf("fallback = %+v (changed %v)\nreason %q\nwant   %q", got.Fix, got.Changed, got.Fix.Reason, tt.reason)
			}
			if r := ids(got.Fix.Residual); strings.Join(r, ",") != strings.Join(tt.residual, ",") {
				t.Errorf("residual = %v, want %v", r, tt.residual)
			}
			if got.Findings[0].Ignored != "kept" || len(got.Findings) != len(sp.Findings) {
				t.Errorf("findings changed: %+v", got.Findings)
			}
			if sp.Fix.Strategy != tt.from {
				t.Error("the input plan was modified")
			}
		})
	}
	if _, ok := Fallback(ServicePlan{}, Input{}, "x"); ok {
		t.Error("empty input")
	}
}
