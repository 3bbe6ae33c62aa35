package plan

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
)

// PatchTypeStrategic is the patch type of every fix.
const PatchTypeStrategic = "strategic"

// passThroughPatch is the change of the pass-through strategy (also sent to the other Services of
// one ELB in IPVS mode).
const passThroughPatch = `{"metadata":{"annotations":{"` + elb.AnnPassThrough + `":"true"}}}`

// passThroughPatchJSON is passThroughPatch as the AlsoPatch entries of every plan share it (read
// only): a fix on an ELB of n Services lists n-1 of them, and n plans do.
var passThroughPatchJSON = json.RawMessage(passThroughPatch)

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
	// Offline is true when the Service comes from a manifest, not from a cluster: CCE may still
	// set pass-through onlyLocal on it when it is created, and the verdict says so.
	Offline bool
	// PeersUnchecked, when not empty, says which Services that may share this Service's ELB
	// could not be read and why (e.g. "Services outside namespace shop: listing Services in all
	// namespaces is forbidden"); the plan carries it as a note.
	PeersUnchecked string
	// EndpointCount is the number of the Service's endpoints (ready backend pods); negative when
	// unknown. Left at 0 it means no endpoints: the member count of a Local Service is then 0.
	EndpointCount int
	// Cloud is what the ELB API says about the Service's load balancer (--cloud); nil when the
	// cloud was not asked (the default) or the Service names no ELB the API could be asked about.
	Cloud *CloudELB
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
	local bool // externalTrafficPolicy Local
	// pt is the pass-through annotation: ptTrue, ptOnlyLocal or "" (absent, or any other value).
	pt string
	// peersAligned: the other Services on the same ELB get the same pass-through setting
	// (alsoPatch of a pass-through fix).
	peersAligned bool
}

// Pass-through values as the decision reads them (case-insensitive in the annotation).
const (
	ptTrue      = elb.PassThroughTrue
	ptOnlyLocal = elb.PassThroughOnlyLocal
)

// ptValue normalizes the pass-through annotation: ptTrue, ptOnlyLocal or "".
func ptValue(info elb.Info) string {
	switch {
	case strings.EqualFold(info.PassThrough, ptTrue):
		return ptTrue
	case strings.EqualFold(info.PassThrough, ptOnlyLocal):
		return ptOnlyLocal
	}
	return ""
}

// ptOn says whether pass-through is on for a pass-through value under a policy: "true" always;
// onlyLocal (which CCE sets itself on Local Services [doc]) only while the policy is Local
// [inferred, docs/domain.md §2.1]: with Cluster, kube-proxy short-cuts the ELB address again.
func ptOn(pt string, local bool) bool { return pt == ptTrue || (pt == ptOnlyLocal && local) }

// on says whether pass-through is on in state st.
func (st state) on() bool { return ptOn(st.pt, st.local) }

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

	peers  []*corev1.Service // other LoadBalancer Services of the CCE dialect on the same elb.id
	peerOn []bool            // whether pass-through is on for each of them (ptOn)
	// peerMember is how a finding names each of them (memberSetting).
	peerMember []string
	// peersUnchecked is Input.PeersUnchecked.
	peersUnchecked string
	offline        bool
	addrs          map[string]string // target → the status addresses it stands for (addrWords)

	cur       state       // the Service as it is
	quota     quotaEvents // recent member-quota Events
	nodes     int         // Input.NodeCount (<= 0 unknown)
	endpoints int         // Input.EndpointCount (< 0 unknown)
	cloud     *CloudELB   // Input.Cloud
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
	for _, p := range svc.Spec.Ports {
		sp.Ports = append(sp.Ports, p.Port)
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
	if strategy == StrategyAuto {
		sp.NoFix = f.noFix(cur, sp.Findings, fix)
	}
	sp.Notes = append(f.notes(), f.cloudNotes()...)
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
			pt: ptValue(info)},
		peersUnchecked: in.PeersUnchecked,
		offline:        in.Offline,
		nodes:          in.NodeCount,
		endpoints:      in.EndpointCount,
		cloud:          in.Cloud,
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	f.quota = readQuotaEvents(in.Events, svc, now)
	f.hasNP = svc.Spec.Type == corev1.ServiceTypeNodePort ||
		(f.lb && (svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts))
	f.addrs = f.addrWords()
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
		ps := in.ELBCache.peers(info.ID, in.SameELB)
		f.peers = make([]*corev1.Service, 0, len(ps.svcs))
		f.peerOn = make([]bool, 0, len(ps.svcs))
		f.peerMember = make([]string, 0, len(ps.svcs))
		for i, p := range ps.svcs {
			if namespaceOf(p) == f.ns && p.Name == svc.Name {
				continue
			}
			f.peers = append(f.peers, p)
			f.peerOn = append(f.peerOn, ps.on[i])
			f.peerMember = append(f.peerMember, ps.member[i])
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
	if f.passThroughEffective(st) {
		return true
	}
	return len(f.ingress) > 0 && len(f.shortcutTargets()) == 0
}

// passThroughEffective: pass-through is on in st and takes effect (the annotation applies to this
// Service, and the cluster is not v1.15 or older, where CCE does not support it [doc]).
func (f *facts) passThroughEffective(st state) bool {
	return st.on() && f.passThroughApplies() && !f.versionBelow(1, 16)
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
		t := targetOf(e)
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

// vendorCell and derivedCell build the cells of a finding with their source.
func (f *facts) vendorCell(client, target, row string, when []string) Cell {
	return Cell{Client: client, Target: target, Source: CellVendor, Edition: f.m.Edition, Row: row, When: when}
}

func derivedCell(client, target, rule, row string, when []string) Cell {
	return Cell{Client: client, Target: target, Source: CellDerived, Rule: rule, Row: row, When: when}
}

// --- the rules ------------------------------------------------------------------------------

// evaluate lists the findings that hold in state st, in a fixed order (errors first).
func (f *facts) evaluate(st state) []Finding {
	out := []Finding{}
	for _, p := range f.probs {
		if p.Annotation == elb.AnnPassThrough && st.pt != f.cur.pt {
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
	// What the ELB API reports (--cloud) is about the ELB as it is; a fix of the policy or
	// pass-through does not clear it, so it holds in every state (and shows as residual).
	for _, c := range []*Finding{f.membersUnhealthy(), f.healthCheckPortMismatch(), f.memberQuotaNear()} {
		if c != nil {
			out = append(out, *c)
		}
	}
	if f.lb && f.info.Dialect == elb.DialectOpenSourceCCM {
		out = append(out, Finding{ID: FindingOpenSourceCCMDialect, Severity: SeverityInfo,
			Message: fmt.Sprintf("kubernetes.io/elb.class %q is the open-source cloud-provider-huaweicloud dialect: kubernetes.io/elb.pass-through does not exist there, so the only fix is externalTrafficPolicy Cluster", f.info.Class)})
	}
	addrs := f.addrs
	for i := range out {
		for j := range out[i].Unreachable {
			out[i].Unreachable[j].Address = addrs[out[i].Unreachable[j].Target]
		}
	}
	return out
}

func (f *facts) versionFinding(st state) *Finding {
	if !st.on() || !f.passThroughApplies() || f.version == nil {
		return nil
	}
	switch {
	case f.versionBelow(1, 16):
		return &Finding{ID: FindingPassThroughUnsupportedVersion, Severity: SeverityError,
			Message: fmt.Sprintf("kubernetes.io/elb.pass-through is on, but CCE does not support it on v1.15 and older (vendor, pass-through text; cluster %s): it has no effect and kube-proxy still short-cuts the ELB address", f.version.String())}
	case f.versionBelow(1, 19):
		return &Finding{ID: FindingPassThroughUnsupportedVersion, Severity: SeverityWarning,
			Message: fmt.Sprintf("kubernetes.io/elb.pass-through is documented for v1.19 and later (vendor, annotation table); on %s it may not take effect (verify in-cluster access, or upgrade)", f.version.String())}
	}
	return nil
}

// vendorKind is the vendor table's row group for this Service under Local, or "" when the
// table has no row for it (a shared ELB): where the table has a row, that row is the verdict.
func (f *facts) vendorKind() string {
	switch {
	case !f.lb:
		return ""
	case f.info.DNAT:
		return matrix.KindDNATGateway
	case f.info.Dedicated && f.info.Dialect == elb.DialectCCE:
		return f.hairpinKind()
	}
	return ""
}

// shortcut is incluster-elb-shortcut: only where the vendor table has no row (a shared ELB), with
// Local and pass-through off; every cell is derived (rule shortcut-own-nodeport).
func (f *facts) shortcut(st state) *Finding {
	if !f.lb || !st.local || f.vendorKind() != "" || f.throughELB(st) {
		return nil
	}
	var cells []Cell
	for _, ta := range f.shortcutTargets() {
		for _, client := range matrix.Clients {
			if f.turbo && (client == PodSameNode || client == PodOtherNode) {
				continue // [doc, pass-through best practice] Turbo pods reach the ELB through the ELB
			}
			d := f.m.Derivation.Shortcut[client]
			fails, when := f.failing(func(c matrix.Column) matrix.Result { r, _ := f.m.Shortcut(client, c); return r })
			if !fails {
				continue
			}
			cells = append(cells, derivedCell(client, ta.target, matrix.RuleShortcut,
				fmt.Sprintf("%s %s \u2192 %s", f.m.NodePortRow(), quote(f.m.ClientRow(d.Row)), npTargetWords[d.Target]), when))
		}
	}
	if len(cells) == 0 {
		return nil
	}
	msg := "externalTrafficPolicy is Local and pass-through is off, so kube-proxy answers the ELB address itself on every node and in-cluster clients never go through the ELB (vendor doc)"
	if f.turbo {
		msg += "; on CCE Turbo pods already go through the ELB (vendor doc), hosts do not"
	}
	msg += ". Read as the client calling its own node's IP:NodePort in the vendor's NodePort table (derived: the table has no row for a shared ELB): " +
		describeCells(cells, f.addrs)
	return &Finding{ID: FindingInClusterELBShortcut, Severity: SeverityError, Message: msg, Unreachable: cells}
}

// hairpinKind is the vendor row group for a dedicated ELB's hairpin cells.
func (f *facts) hairpinKind() string {
	if _, ok := f.m.Kind(matrix.KindNginxIngressDedicatedELB); ok && f.info.Dedicated && f.isNginxIngressAddon() {
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

// kindCells are the failing cells of a vendor row group: as vendor cells (rule ""), or as cells
// derived from that row by rule.
func (f *facts) kindCells(kind, rule string) []Cell {
	k, _ := f.m.Kind(kind)
	var cells []Cell
	for _, c := range k.Cells {
		client, target := c.Client, c.Target
		fails, when := f.failing(func(col matrix.Column) matrix.Result { return f.m.Other(kind, client, target, col) })
		if !fails || hasCell(cells, client, target) {
			continue
		}
		if rule == "" {
			cells = append(cells, f.vendorCell(client, target, k.Row, when))
		} else {
			cells = append(cells, derivedCell(client, target, rule, k.Row, when))
		}
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

// hairpin is dedicated-elb-hairpin. A dedicated ELB with Local is the vendor's row, whatever the
// pass-through (CCE sets onlyLocal itself, [inferred] why the row looks like that). Elsewhere the
// row's cells are derived: a dedicated ELB with Cluster and pass-through "true" (traffic still
// goes through the ELB), and a shared ELB that keeps the client address with pass-through on.
func (f *facts) hairpin(st state) *Finding {
	if !f.lb || f.info.DNAT || !f.info.PreservesClientIP() || f.turbo {
		return nil // the hairpin is documented for CCE Standard (vendor, pass-through text)
	}
	var cells []Cell
	var why string
	switch {
	case f.info.Dedicated && st.local && f.info.Dialect == elb.DialectCCE:
		cells = f.kindCells(f.hairpinKind(), "")
		why = fmt.Sprintf("a dedicated ELB with externalTrafficPolicy Local: the vendor's table lists exactly these cells (%s edition). The ELB keeps the client's source address and, with CCE's pass-through onlyLocal, in-cluster traffic goes through it, so a client on a backend's own node gets its own packet back (hairpin; inferred reading of the row)", f.m.Edition)
	case f.passThroughEffective(st) && f.info.Dedicated:
		cells = f.kindCells(f.hairpinKind(), matrix.RulePassThroughKeepsPath)
		why = "a dedicated ELB with pass-through \"true\": in-cluster traffic goes through the ELB even with externalTrafficPolicy Cluster, and the ELB keeps the client's source address, so a client on a backend's node can get its own packet back (derived from the dedicated-ELB row; inferred)"
	case f.passThroughEffective(st):
		cells = f.kindCells(matrix.KindDedicatedELB, matrix.RuleTransparentClientIP)
		why = "a shared ELB with kubernetes.io/elb.transparent-client-ip keeps the client's source address like a dedicated ELB, and with pass-through on in-cluster traffic goes through it, so a client on a backend's node gets its own packet back (derived from the dedicated-ELB row; inferred)"
	}
	if len(cells) == 0 {
		return nil
	}
	msg := why + ": " + describeCells(cells, f.addrs) + ". Pass-through does not help here (vendor doc)"
	return &Finding{ID: FindingDedicatedELBHairpin, Severity: SeverityError, Message: msg, Unreachable: cells}
}

func (f *facts) dnat(st state) *Finding {
	if !f.lb || !f.info.DNAT || !st.local {
		return nil
	}
	cells := f.kindCells(matrix.KindDNATGateway, "")
	if len(cells) == 0 {
		return nil
	}
	return &Finding{ID: FindingDNATInClusterUnreachable, Severity: SeverityError,
		Message: fmt.Sprintf("DNAT gateway Service with externalTrafficPolicy Local (vendor table, %s edition): %s. Pass-through does not apply to DNAT",
			f.m.Edition, describeCells(cells, f.addrs)),
		Unreachable: cells}
}

func (f *facts) turboHostNetwork(st state) *Finding {
	if !f.turbo || !st.local {
		return nil
	}
	if f.hostNetwork != nil && *f.hostNetwork {
		return nil
	}
	msg := "CCE Turbo supports externalTrafficPolicy Local only when the backend pods use hostNetwork (vendor doc)"
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
	for _, on := range f.peerOn {
		differ = differ || on != st.on()
	}
	if !differ {
		return nil
	}
	// Every member of the ELB, with its setting, so that each member's finding names them all.
	self := f.info.PassThrough
	if st.pt != f.cur.pt {
		self = elb.PassThroughTrue // the state after a pass-through fix
	}
	members := []string{memberSetting(f.ns, f.svc.Name, st.on(), self, true)}
	members = append(members, f.peerMember...)
	sort.Strings(members)
	cond := "kube-proxy runs in IPVS mode, where"
	if f.proxy == Unknown {
		cond = "if kube-proxy runs in IPVS mode (proxy mode unknown; pass --proxy-mode),"
	}
	return &Finding{ID: FindingPassThroughInconsistentSharedLB, Severity: SeverityError,
		Message: fmt.Sprintf("%s all Services on one ELB (kubernetes.io/elb.id %s) must have the same pass-through setting (vendor doc), and its %d Services disagree: %s. Set kubernetes.io/elb.pass-through \"true\" on every one of them (a pass-through fix does: alsoPatch)",
			cond, f.info.ID, len(members), strings.Join(members, ", "))}
}

// memberSetting is one Service of an ELB and its pass-through setting, as a finding names it:
// `shop/api (pass-through on: "true")`.
func memberSetting(ns, name string, on bool, raw string, self bool) string {
	val := "not set"
	if raw != "" {
		val = strconv.Quote(truncate(raw, 40))
	}
	this := ""
	if self {
		this = "this Service; "
	}
	return ns + "/" + name + " (" + this + "pass-through " + onOff(on) + ": " + val + ")"
}

// peersDiffering lists the other Services on the ELB whose pass-through is off: those a
// pass-through fix must also patch in IPVS mode.
func (f *facts) peersDiffering() []*corev1.Service {
	var out []*corev1.Service
	for i, p := range f.peers {
		if !f.peerOn[i] {
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
	// The finding depends on the matrix and the possible columns only, not on the Service: it
	// is worked out once for each, and each Service gets its own copy of the cells (evaluate
	// writes the Service's addresses into them).
	key := nodePortKey{f.m, f.network, f.proxy}
	v, ok := nodePortCache.Load(key)
	if !ok {
		v, _ = nodePortCache.LoadOrStore(key, f.nodePortFinding())
	}
	fd, _ := v.(*Finding)
	if fd == nil {
		return nil
	}
	out := *fd
	out.Unreachable = slices.Clone(fd.Unreachable)
	return &out
}

// nodePortKey is what the nodePort finding depends on: the matrix and the facts that give the
// possible columns (matrix.PossibleColumns).
type nodePortKey struct {
	m              *matrix.Matrix
	network, proxy string
}

// nodePortCache holds the nodePort finding (or a nil *Finding) by nodePortKey.
var nodePortCache sync.Map

// nodePortFinding is the nodePort finding of a Local Service with NodePorts under f's facts.
func (f *facts) nodePortFinding() *Finding {
	var cells []Cell
	serverNodeFails := false
	for _, client := range matrix.Clients {
		for _, target := range matrix.NodePortTargets {
			fails, when := f.failing(func(c matrix.Column) matrix.Result { return f.m.NodePortTarget(client, target, c) })
			if !fails {
				continue
			}
			serverNodeFails = serverNodeFails || target == TargetNodePortServerNode
			row := fmt.Sprintf("%s %s \u2192 %s", f.m.NodePortRow(), quote(f.m.ClientRow(client)), npTargetWords[target])
			if f.turbo {
				cells = append(cells, derivedCell(client, target, matrix.RuleTurboColumns, row, when))
			} else {
				cells = append(cells, f.vendorCell(client, target, row, when))
			}
		}
	}
	if len(cells) == 0 {
		return nil
	}
	msg := fmt.Sprintf("externalTrafficPolicy is Local: from inside the cluster (vendor NodePort table, %s edition)", f.m.Edition)
	if f.turbo {
		msg = "externalTrafficPolicy is Local: from inside the cluster (CCE Turbo has no column: derived from the proxy mode's columns, inferred)"
	}
	msg += ", " + describeCells(cells, nil)
	if !serverNodeFails {
		msg += "; a backend node's IP:NodePort works from every client"
	}
	return &Finding{ID: FindingNodePortLocalUnreachable, Severity: SeverityWarning, Message: msg, Unreachable: cells}
}

// targetOf is the target of one status address: elb-private-ip, elb-public-ip, or elb-ip when
// its scope is unknown.
func targetOf(e elb.IngressIP) string {
	switch e.Scope() {
	case elb.ScopePrivate:
		return TargetELBPrivateIP
	case elb.ScopePublic:
		return TargetELBPublicIP
	}
	return TargetELBIP
}

// addrWords maps the ELB targets to the addresses of this Service's status ("elb-ip" when it has
// none yet), so that messages name them.
func (f *facts) addrWords() map[string]string {
	out := map[string]string{}
	byScope := map[string][]string{}
	for _, e := range f.ingress {
		byScope[targetOf(e)] = append(byScope[targetOf(e)], e.IP)
	}
	for t, ips := range byScope {
		out[t] = strings.Join(ips, ", ")
	}
	if f.info.DNAT && len(f.ingress) > 0 {
		var all []string
		for _, e := range f.ingress {
			all = append(all, e.IP)
		}
		out[TargetDNATIP] = strings.Join(all, ", ")
	}
	return out
}

var clientWords = map[string]string{
	HostSameNode:  "hosts on a backend's node",
	HostOtherNode: "hosts on other nodes",
	PodSameNode:   "pods on a backend's node",
	PodOtherNode:  "pods on other nodes",
}

var targetWords = map[string]string{
	TargetELBIP:              "the ELB address",
	TargetELBPrivateIP:       "the ELB's private address",
	TargetELBPublicIP:        "the ELB's public address",
	TargetNodePortServerNode: "a backend node's IP:NodePort",
	TargetNodePortOtherNode:  "another node's IP:NodePort",
	TargetDNATIP:             "the DNAT address",
}

// describeCells says in words who fails to reach what, from the cells themselves (so a message
// cannot contradict its cells): "pods on other nodes and hosts on other nodes (only in
// tunnel+ipvs, vpc+ipvs) can't reach the ELB's private address 192.168.0.10".
func describeCells(cells []Cell, addrs map[string]string) string {
	var order []string
	byTarget := map[string][]string{}
	everywhere := map[string]int{} // target → clients failing in every column
	for _, c := range cells {
		if len(c.When) == 0 {
			everywhere[c.Target]++
		}
	}
	for _, c := range cells {
		if _, ok := byTarget[c.Target]; !ok {
			order = append(order, c.Target)
		}
		if everywhere[c.Target] == len(matrix.Clients) {
			byTarget[c.Target] = []string{"no in-cluster client"}
			continue
		}
		who := clientWords[c.Client]
		if who == "" {
			who = c.Client
		}
		if len(c.When) > 0 {
			who += " (only in " + strings.Join(c.When, ", ") + ")"
		}
		byTarget[c.Target] = append(byTarget[c.Target], who)
	}
	var parts []string
	for _, t := range order {
		what := targetWords[t]
		if what == "" {
			what = t
		}
		if a := addrs[t]; a != "" {
			what += " " + a
		}
		if len(byTarget[t]) == 1 && byTarget[t][0] == "no in-cluster client" {
			parts = append(parts, "no in-cluster client can reach "+what)
			continue
		}
		parts = append(parts, joinWords(byTarget[t])+" can't reach "+what)
	}
	return strings.Join(parts, "; ")
}

// DescribeCells says in words who fails to reach what, from the cells and their addresses:
// "hosts on other nodes and pods on other nodes can't reach the ELB address 192.168.7.20:80".
// ports are the Service's ports, added to the ELB and DNAT addresses.
func DescribeCells(cells []Cell, ports []int32) string {
	addrs := map[string]string{}
	for _, c := range cells {
		if c.Address == "" || addrs[c.Target] != "" {
			continue
		}
		a := c.Address
		if len(ports) > 0 && !strings.Contains(a, ",") {
			var ps []string
			for _, p := range ports {
				ps = append(ps, fmt.Sprint(p))
			}
			a += ":" + strings.Join(ps, ",")
		}
		addrs[c.Target] = a
	}
	return describeCells(cells, addrs)
}

func joinWords(list []string) string {
	switch len(list) {
	case 0:
		return ""
	case 1:
		return list[0]
	}
	return strings.Join(list[:len(list)-1], ", ") + " and " + list[len(list)-1]
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
	switch catalogByID[fd.ID].FixFor {
	case FixAlways:
		return true
	case FixOnNodePort:
		return f.svc.Spec.Type == corev1.ServiceTypeNodePort
	}
	return false
}

func (f *facts) after(strategy string, cur state) state {
	switch strategy {
	case StrategyPassThrough:
		return state{local: cur.local, pt: ptTrue, peersAligned: f.ipvsPossible()}
	case StrategyCluster:
		// onlyLocal stays in the annotation and is off with Cluster (ptOn).
		return state{local: false, pt: cur.pt}
	}
	return cur
}

// changes says whether a strategy changes the object: the pass-through fix writes "true" (also
// over onlyLocal), the cluster fix the policy.
func (f *facts) changes(strategy string, cur state) bool {
	switch strategy {
	case StrategyPassThrough:
		return f.info.PassThrough != ptTrue
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

// signature is the set of what the trigger findings of a state say: one key per failing cell
// (finding, client, target, columns), one per finding without cells. Two states with the same
// signature fail in the same way.
type signature map[string]bool

func (f *facts) signature(fs []Finding) signature {
	sig := signature{}
	for _, fd := range fs {
		if !f.isTrigger(fd) {
			continue
		}
		if len(fd.Unreachable) == 0 {
			sig[fd.ID] = true
		}
		for _, c := range fd.Unreachable {
			sig[fd.ID+"|"+c.Client+"|"+c.Target+"|"+strings.Join(c.When, ",")] = true
		}
	}
	return sig
}

// improves: after fails in strictly fewer ways than cur, and in no new way.
func (s signature) improves(cur signature) bool {
	for k := range s {
		if !cur[k] {
			return false
		}
	}
	return len(s) < len(cur)
}

// ids lists the finding ids of a signature, sorted.
func (s signature) ids() []string {
	seen := map[string]bool{}
	var out []string
	for k := range s {
		id, _, _ := strings.Cut(k, "|")
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// outcome is what a strategy would do: whether it changes the object and the signature after it.
type outcome struct {
	changes bool
	after   signature
}

func (f *facts) outcome(strategy string, cur state) outcome {
	return outcome{changes: f.changes(strategy, cur), after: f.signature(f.evaluate(f.after(strategy, cur)))}
}

// helps: the strategy changes the object and fails in fewer ways after it (a fix that leaves the
// cells of the findings it answers as they are is no fix).
func (o outcome) helps(cur signature) bool { return o.changes && o.after.improves(cur) }

// whyNot says why a strategy does not help ("" when it does).
func (f *facts) whyNot(strategy string, o outcome, cur signature) string {
	switch {
	case strategy == StrategyPassThrough && f.passThroughRefusal() != "":
		return "not pass-through: " + f.passThroughRefusal()
	case !o.changes && strategy == StrategyPassThrough:
		return "pass-through is already \"true\""
	case !o.changes:
		return "externalTrafficPolicy is already Cluster"
	case !o.after.improves(cur):
		what := strategyWords(strategy)
		added := signature{}
		for k := range o.after {
			if !cur[k] {
				added[k] = true
			}
		}
		if len(added) > 0 {
			return what + " would make " + strings.Join(added.ids(), ", ") + " fail"
		}
		left := o.after.ids()
		if strategy == StrategyPassThrough && f.info.Dedicated {
			return what + " leaves " + strings.Join(left, ", ") + " as it is: a dedicated ELB keeps the client's address, and pass-through does not help there (vendor doc)"
		}
		if strategy == StrategyCluster && f.cur.pt == ptTrue && f.info.PreservesClientIP() {
			return what + " leaves " + strings.Join(left, ", ") + " as it is: pass-through \"true\" keeps in-cluster traffic on the ELB, which keeps the client's address (inferred)"
		}
		return what + " leaves " + strings.Join(left, ", ") + " failing as it is"
	}
	return ""
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
		return fmt.Sprintf("the cluster is %s and CCE does not support pass-through on v1.15 and older (vendor, pass-through text)", f.version.String())
	}
	return ""
}

// passThroughAutoBlock says why auto does not pick pass-through even though it could be forced.
func (f *facts) passThroughAutoBlock() string {
	switch {
	case f.version == nil && f.versionErr != nil:
		return fmt.Sprintf("the cluster version %q does not parse; pass --cluster-version (pass-through needs v1.19 or later, vendor annotation table)", f.versionRaw)
	case f.version == nil:
		return "the cluster version is unknown; pass --cluster-version to allow pass-through (it needs v1.19 or later, vendor annotation table)"
	case f.versionBelow(1, 19):
		return fmt.Sprintf("pass-through is documented for v1.19 and later (vendor annotation table) and the cluster is %s", f.version.String())
	}
	return ""
}

// chooseFix picks the fix for the trigger findings. A strategy is proposed only if it helps
// (outcome.helps); when none does for auto, the fix is nil and noFix says so.
func (f *facts) chooseFix(strategy string, cur state, findings []Finding) (*Fix, error) {
	curSig := f.signature(findings)
	if len(curSig) == 0 {
		return nil, nil
	}
	refusal := f.passThroughRefusal()
	pt, cl := f.outcome(StrategyPassThrough, cur), f.outcome(StrategyCluster, cur)

	switch strategy {
	case StrategyPassThrough:
		if refusal != "" {
			return nil, &RefusedError{Namespace: f.ns, Name: f.svc.Name, Strategy: StrategyPassThrough, Why: refusal,
				Instead: "use --strategy cluster (or auto)"}
		}
		if !pt.changes {
			reason := "forced by --strategy pass-through: the annotation is already \"true\", nothing to change"
			if f.ipvsPossible() && len(f.peersDiffering()) > 0 {
				reason = "forced by --strategy pass-through: the annotation is already \"true\" here; the other Services on its ELB get it too (alsoPatch)"
			}
			return f.fix(StrategyPassThrough, reason, cur), nil
		}
		if !pt.helps(curSig) {
			return nil, &RefusedError{Namespace: f.ns, Name: f.svc.Name, Strategy: StrategyPassThrough,
				Why: f.whyNot(StrategyPassThrough, pt, curSig), Instead: f.insteadWords(cl, curSig)}
		}
		reason := "forced by --strategy pass-through: in-cluster traffic to the ELB address goes through the ELB; externalTrafficPolicy stays " + policyName(cur.local)
		if block := f.passThroughAutoBlock(); block != "" {
			reason += "; note: " + block
		}
		return f.fix(StrategyPassThrough, reason, cur), nil
	case StrategyCluster:
		if !cl.changes {
			return f.fix(StrategyCluster, "forced by --strategy cluster: externalTrafficPolicy is already Cluster, nothing to change", cur), nil
		}
		if !cl.helps(curSig) {
			return nil, &RefusedError{Namespace: f.ns, Name: f.svc.Name, Strategy: StrategyCluster,
				Why: f.whyNot(StrategyCluster, cl, curSig), Instead: f.insteadWords(pt, curSig)}
		}
		return f.fix(StrategyCluster, "forced by --strategy cluster: externalTrafficPolicy Cluster lets kube-proxy send in-cluster traffic to any endpoint", cur), nil
	}

	// auto
	ptAllowed := refusal == "" && f.passThroughAutoBlock() == ""
	if f.alignOnly(findings, refusal) {
		return f.fix(StrategyPassThrough, fmt.Sprintf("pass-through is already on here, and the other Services on its ELB (kubernetes.io/elb.id %s) must get it too: every Service on one ELB must agree in IPVS mode (alsoPatch)", f.info.ID), cur), nil
	}
	var whyNotPT string
	switch {
	case refusal != "":
		whyNotPT = refusal
	case !pt.changes:
		whyNotPT = "pass-through is already \"true\""
	case !ptAllowed:
		whyNotPT = f.passThroughAutoBlock()
	case !pt.helps(curSig):
		whyNotPT = f.whyNot(StrategyPassThrough, pt, curSig)
	case len(pt.after) > 0:
		whyNotPT = "pass-through would leave " + strings.Join(pt.after.ids(), ", ")
	}
	ptHelps := ptAllowed && pt.helps(curSig)
	if ptHelps && len(pt.after) == 0 {
		return f.fix(StrategyPassThrough, "pass-through sends in-cluster traffic for the ELB address through the ELB, which clears every failing ELB cell and keeps externalTrafficPolicy Local (client source IP preserved)", cur), nil
	}
	clusterFix := func(clears bool) *Fix {
		reason := "externalTrafficPolicy Cluster lets kube-proxy send in-cluster traffic to any endpoint"
		if clears {
			reason += ", which clears every failing cell"
		}
		if f.info.PassThrough != "" && strings.EqualFold(f.info.PassThrough, ptOnlyLocal) {
			reason += " (pass-through onlyLocal is off with Cluster: inferred)"
		}
		if whyNotPT != "" {
			reason += "; not pass-through: " + whyNotPT
		}
		return f.fix(StrategyCluster, reason, cur)
	}
	switch {
	case cl.helps(curSig) && len(cl.after) == 0:
		return clusterFix(true), nil
	case ptHelps && (!cl.helps(curSig) || len(pt.after) < len(cl.after)):
		return f.fix(StrategyPassThrough, "pass-through clears some of the failing cells (the rest are listed as still failing); not externalTrafficPolicy Cluster: "+orWords(f.whyNot(StrategyCluster, cl, curSig), "it clears fewer"), cur), nil
	case cl.helps(curSig):
		return clusterFix(false), nil
	}
	return nil, nil
}

func containsID(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func orWords(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}

// insteadWords is what to do when a forced strategy does not help.
func (f *facts) insteadWords(other outcome, cur signature) string {
	if other.helps(cur) {
		return "use --strategy auto; inside the cluster, " + f.dnsWords()
	}
	return "no patch is known to clear it; inside the cluster, " + f.dnsWords()
}

// dnsAddresses are the Service's DNS name with each port: NAME.NAMESPACE.svc:PORT.
func (f *facts) dnsAddresses() []string {
	var out []string
	seen := map[string]bool{}
	for _, p := range f.svc.Spec.Ports {
		a := fmt.Sprintf("%s.%s.svc:%d", f.svc.Name, f.ns, p.Port)
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		out = append(out, fmt.Sprintf("%s.%s.svc", f.svc.Name, f.ns))
	}
	return out
}

func (f *facts) dnsWords() string {
	return "call " + strings.Join(f.dnsAddresses(), ", ") + " (the Service's DNS name) or its ClusterIP, which works from every node and pod (vendor doc)"
}

// noFix is set when the auto plan leaves error findings that no patch is known to clear: the
// findings of the current state when there is no fix, else those still in the fix's residual.
func (f *facts) noFix(cur state, findings []Finding, fix *Fix) *NoFix {
	left := f.signature(findings)
	if fix != nil {
		left = f.signature(fix.Residual)
	}
	var errs []string
	for _, id := range left.ids() {
		for _, fd := range findings {
			if fd.ID == id && fd.Severity == SeverityError {
				errs = append(errs, id)
				break
			}
		}
	}
	if len(errs) == 0 {
		return nil
	}
	curSig := f.signature(findings)
	// Would the other strategy clear some of what is left? Then the answer is not "no patch".
	var why, partial []string
	for _, s := range []string{StrategyPassThrough, StrategyCluster} {
		if fix != nil && fix.Strategy == s {
			continue
		}
		o := f.outcome(s, cur)
		if o.changes && (s != StrategyPassThrough || f.passThroughRefusal() == "") {
			var clears []string
			for _, id := range errs {
				if !containsID(o.after.ids(), id) {
					clears = append(clears, id)
				}
			}
			if len(clears) > 0 {
				w := f.whyNot(s, o, curSig)
				if w == "" && s == StrategyPassThrough {
					w = f.passThroughAutoBlock()
				}
				if w == "" && len(o.after) > 0 {
					w = "it leaves " + strings.Join(o.after.ids(), ", ")
				}
				partial = append(partial, fmt.Sprintf("%s would clear %s, but %s", strategyWords(s), strings.Join(clears, ", "), orWords(w, "not together with the rest")))
				continue
			}
		}
		if w := f.whyNot(s, o, curSig); w != "" {
			why = append(why, w)
		}
	}
	var reason string
	switch {
	case len(partial) > 0 && fix != nil:
		reason = "no single patch clears every failing cell: the " + strategyWords(fix.Strategy) + " fix leaves " + strings.Join(errs, ", ") + "; " + strings.Join(partial, "; ")
	case len(partial) > 0:
		reason = "no fix proposed for " + strings.Join(errs, ", ") + ": " + strings.Join(partial, "; ")
	default:
		reason = "no patch is known to clear " + strings.Join(errs, ", ")
		if fix != nil {
			reason += " (the fix leaves it)"
		}
		if len(why) > 0 {
			reason += ": " + strings.Join(why, "; ")
		}
	}
	remedy := "Inside the cluster, " + f.dnsWords()
	if f.lb && f.info.Dialect == elb.DialectCCE {
		remedy += "; removing kubernetes.io/elb.* annotations may be refused by CCE's webhook (third-party report)"
	}
	return &NoFix{Findings: errs, Reason: reason, Remedy: remedy, Addresses: f.dnsAddresses()}
}

// notes are the statements a verdict rests on that are not findings.
func (f *facts) notes() []Note {
	var out []Note
	if !f.lb || f.info.DNAT || f.info.Dialect == elb.DialectOpenSourceCCM || !f.cur.local {
		return f.peerNotes(out)
	}
	switch {
	case f.cur.pt == ptOnlyLocal:
		out = append(out, Note{Source: SourceInferred, Message: "kubernetes.io/elb.pass-through onlyLocal (CCE sets it itself on Local Services, vendor doc) is read as pass-through on while the policy is Local, and off with externalTrafficPolicy Cluster"})
	case f.offline && f.info.PassThrough == "":
		msg := "CCE may set kubernetes.io/elb.pass-through onlyLocal itself when it creates a Local Service (vendor doc), which would change this verdict: declare the annotation in the manifest"
		out = append(out, Note{Source: SourceDoc, Message: msg})
	}
	return f.peerNotes(out)
}

func (f *facts) peerNotes(out []Note) []Note {
	if f.peersUnchecked != "" && f.info.ID != "" && f.passThroughApplies() && f.ipvsPossible() {
		out = append(out, Note{Source: SourceEvidence, Message: fmt.Sprintf("not checked: the other Services on ELB %s among %s; in IPVS mode every Service on one ELB must have the same pass-through setting, so passthrough-inconsistent-shared-elb may be missing and a pass-through fix may miss some of them", f.info.ID, f.peersUnchecked)})
	}
	return out
}

// alignOnly: the only thing to fix is that other Services on the ELB lack the pass-through this
// one has (IPVS), and auto may set pass-through: the fix is pass-through on those (alsoPatch).
func (f *facts) alignOnly(findings []Finding, refusal string) bool {
	if !f.cur.on() || refusal != "" || f.passThroughAutoBlock() != "" || !f.ipvsPossible() || len(f.peersDiffering()) == 0 {
		return false
	}
	for _, fd := range findings {
		if f.isTrigger(fd) && fd.ID != FindingPassThroughInconsistentSharedLB {
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

func (f *facts) fix(strategy, reason string, cur state) *Fix {
	fx := &Fix{Strategy: strategy, Reason: reason, PatchType: PatchTypeStrategic, Residual: f.residual(strategy, cur)}
	switch strategy {
	case StrategyCluster:
		if cur.local {
			fx.Costs = []string{
				"client source IP is no longer preserved: backends see a node address instead of the client's (vendor doc)",
				"changing the policy of a live Service does not clear existing conntrack entries: clients may keep failing until those expire, or until they are flushed with conntrack -D on the nodes (vendor doc)",
			}
		}
	case StrategyPassThrough:
		if f.info.PassThrough != ptTrue {
			fx.Costs = []string{
				"in-cluster clients of the ELB address now go through the ELB: one more hop (inferred)",
				"CCE's webhook may refuse to change or remove kubernetes.io/elb.* annotations later: treat the annotation as permanent (third-party report)",
			}
		}
		differ := f.peersDiffering()
		switch {
		case len(differ) == 0:
		case f.ipvsPossible():
			for _, p := range differ {
				fx.AlsoPatch = append(fx.AlsoPatch, AlsoPatch{Namespace: namespaceOf(p), Name: p.Name, Patch: passThroughPatchJSON})
			}
			fx.Costs = append(fx.Costs, fmt.Sprintf("also sets pass-through on %d other Service(s) of the same ELB (IPVS: every Service on one ELB must agree, vendor doc)", len(fx.AlsoPatch)))
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
