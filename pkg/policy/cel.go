package policy

import (
	"fmt"
	"strings"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// The CEL below re-states, per Service, what pkg/elb (parsing) and pkg/plan (the decision) say
// about one object. Facts that depend on the access matrix come from the parameter ConfigMap
// (Params), computed by pkg/plan itself, so the matrix is not copied here.
//
// JSON annotations: CEL in Kubernetes has no JSON parser, so the JSON annotations are checked
// with regular expressions for a subset of JSON (README "Prevent it", Limits): an object whose
// member values are scalars or arrays of scalars (scalars only in a health check), keys without
// escapes; string values compared with escapes left as they are. Within that subset the checks
// are those of pkg/elb; JSON outside it (objects nested in these annotations, escaped keys) is
// reported as annotation-invalid by the policy although elbfix may accept it.

// JSON grammar pieces (RE2).
const (
	jWS     = `[ \t\n\r]*`
	jStr    = `"(?:[^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"`
	jNum    = `-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?`
	jScalar = `(?:` + jStr + `|` + jNum + `|true|false|null)`
	jArr    = `\[` + jWS + `(?:` + jScalar + `(?:` + jWS + `,` + jWS + jScalar + `)*)?` + jWS + `\]`
	jKey    = `"[^"\\\x00-\x1f]*"`
	jMember = jKey + jWS + `:` + jWS + `(?:` + jScalar + `|` + jArr + `)`
	jObj    = `\{` + jWS + `(?:` + jMember + `(?:` + jWS + `,` + jWS + jMember + `)*)?` + jWS + `\}`
	// Health checks hold scalars only: their shorter expressions keep the cost of a long list of
	// checks (strings' length times the expression's) within the API server's limits.
	jMemberS = jKey + jWS + `:` + jWS + jScalar
	jObjS    = `\{` + jWS + `(?:` + jMemberS + `(?:` + jWS + `,` + jWS + jMemberS + `)*)?` + jWS + `\}`
	// Whole annotation values.
	jObjDoc  = `^` + jWS + jObj + jWS + `$`
	jObjSDoc = `^` + jWS + jObjS + jWS + `$`
	jArrSDoc = `^` + jWS + `\[` + jWS + `(?:` + jObjS + `(?:` + jWS + `,` + jWS + jObjS + `)*)?` + jWS + `\]` + jWS + `$`
	// An array whose elements are strings or null (a StringList).
	jStrArr = `^\[` + jWS + `(?:(?:` + jStr + `|null)(?:` + jWS + `,` + jWS + `(?:` + jStr + `|null))*)?` + jWS + `\]$`
	// Whole numbers as strconv.Atoi takes them, inside a JSON string or as a JSON number (at most
	// 18 digits: CEL's int() must not overflow).
	jIntStr = `^"[+-]?[0-9]{1,18}"$`
	jIntNum = `^-?[0-9]{1,18}$`
)

// lit quotes s as a CEL raw string literal.
func lit(s string) string {
	if strings.Contains(s, "'''") {
		panic("policy: a CEL literal may not hold three single quotes: " + s)
	}
	if strings.Contains(s, "'") {
		return "r'''" + s + "'''"
	}
	return "r'" + s + "'"
}

// variable is one named CEL expression of a policy (spec.variables).
type variable struct{ name, expr string }

// annVal is the annotation's value, or ” when absent.
func annVal(key string) string {
	return fmt.Sprintf("('%s' in variables.ann ? variables.ann['%s'] : '')", key, key)
}

func annHas(key string) string { return fmt.Sprintf("('%s' in variables.ann)", key) }

// members splits a JSON object (text in variable v, known to be in the subset) into its members,
// each {'k': lower-case key, 'v': the value's JSON text}.
func members(v, member string) string {
	return fmt.Sprintf(`%s.findAll(%s).map(m, {'k': m.substring(1, m.indexOf('"', 1)).lowerAscii(), 'v': m.substring(m.indexOf('"', 1) + 1).trim().substring(1).trim()})`, v, lit(member))
}

// typesOK: every member named like a Go field has a value that field takes (encoding/json
// matches keys case-insensitively): strings take a string or null, flex (elb.FlexString) a
// string, a number or null, lists (elb.StringList) a string, an array of strings, or null.
func typesOK(ms string, strs, flex, lists []string) string {
	q := func(l []string) string {
		if len(l) == 0 {
			return "[]"
		}
		return "['" + strings.Join(l, "', '") + "']"
	}
	return fmt.Sprintf(`%s.all(e, (!(e.k in %s) || e.v.startsWith('"') || e.v == 'null') && (!(e.k in %s) || e.v.startsWith('"') || e.v == 'null' || e.v.matches(%s)) && (!(e.k in %s) || e.v.startsWith('"') || e.v == 'null' || e.v.matches(%s)))`,
		ms, q(strs), q(flex), lit(`^`+jNum+`$`), q(lists), lit(jStrArr))
}

// lastText is the JSON text of the last member named k (” when none); nonNull skips nulls
// (a null leaves a Go string field as it was; a FlexString takes it as "").
func lastText(ms, k string, nonNull bool) string {
	cond := fmt.Sprintf("e.k == '%s'", k)
	if nonNull {
		cond += " && e.v != 'null'"
	}
	l := fmt.Sprintf("%s.filter(e, %s).map(e, e.v)", ms, cond)
	return fmt.Sprintf("([''] + %s)[size(%s)]", l, l)
}

// fields is the map of the effective JSON text of each Go field of a check or autocreate object
// (members ms): the last value given (the last non-null one for plain strings).
func fields(ms string, strs, flex []string) string {
	var parts []string
	for _, k := range strs {
		parts = append(parts, fmt.Sprintf("'%s': %s", k, lastText(ms, k, true)))
	}
	for _, k := range flex {
		parts = append(parts, fmt.Sprintf("'%s': %s", k, lastText(ms, k, false)))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Health check fields (elb.HealthCheck) and autocreate fields (elb.Autocreate).
var (
	hcStrings = []string{"protocol", "path"}
	hcFlex    = []string{"delay", "timeout", "max_retries", "target_service_port", "monitor_port"}
	acStrings = []string{"type", "name", "bandwidth_name", "bandwidth_chargemode", "bandwidth_sharetype", "eip_type", "l4_flavor_name", "l7_flavor_name", "vip_subnet_cidr_id"}
	acFlex    = []string{"bandwidth_size"}
	acLists   = []string{"available_zone", "elb_virsubnet_ids"}
)

// flexEmpty: a FlexString's text means "" (absent, null or an empty string).
func flexEmpty(t string) string { return fmt.Sprintf("(%s in ['', 'null', '\"\"'])", t) }

// flexInt: the FlexString's text is a whole number (strconv.Atoi).
func flexInt(t string) string {
	return fmt.Sprintf("(%s.matches(%s) || %s.matches(%s))", t, lit(jIntStr), t, lit(jIntNum))
}

// flexIntVal is its value (only where flexInt holds).
func flexIntVal(t string) string { return fmt.Sprintf("int(%s.replace('\"', ''))", t) }

// checkProblems is elb's checkHealth for one check (c: its fields): true when it has a
// problem. perPort: a per-port check (target_service_port mandatory).
func checkProblems(c string, perPort bool) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("!(%s.protocol == '' || %s.protocol.upperAscii() in ['\"\"', '\"TCP\"', '\"UDP\"', '\"HTTP\"', '\"HTTPS\"', '\"GRPC\"'])", c, c))
	for _, n := range []string{"delay", "timeout", "max_retries"} {
		t := c + "." + n
		parts = append(parts, fmt.Sprintf("!(%s || %s)", flexEmpty(t), flexInt(t)))
	}
	mp := c + ".monitor_port"
	parts = append(parts, fmt.Sprintf("!(%s || (%s && %s > 0 && %s <= 65535))", flexEmpty(mp), flexInt(mp), flexIntVal(mp), flexIntVal(mp)))
	if perPort {
		parts = append(parts, "!"+targetPortOK(c+".target_service_port"))
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// targetPortOK: "PROTOCOL:PORT" with a port 1–65535 (elb.HealthCheck.TargetPort).
func targetPortOK(t string) string {
	return fmt.Sprintf(`(%s.matches(r'^"[^:"\\]*:[+-]?[0-9]{1,9}"$') && %s > 0 && %s <= 65535)`, t, targetNum(t), targetNum(t))
}

// targetNum and targetProto are the port and upper-case protocol of a valid target_service_port.
func targetNum(t string) string {
	return fmt.Sprintf("int(%s.substring(%s.indexOf(':') + 1, size(%s) - 1))", t, t, t)
}

func targetProto(t string) string {
	return fmt.Sprintf("%s.substring(1, %s.indexOf(':')).upperAscii()", t, t)
}

// outOfRange: a whole number outside the ELB's range (elb.HealthCheck.OutOfRange).
func outOfRange(c string) string {
	var parts []string
	for _, r := range []struct {
		n        string
		min, max int
	}{{"delay", elb.HealthDelayMin, elb.HealthDelayMax}, {"timeout", elb.HealthTimeoutMin, elb.HealthTimeoutMax}, {"max_retries", elb.HealthMaxRetriesMin, elb.HealthMaxRetriesMax}} {
		t := c + "." + r.n
		parts = append(parts, fmt.Sprintf("(%s && (%s < %d || %s > %d))", flexInt(t), flexIntVal(t), r.min, flexIntVal(t), r.max))
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// protoMismatch: a check protocol (JSON text t) that cannot check a port of protocol p
// (plan.healthChecks: a UDP port takes a UDP check, any other port a non-UDP one).
func protoMismatch(t, p string) string {
	return fmt.Sprintf("(!(%s in ['', '\"\"']) && (%s == 'UDP' ? %s.upperAscii() != '\"UDP\"' : %s.upperAscii() == '\"UDP\"'))", t, p, t, t)
}

// portProto is the protocol of Service port e (TCP when unset).
const portProto = "(has(e.protocol) ? e.protocol : 'TCP')"

// variables are the facts of one Service that the rules read, in dependency order.
func variables() []variable {
	ignoreIDs := "['" + strings.Join(plan.FindingIDs, "', '") + "']"
	return []variable{
		{"ann", "has(object.metadata.annotations) ? object.metadata.annotations : {}"},
		{"facts", "has(params.data) ? params.data : {}"},
		{"lb", "object.spec.type == 'LoadBalancer'"},
		{"local", "has(object.spec.externalTrafficPolicy) && object.spec.externalTrafficPolicy == 'Local'"},
		{"turbo", "'networkModel' in variables.facts && variables.facts['networkModel'] == '" + plan.NetworkTurbo + "'"},
		{"ports", "has(object.spec.ports) ? object.spec.ports : []"},
		// Node ports: a NodePort Service, or a LoadBalancer that allocates them (the default).
		{"hasNP", "object.spec.type == 'NodePort' || (variables.lb && (!has(object.spec.allocateLoadBalancerNodePorts) || object.spec.allocateLoadBalancerNodePorts))"},
		// elb.ParseAnnotations: class, dialect, DNAT.
		{"rawClass", annVal(elb.AnnClass)},
		{"cls", "variables.rawClass.trim()"},
		{"hasELB", fmt.Sprintf("variables.ann.exists(k, k.startsWith('%s') || k == '%s')", elb.Prefix, elb.AnnHostNetwork)},
		{"dialect", fmt.Sprintf("variables.cls in ['%s', '%s'] ? 'opensource' : (variables.cls != '' || variables.hasELB) ? 'cce' : ''", elb.ClassShared, elb.ClassDedicated)},
		{"dnat", fmt.Sprintf("variables.cls == '%s'", elb.ClassDNAT)},
		{"classBad", fmt.Sprintf("%s && !(variables.cls in ['%s', '%s', '%s', '%s', '%s'])", annHas(elb.AnnClass), elb.ClassUnion, elb.ClassPerformance, elb.ClassDNAT, elb.ClassShared, elb.ClassDedicated)},
		// Pass-through as the decision reads it (plan.ptValue: the raw value, case-insensitive).
		{"pt", annVal(elb.AnnPassThrough) + ".lowerAscii()"},
		{"ptBad", fmt.Sprintf("%s && !(%s.trim().lowerAscii() in ['true', 'onlylocal', 'false', ''])", annHas(elb.AnnPassThrough), annVal(elb.AnnPassThrough))},
		{"ptOn", "variables.pt == 'true' || (variables.pt == 'onlylocal' && variables.local)"},
		{"ptApplies", "variables.lb && !variables.dnat && variables.dialect != 'opensource'"},
		{"ptEffective", "variables.ptOn && variables.ptApplies"},
		{"tcip", annVal(elb.AnnTransparentClientIP) + ".trim().lowerAscii() == 'true'"},
		{"tcipBad", fmt.Sprintf("%s && !(%s.trim().lowerAscii() in ['true', 'false'])", annHas(elb.AnnTransparentClientIP), annVal(elb.AnnTransparentClientIP))},
		{"hostNet", annVal(elb.AnnHostNetwork) + ".trim().lowerAscii() == 'true'"},
		{"hostNetBad", fmt.Sprintf("%s && !(%s.trim().lowerAscii() in ['true', 'false'])", annHas(elb.AnnHostNetwork), annVal(elb.AnnHostNetwork))},
		// kubernetes.io/elb.autocreate: ac holds the effective text of each field when it parses.
		{"acRaw", annVal(elb.AnnAutocreate)},
		{"acJSON", fmt.Sprintf("variables.acRaw.matches(%s)", lit(jObjDoc))},
		{"acMembers", "variables.acJSON ? " + members("variables.acRaw", jMember) + " : []"},
		{"acParsed", annHas(elb.AnnAutocreate) + " && variables.acJSON && " + typesOK("variables.acMembers", acStrings, acFlex, acLists)},
		{"ac", "variables.acParsed ? " + fields("variables.acMembers", acStrings, append(append([]string{}, acFlex...), acLists...)) + " : {}"},
		{"acBad", fmt.Sprintf("%s && (!variables.acParsed || !(variables.ac.type in ['\"public\"', '\"inner\"']) || !(%s || %s))", annHas(elb.AnnAutocreate),
			flexEmpty("variables.ac.bandwidth_size"), flexInt("variables.ac.bandwidth_size"))},
		{"acDedicatedOnly", fmt.Sprintf(`variables.acParsed && ((variables.ac.available_zone.startsWith('"') && variables.ac.available_zone != '""') || (variables.ac.available_zone.startsWith('[') && !variables.ac.available_zone.matches(%s)) || !(variables.ac.l4_flavor_name in ['', '""']))`,
			lit(`^\[`+jWS+`\]$`))},
		{"dedicated", fmt.Sprintf("variables.cls in ['%s', '%s'] || (variables.acDedicatedOnly && variables.dialect == 'cce' && !variables.dnat && variables.rawClass == '')", elb.ClassPerformance, elb.ClassDedicated)},
		// Health checks: hc1 the one check for every port, hcN the per-port checks (their fields).
		{"hcFlag", annVal(elb.AnnHealthCheckFlag) + ".trim()"},
		{"hcFlagBad", fmt.Sprintf("%s && !(variables.hcFlag in ['on', 'off'])", annHas(elb.AnnHealthCheckFlag))},
		{"hc1Raw", annVal(elb.AnnHealthCheckOption)},
		{"hc1JSON", fmt.Sprintf("variables.hc1Raw.matches(%s)", lit(jObjSDoc))},
		{"hc1Members", "variables.hc1JSON ? " + members("variables.hc1Raw", jMemberS) + " : []"},
		{"hc1Parsed", annHas(elb.AnnHealthCheckOption) + " && variables.hc1JSON && " + typesOK("variables.hc1Members", hcStrings, hcFlex, nil)},
		{"hc1", "variables.hc1Parsed ? " + fields("variables.hc1Members", hcStrings, hcFlex) + " : {}"},
		{"hc1Bad", annHas(elb.AnnHealthCheckOption) + " && (!variables.hc1Parsed || " + checkProblems("variables.hc1", false) + ")"},
		{"hcNRaw", annVal(elb.AnnHealthCheckOptions)},
		{"hcNOne", "variables.hcNRaw.trim().startsWith('{')"},
		{"hcNJSON", fmt.Sprintf("variables.hcNOne ? variables.hcNRaw.matches(%s) : variables.hcNRaw.matches(%s)", lit(jObjSDoc), lit(jArrSDoc))},
		{"hcNMembers", fmt.Sprintf("(!variables.hcNJSON ? [] : variables.hcNOne ? [variables.hcNRaw] : variables.hcNRaw.findAll(%s)).map(o, %s)", lit(jObjS), members("o", jMemberS))},
		{"hcNParsed", annHas(elb.AnnHealthCheckOptions) + " && variables.hcNJSON && variables.hcNMembers.all(ms, " + typesOK("ms", hcStrings, hcFlex, nil) + ")"},
		{"hcN", "variables.hcNParsed ? variables.hcNMembers.map(ms, " + strings.TrimSuffix(fields("ms", hcStrings, hcFlex), "}") + ", 'tkey': " + targetKey(lastText("ms", "target_service_port", false)) + "}) : []"},
		// The Service's ports as PROTOCOL:PORT, as a per-port check names them.
		{"portKeys", "variables.ports.map(e, " + portProto + " + ':' + string(e.port))"},
		{"hcNTargets", "variables.hcN.map(c, c.target_service_port.replace('\"', '')).filter(t, t != '' && t != 'null')"},
		{"hcNBad", annHas(elb.AnnHealthCheckOptions) + " && (!variables.hcNParsed || variables.hcN.exists(c, " + checkProblems("c", true) + ") || variables.hcNTargets.exists(t, variables.hcNTargets.filter(u, u == t).size() > 1))"},
		// elbfix.io/ignore: "<finding-id>[,...]: <reason>".
		{"ign", annVal(ignoreAnnotation)},
		{"ignIDs", "variables.ign.split(':', 2)[0].split(',').map(i, i.trim())"},
		{"ignValid", "variables.ign.contains(':') && variables.ign.split(':', 2)[1].trim() != '' && variables.ignIDs.all(i, i in " + ignoreIDs + ")"},
		{"ignBad", annHas(ignoreAnnotation) + " && variables.ign != '' && !variables.ignValid"},
		{"ignored", "variables.ign != '' && variables.ignValid ? variables.ignIDs : []"},
		// The ELB address is not short-cut: every status entry lacks an IP or has ipMode Proxy.
		{"notShortCut", "has(object.status) && has(object.status.loadBalancer) && has(object.status.loadBalancer.ingress) && size(object.status.loadBalancer.ingress) > 0 && object.status.loadBalancer.ingress.all(e, !has(e.ip) || e.ip == '' || (has(e.ipMode) && e.ipMode == 'Proxy'))"},
		{"shortcut", "variables.lb && variables.local && !variables.dnat && !(variables.dedicated && variables.dialect == 'cce') && !variables.ptEffective && !variables.notShortCut && " + factTrue(ParamShortcutFails)},
	}
}

// badAnnotations are the variables that say an annotation does not parse.
var badAnnotations = []string{"variables.classBad", "variables.ptBad", "variables.tcipBad", "variables.hostNetBad", "variables.acBad",
	"variables.hcFlagBad", "variables.hc1Bad", "variables.hcNBad", "variables.ignBad"}

// badAnnotationNames is a CEL string naming the annotations that do not parse: ", a, b".
func badAnnotationNames() string {
	keys := []string{elb.AnnClass, elb.AnnPassThrough, elb.AnnTransparentClientIP, elb.AnnHostNetwork, elb.AnnAutocreate,
		elb.AnnHealthCheckFlag, elb.AnnHealthCheckOption, elb.AnnHealthCheckOptions, ignoreAnnotation}
	var parts []string
	for i, v := range badAnnotations {
		parts = append(parts, fmt.Sprintf("(%s ? ', %s' : '')", v, keys[i]))
	}
	return "(" + strings.Join(parts, " + ") + ")"
}

// ignoreAnnotation is the per-Service exception (README "Reports over many Services").
const ignoreAnnotation = plan.IgnoreAnnotation

func factTrue(key string) string {
	return fmt.Sprintf("('%s' in variables.facts && variables.facts['%s'] == 'true')", key, key)
}

// rule is one per-object finding as a CEL condition that holds when the finding does.
type rule struct {
	id   string
	cond string
}

// rules are the per-object findings the policies check (Expressible), each with the condition
// under which pkg/plan reports it.
func rules() []rule {
	return []rule{
		{plan.FindingInClusterELBShortcut, "variables.shortcut"},
		{plan.FindingDedicatedELBHairpin, "variables.lb && !variables.dnat && (variables.dedicated || variables.tcip) && !variables.turbo && ((variables.dedicated && variables.local && variables.dialect == 'cce') || variables.ptEffective)"},
		{plan.FindingDNATInClusterUnreachable, "variables.lb && variables.dnat && variables.local"},
		{plan.FindingTurboLocalNeedsHostNetwork, "variables.turbo && variables.local && !variables.hostNet"},
		{plan.FindingAnnotationInvalid, strings.Join(badAnnotations, " || ")},
		{plan.FindingNodePortLocalUnreachable, "variables.local && variables.hasNP && " + factTrue(ParamNodePortFails)},
		{plan.FindingHealthCheckConfig, healthConfig()},
		{plan.FindingOpenSourceCCMDialect, "variables.lb && variables.dialect == 'opensource'"},
	}
}

// targetKey is a valid target_service_port (JSON text t) as PROTOCOL:PORT, upper-case and the
// number as a number, or ” when it is not valid.
func targetKey(t string) string {
	return fmt.Sprintf("(%s ? %s + ':' + string(%s) : '')", targetPortOK(t), targetProto(t), targetNum(t))
}

// healthConfig is plan.healthChecks as one condition.
func healthConfig() string {
	hasOne, hasMany := annHas(elb.AnnHealthCheckOption), annHas(elb.AnnHealthCheckOptions)
	off := fmt.Sprintf("%s && variables.hcFlag == 'off'", annHas(elb.AnnHealthCheckFlag))
	one := "variables.hc1Parsed && (" + outOfRange("variables.hc1") + " || variables.ports.exists(e, " + protoMismatch("variables.hc1.protocol", portProto) + "))"
	// A check's port is found when a port has its protocol and number; the protocols then agree,
	// so whether the check can check it depends on the check's protocol and the key's.
	many := "variables.hcN.exists(c, " + outOfRange("c") + " || (c.tkey != '' && (!(c.tkey in variables.portKeys) || " +
		protoMismatch("c.protocol", "c.tkey.substring(0, c.tkey.indexOf(':'))") + ")))"
	return fmt.Sprintf("variables.lb && ((%s) ? (%s || %s) : ((%s && %s) || (%s) || (%s)))", off, hasOne, hasMany, hasOne, hasMany, one, many)
}
