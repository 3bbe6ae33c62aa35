package cloud

import (
	"context"
	"sort"
	"strconv"
	"sync"

	elbv3 "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/elb/v3"
	elbmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/elb/v3/model"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// Ref names the load balancer of one Service: its kubernetes.io/elb.id, else the addresses of
// its status (matched against the load balancers' VIPs).
type Ref struct {
	ID   string
	VIPs []string
}

// ELBs is what the ELB API said about the load balancers of a run.
type ELBs struct {
	byID  map[string]*plan.CloudELB
	byVIP map[string]*plan.CloudELB
}

// For returns what is known about the load balancer of ref (nil when it was not asked about):
// by id, else the first of its addresses that is a load balancer's VIP (a Service's status may
// also hold an EIP, which is no VIP), else what the first address tells.
func (e ELBs) For(ref Ref) *plan.CloudELB {
	if ref.ID != "" {
		return e.byID[ref.ID]
	}
	var first *plan.CloudELB
	for _, v := range ref.VIPs {
		lb := e.byVIP[v]
		if lb != nil && lb.Unread == "" {
			return lb
		}
		if first == nil {
			first = lb
		}
	}
	return first
}

// ELBs reads the load balancers of refs together: one list request per kind of object for
// ChunkSize load balancers at a time (load balancers by id and by VIP, listeners, pools,
// members, health monitors) and one for the quota, whatever the number of Services on them.
// What could not be read is in each CloudELB's Unread.
func (c *Client) ELBs(ctx context.Context, refs []Ref) ELBs {
	out := ELBs{byID: map[string]*plan.CloudELB{}, byVIP: map[string]*plan.CloudELB{}}
	var ids, vips []string
	for _, r := range refs {
		switch {
		case r.ID != "":
			if out.byID[r.ID] == nil {
				out.byID[r.ID] = &plan.CloudELB{ID: r.ID}
				ids = append(ids, r.ID)
			}
		default:
			for _, v := range r.VIPs {
				if out.byVIP[v] == nil {
					out.byVIP[v] = &plan.CloudELB{VIP: v}
					vips = append(vips, v)
				}
			}
		}
	}
	if len(ids)+len(vips) == 0 {
		return out
	}
	unread := func(why string) ELBs {
		for _, lb := range out.byID {
			lb.Unread = "not read: " + why
		}
		for _, lb := range out.byVIP {
			lb.Unread = "not read: " + why
		}
		return out
	}
	svc, why := c.service(ctx, "elb")
	if why != "" {
		return unread(why)
	}
	r := elbReader{c: c, cli: svc.(*elbv3.ElbClient), ctx: ctx}

	// The load balancers: by id, and by VIP for the Services that name none.
	var (
		mu                     sync.Mutex
		wg                     sync.WaitGroup
		lbs                    []elbmodel.LoadBalancer
		lbErrByID, lbErrByVIP  string
		listeners              []elbmodel.Listener
		pools                  []elbmodel.Pool
		members                []elbmodel.MemberInfo
		hms                    []elbmodel.HealthMonitor
		quota                  int
		errL, errP, errM, errH string
	)
	gather(&wg, &mu, r, ids, &lbs, &lbErrByID, func(chunk []string, marker *string) ([]elbmodel.LoadBalancer, *elbmodel.PageInfo, error) {
		resp, err := r.cli.ListLoadBalancers(&elbmodel.ListLoadBalancersRequest{Id: &chunk, Marker: marker, Limit: limit()})
		if err != nil {
			return nil, nil, err
		}
		return deref(resp.Loadbalancers), resp.PageInfo, nil
	})
	gather(&wg, &mu, r, vips, &lbs, &lbErrByVIP, func(chunk []string, marker *string) ([]elbmodel.LoadBalancer, *elbmodel.PageInfo, error) {
		resp, err := r.cli.ListLoadBalancers(&elbmodel.ListLoadBalancersRequest{VipAddress: &chunk, Marker: marker, Limit: limit()})
		if err != nil {
			return nil, nil, err
		}
		return deref(resp.Loadbalancers), resp.PageInfo, nil
	})
	wg.Wait()
	found := map[string]*elbmodel.LoadBalancer{}
	for i := range lbs {
		found[lbs[i].Id] = &lbs[i]
	}
	var lbIDs []string
	for id := range found {
		lbIDs = append(lbIDs, id)
	}
	sort.Strings(lbIDs)

	// Their listeners, pools, members and the quota, at the same time.
	gather(&wg, &mu, r, lbIDs, &listeners, &errL, func(chunk []string, marker *string) ([]elbmodel.Listener, *elbmodel.PageInfo, error) {
		resp, err := r.cli.ListListeners(&elbmodel.ListListenersRequest{LoadbalancerId: &chunk, Marker: marker, Limit: limit()})
		if err != nil {
			return nil, nil, err
		}
		return deref(resp.Listeners), resp.PageInfo, nil
	})
	gather(&wg, &mu, r, lbIDs, &pools, &errP, func(chunk []string, marker *string) ([]elbmodel.Pool, *elbmodel.PageInfo, error) {
		resp, err := r.cli.ListPools(&elbmodel.ListPoolsRequest{LoadbalancerId: &chunk, Marker: marker, Limit: limit()})
		if err != nil {
			return nil, nil, err
		}
		return deref(resp.Pools), resp.PageInfo, nil
	})
	gather(&wg, &mu, r, lbIDs, &members, &errM, func(chunk []string, marker *string) ([]elbmodel.MemberInfo, *elbmodel.PageInfo, error) {
		resp, err := r.cli.ListAllMembers(&elbmodel.ListAllMembersRequest{LoadbalancerId: &chunk, Marker: marker, Limit: limit()})
		if err != nil {
			return nil, nil, err
		}
		return deref(resp.Members), resp.PageInfo, nil
	})
	if len(lbIDs) > 0 {
		wg.Go(func() {
			var resp *elbmodel.ShowQuotaResponse
			if why := c.call(ctx, func() (err error) {
				resp, err = r.cli.ShowQuota(&elbmodel.ShowQuotaRequest{})
				return err
			}); why == "" && resp.Quota != nil {
				quota = int(resp.Quota.MembersPerPool)
			}
		})
	}
	wg.Wait()

	// The pools' health monitors.
	var monIDs []string
	for _, p := range pools {
		if p.HealthmonitorId != "" {
			monIDs = append(monIDs, p.HealthmonitorId)
		}
	}
	gather(&wg, &mu, r, dedupe(monIDs), &hms, &errH, func(chunk []string, marker *string) ([]elbmodel.HealthMonitor, *elbmodel.PageInfo, error) {
		resp, err := r.cli.ListHealthMonitors(&elbmodel.ListHealthMonitorsRequest{Id: &chunk, Marker: marker, Limit: limit()})
		if err != nil {
			return nil, nil, err
		}
		return deref(resp.Healthmonitors), resp.PageInfo, nil
	})
	wg.Wait()
	monitors := map[string]*elbmodel.HealthMonitor{}
	for i := range hms {
		monitors[hms[i].Id] = &hms[i]
	}

	partial := ""
	switch {
	case errL != "":
		partial = "listeners not read: " + errL
	case errP != "":
		partial = "pools not read: " + errP
	case errM != "":
		partial = "members not read: " + errM
	case errH != "":
		partial = "health monitors not read: " + errH
	}
	fill := func(lb *plan.CloudELB, m *elbmodel.LoadBalancer) {
		lb.ID, lb.Name, lb.VIP = m.Id, m.Name, m.VipAddress
		if partial != "" {
			lb.Unread = partial
			return
		}
		lb.MembersPerPool = quota
		lb.Listeners = assemble(m.Id, listeners, pools, members, monitors)
	}
	for id, lb := range out.byID {
		if m := found[id]; m != nil {
			fill(lb, m)
			continue
		}
		lb.Unread = "not found in the ELB v3 API (region " + c.Region() + ")"
		if lbErrByID != "" {
			lb.Unread = "not read: " + lbErrByID
		}
	}
	byVIP := map[string]*elbmodel.LoadBalancer{}
	for _, m := range found {
		byVIP[m.VipAddress] = m
	}
	for vip, lb := range out.byVIP {
		if m := byVIP[vip]; m != nil {
			fill(lb, m)
			continue
		}
		lb.Unread = "no load balancer of the ELB v3 API (region " + c.Region() + ") has the VIP " + vip
		if lbErrByVIP != "" {
			lb.Unread = "not read: " + lbErrByVIP
		}
	}
	return out
}

type elbReader struct {
	c   *Client
	cli *elbv3.ElbClient
	ctx context.Context
}

// gather reads every page of one list for each chunk of ids (ChunkSize per request), the
// chunks at the same time (within the run's bounds), into *into; *why keeps the first failure.
// The caller waits on wg.
func gather[T any](wg *sync.WaitGroup, mu *sync.Mutex, r elbReader, ids []string, into *[]T, why *string,
	list func(chunk []string, marker *string) ([]T, *elbmodel.PageInfo, error)) {
	for _, chunk := range chunks(ids) {
		wg.Go(func() {
			failed := r.pages(func(marker *string) (*elbmodel.PageInfo, int, error) {
				items, info, err := list(chunk, marker)
				if err != nil {
					return nil, 0, err
				}
				mu.Lock()
				*into = append(*into, items...)
				mu.Unlock()
				return info, len(items), nil
			})
			mu.Lock()
			*why = firstOf(*why, failed)
			mu.Unlock()
		})
	}
}

func deref[T any](p *[]T) []T {
	if p == nil {
		return nil
	}
	return *p
}

// pages calls list for each page (marker nil first) while the answer names a next marker
// (page_info.next_marker) that is new and the page was not empty, whatever the page's size (a
// server may cap it below the limit asked); each page is one request within the run's bounds.
func (r elbReader) pages(list func(marker *string) (*elbmodel.PageInfo, int, error)) string {
	var marker *string
	for {
		var info *elbmodel.PageInfo
		var n int
		if why := r.c.call(r.ctx, func() (err error) {
			info, n, err = list(marker)
			return err
		}); why != "" {
			return why
		}
		if info == nil || info.NextMarker == nil || *info.NextMarker == "" || n == 0 || (marker != nil && *marker == *info.NextMarker) {
			return ""
		}
		marker = info.NextMarker
	}
}

func limit() *int32 {
	n := int32(PageLimit)
	return &n
}

// assemble builds the listeners of load balancer lb with their default pools' members and
// health monitors.
func assemble(lb string, listeners []elbmodel.Listener, pools []elbmodel.Pool, members []elbmodel.MemberInfo, monitors map[string]*elbmodel.HealthMonitor) []plan.CloudListener {
	poolByID := map[string]*elbmodel.Pool{}
	for i := range pools {
		poolByID[pools[i].Id] = &pools[i]
	}
	membersOf := map[string][]elbmodel.MemberInfo{}
	for _, m := range members {
		if m.PoolId != nil {
			membersOf[*m.PoolId] = append(membersOf[*m.PoolId], m)
		}
	}
	var out []plan.CloudListener
	for _, l := range listeners {
		if !onLB(l.Loadbalancers, lb) {
			continue
		}
		cl := plan.CloudListener{ID: l.Id, Protocol: l.Protocol, Port: l.ProtocolPort, PoolID: l.DefaultPoolId}
		if p := poolByID[l.DefaultPoolId]; p != nil {
			ports := map[int32]bool{}
			for _, m := range membersOf[p.Id] {
				cl.Members++
				if plan.IsMemberUnhealthy(m.OperatingStatus) {
					cl.Unhealthy++
					cl.UnhealthyAddrs = append(cl.UnhealthyAddrs, m.Address+":"+strconv.Itoa(int(m.ProtocolPort))+" "+m.OperatingStatus)
				}
				if !ports[m.ProtocolPort] {
					ports[m.ProtocolPort] = true
					cl.MemberPorts = append(cl.MemberPorts, m.ProtocolPort)
				}
			}
			sort.Slice(cl.MemberPorts, func(i, j int) bool { return cl.MemberPorts[i] < cl.MemberPorts[j] })
			sort.Strings(cl.UnhealthyAddrs)
			if hm := monitors[p.HealthmonitorId]; hm != nil {
				cl.Monitor = &plan.CloudMonitor{ID: hm.Id, Type: hm.Type, Port: hm.MonitorPort, Delay: hm.Delay, Timeout: hm.Timeout, MaxRetries: hm.MaxRetries, AdminStateUp: hm.AdminStateUp}
			}
		}
		out = append(out, cl)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Port != out[j].Port {
			return out[i].Port < out[j].Port
		}
		return out[i].Protocol < out[j].Protocol
	})
	return out
}

func onLB(refs []elbmodel.LoadBalancerRef, id string) bool {
	for _, r := range refs {
		if r.Id != nil && *r.Id == id {
			return true
		}
	}
	return false
}

// chunks splits ids into groups of ChunkSize (one request each).
func chunks(ids []string) [][]string {
	var out [][]string
	for len(ids) > 0 {
		n := min(ChunkSize, len(ids))
		out = append(out, ids[:n:n])
		ids = ids[n:]
	}
	return out
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
