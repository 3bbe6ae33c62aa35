package clouddouble

import (
	"net/http"
	"strings"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	cce "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cce/v3"
	ccemodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/cce/v3/model"
	elb "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/elb/v3"
	elbmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/elb/v3/model"
)

func testState() State {
	pool := &Pool{ID: "pool-1", Protocol: "TCP", Monitor: &Monitor{ID: "hm-1", Type: "HTTP", Port: 8080, Delay: 5, Timeout: 10, MaxRetries: 3},
		Members: []Member{{ID: "m-1", Address: "192.168.0.20", Port: 30080, Status: "OFFLINE"}}}
	return State{
		Clusters:       []Cluster{{ID: "c-1", Name: "prod", Category: "Turbo", NetworkMode: "eni", ProxyMode: "ipvs", Endpoints: []string{"https://192.168.0.10:5443"}}},
		LoadBalancers:  []LoadBalancer{{ID: "lb-1", Name: "web", VIP: "192.168.0.200", Listeners: []Listener{{ID: "l-1", Protocol: "TCP", Port: 80, Pool: pool}}}},
		MembersPerPool: 500,
	}
}

// sdkClient builds an SDK client of the double with explicit credentials (no provider chain,
// so never the metadata service) and a transport that trusts the double's certificate.
func sdkClient(t *testing.T, d *Server, b *core.HcHttpClientBuilder, project string) *core.HcHttpClient {
	t.Helper()
	cred, err := auth.NewBasicCredentialsBuilder().WithAk(AK).WithSk(SK).WithProjectId(project).WithIamEndpointOverride(d.URL).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	tr := d.Client().Transport.(*http.Transport)
	hc, err := b.WithRegion(region.NewRegion(Region, d.URL)).WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithHttpTransport(tr)).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return hc
}

func nonEmpty(t *testing.T, what string, values ...any) {
	t.Helper()
	for i, v := range values {
		switch x := v.(type) {
		case string:
			if x == "" {
				t.Errorf("%s: field %d empty", what, i)
			}
		case int32:
			if x == 0 {
				t.Errorf("%s: field %d zero", what, i)
			}
		case bool:
			if !x {
				t.Errorf("%s: field %d false", what, i)
			}
		}
	}
}

// TestShapes decodes every answer of the double with the SDK's own model types (through the
// SDK's clients) and checks that each field elbfix reads is there, so the double's shapes
// cannot drift from the SDK's silently. The project id comes from IAM, as without
// HUAWEICLOUD_SDK_PROJECT_ID.
func TestShapes(t *testing.T) {
	d := Start(t, testState())
	cc := cce.NewCceClient(sdkClient(t, d, cce.CceClientBuilder(), ""))
	ec := elb.NewElbClient(sdkClient(t, d, elb.ElbClientBuilder(), ProjectID))

	show, err := cc.ShowCluster(&ccemodel.ShowClusterRequest{ClusterId: "c-1"})
	if err != nil {
		t.Fatal(err)
	}
	if show.Spec == nil || show.Spec.Category == nil || show.Spec.ContainerNetwork == nil || show.Spec.KubeProxyMode == nil || show.Metadata == nil || show.Metadata.Uid == nil {
		t.Fatalf("ShowCluster: %v", show)
	}
	nonEmpty(t, "ShowCluster", show.Spec.Category.Value(), show.Spec.ContainerNetwork.Mode.Value(), show.Spec.KubeProxyMode.Value(), show.Metadata.Name, *show.Metadata.Uid)
	list, err := cc.ListClusters(&ccemodel.ListClustersRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if list.Items == nil || len(*list.Items) != 1 || (*list.Items)[0].Status == nil || (*list.Items)[0].Status.Endpoints == nil {
		t.Fatalf("ListClusters: %v", list)
	}
	ep := (*(*list.Items)[0].Status.Endpoints)[0]
	nonEmpty(t, "ListClusters endpoint", *ep.Url)

	ids := []string{"lb-1"}
	lbs, err := ec.ListLoadBalancers(&elbmodel.ListLoadBalancersRequest{Id: &ids})
	if err != nil || lbs.Loadbalancers == nil || len(*lbs.Loadbalancers) != 1 || lbs.PageInfo == nil {
		t.Fatalf("ListLoadBalancers: %v %v", lbs, err)
	}
	lb := (*lbs.Loadbalancers)[0]
	nonEmpty(t, "LoadBalancer", lb.Id, lb.Name, lb.VipAddress)
	ls, err := ec.ListListeners(&elbmodel.ListListenersRequest{LoadbalancerId: &ids})
	if err != nil || ls.Listeners == nil || len(*ls.Listeners) != 1 {
		t.Fatalf("ListListeners: %v %v", ls, err)
	}
	l := (*ls.Listeners)[0]
	nonEmpty(t, "Listener", l.Id, l.Protocol, l.ProtocolPort, l.DefaultPoolId)
	if len(l.Loadbalancers) != 1 || l.Loadbalancers[0].Id == nil || *l.Loadbalancers[0].Id != "lb-1" {
		t.Errorf("Listener.loadbalancers: %v", l.Loadbalancers)
	}
	ps, err := ec.ListPools(&elbmodel.ListPoolsRequest{LoadbalancerId: &ids})
	if err != nil || ps.Pools == nil || len(*ps.Pools) != 1 {
		t.Fatalf("ListPools: %v %v", ps, err)
	}
	p := (*ps.Pools)[0]
	nonEmpty(t, "Pool", p.Id, p.HealthmonitorId)
	ms, err := ec.ListAllMembers(&elbmodel.ListAllMembersRequest{LoadbalancerId: &ids})
	if err != nil || ms.Members == nil || len(*ms.Members) != 1 {
		t.Fatalf("ListAllMembers: %v %v", ms, err)
	}
	m := (*ms.Members)[0]
	if m.PoolId == nil {
		t.Fatalf("member without pool_id: %v", m)
	}
	nonEmpty(t, "Member", m.Address, m.ProtocolPort, m.OperatingStatus, *m.PoolId)
	hmIDs := []string{p.HealthmonitorId}
	hms, err := ec.ListHealthMonitors(&elbmodel.ListHealthMonitorsRequest{Id: &hmIDs})
	if err != nil || hms.Healthmonitors == nil || len(*hms.Healthmonitors) != 1 {
		t.Fatalf("ListHealthMonitors: %v %v", hms, err)
	}
	hm := (*hms.Healthmonitors)[0]
	nonEmpty(t, "HealthMonitor", hm.Id, hm.Type, hm.MonitorPort, hm.Delay, hm.Timeout, hm.MaxRetries, hm.AdminStateUp)
	q, err := ec.ShowQuota(&elbmodel.ShowQuotaRequest{})
	if err != nil || q.Quota == nil {
		t.Fatalf("ShowQuota: %v %v", q, err)
	}
	nonEmpty(t, "Quota", q.Quota.MembersPerPool)

	// The documented paths, each signed as the SDK signs.
	want := []string{"/v3/projects?name=", "/api/v3/projects/" + ProjectID + "/clusters/c-1", "/api/v3/projects/" + ProjectID + "/clusters",
		"/v3/" + ProjectID + "/elb/loadbalancers?id=lb-1", "/v3/" + ProjectID + "/elb/listeners?loadbalancer_id=lb-1",
		"/v3/" + ProjectID + "/elb/pools?loadbalancer_id=lb-1", "/v3/" + ProjectID + "/elb/members?loadbalancer_id=lb-1",
		"/v3/" + ProjectID + "/elb/healthmonitors?id=hm-1", "/v3/" + ProjectID + "/elb/quotas"}
	got := d.Requests()
	if len(got) != len(want) {
		t.Fatalf("requests %v", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], "GET "+want[i]) {
			t.Errorf("request %d: %s, want GET %s", i, got[i], want[i])
		}
	}
	if r := d.Rejected(); len(r) > 0 {
		t.Errorf("signatures rejected: %v", r)
	}
}

// TestSignatureChecked: a request signed with another secret key is refused (401), so the
// double does check what the SDK signs.
func TestSignatureChecked(t *testing.T) {
	d := Start(t, testState())
	cred, err := auth.NewBasicCredentialsBuilder().WithAk(AK).WithSk("another-secret-key-0000000000000000000").WithProjectId(ProjectID).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := elb.ElbClientBuilder().WithRegion(region.NewRegion(Region, d.URL)).WithCredential(cred).
		WithHttpConfig(config.DefaultHttpConfig().WithHttpTransport(d.Client().Transport.(*http.Transport))).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := elb.NewElbClient(hc).ShowQuota(&elbmodel.ShowQuotaRequest{}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("want a 401, got %v", err)
	}
	if len(d.Rejected()) != 1 {
		t.Errorf("rejected: %v", d.Rejected())
	}
}
