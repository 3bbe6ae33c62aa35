package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// jsonEditor edits a JSON document's text where the changes are, using the exact spans the JSON
// parser recorded for every node.
type jsonEditor struct {
	src     []byte
	li      *lineIndex
	nl      string
	unit    string
	colon   string // between a key and its value: ": " or ":"
	spans   map[*yaml.Node]span
	edits   []edit
	orig    map[*yaml.Node][]*yaml.Node
	pending map[*yaml.Node][]*yaml.Node
	order   []*yaml.Node
}

func newJSONEditor(d *Doc) *jsonEditor {
	e := &jsonEditor{
		src:     d.text,
		li:      newLineIndex(d.text),
		nl:      newline(d.text),
		spans:   d.spans,
		orig:    map[*yaml.Node][]*yaml.Node{},
		pending: map[*yaml.Node][]*yaml.Node{},
	}
	e.unit, e.colon = e.detect(docRoot(d.Node()))
	return e
}

// detect finds the indentation step (default 4 spaces, as kubectl writes) and the key separator.
func (e *jsonEditor) detect(root *yaml.Node) (unit, colon string) {
	unit, colon = "    ", ": "
	foundUnit, foundColon := false, false
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 1000 || (foundUnit && foundColon) {
			return
		}
		if n.Kind == yaml.MappingNode && len(n.Content) >= 2 {
			ks, vs, ms := e.spans[n.Content[0]], e.spans[n.Content[1]], e.spans[n]
			if !foundColon && ks.end <= vs.start {
				if sep := string(e.src[ks.end:vs.start]); strings.TrimSpace(sep) == ":" && !strings.ContainsAny(sep, "\r\n") {
					colon, foundColon = sep, true
				}
			}
			if !foundUnit && n.Content[0].Line > e.li.lineOf(ms.start) {
				outer := leadingSpace(e.li.text(e.li.lineOf(ms.start)))
				inner := string(e.src[e.li.lineStart(n.Content[0].Line):ks.start])
				if strings.TrimLeft(inner, " \t") == "" && strings.HasPrefix(inner, outer) && len(inner) > len(outer) {
					unit, foundUnit = inner[len(outer):], true
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	return unit, colon
}

func leadingSpace(line []byte) string {
	return string(line[:len(line)-len(bytes.TrimLeft(line, " \t"))])
}

func (e *jsonEditor) touch(m *yaml.Node) {
	if _, ok := e.orig[m]; !ok {
		e.orig[m] = append([]*yaml.Node(nil), m.Content...)
	}
}

func (e *jsonEditor) emit(start, end int, text string) {
	e.edits = append(e.edits, edit{start: start, end: end, text: text, seq: len(e.edits)})
}

// multiline reports whether a node's text spans lines.
func (e *jsonEditor) multiline(n *yaml.Node) bool {
	sp, ok := e.spans[n]
	return ok && bytes.ContainsAny(e.src[sp.start:sp.end], "\r\n")
}

func (e *jsonEditor) lineIndent(off int) string {
	return leadingSpace(e.li.text(e.li.lineOf(off)))
}

func (e *jsonEditor) replace(m *yaml.Node, i int, v *yaml.Node) bool {
	e.touch(m)
	sp, ok := e.spans[m.Content[i+1]]
	if !ok {
		return false
	}
	e.emit(sp.start, sp.end, e.render(v, e.lineIndent(sp.start), e.multiline(m)))
	return true
}

func (e *jsonEditor) add(m *yaml.Node, k, v *yaml.Node) bool {
	e.touch(m)
	if _, ok := e.pending[m]; !ok {
		e.order = append(e.order, m)
	}
	e.pending[m] = append(e.pending[m], k, v)
	_, ok := e.spans[m]
	return ok
}

func (e *jsonEditor) remove(m *yaml.Node, i int) bool {
	e.touch(m)
	orig := e.orig[m]
	k := m.Content[i]
	j := -1
	for x := 0; x+1 < len(orig); x += 2 {
		if orig[x] == k {
			j = x
		}
	}
	if j < 0 {
		return false
	}
	ks, ok1 := e.spans[k]
	vs, ok2 := e.spans[orig[j+1]]
	ms, ok3 := e.spans[m]
	if !ok1 || !ok2 || !ok3 {
		return false
	}
	switch {
	case j > 0:
		e.emit(e.spans[orig[j-1]].end, vs.end, "")
	case len(orig) > 2:
		e.emit(ks.start, e.spans[orig[j+2]].start, "")
	default:
		e.emit(ms.start, ms.end, "{}")
	}
	return true
}

func (e *jsonEditor) emptied(parent *yaml.Node, i int) bool {
	ms, ok := e.spans[parent.Content[i+1]]
	if !ok {
		return false
	}
	// Drop the removals inside the object and write it as {}.
	kept := e.edits[:0]
	for _, ed := range e.edits {
		if ed.start < ms.start || ed.end > ms.end {
			kept = append(kept, ed)
		}
	}
	e.edits = kept
	e.emit(ms.start, ms.end, "{}")
	return true
}

func (e *jsonEditor) finish() ([]byte, bool) {
	for _, m := range e.order {
		pairs := e.pending[m]
		orig := e.orig[m]
		ms, ok := e.spans[m]
		if !ok {
			return nil, false
		}
		if len(orig) == 0 {
			// An empty object: write it whole.
			n := &yaml.Node{Kind: yaml.MappingNode, Content: pairs}
			e.emit(ms.start, ms.end, e.render(n, e.lineIndent(ms.start), bytes.ContainsAny(e.src, "\r\n")))
			continue
		}
		lastK, lastV := orig[len(orig)-2], orig[len(orig)-1]
		ks, vs := e.spans[lastK], e.spans[lastV]
		multi := e.multiline(m)
		var sep, ind string
		if multi {
			ind = string(e.src[e.li.lineStart(lastK.Line):ks.start])
			if strings.TrimLeft(ind, " \t") != "" {
				ind = e.lineIndent(ms.start) + e.unit
			}
			sep = "," + e.nl + ind
		} else {
			sep = ","
			if strings.HasSuffix(e.colon, " ") {
				sep = ", "
			}
			if len(orig) >= 4 {
				if s := string(e.src[e.spans[orig[1]].end:e.spans[orig[2]].start]); strings.TrimSpace(s) == "," {
					sep = s
				}
			}
		}
		var b strings.Builder
		for j := 0; j+1 < len(pairs); j += 2 {
			b.WriteString(sep)
			b.WriteString(jsonString(pairs[j].Value))
			b.WriteString(e.colon)
			b.WriteString(e.render(pairs[j+1], ind, multi))
		}
		e.emit(vs.end, vs.end, b.String())
	}
	return applyEdits(e.src, e.edits)
}

// render writes a node as JSON; a mapping over several lines (indented from ind) when multi.
func (e *jsonEditor) render(n *yaml.Node, ind string, multi bool) string {
	var b strings.Builder
	writeJSON(&b, n, ind, e.unit, e.colon, e.nl, multi, 0)
	return b.String()
}

// writeJSON writes a node tree as JSON. Scalars keep their literal text (strings are escaped
// anew); aliases are not expected in JSON documents and are written as null.
func writeJSON(b *strings.Builder, n *yaml.Node, ind, unit, colon, nl string, multi bool, depth int) {
	if depth > maxJSONDepth {
		b.WriteString("null")
		return
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		open, close, step := "{", "}", 2
		if n.Kind == yaml.SequenceNode {
			open, close, step = "[", "]", 1
		}
		if len(n.Content) == 0 {
			b.WriteString(open + close)
			return
		}
		b.WriteString(open)
		inner := ind + unit
		for i := 0; i+step-1 < len(n.Content); i += step {
			if i > 0 {
				b.WriteString(",")
				if !multi {
					b.WriteString(" ")
				}
			}
			if multi {
				b.WriteString(nl + inner)
			}
			if step == 2 {
				b.WriteString(jsonString(n.Content[i].Value))
				b.WriteString(colon)
				writeJSON(b, n.Content[i+1], inner, unit, colon, nl, multi, depth+1)
			} else {
				writeJSON(b, n.Content[i], inner, unit, colon, nl, multi, depth+1)
			}
		}
		if multi {
			b.WriteString(nl + ind)
		}
		b.WriteString(close)
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			b.WriteString(jsonString(n.Value))
		case "!!int", "!!float", "!!bool", "!!null":
			if json.Valid([]byte(n.Value)) {
				b.WriteString(n.Value)
			} else {
				b.WriteString(jsonString(n.Value))
			}
		default:
			b.WriteString(jsonString(n.Value))
		}
	default:
		b.WriteString("null")
	}
}

// jsonString quotes s as a JSON string without escaping <, > and &, but escaping DEL, the C1
// controls and the BOM, which JSON allows raw and YAML does not (a JSON document may be read as
// YAML in a "---" stream).
func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := strings.TrimSuffix(buf.String(), "\n")
	if !strings.ContainsFunc(out, yamlUnsafe) {
		return out
	}
	var b strings.Builder
	for _, r := range out {
		if yamlUnsafe(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func yamlUnsafe(r rune) bool { return r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0xFEFF }
