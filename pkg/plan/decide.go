package plan

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
)

// Finding ids (SPEC "Finding ids"; stable).
const (
	FindingInClusterELBShortcut            = "incluster-elb-shortcut"
	FindingNodePortLocalUnreachable        = "nodeport-local-unreachable"
	FindingDedicatedELBHairpin             = "dedicated-elb-hairpin"
	FindingDNATInClusterUnreachable        = "dnat-incluster-unreachable"
	FindingPassThroughUnsupportedVersion   = "passthrough-unsupported-version"
	FindingPassThroughInconsistentSharedLB = "passthrough-inconsistent-shared-elb"
	FindingTurboLocalNeedsHostNetwork      = "turbo-local-needs-hostnetwork"
	FindingAnnotationInvalid               = "annotation-invalid"
	FindingDetectionIncomplete             = "detection-incomplete"
	FindingELBMemberQuotaExceeded          = "elb-member-quota-exceeded"
	FindingHealthCheckConfig               = "healthcheck-config"
	FindingOpenSourceCCMDialect            = "opensource-ccm-dialect"
)

// FindingIDs lists every finding id, in SPEC order.
var FindingIDs = []string{
	FindingInClusterELBShortcut, FindingNodePortLocalUnreachable, FindingDedicatedELBHairpin,
	FindingDNATInClusterUnreachable, FindingPassThroughUnsupportedVersion, FindingPassThroughInconsistentSharedLB,
	FindingTurboLocalNeedsHostNetwork, FindingAnnotationInvalid, FindingDetectionIncomplete,
	FindingELBMemberQuotaExceeded, FindingHealthCheckConfig, FindingOpenSourceCCMDialect,
}

// PatchTypeStrategic is the patch type of every fix.
const PatchTypeStrategic = "strategic"

// passThroughPatch is the change of the pass-through strategy (also sent to the other Services of
// one ELB in IPVS mode).
const passThroughPatch = `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}`

// Input is everything one verdict stands on.
type Input struct {
	// Cluster holds the facts: NetworkModel and ProxyMode may be "unknown" (or empty), Version ""
	// when unknown.
	Cluster Cluster
	// Service is the object analyzed (as read, or from a manifest).
	Service *corev1.Service
	// Strategy is auto (or empty), pass-through or cluster.
	Strategy string
	// BackendsHostNetwork says whether the backend pods use hostNetwork; nil when not read.
	BackendsHostNetwork *bool
	// SameELB are other Services that may share this Service's ELB (their kubernetes.io/elb.id is
	// compared here, and only LoadBalancer Services of the CCE dialect count; the Service itself
	// is skipped, so a GroupByELB group can be passed as is); nil when not read. Used for
	// passthrough-inconsistent-shared-elb and alsoPatch.
	SameELB []*corev1.Service
	// ELBCache, when set, parses each Service's ELB annotations once for a run that plans many
	// Services sharing ELBs (scan); nil parses every time.
	ELBCache *ELBCache
	// Events are the Service's Events (the caller lists them by involvedObject; one that names
	// another object is skipped). Those whose message mentions members_per_pool or ELB.8905, from
	// any source, and seen within EventWindow (24h) before Now, make elb-member-quota-exceeded;
	// an Event that carries no time at all (e.g. from a manifest) counts as recent.
	Events []corev1.Event
	// Now is the time Events are judged against; zero means time.Now().
	Now time.Time
	// NodeCount is the number of nodes the ELB can take as members; 0 (or less) when unknown.
	NodeCount int
	// EndpointCount is the number of the Service's endpoints (ready backend pods); negative when
	// unknown. Left at 0 it means no endpoints: the member count of a Local Service is then 0.
	EndpointCount int
}

// RefusedError is returned by Decide when a forced --strategy cannot work for the Service. Its
// message is one sentence naming the Service and what to do.
type RefusedError struct {
	Namespace, Name string
	Strategy        string
	// Why is the plain reason ("CCE does not support pass-through on v1.15 and older").
	Why string
	// Instead is what to do.
	Instead string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("Service %s/%s: --strategy %s cannot work because %s; %s.", e.Namespace, e.Name, e.Strategy, e.Why, e.Instead)
}

// NotApplicable says whether svc is of a kind the plugin has nothing to say about, and why.
func NotApplicable(svc *corev1.Service) (reason string, ok bool) {
	if svc == nil {
		return "no Service", true
	}
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
		return "", false
	case corev1.ServiceTypeExternalName:
		return "an ExternalName Service is a DNS alias: it has no ELB address or NodePort", true
	default:
		return "a ClusterIP Service has no ELB address or NodePort: in-cluster clients reach it by its ClusterIP or DNS name, which works from every node and pod", true
	}
}

// state is the part of a Service a fix changes.
type state struct {
	local          bool // externalTrafficPolicy Local
	passThroughSet bool // the annotation is on ("true"/"onlyLocal")
	// peersAligned: the other Services on the same ELB get the same pass-through setting
	// (alsoPatch of a pass-through fix).
	peersAligned bool
}

// facts is everything about one Service and its cluster that no fix changes.
type facts struct {
	m       *matrix.Matrix
	svc     *corev1.Service
	ns      string
	info    elb.Info
	probs   []elb.Problem
	lb      bool
	hasNP   bool // the Service has NodePorts
	ingress []elb.IngressIP

	network, proxy string
	possible       matrix.Possible
	turbo          bool

	version    *kubeversion.Version // nil when unknown
	versionRaw string
	versionErr error

	hostNetwork       *bool
	hostNetworkSource string

	peers    []*corev1.Service // other LoadBalancer Services of the CCE dialect on the same elb.id
	peerInfo []elb.Info        // their parsed annotations, by index

	cur       state       // the Service as it is
	quota     quotaEvents // recent member-quota Events
	nodes     int         // Input.NodeCount (<= 0 unknown)
	endpoints int         // Input.EndpointCount (< 0 unknown)
}

// Decide computes the verdict and fix for one Service. m is the access matrix (nil: the embedded
// one). The only error is a *RefusedError for a forced strategy that cannot work (and a plain error
// for a nil Service or an unknown strategy).
func Decide(in Input, m *matrix.Matrix) (ServicePlan, error) {
	if m == nil {
		m = matrix.MustDefault()
	}
	svc := in.Service
	if svc == nil {
		return ServicePlan{}, fmt.Errorf("no Service to analyze")
	}
	strategy := in.Strategy
	if strategy == "" {
		strategy = StrategyAuto
	}
	switch strategy {
	case StrategyAuto, StrategyPassThrough, StrategyCluster:
	default:
		return ServicePlan{}, fmt.Errorf("unknown strategy %q; want auto, pass-through or cluster", in.Strategy)
	}

	info, probs := in.ELBCache.Parse(svc)
	sp := ServicePlan{
		Namespace:   namespaceOf(svc),
		Name:        svc.Name,
		Type:        serviceType(svc),
		ELBClass:    info.Class,
		ELBID:       info.ID,
		PassThrough: info.PassThrough,
		Findings:    []Finding{},
	}
	if _, na := NotApplicable(svc); na {
		sp.ExternalTrafficPolicy = string(svc.Spec.ExternalTrafficPolicy)
		return sp, nil
	}
	sp.ExternalTrafficPolicy = string(corev1.ServiceExternalTrafficPolicyCluster)
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		sp.ExternalTrafficPolicy = string(corev1.ServiceExternalTrafficPolicyLocal)
	}

	f := newFacts(in, m, info, probs)
	cur := f.cur
	sp.Findings = f.evaluate(cur)
	if d := f.detectionIncomplete(cur, sp.Findings); d != nil {
		sp.Findings = append(sp.Findings, *d)
	}

	fix, err := f.chooseFix(strategy, cur, sp.Findings)
	if err != nil {
		return sp, err
	}
	sp.Fix = fix
	if fix != nil {
		sp.Changed = f.changes(fix.Strategy, cur)
	}
	return sp, nil
}

func newFacts(in Input, m *matrix.Matrix, info elb.Info, probs []elb.Problem) *facts {
	svc := in.Service
	f := &facts{
		m:       m,
		svc:     svc,
		ns:      namespaceOf(svc),
		info:    info,
		probs:   probs,
		lb:      svc.Spec.Type == corev1.ServiceTypeLoadBalancer,
		ingress: elb.IngressIPs(svc),
		network: normFact(in.Cluster.NetworkModel),
		proxy:   normFact(in.Cluster.ProxyMode),
		cur: state{local: svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal,
			passThroughSet: info.PassThroughOn},
		nodes:     in.NodeCount,
		endpoints: in.EndpointCount,
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	f.quota = readQuotaEvents(in.Events, svc, now)
	f.hasNP = svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(f.lb && (svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts))
	f.possible = m.PossibleColumns(f.network, f.proxy)
	f.turbo = f.network == NetworkTurbo

	f.versionRaw = strings.TrimSpace(in.Cluster.Version)
	if f.versionRaw != "" && f.versionRaw != Unknown {
		if v, err := kubeversion.Parse(f.versionRaw); err == nil {
			f.version = &v
		} else {
			f.versionErr = err
		}
	}

	switch {
	case in.BackendsHostNetwork != nil:
		f.hostNetwork, f.hostNetworkSource = in.BackendsHostNetwork, "read from the backend pods"
	case info.HostNetwork != nil:
		f.hostNetwork, f.hostNetworkSource = info.HostNetwork, "from annotation "+elb.AnnHostNetwork
	}

	if info.ID != "" {
		for _, p := range in.SameELB {
			if p == nil || (namespaceOf(p) == f.ns && p.Name == svc.Name) {
				continue
			}
			if p.Annotations[elb.AnnID] != info.ID || p.Spec.Type != corev1.ServiceTypeLoadBalancer {
				continue
			}
			if pi, _ := in.ELBCache.Parse(p); pi.Dialect == elb.DialectCCE && !pi.DNAT {
				f.peers = append(f.peers, p)
			}
		}
		sort.Slice(f.peers, func(i, j int) bool {
			return namespaceOf(f.peers[i])+"/"+f.peers[i].Name < namespaceOf(f.peers[j])+"/"+f.peers[j].Name
		})
		for _, p := range f.peers {
			pi, _ := in.ELBCache.Parse(p)
			f.peerInfo = append(f.peerInfo, pi)
		}
	}
	return f
}

func normFact(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return Unknown
	}
	return s
}

func namespaceOf(svc *corev1.Service) string {
	if svc.Namespace == "" {
		return "default"
	}
	return svc.Namespace
}

func serviceType(svc *corev1.Service) string {
	if svc.Spec.Type == "" {
		return string(corev1.ServiceTypeClusterIP)
	}
	return string(svc.Spec.Type)
}

// --- facts the rules read -------------------------------------------------------------------

// passThroughApplies: the annotation means something for this Service (CCE dialect, LB, not DNAT).
func (f *facts) passThroughApplies() bool {
	return f.lb && !f.info.DNAT && f.info.Dialect != elb.DialectOpenSourceCCM
}

// versionBelow reports whether the version is known and older than major.minor.
func (f *facts) versionBelow(major, minor int) bool {
	return f.version != nil && !f.version.AtLeast(major, minor)
}

// throughELB: in-cluster traffic to the ELB address goes through the ELB (no kube-proxy
// short-cut): pass-through is on and effective, or no status entry is short-cut (ipMode Proxy or
// hostnames only).
func (f *facts) throughELB(st state) bool {
	if st.passThroughSet && f.passThroughApplies() && !f.versionBelow(1, 16) {
		return true
	}
	return len(f.ingress) > 0 && len(f.shortcutTargets()) == 0
}

type targetAddrs struct {
	target string
	addrs  []string
}

// shortcutTargets lists the ELB targets kube-proxy short-cuts, with their addresses. A Service
// without status yet is evaluated for its future address ("elb-ip").
func (f *facts) shortcutTargets() []targetAddrs {
	if len(f.ingress) == 0 {
		return []targetAddrs{{target: TargetELBIP}}
	}
	var out []targetAddrs
	idx := map[string]int{}
	for _, e := range f.ingress {
		if !e.ShortCut() {
			continue
		}
		t := TargetELBIP
		switch e.Scope() {
		case elb.ScopePrivate:
			t = TargetELBPrivateIP
		case elb.ScopePublic:
			t = TargetELBPublicIP
		}
		if i, ok := idx[t]; ok {
			out[i].addrs = append(out[i].addrs, e.IP)
			continue
		}
		idx[t] = len(out)
		out = append(out, targetAddrs{target: t, addrs: []string{e.IP}})
	}
	return out
}

// failing evaluates a cell over the possible columns: whether it fails in any, and the columns
// where it fails when that is not all of them.
func (f *facts) failing(res func(matrix.Column) matrix.Result) (bool, []string) {
	cols, all := matrix.FailingIn(f.possible.Columns, res)
	if len(cols) == 0 {
		return false, nil
	}
	if all {
		return true, nil
	}
	if f.turbo {
		// CCE Turbo has no column: a cell fails for a proxy mode when it fails in any column of
		// that mode (conservative), and When names "turbo+MODE".
		failProxy, allProxy := map[string]bool{}, map[string]bool{}
		for _, c := range cols {
			failProxy[c.Proxy] = true
		}
		var when []string
		for _, c := range f.possible.Columns {
			if !allProxy[c.Proxy] {
				allProxy[c.Proxy] = true
				if failProxy[c.Proxy] {
					when = append(when, NetworkTurbo+"+"+c.Proxy)
				}
			}
		}
		if len(failProxy) == len(allProxy) {
			return true, nil
		}
		return true, when
	}
	return true, matrix.ColumnNames(cols)
}

func quote(s string) string { return "\u201c" + s + "\u201d" }

var npTargetWords = map[string]string{
	TargetNodePortServerNode: "server node IP:NodePort",
	TargetNodePortOtherNode:  "other node IP:NodePort",
}

// --- the rules ------------------------------------------------------------------------------

// evaluate lists the findings that hold in state st, in a fixed order (errors first).
func (f *facts) evaluate(st state) []Finding {
	out := []Finding{}
	for _, p := range f.probs {
		if p.Annotation == elb.AnnPassThrough && st.passThroughSet && !f.info.PassThroughOn {
			continue // a pass-through fix rewrites the invalid value to "true"
		}
		out = append(out, Finding{ID: FindingAnnotationInvalid, Severity: SeverityError,
			Message: fmt.Sprintf("annotation %s does not parse: %s", p.Annotation, p.Message)})
	}
	if v := f.versionFinding(st); v != nil {
		out = append(out, *v)
	}
	if s := f.shortcut(st); s != nil {
		out = append(out, *s)
	}
	if h := f.hairpin(st); h != nil {
		out = append(out, *h)
	}
	if d := f.dnat(st); d != nil {
		out = append(out, *d)
	}
	if t := f.turboHostNetwork(st); t != nil {
		out = append(out, *t)
	}
	if i := f.inconsistent(st); i != nil {
		out = append(out, *i)
	}
	if n := f.nodePort(st); n != nil {
		out = append(out, *n)
	}
	out = append(out, f.healthChecks()...)
	if q := f.memberQuota(st); q != nil {
		out = append(out, *q)
	}
	if f.lb && f.info.Dialect == elb.DialectOpenSourceCCM {
		out = append(out, Finding{ID: FindingOpenSourceCCMDialect, Severity: SeverityInfo,
			Message: fmt.Sprintf("kubernetes.io/elb.class %q is the open-source cloud-provider-huaweicloud dialect: kubernetes.io/elb.pass-through does not exist there, so the only fix is externalTrafficPolicy Cluster", f.info.Class)})
	}
	return out
}

func (f *facts) versionFinding(st state) *Finding {
	if !st.passThroughSet || !f.passThroughApplies() || f.version == nil {
		return nil
	}
	switch {
	case f.versionBelow(1, 16):
		return &Finding{ID: FindingPassThroughUnsupportedVersion, Severity: SeverityError,
			Message: fmt.Sprintf("kubernetes.io/elb.pass-through is set, but CCE does not support it on v1.15 and older (cluster %s): it has no effect and kube-proxy still short-cuts the ELB address", f.version.String())}
	case f.versionBelow(1, 19):
		return &Finding{ID: FindingPassThroughUnsupportedVersion, Severity: SeverityWarning,
			Message: fmt.Sprintf("kubernetes.io/elb.pass-through is documented for v1.19 and later; on %s it may not take effect (verify in-cluster access, or upgrade)", f.version.String())}
	}
	return nil
}

func (f *facts) shortcut(st state) *Finding {
	if !f.lb || !st.local || f.info.DNAT || f.throughELB(st) {
		return nil
	}
	var cells []Cell
	var addrs []string
	for _, ta := range f.shortcutTargets() {
		addrs = append(addrs, ta.addrs...)
		for _, client := range matrix.Clients {
			if f.turbo && (client == PodSameNode || client == PodOtherNode) {
				continue // [doc] Turbo pods reach the ELB through the ELB
			}
			d := f.m.Derivation.Shortcut[client]
			fails, when := f.failing(func(c matrix.Column) matrix.Result { r, _ := f.m.Shortcut(client, c); return r })
			if !fails {
				continue
			}
			cells = append(cells, Cell{Client: client, Target: ta.target, When: when,
				Row: fmt.Sprintf("%s %s \u2192 %s (derived, domain \u00a72.1)", f.m.NodePortRow(), quote(f.m.ClientRow(d.Row)), npTargetWords[d.Target])})
		}
	}
	if len(cells) == 0 {
		return nil
	}
	where := "the ELB address (not in status yet)"
	if len(addrs) > 0 {
		where = "the ELB address " + strings.Join(addrs, ", ")
	}
	msg := fmt.Sprintf("externalTrafficPolicy is Local and kube-proxy answers %s itself on every node, forwarding only to backends on that node, so in-cluster clients never go through the ELB and %s fail. Cells read the client's own node's NodePort in the vendor table (%s edition): inferred, domain \u00a72.1",
		where, countClients(cells), f.m.Edition)
	if f.turbo {
		msg += "; CCE Turbo: pods already go through the ELB (ok), host cells follow the proxy mode's columns (inferred)"
	}
	msg += ". Inside the cluster, the Service's ClusterIP or DNS name always works."
	return &Finding{ID: FindingInClusterELBShortcut, Severity: SeverityError, Message: msg, Unreachable: cells}
}

func countClients(cells []Cell) string {
	seen := map[string]bool{}
	for _, c := range cells {
		seen[c.Client] = true
	}
	if len(seen) == 1 {
		return "1 client location may"
	}
	return fmt.Sprintf("%d client locations may", len(seen))
}

// hairpinKind is the vendor row group for this Service's hairpin cells.
func (f *facts) hairpinKind() string {
	if _, ok := f.m.Kind(matrix.KindNginxIngressDedicatedELB); ok && f.isNginxIngressAddon() {
		return matrix.KindNginxIngressDedicatedELB
	}
	return matrix.KindDedicatedELB
}

func (f *facts) isNginxIngressAddon() bool {
	const addon = "cceaddon-nginx-ingress"
	if strings.Contains(f.svc.Name, addon) {
		return true
	}
	for _, v := range f.svc.Spec.Selector {
		if strings.Contains(v, addon) {
			return true
		}
	}
	return false
}

func (f *facts) kindCells(kind string) []Cell {
	k, _ := f.m.Kind(kind)
	var cells []Cell
	for _, c := range k.Cells {
		client, target := c.Client, c.Target
		fails, when := f.failing(func(col matrix.Column) matrix.Result { return f.m.Other(kind, client, target, col) })
		if !fails || hasCell(cells, client, target) {
			continue
		}
		cells = append(cells, Cell{Client: client, Target: target, Row: k.Row, When: when})
	}
	return cells
}

func hasCell(cells []Cell, client, target string) bool {
	for _, c := range cells {
		if c.Client == client && c.Target == target {
			return true
		}
	}
	return false
}

func (f *facts) hairpin(st state) *Finding {
	if !f.lb || f.info.DNAT || !f.info.PreservesClientIP() || f.turbo {
		return nil
	}
	through := f.throughELB(st)
	if !st.local && !through {
		return nil
	}
	kind := f.hairpinKind()
	cells := f.kindCells(kind)
	if len(cells) == 0 {
		return nil
	}
	what := "a dedicated ELB"
	if !f.info.Dedicated {
		what = "a shared ELB with kubernetes.io/elb.transparent-client-ip (inferred: same behaviour as a dedicated ELB)"
	}
	var msg string
	switch {
	case st.local:
		msg = fmt.Sprintf("%s keeps the client's source address: a client on a node that runs a backend pod reaches the ELB's private address and gets its own packet back (hairpin), which fails on CCE Standard (vendor table, %s edition). Pass-through does not help; externalTrafficPolicy Cluster with pass-through off does, or use the ClusterIP/DNS name inside the cluster",
			what, f.m.Edition)
	default:
		msg = fmt.Sprintf("%s keeps the client's source address, and with pass-through on, in-cluster traffic goes through the ELB even with externalTrafficPolicy Cluster: when the ELB picks the client's own node the packet hairpins and fails, so same-node clients fail intermittently (domain \u00a72.1). Use the ClusterIP/DNS name inside the cluster",
			what)
	}
	return &Finding{ID: FindingDedicatedELBHairpin, Severity: SeverityError, Message: msg, Unreachable: cells}
}

func (f *facts) dnat(st state) *Finding {
	if !f.lb || !f.info.DNAT || !st.local {
		return nil
	}
	cells := f.kindCells(matrix.KindDNATGateway)
	if len(cells) == 0 {
		return nil
	}
	return &Finding{ID: FindingDNATInClusterUnreachable, Severity: SeverityError,
		Message:     fmt.Sprintf("DNAT gateway Service with externalTrafficPolicy Local: no in-cluster client reaches the DNAT address (vendor table, %s edition). Pass-through does not apply to DNAT; externalTrafficPolicy Cluster fixes it, or use the ClusterIP/DNS name inside the cluster", f.m.Edition),
		Unreachable: cells}
}

func (f *facts) turboHostNetwork(st state) *Finding {
	if !f.turbo || !st.local {
		return nil
	}
	if f.hostNetwork != nil && *f.hostNetwork {
		return nil
	}
	msg := "CCE Turbo supports externalTrafficPolicy Local only when the backend pods use hostNetwork"
	if f.hostNetwork != nil {
		msg += fmt.Sprintf(", and they do not (%s); use externalTrafficPolicy Cluster", f.hostNetworkSource)
	} else {
		msg += fmt.Sprintf("; whether they do is unknown (backend pods not read, no %s annotation): if they do not, use externalTrafficPolicy Cluster", elb.AnnHostNetwork)
	}
	return &Finding{ID: FindingTurboLocalNeedsHostNetwork, Severity: SeverityError, Message: msg}
}

// ipvsPossible: kube-proxy may run in IPVS mode.
func (f *facts) ipvsPossible() bool { return f.proxy == ProxyIPVS || f.proxy == Unknown }

func (f *facts) inconsistent(st state) *Finding {
	if len(f.peers) == 0 || !f.ipvsPossible() || !f.passThroughApplies() || st.peersAligned {
		return nil
	}
	differ := false
	for _, pi := range f.peerInfo {
		differ = differ || pi.PassThroughOn != st.passThroughSet
	}
	if !differ {
		return nil
	}
	// Every member of the ELB, with its setting, so that each member's finding names them all.
	self := f.info.PassThrough
	if st.passThroughSet != f.info.PassThroughOn {
		self = elb.PassThroughTrue // the state after a pass-through fix
	}
	members := []string{memberSetting(f.ns, f.svc.Name, st.passThroughSet, self, true)}
	for i, p := range f.peers {
		pi := f.peerInfo[i]
		members = append(members, memberSetting(namespaceOf(p), p.Name, pi.PassThroughOn, pi.PassThrough, false))
	}
	sort.Strings(members)
	cond := "kube-proxy runs in IPVS mode, where"
	if f.proxy == Unknown {
		cond = "if kube-proxy runs in IPVS mode (proxy mode unknown; pass --proxy-mode),"
	}
	return &Finding{ID: FindingPassThroughInconsistentSharedLB, Severity: SeverityError,
		Message: fmt.Sprintf("%s all Services on one ELB (kubernetes.io/elb.id %s) must have the same pass-through setting, and its %d Services disagree: %s. Set kubernetes.io/elb.pass-through \"true\" on every one of them (a pass-through fix does: alsoPatch)",
			cond, f.info.ID, len(members), strings.Join(members, ", "))}
}

// memberSetting is one Service of an ELB and its pass-through setting, as a finding names it:
// `shop/api (pass-through on: "true")`.
func memberSetting(ns, name string, on bool, raw string, self bool) string {
	val := "not set"
	if raw != "" {
		val = fmt.Sprintf("%q", truncate(raw, 40))
	}
	this := ""
	if self {
		this = "this Service; "
	}
	return fmt.Sprintf("%s/%s (%spass-through %s: %s)", ns, name, this, onOff(on), val)
}

// peersDiffering lists the other Services on the ELB whose pass-through is off: those a
// pass-through fix must also patch in IPVS mode.
func (f *facts) peersDiffering() []*corev1.Service {
	var out []*corev1.Service
	for i, p := range f.peers {
		if !f.peerInfo[i].PassThroughOn {
			out = append(out, p)
		}
	}
	return out
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func (f *facts) nodePort(st state) *Finding {
	if !st.local || !f.hasNP {
		return nil
	}
	var cells []Cell
	for _, client := range matrix.Clients {
		for _, target := range matrix.NodePortTargets {
			fails, when := f.failing(func(c matrix.Column) matrix.Result { return f.m.NodePortTarget(client, target, c) })
			if !fails {
				continue
			}
			cells = append(cells, Cell{Client: client, Target: target, When: when,
				Row: fmt.Sprintf("%s %s \u2192 %s", f.m.NodePortRow(), quote(f.m.ClientRow(client)), npTargetWords[target])})
		}
	}
	if len(cells) == 0 {
		return nil
	}
	msg := fmt.Sprintf("externalTrafficPolicy is Local, so a node's IP:NodePort answers only when that node runs a backend pod: from inside the cluster, other nodes' NodePort fails (vendor NodePort table, %s edition)", f.m.Edition)
	if f.turbo {
		msg += "; CCE Turbo has no column of its own: evaluated over the proxy mode's columns (inferred)"
	}
	return &Finding{ID: FindingNodePortLocalUnreachable, Severity: SeverityWarning, Message: msg, Unreachable: cells}
}

// detectionIncomplete says which cells depend on an unknown fact, and which flag settles it.
func (f *facts) detectionIncomplete(st state, findings []Finding) *Finding {
	if !st.local || (!f.possible.UnknownNetwork && !f.possible.UnknownProxy) {
		return nil
	}
	var unknown, flags []string
	if f.possible.UnknownNetwork {
		unknown = append(unknown, "network model")
		flags = append(flags, "--network-model")
	}
	if f.possible.UnknownProxy {
		what := "proxy mode"
		if f.proxy == ProxyNFTables {
			what = "proxy mode (nftables has no column in the matrix)"
		}
		unknown = append(unknown, what)
		flags = append(flags, "--proxy-mode")
	}
	var deps []string
	for _, fd := range findings {
		for _, c := range fd.Unreachable {
			if len(c.When) > 0 {
				deps = append(deps, fmt.Sprintf("%s \u2192 %s fails only in %s", c.Client, c.Target, strings.Join(c.When, ", ")))
			}
		}
	}
	msg := fmt.Sprintf("%s unknown: the verdict covers columns %s", strings.Join(unknown, " and "), strings.Join(f.possible.Names(), ", "))
	if len(deps) > 0 {
		msg += "; these cells depend on it: " + strings.Join(deps, "; ")
	} else {
		msg += "; no cell depends on it"
	}
	msg += fmt.Sprintf(". Pass %s to settle it.", strings.Join(flags, " and "))
	return &Finding{ID: FindingDetectionIncomplete, Severity: SeverityInfo, Message: msg}
}

// --- the fix --------------------------------------------------------------------------------

// triggers are the findings a fix is for: failing cells and unsupported setups a strategy can
// clear. The NodePort warning triggers a fix only on a NodePort Service (on a LoadBalancer it is
// inherent to Local and left as a residual).
func (f *facts) isTrigger(fd Finding) bool {
	switch fd.ID {
	case FindingInClusterELBShortcut, FindingDedicatedELBHairpin, FindingDNATInClusterUnreachable,
		FindingTurboLocalNeedsHostNetwork, FindingPassThroughInconsistentSharedLB:
		return true
	case FindingNodePortLocalUnreachable:
		return f.svc.Spec.Type == corev1.ServiceTypeNodePort
	}
	return false
}

func (f *facts) after(strategy string, cur state) state {
	switch strategy {
	case StrategyPassThrough:
		return state{local: cur.local, passThroughSet: true, peersAligned: f.ipvsPossible()}
	case StrategyCluster:
		return state{local: false, passThroughSet: cur.passThroughSet}
	}
	return cur
}

func (f *facts) changes(strategy string, cur state) bool {
	switch strategy {
	case StrategyPassThrough:
		return !f.info.PassThroughOn
	case StrategyCluster:
		return cur.local
	}
	return false
}

// residual is what still holds after a strategy: warnings and errors.
func (f *facts) residual(strategy string, cur state) []Finding {
	out := []Finding{}
	for _, fd := range f.evaluate(f.after(strategy, cur)) {
		if SeverityRank(fd.Severity) >= SeverityRank(SeverityWarning) {
			out = append(out, fd)
		}
	}
	return out
}

// countTriggers counts the findings a fix is for (see isTrigger).
func (f *facts) countTriggers(fs []Finding) int {
	n := 0
	for _, fd := range fs {
		if f.isTrigger(fd) {
			n++
		}
	}
	return n
}

// passThroughRefusal says why pass-through cannot work for this Service ("" when it can).
func (f *facts) passThroughRefusal() string {
	switch {
	case !f.lb:
		return fmt.Sprintf("it is a %s Service and pass-through exists only for LoadBalancer Services", serviceType(f.svc))
	case f.info.DNAT:
		return "it is a DNAT gateway Service (kubernetes.io/elb.class: dnat), where pass-through does not apply"
	case f.info.Dialect == elb.DialectOpenSourceCCM:
		return fmt.Sprintf("kubernetes.io/elb.class %q is the open-source cloud-provider-huaweicloud dialect, which has no pass-through", f.info.Class)
	case f.versionBelow(1, 16):
		return fmt.Sprintf("the cluster is %s and CCE does not support pass-through on v1.15 and older", f.version.String())
	}
	return ""
}

// passThroughAutoBlock says why auto does not pick pass-through even though it could be forced.
func (f *facts) passThroughAutoBlock() string {
	switch {
	case f.version == nil && f.versionErr != nil:
		return fmt.Sprintf("the cluster version %q does not parse; pass --cluster-version (pass-through needs v1.19 or later)", f.versionRaw)
	case f.version == nil:
		return "the cluster version is unknown; pass --cluster-version to allow pass-through (it needs v1.19 or later)"
	case f.versionBelow(1, 19):
		return fmt.Sprintf("pass-through is documented for v1.19 and later and the cluster is %s", f.version.String())
	}
	return ""
}

func (f *facts) chooseFix(strategy string, cur state, findings []Finding) (*Fix, error) {
	var triggers []Finding
	for _, fd := range findings {
		if f.isTrigger(fd) {
			triggers = append(triggers, fd)
		}
	}
	if len(triggers) == 0 {
		return nil, nil
	}
	refusal := f.passThroughRefusal()

	switch strategy {
	case StrategyPassThrough:
		if refusal != "" {
			return nil, &RefusedError{Namespace: f.ns, Name: f.svc.Name, Strategy: StrategyPassThrough, Why: refusal,
				Instead: "use --strategy cluster (or auto)"}
		}
		reason := "forced by --strategy pass-through: in-cluster traffic to the ELB address goes through the ELB; externalTrafficPolicy stays " + policyName(cur.local)
		if f.info.PassThroughOn {
			reason = "forced by --strategy pass-through: the annotation is already on, nothing to change"
			if f.ipvsPossible() && len(f.peersDiffering()) > 0 {
				reason = "forced by --strategy pass-through: the annotation is already on here; the other Services on its ELB get it too (alsoPatch)"
			}
		}
		if block := f.passThroughAutoBlock(); block != "" {
			reason += "; note: " + block
		}
		return f.fix(StrategyPassThrough, reason, cur), nil
	case StrategyCluster:
		reason := "forced by --strategy cluster: externalTrafficPolicy Cluster lets kube-proxy send in-cluster traffic to any endpoint"
		if !cur.local {
			reason = "forced by --strategy cluster: externalTrafficPolicy is already Cluster, nothing to change"
		}
		return f.fix(StrategyCluster, reason, cur), nil
	}

	// auto
	ptChanges := f.changes(StrategyPassThrough, cur)
	clChanges := f.changes(StrategyCluster, cur)
	var why []string // why not pass-through
	ptOK := false
	switch {
	case refusal != "":
		why = append(why, refusal)
	case !ptChanges:
		why = append(why, "pass-through is already on")
	case f.passThroughAutoBlock() != "":
		why = append(why, f.passThroughAutoBlock())
	default:
		res := f.residual(StrategyPassThrough, cur)
		if f.countTriggers(res) == 0 {
			ptOK = true
		} else {
			for _, fd := range res {
				if f.isTrigger(fd) {
					why = append(why, "pass-through would leave "+fd.ID)
				}
			}
		}
	}
	if f.alignOnly(triggers, refusal) {
		return f.fix(StrategyPassThrough, fmt.Sprintf("pass-through is already on here, and the other Services on its ELB (kubernetes.io/elb.id %s) must get it too: every Service on one ELB must agree in IPVS mode (alsoPatch)", f.info.ID), cur), nil
	}
	if ptOK {
		reason := "pass-through sends in-cluster traffic for the ELB address through the ELB, which clears every failing ELB cell and keeps externalTrafficPolicy Local (client source IP preserved)"
		return f.fix(StrategyPassThrough, reason, cur), nil
	}
	if clChanges {
		reason := "externalTrafficPolicy Cluster lets kube-proxy send in-cluster traffic to any endpoint"
		if f.countTriggers(f.residual(StrategyCluster, cur)) == 0 {
			reason += ", which clears every failing cell"
		}
		reason += "; not pass-through: " + strings.Join(dedup(why), "; ")
		return f.fix(StrategyCluster, reason, cur), nil
	}
	if ptChanges && refusal == "" && f.passThroughAutoBlock() == "" &&
		f.countTriggers(f.residual(StrategyPassThrough, cur)) < len(triggers) {
		return f.fix(StrategyPassThrough, "pass-through makes this Service agree with the other Services on its ELB", cur), nil
	}
	return nil, nil
}

// alignOnly: the only thing to fix is that other Services on the ELB lack the pass-through this
// one has (IPVS), and auto may set pass-through: the fix is pass-through on those (alsoPatch).
func (f *facts) alignOnly(triggers []Finding, refusal string) bool {
	if !f.info.PassThroughOn || refusal != "" || f.passThroughAutoBlock() != "" || !f.ipvsPossible() || len(f.peersDiffering()) == 0 {
		return false
	}
	for _, fd := range triggers {
		if fd.ID != FindingPassThroughInconsistentSharedLB {
			return false
		}
	}
	return true
}

func policyName(local bool) string {
	if local {
		return "Local"
	}
	return "Cluster"
}

func dedup(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func (f *facts) fix(strategy, reason string, cur state) *Fix {
	fx := &Fix{Strategy: strategy, Reason: reason, PatchType: PatchTypeStrategic, Residual: f.residual(strategy, cur)}
	switch strategy {
	case StrategyCluster:
		if cur.local {
			fx.Costs = []string{
				"client source IP is no longer preserved: backends see a node address instead of the client's",
				"changing the policy of a live Service does not clear existing conntrack entries: clients may keep failing until those expire, or until they are flushed with conntrack -D on the nodes (vendor note)",
			}
		}
	case StrategyPassThrough:
		if !f.info.PassThroughOn {
			fx.Costs = []string{
				"in-cluster clients of the ELB address now go through the ELB: one more hop",
				"CCE's webhook may refuse to change or remove kubernetes.io/elb.* annotations later: treat the annotation as permanent",
			}
		}
		differ := f.peersDiffering()
		switch {
		case len(differ) == 0:
		case f.ipvsPossible():
			for _, p := range differ {
				fx.AlsoPatch = append(fx.AlsoPatch, AlsoPatch{Namespace: namespaceOf(p), Name: p.Name, Patch: json.RawMessage(passThroughPatch)})
			}
			fx.Costs = append(fx.Costs, fmt.Sprintf("also sets pass-through on %d other Service(s) of the same ELB (IPVS: every Service on one ELB must agree)", len(fx.AlsoPatch)))
		default:
			var names []string
			for _, p := range differ {
				names = append(names, namespaceOf(p)+"/"+p.Name)
			}
			fx.Reason += fmt.Sprintf("; note: kube-proxy runs in %s mode, where the rule that every Service on one ELB must have the same pass-through setting (IPVS) does not apply, so the other Services of ELB %s without it (%s) are left as they are",
				f.proxy, f.info.ID, strings.Join(names, ", "))
		}
	}
	if c := f.memberCost(f.after(strategy, cur)); c != "" {
		fx.Costs = append(fx.Costs, c)
	}
	return fx
}
