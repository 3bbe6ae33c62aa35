package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/clouddouble"
)

// The --cloud path runs against test/clouddouble, a local double of the CCE, ELB and IAM
// endpoints on 127.0.0.1, never against Huawei Cloud.

// cloudState: the test cluster is a CCE Standard cluster with the VPC network and iptables, and
// ELB lb-quota's pool is at its member quota (5 of 5) with 2 members failing the health check.
func cloudState() clouddouble.State {
	pool := &clouddouble.Pool{ID: "pool-quota", Protocol: "TCP", Monitor: &clouddouble.Monitor{ID: "hm-quota", Type: "TCP", Delay: 5, Timeout: 10, MaxRetries: 3}}
	for i := range 5 {
		status := "ONLINE"
		if i < 2 {
			status = "OFFLINE"
		}
		pool.Members = append(pool.Members, clouddouble.Member{ID: fmt.Sprintf("m-%d", i), Address: fmt.Sprintf("192.168.0.%d", 10+i), Port: 30080, Status: status})
	}
	return clouddouble.State{
		Clusters: []clouddouble.Cluster{{ID: "cce-e2e", Name: "e2e", Category: "CCE", NetworkMode: "vpc-router", ProxyMode: "iptables", Endpoints: []string{kc.Server}}},
		LoadBalancers: []clouddouble.LoadBalancer{{ID: "lb-quota", Name: "quota-elb", VIP: "192.168.0.250",
			Listeners: []clouddouble.Listener{{ID: "l-quota", Protocol: "TCP", Port: 80, Pool: pool}}}},
		MembersPerPool: 5,
	}
}

// cloudService is a Cluster-policy Service on lb-quota: nothing to fix from the Kubernetes API.
func cloudService(ns, name string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: map[string]string{
			"kubernetes.io/elb.class": "union", "kubernetes.io/elb.id": "lb-quota"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
			Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.168.0.250"}}}},
	}
}

// cloudEnv is the plugin's environment: the SDK's environment credentials of the double, its
// certificate, and a HOME without a profile file.
func cloudEnv(t *testing.T, d *clouddouble.Server, extra ...string) []string {
	return append(append([]string{"HOME=" + t.TempDir()}, d.Env(false)...), extra...)
}

func findingOf(sp plan.ServicePlan, id string) *plan.Finding {
	for i := range sp.Findings {
		if sp.Findings[i].ID == id {
			return &sp.Findings[i]
		}
	}
	return nil
}

func TestCloudDetect(t *testing.T) {
	d := clouddouble.Start(t, cloudState())
	// A Kubernetes-API signal that disagrees: a kube-proxy ConfigMap that says ipvs.
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "kube-proxy"},
		Data: map[string]string{"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"}}
	if _, err := kc.Client.CoreV1().ConfigMaps("kube-system").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kc.Client.CoreV1().ConfigMaps("kube-system").Delete(context.Background(), "kube-proxy", metav1.DeleteOptions{})
	})
	env := cloudEnv(t, d, "ELBFIX_NETWORK_MODE=", "ELBFIX_PROXY_MODE=")
	// No --cce-cluster-id: ListClusters, matched by the kubeconfig's server URL.
	c, r := detectJSON(t, env, d.Flags()...)
	if c.NetworkModel != plan.NetworkVPC || c.ProxyMode != plan.ProxyIPTables || c.Flavor != plan.FlavorCCEStandard {
		t.Errorf("facts %s/%s/%s, want vpc/iptables/cce-standard from the CCE API\n%s", c.NetworkModel, c.ProxyMode, c.Flavor, r)
	}
	for _, fact := range []string{"networkModel", "proxyMode", "flavor"} {
		e, ok := evidenceFor(c, fact, "cce-api: ListClusters")
		if !ok || e.Confidence != plan.ConfidenceHigh || e.Signal != "cce-api" || !strings.HasPrefix(e.Source, "cce-api") {
			t.Errorf("%s: no high cce-api evidence: %+v\n%s", fact, e, r)
		}
	}
	conflict := false
	for _, cf := range c.Conflicts {
		if cf.Fact == "proxyMode" && strings.Join(cf.Values, ",") == "iptables,ipvs" && strings.Contains(cf.Resolution, "kept iptables: cce-api") {
			conflict = true
		}
	}
	if !conflict {
		t.Errorf("no proxyMode conflict between the CCE API and the kube-proxy ConfigMap: %+v\n%s", c.Conflicts, r)
	}
	h := kubectl(t, env, "", append([]string{"elbfix", "detect"}, d.Flags()...)...)
	wantCode(t, h, 0)
	for _, want := range []string{"cce-api: ListClusters", "Conflicts:", "proxyMode (iptables vs ipvs)"} {
		if !strings.Contains(h.Stdout, want) {
			t.Errorf("detect lacks %q:\n%s", want, h)
		}
	}
	if rej := d.Rejected(); len(rej) > 0 {
		t.Errorf("signatures rejected by the double: %v", rej)
	}
}

func TestCloudSvcQuota(t *testing.T) {
	d := clouddouble.Start(t, cloudState())
	ns := namespace(t)
	createService(t, cloudService(ns, "web"))
	env := cloudEnv(t, d)
	args := append([]string{"elbfix", "svc", "web", "-n", ns, "--dry-run", "-o", "json", "--cce-cluster-id", "cce-e2e"}, d.Flags()...)
	r := kubectl(t, env, "", args...)
	if r.Code == 2 {
		t.Fatalf("svc failed: %s", r)
	}
	var doc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || len(doc.Services) != 1 {
		t.Fatalf("not a plan: %v\n%s", err, r)
	}
	sp := doc.Services[0]
	q := findingOf(sp, plan.FindingELBMemberQuotaNear)
	if q == nil || !strings.Contains(q.Message, "5 members of 5 (100%)") || !strings.Contains(q.Message, "ELB.8905") {
		t.Errorf("no elb-member-quota-near at the quota: %+v\n%s", sp.Findings, r)
	}
	u := findingOf(sp, plan.FindingELBMembersUnhealthy)
	if u == nil || !strings.Contains(u.Message, "2 of 5 members unhealthy") {
		t.Errorf("unhealthy members not counted: %+v\n%s", sp.Findings, r)
	}
	if doc.Cluster.NetworkModel != plan.NetworkVPC {
		t.Errorf("network %s, want vpc from ShowCluster", doc.Cluster.NetworkModel)
	}
	// The human report shows them too.
	h := kubectl(t, env, "", append([]string{"elbfix", "svc", "web", "-n", ns, "--dry-run", "--cce-cluster-id", "cce-e2e"}, d.Flags()...)...)
	for _, want := range []string{"elb-member-quota-near", "elb-members-unhealthy"} {
		if !strings.Contains(h.Stdout, want) {
			t.Errorf("svc report lacks %s:\n%s", want, h)
		}
	}
}

// TestCloudScanBatched: scan reads each ELB once, however many Services are on it.
func TestCloudScanBatched(t *testing.T) {
	d := clouddouble.Start(t, cloudState())
	ns := namespace(t)
	for i := range 4 {
		createService(t, cloudService(ns, fmt.Sprintf("web-%d", i)))
	}
	r := kubectl(t, cloudEnv(t, d), "", append([]string{"elbfix", "scan", "-n", ns, "-o", "json", "--fail-on", "never", "--cce-cluster-id", "cce-e2e"}, d.Flags()...)...)
	wantCode(t, r, 0)
	var doc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || len(doc.Services) != 4 {
		t.Fatalf("not a plan of 4 Services: %v\n%s", err, r)
	}
	for _, sp := range doc.Services {
		if findingOf(sp, plan.FindingELBMemberQuotaNear) == nil || findingOf(sp, plan.FindingELBMembersUnhealthy) == nil {
			t.Errorf("%s: %+v", sp.Name, sp.Findings)
		}
	}
	counts := map[string]int{}
	for _, req := range d.Requests() {
		path, _, _ := strings.Cut(strings.TrimPrefix(req, "GET "), "?")
		counts[path[strings.LastIndex(path, "/")+1:]]++
	}
	for _, kind := range []string{"loadbalancers", "listeners", "pools", "members", "healthmonitors", "quotas"} {
		if counts[kind] != 1 {
			t.Errorf("%d %s requests for 4 Services on one ELB, want 1: %v", counts[kind], kind, d.Requests())
		}
	}
}

// TestCloudNoCredentials: --cloud without credentials makes no call to the cloud, keeps the
// Kubernetes-API verdict and says what could not be read.
func TestCloudNoCredentials(t *testing.T) {
	d := clouddouble.Start(t, cloudState())
	ns := namespace(t)
	createService(t, cloudService(ns, "web"))
	env := []string{"HOME=" + t.TempDir(), "SSL_CERT_FILE=" + d.CAFile}
	r := kubectl(t, env, "", append([]string{"elbfix", "detect", "--verbose"}, d.Flags()...)...)
	wantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "cce-api: not read: no credentials") {
		t.Errorf("detect does not say the credentials are missing:\n%s", r)
	}
	s := kubectl(t, env, "", append([]string{"elbfix", "svc", "web", "-n", ns, "--dry-run", "-o", "json"}, d.Flags()...)...)
	wantCode(t, s, 0)
	if !strings.Contains(s.Stdout, "ELB API (--cloud): not read: no credentials") {
		t.Errorf("svc does not say the ELB was not read:\n%s", s)
	}
	if reqs := d.Requests(); len(reqs) != 0 {
		t.Errorf("requests without credentials: %v", reqs)
	}
}

// TestCloudFailureKeepsVerdict: a 403 from the ELB API and a 429 from CCE are evidence; the
// Kubernetes-API verdict stands and the exit code is not 2.
func TestCloudFailureKeepsVerdict(t *testing.T) {
	st := cloudState()
	st.Fail = map[string]int{"/elb/": 403, "/clusters": 429}
	d := clouddouble.Start(t, st)
	ns := namespace(t)
	createService(t, cloudService(ns, "web"))
	r := kubectl(t, cloudEnv(t, d), "", append([]string{"elbfix", "svc", "web", "-n", ns, "--dry-run", "--explain", "--cce-cluster-id", "cce-e2e"}, d.Flags()...)...)
	wantCode(t, r, 0)
	for _, want := range []string{"forbidden (403)", "throttled (429)"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("svc --explain lacks %q:\n%s", want, r)
		}
	}
}

// TestCloudSecretsNeverShown: at -v=9 (every request logged) the access key, secret key and
// security token appear nowhere, with credentials accepted and with credentials rejected.
func TestCloudSecretsNeverShown(t *testing.T) {
	st := cloudState()
	st.Token = clouddouble.Token
	d := clouddouble.Start(t, st)
	ns := namespace(t)
	createService(t, cloudService(ns, "web"))
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{name: "accepted", env: []string{"HUAWEICLOUD_SDK_SECURITY_TOKEN=" + clouddouble.Token}, want: "elb-member-quota-near"},
		{name: "rejected", env: []string{"HUAWEICLOUD_SDK_SECURITY_TOKEN=" + clouddouble.Token, "HUAWEICLOUD_SDK_SK=" + clouddouble.SK + "x"}, want: "credentials rejected (401)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := cloudEnv(t, d, tc.env...)
			var out strings.Builder
			for _, args := range [][]string{{"detect", "--verbose"}, {"svc", "web", "-n", ns, "--dry-run", "--explain"}, {"scan", "-n", ns, "-o", "json", "--fail-on", "never"}} {
				args = append(append(append([]string{"elbfix"}, args...), "-v=9", "--cce-cluster-id", "cce-e2e"), d.Flags()...)
				r := kubectl(t, env, "", args...)
				if r.Code == 2 {
					t.Fatalf("%v: %s", args, r)
				}
				out.WriteString(r.Stdout + r.Stderr)
			}
			all := out.String()
			if !strings.Contains(all, "cloud: GET https://127.0.0.1") {
				t.Errorf("-v=9 does not log the cloud requests:\n%s", all)
			}
			if !strings.Contains(all, tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, all)
			}
			for _, secret := range []string{clouddouble.AK, clouddouble.SK, clouddouble.Token} {
				if strings.Contains(all, secret) {
					t.Errorf("a credential (%d characters) appears in the output", len(secret))
				}
			}
		})
	}
}

// TestCloudOffByDefault: without --cloud, ELBFIX_CLOUD or a cloud flag, the double (whose
// credentials are in the environment) is never contacted.
func TestCloudOffByDefault(t *testing.T) {
	d := clouddouble.Start(t, cloudState())
	ns := namespace(t)
	createService(t, cloudService(ns, "web"))
	env := cloudEnv(t, d)
	for _, args := range [][]string{{"detect"}, {"svc", "web", "-n", ns, "--dry-run"}, {"scan", "-n", ns}} {
		wantCode(t, kubectl(t, env, "", append([]string{"elbfix"}, args...)...), 0)
	}
	r := kubectl(t, env, "", "elbfix", "detect", "--region", clouddouble.Region)
	wantCode(t, r, 2)
	if !strings.Contains(r.Stderr, "add --cloud") {
		t.Errorf("--region without --cloud: %s", r)
	}
	if reqs := d.Requests(); len(reqs) != 0 {
		t.Errorf("contacted without --cloud: %v", reqs)
	}
	// ELBFIX_CLOUD=huaweicloud turns it on.
	r = kubectl(t, append(env, "ELBFIX_CLOUD=huaweicloud"), "", "elbfix", "detect", "--region", clouddouble.Region,
		"--cloud-endpoint-cce", d.URL, "--cloud-endpoint-elb", d.URL, "--cce-cluster-id", "cce-e2e")
	wantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "cce-api: ShowCluster cce-e2e") {
		t.Errorf("ELBFIX_CLOUD did not turn the cloud on:\n%s", r)
	}
}
