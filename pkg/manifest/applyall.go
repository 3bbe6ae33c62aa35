package manifest

import (
	"go.yaml.in/yaml/v3"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
)

// Patch is a patch meant for a Service of the set (see ServiceRef.ApplyPatch).
type Patch struct {
	Ref   *ServiceRef
	Patch []byte
}

// ApplyPatches applies patches (each to its Service, at most one to a Service) as ApplyPatch
// applies them one after another, in order, with the same texts, Services and errors; it
// returns the index of the patch that failed with its error. The patches of one document are
// merged into its tree together, and its text edited and parsed once, on every core a document
// at a time: applied one after another, the n fixed Services of a List cost n parses (and n
// decodes) of the whole List. A document whose patches cannot be made together (one that fails,
// or needs the document written anew) gets them one after another, so its error is
// ApplyPatch's.
func (s *Set) ApplyPatches(patches []Patch) (int, error) {
	type docPatches struct {
		d   *Doc
		at  []int // indexes into patches
		ok  bool
		one bool // a Service patched twice: one after another
	}
	var docs []*docPatches
	byDoc := map[*Doc]*docPatches{}
	seen := map[*ServiceRef]bool{}
	for i, p := range patches {
		dp := byDoc[p.Ref.Doc]
		if dp == nil {
			dp = &docPatches{d: p.Ref.Doc}
			byDoc[p.Ref.Doc] = dp
			docs = append(docs, dp)
		}
		dp.at = append(dp.at, i)
		dp.one = dp.one || seen[p.Ref]
		seen[p.Ref] = true
	}
	_ = parallel.For(len(docs), func(k int) error {
		dp := docs[k]
		if dp.one || dp.d.set != s {
			return nil
		}
		refs := make([]*ServiceRef, len(dp.at))
		texts := make([][]byte, len(dp.at))
		for j, i := range dp.at {
			refs[j], texts[j] = patches[i].Ref, patches[i].Patch
		}
		dp.ok = dp.d.applyTogether(refs, texts)
		return nil
	})
	for i, p := range patches {
		if byDoc[p.Ref.Doc].ok {
			continue
		}
		if err := p.Ref.ApplyPatch(p.Patch); err != nil {
			return i, err
		}
	}
	return -1, nil
}

// applyTogether merges the patches into the objects refs name (one each) in one edit of the
// document, and takes the result if the new text reads back as the patched tree and every
// patched object as a Service, as applyPatch checks one patch; else it changes nothing and
// returns false.
func (d *Doc) applyTogether(refs []*ServiceRef, patches [][]byte) (ok bool) {
	parsed := make([]*yaml.Node, len(patches))
	for i, p := range patches {
		n, err := parsePatch(p)
		if err != nil {
			return false
		}
		parsed[i] = n
	}
	defer func() {
		if r := recover(); r != nil {
			ok = false
		}
		if !ok {
			_ = d.parse() // the tree was changed in place
			d.set.release(d)
		}
	}()
	w := d.newWalker()
	var items []int        // of the objects a patch changed
	var took []*ServiceRef // their refs
	for i, r := range refs {
		target := (&Object{Doc: d, Item: r.Item}).Node()
		if target == nil || target.Kind != yaml.MappingNode {
			return false
		}
		w.changed = false
		if err := w.merge(target, parsed[i], "", target.Style&yaml.FlowStyle != 0, nil, -1); err != nil {
			return false
		}
		if w.changed {
			items, took = append(items, r.Item), append(took, r)
		}
	}
	if len(took) == 0 {
		_ = d.parse() // as applyPatch does: the tree is taken from the text again
		d.set.release(d)
		return true
	}
	if !w.surgical {
		return false
	}
	text, fine := w.ed.finish()
	if !fine {
		return false
	}
	node, spans, valueOff, isJSON, err := parseDocText(text)
	if err != nil || !sameTree(docRoot(node), docRoot(d.Node()), 0) {
		return false
	}
	svcs, err := d.take(text, node, spans, valueOff, isJSON, items)
	if err != nil {
		return false
	}
	for i, r := range took {
		r.took(svcs[i])
	}
	d.set.release(d)
	return true
}
