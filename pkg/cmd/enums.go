package cmd

import (
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/policy"
)

// enumFlag is a flag with a fixed set of values: one table gives its help, its validation and
// its shell completion, so the three cannot drift apart.
type enumFlag struct {
	name   string
	values []string // "" allowed when listed (the default of -o)
	help   string   // what the flag does; the values are appended
}

// The enum flags of the commands.
var (
	dryRunFlag = enumFlag{"dry-run", []string{engine.DryRunNone, engine.DryRunClient, engine.DryRunServer},
		"client: compute the change locally; server: send the patch with dryRun=All and show the server's answer. Nothing is written. Bare --dry-run means client"}
	strategyFlag = enumFlag{"strategy", []string{plan.StrategyAuto, plan.StrategyPassThrough, plan.StrategyCluster},
		"The fix: pass-through sets the annotation kubernetes.io/elb.pass-through, cluster sets externalTrafficPolicy: Cluster, auto picks the one that clears the failing cells"}
	svcOutputFlag = enumFlag{"output", []string{"", "json", "yaml", "patch", "manifest"},
		"Output format (default: human-readable)"}
	scanOutputFlag = enumFlag{"output", []string{"", "wide", "json", "yaml", "patch"},
		"Output format (default: a table; wide: more columns)"}
	detectOutputFlag = enumFlag{"output", []string{"", "json", "yaml"},
		"Output format (the Plan document's cluster object; default: human-readable)"}
	versionOutputFlag = enumFlag{"output", []string{"", "json", "yaml"}, "Output format (default: one line)"}
	policyModeFlag    = enumFlag{"mode", policy.Modes,
		"What the bindings do with a finding: warn returns it as a warning, audit records it in the audit log, deny refuses error findings (the others are warnings)"}
	policyOutputFlag = enumFlag{"output", []string{"", "yaml", "json"}, "Output format (default: yaml, with the notes as comments; json: a v1 List)"}
	failOnFlag       = enumFlag{"fail-on", []string{plan.SeverityError, plan.SeverityWarning, plan.SeverityInfo, "never"},
		"Lowest severity that makes the exit code 1"}
)

// choices lists the values a user can type.
func (e enumFlag) choices() []string {
	var out []string
	for _, v := range e.values {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// usage is the flag's help: what it does, and its values.
func (e enumFlag) usage() string {
	return e.help + "; one of: " + strings.Join(e.choices(), ", ")
}

// validate refuses a value not in the table, naming the allowed ones (exit 2).
func (e enumFlag) validate(v string) error {
	if slices.Contains(e.values, v) {
		return nil
	}
	return usageErrorf("invalid value %q for --%s: must be one of %s", v, e.name, strings.Join(e.choices(), ", "))
}

// add defines the flag on c (short may be "") with its default, and its completion.
func (e enumFlag) add(c *cobra.Command, p *string, short, def string) {
	c.Flags().StringVarP(p, e.name, short, def, e.usage())
	registerEnumCompletion(c, e.name, e.choices()...)
}
