package plan

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
)

// healthChecks: health check annotations that cannot work (CCE: a TCP port takes a TCP or HTTP
// check, a UDP port a UDP check; per-port checks must name a port of the Service; the numbers
// must lie in the ELB's ranges; one of the two annotations only) or that are ignored (the check
// is off). What does not parse at all is annotation-invalid (elb.Parse), never reported here too.
func (f *facts) healthChecks() []Finding {
	if !f.lb {
		return nil
	}
	var out []Finding
	add := func(format string, args ...any) {
		out = append(out, Finding{ID: FindingHealthCheckConfig, Severity: SeverityWarning, Message: fmt.Sprintf(format, args...)})
	}
	_, hasOne := f.svc.Annotations[elb.AnnHealthCheckOption]
	_, hasMany := f.svc.Annotations[elb.AnnHealthCheckOptions]
	if f.info.HealthCheckFlag == "off" {
		var set []string
		if hasOne {
			set = append(set, elb.AnnHealthCheckOption)
		}
		if hasMany {
			set = append(set, elb.AnnHealthCheckOptions)
		}
		if len(set) > 0 {
			add("%s is \"off\", so the ELB runs no health check and %s is ignored (for information: nothing checks the members, and the ELB keeps sending traffic to a member that stops answering); set the flag \"on\" to use the check, or remove the option",
				elb.AnnHealthCheckFlag, strings.Join(set, " and "))
		}
		return out
	}
	if hasOne && hasMany {
		add("%s and %s are both set; CCE takes only one of the two (one check for every port, or one check per port): keep one",
			elb.AnnHealthCheckOption, elb.AnnHealthCheckOptions)
	}
	outOfRange := func(key string, h elb.HealthCheck) {
		if r := h.OutOfRange(); len(r) > 0 {
			add("%s: %s: out of the range the ELB accepts (delay %d\u2013%d s, timeout %d\u2013%d s, max_retries %d\u2013%d), so CCE cannot set up this check",
				key, strings.Join(r, ", "), elb.HealthDelayMin, elb.HealthDelayMax, elb.HealthTimeoutMin, elb.HealthTimeoutMax, elb.HealthMaxRetriesMin, elb.HealthMaxRetriesMax)
		}
	}
	type port struct {
		proto string
		num   int32
	}
	var ports []port
	for _, p := range f.svc.Spec.Ports {
		proto := string(p.Protocol)
		if proto == "" {
			proto = string(corev1.ProtocolTCP)
		}
		ports = append(ports, port{proto, p.Port})
	}
	mismatch := func(check, portProto string) bool {
		check = strings.ToUpper(check)
		if check == "" {
			return false
		}
		if portProto == string(corev1.ProtocolUDP) {
			return check != "UDP"
		}
		return check == "UDP"
	}
	if h := f.info.HealthCheckOption; h != nil {
		outOfRange(elb.AnnHealthCheckOption, *h)
		var bad []string
		for _, p := range ports {
			if mismatch(h.Protocol, p.proto) {
				bad = append(bad, fmt.Sprintf("%s:%d", p.proto, p.num))
			}
		}
		if len(bad) > 0 {
			add("%s: a %s health check cannot check port(s) %s (a TCP port takes a TCP or HTTP check, a UDP port a UDP check)",
				elb.AnnHealthCheckOption, strings.ToUpper(h.Protocol), strings.Join(bad, ", "))
		}
	}
	for i, h := range f.info.HealthCheckOptions {
		key := fmt.Sprintf("%s[%d]", elb.AnnHealthCheckOptions, i)
		outOfRange(key, h)
		proto, num, ok := h.TargetPort()
		if !ok {
			continue // reported as annotation-invalid
		}
		found := false
		for _, p := range ports {
			if p.proto == proto && p.num == num {
				found = true
				if mismatch(h.Protocol, p.proto) {
					add("%s: a %s health check cannot check port %s:%d (a TCP port takes a TCP or HTTP check, a UDP port a UDP check)",
						key, strings.ToUpper(h.Protocol), p.proto, p.num)
				}
			}
		}
		if !found {
			add("%s: target_service_port %s:%d is not a port of the Service", key, proto, num)
		}
	}
	return out
}

// explainWidth is the width ExplainHealthCheck wraps its text to.
const explainWidth = 100

// ExplainHealthCheck is the text of `svc --explain-health`: how the ELB's TCP health check
// works, why Java NIO servers log "Connection reset by peer" for every check and what to do
// about it, then this Service's health check configuration and what is wrong with it. Plain text,
// wrapped to 100 columns. svc may be nil (the general part only).
func ExplainHealthCheck(svc *corev1.Service) string {
	var b strings.Builder
	para := func(s string) { b.WriteString(wrap(s, explainWidth, "", "")); b.WriteString("\n\n") }
	item := func(first, rest, s string) { b.WriteString(wrap(s, explainWidth, first, rest)); b.WriteString("\n") }
	head := func(s string) { b.WriteString(s + "\n\n") }

	head("How the ELB's TCP health check works")
	para("The ELB checks every member of a listener's pool on the member's health port: on CCE " +
		"Standard the members are nodes, and the port is node-IP:NodePort of the checked Service " +
		"port (or monitor_port when set); on CCE Turbo with a dedicated ELB the members are pods.")
	para("A TCP check, as the vendor's ELB documentation describes it: the ELB sends SYN to the " +
		"member's IP and health check port. If a SYN-ACK comes back within timeout seconds, the ELB " +
		"sends ACK, so the handshake completes and the server accepts a connection; the ELB marks " +
		"the check passed, then sends RST to drop that connection. If no SYN-ACK comes back in " +
		"time, the check fails, and the ELB sends RST too. After max_retries failures in a row the " +
		"member gets no new traffic until it passes again. The checks come from the ELB's health " +
		"check range, 100.125.0.0/16.")
	head("Why Java servers log \"Connection reset by peer\"")
	para("A server built on Java NIO (Netty, Tomcat, Jetty, Undertow, ...) accepts the checker's " +
		"connection (the handshake completed), sees it end with the ELB's RST instead of a normal " +
		"close, and logs java.io.IOException: Connection reset by peer, once for every check: every " +
		"member, every delay seconds. It is harmless: it is the check succeeding. Two remedies:")
	item("  1. ", "     ", "Use an HTTP check: the ELB sends a real request to a path and reads the status "+
		"code, so the application sees complete requests. For example "+
		elb.AnnHealthCheckOption+": '{\"protocol\":\"HTTP\",\"path\":\"/healthz\",\"delay\":\"5\",\"timeout\":\"10\",\"max_retries\":\"3\"}' "+
		"(or one check per port in "+elb.AnnHealthCheckOptions+", with target_service_port).")
	item("  2. ", "     ", "Or keep the TCP check and filter the ELB's health check source range, "+
		"100.125.0.0/16, out of the application's logs.")
	b.WriteString("\n")

	if svc == nil {
		return strings.TrimRight(b.String(), "\n") + "\n"
	}
	head(fmt.Sprintf("This Service (%s/%s)", namespaceOf(svc), svc.Name))
	for _, l := range healthConfigLines(svc) {
		item("  ", "    ", l)
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// healthConfigLines describes svc's health check configuration and its problems.
func healthConfigLines(svc *corev1.Service) []string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeLoadBalancer:
	case corev1.ServiceTypeNodePort:
		return []string{"a NodePort Service has no ELB, so no ELB health check: nothing to configure."}
	default:
		return []string{fmt.Sprintf("a %s Service has no ELB, so no ELB health check: nothing to configure.", serviceType(svc))}
	}
	info, probs := elb.Parse(svc)
	if info.DNAT {
		return []string{"a DNAT gateway Service (kubernetes.io/elb.class: dnat) has no ELB listener, so no ELB health check."}
	}
	var lines []string
	rawFlag, flagSet := svc.Annotations[elb.AnnHealthCheckFlag]
	switch {
	case info.HealthCheckFlag == "off":
		lines = append(lines, fmt.Sprintf("health check: off (%s \"off\"): the ELB checks no member, and keeps sending traffic to a member that stops answering; no resets from checks either.", elb.AnnHealthCheckFlag))
	case info.HealthCheckFlag == "on":
		lines = append(lines, fmt.Sprintf("health check: on (%s \"on\").", elb.AnnHealthCheckFlag))
	case flagSet:
		lines = append(lines, fmt.Sprintf("health check: %s %q does not parse; CCE's default is on.", elb.AnnHealthCheckFlag, truncate(rawFlag, 40)))
	default:
		lines = append(lines, fmt.Sprintf("health check: on (%s not set: CCE's default).", elb.AnnHealthCheckFlag))
	}
	tcp := false
	_, hasOne := svc.Annotations[elb.AnnHealthCheckOption]
	_, hasMany := svc.Annotations[elb.AnnHealthCheckOptions]
	if h := info.HealthCheckOption; h != nil {
		lines = append(lines, fmt.Sprintf("%s (every port): %s.", elb.AnnHealthCheckOption, describeCheck(*h)))
		tcp = tcp || isTCPCheck(h.Protocol)
	}
	for i, h := range info.HealthCheckOptions {
		target := string(h.TargetServicePort)
		if target == "" {
			target = "no target_service_port"
		}
		lines = append(lines, fmt.Sprintf("%s[%d] (port %s): %s.", elb.AnnHealthCheckOptions, i, truncate(target, 40), describeCheck(h)))
		tcp = tcp || isTCPCheck(h.Protocol)
	}
	if !hasOne && !hasMany {
		lines = append(lines, "check: not set: CCE's default TCP check, on each member's port.")
		tcp = true
	}
	if info.HealthCheckFlag != "off" {
		if tcp {
			lines = append(lines, "a TCP check: each check ends with the ELB's RST, so Java NIO servers log \"Connection reset by peer\" for it (harmless; see the remedies above).")
		} else if len(info.HealthCheckOptions) > 0 || info.HealthCheckOption != nil {
			lines = append(lines, "no TCP check: the checks do not end in resets.")
		}
	}
	for _, p := range probs {
		if p.Annotation == elb.AnnHealthCheckFlag || strings.HasPrefix(p.Annotation, elb.AnnHealthCheckOption) {
			lines = append(lines, fmt.Sprintf("problem: %s does not parse: %s.", p.Annotation, strings.TrimSuffix(p.Message, ".")))
		}
	}
	f := &facts{svc: svc, info: info, lb: true}
	for _, fd := range f.healthChecks() {
		lines = append(lines, "problem: "+strings.TrimSuffix(fd.Message, ".")+".")
	}
	return lines
}

func isTCPCheck(protocol string) bool {
	p := strings.ToUpper(strings.TrimSpace(protocol))
	return p == "" || p == "TCP"
}

// describeCheck is one check's protocol, port and numbers, with CCE's defaults for what is unset.
func describeCheck(h elb.HealthCheck) string {
	var parts []string
	if h.Protocol == "" {
		parts = append(parts, "protocol not set (TCP)")
	} else {
		parts = append(parts, "protocol "+truncate(strings.ToUpper(h.Protocol), 20))
	}
	if h.Path != "" && !isTCPCheck(h.Protocol) {
		parts = append(parts, "path "+truncate(h.Path, 60))
	}
	if h.MonitorPort != "" {
		parts = append(parts, "health port "+truncate(string(h.MonitorPort), 20)+" (monitor_port)")
	} else {
		parts = append(parts, "health port: the member's port")
	}
	for _, n := range []struct {
		name, unit string
		v          elb.FlexString
	}{{"delay", " s", h.Delay}, {"timeout", " s", h.Timeout}, {"max_retries", "", h.MaxRetries}} {
		switch _, err := strconv.Atoi(string(n.v)); {
		case n.v == "":
			parts = append(parts, n.name+" not set (CCE's default)")
		case err != nil:
			parts = append(parts, fmt.Sprintf("%s %q", n.name, truncate(string(n.v), 20)))
		default:
			parts = append(parts, fmt.Sprintf("%s %s%s", n.name, string(n.v), n.unit))
		}
	}
	return strings.Join(parts, ", ")
}

// wrap fills s into lines of at most width columns (longer words stay whole): the first line
// starts with first, the others with rest.
func wrap(s string, width int, first, rest string) string {
	var b strings.Builder
	line, n := first, len([]rune(first))
	empty := true
	for _, w := range strings.Fields(s) {
		wl := len([]rune(w))
		if !empty && n+1+wl > width {
			b.WriteString(line + "\n")
			line, n, empty = rest, len([]rune(rest)), true
		}
		if !empty {
			line += " "
			n++
		}
		line += w
		n += wl
		empty = false
	}
	b.WriteString(line)
	return b.String()
}
