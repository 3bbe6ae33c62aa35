package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// webhookMode says which requests the test's validating webhook refuses.
type webhookMode int32

const (
	refuseAll             webhookMode = iota // dry runs and writes
	refuseWrites                             // real writes only: the server dry run passes
	refuseELBAnnotChanges                    // like CCE's service webhook: no change to kubernetes.io/elb.* annotations
	allowAll
)

// refusingWebhook is a ValidatingWebhookConfiguration served from this test process (HTTPS on
// 127.0.0.1) that refuses Service updates in the namespaces labelled elbfix-webhook=<label> for
// objects whose name starts with "refuse-", as the mode says. It is removed when the test ends.
func refusingWebhook(t *testing.T, label string, mode *atomic.Int32) {
	t.Helper()
	serveServiceWebhook(t, "elbfix-test-"+label, "elbfix-webhook", label, func(req *admissionv1.AdmissionRequest) (bool, string) {
		if !strings.HasPrefix(req.Name, "refuse-") {
			return true, ""
		}
		switch webhookMode(mode.Load()) {
		case refuseAll:
			return false, "CCE service webhook (test): changes to this Service are refused"
		case refuseWrites:
			if req.DryRun == nil || !*req.DryRun {
				return false, "CCE service webhook (test): real writes are refused"
			}
		case refuseELBAnnotChanges:
			var oldSvc, newSvc corev1.Service
			_ = json.Unmarshal(req.OldObject.Raw, &oldSvc)
			_ = json.Unmarshal(req.Object.Raw, &newSvc)
			for k, v := range newSvc.Annotations {
				if strings.HasPrefix(k, "kubernetes.io/elb.") && oldSvc.Annotations[k] != v {
					return false, "CCE service webhook (test): annotation " + k + " cannot be changed"
				}
			}
		}
		return true, ""
	})
}

// serveServiceWebhook registers a ValidatingWebhookConfiguration named name for Service updates
// in the namespaces labelled labelKey=label, served from this test process (HTTPS on 127.0.0.1)
// by decide, which says whether to allow each request and, if not, why. Both are removed when
// the test ends.
func serveServiceWebhook(t *testing.T, name, labelKey, label string, decide func(*admissionv1.AdmissionRequest) (bool, string)) {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := review.Request
		allowed, msg := decide(req)
		review.Response = &admissionv1.AdmissionResponse{UID: req.UID, Allowed: allowed}
		if !allowed {
			review.Response.Result = &metav1.Status{Code: http.StatusForbidden, Message: msg}
		}
		review.Request = nil
		_ = json.NewEncoder(w).Encode(review)
	}))
	t.Cleanup(srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	url := srv.URL + "/validate"
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    "services.elbfix.test",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"services"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{labelKey: label}},
			FailurePolicy:           &fail,
			SideEffects:             &none,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	ctx := context.Background()
	if _, err := kc.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kc.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// labelledNamespace creates a namespace named prefix-N that the test webhook watches, and waits
// until the webhook is in force there (the API server loads webhook configurations
// asynchronously): a probe Service is refused while the mode is briefly refuseAll.
func labelledNamespace(t *testing.T, label, prefix string, mode *atomic.Int32) string {
	t.Helper()
	ctx := context.Background()
	ns := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1000000)
	if _, err := kc.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{"elbfix-webhook": label}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createService(t, elbService(ns, "refuse-probe", "", "", "192.168.10.99"))
	saved := mode.Swap(int32(refuseAll))
	defer mode.Store(saved)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := wait.PollUntilContextCancel(wctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		_, err := kc.Client.CoreV1().Services(ns).Patch(ctx, "refuse-probe", types.StrategicMergePatchType,
			[]byte(`{"metadata":{"labels":{"probe":"x"}}}`), metav1.PatchOptions{DryRun: []string{metav1.DryRunAll}})
		return err != nil, nil
	}); err != nil {
		t.Fatal("the test webhook never came into force")
	}
	return ns
}

func elbService(ns, name, elbID, passThrough, ip string) *corev1.Service {
	ann := map[string]string{"kubernetes.io/elb.class": "union"}
	if elbID != "" {
		ann["kubernetes.io/elb.id"] = elbID
	}
	if passThrough != "" {
		ann["kubernetes.io/elb.pass-through"] = passThrough
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: ann},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: ip}}}},
	}
}

var ipvsFacts = []string{"--network-model", "tunnel", "--proxy-mode", "ipvs"}

// TestSharedELBGroup: in IPVS mode a pass-through fix for one Service of an ELB patches every
// Service on that ELB (alsoPatch), across namespaces, with the same safety rules; when one is
// refused, the report names exactly which were patched.
func TestSharedELBGroup(t *testing.T) {
	var mode atomic.Int32
	label := "group"
	mode.Store(int32(allowAll))
	refusingWebhook(t, label, &mode)
	nsA, nsB := labelledNamespace(t, label, "shared-a", &mode), labelledNamespace(t, label, "shared-b", &mode)
	elbID := "7c1e0a52-5d3b-4b8e-9a61-0f2d3c4b5a69"
	createService(t, elbService(nsA, "front", elbID, "", "192.168.10.50"))
	createService(t, elbService(nsA, "back", elbID, "", "192.168.10.50"))
	createService(t, elbService(nsB, "refuse-api", elbID, "", "192.168.10.50"))

	// The plan: pass-through for front, and the same for the two others.
	r := elbfix(t, append([]string{"svc", "front", "-n", nsA, "-o", "json", "--dry-run"}, ipvsFacts...)...)
	wantCode(t, r, 1)
	var doc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatal(err)
	}
	fix := doc.Services[0].Fix
	if fix == nil || fix.Strategy != "pass-through" || len(fix.AlsoPatch) != 2 {
		t.Fatalf("want pass-through with alsoPatch for the 2 other Services of the ELB: %s", r.Stdout)
	}
	// In iptables mode the rule does not apply: no alsoPatch.
	r = elbfix(t, "svc", "front", "-n", nsA, "-o", "json", "--dry-run", "--proxy-mode", "iptables", "--network-model", "tunnel")
	wantCode(t, r, 1)
	var ipt plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &ipt); err != nil {
		t.Fatal(err)
	}
	if f := ipt.Services[0].Fix; f == nil || len(f.AlsoPatch) != 0 || !strings.Contains(f.Reason, "does not apply") {
		t.Errorf("iptables: want no alsoPatch and a note that the rule does not apply: %s", r.Stdout)
	}

	// Refused in the server dry run: nothing at all is written.
	mode.Store(int32(refuseAll))
	r = elbfix(t, append([]string{"svc", "front", "-n", nsA}, ipvsFacts...)...)
	wantCode(t, r, 2)
	wantOneLineError(t, r, "service "+nsB+"/refuse-api")
	if !strings.Contains(r.Stderr, "changes to this Service are refused") {
		t.Errorf("the webhook's message must be shown verbatim: %s", r)
	}
	for _, s := range [][2]string{{nsA, "front"}, {nsA, "back"}, {nsB, "refuse-api"}} {
		if v := getService(t, s[0], s[1]).Annotations["kubernetes.io/elb.pass-through"]; v != "" {
			t.Errorf("%s/%s was written although the server dry run was refused", s[0], s[1])
		}
	}

	// Refused only on the real write: the report names exactly which were patched.
	mode.Store(int32(refuseWrites))
	r = elbfix(t, append([]string{"svc", "front", "-n", nsA}, ipvsFacts...)...)
	wantCode(t, r, 2)
	wantOneLineError(t, r, "already patched before this failure: "+nsA+"/front, "+nsA+"/back;")
	revert := `kubectl patch service back -n ` + nsA + ` --type strategic -p '{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}'`
	if !strings.Contains(r.Stderr, revert) {
		t.Errorf("the error must give the command that reverts each patched Service (%s):\n%s", revert, r)
	}
	// The revert command works as given.
	if v := getService(t, nsA, "back").Annotations["kubernetes.io/elb.pass-through"]; v != "true" {
		t.Fatalf("back was reported patched but has pass-through %q", v)
	}
	rr := kubectl(t, nil, "", "patch", "service", "back", "-n", nsA, "--type", "strategic", "-p", `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}`)
	wantCode(t, rr, 0)
	if _, ok := getService(t, nsA, "back").Annotations["kubernetes.io/elb.pass-through"]; ok {
		t.Error("the revert command left the annotation")
	}
	for _, s := range [][3]string{{nsA, "front", "true"}, {nsA, "back", ""}, {nsB, "refuse-api", ""}} {
		if v := getService(t, s[0], s[1]).Annotations["kubernetes.io/elb.pass-through"]; v != s[2] {
			t.Errorf("%s/%s pass-through = %q, want %q", s[0], s[1], v, s[2])
		}
	}

	// Accepted: the group agrees, and a second run has nothing to do.
	mode.Store(int32(allowAll))
	r = elbfix(t, append([]string{"svc", "refuse-api", "-n", nsB}, ipvsFacts...)...)
	wantCode(t, r, 0)
	r = elbfix(t, append([]string{"svc", "front", "-n", nsA, "--dry-run"}, ipvsFacts...)...)
	wantCode(t, r, 0)
}

// TestWebhookRefusalFallsBack: CCE's webhook refuses changing kubernetes.io/elb.* annotations;
// auto then falls back to externalTrafficPolicy: Cluster and says why, quoting the server.
func TestWebhookRefusalFallsBack(t *testing.T) {
	var mode atomic.Int32
	mode.Store(int32(refuseELBAnnotChanges))
	label := "fallback"
	refusingWebhook(t, label, &mode)
	ns := labelledNamespace(t, label, "fallback", &mode)
	createService(t, elbService(ns, "refuse-annotations", "", "", "192.168.10.60"))
	r := elbfix(t, append([]string{"svc", "refuse-annotations", "-n", ns}, ipvsFacts...)...)
	wantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "annotation kubernetes.io/elb.pass-through cannot be changed") {
		t.Errorf("the fallback must quote the server's refusal:\n%s", r)
	}
	svc := getService(t, ns, "refuse-annotations")
	if svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster || svc.Annotations["kubernetes.io/elb.pass-through"] != "" {
		t.Errorf("want the policy fix after the refusal, got policy %s, annotations %v", svc.Spec.ExternalTrafficPolicy, svc.Annotations)
	}
	// A forced strategy does not fall back: the refusal is the answer.
	createService(t, elbService(ns, "refuse-forced", "", "", "192.168.10.61"))
	r = elbfix(t, append([]string{"svc", "refuse-forced", "-n", ns, "--strategy", "pass-through"}, ipvsFacts...)...)
	wantCode(t, r, 2)
	wantOneLineError(t, r, "cannot be changed")
}
