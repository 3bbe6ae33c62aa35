package cmd

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cloud"
)

func TestCloudFlagsValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		o       cloudOptions
		env     string
		wantErr string
		enabled bool
	}{
		{name: "off"},
		{name: "on", o: cloudOptions{Enabled: true, Region: "ap-southeast-1", EndpointELB: "https://elb.example.internal"}, enabled: true},
		{name: "env turns it on", env: "huaweicloud", enabled: true},
		{name: "env names another cloud", env: "aws", wantErr: `invalid value "aws" for environment variable ELBFIX_CLOUD`},
		{name: "region without --cloud", o: cloudOptions{Region: "ap-southeast-1"}, wantErr: "--region is for the cloud reads: add --cloud"},
		{name: "credentials without --cloud", o: cloudOptions{Credentials: cloud.CredentialsMetadata}, wantErr: "--cloud-credentials is for the cloud reads"},
		{name: "bad credentials", o: cloudOptions{Enabled: true, Credentials: "vault"}, wantErr: `invalid value "vault" for --cloud-credentials`},
		{name: "plain http endpoint", o: cloudOptions{Enabled: true, EndpointCCE: "http://cce.example"}, wantErr: "want an https:// URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(cloud.EnvCloud, tc.env)
			o := tc.o
			o.complete()
			err := o.validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("want an error containing %q, got %v", tc.wantErr, err)
			case tc.wantErr == "" && o.Enabled != tc.enabled:
				t.Errorf("enabled %v, want %v", o.Enabled, tc.enabled)
			}
		})
	}
}

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
