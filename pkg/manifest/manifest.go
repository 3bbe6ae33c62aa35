// Package manifest reads Kubernetes manifests offline (a file, a directory or stdin; multi-document
// YAML or JSON, including Lists), applies the plugin's patches to the Services in them, and writes
// everything back changing only what the patches change.
//
// Reading. YAML streams are cut at their "---" and "..." lines; every piece is parsed by yaml.v3
// (empty and comment-only documents are kept as text but hold no object). A file (or a document)
// that is JSON is read as JSON. Objects must be mappings with apiVersion and kind; the items of a
// List are objects too. Services and Events are decoded as kubectl reads manifests (YAML 1.1 to
// JSON as sigs.k8s.io/yaml converts it, then encoding/json, unknown fields ignored), so what the
// API server would refuse, such as an unquoted on/yes annotation value or port: "abc", is an
// error here. The JSON is made from the document's yaml.v3 tree (treeJSON) unless the document
// holds what only sigs.k8s.io/yaml converts (tags, aliases, floats, ...), so a document is parsed
// once, not twice.
// Events are only read (what they say about Services, e.g. ELB quota errors), never patched.
//
// Formatting. A document that no patch changed is written back byte for byte. A changed document
// is edited as text, guided by the yaml.v3 node tree: a changed scalar is replaced where it stands
// (its line comment and its quotes, when they can hold the new value, stay), a new key goes on a
// new line after the last entry of its mapping with its siblings' indentation (inside the braces
// for a flow mapping; a missing mapping is created with the document's indentation step), a
// deleted key loses its lines. A new string that plain YAML 1.1 or 1.2 would read as something
// else ("true", "on", "1", "") is quoted, with the document's quote style. The edited text is
// parsed again and compared with the patched tree. JSON documents are edited the same way in JSON
// syntax, so a JSON file stays JSON with its indentation.
//
// Fallback. When a change cannot be made that way (a key deleted from a flow mapping or from the
// line of a "- " item, a block collection replaced by a scalar, a scalar with a tag or an anchor,
// ...), the document is re-encoded whole from the node tree: by yaml.v3 for YAML, with the
// indentation step and sequence style ("- " level with its key, or indented) detected from the
// original. yaml.v3 keeps the comments there, but not blank lines, the alignment of line
// comments, padding after "-" ("-   a" becomes "- a"), or a level "- " under a 4-space
// indentation (it indents it by 2). JSON documents are re-encoded as JSON with their indentation.
// None of the plugin's patches (an annotation added or changed, externalTrafficPolicy changed)
// needs the fallback.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/parallel"
)

// DefaultNamespace is the namespace given to a Service or Event whose manifest names none,
// unless the caller passes another one.
const DefaultNamespace = "default"

// IsStdin reports whether path names standard input ("-"), as in kubectl -f -.
func IsStdin(path string) bool { return path == "-" }

// StdinName is the file name that documents read from standard input carry.
const StdinName = "stdin"

// Set is everything read from one -f argument: its files in order.
type Set struct {
	Files     []*File
	namespace string
	fromStdin bool
	lean      bool // drop each document's tree once its objects are decoded (leanInputBytes)
	stream    bool // read by ReadStream: no decoded Service is kept, not even a patched one
	services  []*ServiceRef
	events    []*corev1.Event // the v1 Events, as decoded (namespaces not defaulted)
}

// File is one file read (or standard input), with its documents in order.
type File struct {
	// Name is the path as given (joined with the directory for a directory), or "stdin".
	Name string
	// JSON is true when the whole file is a stream of JSON values.
	JSON bool
	// Docs are the documents that hold an object; empty documents and comment-only documents
	// are kept for Write but are not listed.
	Docs []*Doc

	chunks []*chunk
}

// chunk is a piece of a file's text: a document (doc != nil) or what lies between documents.
type chunk struct {
	text []byte
	doc  *Doc
}

// Doc is one document of a file: one object, or one List of objects.
type Doc struct {
	// File is the name of the file the document was read from.
	File string
	// Index is the document's 0-based position among the file's non-empty documents.
	Index int
	// Line is the 1-based line of the file where the document's content starts.
	Line int
	// APIVersion, Kind, Namespace and Name are read from the document (Namespace is "" when the
	// document names none).
	APIVersion, Kind, Namespace, Name string
	// JSON is true when the document is JSON (it is then written back as JSON).
	JSON bool
	// Items are the objects of a List (kind List or *List with items); nil otherwise.
	Items []*Object

	set       *Set
	orig      []byte // the text as read
	text      []byte // the current text
	startLine int    // line of the file where the text starts
	valueOff  int    // JSON: where the JSON value starts in text
	// node is the parsed document (a yaml.v3 DocumentNode whose Content[0] is the object's
	// mapping) and spans its nodes' byte ranges (JSON); nil once Read has decoded the objects,
	// until Node parses the text again. ApplyPatch replaces them with the patched text's.
	node  *yaml.Node
	spans map[*yaml.Node]span
	obj   *Object // the document's own object (when not a List)
	svc   *corev1.Service
	// items caches a List's items as JSON, decoded once per text (decodeItem), so that reading
	// a List of n Services costs one decode of the List, not n.
	items    []json.RawMessage
	itemsErr error
	itemsOK  bool
}

// Object is one Kubernetes object of a manifest: a document, or an item of a List document.
type Object struct {
	// Doc is the document that holds the object.
	Doc *Doc
	// Item is the object's index in the List's items, or -1 when the document is the object.
	Item int
	// APIVersion, Kind, Namespace and Name as written (Namespace "" when not given).
	APIVersion, Kind, Namespace, Name string
	// Line is the 1-based line of the file where the object starts.
	Line int
}

// ServiceRef is a v1 Service of the manifests: where it is, and the Service decoded from it.
type ServiceRef struct {
	*Object
	// Service is the decoded Service; a Service whose manifest names no namespace gets the
	// default namespace. ApplyPatch replaces it with the decoded patched object.
	Service *corev1.Service

	changed bool
}

// Read reads the manifests at path: a file, a directory (its *.yaml, *.yml and *.json files in
// name order, not recursing, as kubectl apply -f DIR), or "-" for stdin. Each document must be a
// mapping with apiVersion and kind; every v1 Service and v1 Event (also inside a List) is decoded. namespace,
// when given and not empty, is the namespace of Services whose manifest names none (default
// "default"). Errors are one line naming the file and document.
func Read(path string, stdin io.Reader, namespace ...string) (*Set, error) {
	s := &Set{namespace: DefaultNamespace}
	if len(namespace) > 0 && namespace[0] != "" {
		s.namespace = namespace[0]
	}
	if IsStdin(path) {
		if stdin == nil {
			return nil, errors.New("-f -: no standard input to read")
		}
		data, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("reading stdin: %v", err)
		}
		s.fromStdin = true
		return s, s.add(fileText{StdinName, data})
	}
	if path == "" {
		return nil, errors.New("no manifest file given")
	}
	info, err := os.Stat(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	if !info.IsDir() {
		data, err := os.ReadFile(path) //nolint:gosec // G304: reading the file the user named with -f is the point
		if err != nil {
			return nil, fileError(path, err)
		}
		return s, s.add(fileText{path, data})
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	var names []string
	for _, e := range entries {
		switch filepath.Ext(e.Name()) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		full := filepath.Join(path, e.Name())
		if e.IsDir() {
			continue
		}
		if !e.Type().IsRegular() { // a symbolic link, say: what it names counts
			if st, err := os.Stat(full); err != nil || st.IsDir() {
				continue
			}
		}
		names = append(names, full)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("%s: no .yaml, .yml or .json files in the directory", path)
	}
	// The files are read on every core; the error is the first file's in name order.
	files := make([]fileText, len(names))
	if err := parallel.For(len(names), func(i int) error {
		data, err := os.ReadFile(names[i]) //nolint:gosec // G304: a file of the directory the user named with -f
		if err != nil {
			return fileError(names[i], err)
		}
		files[i] = fileText{names[i], data}
		return nil
	}); err != nil {
		return nil, err
	}
	return s, s.add(files...)
}

func fileError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", path, pe.Err)
	}
	return fmt.Errorf("%s: %v", path, err)
}

// Services lists the v1 Services of every file, in order (Services inside a List in item order).
func (s *Set) Services() []*ServiceRef { return s.services }

// Events lists the v1 Events of every file, in order (Events inside a List in item order), for
// reading only: they are never patched or written back, and each call returns fresh copies. An
// Event whose manifest names no namespace gets the Set's default namespace (as Services do), and
// an empty involvedObject.namespace becomes the Event's namespace.
func (s *Set) Events() []corev1.Event {
	out := make([]corev1.Event, 0, len(s.events))
	for _, e := range s.events {
		out = append(out, s.defaulted(e))
	}
	return out
}

// defaulted is a copy of an Event as Events lists it, namespaces defaulted.
func (s *Set) defaulted(e *corev1.Event) corev1.Event {
	ev := *e.DeepCopy()
	if ev.Namespace == "" {
		ev.Namespace = s.namespace
	}
	if ev.InvolvedObject.Namespace == "" {
		ev.InvolvedObject.Namespace = ev.Namespace
	}
	return ev
}

// Objects lists every object of every file, in order (the items of a List in place of the List).
func (s *Set) Objects() []*Object {
	var out []*Object
	for _, f := range s.Files {
		for _, d := range f.Docs {
			out = append(out, d.Objects()...)
		}
	}
	return out
}

// Docs lists the documents of every file, in order.
func (s *Set) Docs() []*Doc {
	var out []*Doc
	for _, f := range s.Files {
		out = append(out, f.Docs...)
	}
	return out
}

// Namespace is the namespace given to Services and Events that name none.
func (s *Set) Namespace() string { return s.namespace }

// SetDefaultNamespace changes the namespace of the decoded Services (and of the Events listed by
// Events) whose manifest names none (the manifests are not changed). An empty ns means "default".
func (s *Set) SetDefaultNamespace(ns string) {
	if ns == "" {
		ns = DefaultNamespace
	}
	s.namespace = ns
	for _, r := range s.services {
		if r.Namespace == "" && r.Service != nil {
			r.Service.Namespace = ns
		}
	}
}

// Changed reports whether any document was changed by a patch.
func (s *Set) Changed() bool {
	for _, d := range s.Docs() {
		if d.Changed() {
			return true
		}
	}
	return false
}

// Node returns the parsed document: a yaml.v3 DocumentNode whose Content[0] is the object's
// mapping. Read keeps no tree once a document's objects are decoded (a tree takes several times
// the memory of its text, and most documents are never edited): it is parsed again from the
// document's text when first needed, as when a fix edits the document. nil when the text no
// longer parses, which Read has ruled out.
func (d *Doc) Node() *yaml.Node {
	if d.node == nil {
		if n, sp, _, _, err := parseDocText(d.text); err == nil {
			d.node, d.spans = n, sp
		}
	}
	return d.node
}

// dropTree lets the document's tree go (Node parses it again when needed).
func (d *Doc) dropTree() { d.node, d.spans = nil, nil }

// Objects is the document's object, or the items of a List.
func (d *Doc) Objects() []*Object {
	if d.obj != nil {
		return []*Object{d.obj}
	}
	return d.Items
}

// IsList reports whether the document is a List of objects.
func (d *Doc) IsList() bool { return d.obj == nil }

// Service is the Service decoded from a v1 Service document; an error for any other document
// (a List's Services are in Set.Services).
func (d *Doc) Service() (*corev1.Service, error) {
	if d.svc == nil {
		return nil, fmt.Errorf("%s: %s is not a v1 Service", d, describeKind(d.APIVersion, d.Kind))
	}
	return d.svc, nil
}

// Changed reports whether a patch changed the document.
func (d *Doc) Changed() bool { return !bytes.Equal(d.orig, d.text) }

// Original is the document's text as read (with its leading "---" line, if any).
func (d *Doc) Original() []byte { return d.orig }

// Bytes is the document's current text: as read, or as patched.
func (d *Doc) Bytes() []byte { return d.text }

// String names the document for messages: "FILE: document N" (N counted from 1).
func (d *Doc) String() string { return fmt.Sprintf("%s: document %d", d.File, d.Index+1) }

// String names the object for messages, e.g. "svc.yaml: document 2: Service shop/orders" or
// "list.json: document 1: items[3]: Service default/web".
func (o *Object) String() string {
	var b strings.Builder
	b.WriteString(o.Doc.String())
	if o.Item >= 0 {
		fmt.Fprintf(&b, ": items[%d]", o.Item)
	}
	b.WriteString(": ")
	b.WriteString(o.Kind)
	if o.Name != "" {
		b.WriteString(" ")
		if o.Namespace != "" {
			b.WriteString(o.Namespace + "/")
		}
		b.WriteString(o.Name)
	}
	return b.String()
}

// Node is the object's mapping node in the document's current tree.
func (o *Object) Node() *yaml.Node {
	root := docRoot(o.Doc.Node())
	if o.Item < 0 || root == nil {
		return root
	}
	items := mapGet(root, "items")
	if items == nil || items.Kind != yaml.SequenceNode || o.Item >= len(items.Content) {
		return nil
	}
	return items.Content[o.Item]
}

// Decode decodes the object into v (a pointer, e.g. *corev1.Node) as kubectl would: YAML to JSON
// through sigs.k8s.io/yaml, then encoding/json; unknown fields are ignored, type errors are not.
func (o *Object) Decode(v interface{}) error {
	if err := o.Doc.decodeItem(o.Item, v); err != nil {
		return fmt.Errorf("%s: %v", o, err)
	}
	return nil
}

// Changed reports whether a patch applied through this reference changed the manifest.
func (r *ServiceRef) Changed() bool { return r.changed }

func describeKind(apiVersion, kind string) string {
	switch {
	case kind == "":
		return "the document"
	case apiVersion == "":
		return kind
	}
	return apiVersion + " " + kind
}
