// Package report renders plans: the Plan document (docs/contract.md) as JSON or YAML, and the
// human view (verdict, cells, fix) that svc and scan print.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"golang.org/x/term"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// IsTerminal tells whether w is a terminal (colour and progress only go there).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// WritePlan writes the Plan document as "json" (indented, the same bytes as an indented
// encoding of the whole document, but one Service at a time, so that a scan of thousands of
// Services never holds the whole text) or "yaml".
func WritePlan(w io.Writer, doc plan.Plan, format string) error {
	if format == "yaml" {
		b, err := indentJSON(doc, "")
		if err != nil {
			return err
		}
		if b, err = yaml.JSONToYAML(b); err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return WritePlanJSON(w, doc, nil)
}

// EncodeService encodes one Service's plan for WritePlanJSON, compact (it is indented as it
// is written: a third smaller to hold), for a caller that encodes each plan as it is made.
func EncodeService(sp plan.ServicePlan) ([]byte, error) {
	var out []byte
	err := compactJSON(sp, func(b []byte) { out = bytes.Clone(b) }) // exactly its size: it is held until written
	return out, err
}

// WritePlanJSON writes the Plan document as JSON, as WritePlan does; encoded, when not nil,
// holds each Service's EncodeService bytes, by index (nil: encoded here).
func WritePlanJSON(w io.Writer, doc plan.Plan, encoded [][]byte) error {
	bw := bufio.NewWriter(w)
	cluster, err := indentJSON(doc.Cluster, "  ")
	if err != nil {
		return err
	}
	fmt.Fprintf(bw, "{\n  \"apiVersion\": %s,\n  \"kind\": %s,\n  \"cluster\": %s,\n  \"services\": [", quote(doc.APIVersion), quote(doc.Kind), cluster)
	// Encode a batch of Services on every core, then write it: bounded memory, all cores busy.
	const batch = 256
	buf := make([][]byte, batch)
	for start := 0; start < len(doc.Services); start += batch {
		end := min(start+batch, len(doc.Services))
		if err := parallel.For(end-start, func(i int) (err error) {
			if encoded != nil && encoded[start+i] != nil {
				buf[i] = appendIndent(buf[i][:0], encoded[start+i], "    ")
				return nil
			}
			return compactJSON(doc.Services[start+i], func(b []byte) { buf[i] = appendIndent(buf[i][:0], b, "    ") })
		}); err != nil {
			return err
		}
		for i := range end - start {
			if start+i > 0 {
				bw.WriteString(",")
			}
			bw.WriteString("\n    ")
			_, _ = bw.Write(buf[i]) // a write error comes back from Flush
		}
	}
	if len(doc.Services) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}

// indentJSON encodes v indented by two spaces after prefix, without HTML escaping (messages
// quote <finding-id> and the like) and without a trailing newline: the bytes of an Encoder with
// SetIndent(prefix, "  "), produced by indent, which is several times faster than the encoder's
// own indentation (a scan of 10,000 Services writes 20 MiB).
func indentJSON(v any, prefix string) (out []byte, err error) {
	err = compactJSON(v, func(b []byte) { out = indent(b, prefix) })
	return out, err
}

// compactJSON calls f with v encoded as json.Marshal does, but without HTML escaping. The
// bytes are only f's to read: they are a scratch buffer's, used again by the next call (a scan
// encodes 10,000 plans, and each new buffer grown to size was garbage).
func compactJSON(v any, f func([]byte)) error {
	buf := scratch.Get().(*bytes.Buffer)
	defer scratch.Put(buf)
	buf.Reset()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	f(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return nil
}

var scratch = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// indent indents compact, valid JSON as json.Indent(dst, src, prefix, "  ") does: a newline,
// the prefix and two spaces a level after every opening bracket and comma, ": " after keys,
// and empty objects and arrays kept as {} and [].
func indent(src []byte, prefix string) []byte {
	return appendIndent(make([]byte, 0, len(src)+len(src)/2), src, prefix)
}

// appendIndent is indent appending to dst.
func appendIndent(dst, src []byte, prefix string) []byte {
	depth := 0
	// pad is a newline, the prefix and as many spaces as the deepest level so far: a line
	// start is one append of a prefix of it.
	pad := append([]byte{'\n'}, prefix...)
	base := len(pad)
	newline := func() {
		need := base + 2*max(depth, 0)
		for len(pad) < need {
			pad = append(pad, ' ')
		}
		dst = append(dst, pad[:need]...)
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch c {
		case '"':
			// A string is copied whole: up to the first quote after it that no odd run of
			// backslashes escapes.
			end := len(src)
			for j := i + 1; j < len(src); {
				k := bytes.IndexByte(src[j:], '"')
				if k < 0 {
					break
				}
				q, bs := j+k, 0
				for q-1-bs > i && src[q-1-bs] == '\\' {
					bs++
				}
				if bs%2 == 0 {
					end = q + 1
					break
				}
				j = q + 1
			}
			dst = append(dst, src[i:end]...)
			i = end - 1
		case '{', '[':
			dst = append(dst, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func quote(s string) []byte {
	b, _ := indentJSON(s, "")
	return b
}

// WriteCluster writes the facts line and, for each fact, where it came from.
func WriteCluster(w io.Writer, c plan.Cluster) {
	version := c.Version
	if version == "" {
		version = plan.Unknown
	}
	fmt.Fprintf(w, "Cluster: network model %s, kube-proxy mode %s, version %s\n", c.NetworkModel, c.ProxyMode, version)
	// Signals that told nothing (not readable, absent) are left to `kubectl elbfix detect -v`,
	// but for the cloud's, which the user asked for (--cloud): what it could not read is said,
	// once.
	said := map[string]bool{}
	for _, e := range c.Evidence {
		switch {
		case e.Confidence != plan.ConfidenceNone:
			fmt.Fprintf(w, "  %s=%s: %s (%s)\n", e.Fact, e.Value, e.Source, e.Confidence)
		case e.Signal == plan.SignalCloud && !said[e.Source]:
			said[e.Source] = true
			fmt.Fprintf(w, "  %s\n", e.Source)
		}
	}
	for _, cf := range c.Conflicts {
		fmt.Fprintf(w, "  conflict on %s: %s\n", cf.Fact, cf.Resolution)
	}
}

// WriteService writes one Service's verdict and fix.
func WriteService(w io.Writer, sp plan.ServicePlan) {
	fmt.Fprintf(w, "service/%s in namespace %s: %s\n", sp.Name, sp.Namespace, describe(sp))
	if len(sp.Findings) == 0 {
		fmt.Fprintf(w, "  No findings: %s\n", nothingToDo(sp))
	}
	for _, f := range sp.Findings {
		writeFinding(w, "  ", f)
	}
	for _, n := range sp.Notes {
		fmt.Fprintf(w, "  Note (%s): %s\n", n.Source, n.Message)
	}
	if sp.NoFix != nil {
		fmt.Fprintf(w, "  No fix for %s: %s\n", strings.Join(sp.NoFix.Findings, ", "), sp.NoFix.Reason)
		fmt.Fprintf(w, "    instead: %s\n", sp.NoFix.Remedy)
	}
	if sp.Fix == nil {
		return
	}
	fmt.Fprintf(w, "  Fix (%s): %s\n", sp.Fix.Strategy, sp.Fix.Reason)
	if len(sp.Fix.Patch) > 0 {
		fmt.Fprintf(w, "    patch (strategic): %s\n", sp.Fix.Patch)
	}
	for _, a := range sp.Fix.AlsoPatch {
		fmt.Fprintf(w, "    also patch service %s/%s: %s\n", a.Namespace, a.Name, a.Patch)
	}
	for _, c := range sp.Fix.Costs {
		fmt.Fprintf(w, "    cost: %s\n", c)
	}
	if len(sp.Fix.Residual) == 0 {
		fmt.Fprintln(w, "    after the fix: every in-cluster client listed above reaches the Service")
	}
	if len(sp.Fix.Residual) > 0 {
		fmt.Fprintln(w, "    still failing after the fix:")
	}
	for _, r := range sp.Fix.Residual {
		writeFinding(w, "      ", r)
	}
	if !sp.Changed {
		fmt.Fprintln(w, "    the object already has this setting")
	}
}

func describe(sp plan.ServicePlan) string {
	parts := []string{sp.Type}
	if sp.ExternalTrafficPolicy != "" {
		parts = append(parts, "externalTrafficPolicy "+sp.ExternalTrafficPolicy)
	}
	if sp.ELBClass != "" {
		parts = append(parts, "elb.class "+sp.ELBClass)
	}
	if sp.ELBID != "" {
		parts = append(parts, "elb.id "+sp.ELBID)
	}
	if sp.PassThrough != "" {
		parts = append(parts, "elb.pass-through "+sp.PassThrough)
	}
	return strings.Join(parts, ", ")
}

func nothingToDo(sp plan.ServicePlan) string {
	switch sp.Type {
	case "ClusterIP", "ExternalName", "":
		return "a " + sp.Type + " Service has no ELB or NodePort address; in-cluster clients use its ClusterIP or DNS name"
	}
	if sp.ExternalTrafficPolicy != "Local" {
		return "externalTrafficPolicy is " + sp.ExternalTrafficPolicy + ", so kube-proxy sends in-cluster traffic to any endpoint"
	}
	return "every in-cluster client reaches the Service"
}

func writeFinding(w io.Writer, indent string, f plan.Finding) {
	fmt.Fprintf(w, "%s%s %s: %s\n", indent, strings.ToUpper(f.Severity), f.ID, f.Message)
	if len(f.Unreachable) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	pad := strings.Repeat(" ", len(indent)+4)
	fmt.Fprintf(tw, "%sCLIENT\tTARGET\tFAILS IN\tFROM\n", pad)
	for _, c := range f.Unreachable {
		when := "every possible column"
		if len(c.When) > 0 {
			when = strings.Join(c.When, ", ")
		}
		from := "vendor table (" + c.Edition + " edition): " + c.Row
		if c.Source == plan.CellDerived {
			from = "DERIVED (" + c.Rule + "): " + c.Row
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\n", pad, c.Client, c.Target, when, from)
	}
	tw.Flush()
}

// WriteClusterLine writes the cluster facts a verdict stands on in one line, each with where it
// came from ("flag", "detected, high", ...), and what to pass when one is unknown. The evidence
// behind each is for --explain (WriteCluster) and `kubectl elbfix detect`.
func WriteClusterLine(w io.Writer, c plan.Cluster) {
	fact := func(name, value string) string {
		if value == "" || value == plan.Unknown {
			return plan.Unknown
		}
		best := ""
		for _, e := range c.Evidence {
			if e.Fact == name && e.Value == value && rankConfidence(e.Confidence) > rankConfidence(best) {
				best = e.Confidence
			}
		}
		switch best {
		case plan.ConfidenceOverride:
			return value + " (flag)"
		case "":
			return value
		}
		return value + " (detected, " + best + ")"
	}
	parts := []string{"network " + fact("networkModel", c.NetworkModel), "kube-proxy " + fact("proxyMode", c.ProxyMode), "version " + fact("version", c.Version)}
	var flags []string
	if c.NetworkModel == "" || c.NetworkModel == plan.Unknown {
		flags = append(flags, "--network-model")
	}
	if c.ProxyMode == "" || c.ProxyMode == plan.Unknown {
		flags = append(flags, "--proxy-mode")
	}
	if c.Version == "" || c.Version == plan.Unknown {
		flags = append(flags, "--cluster-version")
	}
	line := "Cluster: " + strings.Join(parts, ", ")
	if len(flags) > 0 {
		line += "; unknown facts widen the verdict to every possibility: pass " + strings.Join(flags, ", ")
	}
	fmt.Fprintln(w, line)
}

func rankConfidence(c string) int {
	switch c {
	case plan.ConfidenceOverride:
		return 5
	case plan.ConfidenceHigh:
		return 4
	case plan.ConfidenceMedium:
		return 3
	case plan.ConfidenceLow:
		return 2
	case plan.ConfidenceNone:
		return 1
	}
	return 0
}

// WriteServiceShort writes one Service's verdict for a person in a hurry: a header, one line
// per finding (who can't reach what, in words), the recommended no-patch action, the fix with
// its cost on one line, and what still fails after it. detection-incomplete is left to the
// cluster line. --explain (WriteService) adds the cell tables, their sources and the residuals.
func WriteServiceShort(w io.Writer, sp plan.ServicePlan) {
	fmt.Fprintf(w, "service/%s (namespace %s): %s\n", sp.Name, sp.Namespace, shortDescribe(sp))
	shown, errorCells := 0, false
	for _, f := range sp.Findings {
		if f.ID == plan.FindingDetectionIncomplete && f.Ignored == "" {
			continue
		}
		shown++
		line := fmt.Sprintf("  %s %s: %s", strings.ToUpper(f.Severity), f.ID, findingWords(f, sp.Ports))
		if f.Ignored != "" {
			line = fmt.Sprintf("  ignored %s: %s", f.ID, f.Ignored)
		}
		fmt.Fprintln(w, line)
		errorCells = errorCells || (f.Severity == plan.SeverityError && len(f.Unreachable) > 0 && f.Ignored == "")
	}
	if shown == 0 {
		fmt.Fprintf(w, "  OK: %s\n", nothingToDo(sp))
	}
	for _, n := range sp.Notes {
		fmt.Fprintf(w, "  note: %s\n", n.Message)
	}
	if errorCells || sp.NoFix != nil {
		fmt.Fprintf(w, "  Inside the cluster, call %s (the Service's DNS name): it works from every node and pod, whatever the policy.\n", strings.Join(dnsNames(sp), ", "))
	}
	if sp.NoFix != nil {
		fmt.Fprintf(w, "  No fix for %s: %s\n", strings.Join(sp.NoFix.Findings, ", "), sp.NoFix.Reason)
	}
	if sp.Fix == nil {
		return
	}
	if strings.HasPrefix(sp.Fix.Reason, "the server refused ") {
		// A fallback after a refusal: the server's own words say why this is not the first fix.
		fmt.Fprintf(w, "  Fallback: %s\n", sp.Fix.Reason)
	}
	line := "  Fix: " + ChangeWords(sp.Fix.Strategy)
	if !sp.Changed && len(sp.Fix.AlsoPatch) == 0 {
		line += " (already set)"
	}
	var also []string
	for _, a := range sp.Fix.AlsoPatch {
		also = append(also, a.Namespace+"/"+a.Name)
	}
	if len(also) > 0 {
		line += ", also on " + strings.Join(also, ", ") + " (same ELB)"
	}
	if len(sp.Fix.Costs) > 0 {
		var costs []string
		for _, c := range sp.Fix.Costs {
			if strings.HasPrefix(c, "also sets pass-through on ") {
				continue // said above ("also on ...")
			}
			// The gist of each cost, before its explanation (--explain shows it whole).
			if i := strings.Index(c, ": "); i > 0 {
				c = c[:i]
			}
			costs = append(costs, c)
		}
		line += "; cost: " + strings.Join(costs, "; ")
	}
	fmt.Fprintln(w, line)
	var left []string
	for _, r := range sp.Fix.Residual {
		left = append(left, r.ID+" ("+r.Severity+")")
	}
	if len(left) > 0 {
		fmt.Fprintf(w, "  Still failing after the fix: %s\n", strings.Join(left, ", "))
	}
}

// ChangeWords says what a strategy's patch sets: "set kubernetes.io/elb.pass-through=true".
func ChangeWords(strategy string) string {
	switch strategy {
	case plan.StrategyPassThrough:
		return "set " + elb.AnnPassThrough + "=true"
	case plan.StrategyCluster:
		return "set spec.externalTrafficPolicy=Cluster"
	}
	return strategy
}

func shortDescribe(sp plan.ServicePlan) string {
	parts := []string{sp.Type}
	if sp.ExternalTrafficPolicy != "" {
		parts = append(parts, "externalTrafficPolicy "+sp.ExternalTrafficPolicy)
	}
	switch sp.ELBClass {
	case "union", "":
		if sp.Type == "LoadBalancer" {
			parts = append(parts, "shared ELB")
		}
	case "performance":
		parts = append(parts, "dedicated ELB")
	case "dnat":
		parts = append(parts, "DNAT")
	default:
		parts = append(parts, "elb.class "+sp.ELBClass)
	}
	if sp.PassThrough != "" {
		parts = append(parts, "pass-through "+sp.PassThrough)
	}
	return strings.Join(parts, ", ")
}

// findingWords is a finding in one line: its cells in words when it has cells, else the first
// sentence of its message.
func findingWords(f plan.Finding, ports []int32) string {
	if len(f.Unreachable) == 0 {
		msg := f.Message
		if i := strings.Index(msg, ". "); i > 0 {
			msg = msg[:i]
		}
		return strings.TrimSuffix(msg, ".")
	}
	words := plan.DescribeCells(f.Unreachable, ports)
	derived := false
	for _, c := range f.Unreachable {
		derived = derived || c.Source == plan.CellDerived
	}
	if derived {
		words += " (derived: the vendor's table has no row for it)"
	}
	return words
}

func dnsNames(sp plan.ServicePlan) []string {
	if sp.NoFix != nil && len(sp.NoFix.Addresses) > 0 {
		return sp.NoFix.Addresses
	}
	var out []string
	for _, p := range sp.Ports {
		out = append(out, fmt.Sprintf("%s.%s.svc:%d", sp.Name, sp.Namespace, p))
	}
	if len(out) == 0 {
		out = append(out, sp.Name+"."+sp.Namespace+".svc")
	}
	return out
}
