package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
)

// leanInputBytes is the input size from which Read keeps no document tree once the document's
// objects are decoded (Doc.Node parses it again when a fix edits the document): a tree takes
// about 8 times its text's memory, so 50,000 Services (28 MB of YAML) peak at about 0.5 GB
// instead of 0.9 GB; below it the trees are kept, which spares the second parse (about a fifth
// more CPU time when most documents are fixed).
const leanInputBytes = 8 << 20

// release drops the document's tree in a lean read, and a List's items as JSON.
func (s *Set) release(d *Doc) {
	if s.lean {
		d.dropTree()
		d.items, d.itemsOK = nil, false
	}
}

// fileText is one file's name and text.
type fileText struct {
	name string
	data []byte
}

// add reads files' texts into the set, in order. The documents are parsed and their objects
// decoded on every core (addParallel); on an error, they are read again one after another
// (addSequential), so that the error is the first one in file and document order, with the
// same message as always.
func (s *Set) add(files ...fileText) error {
	total := 0
	for _, f := range files {
		total += len(f.data)
	}
	s.lean = total >= leanInputBytes
	if err := s.addParallel(files); err != nil {
		return s.addSequential(files)
	}
	return nil
}

// addSequential reads each file's documents one after another; it stops at the first error.
func (s *Set) addSequential(files []fileText) error {
	for _, in := range files {
		f := &File{Name: in.name}
		if err := f.split(in.data); err != nil {
			return err
		}
		index, line := 0, 1
		for _, c := range f.chunks {
			d := &Doc{File: f.Name, Index: index, set: s, orig: c.text, text: c.text, startLine: line}
			line += countLines(c.text) - 1
			if err := d.parse(); err != nil {
				if err == errEmpty {
					continue
				}
				return err
			}
			c.doc = d
			f.Docs = append(f.Docs, d)
			index++
		}
		for _, d := range f.Docs {
			svcs, evs, err := s.decodeObjects(d)
			if err != nil {
				return err
			}
			s.services, s.events = append(s.services, svcs...), append(s.events, evs...)
			s.release(d)
		}
		s.Files = append(s.Files, f)
	}
	return nil
}

// addParallel splits the files and then parses and decodes every document on every core; the
// set changes only when all of them read without error.
func (s *Set) addParallel(files []fileText) error {
	type unit struct {
		c        *chunk
		d        *Doc
		empty    bool
		services []*ServiceRef
		events   []*corev1.Event
	}
	split := make([]*File, len(files))
	if err := parallel.For(len(files), func(i int) error {
		split[i] = &File{Name: files[i].name}
		return split[i].split(files[i].data)
	}); err != nil {
		return err
	}
	var units []*unit
	perFile := make([][]*unit, len(split))
	for i, f := range split {
		line := 1
		for _, c := range f.chunks {
			u := &unit{c: c, d: &Doc{File: f.Name, set: s, orig: c.text, text: c.text, startLine: line}}
			line += countLines(c.text) - 1
			units = append(units, u)
			perFile[i] = append(perFile[i], u)
		}
	}
	if err := parallel.For(len(units), func(i int) error {
		u := units[i]
		if err := u.d.parse(); err != nil {
			u.empty = err == errEmpty
			if u.empty {
				return nil
			}
			return err
		}
		var err error
		u.services, u.events, err = s.decodeObjects(u.d)
		s.release(u.d)
		return err
	}); err != nil {
		return err
	}
	for i, f := range split {
		index := 0
		for _, u := range perFile[i] {
			if u.empty {
				continue
			}
			u.d.Index = index
			index++
			u.c.doc = u.d
			f.Docs = append(f.Docs, u.d)
			s.services, s.events = append(s.services, u.services...), append(s.events, u.events...)
		}
		s.Files = append(s.Files, f)
	}
	return nil
}

// decodeObjects decodes a document's v1 Services and v1 Events.
func (s *Set) decodeObjects(d *Doc) ([]*ServiceRef, []*corev1.Event, error) {
	var svcs []*ServiceRef
	var evs []*corev1.Event
	for _, o := range d.Objects() {
		if o.APIVersion == "v1" && o.Kind == "Event" {
			ev, err := d.decodeEvent(o.Item)
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %v", o, err)
			}
			evs = append(evs, ev)
			continue
		}
		if o.APIVersion != "v1" || o.Kind != "Service" {
			continue
		}
		svc, err := d.decodeService(o.Item)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %v", o, err)
		}
		if o.Item < 0 && !s.stream {
			d.svc = svc
		}
		svcs = append(svcs, &ServiceRef{Object: o, Service: svc})
	}
	return svcs, evs, nil
}

// split cuts the file's text into chunks: JSON values (and the white space between them) for a
// JSON stream, else YAML documents at their "---" and "..." lines.
func (f *File) split(data []byte) error {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, bom), " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		spans, jerr := parseJSONStream(data)
		if jerr == nil {
			f.JSON = true
			prev := 0
			for _, sp := range spans {
				if sp.start > prev {
					f.chunks = append(f.chunks, &chunk{text: data[prev:sp.start]})
				}
				f.chunks = append(f.chunks, &chunk{text: data[sp.start:sp.end]})
				prev = sp.end
			}
			if prev < len(data) {
				f.chunks = append(f.chunks, &chunk{text: data[prev:]})
			}
			return nil
		}
		// Not JSON: it may still be YAML in flow style. A .json file must be JSON.
		if strings.EqualFold(filepath.Ext(f.Name), ".json") || !f.yamlReads(data) {
			return f.jsonStreamError(data, jerr)
		}
	}
	for _, sp := range splitYAML(data) {
		f.chunks = append(f.chunks, &chunk{text: data[sp.start:sp.end]})
	}
	return nil
}

// yamlReads reports whether data reads as YAML documents.
func (f *File) yamlReads(data []byte) bool {
	for _, sp := range splitYAML(data) {
		if _, err := parseYAML(data[sp.start:sp.end]); err != nil {
			return false
		}
	}
	return true
}

func (f *File) jsonStreamError(data []byte, err error) error {
	var je *jsonError
	if !errors.As(err, &je) {
		return fmt.Errorf("%s: %v", f.Name, err)
	}
	// The failing value is the one after those that parsed.
	n := 1
	p := newJSONParser(data, 0)
	for {
		p.skipSpace()
		if p.pos >= len(data) {
			break
		}
		if _, e := p.value(); e != nil {
			break
		}
		n++
	}
	li := newLineIndex(data)
	off := min(je.off, len(data))
	return fmt.Errorf("%s: document %d: json: line %d, column %d: %s", f.Name, n, li.lineOf(off), li.column(off), je.msg)
}

// splitYAML cuts a YAML stream into documents: a "---" line starts one (with the directives just
// before it), a "..." line ends one. Concatenated, the pieces are the input.
func splitYAML(data []byte) []span {
	li := newLineIndex(data)
	var parts []span
	start := 0
	for line := 1; line <= li.lines(); line++ {
		t := li.text(line)
		ls := li.lineStart(line)
		switch {
		case isMarker(t, "---"):
			if ls <= start {
				continue
			}
			cut := ls
			for l := line - 1; l >= 1 && li.lineStart(l) >= start; l-- {
				lt := li.text(l)
				if len(lt) > 0 && lt[0] == '%' {
					cut = li.lineStart(l)
					continue
				}
				if !isBlankOrComment(lt) {
					break
				}
			}
			if cut > start {
				parts = append(parts, span{start, cut})
				start = cut
			}
		case isMarker(t, "..."):
			end := li.lineStart(line + 1)
			if end > start {
				parts = append(parts, span{start, end})
				start = end
			}
		}
	}
	if start < len(data) {
		parts = append(parts, span{start, len(data)})
	}
	return parts
}

// parseYAML parses one YAML document; nil for a stream without one.
func parseYAML(text []byte) (doc *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc, err = nil, fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(text))
	var n yaml.Node
	if err := dec.Decode(&n); err != nil {
		if err == io.EOF {
			return nil, nil
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, errors.New("yaml: more than one document where one was expected")
	}
	return &n, nil
}

// isEmptyDoc reports whether a parsed document holds no object (only a null).
func isEmptyDoc(n *yaml.Node) bool {
	if n == nil || n.Kind == 0 {
		return true
	}
	if n.Kind != yaml.DocumentNode {
		return false
	}
	if len(n.Content) == 0 {
		return true
	}
	c := n.Content[0]
	return c.Kind == yaml.ScalarNode && c.ShortTag() == "!!null"
}

func docRoot(n *yaml.Node) *yaml.Node {
	if n == nil || n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
		return nil
	}
	return n.Content[0]
}

// contentLine is the first line of a text that is not blank, a comment, a directive or a
// document marker: where a document's content starts (1-based, relative to text).
func contentLine(text []byte) int {
	li := newLineIndex(text)
	for l := 1; l <= li.lines(); l++ {
		t := li.text(l)
		if isBlankOrComment(t) || (len(t) > 0 && t[0] == '%') || isMarker(t, "...") {
			continue
		}
		if isMarker(t, "---") && isBlankOrComment(t[3:]) {
			continue
		}
		return l
	}
	return 1
}

// jsonValueStart finds a JSON object that is a whole YAML document (as in a "---"-separated
// stream written from JSON files): the offset of its "{", or -1.
func jsonValueStart(text []byte) int {
	off := 0
	if first, next := firstLine(text); isMarker(first, "---") && len(bytes.TrimSpace(first[3:])) == 0 {
		off = next
	}
	for off < len(text) && (text[off] == ' ' || text[off] == '\t' || text[off] == '\r' || text[off] == '\n') {
		off++
	}
	if off >= len(text) || text[off] != '{' {
		return -1
	}
	p := newJSONParser(text, off)
	if _, err := p.parseValue(); err != nil {
		return -1
	}
	p.skipSpace()
	if p.pos != len(text) {
		return -1
	}
	return off
}

var errEmpty = errors.New("empty document")

// parse parses the document's current text and fills the fields read from it.
func (d *Doc) parse() error {
	node, spans, valueOff, isJSON, err := parseDocText(d.text)
	if err != nil {
		if err == errEmpty {
			return err
		}
		var je *jsonError
		if errors.As(err, &je) {
			li := newLineIndex(d.text)
			return fmt.Errorf("%s: json: line %d, column %d: %s", d, d.startLine+li.lineOf(je.off)-1, li.column(je.off), je.msg)
		}
		msg := err.Error()
		if yamlLineRE.MatchString(msg) {
			return fmt.Errorf("%s: %s", d, shiftLines(msg, d.startLine-1))
		}
		return fmt.Errorf("%s (line %d): %s", d, d.startLine+contentLine(d.text)-1, msg)
	}
	return d.load(node, spans, valueOff, isJSON)
}

// parseDocText parses a document's text: JSON when it is one JSON value, else YAML.
func parseDocText(text []byte) (node *yaml.Node, spans map[*yaml.Node]span, valueOff int, isJSON bool, err error) {
	if off := jsonValueStart(text); off >= 0 {
		p := newJSONParser(text, off)
		root, err := p.parseValue()
		if err != nil {
			return nil, nil, 0, false, err
		}
		doc := &yaml.Node{Kind: yaml.DocumentNode, Line: root.Line, Column: root.Column, Content: []*yaml.Node{root}}
		return doc, p.spans, off, true, nil
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(text, bom), " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		// A JSON array: not an object, which the caller's check says.
		p := newJSONParser(text, len(text)-len(trimmed))
		if root, err := p.parseValue(); err == nil {
			if p.skipSpace(); p.pos == len(text) {
				doc := &yaml.Node{Kind: yaml.DocumentNode, Line: root.Line, Column: root.Column, Content: []*yaml.Node{root}}
				return doc, p.spans, len(text) - len(trimmed), true, nil
			}
		}
	}
	n, err := parseYAML(text)
	if err != nil {
		return nil, nil, 0, false, err
	}
	if isEmptyDoc(n) {
		return nil, nil, 0, false, errEmpty
	}
	return n, nil, 0, false, nil
}

// load checks a parsed document and fills the document's fields from it.
func (d *Doc) load(node *yaml.Node, spans map[*yaml.Node]span, valueOff int, isJSON bool) error {
	root := docRoot(node)
	line := d.startLine
	if root != nil {
		line = d.startLine + root.Line - 1
	}
	where := func() string { return fmt.Sprintf("%s (line %d)", d, line) } // for errors only
	if root == nil || root.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: not a Kubernetes object: want a mapping with apiVersion and kind, found %s", where(), describeNode(root))
	}
	if err := checkKeys(root, d.startLine-1); err != nil {
		return fmt.Errorf("%s: %v", d, err)
	}
	apiVersion, kind, ns, name, err := identity(root)
	if err != nil {
		return fmt.Errorf("%s: %v", where(), err)
	}
	d.node, d.spans, d.valueOff, d.JSON = node, spans, valueOff, isJSON
	d.items, d.itemsErr, d.itemsOK = nil, nil, false
	d.Line = line
	d.APIVersion, d.Kind, d.Namespace, d.Name = apiVersion, kind, ns, name
	items := mapGet(root, "items")
	if kind == "List" || (strings.HasSuffix(kind, "List") && items != nil) {
		d.obj = nil
		var list []*Object
		defer func() {
			// Keep the Objects that ServiceRefs point to: update them in place.
			if len(list) == len(d.Items) {
				for i := range list {
					*d.Items[i] = *list[i]
				}
				return
			}
			d.Items = list
		}()
		if items == nil || (items.Kind == yaml.ScalarNode && items.ShortTag() == "!!null") {
			return nil
		}
		if items.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: %s items must be a list, found %s", where(), kind, describeNode(items))
		}
		for i, it := range items.Content {
			itLine := d.startLine + it.Line - 1
			if it.Kind != yaml.MappingNode {
				return fmt.Errorf("%s: items[%d] (line %d): not a Kubernetes object: want a mapping with apiVersion and kind, found %s", d, i, itLine, describeNode(it))
			}
			av, k, ns, name, err := identity(it)
			if err != nil {
				return fmt.Errorf("%s: items[%d] (line %d): %v", d, i, itLine, err)
			}
			list = append(list, &Object{Doc: d, Item: i, APIVersion: av, Kind: k, Namespace: ns, Name: name, Line: itLine})
		}
		return nil
	}
	o := &Object{Doc: d, Item: -1, APIVersion: apiVersion, Kind: kind, Namespace: ns, Name: name, Line: line}
	d.Items = nil
	if d.obj != nil {
		*d.obj = *o
	} else {
		d.obj = o
	}
	return nil
}

// identity reads apiVersion, kind, metadata.namespace and metadata.name of an object's mapping.
func identity(m *yaml.Node) (apiVersion, kind, namespace, name string, err error) {
	str := func(n *yaml.Node, field string) (string, error) {
		if n == nil {
			return "", nil
		}
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
			return "", fmt.Errorf("%s must be a string, found %s", field, describeNode(n))
		}
		return n.Value, nil
	}
	if apiVersion, err = str(mapGet(m, "apiVersion"), "apiVersion"); err != nil {
		return
	}
	if kind, err = str(mapGet(m, "kind"), "kind"); err != nil {
		return
	}
	var missing []string
	if apiVersion == "" {
		missing = append(missing, `"apiVersion"`)
	}
	if kind == "" {
		missing = append(missing, `"kind"`)
	}
	if md := mapGet(m, "metadata"); md != nil && md.Kind == yaml.MappingNode {
		if name, err = str(mapGet(md, "name"), "metadata.name"); err != nil {
			return
		}
		if namespace, err = str(mapGet(md, "namespace"), "metadata.namespace"); err != nil {
			return
		}
	}
	if len(missing) > 0 {
		named := ""
		if name != "" {
			named = fmt.Sprintf(" (name %q)", name)
		}
		err = fmt.Errorf("object%s has no %s: every manifest object needs apiVersion and kind", named, strings.Join(missing, " or "))
	}
	return
}

// mapGet is the value of key in mapping m, or nil.
func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func describeNode(n *yaml.Node) string {
	if n == nil {
		return "nothing"
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.DocumentNode:
		return "a document"
	case yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("a string (%q)", v)
		case "!!int", "!!float":
			return "a number (" + v + ")"
		case "!!bool":
			return "a boolean (" + v + ")"
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("a %s scalar", n.ShortTag())
	}
	return "an unknown node"
}

// duplicateKey finds the first scalar key of mapping m (merge keys aside) that an earlier key
// has already given, with the same tag: it, and the earlier key.
func duplicateKey(m *yaml.Node) (k, prev *yaml.Node) {
	const small = 16 // pairs; a mapping this small is compared pair by pair, with no map
	var seen map[string]*yaml.Node
	if len(m.Content) > 2*small {
		seen = map[string]*yaml.Node{}
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind != yaml.ScalarNode || k.Value == "<<" {
			continue
		}
		if seen == nil {
			for j := 0; j < i; j += 2 {
				p := m.Content[j]
				if p.Kind == yaml.ScalarNode && p.Value == k.Value && p.ShortTag() == k.ShortTag() {
					return k, p
				}
			}
			continue
		}
		id := k.ShortTag() + "\x00" + k.Value
		if prev, ok := seen[id]; ok {
			return k, prev
		}
		seen[id] = k
	}
	return nil, nil
}

// checkKeys rejects a mapping that names the same key twice: which value would count is unclear,
// and a patch would change only one of them. Lines are shifted by delta.
func checkKeys(n *yaml.Node, delta int) error {
	var walk func(n *yaml.Node, depth int) error
	walk = func(n *yaml.Node, depth int) error {
		if depth > 10000 {
			return errors.New("document nested too deeply")
		}
		if n.Kind == yaml.MappingNode {
			if k, prev := duplicateKey(n); k != nil {
				return fmt.Errorf("line %d: mapping key %q already defined at line %d", k.Line+delta, k.Value, prev.Line+delta)
			}
		}
		if n.Kind == yaml.AliasNode {
			return nil
		}
		for _, c := range n.Content {
			if err := walk(c, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(n, 0)
}

// decodeService decodes the Service at item (-1: the document) and defaults its namespace.
func (d *Doc) decodeService(item int) (*corev1.Service, error) {
	svc := &corev1.Service{}
	if err := d.decodeItem(item, svc); err != nil {
		return nil, fmt.Errorf("invalid Service: %v", err)
	}
	if svc.Namespace == "" {
		svc.Namespace = d.set.namespace
	}
	return svc, nil
}

// decodeEvent decodes the Event at item (-1: the document) as written: Set.Events defaults its
// namespaces.
func (d *Doc) decodeEvent(item int) (*corev1.Event, error) {
	ev := &corev1.Event{}
	if err := d.decodeItem(item, ev); err != nil {
		return nil, fmt.Errorf("invalid Event: %v", err)
	}
	return ev, nil
}

// decodeItem decodes the document (item -1) or one of its items into v, the way kubectl reads
// manifests: YAML converted to JSON by sigs.k8s.io/yaml, then encoding/json; non-strict (unknown
// fields are ignored), type errors are errors.
func (d *Doc) decodeItem(item int, v interface{}) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cannot decode: %v", r)
		}
	}()
	var data []byte
	unmarshal := func(b []byte, v interface{}) error {
		if !d.JSON {
			// As kubectl does: YAML (1.1, so an unquoted on/yes is a bool) to JSON without
			// regard to the target type, then JSON into the type. What the API server would
			// refuse is refused here. The document's tree, when Read or ApplyPatch has it,
			// gives the same JSON without parsing the text again.
			j, ok := treeJSON(b, d.node)
			if !ok {
				var err error
				if j, err = sigsyaml.YAMLToJSON(b); err != nil {
					return err
				}
			}
			b = j
		}
		return json.Unmarshal(b, v)
	}
	if d.JSON {
		data = d.text[d.valueOff:]
	} else {
		data = d.text
	}
	if item >= 0 {
		if !d.itemsOK {
			var list struct {
				Items []json.RawMessage `json:"items"`
			}
			d.itemsErr = unmarshal(data, &list)
			d.items, d.itemsOK = list.Items, true
		}
		if d.itemsErr != nil {
			return d.cleanDecodeError(d.itemsErr)
		}
		if item >= len(d.items) {
			return fmt.Errorf("items[%d] not found", item)
		}
		return d.cleanDecodeError(json.Unmarshal(d.items[item], v))
	}
	return d.cleanDecodeError(unmarshal(data, v))
}

func (d *Doc) cleanDecodeError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, p := range []string{"error converting YAML to JSON: ", "error unmarshaling JSON: ", "while decoding JSON: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	if !d.JSON {
		msg = shiftLines(msg, d.startLine-1)
	}
	if strings.Contains(msg, "cannot unmarshal bool into") || strings.Contains(msg, "cannot unmarshal number into") {
		if strings.HasSuffix(msg, "of type string") {
			msg += " (quote the value)"
		}
	}
	return errors.New(msg)
}
