package cloud_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/cloud"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/clouddouble"
)

const apiServer = "https://192.168.0.10:5443"

func state() clouddouble.State {
	monitor := &clouddouble.Monitor{ID: "hm-1", Type: "TCP", Delay: 5, Timeout: 10, MaxRetries: 3}
	pool := &clouddouble.Pool{ID: "pool-1", Protocol: "TCP", Monitor: monitor}
	for i := 0; i < 8; i++ {
		status := "ONLINE"
		if i < 3 {
			status = "OFFLINE"
		}
		pool.Members = append(pool.Members, clouddouble.Member{ID: fmt.Sprintf("m-%d", i), Address: fmt.Sprintf("192.168.0.%d", 20+i), Port: 30080, Status: status})
	}
	return clouddouble.State{
		Clusters: []clouddouble.Cluster{
			{ID: "c-1", Name: "prod", Category: "CCE", NetworkMode: "vpc-router", ProxyMode: "iptables", Endpoints: []string{apiServer}},
			{ID: "c-2", Name: "other", Category: "Turbo", NetworkMode: "eni", ProxyMode: "ipvs", Endpoints: []string{"https://192.168.9.9:5443"}},
		},
		LoadBalancers: []clouddouble.LoadBalancer{
			{ID: "lb-1", Name: "web-elb", VIP: "192.168.0.200", Listeners: []clouddouble.Listener{{ID: "l-1", Protocol: "TCP", Port: 80, Pool: pool}}},
			{ID: "lb-2", Name: "api-elb", VIP: "192.168.0.201", Listeners: []clouddouble.Listener{{ID: "l-2", Protocol: "TCP", Port: 443,
				Pool: &clouddouble.Pool{ID: "pool-2", Protocol: "TCP", Members: []clouddouble.Member{{ID: "m-x", Address: "192.168.0.30", Port: 31443, Status: "NO_MONITOR"}}}}}},
		},
		MembersPerPool: 10,
	}
}

// env points the SDK's environment credentials at the double, and nothing else: no profile
// file (HOME is empty), and the metadata provider is never in the chain by default.
func env(t *testing.T, d *clouddouble.Server, noProject bool) {
	t.Setenv("HOME", t.TempDir())
	for _, k := range []string{"HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "HUAWEICLOUD_SDK_PROJECT_ID", "HUAWEICLOUD_SDK_SECURITY_TOKEN", "HUAWEICLOUD_SDK_CREDENTIALS_FILE", "HUAWEICLOUD_SDK_DOMAIN_ID"} {
		t.Setenv(k, "")
	}
	if d == nil {
		return
	}
	for _, kv := range d.Env(noProject) {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

func client(d *clouddouble.Server, clusterID string) *cloud.Client {
	return cloud.New(cloud.Config{ClusterID: clusterID, ServerURL: apiServer, EndpointCCE: d.URL, EndpointELB: d.URL, EndpointIAM: d.URL})
}

func evidence(evs []planapi.Evidence, fact string) planapi.Evidence {
	for _, e := range evs {
		if e.Fact == fact {
			return e
		}
	}
	return planapi.Evidence{}
}

func TestFacts(t *testing.T) {
	d := clouddouble.Start(t, state())
	env(t, d, false)
	for _, tc := range []struct {
		name, clusterID, server string
		network, proxy, flavor  string
		why                     string
	}{
		{name: "ShowCluster by id", clusterID: "c-2", network: planapi.NetworkTurbo, proxy: planapi.ProxyIPVS, flavor: planapi.FlavorCCETurbo},
		{name: "ListClusters matched by server URL", network: planapi.NetworkVPC, proxy: planapi.ProxyIPTables, flavor: planapi.FlavorCCEStandard},
		{name: "no cluster matches", server: "https://10.0.0.1:5443", why: "none of the 2 clusters has an endpoint at 10.0.0.1:5443"},
		{name: "unknown cluster id", clusterID: "nope", why: "ShowCluster nope: not found (404)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server := apiServer
			if tc.server != "" {
				server = tc.server
			}
			c := cloud.New(cloud.Config{ClusterID: tc.clusterID, ServerURL: server, EndpointCCE: d.URL, EndpointELB: d.URL})
			evs := c.Facts(context.Background(), clouddouble.Region)
			for fact, want := range map[string]string{"networkModel": tc.network, "proxyMode": tc.proxy, "flavor": tc.flavor} {
				e := evidence(evs, fact)
				if !strings.HasPrefix(e.Source, "cce-api: ") || e.Signal != "cce-api" {
					t.Errorf("%s: evidence %+v not from cce-api", fact, e)
				}
				if tc.why != "" {
					if e.Value != planapi.Unknown || e.Confidence != planapi.ConfidenceNone || !strings.Contains(e.Source, tc.why) {
						t.Errorf("%s: %+v, want unknown saying %q", fact, e, tc.why)
					}
					continue
				}
				if e.Value != want || e.Confidence != planapi.ConfidenceHigh {
					t.Errorf("%s: %+v, want %s (high)", fact, e, want)
				}
			}
		})
	}
	t.Run("ambiguous", func(t *testing.T) {
		st := state()
		st.Clusters[1].Endpoints = []string{"https://192.168.0.10:5443/"}
		d.SetState(st)
		defer d.SetState(state())
		e := evidence(client(d, "").Facts(context.Background(), clouddouble.Region), "networkModel")
		if e.Value != planapi.Unknown || !strings.Contains(e.Source, "ambiguous: clusters c-1, c-2") {
			t.Errorf("%+v", e)
		}
	})
	if r := d.Rejected(); len(r) > 0 {
		t.Errorf("the double rejected the SDK's signatures: %v", r)
	}
}

// TestProjectFromIAM: without a project id, the SDK asks IAM (KeystoneListProjects) for the
// region's, at the IAM endpoint given.
func TestProjectFromIAM(t *testing.T) {
	d := clouddouble.Start(t, state())
	env(t, d, true)
	e := evidence(client(d, "c-1").Facts(context.Background(), clouddouble.Region), "networkModel")
	if e.Value != planapi.NetworkVPC {
		t.Fatalf("%+v", e)
	}
	if reqs := d.Requests(); len(reqs) != 2 || !strings.HasPrefix(reqs[0], "GET /v3/projects?name="+clouddouble.Region) {
		t.Errorf("requests %v, want the IAM project lookup then ShowCluster", reqs)
	}
}

func TestELBs(t *testing.T) {
	d := clouddouble.Start(t, state())
	env(t, d, false)
	c := client(d, "")
	var refs []cloud.Ref
	for i := 0; i < 30; i++ { // 30 Services on the two ELBs, by id and by VIP, and one unknown
		refs = append(refs, cloud.Ref{ID: "lb-1"}, cloud.Ref{VIPs: []string{"192.168.0.201"}})
	}
	refs = append(refs, cloud.Ref{ID: "lb-gone"})
	c.Facts(context.Background(), clouddouble.Region) // sets the region, as detection does
	before := c.Requests()
	got := c.ELBs(context.Background(), refs)
	lb := got.For(cloud.Ref{ID: "lb-1"})
	if lb == nil || lb.Unread != "" || lb.MembersPerPool != 10 || len(lb.Listeners) != 1 {
		t.Fatalf("lb-1: %+v", lb)
	}
	l := lb.Listeners[0]
	if l.Port != 80 || l.Members != 8 || l.Unhealthy != 3 || len(l.UnhealthyAddrs) != 3 || l.Monitor == nil || l.Monitor.Type != "TCP" || l.Monitor.Delay != 5 || fmt.Sprint(l.MemberPorts) != "[30080]" {
		t.Errorf("listener %+v monitor %+v", l, l.Monitor)
	}
	lb2 := got.For(cloud.Ref{VIPs: []string{"192.168.0.201"}})
	if lb2 == nil || lb2.ID != "lb-2" || lb2.Unread != "" || lb2.Listeners[0].Unhealthy != 0 || lb2.Listeners[0].Monitor != nil {
		t.Errorf("lb-2 by VIP: %+v", lb2)
	}
	if gone := got.For(cloud.Ref{ID: "lb-gone"}); gone == nil || !strings.Contains(gone.Unread, "not found in the ELB v3 API") {
		t.Errorf("lb-gone: %+v", gone)
	}
	// One request per kind of object for all of them: load balancers by id and by VIP,
	// listeners, pools, members, the quota, health monitors.
	if n := c.Requests() - before; n != 7 {
		t.Errorf("%d requests for 61 Services on 3 ELBs, want 7: %v", n, d.Requests())
	}
	if r := d.Rejected(); len(r) > 0 {
		t.Errorf("rejected: %v", r)
	}
}

// TestFailuresAreEvidence: rejected credentials, throttling, an unreachable endpoint and no
// credentials at all are said, never errors, and never quote a secret.
func TestFailuresAreEvidence(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail map[string]int
		sk   string
		want string
	}{
		{name: "403", fail: map[string]int{"/elb/": 403, "/clusters": 403}, want: "forbidden (403)"},
		{name: "429", fail: map[string]int{"/elb/": 429, "/clusters": 429}, want: "throttled (429)"},
		{name: "wrong secret key", sk: "wrong-secret-key-0000000000000000", want: "credentials rejected (401)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := state()
			st.Fail = tc.fail
			d := clouddouble.Start(t, st)
			env(t, d, false)
			if tc.sk != "" {
				t.Setenv("HUAWEICLOUD_SDK_SK", tc.sk)
			}
			c := client(d, "c-1")
			e := evidence(c.Facts(context.Background(), clouddouble.Region), "proxyMode")
			lb := c.ELBs(context.Background(), []cloud.Ref{{ID: "lb-1"}}).For(cloud.Ref{ID: "lb-1"})
			for _, msg := range []string{e.Source, lb.Unread} {
				if !strings.Contains(msg, tc.want) {
					t.Errorf("%q lacks %q", msg, tc.want)
				}
				for _, secret := range []string{clouddouble.AK, clouddouble.SK, tc.sk} {
					if secret != "" && strings.Contains(msg, secret) {
						t.Errorf("%q quotes a credential", msg)
					}
				}
			}
		})
	}
	// An endpoint that accepts and never answers: each read gives up after RequestTimeout (the
	// test waits that long, twice) and says so.
	t.Run("timeout", func(t *testing.T) {
		st := state()
		st.Hang = []string{"/clusters", "/elb/"}
		d := clouddouble.Start(t, st)
		env(t, d, false)
		c := client(d, "c-1")
		e := evidence(c.Facts(context.Background(), clouddouble.Region), "proxyMode")
		unread := c.ELBs(context.Background(), []cloud.Ref{{ID: "lb-1"}}).For(cloud.Ref{ID: "lb-1"}).Unread
		for _, msg := range []string{e.Source, unread} {
			if !strings.Contains(msg, "timed out") {
				t.Errorf("%q does not say the read timed out", msg)
			}
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		d := clouddouble.Start(t, state())
		env(t, d, false)
		url := d.URL
		d.Close() // nothing listens there any more
		c := cloud.New(cloud.Config{ClusterID: "c-1", EndpointCCE: url, EndpointELB: url})
		e := evidence(c.Facts(context.Background(), clouddouble.Region), "networkModel")
		if !strings.Contains(e.Source, "unreachable") {
			t.Errorf("%+v", e)
		}
	})
}

// TestNoCredentialsNoRequest: --cloud without credentials contacts nothing, and says so.
func TestNoCredentialsNoRequest(t *testing.T) {
	d := clouddouble.Start(t, state())
	env(t, nil, false)
	c := client(d, "")
	e := evidence(c.Facts(context.Background(), clouddouble.Region), "networkModel")
	lb := c.ELBs(context.Background(), []cloud.Ref{{ID: "lb-1"}}).For(cloud.Ref{ID: "lb-1"})
	if !strings.Contains(e.Source, "no credentials") || !strings.Contains(lb.Unread, "no credentials") {
		t.Errorf("facts %+v, ELB %+v", e, lb)
	}
	if n := c.Requests(); n != 0 {
		t.Errorf("%d requests sent without credentials", n)
	}
	if r := d.Requests(); len(r) != 0 {
		t.Errorf("the double was contacted: %v", r)
	}
}

// TestRequestBound: however many ELBs, a run sends at most MaxRequests requests; what is left
// is reported as not read because of the bound.
func TestRequestBound(t *testing.T) {
	d := clouddouble.Start(t, state())
	env(t, d, false)
	c := client(d, "c-1")
	var refs []cloud.Ref
	for i := range (cloud.MaxRequests + 5) * cloud.ChunkSize {
		refs = append(refs, cloud.Ref{ID: fmt.Sprintf("lb-%d", i)})
	}
	c.Facts(context.Background(), clouddouble.Region)
	got := c.ELBs(context.Background(), refs)
	if n := len(d.Requests()); n != cloud.MaxRequests || c.Requests() != cloud.MaxRequests {
		t.Errorf("%d requests reached the double (%d sent), want the bound %d", n, c.Requests(), cloud.MaxRequests)
	}
	if lb := got.For(cloud.Ref{ID: "lb-1"}); lb == nil || !strings.Contains(lb.Unread, "bound of 40 cloud requests") {
		t.Errorf("lb-1: %+v", lb)
	}
}

// TestELBByAnyAddress: a Service whose status holds an EIP and the VIP finds its ELB by the VIP.
func TestELBByAnyAddress(t *testing.T) {
	d := clouddouble.Start(t, state())
	env(t, d, false)
	c := client(d, "c-1")
	c.Facts(context.Background(), clouddouble.Region)
	ref := cloud.Ref{VIPs: []string{"1.2.3.4", "192.168.0.200"}}
	if lb := c.ELBs(context.Background(), []cloud.Ref{ref}).For(ref); lb == nil || lb.ID != "lb-1" || lb.Unread != "" {
		t.Errorf("%+v", lb)
	}
}

// TestPaging: lists are read page after page, by page_info.next_marker, even when the server
// caps pages below the limit asked.
func TestPaging(t *testing.T) {
	st := state()
	st.PageSize = 2
	d := clouddouble.Start(t, st)
	env(t, d, false)
	c := client(d, "c-1")
	c.Facts(context.Background(), clouddouble.Region)
	lb := c.ELBs(context.Background(), []cloud.Ref{{ID: "lb-1"}}).For(cloud.Ref{ID: "lb-1"})
	if lb == nil || lb.Unread != "" || len(lb.Listeners) != 1 || lb.Listeners[0].Members != 8 || lb.Listeners[0].Unhealthy != 3 {
		t.Fatalf("%+v", lb)
	}
	pages := 0
	for _, r := range d.Requests() {
		if strings.Contains(r, "/elb/members") {
			pages++
		}
	}
	if pages != 4 {
		t.Errorf("%d pages of 8 members at 2 a page, want 4: %v", pages, d.Requests())
	}
}
