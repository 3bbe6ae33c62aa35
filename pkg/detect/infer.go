package detect

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

// clues collects the evidence for each fact.
type clues map[string][]planapi.Evidence

func (c clues) add(fact, value, confidence, signal, format string, a ...any) {
	c[fact] = append(c[fact], planapi.Evidence{Fact: fact, Value: value, Source: fmt.Sprintf(format, a...), Confidence: confidence, Signal: signal})
}

// none records a signal that was tried and tells nothing about fact.
func (c clues) none(fact, signal, format string, a ...any) {
	c.add(fact, planapi.Unknown, planapi.ConfidenceNone, signal, format, a...)
}

// infer turns what was read (and the overrides) into the facts, their evidence and conflicts.
func infer(r *reads, o Overrides) planapi.Cluster {
	c := clues{}
	cl := planapi.Cluster{Evidence: []planapi.Evidence{}}
	for _, e := range r.extra {
		c[e.Fact] = append(c[e.Fact], e)
	}

	// Version, and ipMode from it.
	if o.ClusterVersion != "" {
		c.add(FactVersion, o.ClusterVersion, planapi.ConfidenceOverride, SignalOverride, "set by %s", FlagClusterVersion)
	}
	versionClues(c, r)
	version := resolve(&cl, c, FactVersion, "")
	if version == planapi.Unknown {
		version = ""
	}
	cl.Version = version
	ipModeClues(c, version, strongestFor(c[FactVersion], version))
	cl.IPMode = resolve(&cl, c, FactIPMode, "")

	// Network model: the Turbo objects, then the nodes' pod CIDRs.
	if v, origin := override(o.NetworkModel, o.networkFromEnv, FlagNetworkModel, EnvNetworkModel); v != "" {
		c.add(FactNetworkModel, v, planapi.ConfidenceOverride, SignalOverride, "set by %s", origin)
	}
	t := turboClues(c, r)
	n := nodeClues(r)
	podCIDRClues(c, r, n, t)
	cl.NetworkModel = resolve(&cl, c, FactNetworkModel, Remedy(FactNetworkModel))

	// Flavor: CCE or not from the node labels (and the CCE API groups), Turbo or Standard from
	// the network model.
	flavorClues(c, n, t, cl.NetworkModel, strongestFor(c[FactNetworkModel], cl.NetworkModel))
	cl.Flavor = resolve(&cl, c, FactFlavor, Remedy(FactFlavor))

	// Proxy mode.
	if v, origin := override(o.ProxyMode, o.proxyFromEnv, FlagProxyMode, EnvProxyMode); v != "" {
		c.add(FactProxyMode, v, planapi.ConfidenceOverride, SignalOverride, "set by %s", origin)
	}
	proxyClues(c, r)
	cl.ProxyMode = resolve(&cl, c, FactProxyMode, Remedy(FactProxyMode))

	for _, fact := range Facts {
		evs := c[fact]
		sort.SliceStable(evs, func(i, j int) bool { return Rank(evs[i].Confidence) > Rank(evs[j].Confidence) })
		cl.Evidence = append(cl.Evidence, evs...)
	}
	return cl
}

// override returns the override value of a fact and where it came from, or "".
func override(v string, fromEnv bool, flag, env string) (string, string) {
	if !set(v) {
		return "", ""
	}
	if fromEnv {
		return v, "environment variable " + env
	}
	return v, flag
}

// resolve decides a fact from its clues: the value of the strongest ones. Weaker clues that
// disagree make a conflict that says what was kept; equally strong clues that disagree leave
// the fact unknown, with a conflict that says what to pass.
func resolve(cl *planapi.Cluster, c clues, fact, remedy string) string {
	var best []planapi.Evidence // the strongest clue of each distinct value, strongest first
	for _, e := range c[fact] {
		if e.Value == planapi.Unknown || Rank(e.Confidence) == 0 {
			continue
		}
		i := indexOfValue(best, e.Value)
		if i < 0 {
			best = append(best, e)
		} else if Rank(e.Confidence) > Rank(best[i].Confidence) {
			best[i] = e
		}
	}
	if len(best) == 0 {
		return planapi.Unknown
	}
	sort.SliceStable(best, func(i, j int) bool { return Rank(best[i].Confidence) > Rank(best[j].Confidence) })
	if len(best) == 1 {
		return best[0].Value
	}
	values := make([]string, len(best))
	for i, e := range best {
		values[i] = e.Value
	}
	top, next := best[0], best[1]
	if Rank(top.Confidence) == Rank(next.Confidence) {
		res := fmt.Sprintf("unknown: %s (%s) says %s, %s (%s) says %s, equally strong", top.Source, top.Confidence, top.Value, next.Source, next.Confidence, next.Value)
		if remedy != "" {
			res += "; " + remedy
		}
		cl.Conflicts = append(cl.Conflicts, planapi.Conflict{Fact: fact, Values: values, Resolution: res})
		return planapi.Unknown
	}
	var res string
	if top.Confidence == planapi.ConfidenceOverride {
		res = fmt.Sprintf("kept %s, %s: the override wins over %s (%s), which says %s", top.Value, top.Source, next.Source, next.Confidence, next.Value)
	} else {
		res = fmt.Sprintf("kept %s: %s (%s) outweighs %s (%s), which says %s", top.Value, top.Source, top.Confidence, next.Source, next.Confidence, next.Value)
	}
	cl.Conflicts = append(cl.Conflicts, planapi.Conflict{Fact: fact, Values: values, Resolution: res})
	return top.Value
}

func indexOfValue(evs []planapi.Evidence, v string) int {
	for i, e := range evs {
		if e.Value == v {
			return i
		}
	}
	return -1
}

// strongestFor returns the strongest clue for value, or a zero Evidence.
func strongestFor(evs []planapi.Evidence, value string) planapi.Evidence {
	var best planapi.Evidence
	for _, e := range evs {
		if e.Value == value && Rank(e.Confidence) > Rank(best.Confidence) {
			best = e
		}
	}
	return best
}

// weaker returns the weaker of two confidences.
func weaker(a, b string) string {
	if Rank(a) < Rank(b) {
		return a
	}
	return b
}

// ---- version and ipMode ----

func versionClues(c clues, r *reads) {
	if r.version == nil {
		return
	}
	if r.version.err != nil {
		c.none(FactVersion, SignalServerVersion, "GET %s: %s", pathVersion, notReadable(r.version.err))
		return
	}
	git := r.version.obj.GitVersion
	v, err := kubeversion.Parse(git)
	if err != nil {
		c.add(FactVersion, git, planapi.ConfidenceLow, SignalServerVersion, "GET %s: gitVersion %q does not parse: %v", pathVersion, git, err)
		return
	}
	c.add(FactVersion, git, planapi.ConfidenceHigh, SignalServerVersion, "GET %s: gitVersion %s%s", pathVersion, git, describeVersion(v))
}

// describeVersion reads a version back when it says more than its numbers:
// " (v1.25.5, CCE revision r0)".
func describeVersion(v kubeversion.Version) string {
	s := fmt.Sprintf("v%d.%d.%d", v.Major, v.Minor, v.Patch)
	if v.CCERevision >= 0 {
		s += fmt.Sprintf(", CCE revision r%d", v.CCERevision)
	}
	if s == v.Raw {
		return ""
	}
	return " (" + s + ")"
}

// ipModeClues: status.loadBalancer.ingress[].ipMode (KEP-1860, gate LoadBalancerIPMode) is alpha
// in v1.29 (off by default), beta and on by default in v1.30 and v1.31 (an admin may still turn
// it off), GA in v1.32.
func ipModeClues(c clues, version string, from planapi.Evidence) {
	if version == "" {
		c.none(FactIPMode, SignalVersionGate, "the server version is unknown (ipMode: alpha in v1.29, on by default since v1.30)")
		return
	}
	v, err := kubeversion.Parse(version)
	if err != nil {
		c.none(FactIPMode, SignalVersionGate, "version %q does not parse", version)
		return
	}
	conf := func(rule string) string { return weaker(from.Confidence, rule) }
	mv := v.MinorString()
	switch {
	case v.AtLeast(1, 32):
		c.add(FactIPMode, planapi.IPModeAvailable, conf(planapi.ConfidenceHigh), SignalVersionGate, "version %s ≥ v1.32: ipMode is GA (KEP-1860); kube-proxy skips ingress IPs with ipMode Proxy", mv)
	case v.AtLeast(1, 30):
		c.add(FactIPMode, planapi.IPModeAvailable, conf(planapi.ConfidenceMedium), SignalVersionGate, "version %s: ipMode is beta, on by default since v1.30 (the LoadBalancerIPMode gate can still be turned off)", mv)
	case v.AtLeast(1, 29):
		c.add(FactIPMode, planapi.IPModeAlpha, conf(planapi.ConfidenceMedium), SignalVersionGate, "version %s: ipMode is alpha, only with the LoadBalancerIPMode feature gate", mv)
	default:
		c.add(FactIPMode, planapi.IPModeUnavailable, conf(planapi.ConfidenceHigh), SignalVersionGate, "version %s < v1.29: no ipMode field", mv)
	}
}

// ---- CCE Turbo objects ----

// turbo sums up the Turbo signals.
type turbo struct {
	// yes: a Turbo sign was found. excluded: the signals were read and show no Turbo.
	yes, excluded bool
	// cce is a CCE sign from the crd.yangtse.cni API (served, or its object without spec.eni),
	// with its confidence and source; "" when none.
	cceConfidence, cceSource string
}

func turboClues(c clues, r *reads) turbo {
	var t turbo
	nadRead, nadTurbo := false, false
	if r.nad != nil {
		nadRead = r.nad.err == nil || apierrors.IsNotFound(r.nad.err)
		switch {
		case r.nad.err == nil:
			types := cniTypes(r.nad.obj)
			if contains(types, "eni-neutron") {
				nadTurbo = true
				c.add(FactNetworkModel, planapi.NetworkTurbo, planapi.ConfidenceHigh, SignalDefaultNetwork, "NetworkAttachmentDefinition %s: CNI type eni-neutron (CCE Turbo's ENI network)", defaultNetworkName)
			} else {
				c.none(FactNetworkModel, SignalDefaultNetwork, "NetworkAttachmentDefinition %s: CNI type %s, not CCE Turbo's eni-neutron", defaultNetworkName, orNone(types))
			}
		case apierrors.IsNotFound(r.nad.err):
			c.none(FactNetworkModel, SignalDefaultNetwork, "NetworkAttachmentDefinition %s: not found%s, and every CCE Turbo cluster has it", defaultNetworkName, notServed(r.nad.err, "k8s.cni.cncf.io/v1 network-attachment-definitions"))
		default:
			c.none(FactNetworkModel, SignalDefaultNetwork, "NetworkAttachmentDefinition %s: %s", defaultNetworkName, notReadable(r.nad.err))
		}
	}
	yRead, yTurbo := false, false
	if r.yangtse != nil {
		yRead = r.yangtse.err == nil || apierrors.IsNotFound(r.yangtse.err)
		switch {
		case r.yangtse.err == nil:
			if spec, _ := r.yangtse.obj["spec"].(map[string]any); spec != nil && spec["eni"] != nil {
				yTurbo = true
				c.add(FactNetworkModel, planapi.NetworkTurbo, planapi.ConfidenceMedium, SignalYangtse, "YangtseConfiguration %s (crd.yangtse.cni/v1): spec.eni is set (CCE Turbo's ENI settings)", yangtseObjectName)
			} else {
				c.none(FactNetworkModel, SignalYangtse, "YangtseConfiguration %s (crd.yangtse.cni/v1): no spec.eni, so no CCE Turbo sign", yangtseObjectName)
			}
			t.cceConfidence, t.cceSource = planapi.ConfidenceMedium, "YangtseConfiguration "+yangtseObjectName+" exists (crd.yangtse.cni: the CCE network add-on's API)"
		case apierrors.IsNotFound(r.yangtse.err):
			c.none(FactNetworkModel, SignalYangtse, "YangtseConfiguration %s: not found%s", yangtseObjectName, notServed(r.yangtse.err, "crd.yangtse.cni/v1 yangtseconfigurations"))
			if servedButMissing(r.yangtse.err) {
				t.cceConfidence, t.cceSource = planapi.ConfidenceLow, "crd.yangtse.cni/v1 yangtseconfigurations is served (the CCE network add-on's API)"
			}
		default:
			c.none(FactNetworkModel, SignalYangtse, "YangtseConfiguration %s: %s", yangtseObjectName, notReadable(r.yangtse.err))
		}
	}
	t.yes = nadTurbo || yTurbo
	// default-network exists in every Turbo cluster and can't be deleted, so its absence (or
	// another CNI type) excludes Turbo; without it, a YangtseConfiguration without spec.eni does.
	t.excluded = !t.yes && ((nadRead && !nadTurbo) || (!nadRead && yRead && !yTurbo))
	return t
}

// cniTypes returns the CNI plugin types of a NetworkAttachmentDefinition's spec.config: a
// network configuration ("type") or a configuration list ("plugins"[].type).
func cniTypes(obj map[string]any) []string {
	spec, _ := obj["spec"].(map[string]any)
	raw, _ := spec["config"].(string)
	var conf struct {
		Type    string `json:"type"`
		Plugins []struct {
			Type string `json:"type"`
		} `json:"plugins"`
	}
	if err := jsonUnmarshal([]byte(raw), &conf); err != nil {
		return nil
	}
	var out []string
	if conf.Type != "" {
		out = append(out, conf.Type)
	}
	for _, p := range conf.Plugins {
		if p.Type != "" {
			out = append(out, p.Type)
		}
	}
	return out
}

// servedButMissing tells a 404 for a missing object of a served resource (the Status names the
// object) from a 404 for a resource the server does not serve at all.
func servedButMissing(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return false
	}
	d := st.Status().Details
	return d != nil && d.Name != ""
}

// notServed explains a 404 for a resource the server does not serve; "" for a missing object.
func notServed(err error, resource string) string {
	if servedButMissing(err) {
		return ""
	}
	return " (" + resource + " is not served: its CRD is not installed)"
}

// ---- nodes ----

// Labels CCE puts on its nodes (docs/domain.md §5, examples/node-cce-*.yaml).
const (
	labelCCEPrefix      = "cce.cloud.com/" // e.g. cce.cloud.com/cce-nodepool
	labelSubnetID       = "node.kubernetes.io/subnetid"
	labelContainerEng   = "node.kubernetes.io/container-engine"
	labelOSName         = "os.name"
	huaweiProviderIDPfx = "huaweicloud://" // spec.providerID set by a Huawei Cloud cloud-controller-manager
)

// nodeClass is what one node's metadata says about the cluster.
type nodeClass struct {
	// cceLabels are the CCE labels found; cceConfidence how strongly they say CCE ("" for none).
	cceLabels     []string
	cceConfidence string
	// huaweiProviderID is the node's providerID when a Huawei Cloud CCM set it.
	huaweiProviderID string
	// nameIsIP: CCE names nodes by their private IP (a weak sign, reported only).
	nameIsIP bool
}

// classifyNode reads a node's labels, name and providerID: a cce.cloud.com/ label is CCE's
// own (high); node.kubernetes.io/subnetid is CCE's (medium); container-engine and os.name are
// set by CCE but plausible elsewhere (low).
func classifyNode(n *corev1.Node) nodeClass {
	var c nodeClass
	keys := make([]string, 0, len(n.Labels))
	for k := range n.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		conf := ""
		switch {
		case strings.HasPrefix(k, labelCCEPrefix):
			conf = planapi.ConfidenceHigh
		case k == labelSubnetID:
			conf = planapi.ConfidenceMedium
		case k == labelContainerEng, k == labelOSName:
			conf = planapi.ConfidenceLow
		}
		if conf == "" {
			continue
		}
		c.cceLabels = append(c.cceLabels, k+"="+n.Labels[k])
		if Rank(conf) > Rank(c.cceConfidence) {
			c.cceConfidence = conf
		}
	}
	if strings.HasPrefix(n.Spec.ProviderID, huaweiProviderIDPfx) {
		c.huaweiProviderID = n.Spec.ProviderID
	}
	c.nameIsIP = isIPv4(n.Name)
	return c
}

// nodeSummary is what the nodes read say, taken together.
type nodeSummary struct {
	read  bool // the list was read (possibly empty)
	names []string
	total string // "3 nodes" or "5 of 40 nodes"
	// CCE sign: the strongest node's confidence and source; "" when no node has CCE labels.
	cceConfidence, cceSource string
	// Huawei Cloud CCM sign on nodes without CCE labels.
	ccmSource string
	plain     int // nodes with neither
	nodes     []corev1.Node
}

func nodeClues(r *reads) nodeSummary {
	var s nodeSummary
	if r.nodes == nil || r.nodes.err != nil {
		return s
	}
	s.read = true
	s.nodes = r.nodes.obj.Items
	n := len(s.nodes)
	s.total = plural(n, "node")
	if rem := r.nodes.obj.RemainingItemCount; rem != nil && *rem > 0 {
		s.total = fmt.Sprintf("%d of %s", n, plural(int(int64(n)+*rem), "node"))
	} else if r.nodes.obj.Continue != "" {
		s.total = "the first " + plural(n, "node")
	}
	cce := 0
	for i := range s.nodes {
		node := &s.nodes[i]
		s.names = append(s.names, node.Name)
		nc := classifyNode(node)
		switch {
		case nc.cceConfidence != "":
			cce++
			if Rank(nc.cceConfidence) > Rank(s.cceConfidence) {
				s.cceConfidence = nc.cceConfidence
				s.cceSource = fmt.Sprintf("node %s: labels %s (set by CCE)", node.Name, strings.Join(nc.cceLabels, ", "))
				if nc.nameIsIP {
					s.cceSource += ", named by its IP as CCE does"
				}
			}
		case nc.huaweiProviderID != "":
			if s.ccmSource == "" {
				s.ccmSource = fmt.Sprintf("node %s: spec.providerID %s (set by the Huawei Cloud cloud-controller-manager) and no CCE labels", node.Name, nc.huaweiProviderID)
			}
		default:
			s.plain++
		}
	}
	if s.cceSource != "" {
		s.cceSource += fmt.Sprintf("; CCE labels on %d of %s read", cce, s.total)
	}
	return s
}

// podCIDRClues reads VPC or tunnel from the nodes' pod CIDRs [inferred, docs/domain.md §5]: the VPC
// network gives each node a fixed pod block (spec.podCIDR); the tunnel network hands out /28
// blocks and sets none; Turbo sets none either, so "none" means tunnel only once Turbo is
// excluded. It applies to CCE only.
func podCIDRClues(c clues, r *reads, n nodeSummary, t turbo) {
	if r.nodes == nil {
		return
	}
	sample := r.nodeSample
	if sample == 0 {
		sample = NodeSample
	}
	src := fmt.Sprintf("%s?limit=%d", pathNodes, sample)
	if !n.read {
		c.none(FactNetworkModel, SignalNodePodCIDR, "GET %s: %s", src, notReadable(r.nodes.err))
		return
	}
	if len(n.nodes) == 0 {
		c.none(FactNetworkModel, SignalNodePodCIDR, "GET %s: no nodes, so no pod CIDRs to read", src)
		return
	}
	if n.cceConfidence == "" && t.cceConfidence == "" && !t.yes {
		c.none(FactNetworkModel, SignalNodePodCIDR, "%s read (%s): no CCE sign, and pod CIDRs tell VPC from tunnel on CCE only", n.total, strings.Join(n.names, ", "))
		return
	}
	var with, without []string
	for _, node := range n.nodes {
		if cidrs := podCIDRs(&node); len(cidrs) > 0 {
			with = append(with, fmt.Sprintf("%s (%s)", node.Name, strings.Join(cidrs, ", ")))
		} else {
			without = append(without, node.Name)
		}
	}
	switch {
	case len(without) == 0:
		c.add(FactNetworkModel, planapi.NetworkVPC, planapi.ConfidenceMedium, SignalNodePodCIDR,
			"nodes %s: a fixed pod CIDR block per node, as the CCE VPC network gives (inferred; %s read)", strings.Join(with, ", "), n.total)
	case len(with) > 0:
		c.none(FactNetworkModel, SignalNodePodCIDR, "nodes %s have a pod CIDR block, nodes %s have none: neither the VPC nor the tunnel pattern", strings.Join(with, ", "), strings.Join(without, ", "))
	case t.yes:
		c.none(FactNetworkModel, SignalNodePodCIDR, "nodes %s: no spec.podCIDR, as in CCE Turbo (pods take ENI addresses from the VPC subnet) and the tunnel network alike", strings.Join(without, ", "))
	case t.excluded:
		c.add(FactNetworkModel, planapi.NetworkTunnel, planapi.ConfidenceLow, SignalNodePodCIDR,
			"nodes %s: no spec.podCIDR (the tunnel network hands out /28 blocks, not one per node) and no CCE Turbo sign (inferred; %s read)", strings.Join(without, ", "), n.total)
	default:
		c.none(FactNetworkModel, SignalNodePodCIDR, "nodes %s: no spec.podCIDR, which fits the tunnel network and CCE Turbo alike; the Turbo signals could not be read", strings.Join(without, ", "))
	}
}

func podCIDRs(n *corev1.Node) []string {
	if len(n.Spec.PodCIDRs) > 0 {
		return n.Spec.PodCIDRs
	}
	if n.Spec.PodCIDR != "" {
		return []string{n.Spec.PodCIDR}
	}
	return nil
}

// ---- flavor ----

// flavorClues: Turbo exists only on CCE, tunnel and VPC networks are CCE Standard's; CCE
// labels (or the CCE network API) say CCE, and which CCE follows from the network model; a
// Huawei Cloud providerID without CCE labels says the open-source cloud-provider-huaweicloud;
// nodes with neither say generic.
func flavorClues(c clues, n nodeSummary, t turbo, network string, netEv planapi.Evidence) {
	implied := ""
	switch network {
	case planapi.NetworkTurbo:
		implied = planapi.FlavorCCETurbo
	case planapi.NetworkTunnel, planapi.NetworkVPC:
		implied = planapi.FlavorCCEStandard
	}
	if implied != "" {
		c.add(FactFlavor, implied, netEv.Confidence, SignalNetworkModel, "network model %s (%s)", network, netEv.Source)
	}
	cce := func(signal, conf, source string) {
		if implied == "" {
			c.none(FactFlavor, signal, "%s: CCE, but Standard or Turbo follows from the network model, which is unknown", source)
			return
		}
		c.add(FactFlavor, implied, weaker(conf, netEv.Confidence), signal, "%s; network model %s", source, network)
	}
	if n.cceConfidence != "" {
		cce(SignalNodeLabels, n.cceConfidence, n.cceSource)
	}
	if t.cceConfidence != "" {
		cce(SignalYangtse, t.cceConfidence, t.cceSource)
	}
	if !n.read {
		return
	}
	switch {
	case n.cceConfidence != "":
	case n.ccmSource != "":
		c.add(FactFlavor, planapi.FlavorOpenSourceCCM, planapi.ConfidenceMedium, SignalNodeLabels, "%s", n.ccmSource)
	case len(n.nodes) == 0:
		c.none(FactFlavor, SignalNodeLabels, "no nodes, so no node labels to read")
	case t.cceConfidence == "" && !t.yes:
		c.add(FactFlavor, planapi.FlavorGeneric, planapi.ConfidenceLow, SignalNodeLabels, "nodes %s (%s read): no CCE labels, no Huawei Cloud providerID, no CCE network API", strings.Join(n.names, ", "), n.total)
	}
}

// ---- proxy mode ----

func proxyClues(c clues, r *reads) {
	if r.proxyCM != nil {
		switch err := r.proxyCM.err; {
		case err == nil:
			mode, key, perr := kubeProxyMode(r.proxyCM.obj)
			switch {
			case perr != nil:
				c.none(FactProxyMode, SignalProxyConfigMap, "ConfigMap %s: %v", kubeProxyCMName, perr)
			case mode == "":
				c.add(FactProxyMode, planapi.ProxyIPTables, planapi.ConfidenceLow, SignalProxyConfigMap, "ConfigMap %s: %s leaves mode empty: kube-proxy's default on Linux, iptables", kubeProxyCMName, key)
			case isProxyMode(mode):
				c.add(FactProxyMode, mode, planapi.ConfidenceMedium, SignalProxyConfigMap, "ConfigMap %s: %s sets mode: %s (the configuration; the running kube-proxy may predate it)", kubeProxyCMName, key, mode)
			default:
				c.none(FactProxyMode, SignalProxyConfigMap, "ConfigMap %s: %s sets mode: %s, not a Linux proxy mode", kubeProxyCMName, key, mode)
			}
		case apierrors.IsNotFound(err):
			c.none(FactProxyMode, SignalProxyConfigMap, "ConfigMap %s: not found (normal on CCE, where kube-proxy runs as a systemd service; kubeadm clusters have it)", kubeProxyCMName)
		default:
			c.none(FactProxyMode, SignalProxyConfigMap, "ConfigMap %s: %s", kubeProxyCMName, notReadable(err))
		}
	}
	if r.probeSkipped != "" {
		c.none(FactProxyMode, SignalProxyMode, "kube-proxy's /proxyMode (GET %s/NODE:%d/proxy/proxyMode): not asked, %s", pathNodes, KubeProxyMetricsPort, r.probeSkipped)
	}
	for _, p := range r.probes {
		mode := strings.TrimSpace(p.body)
		switch {
		case p.err != nil:
			c.none(FactProxyMode, SignalProxyMode, "GET %s: %s", p.path, probeFailure(p))
		case isProxyMode(mode):
			c.add(FactProxyMode, mode, planapi.ConfidenceHigh, SignalProxyMode, "GET %s: kube-proxy on node %s answers %s", p.path, p.node, mode)
		default:
			c.none(FactProxyMode, SignalProxyMode, "GET %s: answered %q, not a proxy mode", p.path, truncate(mode, 60))
		}
	}
}

func isProxyMode(m string) bool {
	return m == planapi.ProxyIPTables || m == planapi.ProxyIPVS || m == planapi.ProxyNFTables
}

// probeFailure says why a node's kube-proxy did not answer.
func probeFailure(p probe) string {
	var st apierrors.APIStatus
	switch {
	case errors.As(p.err, &st):
		code := int(st.Status().Code)
		msg, upstream := statusMessage(st.Status())
		hint := fmt.Sprintf(" (kube-proxy's metrics port %d is bound to 127.0.0.1 by default, or security groups block it)", KubeProxyMetricsPort)
		switch {
		case !upstream && code == http.StatusForbidden:
			return "not readable: forbidden (asking kube-proxy through the API server needs get on nodes/proxy)"
		case upstream:
			return fmt.Sprintf("not readable: the node's address answered %d %s: %s", code, http.StatusText(code), truncate(oneLine(msg), 160))
		}
		return fmt.Sprintf("not readable: the API server's node proxy answered %d %s: %s%s", code, http.StatusText(code), truncate(oneLine(msg), 160), hint)
	case isTimeout(p.err):
		return fmt.Sprintf("not readable: no answer within %s", p.timeout)
	}
	return "not readable: " + truncate(oneLine(p.err.Error()), 160)
}

// statusMessage returns a Status's message, and whether it is the raw body of a response that
// was not a Status, i.e. (through the node proxy) an answer from the node's side rather than
// from the API server.
func statusMessage(st metav1.Status) (string, bool) {
	if d := st.Details; d != nil {
		for _, c := range d.Causes {
			if c.Type == metav1.CauseTypeUnexpectedServerResponse && c.Message != "" && c.Message != "unknown" {
				return c.Message, true
			}
		}
	}
	return st.Message, false
}

// notReadable says why a signal could not be read.
func notReadable(err error) string {
	var st apierrors.APIStatus
	switch {
	case apierrors.IsForbidden(err):
		return "not readable: forbidden"
	case apierrors.IsNotFound(err):
		return "not found"
	case errors.As(err, &st):
		code := int(st.Status().Code)
		msg, _ := statusMessage(st.Status())
		return fmt.Sprintf("not readable: %d %s: %s", code, http.StatusText(code), truncate(oneLine(msg), 160))
	case isTimeout(err):
		return "not readable: timed out"
	}
	return "not readable: " + truncate(oneLine(err.Error()), 160)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none found)"
	}
	return strings.Join(s, ", ")
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
