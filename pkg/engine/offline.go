// The offline flow of svc (-f): plan manifests, never contact a cluster, write only with -o manifest or -i.

package engine

import (
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/manifest"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// Offline is one run of `svc -f`: the Services of manifest files, planned with the facts
// given (nothing is detected), never a cluster contacted.
type Offline struct {
	// Filename is a file, a directory or "-" (In); Namespace is for objects that name none.
	Filename  string
	In        io.Reader
	Namespace string
	Strategy  string
	Overrides detect.Overrides
	// InPlace writes each changed file back, every other byte kept.
	InPlace bool
	// Lean keeps of each plan only what writing the manifests needs (the Service's name, Changed,
	// the fix's strategy, patch and alsoPatch), for a caller that prints no plan (-o manifest):
	// the findings of a stream of 50,000 Services are then garbage as soon as they are decided,
	// not held until the end (they were half of the live memory).
	Lean bool
}

// OfflineResult is the plans and the manifests, with the fixes applied to their text.
type OfflineResult struct {
	Result
	Manifests *manifest.Set
}

// Run reads the manifests, plans every Service, applies the fixes to the text (and, with
// InPlace, writes the changed files).
func (o *Offline) Run() (*OfflineResult, error) {
	if manifest.IsStdin(o.Filename) && o.Lean && !o.InPlace {
		return o.runStream()
	}
	set, err := manifest.Read(o.Filename, o.In, o.Namespace)
	if err != nil {
		return nil, err
	}
	cluster := detect.Offline(o.Overrides)
	refs := set.Services()
	// As online: the Services of the input that share an elb.id are planned together, and the
	// Events of the input are read for the Services they name.
	svcs := make([]*corev1.Service, len(refs))
	keys := make([]string, len(refs))
	for i, ref := range refs {
		svcs[i] = ref.Service
		keys[i] = ref.Service.Namespace + "/" + ref.Service.Name
	}
	groups := plan.GroupByELB(svcs)
	events := map[string][]corev1.Event{}
	for _, e := range set.Events() {
		addEvent(events, e)
	}
	// Plan every Service before any text changes, so that each decision sees the input as given.
	// Each plan depends only on its Service and the read-only groups and Events: plan them on
	// every core, as scan does.
	all := make([]*Planned, len(svcs))
	elbCache := plan.NewELBCache() // each Service's ELB annotations parsed once, not once per Service of its ELB
	if err := parallel.For(len(svcs), func(i int) error {
		svc := svcs[i]
		p, err := planOne(o.input(cluster, svc, events[keys[i]], groups[svc.Annotations[elb.AnnID]], elbCache), nil)
		if err == nil && o.Lean {
			p.slim()
		}
		all[i] = p
		return err
	}); err != nil {
		return nil, err
	}
	if err := applyAll(set, refs, keys, all); err != nil {
		return nil, err
	}
	if o.InPlace {
		if err := set.WriteInPlace(); err != nil {
			return nil, err
		}
	}
	return &OfflineResult{Result: Result{Cluster: cluster, Plans: all}, Manifests: set}, nil
}

// input is what the decision for one Service of the manifests reads.
func (o *Offline) input(cluster plan.Cluster, svc *corev1.Service, events []corev1.Event, same []*corev1.Service, cache *plan.ELBCache) plan.Input {
	return plan.Input{Cluster: cluster, Service: svc, Strategy: o.Strategy, Offline: true, EndpointCount: -1,
		Events: events, SameELB: same, ELBCache: cache}
}

// addEvent files an Event of the input under the Service it names, if it names one.
func addEvent(events map[string][]corev1.Event, e corev1.Event) {
	if e.InvolvedObject.Kind == "Service" {
		key := e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
		events[key] = append(events[key], e)
	}
}

// applyAll applies the plans' fixes (all[i] is refs[i]'s, keys[i] its namespace/name) to the
// manifests' text, plan after plan, each fix and then its companions, with
// manifest.ApplyPatches: the fixes of one document (a List's Services) are made in one edit of
// it, not one after another. A plan (and a companion) of a document that holds only its
// Service shows that document's text before and after (Before, After); one of a List shows
// its object's (Live, Result), as online, not the whole List.
func applyAll(set *manifest.Set, refs []*manifest.ServiceRef, keys []string, all []*Planned) error {
	byKey := make(map[string]*manifest.ServiceRef, len(refs))
	for i, ref := range refs {
		byKey[keys[i]] = ref
	}
	fixed := map[string]bool{}
	for _, p := range all {
		if p.Plan.Changed {
			fixed[p.Plan.Namespace+"/"+p.Plan.Name] = true
		}
	}
	var patches []manifest.Patch
	var whose []string // the message's words for each patch
	var companions []*Companion
	var refsOf []*manifest.ServiceRef // of each companion
	for _, p := range all {
		ref := byKey[p.Plan.Namespace+"/"+p.Plan.Name]
		if p.Plan.Changed {
			patches = append(patches, manifest.Patch{Ref: ref, Patch: p.Patch})
			whose = append(whose, fmt.Sprintf("%s: service %s/%s", ref.Doc.File, p.Plan.Namespace, p.Plan.Name))
		}
		_ = eachCompanion(p, byKey, fixed, func(key string, peer *manifest.ServiceRef, patch []byte) error {
			c := &Companion{Live: peer.Service, Patch: patch, File: peer.Doc.File}
			patches = append(patches, manifest.Patch{Ref: peer, Patch: c.Patch})
			whose = append(whose, fmt.Sprintf("%s: service %s", peer.Doc.File, key))
			p.Also = append(p.Also, c)
			companions, refsOf = append(companions, c), append(refsOf, peer)
			return nil
		})
	}
	if at, err := set.ApplyPatches(patches); err != nil {
		return fmt.Errorf("%s: %v", whose[at], err)
	}
	for _, p := range all {
		ref := byKey[p.Plan.Namespace+"/"+p.Plan.Name]
		p.File = ref.Doc.File
		if p.Plan.Changed && ref.Item < 0 {
			p.Before, p.After = ref.Doc.Original(), ref.Doc.Bytes()
		}
	}
	for i, c := range companions {
		ref := refsOf[i]
		if c.Result = ref.Service; ref.Item < 0 {
			c.Before, c.After = ref.Doc.Original(), ref.Doc.Bytes()
		}
	}
	return nil
}

// eachCompanion calls f, in order, with each Service of the input that p's fix also patches
// (alsoPatch) and that neither a fix of its own nor an earlier fix's companion patches, marking
// it fixed.
func eachCompanion(p *Planned, byKey map[string]*manifest.ServiceRef, fixed map[string]bool, f func(key string, peer *manifest.ServiceRef, patch []byte) error) error {
	if p.Plan.Fix == nil {
		return nil
	}
	for _, a := range p.Plan.Fix.AlsoPatch {
		key := a.Namespace + "/" + a.Name
		peer := byKey[key]
		if peer == nil || fixed[key] {
			continue
		}
		fixed[key] = true
		if err := f(key, peer, []byte(a.Patch)); err != nil {
			return err
		}
	}
	return nil
}

// slim drops what only printing a plan needs: its findings, notes and words, and the objects
// the decision saw. What is left is what applying it to the manifests and the exit status read.
func (p *Planned) slim() {
	sp := p.Plan
	p.Plan = plan.ServicePlan{Namespace: sp.Namespace, Name: sp.Name, Changed: sp.Changed}
	if sp.Fix != nil {
		p.Plan.Fix = &plan.Fix{Strategy: sp.Fix.Strategy, PatchType: sp.Fix.PatchType, Patch: sp.Fix.Patch, AlsoPatch: sp.Fix.AlsoPatch}
	}
	p.in, p.Result = plan.Input{}, nil
}
