package manifest

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// treeJSON converts a YAML document, already parsed into doc from text, to the JSON that
// sigs.k8s.io/yaml.YAMLToJSON makes of text (YAML 1.1 through yaml.v2, keys sorted, the last of
// duplicate keys kept), without parsing the text a second time. It covers the values manifests
// hold: strings, booleans, null, integers, mappings with string keys, sequences. ok is false when
// the document holds anything else (a tag, an alias, a merge key, a float, a timestamp, a key that
// is not a string, text that is not UTF-8): the caller then converts the text with YAMLToJSON,
// which decides as it always has (including its errors).
func treeJSON(text []byte, doc *yaml.Node) (out []byte, ok bool) {
	// A tag ("!", "!!str", "!foo") changes what a scalar is in ways the tree does not record
	// (yaml.v3 resolves a value under the non-specific tag "!" as if it had none).
	if doc == nil || doc.Kind != yaml.DocumentNode || bytes.IndexByte(text, '!') >= 0 {
		return nil, false
	}
	if len(doc.Content) == 0 {
		return []byte("null"), true
	}
	c := jsonConverter{out: make([]byte, 0, len(text))}
	if !c.value(doc.Content[0], 0) {
		return nil, false
	}
	return c.out, true
}

// jsonConverter writes JSON from a yaml.v3 tree.
type jsonConverter struct {
	out  []byte
	keys []jsonKey // scratch space for mappings' keys, reused
}

// jsonKey is a mapping key: its string, and its position among the mapping's pairs.
type jsonKey struct {
	s string
	i int
}

func (c *jsonConverter) value(n *yaml.Node, depth int) bool {
	if depth > 10000 {
		return false
	}
	switch n.Kind {
	case yaml.ScalarNode:
		s, kind, ok := scalarV2(n)
		if !ok {
			return false
		}
		switch kind {
		case 's':
			return c.str(s)
		case 'n':
			c.out = append(c.out, "null"...)
		case 't':
			c.out = append(c.out, "true"...)
		case 'f':
			c.out = append(c.out, "false"...)
		case 'i':
			c.out = append(c.out, s...)
		}
		return true
	case yaml.SequenceNode:
		c.out = append(c.out, '[')
		for i, it := range n.Content {
			if i > 0 {
				c.out = append(c.out, ',')
			}
			if !c.value(it, depth+1) {
				return false
			}
		}
		c.out = append(c.out, ']')
		return true
	case yaml.MappingNode:
		return c.mapping(n, depth)
	}
	return false // an alias, or anything else
}

// mapping writes a mapping as a JSON object, keys sorted as encoding/json sorts a map's; of a
// key given twice, the value given last (a Go map's, which yaml.v2 decodes into).
func (c *jsonConverter) mapping(n *yaml.Node, depth int) bool {
	if len(n.Content)%2 != 0 {
		return false
	}
	start := len(c.keys)
	for i := 0; i < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			return false
		}
		s, kind, ok := scalarV2(k)
		if !ok || kind != 's' || (s == "<<" && k.Style == 0) {
			return false
		}
		c.keys = append(c.keys, jsonKey{s, i})
	}
	keys := c.keys[start:]
	sorted := slices.IsSortedFunc(keys, func(a, b jsonKey) int { return strings.Compare(a.s, b.s) })
	if !sorted {
		slices.SortStableFunc(keys, func(a, b jsonKey) int { return strings.Compare(a.s, b.s) })
	}
	c.out = append(c.out, '{')
	first := true
	for j, k := range keys {
		if j+1 < len(keys) && keys[j+1].s == k.s {
			continue // a later pair has the same key
		}
		if !first {
			c.out = append(c.out, ',')
		}
		first = false
		if !c.str(k.s) {
			return false
		}
		c.out = append(c.out, ':')
		if !c.value(n.Content[k.i+1], depth+1) {
			return false
		}
	}
	c.out = append(c.out, '}')
	c.keys = c.keys[:start]
	return true
}

// str writes s as a JSON string; false when s is not UTF-8.
func (c *jsonConverter) str(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	const hex = "0123456789abcdef"
	c.out = append(c.out, '"')
	last := 0
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b >= 0x20 && b != '"' && b != '\\' {
			continue
		}
		c.out = append(c.out, s[last:i]...)
		switch b {
		case '"', '\\':
			c.out = append(c.out, '\\', b)
		case '\n':
			c.out = append(c.out, '\\', 'n')
		case '\r':
			c.out = append(c.out, '\\', 'r')
		case '\t':
			c.out = append(c.out, '\\', 't')
		default:
			c.out = append(c.out, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
		}
		last = i + 1
	}
	c.out = append(c.out, s[last:]...)
	c.out = append(c.out, '"')
	return true
}

// yamlStyleFloat is yaml.v2's pattern of a float.
var yamlStyleFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// scalarV2 is what yaml.v2 (YAML 1.1) decodes a scalar into, as sigs.k8s.io/yaml then writes it:
// kind 's' a string (s), 'n' null, 't' true, 'f' false, 'i' an integer (s its JSON). ok is false
// for the values treeJSON leaves to yaml.v2 (floats, timestamps, merge keys, ...).
func scalarV2(n *yaml.Node) (s string, kind byte, ok bool) {
	if n.Style&yaml.TaggedStyle != 0 {
		return "", 0, false
	}
	if n.Style&(yaml.SingleQuotedStyle|yaml.DoubleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value, 's', true
	}
	// A plain scalar: yaml.v2's resolve with no tag.
	in := n.Value
	if in == "" {
		return "", 'n', true
	}
	switch in[0] {
	case 'y', 'Y', 'n', 'N', 't', 'T', 'f', 'F', 'o', 'O', '~':
		switch in {
		case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
			return "", 't', true
		case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
			return "", 'f', true
		case "~", "null", "Null", "NULL":
			return "", 'n', true
		}
		return in, 's', true
	case '.':
		return "", 0, false // a float, or a string that might look like one
	case '+', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		switch in {
		case "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
			return "", 0, false
		}
		if looksLikeTimestamp(in) {
			return "", 0, false
		}
		plain := in
		if strings.IndexByte(in, '_') >= 0 {
			plain = strings.ReplaceAll(in, "_", "")
		}
		if !maybeNumber(plain) {
			return in, 's', true
		}
		if i, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return strconv.FormatInt(i, 10), 'i', true
		}
		if u, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return strconv.FormatUint(u, 10), 'i', true
		}
		if yamlStyleFloat.MatchString(plain) || strings.HasPrefix(plain, "0b") || strings.HasPrefix(plain, "-0b") {
			return "", 0, false
		}
		return in, 's', true
	}
	if in == "<<" {
		return "", 0, false
	}
	return in, 's', true
}

// looksLikeTimestamp reports whether a plain scalar starts as yaml.v2's timestamps do (YYYY-).
func looksLikeTimestamp(s string) bool {
	return len(s) > 4 && s[4] == '-' && isDigits(s[:4])
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maybeNumber reports whether s has only characters that Go's integer syntax (any base and
// prefix, a sign) or yaml.v2's float pattern uses; when not, neither reads s as a number.
func maybeNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		case c == 'x', c == 'X', c == 'o', c == 'O', c == '+', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}
