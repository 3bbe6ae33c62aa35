// svc's output: the Plan document, the patches, the fixed objects, or the report for a person.

package cmd

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/engine"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/patch"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/report"
)

func (o *SvcOptions) print(cluster plan.Cluster, all []*engine.Planned, suffix string) error {
	doc := engine.Document(cluster, all)
	switch o.Output {
	case "json", "yaml":
		if err := report.WritePlan(o.Out, doc, o.Output); err != nil {
			return err
		}
	case "patch":
		for _, p := range all {
			if p.Plan.Changed {
				fmt.Fprintln(o.Out, string(p.Patch))
			}
			for _, c := range p.Also {
				fmt.Fprintln(o.Out, string(c.Patch))
			}
		}
	case "manifest":
		var objs []*corev1.Service
		for _, p := range all {
			objs = append(objs, p.Result)
			for _, c := range p.Also {
				objs = append(objs, c.Result)
			}
		}
		for i, obj := range objs {
			if i > 0 {
				fmt.Fprintln(o.Out, "---")
			}
			b, err := objectYAML(obj)
			if err != nil {
				return err
			}
			o.Out.Write(b)
		}
	default:
		differ := patch.NewDiffer(o.Out, o.ErrOut, o.color)
		if o.Explain {
			report.WriteCluster(o.Out, cluster)
		} else {
			differ.Context = 1
			report.WriteClusterLine(o.Out, cluster)
		}
		// Services of this run that another one's fix patches with it (same ELB).
		with := map[string]string{}
		for _, p := range all {
			for _, c := range p.Also {
				with[c.Live.Namespace+"/"+c.Live.Name] = p.Plan.Namespace + "/" + p.Plan.Name
			}
		}
		for i, p := range all {
			if o.Explain || i > 0 {
				fmt.Fprintln(o.Out)
			}
			if o.Explain {
				report.WriteService(o.Out, p.Plan)
			} else {
				report.WriteServiceShort(o.Out, p.Plan)
			}
			if o.ExplainHealth {
				fmt.Fprintln(o.Out)
				fmt.Fprintln(o.Out, strings.TrimRight(plan.ExplainHealthCheck(p.Live), "\n"))
				fmt.Fprintln(o.Out)
			}
			if p.Plan.Changed {
				if p.Before != nil {
					if _, err := differ.Diff(patch.DiffName(p.Plan.Namespace, p.Plan.Name), p.Before, p.After); err != nil {
						return err
					}
				} else if err := diffObjects(differ, p.Live, p.Result); err != nil {
					return err
				}
			}
			if by := with[p.Plan.Namespace+"/"+p.Plan.Name]; by != "" && !p.Plan.Changed {
				verb := "pass-through set"
				if o.Filename != "" && !o.InPlace {
					verb = "would get pass-through"
				}
				fmt.Fprintln(o.Out, strings.TrimSpace(fmt.Sprintf("service/%s: %s with service %s (same ELB, above) %s", p.Plan.Name, verb, by, suffix)))
			} else {
				fmt.Fprintln(o.Out, o.statusLine(p.Plan.Name, p.Plan.Changed, p.Plan.Fix, p.File, suffix))
			}
			for _, c := range p.Also {
				fmt.Fprintf(o.Out, "service/%s (namespace %s) is on the same ELB %s: it gets the same pass-through\n", c.Live.Name, c.Live.Namespace, p.Plan.ELBID)
				if c.Before != nil {
					if _, err := differ.Diff(patch.DiffName(c.Live.Namespace, c.Live.Name), c.Before, c.After); err != nil {
						return err
					}
				} else if err := diffObjects(differ, c.Live, c.Result); err != nil {
					return err
				}
				fmt.Fprintln(o.Out, o.statusLine(c.Live.Name, true, &plan.Fix{Strategy: plan.StrategyPassThrough}, c.File, suffix))
			}
		}
	}
	return o.exit(all)
}

// statusLine says what this run did to one Service: online as kubectl says it ("patched (dry
// run)"); offline never "patched", since nothing was written: what would change and how to
// write it, or, with --in-place, which file was written.
func (o *SvcOptions) statusLine(name string, changed bool, fix *plan.Fix, file, suffix string) string {
	if o.Filename == "" {
		verb := "unchanged"
		if changed {
			verb = "patched"
		}
		return strings.TrimSpace(fmt.Sprintf("service/%s %s %s", name, verb, suffix))
	}
	switch {
	case !changed || fix == nil:
		return fmt.Sprintf("service/%s: nothing to change", name)
	case o.InPlace:
		return fmt.Sprintf("service/%s: %s, written to %s", name, report.ChangeWords(fix.Strategy), file)
	}
	return fmt.Sprintf("service/%s: would %s; write it with -o manifest or --in-place", name, report.ChangeWords(fix.Strategy))
}

func diffObjects(differ *patch.Differ, live, result *corev1.Service) error {
	a, err := objectYAML(live)
	if err != nil {
		return err
	}
	b, err := objectYAML(result)
	if err != nil {
		return err
	}
	_, err = differ.Diff(patch.DiffName(live.Namespace, live.Name), a, b)
	return err
}

func objectYAML(svc *corev1.Service) ([]byte, error) {
	obj := svc.DeepCopy()
	obj.APIVersion, obj.Kind = "v1", "Service"
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return patch.CleanYAML(b)
}
