package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestSvcReadsFollowTheServicesAsked: svc NAME reads what the rules need for that Service only
// (Events by involvedObject field selector, EndpointSlices by the kubernetes.io/service-name
// label), never every Event or EndpointSlice of the namespace, so its cost does not grow with the
// namespace. Seen from the fault proxy in front of the API server, in a namespace with 30 other
// Services, each with an Event.
func TestSvcReadsFollowTheServicesAsked(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	quotaEvent("nginx", "Quota exceeded for resources: members_per_pool, ELB.8905")(t, ns, nil)
	for i := 0; i < 30; i++ {
		name := fmt.Sprintf("other-%02d", i)
		createService(t, elbService(ns, name, "", "", fmt.Sprintf("192.168.20.%d", i+1)))
		quotaEvent(name, "unrelated")(t, ns, nil)
	}
	p := newFaultProxy(t, func(faultRequest) faultAction { return pass })
	r := kubectl(t, p.Env(), "", "elbfix", "svc", "nginx", "-n", ns, "--dry-run", "-o", "json",
		"--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.25.5-r0")
	wantCode(t, r, 1)
	if !strings.Contains(r.Stdout, `"id": "elb-member-quota-exceeded"`) {
		t.Errorf("the Service's own Event was not read:\n%s", r.Stdout)
	}
	var events, slices int
	for _, rec := range p.Records() {
		switch {
		case rec.Verb == "list" && rec.Resource == "events":
			events++
			if sel := rec.Query.Get("fieldSelector"); !strings.Contains(sel, "involvedObject.name=nginx") {
				t.Errorf("Events listed without the Service's field selector: %s", rec.faultRequest)
			}
		case rec.Verb == "list" && rec.Resource == "endpointslices":
			slices++
			if sel := rec.Query.Get("labelSelector"); sel != "kubernetes.io/service-name=nginx" {
				t.Errorf("EndpointSlices listed without the Service's label: %s", rec.faultRequest)
			}
		}
	}
	if events != 1 || slices != 1 {
		t.Errorf("want one Events and one EndpointSlices request for the one Service, got %d and %d:\n%s", events, slices, p.Log())
	}
}

// TestScanCountsEndpointsAcrossPages: scan counts a Service's ready endpoint addresses from the
// EndpointSlice list it reads as protobuf, page after page, as svc counts them from the
// Service's own slices: each address once, not-ready ones left out. On CCE Turbo with a
// dedicated ELB the pods are the ELB's members, so the count is in elb-member-quota-exceeded.
// 540 slices of one endpoint (two pages of 500): 510 ready addresses, 20 not ready, 10 ready
// ones again.
func TestScanCountsEndpointsAcrossPages(t *testing.T) {
	ns := namespace(t)
	svc := elbService(ns, "pool", "", "", "192.168.40.1")
	svc.Annotations["kubernetes.io/elb.class"] = "performance"
	svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	createService(t, svc)
	addr := func(i int) string { return fmt.Sprintf("10.2.%d.%d", i/250, i%250) }
	var g errgroup.Group
	g.SetLimit(8)
	for i := range 540 {
		a, ready := addr(i), true
		switch {
		case i >= 530: // a ready address again, in another slice
			a = addr(i - 530)
		case i >= 510:
			ready = false
		}
		g.Go(func() error {
			_, err := kc.Client.DiscoveryV1().EndpointSlices(ns).Create(context.Background(), &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("pool-%03d", i), Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: "pool"}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{a}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)}}},
			}, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	facts := []string{"--network-model", "turbo", "--proxy-mode", "iptables", "--cluster-version", "v1.25.5-r0"}
	want := "each listener's pool has 510 pods as members"
	for _, args := range [][]string{
		append([]string{"elbfix", "scan", "-n", ns, "-o", "json"}, facts...),
		append([]string{"elbfix", "svc", "pool", "-n", ns, "--dry-run", "-o", "json"}, facts...),
	} {
		r := kubectl(t, nil, "", args...)
		if r.Code != 0 && r.Code != 1 {
			t.Fatalf("%s", r)
		}
		if !strings.Contains(r.Stdout, `"id": "elb-member-quota-exceeded"`) || !strings.Contains(r.Stdout, want) {
			t.Errorf("kubectl %s: want elb-member-quota-exceeded with %q:\n%s", strings.Join(args, " "), want, r.Stdout)
		}
	}
}

// TestScanPlansANamespaceOnlyOnceItsSlicesAreRead: scan plans the Services of a namespace as
// soon as the EndpointSlice list (in key order, namespace/name) has moved past it, while the
// rest of the list comes; each such plan must count every slice of its namespace, and must be
// made again if the list then fails or is read again from the start.
//
// Two namespaces whose keys order differently from their names: X-b/... before X/... ('-'
// sorts before '/'). X-b/pool has 505 ready endpoints and X/pool 510, each over several pages
// (500 a page), on CCE Turbo with a dedicated ELB, where the pods are the members
// (elb-member-quota-exceeded names the count).
//   - the whole list: both counts are in the findings. It fails if a namespace is taken as read
//     when the list reaches it rather than when it has passed it (X/pool then counts 0);
//   - the page that starts inside X fails (500, after a second for the plans of X-b to be
//     made): no count is known, for X-b/pool too. It fails if the plans made along the way
//     are kept (X-b/pool keeps 505);
//   - that page's continue token has expired (410): the list is read again whole, and both
//     counts are in the findings.
func TestScanPlansANamespaceOnlyOnceItsSlicesAreRead(t *testing.T) {
	x := namespace(t)
	xb := x + "-b"
	if _, err := kc.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: xb}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns    string
		ready int
	}{{xb, 505}, {x, 510}} {
		svc := elbService(c.ns, "pool", "", "", "192.168.41.1")
		svc.Annotations["kubernetes.io/elb.class"] = "performance"
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
		createService(t, svc)
		createSlices(t, c.ns, "pool", c.ready)
	}
	facts := []string{"--network-model", "turbo", "--proxy-mode", "iptables", "--cluster-version", "v1.25.5-r0"}
	counted := func(out, ns string, n int) bool {
		i := strings.Index(out, `"namespace": "`+ns+`",`+"\n      \"name\": \"pool\"")
		if i < 0 {
			t.Fatalf("no plan of %s/pool in:\n%s", ns, out)
		}
		plan := out[i:]
		if j := strings.Index(plan[1:], `"namespace": "`); j >= 0 {
			plan = plan[:j+1]
		}
		return strings.Contains(plan, fmt.Sprintf("each listener's pool has %d pods as members", n))
	}
	// insideX: a list page of EndpointSlices that starts inside namespace x.
	insideX := func(r faultRequest) bool {
		if r.Verb != "list" || r.Resource != "endpointslices" || r.Query.Get("continue") == "" {
			return false
		}
		raw, err := base64.RawURLEncoding.DecodeString(r.Query.Get("continue"))
		var token struct {
			Start string `json:"start"`
		}
		if err != nil || json.Unmarshal(raw, &token) != nil {
			t.Errorf("unexpected continue token %q", r.Query.Get("continue"))
			return false
		}
		return strings.HasPrefix(strings.TrimPrefix(token.Start, "/"), x+"/") // relative to the resource's prefix
	}
	for _, tc := range []struct {
		name  string
		fault *faultAction // nil: none
		known bool
	}{
		{"the whole list", nil, true},
		{"a page fails", ptr.To(answerAfter(time.Second, 500, "")), false},
		// As kube-apiserver answers a continue token older than its compaction.
		{"a continue token expires", ptr.To(answerAfter(time.Second, 410, metav1.StatusReasonExpired)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faulted := 0
			p := newFaultProxy(t, func(r faultRequest) faultAction {
				if tc.fault != nil && faulted == 0 && insideX(r) {
					faulted++
					return *tc.fault
				}
				return pass
			})
			r := kubectl(t, p.Env(), "", append([]string{"elbfix", "scan", "-A", "-o", "json"}, facts...)...)
			if r.Code != 0 && r.Code != 1 {
				t.Fatalf("%s", r)
			}
			if tc.fault != nil && faulted != 1 {
				t.Fatalf("no EndpointSlice page started inside %s:\n%s", x, p.Log())
			}
			for _, c := range []struct {
				ns string
				n  int
			}{{xb, 505}, {x, 510}} {
				if got := counted(r.Stdout, c.ns, c.n); got != tc.known {
					t.Errorf("%s/pool: count %d in the findings = %v, want %v (the proxy saw:\n%s)", c.ns, c.n, got, tc.known, p.Log())
				}
			}
		})
	}
}

// createSlices creates ready one-endpoint EndpointSlices for Service ns/name, with distinct
// addresses.
func createSlices(t *testing.T, ns, name string, n int) {
	t.Helper()
	var g errgroup.Group
	g.SetLimit(8)
	for i := range n {
		g.Go(func() error {
			_, err := kc.Client.DiscoveryV1().EndpointSlices(ns).Create(context.Background(), &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: fmt.Sprintf("%s-%03d", name, i), Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.3.%d.%d", i/250, i%250)}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
			}, metav1.CreateOptions{})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
}
