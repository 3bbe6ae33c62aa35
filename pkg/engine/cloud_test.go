package engine

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cloud"
)

func TestELBRef(t *testing.T) {
	lb := func(ann map[string]string, ips ...string) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Annotations: ann}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
		return s
	}
	for _, tc := range []struct {
		name string
		svc  *corev1.Service
		want string
		ok   bool
	}{
		{"elb.id wins", lb(map[string]string{"kubernetes.io/elb.id": "lb-1"}, "192.168.0.9"), "{lb-1 []}", true},
		{"status address", lb(nil, "192.168.0.9", "1.2.3.4"), "{ [192.168.0.9 1.2.3.4]}", true},
		{"nothing to ask", lb(nil), "{ []}", false},
		{"DNAT has no ELB", lb(map[string]string{"kubernetes.io/elb.class": "dnat", "kubernetes.io/elb.id": "x"}), "{ []}", false},
		{"not a LoadBalancer", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}, "{ []}", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, ok := elbRef(tc.svc)
			if got := fmtRef(ref); got != tc.want || ok != tc.ok {
				t.Errorf("%s %v, want %s %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func fmtRef(r cloud.Ref) string {
	return "{" + r.ID + " [" + strings.Join(r.VIPs, " ") + "]}"
}
