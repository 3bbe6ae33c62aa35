package plan

import (
	"encoding/json"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
)

// svcSpec builds a test Service compactly.
type svcSpec struct {
	typ       corev1.ServiceType // default LoadBalancer
	cluster   bool               // externalTrafficPolicy Cluster (default Local)
	ann       map[string]string  // annotations
	ingress   []corev1.LoadBalancerIngress
	noNP      bool // allocateLoadBalancerNodePorts: false
	ports     []corev1.ServicePort
	name      string
	namespace string
}

func mk(s svcSpec) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: s.ann},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: s.ingress}},
	}
	if s.name != "" {
		svc.Name = s.name
	}
	if s.namespace != "" {
		svc.Namespace = s.namespace
	}
	if s.typ != "" {
		svc.Spec.Type = s.typ
	}
	if s.cluster {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if s.typ == corev1.ServiceTypeClusterIP || s.typ == corev1.ServiceTypeExternalName {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if s.noNP {
		f := false
		svc.Spec.AllocateLoadBalancerNodePorts = &f
	}
	if s.ports != nil {
		svc.Spec.Ports = s.ports
	}
	return svc
}

func ann(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

const (
	aClass = "kubernetes.io/elb.class"
	aPT    = "kubernetes.io/elb.pass-through"
	aID    = "kubernetes.io/elb.id"
)

var (
	union       = ann(aClass, "union")
	unionPT     = ann(aClass, "union", aPT, "true")
	unionOnly   = ann(aClass, "union", aPT, "onlyLocal")
	performance = ann(aClass, "performance")
	perfPT      = ann(aClass, "performance", aPT, "true")
	dnatAnn     = ann(aClass, "dnat")
	osShared    = ann(aClass, "shared")
	vipPrivPub  = []corev1.LoadBalancerIngress{{IP: "192.168.0.147"}, {IP: "203.0.113.36"}}
	v125        = "v1.25.5-r0-25.2.5"
	tIPVS       = [2]string{"tunnel", "ipvs"}
	vIPVS       = [2]string{"vpc", "ipvs"}
	tIPT        = [2]string{"tunnel", "iptables"}
	vIPT        = [2]string{"vpc", "iptables"}
	unk         = [2]string{"unknown", "unknown"}
	boolT       = true
	boolF       = false
)

// cells renders a finding's cells as sorted "client>target" strings.
func cells(f *Finding) []string {
	if f == nil {
		return nil
	}
	var out []string
	for _, c := range f.Unreachable {
		out = append(out, c.Client+">"+c.Target)
	}
	sort.Strings(out)
	return out
}

func find(fs []Finding, id string) *Finding {
	for i := range fs {
		if fs[i].ID == id {
			return &fs[i]
		}
	}
	return nil
}

func ids(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.ID+"/"+f.Severity)
	}
	return out
}

func cl(clients []string, target string) []string {
	var out []string
	for _, c := range clients {
		out = append(out, c+">"+target)
	}
	sort.Strings(out)
	return out
}

// One row per case of the README's finding table and docs/domain.md §2–§4.
func TestDecide(t *testing.T) {
	const (
		shortcut = FindingInClusterELBShortcut
		np       = FindingNodePortLocalUnreachable
		hairpin  = FindingDedicatedELBHairpin
		dnat     = FindingDNATInClusterUnreachable
		ver      = FindingPassThroughUnsupportedVersion
		turbo    = FindingTurboLocalNeedsHostNetwork
		invalid  = FindingAnnotationInvalid
		detect   = FindingDetectionIncomplete
		hc       = FindingHealthCheckConfig
		oss      = FindingOpenSourceCCMDialect
		incons   = FindingPassThroughInconsistentSharedLB
	)
	var (
		hsn, hon, psn, pon = HostSameNode, HostOtherNode, PodSameNode, PodOtherNode
	)
	tests := []struct {
		name     string
		svc      svcSpec
		col      [2]string
		version  string
		strategy string
		backends *bool
		peers    []*corev1.Service

		findings     []string // id/severity in order
		shortcut     []string // cells of incluster-elb-shortcut
		other        map[string][]string
		fix          string // "" = no fix
		residual     []string
		changed      bool
		refused      bool
		msgHas       map[string]string // finding id → substring of its message
		reasonHas    string
		alsoPatch    []string
		whenOf       map[string][]string // "client>target" of the shortcut → When
		findingsSkip bool                // do not compare the findings list
		costHas      string              // substring of one of the fix's costs
		noteAbsent   string              // substring no finding message, reason or cost may contain
		noFix        []string            // the findings the plan says no patch clears
	}{
		// docs/domain.md §2.1 derivation per column, shared ELB, Local, no status yet (target elb-ip), v1.25: auto = pass-through.
		{name: "shared Local tunnel+ipvs", svc: svcSpec{ann: union}, col: tIPVS, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, shortcut: cl([]string{hon, pon}, "elb-ip"),
			fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "shared Local vpc+ipvs", svc: svcSpec{ann: union}, col: vIPVS, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, shortcut: cl([]string{hon, psn, pon}, "elb-ip"),
			fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "shared Local tunnel+iptables", svc: svcSpec{ann: union}, col: tIPT, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, shortcut: cl([]string{pon}, "elb-ip"),
			fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "shared Local vpc+iptables", svc: svcSpec{ann: union}, col: vIPT, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, shortcut: cl([]string{psn, pon}, "elb-ip"),
			fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "shared Local unknown facts", svc: svcSpec{ann: union}, col: unk, version: v125,
			findings: []string{shortcut + "/error", np + "/warning", detect + "/info"}, shortcut: cl([]string{hon, psn, pon}, "elb-ip"),
			fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true,
			whenOf: map[string][]string{"host-other-node>elb-ip": {"tunnel+ipvs", "vpc+ipvs"}, "pod-same-node>elb-ip": {"vpc+ipvs", "vpc+iptables"}, "pod-other-node>elb-ip": nil},
			msgHas: map[string]string{detect: "--network-model and --proxy-mode"}},
		{name: "shared Local vpc, proxy unknown", svc: svcSpec{ann: union}, col: [2]string{"vpc", "unknown"}, version: v125,
			findings: []string{shortcut + "/error", np + "/warning", detect + "/info"}, shortcut: cl([]string{hon, psn, pon}, "elb-ip"),
			whenOf: map[string][]string{"host-other-node>elb-ip": {"vpc+ipvs"}, "pod-same-node>elb-ip": nil},
			fix:    StrategyPassThrough, residual: []string{np + "/warning"}, changed: true,
			msgHas: map[string]string{detect: "proxy mode unknown"}},
		{name: "shared Local nftables = unknown proxy", svc: svcSpec{ann: union}, col: [2]string{"tunnel", "nftables"}, version: v125,
			findings: []string{shortcut + "/error", np + "/warning", detect + "/info"}, shortcut: cl([]string{hon, pon}, "elb-ip"),
			fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true,
			msgHas: map[string]string{detect: "nftables has no column"}},
		// Addresses in status: one target per address scope.
		{name: "shared Local with private and public addresses", svc: svcSpec{ann: union, ingress: vipPrivPub}, col: tIPT, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, shortcut: []string{"pod-other-node>elb-private-ip", "pod-other-node>elb-public-ip"},
			fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true,
			msgHas: map[string]string{shortcut: "pods on other nodes can't reach the ELB's private address 192.168.0.147; pods on other nodes can't reach the ELB's public address 203.0.113.36"}},
		{name: "ipMode Proxy on every address: no short-cut", svc: svcSpec{ann: union, ingress: []corev1.LoadBalancerIngress{{IP: "192.168.0.9", IPMode: ptr(corev1.LoadBalancerIPModeProxy)}}}, col: vIPVS, version: v125,
			findings: []string{np + "/warning"}},
		{name: "ipMode Proxy on one address only", svc: svcSpec{ann: union, ingress: []corev1.LoadBalancerIngress{{IP: "192.168.0.9", IPMode: ptr(corev1.LoadBalancerIPModeProxy)}, {IP: "203.0.113.9", IPMode: ptr(corev1.LoadBalancerIPModeVIP)}}}, col: tIPT, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, shortcut: []string{"pod-other-node>elb-public-ip"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "hostname-only status: no short-cut", svc: svcSpec{ann: union, ingress: []corev1.LoadBalancerIngress{{Hostname: "elb.example.test"}}}, col: vIPVS, version: v125,
			findings: []string{np + "/warning"}},
		{name: "no NodePorts allocated, pass-through on: nothing", svc: svcSpec{ann: unionPT, noNP: true}, col: vIPVS, version: v125,
			findings: []string{}},

		// Policy Cluster: nothing, whatever the column.
		{name: "shared Cluster tunnel+ipvs", svc: svcSpec{ann: union, cluster: true}, col: tIPVS, version: v125, findings: []string{}},
		{name: "shared Cluster vpc+ipvs", svc: svcSpec{ann: union, cluster: true}, col: vIPVS, version: v125, findings: []string{}},
		{name: "shared Cluster tunnel+iptables", svc: svcSpec{ann: union, cluster: true}, col: tIPT, version: v125, findings: []string{}},
		{name: "shared Cluster vpc+iptables", svc: svcSpec{ann: union, cluster: true}, col: vIPT, version: v125, findings: []string{}},
		{name: "shared Cluster unknown: no detection-incomplete", svc: svcSpec{ann: union, cluster: true}, col: unk, version: "", findings: []string{}},
		{name: "no ELB annotations, Cluster", svc: svcSpec{cluster: true}, col: vIPVS, version: v125, findings: []string{}},

		// Pass-through already on: short-cut cells ok; only the NodePort warning; no fix.
		{name: "pass-through true, tunnel+ipvs", svc: svcSpec{ann: unionPT}, col: tIPVS, version: v125, findings: []string{np + "/warning"}},
		{name: "pass-through true, vpc+ipvs", svc: svcSpec{ann: unionPT}, col: vIPVS, version: v125, findings: []string{np + "/warning"}},
		{name: "pass-through onlyLocal, tunnel+iptables", svc: svcSpec{ann: unionOnly}, col: tIPT, version: v125, findings: []string{np + "/warning"}},
		{name: "pass-through onlyLocal, vpc+iptables", svc: svcSpec{ann: unionOnly}, col: vIPT, version: v125, findings: []string{np + "/warning"}},
		{name: "pass-through on, version unknown: treated as on", svc: svcSpec{ann: unionPT}, col: vIPT, version: "", findings: []string{np + "/warning"}},

		// Version gate.
		{name: "v1.15 auto: cluster", svc: svcSpec{ann: union}, col: vIPT, version: "v1.15.11-r1",
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true, reasonHas: "v1.15 and older"},
		{name: "v1.15 forced pass-through: refused", svc: svcSpec{ann: union}, col: vIPT, version: "v1.15.11-r1", strategy: StrategyPassThrough,
			findings: []string{shortcut + "/error", np + "/warning"}, refused: true},
		{name: "v1.15 with pass-through set: no effect", svc: svcSpec{ann: unionPT}, col: vIPT, version: "v1.15.11-r1",
			findings: []string{ver + "/error", shortcut + "/error", np + "/warning"}, shortcut: cl([]string{psn, pon}, "elb-ip"),
			fix: StrategyCluster, residual: []string{ver + "/error"}, changed: true},
		{name: "v1.17 auto: cluster", svc: svcSpec{ann: union}, col: vIPT, version: "v1.17.9-r0-CCE20.7.1.B003-17.36.3",
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true, reasonHas: "v1.19 and later"},
		{name: "v1.17 forced pass-through: allowed with a warning", svc: svcSpec{ann: union}, col: vIPT, version: "v1.17.9-r0", strategy: StrategyPassThrough,
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{ver + "/warning", np + "/warning"}, changed: true},
		{name: "v1.17 with pass-through set: warning only", svc: svcSpec{ann: unionPT}, col: vIPT, version: "v1.17.9-r0",
			findings: []string{ver + "/warning", np + "/warning"}},
		{name: "v1.19 auto: pass-through", svc: svcSpec{ann: union}, col: vIPT, version: "v1.19.16-r5",
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "version unknown auto: cluster", svc: svcSpec{ann: union}, col: vIPT, version: "",
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true, reasonHas: "pass --cluster-version"},
		{name: "version unknown forced pass-through: allowed, noted", svc: svcSpec{ann: union}, col: vIPT, version: "", strategy: StrategyPassThrough,
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true, reasonHas: "version is unknown"},
		{name: "version garbage: like unknown", svc: svcSpec{ann: union}, col: vIPT, version: "latest",
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true, reasonHas: "does not parse"},
		{name: "forced cluster at v1.25", svc: svcSpec{ann: union}, col: tIPVS, version: v125, strategy: StrategyCluster,
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true},

		// Dedicated ELB: hairpin, pass-through does not help → auto cluster.
		// The vendor's row is the verdict: exactly host-same-node and pod-same-node to the private
		// address, in every column; no derived short-cut cells.
		{name: "dedicated Local tunnel+ipvs", svc: svcSpec{ann: performance, ingress: vipPrivPub}, col: tIPVS, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"},
			other:    map[string][]string{hairpin: cl([]string{hsn, psn}, "elb-private-ip")},
			fix:      StrategyCluster, residual: []string{}, changed: true, reasonHas: "pass-through leaves dedicated-elb-hairpin"},
		{name: "dedicated Local vpc+ipvs", svc: svcSpec{ann: performance}, col: vIPVS, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"},
			other:    map[string][]string{hairpin: cl([]string{hsn, psn}, "elb-private-ip")}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "dedicated Local tunnel+iptables", svc: svcSpec{ann: performance}, col: tIPT, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"},
			other:    map[string][]string{hairpin: cl([]string{hsn, psn}, "elb-private-ip")}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "dedicated Local vpc+iptables", svc: svcSpec{ann: performance}, col: vIPT, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"},
			other:    map[string][]string{hairpin: cl([]string{hsn, psn}, "elb-private-ip")}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "dedicated Local onlyLocal (as CCE sets it): cluster clears the hairpin", svc: svcSpec{ann: ann(aClass, "performance", aPT, "onlyLocal")}, col: vIPT, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"},
			other:    map[string][]string{hairpin: cl([]string{hsn, psn}, "elb-private-ip")}, fix: StrategyCluster, residual: []string{}, changed: true, reasonHas: "onlyLocal is off with Cluster"},
		{name: "dedicated forced pass-through: refused, it does not help", svc: svcSpec{ann: performance}, col: vIPT, version: v125, strategy: StrategyPassThrough,
			findings: []string{hairpin + "/error", np + "/warning"}, refused: true},
		{name: "dedicated Local with pass-through true: no patch clears the hairpin", svc: svcSpec{ann: perfPT}, col: vIPT, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"}, other: map[string][]string{hairpin: cl([]string{hsn, psn}, "elb-private-ip")},
			noFix: []string{hairpin}, msgHas: map[string]string{hairpin: "Pass-through does not help"}},
		{name: "dedicated Local with pass-through true, forced cluster: refused", svc: svcSpec{ann: perfPT}, col: vIPT, version: v125, strategy: StrategyCluster,
			findings: []string{hairpin + "/error", np + "/warning"}, refused: true},
		{name: "dedicated Cluster, pass-through off: nothing", svc: svcSpec{ann: performance, cluster: true}, col: vIPT, version: v125, findings: []string{}},
		{name: "dedicated Cluster, onlyLocal: off, nothing", svc: svcSpec{ann: ann(aClass, "performance", aPT, "onlyLocal"), cluster: true}, col: vIPT, version: v125, findings: []string{}},
		{name: "dedicated Cluster, pass-through on: derived hairpin, no fix possible", svc: svcSpec{ann: perfPT, cluster: true}, col: vIPT, version: v125,
			findings: []string{hairpin + "/error"}, noFix: []string{hairpin}, msgHas: map[string]string{hairpin: "even with externalTrafficPolicy Cluster"}},
		{name: "dedicated Cluster, pass-through on, forced cluster: unchanged", svc: svcSpec{ann: perfPT, cluster: true}, col: vIPT, version: v125, strategy: StrategyCluster,
			findings: []string{hairpin + "/error"}, fix: StrategyCluster, residual: []string{hairpin + "/error"}, changed: false},
		{name: "dedicated on Turbo: no hairpin (CCE Standard only)", svc: svcSpec{ann: performance}, col: [2]string{"turbo", "iptables"}, version: v125, backends: &boolT,
			findings: []string{np + "/warning"}},
		{name: "dedicated, unknown network: hairpin", svc: svcSpec{ann: performance}, col: [2]string{"unknown", "iptables"}, version: v125,
			findings: []string{hairpin + "/error", np + "/warning", detect + "/info"}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "dedicated via autocreate fields, no class", svc: svcSpec{ann: ann("kubernetes.io/elb.autocreate", `{"type":"inner","available_zone":["az1"],"l4_flavor_name":"L4_flavor.elb.s1.small"}`)}, col: tIPT, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "shared with transparent client IP, pass-through off: short-cut, and pass-through would hairpin", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.transparent-client-ip", "true")}, col: tIPT, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true,
			reasonHas: "pass-through would make dedicated-elb-hairpin fail"},
		{name: "shared with transparent client IP, onlyLocal: derived hairpin", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.transparent-client-ip", "true", aPT, "onlyLocal")}, col: tIPT, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true,
			msgHas: map[string]string{hairpin: "transparent-client-ip"}},
		{name: "nginx-ingress add-on on a dedicated ELB: its own row", svc: svcSpec{ann: performance, name: "cceaddon-nginx-ingress-controller", namespace: "kube-system"}, col: tIPT, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true},

		// DNAT.
		{name: "dnat Local", svc: svcSpec{ann: dnatAnn, ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.80"}}}, col: vIPVS, version: v125,
			findings: []string{dnat + "/error", np + "/warning"}, other: map[string][]string{dnat: cl([]string{hsn, hon, psn, pon}, "dnat-ip")},
			fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "dnat Local forced pass-through: refused", svc: svcSpec{ann: dnatAnn}, col: vIPVS, version: v125, strategy: StrategyPassThrough,
			findings: []string{dnat + "/error", np + "/warning"}, refused: true},
		{name: "dnat Cluster: nothing", svc: svcSpec{ann: dnatAnn, cluster: true}, col: vIPVS, version: v125, findings: []string{}},

		// Open-source dialect.
		{name: "open-source shared Local", svc: svcSpec{ann: osShared}, col: tIPVS, version: v125,
			findings: []string{shortcut + "/error", np + "/warning", oss + "/info"}, fix: StrategyCluster, residual: []string{}, changed: true, reasonHas: "open-source"},
		{name: "open-source forced pass-through: refused", svc: svcSpec{ann: osShared}, col: tIPVS, version: v125, strategy: StrategyPassThrough,
			findings: []string{shortcut + "/error", np + "/warning", oss + "/info"}, refused: true},
		{name: "open-source with a pass-through annotation: no effect", svc: svcSpec{ann: ann(aClass, "shared", aPT, "true")}, col: tIPVS, version: v125,
			findings: []string{shortcut + "/error", np + "/warning", oss + "/info"}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "open-source Cluster: info only", svc: svcSpec{ann: osShared, cluster: true}, col: tIPVS, version: v125,
			findings: []string{oss + "/info"}},

		// NodePort Services.
		{name: "NodePort Local vpc+ipvs", svc: svcSpec{typ: corev1.ServiceTypeNodePort}, col: vIPVS, version: v125,
			findings: []string{np + "/warning"}, other: map[string][]string{np: {"host-other-node>nodeport-other-node", "host-same-node>nodeport-other-node", "pod-other-node>nodeport-other-node", "pod-same-node>nodeport-other-node", "pod-same-node>nodeport-server-node"}},
			fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "NodePort Local tunnel+iptables", svc: svcSpec{typ: corev1.ServiceTypeNodePort}, col: tIPT, version: v125,
			findings: []string{np + "/warning"}, other: map[string][]string{np: {"host-same-node>nodeport-other-node", "pod-other-node>nodeport-other-node", "pod-same-node>nodeport-other-node"}},
			fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "NodePort Local forced pass-through: refused", svc: svcSpec{typ: corev1.ServiceTypeNodePort}, col: vIPVS, version: v125, strategy: StrategyPassThrough,
			findings: []string{np + "/warning"}, refused: true},
		{name: "NodePort Cluster: nothing", svc: svcSpec{typ: corev1.ServiceTypeNodePort, cluster: true}, col: vIPVS, version: v125, findings: []string{}},
		{name: "ClusterIP: not applicable", svc: svcSpec{typ: corev1.ServiceTypeClusterIP, ann: performance}, col: vIPVS, version: v125, findings: []string{}},
		{name: "ExternalName: not applicable", svc: svcSpec{typ: corev1.ServiceTypeExternalName}, col: vIPVS, version: v125, findings: []string{}},

		// CCE Turbo.
		{name: "turbo Local, backends not hostNetwork, ipvs", svc: svcSpec{ann: union}, col: [2]string{"turbo", "ipvs"}, version: v125, backends: &boolF,
			findings: []string{shortcut + "/error", turbo + "/error", np + "/warning"}, shortcut: cl([]string{hon}, "elb-ip"),
			fix: StrategyCluster, residual: []string{}, changed: true, msgHas: map[string]string{turbo: "they do not"}},
		{name: "turbo Local, hostNetwork backends, ipvs: pass-through", svc: svcSpec{ann: union}, col: [2]string{"turbo", "ipvs"}, version: v125, backends: &boolT,
			findings: []string{shortcut + "/error", np + "/warning"}, shortcut: cl([]string{hon}, "elb-ip"),
			fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "turbo Local, hostNetwork backends, iptables: no short-cut failure", svc: svcSpec{ann: union}, col: [2]string{"turbo", "iptables"}, version: v125, backends: &boolT,
			findings: []string{np + "/warning"}},
		{name: "turbo Local, proxy unknown, hostNetwork by annotation", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/hws-hostNetwork", "true")}, col: [2]string{"turbo", "unknown"}, version: v125,
			findings: []string{shortcut + "/error", np + "/warning", detect + "/info"}, shortcut: cl([]string{hon}, "elb-ip"),
			whenOf: map[string][]string{"host-other-node>elb-ip": {"turbo+ipvs"}}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "turbo Local, hostNetwork unknown", svc: svcSpec{ann: union}, col: [2]string{"turbo", "iptables"}, version: v125,
			findings: []string{turbo + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true, msgHas: map[string]string{turbo: "unknown"}},
		{name: "turbo: pods read override the annotation", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/hws-hostNetwork", "true")}, col: [2]string{"turbo", "iptables"}, version: v125, backends: &boolF,
			findings: []string{turbo + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "turbo Cluster: nothing", svc: svcSpec{ann: union, cluster: true}, col: [2]string{"turbo", "ipvs"}, version: v125, backends: &boolF, findings: []string{}},

		// Invalid annotations.
		{name: "autocreate invalid JSON", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.autocreate", `{"type":`), cluster: true}, col: vIPVS, version: v125,
			findings: []string{invalid + "/error"}, msgHas: map[string]string{invalid: "unexpected end of JSON input"}},
		{name: "pass-through yes: invalid, treated as off", svc: svcSpec{ann: ann(aClass, "union", aPT, "yes")}, col: tIPT, version: v125,
			findings: []string{invalid + "/error", shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true,
			msgHas: map[string]string{invalid: `invalid value "yes"`}},
		{name: "invalid autocreate does not keep auto from pass-through", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.autocreate", `{"type":"public"`)}, col: tIPT, version: v125,
			findings: []string{invalid + "/error", shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{invalid + "/error", np + "/warning"}, changed: true},

		// IPVS: Services on one ELB must agree on pass-through.
		{name: "IPVS peers disagree, this one Cluster", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1"), cluster: true}, col: tIPVS, version: v125,
			peers:    []*corev1.Service{mk(svcSpec{name: "api", ann: ann(aClass, "union", aID, "elb-1", aPT, "true")})},
			findings: []string{incons + "/error"}, fix: StrategyPassThrough, residual: []string{}, changed: true, msgHas: map[string]string{incons: `shop/api (pass-through on: "true")`}},
		{name: "IPVS pass-through fix carries the peers", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1")}, col: tIPVS, version: v125,
			peers:    []*corev1.Service{mk(svcSpec{name: "api", ann: ann(aClass, "union", aID, "elb-1")}), mk(svcSpec{name: "other", ann: ann(aClass, "union", aID, "elb-2")})},
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true, alsoPatch: []string{"shop/api"}},
		{name: "iptables peers may disagree", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1"), cluster: true}, col: tIPT, version: v125,
			peers:    []*corev1.Service{mk(svcSpec{name: "api", ann: ann(aClass, "union", aID, "elb-1", aPT, "true")})},
			findings: []string{}},

		// Version gate, more rows (issue #6): ≤ v1.15 refused, 1.16–1.18 warning, CCE -rN suffixes parsed.
		{name: "v1.14 with pass-through set: error", svc: svcSpec{ann: unionPT}, col: vIPT, version: "v1.14.8-r2",
			findings: []string{ver + "/error", shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{ver + "/error"}, changed: true,
			msgHas: map[string]string{ver: "v1.15 and older (vendor, pass-through text; cluster v1.14.8-r2)"}},
		{name: "v1.15 CCE long version forced pass-through: refused", svc: svcSpec{ann: union}, col: tIPVS, version: "v1.15.11-r1-CCE20.7.1.B003-15.36.3", strategy: StrategyPassThrough,
			findings: []string{shortcut + "/error", np + "/warning"}, refused: true},
		{name: "v1.15 with onlyLocal: error", svc: svcSpec{ann: unionOnly}, col: tIPT, version: "v1.15.6-r0",
			findings: []string{ver + "/error", shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "v1.16.0 with pass-through set: warning", svc: svcSpec{ann: unionPT}, col: vIPT, version: "v1.16.0-r0",
			findings: []string{ver + "/warning", np + "/warning"}, msgHas: map[string]string{ver: "v1.19 and later (vendor, annotation table); on v1.16.0-r0"}},
		{name: "v1.16 auto: cluster", svc: svcSpec{ann: union}, col: vIPT, version: "v1.16.3-r1",
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true, reasonHas: "(vendor annotation table) and the cluster is v1.16.3-r1"},
		{name: "v1.18 forced pass-through: allowed with a warning", svc: svcSpec{ann: union}, col: tIPVS, version: "v1.18.20-r1-CCE21.3.1", strategy: StrategyPassThrough,
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{ver + "/warning", np + "/warning"}, changed: true, reasonHas: "cluster is v1.18.20-r1"},
		{name: "v1.18 with pass-through set: warning", svc: svcSpec{ann: unionPT}, col: tIPT, version: "v1.18.20-r1",
			findings: []string{ver + "/warning", np + "/warning"}},
		{name: "v1.19.0 with pass-through set: no version finding", svc: svcSpec{ann: unionPT}, col: tIPT, version: "v1.19.0-r0",
			findings: []string{np + "/warning"}},
		{name: "v1.17 pass-through on a DNAT Service: no version finding (does not apply)", svc: svcSpec{ann: ann(aClass, "dnat", aPT, "true"), cluster: true}, col: tIPT, version: "v1.17.9-r0",
			findings: []string{}},

		// Dedicated ELB hairpin (issue #6): pass-through leaves it.
		{name: "dedicated Local: the cells' words", svc: svcSpec{ann: performance, ingress: vipPrivPub}, col: tIPVS, version: v125,
			findings: []string{hairpin + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true,
			msgHas: map[string]string{hairpin: "hosts on a backend's node and pods on a backend's node can't reach the ELB's private address 192.168.0.147"}},
		{name: "dedicated via autocreate, forced pass-through: refused", svc: svcSpec{ann: ann("kubernetes.io/elb.autocreate", `{"type":"inner","available_zone":["az1"]}`)}, col: vIPVS, version: v125, strategy: StrategyPassThrough,
			findings: []string{hairpin + "/error", np + "/warning"}, refused: true},
		{name: "shared autocreate without dedicated fields: no hairpin", svc: svcSpec{ann: ann("kubernetes.io/elb.autocreate", `{"type":"inner"}`)}, col: tIPT, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "transparent-client-ip false: no hairpin", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.transparent-client-ip", "false")}, col: tIPT, version: v125,
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "transparent-client-ip, forced pass-through: refused, it would hairpin", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.transparent-client-ip", "true")}, col: vIPT, version: v125, strategy: StrategyPassThrough,
			findings: []string{shortcut + "/error", np + "/warning"}, refused: true},
		{name: "transparent-client-ip, Cluster, pass-through on: derived hairpin, no patch", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.transparent-client-ip", "true", aPT, "true"), cluster: true}, col: vIPT, version: v125,
			findings: []string{hairpin + "/error"}, noFix: []string{hairpin}, msgHas: map[string]string{hairpin: "transparent-client-ip"}},
		{name: "dedicated DNAT-free NodePort: no hairpin", svc: svcSpec{typ: corev1.ServiceTypeNodePort, ann: performance}, col: tIPT, version: v125,
			findings: []string{np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true},

		// CCE Turbo hostNetwork (issue #6): the message says how it was determined.
		{name: "turbo: backends read, not hostNetwork", svc: svcSpec{ann: union}, col: [2]string{"turbo", "iptables"}, version: v125, backends: &boolF,
			findings: []string{turbo + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true, msgHas: map[string]string{turbo: "(read from the backend pods)"}},
		{name: "turbo: annotation hostNetwork false", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/hws-hostNetwork", "false")}, col: [2]string{"turbo", "iptables"}, version: v125,
			findings: []string{turbo + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true, msgHas: map[string]string{turbo: "(from annotation kubernetes.io/hws-hostNetwork)"}},
		{name: "turbo: annotation absent, pods not read", svc: svcSpec{ann: union}, col: [2]string{"turbo", "ipvs"}, version: v125,
			findings: []string{shortcut + "/error", turbo + "/error", np + "/warning"}, fix: StrategyCluster, residual: []string{}, changed: true,
			msgHas: map[string]string{turbo: "backend pods not read, no kubernetes.io/hws-hostNetwork annotation"}},
		{name: "turbo: backends read hostNetwork: no finding", svc: svcSpec{ann: union}, col: [2]string{"turbo", "iptables"}, version: v125, backends: &boolT,
			findings: []string{np + "/warning"}},
		{name: "not turbo: hostNetwork irrelevant", svc: svcSpec{ann: union}, col: vIPT, version: v125, backends: &boolF,
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},

		// Open-source dialect, DNAT, NodePort negatives (issue #6).
		{name: "CCE union: no open-source info", svc: svcSpec{ann: union, cluster: true}, col: tIPVS, version: v125, findings: []string{}},
		{name: "open-source dedicated Local: no CCE row, no pass-through: short-cut, cluster", svc: svcSpec{ann: ann(aClass, "dedicated")}, col: tIPT, version: v125,
			findings: []string{shortcut + "/error", np + "/warning", oss + "/info"}, fix: StrategyCluster, residual: []string{}, changed: true,
			msgHas: map[string]string{oss: "pass-through does not exist there"}},
		{name: "dnat Local unknown facts: every client fails", svc: svcSpec{ann: dnatAnn}, col: unk, version: v125,
			findings: []string{dnat + "/error", np + "/warning", detect + "/info"}, other: map[string][]string{dnat: cl([]string{hsn, hon, psn, pon}, "dnat-ip")},
			fix: StrategyCluster, residual: []string{}, changed: true, msgHas: map[string]string{dnat: "Pass-through does not apply to DNAT"}},
		{name: "NodePort Local unknown facts", svc: svcSpec{typ: corev1.ServiceTypeNodePort}, col: unk, version: v125,
			findings: []string{np + "/warning", detect + "/info"}, fix: StrategyCluster, residual: []string{}, changed: true},
		{name: "LoadBalancer without NodePorts: no nodeport finding", svc: svcSpec{ann: union, noNP: true}, col: tIPT, version: v125,
			findings: []string{shortcut + "/error"}, fix: StrategyPassThrough, residual: []string{}, changed: true},

		// One ELB, several Services (issue #6).
		{name: "IPVS several namespaces: alsoPatch every peer without pass-through", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1")}, col: vIPVS, version: v125,
			peers: []*corev1.Service{
				mk(svcSpec{name: "api", namespace: "other", ann: ann(aClass, "union", aID, "elb-1")}),
				mk(svcSpec{name: "db", namespace: "shop", ann: ann(aClass, "union", aID, "elb-1", aPT, "onlyLocal")}),
				mk(svcSpec{name: "bad", namespace: "third", ann: ann(aClass, "union", aID, "elb-1", aPT, "yes")}),
				mk(svcSpec{name: "far", namespace: "third", ann: ann(aClass, "union", aID, "elb-2")}),
			},
			findings: []string{shortcut + "/error", incons + "/error", np + "/warning"},
			fix:      StrategyPassThrough, residual: []string{np + "/warning"}, changed: true, alsoPatch: []string{"other/api", "third/bad"},
			msgHas:  map[string]string{incons: `and its 4 Services disagree: other/api (pass-through off: not set), shop/db (pass-through on: "onlyLocal"), shop/web (this Service; pass-through off: not set), third/bad (pass-through off: "yes")`},
			costHas: "also sets pass-through on 2 other Service(s)"},
		{name: "IPVS peers: NodePort, DNAT and open-source Services with the id do not count", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1")}, col: tIPVS, version: v125,
			peers: []*corev1.Service{
				mk(svcSpec{name: "np", typ: corev1.ServiceTypeNodePort, ann: ann(aID, "elb-1")}),
				mk(svcSpec{name: "dn", ann: ann(aClass, "dnat", aID, "elb-1")}),
				mk(svcSpec{name: "os", ann: ann(aClass, "shared", aID, "elb-1")}),
			},
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true},
		{name: "IPVS: pass-through on here, peer off: align the peer, this one unchanged", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1", aPT, "true")}, col: tIPVS, version: v125,
			peers:    []*corev1.Service{mk(svcSpec{name: "api", namespace: "other", ann: ann(aClass, "union", aID, "elb-1")})},
			findings: []string{incons + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: false, alsoPatch: []string{"other/api"},
			reasonHas: "already on here, and the other Services on its ELB (kubernetes.io/elb.id elb-1) must get it too"},
		{name: "IPVS: pass-through on here, peer off, forced pass-through: alsoPatch", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1", aPT, "true"), cluster: true}, col: tIPVS, version: v125, strategy: StrategyPassThrough,
			peers:    []*corev1.Service{mk(svcSpec{name: "api", namespace: "other", ann: ann(aClass, "union", aID, "elb-1")})},
			findings: []string{incons + "/error"}, fix: StrategyPassThrough, residual: []string{}, changed: false, alsoPatch: []string{"other/api"}, reasonHas: "get it too (alsoPatch)"},
		{name: "IPVS: pass-through on here, peer off, version unknown: no auto pass-through on the peer", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1", aPT, "true"), cluster: true}, col: tIPVS, version: "",
			peers:    []*corev1.Service{mk(svcSpec{name: "api", namespace: "other", ann: ann(aClass, "union", aID, "elb-1")})},
			findings: []string{incons + "/error"}, noFix: []string{incons}},
		{name: "proxy unknown: the finding is conditional", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1"), cluster: true}, col: [2]string{"vpc", "unknown"}, version: v125,
			peers:    []*corev1.Service{mk(svcSpec{name: "api", ann: ann(aClass, "union", aID, "elb-1", aPT, "true")})},
			findings: []string{incons + "/error"}, fix: StrategyPassThrough, residual: []string{}, changed: true, alsoPatch: nil,
			msgHas: map[string]string{incons: "if kube-proxy runs in IPVS mode (proxy mode unknown; pass --proxy-mode)"}},
		{name: "iptables: peers without pass-through are not patched, and the reason says why", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1")}, col: tIPT, version: v125,
			peers:    []*corev1.Service{mk(svcSpec{name: "api", namespace: "other", ann: ann(aClass, "union", aID, "elb-1")})},
			findings: []string{shortcut + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true,
			reasonHas: "note: kube-proxy runs in iptables mode, where the rule that every Service on one ELB must have the same pass-through setting (IPVS) does not apply, so the other Services of ELB elb-1 without it (other/api) are left as they are"},
		{name: "IPVS: the fix aligns the peer (alsoPatch not needed: it has pass-through), no iptables note", svc: svcSpec{ann: ann(aClass, "union", aID, "elb-1")}, col: tIPVS, version: v125,
			peers:    []*corev1.Service{mk(svcSpec{name: "api", namespace: "other", ann: ann(aClass, "union", aID, "elb-1", aPT, "true")})},
			findings: []string{shortcut + "/error", incons + "/error", np + "/warning"}, fix: StrategyPassThrough, residual: []string{np + "/warning"}, changed: true, noteAbsent: "does not apply"},

		// Health checks.
		{name: "UDP health check on a TCP port", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"protocol":"UDP"}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: "TCP:80"}},
		{name: "per-port check for a port the Service lacks", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-options", `[{"protocol":"TCP","target_service_port":"TCP:81"}]`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: "not a port of the Service"}},
		{name: "TCP check on a UDP port", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-options", `[{"protocol":"TCP","target_service_port":"UDP:53"}]`), cluster: true, ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}}}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: "UDP:53"}},
		{name: "health check off with an option: the option is ignored, nothing else checked", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-flag", "off", "kubernetes.io/elb.health-check-option", `{"protocol":"UDP","delay":"0"}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: `kubernetes.io/elb.health-check-flag is "off", so the ELB runs no health check and kubernetes.io/elb.health-check-option is ignored (for information`}},
		{name: "health check off with per-port options", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-flag", "off", "kubernetes.io/elb.health-check-options", `[{"protocol":"TCP","target_service_port":"TCP:80"}]`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: "health-check-options is ignored"}},
		{name: "health check off, no options: nothing", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-flag", "off"), cluster: true}, col: tIPT, version: v125,
			findings: []string{}},
		{name: "health check on, valid option: nothing", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-flag", "on", "kubernetes.io/elb.health-check-option", `{"protocol":"TCP","delay":"5","timeout":"10","max_retries":"3"}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{}},
		{name: "health check bounds are valid", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"protocol":"HTTP","delay":1,"timeout":50,"max_retries":10}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{}},
		{name: "health check delay 0: out of range", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"protocol":"TCP","delay":"0","timeout":"10"}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: `kubernetes.io/elb.health-check-option: "delay" 0 (want 1–50): out of the range`}},
		{name: "health check timeout 51 and max_retries 11: one finding", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"protocol":"TCP","timeout":51,"max_retries":"11"}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: `"timeout" 51 (want 1–50), "max_retries" 11 (want 1–10)`}},
		{name: "health check negative delay: out of range, not invalid", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"delay":"-3"}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: `"delay" -3`}},
		{name: "health check delay not a number: invalid only", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"protocol":"TCP","delay":"soon"}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{invalid + "/error"}, msgHas: map[string]string{invalid: `invalid "delay" "soon"`}},
		{name: "health check invalid JSON: annotation-invalid with the parser's message, nothing else", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"protocol":"UDP"`), cluster: true}, col: tIPT, version: v125,
			findings: []string{invalid + "/error"}, msgHas: map[string]string{invalid: "invalid JSON: unexpected end of JSON input"}},
		{name: "per-port check out of range", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-options", `[{"protocol":"TCP","max_retries":"0","target_service_port":"TCP:80"}]`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: `kubernetes.io/elb.health-check-options[0]: "max_retries" 0 (want 1–10)`}},
		{name: "both health check annotations: healthcheck-config, not annotation-invalid", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"protocol":"TCP"}`, "kubernetes.io/elb.health-check-options", `[{"protocol":"TCP","target_service_port":"TCP:80"}]`), cluster: true}, col: tIPT, version: v125,
			findings: []string{hc + "/warning"}, msgHas: map[string]string{hc: "are both set; CCE takes only one of the two"}},
		{name: "UDP check on a UDP port: fine", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-option", `{"protocol":"UDP"}`), cluster: true, ports: []corev1.ServicePort{{Port: 53, Protocol: corev1.ProtocolUDP}}}, col: tIPT, version: v125,
			findings: []string{}},
		{name: "per-port check naming a port the Service has: fine", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-options", `[{"protocol":"HTTP","path":"/","target_service_port":"TCP:80"}]`), cluster: true}, col: tIPT, version: v125,
			findings: []string{}},
		{name: "health check flag invalid: annotation-invalid, options still checked", svc: svcSpec{ann: ann(aClass, "union", "kubernetes.io/elb.health-check-flag", "yes", "kubernetes.io/elb.health-check-option", `{"protocol":"UDP"}`), cluster: true}, col: tIPT, version: v125,
			findings: []string{invalid + "/error", hc + "/warning"}},
	}
	m := matrix.MustDefault()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sp ServicePlan
			var err error
			svc := mk(tt.svc)
			strategy := tt.strategy
			if strategy == "" {
				strategy = StrategyAuto
			}
			in := Input{Cluster: Cluster{NetworkModel: tt.col[0], ProxyMode: tt.col[1], Version: tt.version}, Service: svc, Strategy: strategy, BackendsHostNetwork: tt.backends, SameELB: tt.peers}
			if tt.noteAbsent != "" {
				defer func() {
					var all []string
					for _, f := range sp.Findings {
						all = append(all, f.Message)
					}
					if sp.Fix != nil {
						all = append(append(all, sp.Fix.Reason), sp.Fix.Costs...)
					}
					if strings.Contains(strings.Join(all, "\n"), tt.noteAbsent) {
						t.Errorf("%q is said: %q", tt.noteAbsent, all)
					}
				}()
			}
			sp, err = Decide(in, m)
			if tt.refused {
				var re *RefusedError
				if !errors.As(err, &re) {
					t.Fatalf("err = %v, want a *RefusedError", err)
				}
				msg := err.Error()
				if !strings.HasPrefix(msg, "Service shop/web: --strategy "+in.Strategy+" cannot work because ") || !strings.HasSuffix(msg, ".") || strings.Count(msg, ". ") > 0 {
					t.Errorf("refusal is not one sentence naming the Service: %q", msg)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if got := ids(sp.Findings); !reflect.DeepEqual(got, tt.findings) {
				t.Errorf("findings = %v, want %v", got, tt.findings)
			}
			if tt.shortcut != nil {
				if got := cells(find(sp.Findings, FindingInClusterELBShortcut)); !reflect.DeepEqual(got, tt.shortcut) {
					t.Errorf("shortcut cells = %v, want %v", got, tt.shortcut)
				}
			}
			for id, want := range tt.other {
				if got := cells(find(sp.Findings, id)); !reflect.DeepEqual(got, want) {
					t.Errorf("%s cells = %v, want %v", id, got, want)
				}
			}
			for id, sub := range tt.msgHas {
				f := find(sp.Findings, id)
				if f == nil || !strings.Contains(f.Message, sub) {
					t.Errorf("%s message does not contain %q: %+v", id, sub, f)
				}
			}
			if tt.whenOf != nil {
				f := find(sp.Findings, FindingInClusterELBShortcut)
				for _, c := range f.Unreachable {
					if want, ok := tt.whenOf[c.Client+">"+c.Target]; ok && !reflect.DeepEqual(c.When, want) {
						t.Errorf("when of %s>%s = %v, want %v", c.Client, c.Target, c.When, want)
					}
				}
			}
			if tt.refused {
				return
			}
			var noFix []string
			if sp.NoFix != nil {
				noFix = sp.NoFix.Findings
				if len(sp.NoFix.Addresses) == 0 || sp.NoFix.Addresses[0] != "web.shop.svc:80" || !strings.Contains(sp.NoFix.Remedy, "web.shop.svc:80") {
					t.Errorf("noFix remedy without the DNS name: %+v", sp.NoFix)
				}
			}
			if !reflect.DeepEqual(noFix, tt.noFix) {
				t.Errorf("noFix = %v, want %v", noFix, tt.noFix)
			}
			if tt.fix == "" {
				if sp.Fix != nil {
					t.Fatalf("fix = %+v, want none", sp.Fix)
				}
				if sp.Changed {
					t.Error("changed without a fix")
				}
				return
			}
			if sp.Fix == nil {
				t.Fatalf("no fix, want %s", tt.fix)
			}
			if sp.Fix.Strategy != tt.fix {
				t.Errorf("fix = %s (%s), want %s", sp.Fix.Strategy, sp.Fix.Reason, tt.fix)
			}
			if sp.Fix.PatchType != "strategic" || sp.Fix.Patch != nil || sp.Fix.Reason == "" {
				t.Errorf("fix fields: %+v", sp.Fix)
			}
			if got := ids(sp.Fix.Residual); !reflect.DeepEqual(got, tt.residual) {
				t.Errorf("residual = %v, want %v", got, tt.residual)
			}
			if sp.Changed != tt.changed {
				t.Errorf("changed = %v, want %v", sp.Changed, tt.changed)
			}
			if tt.reasonHas != "" && !strings.Contains(sp.Fix.Reason, tt.reasonHas) {
				t.Errorf("reason %q does not contain %q", sp.Fix.Reason, tt.reasonHas)
			}
			if sp.Fix.Strategy == StrategyCluster && sp.Changed && len(sp.Fix.Costs) != 2 {
				t.Errorf("cluster costs = %v", sp.Fix.Costs)
			}
			if tt.costHas != "" && !strings.Contains(strings.Join(sp.Fix.Costs, "\n"), tt.costHas) {
				t.Errorf("costs %q do not contain %q", sp.Fix.Costs, tt.costHas)
			}
			var also []string
			for _, a := range sp.Fix.AlsoPatch {
				also = append(also, a.Namespace+"/"+a.Name)
				if string(a.Patch) != `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}` {
					t.Errorf("alsoPatch patch = %s", a.Patch)
				}
			}
			if !reflect.DeepEqual(also, tt.alsoPatch) {
				t.Errorf("alsoPatch = %v, want %v", also, tt.alsoPatch)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestServicePlanFields(t *testing.T) {
	svc := readService(t, "service-dedicated-elb.yaml")
	sp, err := Decide(Input{Cluster: cluster("vpc", "ipvs", v125), Service: svc}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sp.Namespace != "shop" || sp.Name != "orders" || sp.Type != "LoadBalancer" || sp.ExternalTrafficPolicy != "Local" ||
		sp.ELBClass != "performance" || sp.ELBID != "2f6d3a8e-1b4c-4d2e-9f7a-5c3b1e0d9a24" || sp.PassThrough != "" || sp.Applied {
		t.Errorf("fields = %+v", sp)
	}
	// A Service without namespace (offline manifest) is in "default"; a policy left out is Cluster.
	svc2 := mk(svcSpec{ann: union})
	svc2.Namespace = ""
	svc2.Spec.ExternalTrafficPolicy = ""
	sp2, _ := Decide(Input{Cluster: cluster("vpc", "ipvs", v125), Service: svc2}, nil)
	if sp2.Namespace != "default" || sp2.ExternalTrafficPolicy != "Cluster" || sp2.Fix != nil {
		t.Errorf("defaults = %+v", sp2)
	}
	// JSON: findings and residual are arrays, never null.
	b, _ := json.Marshal(sp2)
	if !strings.Contains(string(b), `"findings":[]`) || !strings.Contains(string(b), `"fix":null`) {
		t.Errorf("json = %s", b)
	}
}

func TestDecideErrors(t *testing.T) {
	if _, err := Decide(Input{}, nil); err == nil {
		t.Error("nil Service accepted")
	}
	if _, err := Decide(Input{Service: mk(svcSpec{}), Strategy: "magic"}, nil); err == nil || !strings.Contains(err.Error(), "magic") {
		t.Errorf("unknown strategy: %v", err)
	}
}

func TestNotApplicable(t *testing.T) {
	for _, tc := range []struct {
		typ  corev1.ServiceType
		want bool
	}{{corev1.ServiceTypeClusterIP, true}, {"", true}, {corev1.ServiceTypeExternalName, true}, {corev1.ServiceTypeNodePort, false}, {corev1.ServiceTypeLoadBalancer, false}} {
		svc := mk(svcSpec{})
		svc.Spec.Type = tc.typ
		reason, ok := NotApplicable(svc)
		if ok != tc.want || (ok && reason == "") {
			t.Errorf("%q: ok=%v reason=%q", tc.typ, ok, reason)
		}
	}
	if _, ok := NotApplicable(nil); !ok {
		t.Error("nil")
	}
}

func TestSeverity(t *testing.T) {
	if !(SeverityRank(SeverityError) > SeverityRank(SeverityWarning) && SeverityRank(SeverityWarning) > SeverityRank(SeverityInfo) && SeverityRank(SeverityInfo) > SeverityRank("bogus")) {
		t.Error("rank order")
	}
	fs := []Finding{{Severity: SeverityInfo}, {Severity: SeverityWarning}}
	if MaxSeverity(fs) != SeverityWarning || MaxSeverity(nil) != "" {
		t.Error("MaxSeverity")
	}
	p := Plan{Services: []ServicePlan{{Findings: fs}, {Findings: []Finding{{Severity: SeverityError}}}, {}}}
	if p.MaxSeverity() != SeverityError || p.Services[0].MaxSeverity() != SeverityWarning {
		t.Error("Plan.MaxSeverity")
	}
}

// TestDecideSweep runs every combination of column × policy × class × pass-through × version ×
// strategy and checks the properties every verdict must have.
func TestDecideSweep(t *testing.T) {
	m := matrix.MustDefault()
	cols := [][2]string{tIPVS, vIPVS, tIPT, vIPT, unk, {"turbo", "ipvs"}, {"turbo", "iptables"}, {"vpc", "nftables"}}
	classes := []string{"", "union", "performance", "dnat", "shared", "dedicated"}
	versions := []string{"v1.15.11", "v1.17.9-r0", "v1.19.16-r5", "v1.25.5-r0", ""}
	strategies := []string{StrategyAuto, StrategyPassThrough, StrategyCluster}
	types := []corev1.ServiceType{corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort}
	n := 0
	for _, col := range cols {
		for _, typ := range types {
			for _, clusterPolicy := range []bool{false, true} {
				for _, class := range classes {
					for _, pt := range []string{"", "true", "onlyLocal"} {
						for _, version := range versions {
							for _, strategy := range strategies {
								a := map[string]string{}
								if class != "" {
									a[aClass] = class
								}
								if pt != "" {
									a[aPT] = pt
								}
								svc := mk(svcSpec{typ: typ, cluster: clusterPolicy, ann: a, ingress: vipPrivPub})
								in := Input{Cluster: Cluster{NetworkModel: col[0], ProxyMode: col[1], Version: version}, Service: svc, Strategy: strategy, BackendsHostNetwork: &boolT}
								sp, err := Decide(in, m)
								n++
								checkInvariants(t, in, m, sp, err)
							}
						}
					}
				}
			}
		}
	}
	if n < 5000 {
		t.Errorf("only %d combinations", n)
	}
}

func checkInvariants(t *testing.T, in Input, m *matrix.Matrix, sp ServicePlan, err error) {
	t.Helper()
	name := func() string {
		return in.Cluster.NetworkModel + "+" + in.Cluster.ProxyMode + " " + string(in.Service.Spec.Type) + " " + string(in.Service.Spec.ExternalTrafficPolicy) +
			" class=" + in.Service.Annotations[aClass] + " pt=" + in.Service.Annotations[aPT] + " v=" + in.Cluster.Version + " " + in.Strategy
	}
	if _, jerr := json.Marshal(sp); jerr != nil {
		t.Fatalf("%s: json: %v", name(), jerr)
	}
	if err != nil {
		var re *RefusedError
		if !errors.As(err, &re) || (in.Strategy != StrategyPassThrough && in.Strategy != StrategyCluster) {
			t.Fatalf("%s: unexpected error %v", name(), err)
		}
		return
	}
	if sp.Findings == nil {
		t.Fatalf("%s: findings is nil", name())
	}
	possible := map[string]bool{}
	for _, c := range m.Columns() {
		possible[c.String()] = true
	}
	for _, f := range sp.Findings {
		if SeverityRank(f.Severity) == 0 || f.Message == "" {
			t.Fatalf("%s: bad finding %+v", name(), f)
		}
		for _, c := range f.Unreachable {
			if c.Row == "" {
				t.Fatalf("%s: cell without row %+v", name(), c)
			}
			for _, w := range c.When {
				if !possible[w] && !strings.HasPrefix(w, "turbo+") {
					t.Fatalf("%s: unknown column %q", name(), w)
				}
			}
		}
	}
	if sp.Changed && sp.Fix == nil {
		t.Fatalf("%s: changed without fix", name())
	}
	local := in.Service.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if !local && find(sp.Findings, FindingInClusterELBShortcut) != nil {
		t.Fatalf("%s: short-cut finding with policy Cluster", name())
	}
	if sp.Fix == nil {
		return
	}
	if sp.Fix.Residual == nil {
		t.Fatalf("%s: residual is nil", name())
	}
	for _, r := range sp.Fix.Residual {
		if SeverityRank(r.Severity) < SeverityRank(SeverityWarning) {
			t.Fatalf("%s: info in residual", name())
		}
	}
	if sp.Fix.Strategy == StrategyCluster {
		for _, id := range []string{FindingInClusterELBShortcut, FindingNodePortLocalUnreachable, FindingDNATInClusterUnreachable, FindingTurboLocalNeedsHostNetwork} {
			if find(sp.Fix.Residual, id) != nil {
				t.Fatalf("%s: cluster leaves %s", name(), id)
			}
		}
	}
	if sp.Fix.Strategy == StrategyPassThrough {
		if in.Service.Spec.Type != corev1.ServiceTypeLoadBalancer || in.Service.Annotations[aClass] == "dnat" ||
			in.Service.Annotations[aClass] == "shared" || in.Service.Annotations[aClass] == "dedicated" || in.Cluster.Version == "v1.15.11" {
			t.Fatalf("%s: pass-through where it cannot work", name())
		}
		if find(sp.Fix.Residual, FindingInClusterELBShortcut) != nil {
			t.Fatalf("%s: pass-through leaves the short-cut", name())
		}
		if in.Strategy == StrategyAuto {
			for _, id := range []string{FindingDedicatedELBHairpin, FindingTurboLocalNeedsHostNetwork, FindingPassThroughInconsistentSharedLB} {
				if find(sp.Fix.Residual, id) != nil {
					t.Fatalf("%s: auto chose pass-through leaving %s", name(), id)
				}
			}
			if in.Cluster.Version == "" || in.Cluster.Version == "v1.17.9-r0" {
				t.Fatalf("%s: auto chose pass-through below v1.19 or with an unknown version", name())
			}
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	svc := readService(b, "service-dedicated-elb.yaml")
	m := matrix.MustDefault()
	in := Input{Cluster: cluster("unknown", "unknown", v125), Service: svc, Strategy: StrategyAuto}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decide(in, m); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDecide(f *testing.F) {
	f.Add("union", "true", `{"type":"public"}`, "v1.25.5-r0", "tunnel", "ipvs", "auto", true, uint8(0), "192.168.0.1", quotaMsg, `{"protocol":"TCP","delay":"5"}`, 520, 3)
	f.Add("performance", "onlyLocal", `{"type":"inner","available_zone":"az"}`, "v1.15", "turbo", "unknown", "pass-through", false, uint8(1), "", "ELB.8905", `[{"target_service_port":"UDP:53","max_retries":0}]`, 0, -1)
	f.Add("dnat", "yes", `{`, "garbage", "", "nftables", "cluster", true, uint8(2), "not-an-ip", "\xff", `{"delay":-1e400}`, -5, 1<<30)
	m := matrix.MustDefault()
	f.Fuzz(func(t *testing.T, class, pt, autocreate, version, network, proxy, strategy string, local bool, typ uint8, ip, event, health string, nodes, endpoints int) {
		a := map[string]string{aClass: class, aPT: pt, "kubernetes.io/elb.autocreate": autocreate, "kubernetes.io/hws-hostNetwork": pt, aID: "x",
			"kubernetes.io/elb.health-check-option": health, "kubernetes.io/elb.health-check-options": health, "kubernetes.io/elb.health-check-flag": pt}
		types := []corev1.ServiceType{corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort, corev1.ServiceTypeClusterIP, ""}
		svc := mk(svcSpec{typ: types[int(typ)%len(types)], cluster: !local, ann: a, ingress: []corev1.LoadBalancerIngress{{IP: ip}}})
		peer := mk(svcSpec{name: "peer", ann: map[string]string{aID: "x", aPT: class}})
		events := []corev1.Event{ev(event, quotaNow.Add(-time.Duration(nodes)*time.Minute), int32(endpoints)), {Message: event}}
		in := Input{Cluster: Cluster{NetworkModel: network, ProxyMode: proxy, Version: version}, Service: svc, Strategy: strategy, SameELB: []*corev1.Service{peer, nil, svc},
			Events: events, Now: quotaNow, NodeCount: nodes, EndpointCount: endpoints}
		sp, err := Decide(in, m)
		_ = ExplainHealthCheck(svc)
		_ = GroupByELB(in.SameELB)
		if err != nil {
			var re *RefusedError
			if errors.As(err, &re) && strategy != StrategyPassThrough && strategy != StrategyCluster {
				t.Fatalf("refused a %q strategy", strategy)
			}
			return
		}
		if _, err := json.Marshal(sp); err != nil {
			t.Fatal(err)
		}
		if sp.Findings == nil || (sp.Changed && sp.Fix == nil) {
			t.Fatalf("bad plan %+v", sp)
		}
		if fb, ok := Fallback(sp, in, "refused"); ok {
			if strategy != "" && strategy != StrategyAuto {
				t.Fatalf("fallback for a forced strategy %q", strategy)
			}
			if fb.Fix == nil || fb.Fix.Strategy == sp.Fix.Strategy || !strings.Contains(fb.Fix.Reason, "refused") {
				t.Fatalf("bad fallback %+v", fb.Fix)
			}
		}
	})
}

// The nodePort finding is worked out once per facts: each plan gets cells of its own, so that
// what one caller does to its plan never shows in another's.
func TestNodePortFindingIsPerPlan(t *testing.T) {
	svc := readService(t, "service-nodeport-local.yaml")
	in := Input{Cluster: Cluster{NetworkModel: NetworkVPC, ProxyMode: ProxyIPVS, Version: "v1.25.5-r0"}, Service: svc, Strategy: StrategyAuto, EndpointCount: -1}
	find := func() *Finding {
		t.Helper()
		sp, err := Decide(in, matrix.MustDefault())
		if err != nil {
			t.Fatal(err)
		}
		for i := range sp.Findings {
			if sp.Findings[i].ID == FindingNodePortLocalUnreachable && len(sp.Findings[i].Unreachable) > 0 {
				return &sp.Findings[i]
			}
		}
		t.Fatalf("no %s finding with cells", FindingNodePortLocalUnreachable)
		return nil
	}
	first := find()
	first.Unreachable[0].Address = "changed by the first caller"
	first.Unreachable[0].Client = "changed"
	if second := find(); second.Unreachable[0].Address == first.Unreachable[0].Address || second.Unreachable[0].Client == "changed" {
		t.Errorf("a second plan shares the first one's cells: %+v", second.Unreachable[0])
	}
}
