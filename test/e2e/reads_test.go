package e2e

import (
	"fmt"
	"strings"
	"testing"
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
