package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// findingCase is one Service (with what else the rule reads) and the verdict svc must give.
type findingCase struct {
	name    string
	svc     *corev1.Service
	facts   []string                                           // override flags
	setup   func(t *testing.T, ns string, svc *corev1.Service) // pods, events, peers
	finding string
	present bool
}

func svcWith(name string, typ corev1.ServiceType, policy corev1.ServiceExternalTrafficPolicy, ip string, ann ...string) *corev1.Service {
	s := elbService("", name, "", "", ip)
	s.Annotations = map[string]string{}
	for i := 0; i+1 < len(ann); i += 2 {
		s.Annotations[ann[i]] = ann[i+1]
	}
	s.Spec.Type, s.Spec.ExternalTrafficPolicy = typ, policy
	if ip == "" {
		s.Status = corev1.ServiceStatus{}
	}
	return s
}

const (
	lb            = corev1.ServiceTypeLoadBalancer
	np            = corev1.ServiceTypeNodePort
	local         = corev1.ServiceExternalTrafficPolicyLocal
	clusterPolicy = corev1.ServiceExternalTrafficPolicyCluster
	aClass        = "kubernetes.io/elb.class"
)

var (
	vpcIPVS     = []string{"--network-model", "vpc", "--proxy-mode", "ipvs"}
	vpcIPTables = []string{"--network-model", "vpc", "--proxy-mode", "iptables"}
	turboIPVS   = []string{"--network-model", "turbo", "--proxy-mode", "ipvs"}
)

func backendPod(name string, hostNetwork bool) func(t *testing.T, ns string, svc *corev1.Service) {
	return func(t *testing.T, ns string, _ *corev1.Service) {
		t.Helper()
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-0", Labels: map[string]string{"app": name}},
			Spec:       corev1.PodSpec{HostNetwork: hostNetwork, Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
		}
		if _, err := kc.CreatePod(context.Background(), pod); err != nil {
			t.Fatal(err)
		}
	}
}

func quotaEvent(svcName, message string) func(t *testing.T, ns string, svc *corev1.Service) {
	return func(t *testing.T, ns string, _ *corev1.Service) {
		t.Helper()
		now := metav1.NewTime(time.Now())
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: svcName + ".quota"},
			InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Service", Name: svcName, Namespace: ns},
			Reason:         "UpdateLoadBalancerFailed", Type: corev1.EventTypeWarning,
			Source: corev1.EventSource{Component: "hws-cloudprovider"}, Count: 12,
			FirstTimestamp: now, LastTimestamp: now, Message: message,
		}
		if _, err := kc.Client.CoreV1().Events(ns).Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// peer creates another Service on the same ELB as the case's Service.
func peer(name, passThrough string) func(t *testing.T, ns string, svc *corev1.Service) {
	return func(t *testing.T, ns string, svc *corev1.Service) {
		t.Helper()
		createService(t, elbService(ns, name, svc.Annotations["kubernetes.io/elb.id"], passThrough, "192.168.10.70"))
	}
}

const quotaMessage = `(combined from similar events):Details:Update member of listener/pool(dc9098a3/539490e1) error: Failed to create member :{"error_msg":"Quota exceeded for resources: members_per_pool","error_code":"ELB.8905"},status code: 409`

// TestFindings: every finding id of the README's finding table, one case where it holds and one
// where it must not, planned by svc against the real API server.
func TestFindings(t *testing.T) {
	const elbID = "5d7f9a1b-3c2e-4f6a-8b0c-1d2e3f4a5b6c"
	cases := []findingCase{
		{"shortcut: shared ELB, Local", svcWith("a", lb, local, "192.168.10.36", aClass, "union"), vpcIPVS, nil, "incluster-elb-shortcut", true},
		{"shortcut: policy Cluster", svcWith("a", lb, clusterPolicy, "192.168.10.36", aClass, "union"), vpcIPVS, nil, "incluster-elb-shortcut", false},
		{"shortcut: pass-through already on", svcWith("a", lb, local, "192.168.10.36", aClass, "union", "kubernetes.io/elb.pass-through", "true"), vpcIPVS, nil, "incluster-elb-shortcut", false},
		{"nodeport: Local", svcWith("a", np, local, ""), vpcIPVS, nil, "nodeport-local-unreachable", true},
		{"nodeport: Cluster", svcWith("a", np, clusterPolicy, ""), vpcIPVS, nil, "nodeport-local-unreachable", false},
		{"hairpin: dedicated ELB", svcWith("a", lb, local, "192.168.0.147", aClass, "performance"), vpcIPTables, nil, "dedicated-elb-hairpin", true},
		{"hairpin: shared ELB keeping client IPs, pass-through on (derived)", svcWith("a", lb, local, "192.168.0.147", aClass, "union", "kubernetes.io/elb.transparent-client-ip", "true", "kubernetes.io/elb.pass-through", "onlyLocal"), vpcIPTables, nil, "dedicated-elb-hairpin", true},
		{"hairpin: plain shared ELB", svcWith("a", lb, local, "192.168.0.147", aClass, "union"), vpcIPTables, nil, "dedicated-elb-hairpin", false},
		{"dnat: Local", svcWith("a", lb, local, "203.0.113.9", aClass, "dnat"), vpcIPVS, nil, "dnat-incluster-unreachable", true},
		{"dnat: Cluster", svcWith("a", lb, clusterPolicy, "203.0.113.9", aClass, "dnat"), vpcIPVS, nil, "dnat-incluster-unreachable", false},
		{"version: pass-through on v1.15", svcWith("a", lb, local, "192.168.10.36", aClass, "union", "kubernetes.io/elb.pass-through", "true"), append([]string{"--cluster-version", "v1.15.11-r1"}, vpcIPVS...), nil, "passthrough-unsupported-version", true},
		{"version: pass-through on v1.25", svcWith("a", lb, local, "192.168.10.36", aClass, "union", "kubernetes.io/elb.pass-through", "true"), append([]string{"--cluster-version", "v1.25.5-r0-25.2.5"}, vpcIPVS...), nil, "passthrough-unsupported-version", false},
		{"shared ELB disagrees (IPVS)", svcWith("a", lb, local, "192.168.10.70", aClass, "union", "kubernetes.io/elb.id", elbID, "kubernetes.io/elb.pass-through", "true"), vpcIPVS, peer("b", ""), "passthrough-inconsistent-shared-elb", true},
		{"shared ELB agrees", svcWith("a", lb, local, "192.168.10.70", aClass, "union", "kubernetes.io/elb.id", elbID, "kubernetes.io/elb.pass-through", "true"), vpcIPVS, peer("b", "true"), "passthrough-inconsistent-shared-elb", false},
		{"shared ELB disagrees (iptables)", svcWith("a", lb, local, "192.168.10.70", aClass, "union", "kubernetes.io/elb.id", elbID, "kubernetes.io/elb.pass-through", "true"), vpcIPTables, peer("b", ""), "passthrough-inconsistent-shared-elb", false},
		{"turbo: backends not on hostNetwork", svcWith("a", lb, local, "192.168.10.36", aClass, "union"), turboIPVS, backendPod("a", false), "turbo-local-needs-hostnetwork", true},
		{"turbo: backends on hostNetwork", svcWith("a", lb, local, "192.168.10.36", aClass, "union"), turboIPVS, backendPod("a", true), "turbo-local-needs-hostnetwork", false},
		{"annotation: autocreate not JSON", svcWith("a", lb, local, "192.168.10.36", aClass, "union", "kubernetes.io/elb.autocreate", `{"type":"public",`), vpcIPVS, nil, "annotation-invalid", true},
		{"annotation: autocreate JSON", svcWith("a", lb, local, "192.168.10.36", aClass, "union", "kubernetes.io/elb.autocreate", `{"type":"public","name":"x"}`), vpcIPVS, nil, "annotation-invalid", false},
		{"detection: proxy mode unknown", svcWith("a", lb, local, "192.168.10.36", aClass, "union"), []string{"--network-model", "vpc"}, nil, "detection-incomplete", true},
		{"detection: all facts given", svcWith("a", lb, local, "192.168.10.36", aClass, "union"), vpcIPVS, nil, "detection-incomplete", false},
		{"quota: members_per_pool event", svcWith("a", lb, local, "192.168.10.36", aClass, "union"), vpcIPVS, quotaEvent("a", quotaMessage), "elb-member-quota-exceeded", true},
		{"quota: another event", svcWith("a", lb, local, "192.168.10.36", aClass, "union"), vpcIPVS, quotaEvent("a", "Successfully ensured load balancer"), "elb-member-quota-exceeded", false},
		{"health check: UDP on a TCP port", svcWith("a", lb, local, "192.168.10.36", aClass, "union", "kubernetes.io/elb.health-check-flag", "on", "kubernetes.io/elb.health-check-option", `{"protocol":"UDP","delay":"5","timeout":"10","max_retries":"3"}`), vpcIPVS, nil, "healthcheck-config", true},
		{"health check: TCP on a TCP port", svcWith("a", lb, local, "192.168.10.36", aClass, "union", "kubernetes.io/elb.health-check-flag", "on", "kubernetes.io/elb.health-check-option", `{"protocol":"TCP","delay":"5","timeout":"10","max_retries":"3"}`), vpcIPVS, nil, "healthcheck-config", false},
		{"dialect: open-source CCM", svcWith("a", lb, local, "192.168.10.36", aClass, "shared"), vpcIPVS, nil, "opensource-ccm-dialect", true},
		{"dialect: CCE", svcWith("a", lb, local, "192.168.10.36", aClass, "union"), vpcIPVS, nil, "opensource-ccm-dialect", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := namespace(t)
			tc.svc.Namespace = ns
			if _, ok := tc.svc.Annotations["kubernetes.io/elb.id"]; ok {
				// One ELB per case: peers are looked up cluster-wide.
				tc.svc.Annotations["kubernetes.io/elb.id"] = elbID + "-" + ns
			}
			createService(t, tc.svc)
			if tc.setup != nil {
				tc.setup(t, ns, tc.svc)
			}
			r := elbfix(t, append([]string{"svc", tc.svc.Name, "-n", ns, "-o", "json", "--dry-run"}, tc.facts...)...)
			if r.Code != 0 && r.Code != 1 {
				t.Fatalf("want a plan, got %s", r)
			}
			var doc plan.Plan
			if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
				t.Fatal(err)
			}
			got := hasFinding(doc.Services[0].Findings, tc.finding)
			if got != tc.present {
				var ids []string
				for _, f := range doc.Services[0].Findings {
					ids = append(ids, f.ID)
				}
				t.Fatalf("finding %s present=%v, want %v (findings: %s)", tc.finding, got, tc.present, strings.Join(ids, ", "))
			}
		})
	}
}
