// Package planapi holds the Plan document (the stable JSON/YAML output shared by svc and scan,
// docs/contract.md) and the vocabulary of its values: cluster facts, confidences, strategies,
// severities, clients, targets and sources. It has no logic beyond severity ordering, so that
// detection (pkg/detect) depends on the document's types only; pkg/plan fills the document
// (the decision) and re-exports these names.
package planapi

import "encoding/json"

// APIVersion and Kind of the Plan document.
const (
	APIVersion = "elbfix/v1alpha1"
	Kind       = "Plan"
)

// Values of the cluster facts. "unknown" means detection could not tell and no override was given;
// the decision then evaluates every possibility.
const (
	Unknown = "unknown"

	NetworkTurbo  = "turbo"
	NetworkTunnel = "tunnel"
	NetworkVPC    = "vpc"

	ProxyIPTables = "iptables"
	ProxyIPVS     = "ipvs"
	ProxyNFTables = "nftables"

	// Flavors: which kind of cluster (Cluster.Flavor).
	FlavorCCETurbo      = "cce-turbo"
	FlavorCCEStandard   = "cce-standard"
	FlavorOpenSourceCCM = "opensource-ccm"
	FlavorGeneric       = "generic"

	// Whether the server has status.loadBalancer.ingress[].ipMode (KEP-1860; Cluster.IPMode).
	IPModeAvailable   = "available"   // v1.30 and later: on by default (beta 1.30, GA 1.32)
	IPModeAlpha       = "alpha"       // v1.29: only with the LoadBalancerIPMode feature gate
	IPModeUnavailable = "unavailable" // before v1.29
)

// Confidence of a piece of evidence, strongest first. "none" marks a signal that was tried but
// tells nothing (not readable, absent, or not applicable); its source says why.
const (
	ConfidenceOverride = "override"
	ConfidenceHigh     = "high"
	ConfidenceMedium   = "medium"
	ConfidenceLow      = "low"
	ConfidenceNone     = "none"
)

// SignalCloud is the Evidence.Signal of what the cloud's own cluster API told (--cloud); the
// Source of such evidence starts with it too.
const SignalCloud = "cce-api"

// Strategies (--strategy).
const (
	StrategyAuto        = "auto"
	StrategyPassThrough = "pass-through"
	StrategyCluster     = "cluster"
)

// Severities, lowest first.
const (
	SeverityInfo    = "info"
	SeverityWarning = "warning"
	SeverityError   = "error"
)

// Plan is the document printed by -o json|yaml.
type Plan struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Cluster    Cluster       `json:"cluster"`
	Services   []ServicePlan `json:"services"`
}

// Cluster is the set of facts the verdicts stand on, with the evidence behind each.
type Cluster struct {
	Flavor       string     `json:"flavor,omitempty"`
	NetworkModel string     `json:"networkModel"`
	ProxyMode    string     `json:"proxyMode"`
	Version      string     `json:"version"`
	IPMode       string     `json:"ipMode,omitempty"`
	Evidence     []Evidence `json:"evidence"`
	// Conflicts lists the facts on which signals disagree, and what was kept.
	Conflicts []Conflict `json:"conflicts,omitempty"`
}

// Evidence is one signal behind a fact: what was read where (Source), what it implies (Value,
// "unknown" when it implies nothing) and how strongly (Confidence).
type Evidence struct {
	Fact       string `json:"fact"`
	Value      string `json:"value"`
	Source     string `json:"source"`
	Confidence string `json:"confidence"`
	// Signal names the kind of signal (e.g. "node-labels", "kube-proxy-proxymode", "override").
	Signal string `json:"signal,omitempty"`
}

// Conflict is a fact on which signals disagree.
type Conflict struct {
	Fact string `json:"fact"`
	// Values are the values the signals imply, the kept one (if any) first.
	Values []string `json:"values"`
	// Resolution says what was kept and why ("unknown" when equally strong signals disagree).
	Resolution string `json:"resolution"`
}

// ServicePlan is the verdict and fix for one Service.
type ServicePlan struct {
	Namespace             string `json:"namespace"`
	Name                  string `json:"name"`
	Type                  string `json:"type"`
	ExternalTrafficPolicy string `json:"externalTrafficPolicy"`
	ELBClass              string `json:"elbClass"`
	ELBID                 string `json:"elbID"`
	PassThrough           string `json:"passThrough"`
	// Ports are the Service's ports (what in-cluster clients call, with the address or the DNS
	// name).
	Ports    []int32   `json:"ports,omitempty"`
	Findings []Finding `json:"findings"`
	Fix      *Fix      `json:"fix"`
	// NoFix is set when an error finding holds that no patch is known to clear: which findings,
	// why, and what to do instead (the Service's DNS name and ports).
	NoFix *NoFix `json:"noFix,omitempty"`
	// Notes are facts about the verdict that are not findings: what it assumes (offline, CCE may
	// set pass-through onlyLocal itself) and what could not be checked.
	Notes   []Note `json:"notes,omitempty"`
	Changed bool   `json:"changed"`
	Applied bool   `json:"applied"`
}

// NoFix says that no patch is known to clear some error findings, and what to do instead.
type NoFix struct {
	// Findings are the ids no patch clears.
	Findings []string `json:"findings"`
	// Reason says why neither strategy helps.
	Reason string `json:"reason"`
	// Remedy is the no-patch remedy in words.
	Remedy string `json:"remedy"`
	// Addresses are what in-cluster clients should call instead: NAME.NAMESPACE.svc:PORT.
	Addresses []string `json:"addresses"`
}

// Note is a statement about a verdict with where it comes from.
type Note struct {
	Message string `json:"message"`
	// Source is doc (a vendor document), upstream, inferred, or evidence (what this run could
	// or could not read).
	Source string `json:"source"`
}

// Sources of a Note or a claim.
const (
	SourceDoc      = "doc"
	SourceUpstream = "upstream"
	SourceInferred = "inferred"
	SourceEvidence = "evidence"
)

// Sources of a Cell.
const (
	// CellVendor: the cell is a row of the vendor's table (Edition names the table's edition).
	CellVendor = "vendor"
	// CellDerived: the vendor's table has no row for this Service; the cell follows Rule.
	CellDerived = "derived"
)

// Finding is one stable finding id (docs/contract.md "Finding ids") about one Service.
type Finding struct {
	ID          string `json:"id"`
	Severity    string `json:"severity"`
	Message     string `json:"message"`
	Unreachable []Cell `json:"unreachable,omitempty"`
	// Ignored holds the reason when the finding is ignored (annotation elbfix.io/ignore or
	// --ignore); an ignored finding is reported but sets no exit code.
	Ignored string `json:"ignored,omitempty"`
}

// Cell is one failing (client location, target address) pair of the access matrix.
type Cell struct {
	Client string `json:"client"`
	Target string `json:"target"`
	// Source is "vendor" (a cell of the vendor's table) or "derived" (the table has no row for
	// this Service; Rule says how the cell was derived).
	Source string `json:"source"`
	// Edition is the vendor table's edition (vendor cells).
	Edition string `json:"edition,omitempty"`
	// Rule is the key of the rule a derived cell follows (pkg/matrix matrix.yaml `rules`).
	Rule string `json:"rule,omitempty"`
	// Address is the address the target stands for, when the Service's status has it (the ELB's
	// or the DNAT address, several joined by ", ").
	Address string `json:"address,omitempty"`
	// Row names the vendor table row the cell was read from, in the vendor's words.
	Row string `json:"row,omitempty"`
	// When lists the matrix columns (e.g. "tunnel+ipvs") in which the cell fails, when that is not
	// every column still possible under the known facts; empty means it fails in all of them.
	When []string `json:"when,omitempty"`
}

// Client locations.
const (
	HostSameNode  = "host-same-node"
	HostOtherNode = "host-other-node"
	PodSameNode   = "pod-same-node"
	PodOtherNode  = "pod-other-node"
)

// Targets.
const (
	TargetELBIP              = "elb-ip"
	TargetELBPrivateIP       = "elb-private-ip"
	TargetELBPublicIP        = "elb-public-ip"
	TargetNodePortServerNode = "nodeport-server-node"
	TargetNodePortOtherNode  = "nodeport-other-node"
	TargetDNATIP             = "dnat-ip"
)

// Fix is the change the plan proposes for one Service.
type Fix struct {
	Strategy  string          `json:"strategy"`
	Reason    string          `json:"reason"`
	PatchType string          `json:"patchType"`
	Patch     json.RawMessage `json:"patch"`
	AlsoPatch []AlsoPatch     `json:"alsoPatch,omitempty"`
	Residual  []Finding       `json:"residual"`
	// Costs are the side effects of the change (lost client source IP, stale conntrack entries).
	Costs []string `json:"costs,omitempty"`
}

// AlsoPatch is a patch that must go with the fix to another Service (IPVS shared ELB).
type AlsoPatch struct {
	Namespace string          `json:"namespace"`
	Name      string          `json:"name"`
	Patch     json.RawMessage `json:"patch"`
}
