package plan

import "github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"

// The Plan document's types and vocabulary live in pkg/planapi (so that detection depends on
// them alone); these names keep the decision's code and its callers as they were.
type (
	Plan        = planapi.Plan
	Cluster     = planapi.Cluster
	Evidence    = planapi.Evidence
	Conflict    = planapi.Conflict
	ServicePlan = planapi.ServicePlan
	NoFix       = planapi.NoFix
	Note        = planapi.Note
	Finding     = planapi.Finding
	Cell        = planapi.Cell
	Fix         = planapi.Fix
	AlsoPatch   = planapi.AlsoPatch
)

// The document's values (pkg/planapi).
const (
	APIVersion               = planapi.APIVersion
	Kind                     = planapi.Kind
	Unknown                  = planapi.Unknown
	NetworkTurbo             = planapi.NetworkTurbo
	NetworkTunnel            = planapi.NetworkTunnel
	NetworkVPC               = planapi.NetworkVPC
	ProxyIPTables            = planapi.ProxyIPTables
	ProxyIPVS                = planapi.ProxyIPVS
	ProxyNFTables            = planapi.ProxyNFTables
	FlavorCCETurbo           = planapi.FlavorCCETurbo
	FlavorCCEStandard        = planapi.FlavorCCEStandard
	FlavorOpenSourceCCM      = planapi.FlavorOpenSourceCCM
	FlavorGeneric            = planapi.FlavorGeneric
	IPModeAvailable          = planapi.IPModeAvailable
	IPModeAlpha              = planapi.IPModeAlpha
	IPModeUnavailable        = planapi.IPModeUnavailable
	ConfidenceOverride       = planapi.ConfidenceOverride
	ConfidenceHigh           = planapi.ConfidenceHigh
	ConfidenceMedium         = planapi.ConfidenceMedium
	ConfidenceLow            = planapi.ConfidenceLow
	ConfidenceNone           = planapi.ConfidenceNone
	StrategyAuto             = planapi.StrategyAuto
	StrategyPassThrough      = planapi.StrategyPassThrough
	StrategyCluster          = planapi.StrategyCluster
	SeverityInfo             = planapi.SeverityInfo
	SeverityWarning          = planapi.SeverityWarning
	SeverityError            = planapi.SeverityError
	SourceDoc                = planapi.SourceDoc
	SourceUpstream           = planapi.SourceUpstream
	SourceInferred           = planapi.SourceInferred
	SourceEvidence           = planapi.SourceEvidence
	SignalCloud              = planapi.SignalCloud
	CellVendor               = planapi.CellVendor
	CellDerived              = planapi.CellDerived
	HostSameNode             = planapi.HostSameNode
	HostOtherNode            = planapi.HostOtherNode
	PodSameNode              = planapi.PodSameNode
	PodOtherNode             = planapi.PodOtherNode
	TargetELBIP              = planapi.TargetELBIP
	TargetELBPrivateIP       = planapi.TargetELBPrivateIP
	TargetELBPublicIP        = planapi.TargetELBPublicIP
	TargetNodePortServerNode = planapi.TargetNodePortServerNode
	TargetNodePortOtherNode  = planapi.TargetNodePortOtherNode
	TargetDNATIP             = planapi.TargetDNATIP
)

// SeverityRank and MaxSeverity order severities (pkg/planapi).
var (
	SeverityRank = planapi.SeverityRank
	MaxSeverity  = planapi.MaxSeverity
)
