package plan

import (
	"fmt"
	"strings"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
)

// Fallback re-plans after the server refused the fix sp proposes (e.g. CCE's webhook refusing a
// change to a kubernetes.io/elb.* annotation), when the strategy was auto: the fix becomes the
// other strategy, if auto may use it here and it clears at least one of the findings a fix is
// for. The new plan keeps sp's findings (and their ignore marks); its fix's reason quotes the
// refusal verbatim ("the server refused pass-through: MSG; falling back to
// externalTrafficPolicy: Cluster, ..."), and Patch is left nil for the caller to build, as after
// Decide. in must be the Input sp was decided from. ok is false, and sp comes back unchanged,
// when the strategy was forced, sp has no fix, or there is no other strategy to fall back to.
func Fallback(sp ServicePlan, in Input, refusal string) (ServicePlan, bool) {
	if in.Service == nil || sp.Fix == nil || (in.Strategy != "" && in.Strategy != StrategyAuto) {
		return sp, false
	}
	var other string
	switch sp.Fix.Strategy {
	case StrategyPassThrough:
		other = StrategyCluster
	case StrategyCluster:
		other = StrategyPassThrough
	default:
		return sp, false
	}
	info, probs := elb.Parse(in.Service)
	f := newFacts(in, matrix.MustDefault(), info, probs)
	cur := f.cur
	if !f.changes(other, cur) {
		return sp, false
	}
	if other == StrategyPassThrough && (f.passThroughRefusal() != "" || f.passThroughAutoBlock() != "") {
		return sp, false
	}
	if !f.outcome(other, cur).helps(f.signature(f.evaluate(cur))) {
		return sp, false
	}
	msg := strings.TrimSpace(refusal)
	if msg == "" {
		msg = "(no message)"
	}
	reason := fmt.Sprintf("the server refused %s: %s; falling back to %s", strategyWords(sp.Fix.Strategy), msg, strategyWords(other))
	switch other {
	case StrategyCluster:
		reason += ", which lets kube-proxy send in-cluster traffic to any endpoint"
	case StrategyPassThrough:
		reason += ", which sends in-cluster traffic for the ELB address through the ELB"
	}
	out := sp
	out.Fix = f.fix(other, reason, cur)
	out.Changed = f.changes(other, cur)
	out.Applied = false
	return out, true
}

// strategyWords names a strategy by the change it makes.
func strategyWords(strategy string) string {
	switch strategy {
	case StrategyCluster:
		return "externalTrafficPolicy: Cluster"
	case StrategyPassThrough:
		return "pass-through"
	}
	return strategy
}
