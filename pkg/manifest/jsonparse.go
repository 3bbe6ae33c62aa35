package manifest

import (
	"encoding/json"
	"fmt"

	"go.yaml.in/yaml/v3"
)

// span is a byte range [start, end) in a document's text.
type span struct{ start, end int }

// jsonParser reads strict JSON into a yaml.v3 node tree (mappings and sequences in flow style,
// strings double-quoted), recording every node's exact byte range, which yaml.v3 does not give.
// Object keys keep their order; a duplicate key is an error.
type jsonParser struct {
	src   []byte
	pos   int
	li    *lineIndex
	spans map[*yaml.Node]span
	depth int
}

const maxJSONDepth = 10000

// jsonError is a syntax error at a byte offset.
type jsonError struct {
	off int
	msg string
}

func (e *jsonError) Error() string { return e.msg }

func newJSONParser(src []byte, pos int) *jsonParser {
	return &jsonParser{src: src, pos: pos, li: newLineIndex(src), spans: map[*yaml.Node]span{}}
}

// parseValue parses the JSON value at pos (after white space); the spans of its nodes are in
// p.spans and pos is left after it.
func (p *jsonParser) parseValue() (*yaml.Node, error) {
	p.skipSpace()
	return p.value()
}

func (p *jsonParser) fail(format string, args ...interface{}) error {
	return &jsonError{off: p.pos, msg: fmt.Sprintf(format, args...)}
}

func (p *jsonParser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) describe() string {
	if p.pos >= len(p.src) {
		return "end of input"
	}
	return fmt.Sprintf("%q", rune(p.src[p.pos]))
}

func (p *jsonParser) mark(n *yaml.Node, start int) {
	n.Line = p.li.lineOf(start)
	n.Column = p.li.column(start)
	p.spans[n] = span{start, p.pos}
}

func (p *jsonParser) value() (*yaml.Node, error) {
	if p.pos >= len(p.src) {
		return nil, p.fail("unexpected end of JSON input")
	}
	start := p.pos
	switch c := p.src[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: s}
		p.mark(n, start)
		return n, nil
	case c == '-' || (c >= '0' && c <= '9'):
		tag, err := p.number()
		if err != nil {
			return nil, err
		}
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: string(p.src[start:p.pos])}
		p.mark(n, start)
		return n, nil
	default:
		for _, lit := range []struct{ text, tag string }{{"true", "!!bool"}, {"false", "!!bool"}, {"null", "!!null"}} {
			if len(p.src)-p.pos >= len(lit.text) && string(p.src[p.pos:p.pos+len(lit.text)]) == lit.text {
				p.pos += len(lit.text)
				n := &yaml.Node{Kind: yaml.ScalarNode, Tag: lit.tag, Value: lit.text}
				p.mark(n, start)
				return n, nil
			}
		}
		return nil, p.fail("invalid character %s looking for beginning of value", p.describe())
	}
}

func (p *jsonParser) enter() error {
	p.depth++
	if p.depth > maxJSONDepth {
		return p.fail("exceeded max depth of %d", maxJSONDepth)
	}
	return nil
}

func (p *jsonParser) object() (*yaml.Node, error) {
	start := p.pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: yaml.FlowStyle}
	p.pos++ // {
	p.skipSpace()
	seen := map[string]*yaml.Node{}
	if p.pos < len(p.src) && p.src[p.pos] == '}' {
		p.pos++
		p.mark(n, start)
		return n, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != '"' {
			return nil, p.fail("invalid character %s looking for beginning of object key string", p.describe())
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		if prev, dup := seen[k.Value]; dup {
			return nil, &jsonError{off: p.spans[k].start, msg: fmt.Sprintf("duplicate key %q (first at line %d)", k.Value, prev.Line)}
		}
		seen[k.Value] = k
		p.skipSpace()
		if p.pos >= len(p.src) || p.src[p.pos] != ':' {
			return nil, p.fail("invalid character %s after object key", p.describe())
		}
		p.pos++
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, k, v)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.fail("unexpected end of JSON input")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			p.mark(n, start)
			return n, nil
		default:
			return nil, p.fail("invalid character %s after object key:value pair", p.describe())
		}
	}
}

func (p *jsonParser) array() (*yaml.Node, error) {
	start := p.pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	p.pos++ // [
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ']' {
		p.pos++
		p.mark(n, start)
		return n, nil
	}
	for {
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		n.Content = append(n.Content, v)
		p.skipSpace()
		if p.pos >= len(p.src) {
			return nil, p.fail("unexpected end of JSON input")
		}
		switch p.src[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			p.mark(n, start)
			return n, nil
		default:
			return nil, p.fail("invalid character %s after array element", p.describe())
		}
	}
}

func (p *jsonParser) str() (string, error) {
	start := p.pos
	p.pos++ // "
	for p.pos < len(p.src) {
		switch c := p.src[p.pos]; {
		case c == '\\':
			p.pos += 2
		case c == '"':
			p.pos++
			var s string
			if err := json.Unmarshal(p.src[start:p.pos], &s); err != nil {
				p.pos = start
				return "", p.fail("invalid string literal")
			}
			return s, nil
		case c < 0x20:
			return "", p.fail("invalid character %s in string literal", p.describe())
		default:
			p.pos++
		}
	}
	return "", p.fail("unexpected end of JSON input in string literal")
}

func (p *jsonParser) digits() int {
	n := 0
	for p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? and returns !!int or !!float.
func (p *jsonParser) number() (string, error) {
	tag := "!!int"
	if p.src[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.src) && p.src[p.pos] == '0' {
		p.pos++
	} else if p.digits() == 0 {
		return "", p.fail("invalid character %s in numeric literal", p.describe())
	}
	if p.pos < len(p.src) && p.src[p.pos] == '.' {
		p.pos++
		tag = "!!float"
		if p.digits() == 0 {
			return "", p.fail("invalid character %s after decimal point in numeric literal", p.describe())
		}
	}
	if p.pos < len(p.src) && (p.src[p.pos] == 'e' || p.src[p.pos] == 'E') {
		p.pos++
		tag = "!!float"
		if p.pos < len(p.src) && (p.src[p.pos] == '+' || p.src[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return "", p.fail("invalid character %s in exponent of numeric literal", p.describe())
		}
	}
	return tag, nil
}

// parseJSONStream splits src into its top-level JSON values (white space between them allowed).
func parseJSONStream(src []byte) ([]span, error) {
	p := newJSONParser(src, 0)
	var out []span
	for {
		p.skipSpace()
		if p.pos >= len(p.src) {
			return out, nil
		}
		start := p.pos
		if _, err := p.value(); err != nil {
			return nil, err
		}
		out = append(out, span{start, p.pos})
	}
}
