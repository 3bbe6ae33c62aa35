package elb

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// Address scopes.
const (
	ScopePrivate = "private"
	ScopePublic  = "public"
	ScopeUnknown = ""
)

// IP modes of status.loadBalancer.ingress[].ipMode (KEP-1860). An empty mode means VIP.
const (
	IPModeVIP   = string(corev1.LoadBalancerIPModeVIP)
	IPModeProxy = string(corev1.LoadBalancerIPModeProxy)
)

// IngressIP is one entry of status.loadBalancer.ingress.
type IngressIP struct {
	IP       string `json:"ip,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	// IPMode is the raw ipMode ("" when the controller did not write it: kube-proxy then treats
	// the address as VIP).
	IPMode string `json:"ipMode,omitempty"`
}

// ShortCut reports whether kube-proxy installs a short-cut for this entry: it has an IP and its
// ipMode is not Proxy (KEP-1860: kube-proxy ignores ingress IPs whose ipMode is Proxy, and never
// handles hostnames).
func (i IngressIP) ShortCut() bool { return i.IP != "" && i.IPMode != IPModeProxy }

// Scope is "private" or "public" for the entry's IP, "" when it has none or it does not parse.
func (i IngressIP) Scope() string { return AddressScope(i.IP) }

// IngressIPs lists the entries of svc's load-balancer status, in order.
func IngressIPs(svc *corev1.Service) []IngressIP {
	if svc == nil {
		return nil
	}
	var out []IngressIP
	for _, in := range svc.Status.LoadBalancer.Ingress {
		e := IngressIP{IP: in.IP, Hostname: in.Hostname}
		if in.IPMode != nil {
			e.IPMode = string(*in.IPMode)
		}
		out = append(out, e)
	}
	return out
}

// extra ranges that are not on the public Internet but that netip.Addr.IsPrivate leaves out.
var extraPrivate = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), // RFC 6598 shared address space (ELB health checks come from 100.125.0.0/16)
	netip.MustParsePrefix("192.0.0.0/24"),  // RFC 6890 IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // RFC 2544 benchmarking
}

// AddressScope tells a private address (RFC 1918, RFC 6598 100.64/10, loopback, link-local,
// IPv6 ULA) from a public one. It returns "" for a string that is not an IP address.
func AddressScope(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ScopeUnknown
	}
	a = a.Unmap()
	if a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
		return ScopePrivate
	}
	for _, p := range extraPrivate {
		if p.Contains(a) {
			return ScopePrivate
		}
	}
	return ScopePublic
}
