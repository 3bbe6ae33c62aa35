package plan

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
)

// CloudELB is what the ELB API said about the load balancer of one Service (--cloud; read by
// pkg/cloud, one read per ELB however many Services share it). The decision only reads it: the
// rules in this file turn it into findings and notes.
type CloudELB struct {
	// ID and VIP of the load balancer; Name as the ELB API has it.
	ID, Name, VIP string
	// Unread says what could not be read and why ("" when everything was read): no
	// credentials, 401/403, throttling, a timeout, the request bound, not found.
	Unread string
	// MembersPerPool is the project's members_per_pool quota; 0 when it could not be read, -1
	// when it is unlimited.
	MembersPerPool int
	Listeners      []CloudListener
}

// CloudListener is one listener of the load balancer with its default pool.
type CloudListener struct {
	ID, Protocol string
	Port         int32
	PoolID       string
	// Members is the number of members of the pool; Unhealthy those whose operating_status is
	// neither ONLINE nor NO_MONITOR (OFFLINE: the health check fails), with their addresses.
	Members        int
	Unhealthy      int
	UnhealthyAddrs []string
	// MemberPorts are the distinct ports the members listen on (the NodePort, or the pods'
	// port when the members are pods).
	MemberPorts []int32
	// Monitor is the pool's health monitor; nil when the pool has none.
	Monitor *CloudMonitor
}

// CloudMonitor is a pool's health monitor as configured on the ELB.
type CloudMonitor struct {
	ID, Type string
	// Port is monitor_port; 0 means each member's own port.
	Port                       int32
	Delay, Timeout, MaxRetries int32
	AdminStateUp               bool
}

// MemberQuotaNear is the share of members_per_pool (percent) from which a pool counts as near
// its member quota.
const MemberQuotaNear = 80

// Member operating statuses of the ELB API.
const (
	memberOnline    = "ONLINE"
	memberNoMonitor = "NO_MONITOR"
)

// IsMemberUnhealthy tells whether an ELB member's operating_status means its health check fails.
func IsMemberUnhealthy(status string) bool {
	s := strings.ToUpper(status)
	return s != memberOnline && s != memberNoMonitor
}

// cloudListeners are the listeners of the Service's ports (same port; same protocol, or HTTP(S)
// on a TCP port), in the order of the ports.
func (f *facts) cloudListeners() []CloudListener {
	c := f.cloud
	if c == nil || c.Unread != "" {
		return nil
	}
	var out []CloudListener
	for _, p := range f.svc.Spec.Ports {
		for _, l := range c.Listeners {
			if l.Port == p.Port && protocolMatches(string(p.Protocol), l.Protocol) {
				out = append(out, l)
			}
		}
	}
	return out
}

func protocolMatches(svc, listener string) bool {
	if svc == "" {
		svc = string(corev1.ProtocolTCP)
	}
	l := strings.ToUpper(listener)
	switch strings.ToUpper(svc) {
	case "UDP":
		return l == "UDP" || l == "QUIC"
	case "TCP":
		return l == "TCP" || l == "HTTP" || l == "HTTPS" || l == "TLS"
	}
	return strings.EqualFold(svc, listener)
}

func (f *facts) elbName() string {
	if f.cloud.Name != "" && f.cloud.Name != f.cloud.ID {
		return fmt.Sprintf("ELB %s (%s)", f.cloud.ID, f.cloud.Name)
	}
	return "ELB " + f.cloud.ID
}

// membersUnhealthy is elb-members-unhealthy: members of the Service's pools fail the ELB's
// health check, as the ELB API reports them now.
func (f *facts) membersUnhealthy() *Finding {
	var parts []string
	total := 0
	for _, l := range f.cloudListeners() {
		if l.Unhealthy == 0 {
			continue
		}
		total += l.Unhealthy
		addrs := l.UnhealthyAddrs
		more := ""
		if len(addrs) > 5 {
			addrs, more = addrs[:5], fmt.Sprintf(" and %d more", len(l.UnhealthyAddrs)-5)
		}
		parts = append(parts, fmt.Sprintf("listener %s/%d: %d of %d members unhealthy (%s%s)", l.Protocol, l.Port, l.Unhealthy, l.Members, strings.Join(addrs, ", "), more))
	}
	if total == 0 {
		return nil
	}
	return &Finding{ID: FindingELBMembersUnhealthy, Severity: SeverityWarning,
		Message: fmt.Sprintf("%s (ELB API): %d unhealthy members: %s. The ELB sends no traffic to them; in-cluster clients that go through the ELB only reach the healthy ones. Check the health check's protocol and port, and the backends on those nodes", f.elbName(), total, strings.Join(parts, "; "))}
}

// healthCheckPortMismatch is elb-healthcheck-port-mismatch: a health monitor checks a fixed
// port that no backend of the Service is known to listen on. Knowable when the monitor names a
// port (monitor_port): it is then compared with the members' ports, the Service's NodePorts,
// target ports and health-check NodePort.
func (f *facts) healthCheckPortMismatch() *Finding {
	known := map[int32]bool{}
	for _, p := range f.svc.Spec.Ports {
		known[p.NodePort] = true
		known[p.Port] = true
		if p.TargetPort.IntVal != 0 {
			known[p.TargetPort.IntVal] = true
		}
	}
	if f.svc.Spec.HealthCheckNodePort != 0 {
		known[f.svc.Spec.HealthCheckNodePort] = true
	}
	var parts []string
	for _, l := range f.cloudListeners() {
		m := l.Monitor
		if m == nil || m.Port == 0 || !m.AdminStateUp {
			continue
		}
		ok := known[m.Port]
		for _, p := range l.MemberPorts {
			ok = ok || p == m.Port
		}
		if ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("listener %s/%d: the %s health check probes port %d, but the members listen on %s and the Service's ports are %s",
			l.Protocol, l.Port, m.Type, m.Port, portList(l.MemberPorts), f.servicePortWords()))
	}
	if len(parts) == 0 {
		return nil
	}
	return &Finding{ID: FindingELBHealthCheckPortMismatch, Severity: SeverityWarning,
		Message: fmt.Sprintf("%s (ELB API): %s. No backend is known to listen there, so the check fails and the members go unhealthy", f.elbName(), strings.Join(parts, "; "))}
}

func portList(ps []int32) string {
	if len(ps) == 0 {
		return "no port (no members)"
	}
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

func (f *facts) servicePortWords() string {
	var s []string
	for _, p := range f.svc.Spec.Ports {
		w := fmt.Sprintf("%d", p.Port)
		if p.NodePort != 0 {
			w += fmt.Sprintf(" (NodePort %d)", p.NodePort)
		}
		s = append(s, w)
	}
	if f.svc.Spec.HealthCheckNodePort != 0 {
		s = append(s, fmt.Sprintf("health-check NodePort %d", f.svc.Spec.HealthCheckNodePort))
	}
	return strings.Join(s, ", ")
}

// memberQuotaNear is elb-member-quota-near: a pool of the Service holds MemberQuotaNear% or more
// of the project's members_per_pool quota, as the ELB API counts them: at the quota, CCE's
// next update of the members fails with ELB.8905 (docs/domain.md §7), before any Event says so.
func (f *facts) memberQuotaNear() *Finding {
	q := 0
	if f.cloud != nil {
		q = f.cloud.MembersPerPool
	}
	if q <= 0 {
		return nil
	}
	var parts []string
	at := false
	for _, l := range f.cloudListeners() {
		if l.Members*100 < q*MemberQuotaNear {
			continue
		}
		at = at || l.Members >= q
		parts = append(parts, fmt.Sprintf("listener %s/%d: pool %s has %d members of %d (%d%%)", l.Protocol, l.Port, l.PoolID, l.Members, q, l.Members*100/q))
	}
	if len(parts) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s (ELB API, quota members_per_pool %d): %s", f.elbName(), q, strings.Join(parts, "; "))
	if at {
		msg += ". At the quota, CCE cannot add a new member before removing an old one: its next update of the members fails with ELB.8905 (members_per_pool) and may leave the pool half updated"
	} else {
		msg += fmt.Sprintf(". From %d%% of the quota on, a scale-out or a policy change that adds members can hit ELB.8905 (members_per_pool)", MemberQuotaNear)
	}
	return &Finding{ID: FindingELBMemberQuotaNear, Severity: SeverityWarning, Message: msg + ". Remedy: raise the members_per_pool quota before the next change of the Service's backends"}
}

// cloudNotes say what the ELB API could not tell about the Service (a failure is evidence,
// never an error), and where the health monitor differs from the annotation.
func (f *facts) cloudNotes() []Note {
	c := f.cloud
	if c == nil {
		return nil
	}
	if c.Unread != "" {
		return []Note{{Source: SourceEvidence, Message: "ELB API (--cloud): " + c.Unread + "; the verdict stands on the Kubernetes API alone"}}
	}
	var out []Note
	var missing []string
	ls := f.cloudListeners()
	for _, p := range f.svc.Spec.Ports {
		found := false
		for _, l := range ls {
			found = found || l.Port == p.Port
		}
		if !found {
			missing = append(missing, fmt.Sprintf("%s/%d", protoOr(p.Protocol), p.Port))
		}
	}
	if len(missing) > 0 {
		out = append(out, Note{Source: SourceEvidence, Message: fmt.Sprintf("%s (ELB API): no listener for the Service's port %s", f.elbName(), strings.Join(missing, ", "))})
	}
	if f.cloud.MembersPerPool == 0 {
		out = append(out, Note{Source: SourceEvidence, Message: "ELB API (--cloud): the members_per_pool quota could not be read; elb-member-quota-near was not checked"})
	}
	for _, l := range ls {
		hc, ann := f.healthCheckFor(l)
		if hc == nil {
			continue
		}
		if d := monitorDrift(string(hc.Delay), string(hc.Timeout), string(hc.MaxRetries), hc.Protocol, l.Monitor); d != "" {
			out = append(out, Note{Source: SourceEvidence, Message: fmt.Sprintf("%s listener %s/%d: the health monitor on the ELB differs from %s: %s (CCE applies the annotation on its next update of the ELB)", f.elbName(), l.Protocol, l.Port, ann, d)})
		}
	}
	return out
}

// healthCheckFor is the annotation's health check for a listener: the per-port entry of
// kubernetes.io/elb.health-check-options whose target_service_port is the listener's, else the
// single kubernetes.io/elb.health-check-option; nil when neither says anything for it.
func (f *facts) healthCheckFor(l CloudListener) (*elb.HealthCheck, string) {
	for i := range f.info.HealthCheckOptions {
		h := &f.info.HealthCheckOptions[i]
		if proto, port, ok := h.TargetPort(); ok && port == l.Port && protocolMatches(proto, l.Protocol) {
			return h, elb.AnnHealthCheckOptions + " (" + string(h.TargetServicePort) + ")"
		}
	}
	if f.info.HealthCheckOption != nil {
		return f.info.HealthCheckOption, elb.AnnHealthCheckOption
	}
	return nil, ""
}

func protoOr(p corev1.Protocol) string {
	if p == "" {
		return "TCP"
	}
	return string(p)
}

// monitorDrift compares a health monitor with the annotation's values ("" when they agree or
// either is unknown).
func monitorDrift(delay, timeout, retries, protocol string, m *CloudMonitor) string {
	if m == nil {
		return ""
	}
	var d []string
	cmp := func(name, want string, got int32) {
		if want == "" {
			return
		}
		if n, err := strconv.Atoi(want); err == nil && int32(n) != got {
			d = append(d, fmt.Sprintf("%s %d on the ELB, %d in the annotation", name, got, n))
		}
	}
	cmp("delay", delay, m.Delay)
	cmp("timeout", timeout, m.Timeout)
	cmp("max_retries", retries, m.MaxRetries)
	if protocol != "" && !strings.EqualFold(protocol, m.Type) {
		d = append(d, fmt.Sprintf("type %s on the ELB, %s in the annotation", m.Type, protocol))
	}
	sort.Strings(d)
	return strings.Join(d, ", ")
}
