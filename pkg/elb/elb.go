// Package elb reads the CCE ELB annotations of a Service (docs/domain.md §4) and the addresses in its
// load-balancer status. Parsing never panics: anything that does not parse is a Problem, with the
// parser's own message, and the rest is still read.
package elb

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Annotation keys (CCE-managed dialect unless said otherwise).
const (
	Prefix = "kubernetes.io/elb."

	AnnClass               = "kubernetes.io/elb.class"
	AnnID                  = "kubernetes.io/elb.id"
	AnnAutocreate          = "kubernetes.io/elb.autocreate"
	AnnPassThrough         = "kubernetes.io/elb.pass-through"
	AnnHealthCheckFlag     = "kubernetes.io/elb.health-check-flag"
	AnnHealthCheckOption   = "kubernetes.io/elb.health-check-option"
	AnnHealthCheckOptions  = "kubernetes.io/elb.health-check-options"
	AnnTransparentClientIP = "kubernetes.io/elb.transparent-client-ip"
	AnnHostNetwork         = "kubernetes.io/hws-hostNetwork"
)

// Values of kubernetes.io/elb.class.
const (
	ClassUnion       = "union"       // CCE shared ELB (the default)
	ClassPerformance = "performance" // CCE dedicated ELB (v1.17+)
	ClassDNAT        = "dnat"        // CCE DNAT gateway
	ClassShared      = "shared"      // open-source cloud-provider-huaweicloud
	ClassDedicated   = "dedicated"   // open-source cloud-provider-huaweicloud
)

// Dialects.
const (
	DialectNone          = ""
	DialectCCE           = "cce"
	DialectOpenSourceCCM = "opensource-ccm"
)

// Pass-through values CCE writes or documents.
const (
	PassThroughTrue      = "true"
	PassThroughOnlyLocal = "onlyLocal"
)

// Info is what the annotations say about a Service's ELB.
type Info struct {
	// Class is the raw kubernetes.io/elb.class value ("" when absent).
	Class string
	// Dialect is "cce", "opensource-ccm", or "" when the Service has no ELB annotations at all.
	Dialect string
	// Dedicated is true for a dedicated ELB: class performance, an autocreate with dedicated-only
	// fields (available_zone, l4_flavor_name), or the open-source class dedicated.
	Dedicated bool
	// DNAT is true for class dnat.
	DNAT bool
	// ID is kubernetes.io/elb.id.
	ID string
	// PassThrough is the raw kubernetes.io/elb.pass-through value; PassThroughOn is true for
	// "true" or "onlyLocal" (case-insensitive).
	PassThrough   string
	PassThroughOn bool
	// TransparentClientIP is kubernetes.io/elb.transparent-client-ip = true (a shared ELB that
	// keeps the client's address: the same hairpin risk as a dedicated ELB).
	TransparentClientIP bool
	// HostNetwork is kubernetes.io/hws-hostNetwork; nil when absent or invalid.
	HostNetwork *bool
	// Autocreate is the parsed kubernetes.io/elb.autocreate; nil when absent or invalid.
	Autocreate *Autocreate
	// HealthCheckFlag is kubernetes.io/elb.health-check-flag ("on", "off" or "").
	HealthCheckFlag string
	// HealthCheckOption is the parsed kubernetes.io/elb.health-check-option; nil when absent.
	HealthCheckOption *HealthCheck
	// HealthCheckOptions is the parsed kubernetes.io/elb.health-check-options.
	HealthCheckOptions []HealthCheck
}

// Shared reports whether the ELB is a shared one (any dialect, not DNAT, not dedicated).
func (i Info) Shared() bool { return i.Dialect != DialectNone && !i.Dedicated && !i.DNAT }

// PreservesClientIP reports whether the ELB hands the client's own address to the backend: a
// dedicated ELB, or a shared one with transparent-client-ip. Such an ELB hairpins
// (docs/domain.md §1).
func (i Info) PreservesClientIP() bool { return i.Dedicated || i.TransparentClientIP }

// Autocreate is kubernetes.io/elb.autocreate. Unknown fields are ignored.
type Autocreate struct {
	Type                string     `json:"type,omitempty"` // public | inner
	Name                string     `json:"name,omitempty"`
	BandwidthName       string     `json:"bandwidth_name,omitempty"`
	BandwidthChargeMode string     `json:"bandwidth_chargemode,omitempty"`
	BandwidthSize       FlexString `json:"bandwidth_size,omitempty"`
	BandwidthShareType  string     `json:"bandwidth_sharetype,omitempty"`
	EIPType             string     `json:"eip_type,omitempty"`
	// AvailableZone is a JSON array in CCE's documentation; a single string is accepted too.
	AvailableZone   StringList `json:"available_zone,omitempty"`
	L4FlavorName    string     `json:"l4_flavor_name,omitempty"`
	L7FlavorName    string     `json:"l7_flavor_name,omitempty"`
	ELBVirSubnetIDs StringList `json:"elb_virsubnet_ids,omitempty"`
	VIPSubnetCIDRID string     `json:"vip_subnet_cidr_id,omitempty"`
}

// DedicatedOnly reports whether the autocreate has fields only a dedicated ELB takes.
func (a *Autocreate) DedicatedOnly() bool {
	return a != nil && (len(a.AvailableZone) > 0 || a.L4FlavorName != "")
}

// HealthCheck is one entry of kubernetes.io/elb.health-check-option(s). CCE documents the numbers
// as strings ("5"); plain JSON numbers are accepted too.
type HealthCheck struct {
	Protocol   string     `json:"protocol,omitempty"`
	Delay      FlexString `json:"delay,omitempty"`
	Timeout    FlexString `json:"timeout,omitempty"`
	MaxRetries FlexString `json:"max_retries,omitempty"`
	Path       string     `json:"path,omitempty"`
	// TargetServicePort is "PROTOCOL:PORT" (e.g. "TCP:80"), options only.
	TargetServicePort FlexString `json:"target_service_port,omitempty"`
	MonitorPort       FlexString `json:"monitor_port,omitempty"`
}

// Ranges the ELB API accepts for the numbers of a health check: delay and timeout in seconds,
// max_retries a count. A value outside them parses (it is not a Parse Problem) but cannot work.
const (
	HealthDelayMin, HealthDelayMax           = 1, 50
	HealthTimeoutMin, HealthTimeoutMax       = 1, 50
	HealthMaxRetriesMin, HealthMaxRetriesMax = 1, 10
)

// OutOfRange lists the numbers of h that are whole numbers outside the range the ELB accepts,
// each as `"delay" 0 (want 1–50)`. Numbers that are not whole numbers are Parse Problems and are
// left out here, so nothing is reported twice.
func (h HealthCheck) OutOfRange() []string {
	var out []string
	for _, f := range []struct {
		name     string
		v        FlexString
		min, max int
	}{
		{"delay", h.Delay, HealthDelayMin, HealthDelayMax},
		{"timeout", h.Timeout, HealthTimeoutMin, HealthTimeoutMax},
		{"max_retries", h.MaxRetries, HealthMaxRetriesMin, HealthMaxRetriesMax},
	} {
		if f.v == "" {
			continue
		}
		n, err := strconv.Atoi(string(f.v))
		if err != nil || (n >= f.min && n <= f.max) {
			continue
		}
		out = append(out, fmt.Sprintf("%q %d (want %d\u2013%d)", f.name, n, f.min, f.max))
	}
	return out
}

// TargetPort splits TargetServicePort into protocol and port; ok is false when it is malformed.
func (h HealthCheck) TargetPort() (protocol string, port int32, ok bool) {
	s := string(h.TargetServicePort)
	proto, num, found := strings.Cut(s, ":")
	if !found {
		return "", 0, false
	}
	n, err := strconv.ParseInt(num, 10, 32)
	if err != nil || n <= 0 || n > 65535 {
		return "", 0, false
	}
	return strings.ToUpper(proto), int32(n), true
}

// FlexString is a JSON string that also accepts a number (kept in its JSON text).
type FlexString string

// UnmarshalJSON accepts a string or a number.
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", truncate(string(b), 40))
	}
	*f = FlexString(n.String())
	return nil
}

// StringList is a JSON array of strings that also accepts a single string.
type StringList []string

// UnmarshalJSON accepts ["a","b"] or "a".
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if s == "" {
			*l = nil
		} else {
			*l = StringList{s}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a list of strings or a string, got %s", truncate(string(b), 40))
	}
	*l = list
	return nil
}

// Problem is an annotation that does not parse.
type Problem struct {
	Annotation string `json:"annotation"`
	Message    string `json:"message"`
}

func (p Problem) String() string { return p.Annotation + ": " + p.Message }

// Parse reads the ELB annotations of svc. It never panics; every value that does not parse is a
// Problem (sorted by annotation) and the field stays at its zero value.
func Parse(svc *corev1.Service) (Info, []Problem) {
	if svc == nil {
		return Info{}, nil
	}
	return ParseAnnotations(svc.Annotations)
}

// ParseAnnotations is Parse on an annotation map.
func ParseAnnotations(ann map[string]string) (Info, []Problem) {
	var info Info
	var probs []Problem
	bad := func(key, format string, args ...any) {
		probs = append(probs, Problem{Annotation: key, Message: fmt.Sprintf(format, args...)})
	}

	hasELB := false
	for k := range ann {
		if strings.HasPrefix(k, Prefix) || k == AnnHostNetwork {
			hasELB = true
			break
		}
	}

	info.Class = ann[AnnClass]
	switch strings.TrimSpace(info.Class) {
	case ClassUnion:
		info.Dialect = DialectCCE
	case ClassPerformance:
		info.Dialect, info.Dedicated = DialectCCE, true
	case ClassDNAT:
		info.Dialect, info.DNAT = DialectCCE, true
	case ClassShared:
		info.Dialect = DialectOpenSourceCCM
	case ClassDedicated:
		info.Dialect, info.Dedicated = DialectOpenSourceCCM, true
	case "":
		if _, set := ann[AnnClass]; set {
			bad(AnnClass, "empty value; want union, performance or dnat")
		}
		if hasELB {
			// CCE's default class is union: any CCE-only annotation without a class is CCE.
			info.Dialect = DialectCCE
		}
	default:
		info.Dialect = DialectCCE
		bad(AnnClass, "unknown ELB class %q; want union (shared), performance (dedicated) or dnat (CCE), or shared/dedicated (open-source cloud-provider-huaweicloud)", truncate(info.Class, 60))
	}

	info.ID = ann[AnnID]

	if raw, ok := ann[AnnPassThrough]; ok {
		info.PassThrough = raw
		switch v := strings.TrimSpace(raw); {
		case strings.EqualFold(v, PassThroughTrue), strings.EqualFold(v, PassThroughOnlyLocal):
			info.PassThroughOn = true
		case strings.EqualFold(v, "false"), v == "":
		default:
			bad(AnnPassThrough, "invalid value %q; want \"true\" (or \"onlyLocal\", which CCE sets itself) or \"false\"", truncate(raw, 60))
		}
	}

	if raw, ok := ann[AnnTransparentClientIP]; ok {
		if b, err := parseBool(raw); err != nil {
			bad(AnnTransparentClientIP, "%v", err)
		} else {
			info.TransparentClientIP = b
		}
	}
	if raw, ok := ann[AnnHostNetwork]; ok {
		if b, err := parseBool(raw); err != nil {
			bad(AnnHostNetwork, "%v", err)
		} else {
			info.HostNetwork = &b
		}
	}

	if raw, ok := ann[AnnAutocreate]; ok {
		var a Autocreate
		if err := json.Unmarshal([]byte(raw), &a); err != nil {
			bad(AnnAutocreate, "invalid JSON: %v", err)
		} else {
			info.Autocreate = &a
			switch a.Type {
			case "public", "inner":
			case "":
				bad(AnnAutocreate, "missing \"type\"; want public or inner")
			default:
				bad(AnnAutocreate, "invalid \"type\" %q; want public or inner", truncate(a.Type, 40))
			}
			if a.DedicatedOnly() && info.Dialect == DialectCCE && !info.DNAT && info.Class == "" {
				info.Dedicated = true
			}
			if a.BandwidthSize != "" {
				if _, err := strconv.Atoi(string(a.BandwidthSize)); err != nil {
					bad(AnnAutocreate, "invalid \"bandwidth_size\" %q; want a whole number of Mbit/s", truncate(string(a.BandwidthSize), 40))
				}
			}
		}
	}

	if raw, ok := ann[AnnHealthCheckFlag]; ok {
		switch v := strings.TrimSpace(raw); v {
		case "on", "off":
			info.HealthCheckFlag = v
		default:
			bad(AnnHealthCheckFlag, "invalid value %q; want on or off", truncate(raw, 60))
		}
	}
	if raw, ok := ann[AnnHealthCheckOption]; ok {
		var h HealthCheck
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			bad(AnnHealthCheckOption, "invalid JSON: %v", err)
		} else {
			info.HealthCheckOption = &h
			checkHealth(AnnHealthCheckOption, h, false, bad)
		}
	}
	if raw, ok := ann[AnnHealthCheckOptions]; ok {
		list, err := parseHealthList(raw)
		if err != nil {
			bad(AnnHealthCheckOptions, "invalid JSON: %v", err)
		} else {
			info.HealthCheckOptions = list
			seen := map[string]bool{}
			for i, h := range list {
				checkHealth(fmt.Sprintf("%s[%d]", AnnHealthCheckOptions, i), h, true, bad)
				if t := string(h.TargetServicePort); t != "" {
					if seen[t] {
						bad(AnnHealthCheckOptions, "target_service_port %q appears twice; it must be unique", truncate(t, 40))
					}
					seen[t] = true
				}
			}
		}
	}
	// Both health check annotations at once parse fine: that they can't work together is a
	// health check finding of the decision (pkg/plan), not a parse problem.

	sort.SliceStable(probs, func(i, j int) bool { return probs[i].Annotation < probs[j].Annotation })
	return info, probs
}

// parseHealthList accepts a JSON array of checks, or a single object (seen in some editions of
// the vendor page).
func parseHealthList(raw string) ([]HealthCheck, error) {
	trimmed := strings.TrimSpace(raw)
	if strings.HasPrefix(trimmed, "{") {
		var h HealthCheck
		if err := json.Unmarshal([]byte(raw), &h); err != nil {
			return nil, err
		}
		return []HealthCheck{h}, nil
	}
	var list []HealthCheck
	if err := json.Unmarshal([]byte(raw), &list); err != nil {
		return nil, err
	}
	return list, nil
}

func checkHealth(key string, h HealthCheck, perPort bool, bad func(string, string, ...any)) {
	switch strings.ToUpper(h.Protocol) {
	case "", "TCP", "UDP", "HTTP", "HTTPS", "GRPC":
	default:
		bad(key, "unknown health check protocol %q; want TCP, UDP or HTTP", truncate(h.Protocol, 40))
	}
	for _, f := range []struct {
		name string
		v    FlexString
	}{{"delay", h.Delay}, {"timeout", h.Timeout}, {"max_retries", h.MaxRetries}} {
		name, v := f.name, f.v
		if v == "" {
			continue
		}
		if _, err := strconv.Atoi(string(v)); err != nil {
			bad(key, "invalid %q %q; want a whole number", name, truncate(string(v), 40))
		}
	}
	if h.MonitorPort != "" {
		if n, err := strconv.Atoi(string(h.MonitorPort)); err != nil || n <= 0 || n > 65535 {
			bad(key, "invalid \"monitor_port\" %q; want a port number", truncate(string(h.MonitorPort), 40))
		}
	}
	if perPort {
		if h.TargetServicePort == "" {
			bad(key, "missing \"target_service_port\" (mandatory, e.g. \"TCP:80\")")
		} else if _, _, ok := h.TargetPort(); !ok {
			bad(key, "invalid \"target_service_port\" %q; want PROTOCOL:PORT, e.g. \"TCP:80\"", truncate(string(h.TargetServicePort), 40))
		}
	}
}

func parseBool(raw string) (bool, error) {
	switch v := strings.TrimSpace(raw); {
	case strings.EqualFold(v, "true"):
		return true, nil
	case strings.EqualFold(v, "false"):
		return false, nil
	}
	return false, fmt.Errorf("invalid value %q; want \"true\" or \"false\"", truncate(raw, 60))
}

// truncate keeps messages about hostile values short.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
