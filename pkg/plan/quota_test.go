package plan

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
)

func readEvent(t testing.TB, name string) corev1.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var e corev1.Event
	if err := yaml.UnmarshalStrict(b, &e); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return e
}

var quotaNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// ev builds an Event about the test Service shop/web.
func ev(msg string, last time.Time, count int32) corev1.Event {
	e := corev1.Event{
		InvolvedObject: corev1.ObjectReference{Kind: "Service", Namespace: "shop", Name: "web"},
		Reason:         "UpdateLoadBalancerFailed", Type: corev1.EventTypeWarning, Message: msg, Count: count,
		Source: corev1.EventSource{Component: "hws-cloudprovider"},
	}
	if !last.IsZero() {
		e.LastTimestamp = metav1.NewTime(last)
	}
	return e
}

const quotaMsg = `Details:Update member of listener/pool(a/b) error: Failed to create member :{"error_msg":"Quota exceeded for resources: members_per_pool","error_code":"ELB.8905","request_id":"e0"},status code: 409`

func TestMemberQuota(t *testing.T) {
	const quota = FindingELBMemberQuotaExceeded
	hourAgo := quotaNow.Add(-time.Hour)
	tests := []struct {
		name      string
		svc       svcSpec
		col       [2]string
		events    []corev1.Event
		realNow   bool // Input.Now left zero (else quotaNow)
		nodes     int
		endpoints int
		strategy  string

		finding     bool // elb-member-quota-exceeded among the findings
		msgHas      []string
		msgLacks    []string
		fix         string // "" no check
		costHas     string // "" = no member cost
		residual    bool   // elb-member-quota-exceeded in the residual
		residualHas string
	}{
		// Events.
		{name: "event from hws-cloudprovider quoting members_per_pool", svc: svcSpec{ann: union, cluster: true}, col: vIPVS, events: []corev1.Event{ev(quotaMsg, hourAgo, 12)},
			finding: true, msgHas: []string{
				"recent Event UpdateLoadBalancerFailed from hws-cloudprovider (count 12, last 2026-03-04T11:00:00Z): \u201cQuota exceeded for resources: members_per_pool\u201d (ELB.8905)",
				"adding the new ones before removing the old ones", "changes members in place", "half old, half new",
				"correct protocol and port", "check the members' health check result", "raise the members_per_pool quota", "default 500 members per pool"}},
		{name: "ELB.8905 only, any case, any source", svc: svcSpec{ann: union, cluster: true}, col: vIPVS,
			events: []corev1.Event{func() corev1.Event {
				e := ev("error code elb.8905: quota", hourAgo, 0)
				e.Source.Component, e.ReportingController = "", "my-controller"
				return e
			}()},
			finding: true, msgHas: []string{"from my-controller (count 1,", "\u201cerror code elb.8905: quota\u201d"}},
		{name: "MEMBERS_PER_POOL upper case", svc: svcSpec{ann: union, cluster: true}, col: vIPVS, events: []corev1.Event{ev("MEMBERS_PER_POOL exceeded", hourAgo, 1)},
			finding: true},
		{name: "another error: no finding", svc: svcSpec{ann: union, cluster: true}, col: vIPVS, events: []corev1.Event{ev(`{"error_msg":"Quota exceeded for resources: listeners","error_code":"ELB.8902"}`, hourAgo, 3)}},
		{name: "older than 24h: not recent", svc: svcSpec{ann: union, cluster: true}, col: vIPVS, events: []corev1.Event{ev(quotaMsg, quotaNow.Add(-25*time.Hour), 3)}},
		{name: "just inside 24h", svc: svcSpec{ann: union, cluster: true}, col: vIPVS, events: []corev1.Event{ev(quotaMsg, quotaNow.Add(-23*time.Hour), 3)}, finding: true},
		{name: "old lastTimestamp but a recent series observation", svc: svcSpec{ann: union, cluster: true}, col: vIPVS,
			events: []corev1.Event{func() corev1.Event {
				e := ev(quotaMsg, quotaNow.Add(-48*time.Hour), 2)
				e.Series = &corev1.EventSeries{Count: 40, LastObservedTime: metav1.NewMicroTime(hourAgo)}
				return e
			}()},
			finding: true, msgHas: []string{"(count 40, last 2026-03-04T11:00:00Z)"}},
		{name: "eventTime only", svc: svcSpec{ann: union, cluster: true}, col: vIPVS,
			events: []corev1.Event{func() corev1.Event {
				e := ev(quotaMsg, time.Time{}, 0)
				e.EventTime = metav1.NewMicroTime(quotaNow.Add(-2 * time.Hour))
				return e
			}()},
			finding: true, msgHas: []string{"last 2026-03-04T10:00:00Z"}},
		{name: "no time at all: counts, time unknown", svc: svcSpec{ann: union, cluster: true}, col: vIPVS, events: []corev1.Event{ev(quotaMsg, time.Time{}, 5)},
			finding: true, msgHas: []string{"(count 5, time unknown)"}},
		{name: "Now zero means the current time", svc: svcSpec{ann: union, cluster: true}, col: vIPVS, realNow: true,
			events: []corev1.Event{ev(quotaMsg, time.Now().Add(-time.Minute), 1), ev(quotaMsg, time.Now().Add(-30*time.Hour), 1)}, finding: true},
		{name: "event about another Service: skipped", svc: svcSpec{ann: union, cluster: true}, col: vIPVS,
			events: []corev1.Event{func() corev1.Event { e := ev(quotaMsg, hourAgo, 1); e.InvolvedObject.Name = "api"; return e }()}},
		{name: "event in another namespace: skipped", svc: svcSpec{ann: union, cluster: true}, col: vIPVS,
			events: []corev1.Event{func() corev1.Event { e := ev(quotaMsg, hourAgo, 1); e.InvolvedObject.Namespace = "other"; return e }()}},
		{name: "event about a Pod: skipped", svc: svcSpec{ann: union, cluster: true}, col: vIPVS,
			events: []corev1.Event{func() corev1.Event { e := ev(quotaMsg, hourAgo, 1); e.InvolvedObject.Kind = "Pod"; return e }()}},
		{name: "several events: counted, the latest quoted", svc: svcSpec{ann: union, cluster: true}, col: vIPVS,
			events: []corev1.Event{ev(quotaMsg, quotaNow.Add(-3*time.Hour), 4), ev("x", hourAgo, 1), func() corev1.Event {
				e := ev("members_per_pool again", quotaNow.Add(-30*time.Minute), 2)
				e.Reason = "SyncLoadBalancerFailed"
				return e
			}()},
			finding: true, msgHas: []string{"2 recent member-quota Events (6 occurrences); the latest: Event SyncLoadBalancerFailed from hws-cloudprovider (count 2, last 2026-03-04T11:30:00Z)"}},
		{name: "events finding holds after the fix too (residual)", svc: svcSpec{ann: union}, col: vIPVS, events: []corev1.Event{ev(quotaMsg, hourAgo, 1)},
			finding: true, fix: StrategyPassThrough, residual: true},

		// Member counts before a fix.
		{name: "Local → Cluster with 450 nodes: a cost, no finding", svc: svcSpec{ann: performance}, col: vIPT, nodes: 450, endpoints: 3,
			fix: StrategyCluster, costHas: "the fix makes 450 nodes members of each listener's pool (externalTrafficPolicy Cluster: every node is a member on CCE Standard); the default quota is 500 members per pool (90% of it)"},
		{name: "Local → Cluster with 400 nodes: the 80% threshold", svc: svcSpec{ann: performance}, col: vIPT, nodes: 400, endpoints: 3,
			fix: StrategyCluster, costHas: "(80% of it)"},
		{name: "Local → Cluster with 399 nodes: nothing", svc: svcSpec{ann: performance}, col: vIPT, nodes: 399, endpoints: 3, fix: StrategyCluster},
		{name: "Local → Cluster with 520 nodes: cost and residual warning", svc: svcSpec{ann: performance}, col: vIPT, nodes: 520, endpoints: 3,
			fix: StrategyCluster, costHas: "over it, CCE's update fails with ELB.8905", residual: true,
			residualHas: "the fix makes 520 nodes members of each listener's pool (externalTrafficPolicy Cluster: every node is a member on CCE Standard); the default quota is 500 members per pool"},
		{name: "endpoints unknown: the cost still shows", svc: svcSpec{ann: performance}, col: vIPT, nodes: 450, endpoints: -1, fix: StrategyCluster, costHas: "the fix makes 450 nodes"},
		{name: "node count unknown: nothing", svc: svcSpec{ann: performance}, col: vIPT, nodes: 0, endpoints: 3, fix: StrategyCluster},
		{name: "pass-through fix does not change members: no cost", svc: svcSpec{ann: union}, col: vIPT, nodes: 900, endpoints: 3, fix: StrategyPassThrough},
		{name: "already Cluster with 600 nodes: current finding", svc: svcSpec{ann: union, cluster: true}, col: vIPT, nodes: 600, endpoints: 3,
			finding: true, msgHas: []string{"each listener's pool has 600 nodes as members (externalTrafficPolicy Cluster: every node is a member on CCE Standard): at or over the default quota of 500"}},
		{name: "already Cluster with 499 nodes: nothing", svc: svcSpec{ann: union, cluster: true}, col: vIPT, nodes: 499, endpoints: 3},
		{name: "Local with 700 endpoints on 600 nodes: current finding, up to 600", svc: svcSpec{ann: union}, col: vIPT, nodes: 600, endpoints: 700,
			finding: true, fix: StrategyPassThrough, residual: true, msgHas: []string{"up to 600 nodes as members (externalTrafficPolicy Local: only the nodes that run one of the 700 endpoints, on CCE Standard (inferred))"}},
		{name: "Local → Cluster, 600 endpoints on 900 nodes: the fix makes 900", svc: svcSpec{ann: performance}, col: vIPT, nodes: 900, endpoints: 600,
			finding: true, fix: StrategyCluster, residual: true, costHas: "the fix makes 900 nodes", msgHas: []string{"up to 600 nodes as members"}, residualHas: "the fix makes 900 nodes"},
		{name: "Turbo dedicated: pods are members, whatever the policy (no failing cell: no fix)", svc: svcSpec{ann: performance}, col: [2]string{"turbo", "ipvs"}, nodes: 900, endpoints: 550, strategy: StrategyCluster,
			finding: true, msgHas: []string{"each listener's pool has 550 pods as members (CCE Turbo with a dedicated ELB: the Service's pods are the members, whatever the policy)"}},
		{name: "Turbo shared Local → Cluster: nodes", svc: svcSpec{ann: union}, col: [2]string{"turbo", "ipvs"}, nodes: 450, endpoints: 2, strategy: StrategyCluster,
			fix: StrategyCluster, costHas: "every node is a member on a shared ELB"},
		{name: "dedicated, network unknown: qualified", svc: svcSpec{ann: performance}, col: [2]string{"unknown", "iptables"}, nodes: 450, endpoints: 2,
			fix: StrategyCluster, costHas: "on CCE Turbo a dedicated ELB's members are the pods instead"},
		{name: "NodePort Service: no ELB pool", svc: svcSpec{typ: corev1.ServiceTypeNodePort, cluster: true}, col: vIPT, nodes: 900, endpoints: 3},
		{name: "DNAT Service: no ELB pool", svc: svcSpec{ann: dnatAnn, cluster: true}, col: vIPT, nodes: 900, endpoints: 3},
		{name: "events and a member count: one finding", svc: svcSpec{ann: union, cluster: true}, col: vIPT, nodes: 600, endpoints: 3, events: []corev1.Event{ev(quotaMsg, hourAgo, 1)},
			finding: true, msgHas: []string{"recent Event UpdateLoadBalancerFailed", ". Also, each listener's pool has 600 nodes"}},
	}
	m := matrix.MustDefault()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := quotaNow
			if tt.realNow {
				now = time.Time{}
			}
			in := Input{Cluster: cluster(tt.col[0], tt.col[1], v125), Service: mk(tt.svc), Strategy: tt.strategy, BackendsHostNetwork: &boolT,
				Events: tt.events, Now: now, NodeCount: tt.nodes, EndpointCount: tt.endpoints}
			sp, err := Decide(in, m)
			if err != nil {
				t.Fatal(err)
			}
			var n int
			for _, f := range sp.Findings {
				if f.ID == quota {
					n++
				}
			}
			if n > 1 {
				t.Fatalf("%d %s findings", n, quota)
			}
			f := find(sp.Findings, quota)
			if (f != nil) != tt.finding {
				t.Fatalf("finding = %+v, want %v (all: %v)", f, tt.finding, ids(sp.Findings))
			}
			if f != nil {
				if f.Severity != SeverityWarning {
					t.Errorf("severity %s", f.Severity)
				}
				for _, sub := range tt.msgHas {
					if !strings.Contains(f.Message, sub) {
						t.Errorf("message lacks %q:\n%s", sub, f.Message)
					}
				}
			}
			if tt.fix == "" {
				return
			}
			if sp.Fix == nil || sp.Fix.Strategy != tt.fix {
				t.Fatalf("fix = %+v, want %s", sp.Fix, tt.fix)
			}
			var memberCosts []string
			for _, c := range sp.Fix.Costs {
				if strings.Contains(c, "members of each listener's pool") {
					memberCosts = append(memberCosts, c)
				}
			}
			switch {
			case tt.costHas == "" && len(memberCosts) > 0:
				t.Errorf("unexpected member cost %q", memberCosts)
			case tt.costHas != "" && (len(memberCosts) != 1 || !strings.Contains(memberCosts[0], tt.costHas)):
				t.Errorf("member costs %q, want one containing %q", memberCosts, tt.costHas)
			}
			r := find(sp.Fix.Residual, quota)
			if (r != nil) != tt.residual {
				t.Fatalf("residual %s = %+v, want %v", quota, r, tt.residual)
			}
			if r != nil && tt.residualHas != "" && !strings.Contains(r.Message, tt.residualHas) {
				t.Errorf("residual lacks %q:\n%s", tt.residualHas, r.Message)
			}
		})
	}
}

// The example Event of the vendor page (examples/, copied to testdata) matches the example Service.
func TestMemberQuotaExampleEvent(t *testing.T) {
	e := readEvent(t, "event-member-quota.yaml")
	svc := readService(t, "service-shared-elb-local.yaml")
	sp, err := Decide(Input{Cluster: cluster("vpc", "ipvs", v125), Service: svc, Events: []corev1.Event{e}, Now: quotaNow}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := find(sp.Findings, FindingELBMemberQuotaExceeded)
	if f == nil || !strings.Contains(f.Message, "recent Event UpdateLoadBalancerFailed from hws-cloudprovider (count 12, time unknown): \u201cQuota exceeded for resources: members_per_pool\u201d (ELB.8905)") {
		t.Fatalf("finding = %+v", f)
	}
	// With the Service's uid set, an Event for another object of the same name is not this one's.
	svc.UID = "u-1"
	e.InvolvedObject.UID = "u-2"
	sp, _ = Decide(Input{Cluster: cluster("vpc", "ipvs", v125), Service: svc, Events: []corev1.Event{e}, Now: quotaNow}, nil)
	if find(sp.Findings, FindingELBMemberQuotaExceeded) != nil {
		t.Error("an Event for another uid counted")
	}
	e.InvolvedObject.UID = "u-1"
	sp, _ = Decide(Input{Cluster: cluster("vpc", "ipvs", v125), Service: svc, Events: []corev1.Event{e}, Now: quotaNow}, nil)
	if find(sp.Findings, FindingELBMemberQuotaExceeded) == nil {
		t.Error("the Service's own Event did not count")
	}
}

func TestQuoteEventError(t *testing.T) {
	for in, want := range map[string]string{
		quotaMsg:                           "\u201cQuota exceeded for resources: members_per_pool\u201d (ELB.8905)",
		"members_per_pool  is\n  full":     "\u201cmembers_per_pool is full\u201d",
		strings.Repeat("é", 300):           "\u201c" + strings.Repeat("é", 200) + "\u2026\u201d",
		`{"error_msg":"members_per_pool"}`: "\u201cmembers_per_pool\u201d",
	} {
		if got := quoteEventError(in); got != want {
			t.Errorf("quoteEventError(%.40q) = %q, want %q", in, got, want)
		}
	}
	if !reflect.DeepEqual(eventLast(&corev1.Event{}), time.Time{}) {
		t.Error("an Event without times has a time")
	}
}
