package manifest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
)

// ApplyPatch applies a strategic merge patch to the Service in the manifest. The patch is a JSON
// object of nested objects with scalar leaves (null deletes a key), as the plugin produces, e.g.
// {"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}; lists and patch
// directives ($patch, $retainKeys, $setElementOrder/..., ...) are refused. The document's text is
// edited in place (see the package comment), the document is parsed again and r.Service is
// decoded anew. On error nothing changes. A patch that changes nothing leaves the text as it was.
func (r *ServiceRef) ApplyPatch(patch []byte) error {
	changed, svc, err := r.Doc.applyPatch(r.Item, patch)
	if r.Doc.set != nil {
		// A lean read keeps no tree after a patch either: the patched text is parsed again for
		// the next patch of the document, if there is one.
		r.Doc.set.release(r.Doc)
	}
	if err != nil {
		return err
	}
	if changed {
		r.took(svc)
	}
	return nil
}

// took records that a patch changed the Service, now svc.
func (r *ServiceRef) took(svc *corev1.Service) {
	r.changed = true
	if r.Doc.set != nil && r.Doc.set.stream {
		return // a stream keeps no decoded Service (ReadStream)
	}
	r.Service = svc
	if r.Item < 0 {
		r.Doc.svc = svc
	}
}

// parsePatch reads a patch into a node tree (keys in the patch's order) and checks its shape.
func parsePatch(patch []byte) (*yaml.Node, error) {
	p := newJSONParser(patch, 0)
	root, err := p.parseValue()
	if err != nil {
		var je *jsonError
		if errors.As(err, &je) {
			return nil, fmt.Errorf("invalid patch: %s at offset %d", je.msg, je.off)
		}
		return nil, fmt.Errorf("invalid patch: %v", err)
	}
	p.skipSpace()
	if p.pos != len(patch) {
		return nil, fmt.Errorf("invalid patch: unexpected data after the JSON object at offset %d", p.pos)
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("invalid patch: want a JSON object, found %s", describeNode(root))
	}
	var check func(n *yaml.Node, path string) error
	check = func(n *yaml.Node, path string) error {
		switch n.Kind {
		case yaml.SequenceNode:
			return fmt.Errorf("unsupported patch: %s is a list; only objects and scalar values can be patched here", pathOr(path))
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				sub := joinPath(path, k)
				if strings.HasPrefix(k, "$") {
					return fmt.Errorf("unsupported patch: the directive %q (at %s) is not supported; only plain merges of objects and scalars", k, pathOr(path))
				}
				if err := check(n.Content[i+1], sub); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := check(root, ""); err != nil {
		return nil, err
	}
	return root, nil
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func pathOr(path string) string {
	if path == "" {
		return "the patch"
	}
	return path
}

// editor turns changes of the node tree into edits of the document's text. Each method is called
// before the tree changes and reports false when it cannot express the change as an edit.
type editor interface {
	replace(m *yaml.Node, i int, v *yaml.Node) bool // the value of the pair at key index i becomes v
	add(m *yaml.Node, k, v *yaml.Node) bool         // a pair is appended
	remove(m *yaml.Node, i int) bool                // the pair at key index i goes
	emptied(parent *yaml.Node, i int) bool          // the mapping valued at key index i lost all its pairs
	finish() ([]byte, bool)                         // the edited text
}

// edit replaces src[start:end] with text. Insertions at one offset go in prio order, then in
// the order they were made: a mapping nested deeper ends where its parent ends, and its new
// lines must come first.
type edit struct {
	start, end int
	text       string
	prio       int
	seq        int
}

// applyEdits applies non-overlapping edits; false when two overlap.
func applyEdits(src []byte, edits []edit) ([]byte, bool) {
	sorted := append([]edit(nil), edits...)
	for i := 1; i < len(sorted); i++ { // insertion sort: few edits, stable
		for j := i; j > 0 && less(sorted[j], sorted[j-1]); j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	var out []byte
	prev := 0
	for _, e := range sorted {
		if e.start < prev || e.end < e.start || e.end > len(src) {
			return nil, false
		}
		out = append(out, src[prev:e.start]...)
		out = append(out, e.text...)
		prev = e.end
	}
	return append(out, src[prev:]...), true
}

func less(a, b edit) bool {
	if a.start != b.start {
		return a.start < b.start
	}
	if a.end != b.end {
		return a.end < b.end
	}
	if a.prio != b.prio {
		return a.prio < b.prio
	}
	return a.seq < b.seq
}

// walker merges a patch into the node tree, telling the editor about every change.
type walker struct {
	ed        editor
	json      bool
	surgical  bool // every change could be made as a text edit
	changed   bool
	prefQuote yaml.Style
}

// merge merges patch mapping p into mapping m, the value at key index pi of parent (nil for the
// object itself).
func (w *walker) merge(m, p *yaml.Node, path string, flow bool, parent *yaml.Node, pi int) error {
	if m.Anchor != "" {
		return fmt.Errorf("cannot patch %s: it is a YAML anchor (&%s) that aliases elsewhere share; edit the manifest by hand", pathOr(path), m.Anchor)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "<<" && k.ShortTag() == "!!merge" {
			return fmt.Errorf("cannot patch %s: it uses a YAML merge key (<<); edit the manifest by hand", pathOr(path))
		}
	}
	hadPairs := len(m.Content) > 0
	for i := 0; i+1 < len(p.Content); i += 2 {
		key, pv := p.Content[i].Value, p.Content[i+1]
		sub := joinPath(path, key)
		idx := -1
		for j := 0; j+1 < len(m.Content); j += 2 {
			if k := m.Content[j]; k.Kind == yaml.ScalarNode && k.Value == key && k.ShortTag() != "!!merge" {
				idx = j
				break
			}
		}
		var cur *yaml.Node
		if idx >= 0 {
			cur = m.Content[idx+1]
			if cur.Anchor != "" {
				return fmt.Errorf("cannot patch %s: it is a YAML anchor (&%s) that aliases elsewhere share; edit the manifest by hand", sub, cur.Anchor)
			}
		}
		if path == "" && (key == "apiVersion" || key == "kind") {
			if cur == nil || pv.Kind != yaml.ScalarNode || cur.Kind != yaml.ScalarNode || pv.Value != cur.Value {
				return fmt.Errorf("unsupported patch: it would change the object's %s", key)
			}
			continue
		}
		switch {
		case pv.Kind == yaml.ScalarNode && pv.ShortTag() == "!!null":
			if idx < 0 {
				continue
			}
			w.note(w.ed.remove(m, idx))
			m.Content = append(m.Content[:idx:idx], m.Content[idx+2:]...)
		case pv.Kind == yaml.MappingNode:
			if cur != nil && cur.Kind == yaml.MappingNode {
				if err := w.merge(cur, pv, sub, flow || cur.Style&yaml.FlowStyle != 0, m, idx); err != nil {
					return err
				}
				continue
			}
			if cur != nil && cur.Kind == yaml.AliasNode {
				return fmt.Errorf("cannot patch %s: it is a YAML alias (*%s); edit the manifest by hand", sub, cur.Value)
			}
			if emptyMerge(pv) && (cur == nil || (cur.Kind == yaml.ScalarNode && cur.ShortTag() == "!!null")) {
				continue // deleting keys of a mapping that is not there
			}
			nv := w.build(pv, nil, w.valueFlow(m, cur, flow))
			w.set(m, idx, cur, key, nv, flow)
		default: // scalar
			if cur != nil && sameScalar(cur, pv) {
				continue
			}
			nv := w.build(pv, cur, w.valueFlow(m, cur, flow))
			w.set(m, idx, cur, key, nv, flow)
		}
		w.changed = true
	}
	if len(m.Content) == 0 && hadPairs && parent != nil {
		w.note(w.ed.emptied(parent, pi))
	}
	return nil
}

// set puts value nv under key in mapping m: in place of the current value cur (at m.Content[idx+1])
// or, when there is none, as a new key at the end of the mapping; the text edit follows the tree.
func (w *walker) set(m *yaml.Node, idx int, cur *yaml.Node, key string, nv *yaml.Node, flow bool) {
	if cur != nil {
		w.note(w.ed.replace(m, idx, nv))
		m.Content[idx+1] = nv
		return
	}
	nk := w.key(key, flow || m.Style&yaml.FlowStyle != 0)
	w.note(w.ed.add(m, nk, nv))
	m.Content = append(m.Content, nk, nv)
}

func (w *walker) note(ok bool) {
	if !ok {
		w.surgical = false
	}
}

// valueFlow tells whether a value replacing cur in mapping m is written in flow style.
func (w *walker) valueFlow(m, cur *yaml.Node, flow bool) bool {
	if flow || m.Style&yaml.FlowStyle != 0 {
		return true
	}
	if cur == nil {
		return false
	}
	switch cur.Kind {
	case yaml.AliasNode:
		return true
	case yaml.MappingNode, yaml.SequenceNode:
		return cur.Style&yaml.FlowStyle != 0
	}
	return false
}

// key builds a new key node.
func (w *walker) key(k string, flow bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}
	if w.json {
		n.Style = yaml.DoubleQuotedStyle
	} else {
		n.Style = chooseStyle(nil, k, flow, w.prefQuote)
	}
	return n
}

// build turns a patch value into a new node (nulls inside a new mapping are dropped); cur is the
// value it replaces, whose quote style a string keeps when it can.
func (w *walker) build(pv, cur *yaml.Node, flow bool) *yaml.Node {
	if pv.Kind == yaml.MappingNode {
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if flow || w.json {
			n.Style = yaml.FlowStyle
		}
		for i := 0; i+1 < len(pv.Content); i += 2 {
			if v := pv.Content[i+1]; isNull(v) || emptyMerge(v) {
				continue
			}
			n.Content = append(n.Content, w.key(pv.Content[i].Value, flow), w.build(pv.Content[i+1], nil, flow))
		}
		return n
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: pv.Tag, Value: pv.Value}
	switch pv.Tag {
	case "!!str":
		if w.json {
			n.Style = yaml.DoubleQuotedStyle
		} else {
			n.Style = chooseStyle(cur, pv.Value, flow, w.prefQuote)
		}
	case "!!float":
		if !w.json {
			n.Value = yamlFloat(pv.Value)
		}
	}
	return n
}

// emptyMerge reports whether a patch mapping has entries, all of them deletions or mappings
// that are themselves empty merges: merged into nothing, it gives nothing (not an empty mapping).
func emptyMerge(pv *yaml.Node) bool {
	if pv.Kind != yaml.MappingNode || len(pv.Content) == 0 {
		return false
	}
	for i := 1; i < len(pv.Content); i += 2 {
		if v := pv.Content[i]; !isNull(v) && !emptyMerge(v) {
			return false
		}
	}
	return true
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" }

// yamlFloat writes a JSON number so that YAML 1.1 (kubectl) and 1.2 both read a float.
func yamlFloat(s string) string {
	if !strings.ContainsAny(s, "eE") && strings.Contains(s, ".") {
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	out := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(out, ".") {
		out += ".0"
	}
	return out
}

// sameScalar reports whether the document's value cur already equals the patch's scalar pv.
func sameScalar(cur, pv *yaml.Node) bool {
	if cur.Kind != yaml.ScalarNode {
		return false
	}
	ct, pt := cur.ShortTag(), pv.ShortTag()
	switch {
	case ct == "!!str" && pt == "!!str":
		return cur.Value == pv.Value
	case ct == "!!bool" && pt == "!!bool":
		return strings.EqualFold(cur.Value, pv.Value)
	case (ct == "!!int" || ct == "!!float") && (pt == "!!int" || pt == "!!float"):
		if cur.Value == pv.Value {
			return true
		}
		if ct != pt {
			return false
		}
		a, err1 := strconv.ParseFloat(cur.Value, 64)
		b, err2 := strconv.ParseFloat(pv.Value, 64)
		return err1 == nil && err2 == nil && a == b
	}
	return false
}

// needsQuote reports whether a string written plain would read as something else (a bool, a
// number, null, ... in YAML 1.2 or 1.1) or would not parse; in flow style, also when it holds a
// flow indicator.
func needsQuote(s string, flow bool) bool {
	if s == "" {
		return true
	}
	if flow && strings.ContainsAny(s, ",[]{}") {
		return true
	}
	if len(s) <= maxQuoteMemo {
		if q, ok := quoteMemo.Load(s); ok {
			return q.(bool)
		}
	}
	out, err := yaml.Marshal(s)
	q := err != nil || string(out) != s+"\n"
	if len(s) <= maxQuoteMemo && quoteMemoLen.Add(1) <= maxQuoteMemoLen {
		quoteMemo.Store(s, q)
	}
	return q
}

// quoteMemo remembers needsQuote's yaml.Marshal verdict on short strings (a fix writes the same
// few values into thousands of documents, and an encoder costs more than a document's edit).
var (
	quoteMemo    sync.Map // string → bool
	quoteMemoLen atomic.Int64
)

const (
	maxQuoteMemo    = 64   // bytes of a string remembered
	maxQuoteMemoLen = 4096 // strings remembered
)

// singleQuotable reports whether s can be written in single quotes on one line.
func singleQuotable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0x85 || r == 0x2028 || r == 0x2029 || r == 0xFEFF || r == 0xFFFD {
			return false
		}
	}
	return true
}

// chooseStyle picks the style of a new string: the quotes of the value it replaces when they can
// hold it, plain when plain reads back as the same string, else the document's usual quotes.
func chooseStyle(cur *yaml.Node, s string, flow bool, pref yaml.Style) yaml.Style {
	var curStyle yaml.Style
	if cur != nil && cur.Kind == yaml.ScalarNode {
		curStyle = cur.Style & (yaml.SingleQuotedStyle | yaml.DoubleQuotedStyle)
	}
	switch {
	case curStyle == yaml.SingleQuotedStyle && singleQuotable(s):
		return yaml.SingleQuotedStyle
	case curStyle == yaml.DoubleQuotedStyle:
		return yaml.DoubleQuotedStyle
	case !needsQuote(s, flow):
		return 0
	case pref == yaml.SingleQuotedStyle && singleQuotable(s):
		return yaml.SingleQuotedStyle
	}
	return yaml.DoubleQuotedStyle
}

// preferredQuote is the quote style a document uses: single when it has single-quoted strings
// (that hold no double quote) and no double-quoted ones, else double.
func preferredQuote(root *yaml.Node) yaml.Style {
	single, double := 0, 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		// A string holding one kind of quote says nothing about taste: it is quoted with the other.
		if n.Kind == yaml.ScalarNode {
			switch {
			case n.Style&yaml.SingleQuotedStyle != 0 && !strings.Contains(n.Value, `"`):
				single++
			case n.Style&yaml.DoubleQuotedStyle != 0 && !strings.Contains(n.Value, `'`):
				double++
			}
		}
		if n.Kind == yaml.AliasNode {
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	if single > 0 && double == 0 {
		return yaml.SingleQuotedStyle
	}
	return yaml.DoubleQuotedStyle
}

// renderScalar writes a scalar node as YAML in its style.
func renderScalar(n *yaml.Node) string {
	switch {
	case n.Style&yaml.DoubleQuotedStyle != 0:
		return strconv.Quote(n.Value)
	case n.Style&yaml.SingleQuotedStyle != 0:
		return "'" + strings.ReplaceAll(n.Value, "'", "''") + "'"
	}
	return n.Value
}

// newWalker is a walker that edits the document's text in its own syntax and quote style.
func (d *Doc) newWalker() *walker {
	w := &walker{json: d.JSON, surgical: true}
	if d.JSON {
		w.ed = newJSONEditor(d)
	} else {
		w.prefQuote = preferredQuote(docRoot(d.Node()))
		w.ed = newYAMLEditor(d)
	}
	return w
}

// applyPatch applies a patch to the object at item (-1: the document) and returns whether the
// text changed and the Service decoded from the new text.
func (d *Doc) applyPatch(item int, patch []byte) (changed bool, svc *corev1.Service, err error) {
	p, err := parsePatch(patch)
	if err != nil {
		return false, nil, err
	}
	// The tree is changed in place; whatever happens, it is parsed again from the final text.
	defer func() {
		if r := recover(); r != nil {
			changed, svc, err = false, nil, fmt.Errorf("cannot apply the patch: %v", r)
		}
		if !changed {
			_ = d.parse()
		}
	}()
	target := (&Object{Doc: d, Item: item}).Node()
	if target == nil || target.Kind != yaml.MappingNode {
		return false, nil, errors.New("the object is no longer in the document")
	}
	w := d.newWalker()
	if err := w.merge(target, p, "", target.Style&yaml.FlowStyle != 0, nil, -1); err != nil {
		return false, nil, err
	}
	if !w.changed {
		return false, nil, nil
	}
	// The new text is parsed once: it must read back as the patched tree, then as a document and
	// as a Service, before it is taken (the same tree then becomes the document's).
	var text []byte
	var node *yaml.Node
	var spans map[*yaml.Node]span
	var valueOff int
	var isJSON bool
	if w.surgical {
		if t, ok := w.ed.finish(); ok {
			if n, sp, vo, ij, err := parseDocText(t); err == nil && sameTree(docRoot(n), docRoot(d.Node()), 0) {
				text, node, spans, valueOff, isJSON = t, n, sp, vo, ij
			}
		}
	}
	if text == nil {
		t, err := d.reencode()
		if err != nil {
			return false, nil, fmt.Errorf("cannot write the patched document: %v", err)
		}
		n, sp, vo, ij, err := parseDocText(t)
		if err != nil || !sameTree(docRoot(n), docRoot(d.Node()), 0) {
			return false, nil, errors.New("cannot write the patched document: it does not read back as patched")
		}
		text, node, spans, valueOff, isJSON = t, n, sp, vo, ij
	}
	svcs, err := d.take(text, node, spans, valueOff, isJSON, []int{item})
	if err != nil {
		return false, nil, err
	}
	return true, svcs[0], nil
}

// take makes the patched text (parsed as node, spans, valueOff and isJSON) the document's once
// it reads back as a document and the objects at items as Services, which it returns in
// order; on error the document is left as it was.
func (d *Doc) take(text []byte, node *yaml.Node, spans map[*yaml.Node]span, valueOff int, isJSON bool, items []int) ([]*corev1.Service, error) {
	trial := &Doc{File: d.File, Index: d.Index, set: d.set, orig: d.orig, text: text, startLine: d.startLine}
	if err := trial.load(node, spans, valueOff, isJSON); err != nil {
		return nil, fmt.Errorf("the patched document does not read back: %v", err)
	}
	svcs := make([]*corev1.Service, len(items))
	for i, item := range items {
		svc, err := trial.decodeService(item)
		if err != nil {
			return nil, fmt.Errorf("the patched object is not a valid Service: %v", strings.TrimPrefix(err.Error(), "invalid Service: "))
		}
		svcs[i] = svc
	}
	old := d.text
	d.text = text
	if err := d.load(node, spans, valueOff, isJSON); err != nil {
		d.text = old
		return nil, err
	}
	return svcs, nil
}

// sameTree compares two node trees by content: kinds, tags, values, anchors and aliases; not
// styles, comments or positions.
func sameTree(a, b *yaml.Node, depth int) bool {
	if a == nil || b == nil {
		return a == b
	}
	if depth > 20000 || a.Kind != b.Kind || a.Anchor != b.Anchor || len(a.Content) != len(b.Content) {
		return false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		return a.ShortTag() == b.ShortTag() && a.Value == b.Value
	case yaml.AliasNode:
		return a.Value == b.Value
	}
	for i := range a.Content {
		if !sameTree(a.Content[i], b.Content[i], depth+1) {
			return false
		}
	}
	return true
}
