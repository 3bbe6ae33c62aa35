package engine

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

func TestApplyIgnores(t *testing.T) {
	base := func() plan.ServicePlan {
		return plan.ServicePlan{Findings: []plan.Finding{
			{ID: "incluster-elb-shortcut", Severity: plan.SeverityError},
			{ID: "nodeport-local-unreachable", Severity: plan.SeverityWarning},
		}}
	}
	for _, tc := range []struct {
		name        string
		annotation  string
		flags       []string
		wantIgnored map[string]string
		wantInvalid bool
	}{
		{name: "nothing", wantIgnored: map[string]string{}},
		{name: "one with reason", annotation: "incluster-elb-shortcut: callers use DNS",
			wantIgnored: map[string]string{"incluster-elb-shortcut": "callers use DNS"}},
		{name: "two with reason", annotation: "incluster-elb-shortcut, nodeport-local-unreachable : known",
			wantIgnored: map[string]string{"incluster-elb-shortcut": "known", "nodeport-local-unreachable": "known"}},
		{name: "no reason", annotation: "incluster-elb-shortcut", wantIgnored: map[string]string{}, wantInvalid: true},
		{name: "empty reason", annotation: "incluster-elb-shortcut:  ", wantIgnored: map[string]string{}, wantInvalid: true},
		{name: "unknown id", annotation: "no-such-thing: because", wantIgnored: map[string]string{}, wantInvalid: true},
		{name: "flag", flags: []string{"nodeport-local-unreachable"},
			wantIgnored: map[string]string{"nodeport-local-unreachable": "--ignore nodeport-local-unreachable"}},
		{name: "flag ignores the invalid annotation finding too", annotation: "x", flags: []string{"annotation-invalid"},
			wantIgnored: map[string]string{"annotation-invalid": "--ignore annotation-invalid"}, wantInvalid: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sp := base()
			applyIgnores(&sp, tc.annotation, tc.flags)
			got := map[string]string{}
			invalid := false
			for _, f := range sp.Findings {
				if f.Ignored != "" {
					got[f.ID] = f.Ignored
				}
				invalid = invalid || f.ID == "annotation-invalid"
			}
			if len(got) != len(tc.wantIgnored) {
				t.Fatalf("ignored %v, want %v", got, tc.wantIgnored)
			}
			for id, reason := range tc.wantIgnored {
				if got[id] != reason {
					t.Errorf("%s ignored with %q, want %q", id, got[id], reason)
				}
			}
			if invalid != tc.wantInvalid {
				t.Errorf("annotation-invalid finding: %v, want %v", invalid, tc.wantInvalid)
			}
		})
	}
}

func TestFailing(t *testing.T) {
	warn := &Planned{Plan: plan.ServicePlan{Findings: []plan.Finding{{ID: "x", Severity: plan.SeverityWarning}}}}
	ignoredErr := &Planned{Plan: plan.ServicePlan{Findings: []plan.Finding{{ID: "y", Severity: plan.SeverityError, Ignored: "r"}}}}
	for _, tc := range []struct {
		failOn string
		all    []*Planned
		want   bool
	}{
		{"error", []*Planned{warn}, false},
		{"warning", []*Planned{warn}, true},
		{"info", []*Planned{warn}, true},
		{"never", []*Planned{warn}, false},
		{"error", []*Planned{ignoredErr}, false},
		{"info", []*Planned{ignoredErr}, false},
		{"error", nil, false},
	} {
		if got := Failing(tc.all, tc.failOn); got != tc.want {
			t.Errorf("Failing(--fail-on %s) = %v, want %v", tc.failOn, got, tc.want)
		}
	}
}

// BenchmarkPlanOne is the planning of one Service as svc and scan do it: the decision, the
// ignore rules and the strategic merge patch.
func BenchmarkPlanOne(b *testing.B) {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "nginx", Annotations: map[string]string{
			"kubernetes.io/elb.class": "union", "kubernetes.io/elb.autocreate": `{"type":"public","name":"james"}`}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector: map[string]string{"app": "nginx"}, Ports: []corev1.ServicePort{{Port: 80}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.168.10.36"}}}},
	}
	in := plan.Input{Cluster: plan.Cluster{NetworkModel: "unknown", ProxyMode: "unknown", Version: "v1.25.5-r0"}, Service: svc, Strategy: plan.StrategyAuto, EndpointCount: -1}
	b.ReportAllocs()
	for b.Loop() {
		p, err := planOne(in, nil)
		if err != nil || !p.Plan.Changed {
			b.Fatalf("plan: %v %+v", err, p)
		}
	}
}

// backendIndex keeps only labels and hostNetwork of each pod, and answers for the pods a Local
// Service selects: all on hostNetwork, not all, or unknown (none found, or not Local).
func TestBackendIndexHostNetwork(t *testing.T) {
	pod := func(ns, app string, host bool) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Labels: map[string]string{"app": app}}, Spec: corev1.PodSpec{HostNetwork: host}}
	}
	idx := backendIndex{}
	for _, p := range []*corev1.Pod{pod("a", "web", true), pod("a", "web", true), pod("a", "api", true), pod("a", "api", false), pod("b", "web", false)} {
		idx.add(p.Namespace, slimPod(p))
	}
	svc := func(ns, app string, local bool) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": app}}}
		if local {
			s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		}
		return s
	}
	for _, tc := range []struct {
		svc  *corev1.Service
		want string
	}{
		{svc("a", "web", true), "true"}, {svc("a", "api", true), "false"}, {svc("b", "web", true), "false"},
		{svc("a", "db", true), "unknown"}, {svc("a", "web", false), "unknown"},
	} {
		got := "unknown"
		if v := idx.hostNetwork(tc.svc); v != nil {
			got = fmt.Sprint(*v)
		}
		if got != tc.want {
			t.Errorf("%s/%v: %s, want %s", tc.svc.Namespace, tc.svc.Spec.Selector, got, tc.want)
		}
	}
}
