// The offline flow of svc (-f): plan manifests, never contact a cluster, write only with -o manifest or -i.

package cmd

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/manifest"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

func (o *SvcOptions) runOffline() error {
	set, err := manifest.Read(o.Filename, o.In, o.namespace)
	if err != nil {
		return err
	}
	cluster := detect.Offline(o.Overrides)
	refs := set.Services()
	// As online: the Services of the input that share an elb.id are planned together, and the
	// Events of the input are read for the Services they name.
	svcs := make([]*corev1.Service, len(refs))
	byKey := map[string]*manifest.ServiceRef{}
	for i, ref := range refs {
		svcs[i] = ref.Service
		byKey[ref.Service.Namespace+"/"+ref.Service.Name] = ref
	}
	groups := plan.GroupByELB(svcs)
	events := map[string][]corev1.Event{}
	for _, e := range set.Events() {
		if e.InvolvedObject.Kind == "Service" {
			key := e.InvolvedObject.Namespace + "/" + e.InvolvedObject.Name
			events[key] = append(events[key], e)
		}
	}
	// Plan every Service before any text changes, so that each decision sees the input as given.
	// Each plan depends only on its Service and the read-only groups and Events: plan them on
	// every core, as scan does.
	all := make([]*planned, len(svcs))
	elbCache := plan.NewELBCache() // each Service's ELB annotations parsed once, not once per Service of its ELB
	if err := parallelEach(len(svcs), func(i int) error {
		svc := svcs[i]
		in := plan.Input{Cluster: cluster, Service: svc, Strategy: o.Strategy, Offline: true, EndpointCount: -1,
			Events: events[svc.Namespace+"/"+svc.Name], SameELB: groups[svc.Annotations[elb.AnnID]], ELBCache: elbCache}
		p, err := planOne(in, nil)
		all[i] = p
		return err
	}); err != nil {
		return err
	}
	fixed := map[string]bool{}
	var pre []manifest.Patch // the fixes' patches, worked out on every core before they are applied in turn
	for _, p := range all {
		if p.sp.Changed {
			fixed[p.sp.Namespace+"/"+p.sp.Name] = true
			pre = append(pre, manifest.Patch{Ref: byKey[p.sp.Namespace+"/"+p.sp.Name], Patch: p.patch})
		}
	}
	set.PreparePatches(pre)
	for _, p := range all {
		ref := byKey[p.sp.Namespace+"/"+p.sp.Name]
		p.file = ref.Doc.File
		if p.sp.Changed {
			p.before = ref.Doc.Original()
			if err := ref.ApplyPatch(p.patch); err != nil {
				return fmt.Errorf("%s: service %s/%s: %v", ref.Doc.File, p.sp.Namespace, p.sp.Name, err)
			}
			p.after = ref.Doc.Bytes()
		}
		if p.sp.Fix == nil {
			continue
		}
		// The other Services of the same ELB in the input get the pass-through with it (IPVS).
		for _, a := range p.sp.Fix.AlsoPatch {
			key := a.Namespace + "/" + a.Name
			peer := byKey[key]
			if peer == nil || fixed[key] {
				continue
			}
			fixed[key] = true
			c := &companion{live: peer.Service, patch: []byte(a.Patch), before: peer.Doc.Original(), file: peer.Doc.File}
			if err := peer.ApplyPatch(c.patch); err != nil {
				return fmt.Errorf("%s: service %s: %v", peer.Doc.File, key, err)
			}
			c.result, c.after = peer.Service, peer.Doc.Bytes()
			p.also = append(p.also, c)
		}
	}
	if len(all) == 0 && o.Output != "manifest" {
		fmt.Fprintf(o.ErrOut, "no Services in %s\n", o.Filename)
	}
	if o.Output == "manifest" {
		if err := set.Write(o.Out); err != nil {
			return err
		}
		return o.exit(all)
	}
	if o.InPlace {
		if err := set.WriteInPlace(); err != nil {
			return err
		}
	}
	return o.print(cluster, all, "")
}
