package plan

// Finding ids (docs/contract.md "Finding ids"; stable).
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
	FindingELBMembersUnhealthy             = "elb-members-unhealthy"
	FindingELBHealthCheckPortMismatch      = "elb-healthcheck-port-mismatch"
	FindingELBMemberQuotaNear              = "elb-member-quota-near"
)

// IgnoreAnnotation lets a Service's owner silence findings with a reason:
// elbfix.io/ignore: "<finding-id>[,<finding-id>...]: <reason>" (svc and scan read it, and the
// admission policies honour it).
const IgnoreAnnotation = "elbfix.io/ignore"

// CatalogEntry describes one finding id once: its id, its severity as documented (a rule when
// it varies), when it fires, the remedy, and whether a fix answers it (FixFor). The rule that
// raises it is a method of facts in decide.go, called from evaluate.
type CatalogEntry struct {
	ID, Severity, When, Remedy string
	// FixFor says whether a fix is proposed for the finding: FixAlways, FixOnNodePort, or ""
	// (reported only; it may still be cleared by a fix for another finding).
	FixFor string
	// NotInPolicy says why the admission policies of `policy` cannot check the finding on one
	// object (printed in their notes); "" when they do, with a rule in pkg/policy.
	NotInPolicy string
}

// Values of CatalogEntry.FixFor.
const (
	FixAlways = "always"
	// FixOnNodePort: only on a NodePort Service; on a LoadBalancer Service the finding is
	// inherent to Local and left as a residual.
	FixOnNodePort = "nodeport"
)

// Catalog lists every finding id in the contract's order (docs/contract.md "Finding ids"); the
// ids are exactly the Finding* constants.
// The README's finding table holds the same rows, cell for cell (catalog_test.go checks it).
// The text is plain (no Markdown) so that it can be printed as it is.
var Catalog = []CatalogEntry{
	{ID: FindingInClusterELBShortcut, Severity: SeverityError,
		When:   "Local policy with pass-through off: kube-proxy short-cuts the ELB address and some in-cluster clients fail (vendor table, derived for LoadBalancer Services)",
		Remedy: "use the ClusterIP or the DNS name NAME.NAMESPACE.svc inside the cluster; or pass-through (auto picks it when allowed); or externalTrafficPolicy: Cluster",
		FixFor: FixAlways},
	{ID: FindingNodePortLocalUnreachable, Severity: SeverityWarning,
		When:   "Local policy on a Service with NodePorts: from inside the cluster, the NodePort of a node without a backend fails for most clients, and in the VPC network model so does a backend node's NodePort for the other pods on that node",
		Remedy: "use the ClusterIP or the DNS name NAME.NAMESPACE.svc inside the cluster, or externalTrafficPolicy: Cluster",
		FixFor: FixOnNodePort},
	{ID: FindingDedicatedELBHairpin, Severity: SeverityError,
		When:   "CCE Standard: a dedicated ELB with Local policy (the vendor's row: clients on a backend's node fail to reach its private address), or with pass-through \"true\" and Cluster policy; a shared ELB keeping client IPs with pass-through on (both derived); pass-through does not help",
		Remedy: "externalTrafficPolicy: Cluster when pass-through ends up off (absent or onlyLocal); with pass-through \"true\" no patch is known to clear it: use the DNS name NAME.NAMESPACE.svc inside the cluster",
		FixFor: FixAlways},
	{ID: FindingDNATInClusterUnreachable, Severity: SeverityError,
		When:   "DNAT gateway Service with Local policy: no in-cluster client reaches the DNAT address",
		Remedy: "externalTrafficPolicy: Cluster, or the ClusterIP or DNS name NAME.NAMESPACE.svc inside the cluster",
		FixFor: FixAlways},
	{ID: FindingPassThroughUnsupportedVersion, Severity: "error (warning on v1.16\u2013v1.18)",
		When:        "pass-through set or wanted on a cluster older than v1.19 (not supported at all on v1.15 and older)",
		Remedy:      "upgrade the cluster to v1.19 or later, or do without pass-through: externalTrafficPolicy: Cluster (CCE's webhook may refuse removing an existing annotation)",
		NotInPolicy: "cannot happen where admission policies run (v1.28 and later; pass-through needs v1.19)"},
	{ID: FindingPassThroughInconsistentSharedLB, Severity: SeverityError,
		When:        "IPVS (or proxy mode unknown): Services on one elb.id disagree on pass-through",
		Remedy:      "set the same pass-through on every Service of the ELB (a pass-through fix sets \"true\" on all of them: alsoPatch)",
		FixFor:      FixAlways,
		NotInPolicy: "needs the other Services on the same kubernetes.io/elb.id; admission sees one object: run kubectl elbfix scan"},
	{ID: FindingTurboLocalNeedsHostNetwork, Severity: SeverityError,
		When:   "CCE Turbo, Local policy, backends not on hostNetwork (or not known to be)",
		Remedy: "externalTrafficPolicy: Cluster, or hostNetwork backends",
		FixFor: FixAlways},
	{ID: FindingAnnotationInvalid, Severity: SeverityError,
		When:   "a kubernetes.io/elb.* annotation does not parse, or an elbfix.io/ignore annotation has no reason or names an unknown finding id",
		Remedy: "fix the annotation's value (the message quotes the parser, or names what is missing or unknown)"},
	{ID: FindingDetectionIncomplete, Severity: SeverityInfo,
		When:        "network model or proxy mode unknown for a Local Service; the verdict covers every possibility",
		Remedy:      "pass --network-model / --proxy-mode",
		NotInPolicy: "is about detection, not the Service: the facts are fixed in the ConfigMap, and an unknown fact makes the rules cover every possibility"},
	{ID: FindingELBMemberQuotaExceeded, Severity: SeverityWarning,
		When:        "recent events with members_per_pool quota errors (ELB.8905), or a listener's pool at the default quota of 500 members now or after the fix",
		Remedy:      "correct the health check's protocol and port, and raise the members_per_pool quota",
		NotInPolicy: "needs the Service's Events and its member count (nodes, endpoints): run kubectl elbfix svc or scan"},
	{ID: FindingHealthCheckConfig, Severity: SeverityWarning,
		When:   "health check annotations that can't work (e.g. a UDP check on a TCP port, values out of the ELB's ranges) or are ignored (the check is off)",
		Remedy: "fix or remove the health check annotation"},
	{ID: FindingOpenSourceCCMDialect, Severity: SeverityInfo,
		When:   "elb.class: shared/dedicated (the open-source cloud-provider-huaweicloud dialect): pass-through does not exist there",
		Remedy: "only the policy fix applies (externalTrafficPolicy: Cluster), or the ClusterIP or DNS name NAME.NAMESPACE.svc inside the cluster"},
	{ID: FindingELBMembersUnhealthy, Severity: SeverityWarning,
		When:        "--cloud: the ELB API reports members of the Service's pools whose health check fails (operating_status OFFLINE), with the count",
		Remedy:      "check the health check's protocol and port and the backends on those members; the ELB sends them no traffic",
		NotInPolicy: "needs the ELB API (the pool's members and their health): run kubectl elbfix svc or scan with --cloud"},
	{ID: FindingELBHealthCheckPortMismatch, Severity: SeverityWarning,
		When:        "--cloud: the pool's health monitor probes a fixed port (monitor_port) that is none of the members' ports, the Service's ports, NodePorts, target ports or health-check NodePort",
		Remedy:      "point the health check at the port the backends serve (kubernetes.io/elb.health-check-option(s)), or remove the fixed port",
		NotInPolicy: "needs the ELB API (the health monitor actually configured): run kubectl elbfix svc or scan with --cloud"},
	{ID: FindingELBMemberQuotaNear, Severity: SeverityWarning,
		When:        "--cloud: a pool of the Service holds 80% or more of the project's members_per_pool quota as the ELB API counts it (at the quota, CCE's next member update fails with ELB.8905), before any Event says so",
		Remedy:      "raise the members_per_pool quota before the next change of the Service's backends; see elb-member-quota-exceeded",
		NotInPolicy: "needs the ELB API (the pool's members and the members_per_pool quota): run kubectl elbfix svc or scan with --cloud"},
}

// catalogByID indexes Catalog.
var catalogByID = func() map[string]CatalogEntry {
	m := make(map[string]CatalogEntry, len(Catalog))
	for _, e := range Catalog {
		m[e.ID] = e
	}
	return m
}()

// FindingIDs lists every finding id, in the contract's order (from Catalog).
var FindingIDs = func() []string {
	ids := make([]string, len(Catalog))
	for i, e := range Catalog {
		ids[i] = e.ID
	}
	return ids
}()
