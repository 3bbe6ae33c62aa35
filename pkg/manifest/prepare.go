package manifest

import (
	"bytes"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
)

// Patch is a patch meant for a Service of the set (see ServiceRef.ApplyPatch).
type Patch struct {
	Ref   *ServiceRef
	Patch []byte
}

// prepared is the outcome of a patch worked out ahead on a copy of a document (PreparePatches).
type prepared struct {
	item    int
	patch   []byte
	gen     uint64 // the document's text generation it was worked out on
	changed bool
	svc     *corev1.Service
	err     error
	result  *Doc // the copy, patched
}

// PreparePatches works out on every core what ApplyPatch would do with each patch on the set as
// it is now, without changing anything. Applying a patch edits and parses again the document,
// which costs about as much as reading it: a caller about to apply many patches one after another
// lets them be worked out together first. ApplyPatch then takes the outcome when it is called
// with the same patch for the same Service while its document is still as it was here, and works
// it out anew otherwise; the result is the same either way. Only the first patch of each document
// is worked out ahead (the others would see the document before the first one).
func (s *Set) PreparePatches(patches []Patch) {
	var docs []*Doc
	var todo []Patch
	seen := map[*Doc]bool{}
	for _, p := range patches {
		if p.Ref == nil || p.Ref.Doc == nil || p.Ref.Doc.set != s || seen[p.Ref.Doc] {
			continue
		}
		seen[p.Ref.Doc] = true
		docs, todo = append(docs, p.Ref.Doc), append(todo, p)
	}
	out := make([]*prepared, len(todo))
	_ = parallel.For(len(todo), func(i int) error {
		out[i] = docs[i].prepare(todo[i].Ref.Item, todo[i].Patch)
		return nil
	})
	for i, d := range docs {
		d.prepared = out[i] // nil when the document could not be copied
	}
}

// prepare applies a patch to a copy of the document. The copy takes the document's tree, which
// the patch changes: the document parses its text again if it needs a tree before ApplyPatch
// takes the copy's (Node).
func (d *Doc) prepare(item int, patch []byte) *prepared {
	c := &Doc{File: d.File, Index: d.Index, Line: d.Line, set: d.set, orig: d.orig, text: d.text, startLine: d.startLine}
	if d.node != nil {
		node, spans := d.node, d.spans
		d.dropTree()
		if err := c.load(node, spans, d.valueOff, d.JSON); err != nil {
			return nil
		}
	} else if err := c.parse(); err != nil {
		return nil
	}
	changed, svc, err := c.applyPatch(item, patch)
	return &prepared{item: item, patch: bytes.Clone(patch), gen: d.gen, changed: changed, svc: svc, err: err, result: c}
}

// takePrepared returns the outcome worked out ahead for this patch, if there is one and the
// document has not changed since; the document then becomes the patched copy's.
func (d *Doc) takePrepared(item int, patch []byte) (ok, changed bool, svc *corev1.Service, err error) {
	p := d.prepared
	d.prepared = nil
	if p == nil || p.item != item || p.gen != d.gen || !bytes.Equal(p.patch, patch) {
		return false, false, nil, nil
	}
	if p.err != nil || !p.changed {
		return true, false, nil, p.err
	}
	r := p.result
	old := d.text
	d.text = r.text
	if err := d.load(r.node, r.spans, r.valueOff, r.JSON); err != nil {
		d.text = old
		return true, false, nil, err
	}
	d.gen++
	return true, true, p.svc, nil
}
