package manifest

import (
	"bytes"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlEditor edits a YAML document's text where the changes are, using the positions yaml.v3
// gives each node (line and rune column of its start) and finding ends by scanning the text.
type yamlEditor struct {
	src     []byte
	li      *lineIndex
	nl      string
	unit    int
	edits   []edit
	orig    map[*yaml.Node][]*yaml.Node // a mapping's pairs before the patch
	pending map[*yaml.Node][]*yaml.Node // pairs to append, per mapping
	order   []*yaml.Node
}

func newYAMLEditor(d *Doc) *yamlEditor {
	unit, _ := detectYAMLIndent(docRoot(d.Node()))
	return &yamlEditor{
		src:     d.text,
		li:      newLineIndex(d.text),
		nl:      newline(d.text),
		unit:    unit,
		orig:    map[*yaml.Node][]*yaml.Node{},
		pending: map[*yaml.Node][]*yaml.Node{},
	}
}

func (e *yamlEditor) touch(m *yaml.Node) {
	if _, ok := e.orig[m]; !ok {
		e.orig[m] = append([]*yaml.Node(nil), m.Content...)
	}
}

func (e *yamlEditor) content(m *yaml.Node) []*yaml.Node {
	if c, ok := e.orig[m]; ok {
		return c
	}
	return m.Content
}

func (e *yamlEditor) emit(start, end int, text string) {
	e.edits = append(e.edits, edit{start: start, end: end, text: text, seq: len(e.edits)})
}

func hasPos(n *yaml.Node) bool { return n != nil && n.Line > 0 && n.Column > 0 }

func isFlow(n *yaml.Node) bool { return n.Style&yaml.FlowStyle != 0 }

// isEmptyValue reports whether n is the null of a key written with no value ("key:").
func isEmptyValue(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "" && n.Style == 0 && n.ShortTag() == "!!null"
}

func (e *yamlEditor) replace(m *yaml.Node, i int, v *yaml.Node) bool {
	e.touch(m)
	k, cur := m.Content[i], m.Content[i+1]
	if !hasPos(k) || !hasPos(cur) {
		return false
	}
	flowCtx := isFlow(m)
	switch {
	case isEmptyValue(cur):
		colon := e.colonAfter(k, flowCtx)
		if colon < 0 {
			return false
		}
		if v.Kind == yaml.ScalarNode || isFlow(v) || len(v.Content) == 0 {
			e.emit(colon+1, colon+1, " "+e.flow(v))
			return true
		}
		return e.blockBelow(k, k.Line, v)
	case cur.Kind == yaml.ScalarNode:
		sp, ok := e.scalarSpan(cur, flowCtx, k.Column-1)
		if !ok {
			return false
		}
		if v.Kind == yaml.ScalarNode || isFlow(v) || len(v.Content) == 0 {
			e.emit(sp.start, sp.end, e.flow(v))
			return true
		}
		// A scalar becomes a block mapping: drop the scalar, put the mapping on the lines below.
		colon := e.colonAfter(k, flowCtx)
		if colon < 0 || colon >= sp.start || len(bytes.Trim(e.src[colon+1:sp.start], " \t")) != 0 {
			return false
		}
		e.emit(colon+1, sp.end, "")
		return e.blockBelow(k, e.li.lineOf(sp.end-1), v)
	case cur.Kind == yaml.AliasNode:
		start := e.li.offset(cur.Line, cur.Column)
		if start < 0 || start >= len(e.src) || e.src[start] != '*' {
			return false
		}
		end := start + 1
		for end < len(e.src) && !strings.ContainsRune(" \t\r\n,[]{}", rune(e.src[end])) {
			end++
		}
		e.emit(start, end, e.flow(v))
		return true
	case (cur.Kind == yaml.MappingNode || cur.Kind == yaml.SequenceNode) && isFlow(cur):
		sp, ok := e.flowSpan(cur)
		if !ok {
			return false
		}
		e.emit(sp.start, sp.end, e.flow(v))
		return true
	}
	return false
}

// blockBelow inserts mapping v as the block value of key k, on the lines after line.
func (e *yamlEditor) blockBelow(k *yaml.Node, line int, v *yaml.Node) bool {
	ind := e.keyIndent(k, true)
	if ind < 0 {
		return false
	}
	off, prefix := e.afterLine(line)
	var b strings.Builder
	b.WriteString(prefix)
	for j := 0; j+1 < len(v.Content); j += 2 {
		e.blockPair(&b, ind+e.unit, v.Content[j], v.Content[j+1])
	}
	e.emit(off, off, b.String())
	e.edits[len(e.edits)-1].prio = -(ind + e.unit) // deeper first
	return true
}

// afterLine is where a new line after line goes, and the line break to put first when line is
// the last one and has none.
func (e *yamlEditor) afterLine(line int) (int, string) {
	if line < e.li.lines() {
		return e.li.lineStart(line + 1), ""
	}
	return len(e.src), e.nl
}

func (e *yamlEditor) add(m *yaml.Node, k, v *yaml.Node) bool {
	e.touch(m)
	if _, ok := e.pending[m]; !ok {
		e.order = append(e.order, m)
	}
	e.pending[m] = append(e.pending[m], k, v)
	return hasPos(m)
}

func (e *yamlEditor) remove(m *yaml.Node, i int) bool {
	e.touch(m)
	if isFlow(m) {
		return false
	}
	k, v := m.Content[i], m.Content[i+1]
	if !hasPos(k) || e.keyIndent(k, false) < 0 {
		return false
	}
	end := e.lastLine(k, v, k.Column-1)
	if end < k.Line {
		return false
	}
	e.emit(e.li.lineStart(k.Line), e.li.lineStart(end+1), "")
	return true
}

func (e *yamlEditor) emptied(parent *yaml.Node, i int) bool {
	// The pairs' lines are gone; the key keeps an empty mapping: "key: {}".
	m := parent.Content[i+1]
	if isFlow(m) || isFlow(parent) {
		return false
	}
	colon := e.colonAfter(parent.Content[i], false)
	if colon < 0 {
		return false
	}
	e.emit(colon+1, colon+1, " {}")
	return true
}

func (e *yamlEditor) finish() ([]byte, bool) {
	for _, m := range e.order {
		pairs := e.pending[m]
		orig := e.content(m)
		if isFlow(m) {
			sp, ok := e.flowSpan(m)
			if !ok || e.src[sp.end-1] != '}' {
				return nil, false
			}
			at := sp.end - 1
			for at > sp.start+1 && strings.ContainsRune(" \t\r\n", rune(e.src[at-1])) {
				at--
			}
			var b strings.Builder
			for j := 0; j+1 < len(pairs); j += 2 {
				if len(orig) > 0 || j > 0 {
					b.WriteString(", ")
				}
				b.WriteString(renderScalar(pairs[j]) + ": " + e.flow(pairs[j+1]))
			}
			e.emit(at, at, b.String())
			continue
		}
		if len(orig) < 2 {
			return nil, false
		}
		ind := e.keyIndent(orig[0], true)
		end := e.lastLine(orig[len(orig)-2], orig[len(orig)-1], orig[len(orig)-2].Column-1)
		if ind < 0 || end < 1 {
			return nil, false
		}
		off, prefix := e.afterLine(end)
		var b strings.Builder
		b.WriteString(prefix)
		for j := 0; j+1 < len(pairs); j += 2 {
			e.blockPair(&b, ind, pairs[j], pairs[j+1])
		}
		e.emit(off, off, b.String())
		e.edits[len(e.edits)-1].prio = -ind // deeper first
	}
	return applyEdits(e.src, e.edits)
}

// blockPair writes "key: value" lines at indentation ind.
func (e *yamlEditor) blockPair(b *strings.Builder, ind int, k, v *yaml.Node) {
	b.WriteString(strings.Repeat(" ", ind))
	b.WriteString(renderScalar(k))
	b.WriteString(":")
	if v.Kind == yaml.MappingNode && !isFlow(v) && len(v.Content) > 0 {
		b.WriteString(e.nl)
		for j := 0; j+1 < len(v.Content); j += 2 {
			e.blockPair(b, ind+e.unit, v.Content[j], v.Content[j+1])
		}
		return
	}
	b.WriteString(" ")
	b.WriteString(e.flow(v))
	b.WriteString(e.nl)
}

// flow writes a node on one line: a scalar, or a mapping in flow style.
func (e *yamlEditor) flow(n *yaml.Node) string {
	if n.Kind != yaml.MappingNode {
		return renderScalar(n)
	}
	var parts []string
	for j := 0; j+1 < len(n.Content); j += 2 {
		parts = append(parts, renderScalar(n.Content[j])+": "+e.flow(n.Content[j+1]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// keyIndent is the column (0-based) of a block mapping key that starts its line (after "- "
// item markers when items is true), or -1.
func (e *yamlEditor) keyIndent(k *yaml.Node, items bool) int {
	off := e.li.offset(k.Line, k.Column)
	if off < 0 {
		return -1
	}
	prefix := e.src[e.li.lineStart(k.Line):off]
	for i, c := range prefix {
		switch {
		case c == ' ':
		case c == '-' && items && i+1 < len(prefix) && prefix[i+1] == ' ':
		default:
			return -1
		}
	}
	return len(prefix)
}

// colonAfter is the offset of the ":" after key k, or -1.
func (e *yamlEditor) colonAfter(k *yaml.Node, flowCtx bool) int {
	sp, ok := e.scalarSpan(k, flowCtx, -1)
	if !ok {
		return -1
	}
	p := sp.end
	for p < len(e.src) && (e.src[p] == ' ' || e.src[p] == '\t') {
		p++
	}
	if p < len(e.src) && e.src[p] == ':' {
		return p
	}
	return -1
}

// lastLine is the last line that the pair (k, v) takes, or -1 when it cannot be told; indent is
// the indentation of the collection holding v, which bounds a block scalar.
func (e *yamlEditor) lastLine(k, v *yaml.Node, indent int) int {
	if !hasPos(v) {
		return -1
	}
	switch {
	case isEmptyValue(v):
		if k == nil {
			return -1
		}
		return k.Line
	case v.Kind == yaml.ScalarNode:
		sp, ok := e.scalarSpan(v, false, indent)
		if !ok || sp.end <= sp.start {
			return -1
		}
		return e.li.lineOf(sp.end - 1)
	case v.Kind == yaml.AliasNode:
		return v.Line
	case isFlow(v):
		sp, ok := e.flowSpan(v)
		if !ok {
			return -1
		}
		return e.li.lineOf(sp.end - 1)
	case v.Kind == yaml.MappingNode:
		c := e.content(v)
		if len(c) < 2 {
			return -1
		}
		return e.lastLine(c[len(c)-2], c[len(c)-1], c[len(c)-2].Column-1)
	case v.Kind == yaml.SequenceNode:
		if len(v.Content) == 0 {
			return -1
		}
		return e.lastLine(nil, v.Content[len(v.Content)-1], v.Column-1)
	}
	return -1
}

// scalarSpan finds the text of a scalar: from its start to the end of its closing quote, of its
// last block line, or of the plain text on its line (which must read as its value). Scalars with
// a tag or an anchor are not handled.
func (e *yamlEditor) scalarSpan(n *yaml.Node, flowCtx bool, indent int) (span, bool) {
	start := e.li.offset(n.Line, n.Column)
	if start < 0 || start >= len(e.src) || n.Anchor != "" || n.Style&yaml.TaggedStyle != 0 {
		return span{}, false
	}
	src := e.src
	switch c := src[start]; {
	case c == '!' || c == '&' || c == '*':
		return span{}, false
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if c != '"' {
			return span{}, false
		}
		for p := start + 1; p < len(src); p++ {
			switch src[p] {
			case '\\':
				p++
			case '"':
				return span{start, p + 1}, true
			}
		}
		return span{}, false
	case n.Style&yaml.SingleQuotedStyle != 0:
		if c != '\'' {
			return span{}, false
		}
		for p := start + 1; p < len(src); p++ {
			if src[p] == '\'' {
				if p+1 < len(src) && src[p+1] == '\'' {
					p++
					continue
				}
				return span{start, p + 1}, true
			}
		}
		return span{}, false
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		if (c != '|' && c != '>') || indent < 0 {
			return span{}, false
		}
		header := e.li.lineOf(start)
		end := e.li.lineEnd(header)
		for l := header + 1; l <= e.li.lines(); l++ {
			t := e.li.text(l)
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
			if indentOf(t) <= indent {
				break
			}
			end = e.li.lineEnd(l)
		}
		return span{start, end}, true
	case n.Style != 0:
		return span{}, false
	}
	line := e.li.lineOf(start)
	lineEnd := e.li.lineEnd(line)
	p := start
	for ; p < lineEnd; p++ {
		c := src[p]
		if c == '#' && p > start && (src[p-1] == ' ' || src[p-1] == '\t') {
			break
		}
		if flowCtx && strings.IndexByte(",[]{}", c) >= 0 {
			break
		}
		if c == ':' && (p+1 == lineEnd || src[p+1] == ' ' || src[p+1] == '\t' || (flowCtx && strings.IndexByte(",[]{}", src[p+1]) >= 0)) {
			break
		}
	}
	end := p
	for end > start && (src[end-1] == ' ' || src[end-1] == '\t') {
		end--
	}
	if string(src[start:end]) == n.Value {
		return span{start, end}, true
	}
	if flowCtx || indent < 0 || p < lineEnd {
		return span{}, false
	}
	// A plain scalar folded over several lines (as yaml.v2, and so kubectl, writes long strings):
	// it goes on over the lines indented deeper than its mapping; line breaks read as spaces.
	words := []string{string(src[start:end])}
	blanks := 0
	for l := line + 1; l <= e.li.lines(); l++ {
		t := e.li.text(l)
		trimmed := bytes.Trim(t, " \t")
		if len(trimmed) == 0 {
			blanks++
			continue
		}
		if indentOf(t) <= indent || trimmed[0] == '#' || isMarker(t, "---") || isMarker(t, "...") {
			break
		}
		ls := e.li.lineStart(l)
		q := ls + (len(t) - len(bytes.TrimLeft(t, " \t")))
		for q < ls+len(t) && !(src[q] == '#' && (src[q-1] == ' ' || src[q-1] == '\t')) && !(src[q] == ':' && (q+1 == ls+len(t) || src[q+1] == ' ')) {
			q++
		}
		w := bytes.TrimRight(src[ls+(len(t)-len(bytes.TrimLeft(t, " \t"))):q], " \t")
		if blanks > 0 {
			words = append(words, strings.Repeat("\n", blanks)+string(w))
		} else {
			words = append(words, " "+string(w))
		}
		blanks = 0
		end = ls + (len(t) - len(bytes.TrimLeft(t, " \t"))) + len(w)
		if q < ls+len(t) {
			break // a comment or a ":" ends it
		}
	}
	if strings.Join(words, "") != n.Value {
		return span{}, false
	}
	return span{start, end}, true
}

// flowSpan finds a flow collection's text, from its opening to its matching closing bracket.
func (e *yamlEditor) flowSpan(n *yaml.Node) (span, bool) {
	start := e.li.offset(n.Line, n.Column)
	if start < 0 || start >= len(e.src) || (e.src[start] != '{' && e.src[start] != '[') {
		return span{}, false
	}
	src := e.src
	depth := 0
	last := byte('{') // the last significant character before p
	for p := start; p < len(src); p++ {
		c := src[p]
		switch {
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return span{start, p + 1}, true
			}
		case (c == '"' || c == '\'') && strings.IndexByte("{[,:", last) >= 0:
			q := p + 1
			for ; q < len(src); q++ {
				if c == '"' && src[q] == '\\' {
					q++
					continue
				}
				if src[q] == c {
					if c == '\'' && q+1 < len(src) && src[q+1] == '\'' {
						q++
						continue
					}
					break
				}
			}
			if q >= len(src) {
				return span{}, false
			}
			p = q
		case c == '#' && p > start && strings.IndexByte(" \t\r\n", src[p-1]) >= 0:
			for p < len(src) && breakLen(src, p) == 0 {
				p++
			}
			continue
		}
		if strings.IndexByte(" \t\r\n", c) < 0 {
			last = c
		}
	}
	return span{}, false
}

// detectYAMLIndent finds the indentation step of block mappings (default 2) and whether block
// sequences under a key start level with it ("key:\n- a", compact, the default) or indented.
func detectYAMLIndent(root *yaml.Node) (unit int, compact bool) {
	steps := map[int]int{}
	compactVotes, indentVotes := 0, 0
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || n.Kind == yaml.AliasNode || depth > 1000 {
			return
		}
		if n.Kind == yaml.MappingNode && !isFlow(n) {
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if !hasPos(k) || !hasPos(v) || v.Line <= k.Line || isFlow(v) || len(v.Content) == 0 {
					continue
				}
				switch v.Kind {
				case yaml.MappingNode:
					if d := v.Content[0].Column - k.Column; d > 0 && v.Content[0].Line > k.Line {
						steps[d]++
					}
				case yaml.SequenceNode:
					if v.Column == k.Column {
						compactVotes++
					} else if v.Column > k.Column {
						indentVotes++
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	walk(root, 0)
	unit, best := 2, 0
	for d, n := range steps {
		if n > best || (n == best && d < unit) {
			unit, best = d, n
		}
	}
	return unit, compactVotes >= indentVotes
}
