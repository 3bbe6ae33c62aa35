package plan

import (
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
)

func TestExplainHealthCheck(t *testing.T) {
	general := []string{
		"as the vendor's ELB documentation describes it: the ELB sends SYN to the member's IP and health check port",
		"If a SYN-ACK comes back within timeout seconds, the ELB sends ACK, so the handshake completes and the server accepts a connection; the ELB marks the check passed, then sends RST",
		"If no SYN-ACK comes back in time, the check fails, and the ELB sends RST too",
		"java.io.IOException: Connection reset by peer", "harmless",
		"Use an HTTP check", "filter the ELB's health check source range, 100.125.0.0/16",
	}
	const (
		flag    = "kubernetes.io/elb.health-check-flag"
		option  = "kubernetes.io/elb.health-check-option"
		options = "kubernetes.io/elb.health-check-options"
	)
	tests := []struct {
		name  string
		svc   *corev1.Service
		has   []string
		lacks []string
	}{
		{name: "nil Service: the general part only", svc: nil, lacks: []string{"This Service"}},
		{name: "nothing set: CCE's default TCP check", svc: mk(svcSpec{ann: union}),
			has: []string{"This Service (shop/web)", "health check: on (kubernetes.io/elb.health-check-flag not set: CCE's default)", "check: not set: CCE's default TCP check", "a TCP check: each check ends with the ELB's RST"}},
		{name: "the documented TCP option", svc: mk(svcSpec{ann: ann(aClass, "performance", flag, "on", option, `{"protocol":"TCP","delay":"5","timeout":"10","max_retries":"3"}`)}),
			has:   []string{`health check: on (kubernetes.io/elb.health-check-flag "on")`, "kubernetes.io/elb.health-check-option (every port): protocol TCP, health port: the member's port, delay 5 s, timeout 10 s, max_retries 3", "a TCP check"},
			lacks: []string{"problem:", "not set: CCE's default TCP check"}},
		{name: "per-port HTTP check with monitor_port", svc: mk(svcSpec{ann: ann(aClass, "union", options, `[{"protocol":"HTTP","path":"/healthz","target_service_port":"TCP:80","monitor_port":"8081","delay":"2"}]`)}),
			has:   []string{"kubernetes.io/elb.health-check-options[0] (port TCP:80): protocol HTTP, path /healthz, health port 8081 (monitor_port), delay 2 s, timeout not set (CCE's default)", "no TCP check: the checks do not end in resets"},
			lacks: []string{"problem:", "a TCP check:"}},
		{name: "check off", svc: mk(svcSpec{ann: ann(aClass, "union", flag, "off")}),
			has:   []string{`health check: off (kubernetes.io/elb.health-check-flag "off")`},
			lacks: []string{"a TCP check:", "problem:"}},
		{name: "check off with an option: the finding's text", svc: mk(svcSpec{ann: ann(aClass, "union", flag, "off", option, `{"protocol":"TCP"}`)}),
			has: []string{"problem: kubernetes.io/elb.health-check-flag is \"off\", so the ELB runs no health check"}},
		{name: "problems: out of range, UDP on TCP, parse problem", svc: mk(svcSpec{ann: ann(aClass, "union", option, `{"protocol":"UDP","delay":"0","timeout":"x"}`)}),
			has: []string{`delay 0 s, timeout "x"`, `problem: kubernetes.io/elb.health-check-option does not parse: invalid "timeout" "x"`, `"delay" 0 (want 1–50)`, "a UDP health check cannot check port(s) TCP:80"}},
		{name: "invalid JSON", svc: mk(svcSpec{ann: ann(aClass, "union", option, `{"protocol":`)}),
			has: []string{"problem: kubernetes.io/elb.health-check-option does not parse: invalid JSON"}, lacks: []string{"check: not set"}},
		{name: "invalid flag", svc: mk(svcSpec{ann: ann(aClass, "union", flag, "yes")}),
			has: []string{`health check: kubernetes.io/elb.health-check-flag "yes" does not parse; CCE's default is on`}},
		{name: "ClusterIP", svc: mk(svcSpec{typ: corev1.ServiceTypeClusterIP}), has: []string{"a ClusterIP Service has no ELB, so no ELB health check"}},
		{name: "NodePort", svc: mk(svcSpec{typ: corev1.ServiceTypeNodePort}), has: []string{"a NodePort Service has no ELB"}},
		{name: "DNAT", svc: mk(svcSpec{ann: dnatAnn}), has: []string{"DNAT gateway Service"}},
		{name: "hostile values stay short", svc: mk(svcSpec{ann: ann(aClass, "union", option, `{"protocol":"`+strings.Repeat("X", 500)+`","path":"/`+strings.Repeat("p", 500)+`"}`)}),
			has: []string{"\u2026"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExplainHealthCheck(tt.svc)
			flat := strings.Join(strings.Fields(got), " ")
			for _, s := range append(append([]string{}, general...), tt.has...) {
				if !strings.Contains(flat, s) {
					t.Errorf("lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tt.lacks {
				if strings.Contains(flat, s) {
					t.Errorf("has %q:\n%s", s, got)
				}
			}
			if !strings.HasSuffix(got, "\n") || strings.HasSuffix(got, "\n\n") {
				t.Errorf("must end with exactly one newline: %q", got[len(got)-10:])
			}
			for i, line := range strings.Split(got, "\n") {
				if n := utf8.RuneCountInString(line); n > explainWidth && strings.Contains(strings.TrimSpace(line), " ") {
					t.Errorf("line %d is %d columns: %q", i+1, n, line)
				}
				if strings.HasSuffix(line, " ") {
					t.Errorf("line %d has trailing space: %q", i+1, line)
				}
			}
		})
	}
}

// TestExplainHealthCheckHandshake: the TCP check is told in the order it happens (SYN, SYN-ACK,
// ACK, RST: each first mentioned after the one before), and the RST after a failed check is told
// too (docs/domain.md §7).
func TestExplainHealthCheckHandshake(t *testing.T) {
	got := ExplainHealthCheck(nil)
	first := map[string]int{}
	for i, w := range strings.Fields(got) {
		w = strings.Trim(w, ".,;:()\"'")
		if _, ok := first[w]; !ok {
			first[w] = i
		}
	}
	prev, prevWord := -1, ""
	for _, w := range []string{"SYN", "SYN-ACK", "ACK", "RST"} {
		i, ok := first[w]
		if !ok {
			t.Errorf("no %s in:\n%s", w, got)
			continue
		}
		if i <= prev {
			t.Errorf("%s (word %d) is first mentioned before %s (word %d):\n%s", w, i, prevWord, prev, got)
		}
		prev, prevWord = i, w
	}
	flat := strings.Join(strings.Fields(got), " ")
	failed := strings.Index(flat, "the check fails")
	if failed < 0 || !strings.Contains(flat[failed:], "sends RST too") {
		t.Errorf("the RST after a failed check is not told:\n%s", got)
	}
	if !strings.Contains(flat, "vendor's ELB documentation") {
		t.Errorf("the source is not named:\n%s", got)
	}
}

func TestWrap(t *testing.T) {
	got := wrap("aaa bbb ccc "+strings.Repeat("d", 20)+" e", 10, "- ", "  ")
	want := "- aaa bbb\n  ccc\n  " + strings.Repeat("d", 20) + "\n  e"
	if got != want {
		t.Errorf("wrap = %q, want %q", got, want)
	}
	if wrap("", 10, "> ", "") != "> " {
		t.Error("empty")
	}
}
