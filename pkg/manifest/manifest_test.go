package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

const (
	passThrough = `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}`
	cluster     = `{"spec":{"externalTrafficPolicy":"Cluster"}}`
)

func mustJSON(t *testing.T, v interface{}) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readString(t *testing.T, s string) *Set {
	t.Helper()
	set, err := Read("-", strings.NewReader(s))
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return set
}

func writeString(t *testing.T, s *Set) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Write(&b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return b.String()
}

func TestIsStdin(t *testing.T) {
	for path, want := range map[string]bool{"-": true, "": false, "x.yaml": false, "./-": false} {
		if got := IsStdin(path); got != want {
			t.Errorf("IsStdin(%q) = %v", path, got)
		}
	}
}

// Every example of examples/ (copied to testdata/examples) reads, and writes back byte for byte.
func TestExamplesRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples")
	}
	for _, f := range files {
		set, err := Read(f, nil)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		want, _ := os.ReadFile(f)
		if got := writeString(t, set); got != string(want) {
			t.Errorf("%s: not written back as read:\n%s", f, lineDiff(string(want), got))
		}
	}
}

// testdata/examples is a copy of the repository's examples/ (the fuzz seeds and the round trip
// read it): every example is there, byte for byte.
func TestExamplesAreCopies(t *testing.T) {
	originals, _ := filepath.Glob("../../examples/*.yaml")
	copies, _ := filepath.Glob("testdata/examples/*.yaml")
	if len(originals) == 0 || len(originals) != len(copies) {
		t.Fatalf("%d examples, %d copies in testdata/examples", len(originals), len(copies))
	}
	for _, f := range originals {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Join("testdata/examples", filepath.Base(f)))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/examples/%s is not a copy of %s (cp it again): %v", filepath.Base(f), f, err)
		}
	}
}

// The common case is perfect: the diff of a patched hand-written file is the changed line only.
func TestMinimalDiff(t *testing.T) {
	in, err := os.ReadFile("testdata/golden/handwritten.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		patch string
		want  []string
	}{
		{passThrough, []string{`+    kubernetes.io/elb.pass-through: "true"`}},
		{cluster, []string{`-  externalTrafficPolicy: Local`, `+  externalTrafficPolicy: Cluster`}},
		{`{"metadata":{"labels":{"app":null}}}`, []string{`-    app: web`, `+  labels: {}`, `-  labels:`}},
		{`{"metadata":{"annotations":{"kubernetes.io/elb.class":"performance","kubernetes.io/elb.id":"2f6d3a8e"}}}`, []string{
			`-    kubernetes.io/elb.class: union     # shared load balancer`,
			`+    kubernetes.io/elb.class: performance     # shared load balancer`,
			`+    kubernetes.io/elb.id: 2f6d3a8e`,
		}},
	} {
		set := readString(t, string(in))
		if err := set.Services()[0].ApplyPatch([]byte(tc.patch)); err != nil {
			t.Fatalf("%s: %v", tc.patch, err)
		}
		got := diffLines(string(in), writeString(t, set))
		if strings.Join(sortedCopy(got), "\n") != strings.Join(sortedCopy(tc.want), "\n") {
			t.Errorf("%s: diff\n%s\nwant\n%s", tc.patch, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestReadDocuments(t *testing.T) {
	set := readString(t, "--- # leading marker\n# comment-only document\n---\n\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: x\n...\n")
	docs := set.Docs()
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2", len(docs))
	}
	if d := docs[0]; d.Index != 0 || d.Kind != "Service" || d.Name != "a" || d.Namespace != "" || d.Line != 6 || d.File != "stdin" {
		t.Errorf("doc 0: %+v", d)
	}
	if d := docs[1]; d.Index != 1 || d.Kind != "ConfigMap" || d.Namespace != "x" || d.Line != 12 {
		t.Errorf("doc 1: %+v", d)
	}
	if len(set.Services()) != 1 || set.Services()[0].Service.Namespace != "default" {
		t.Errorf("services: %+v", set.Services())
	}
	if svc, err := docs[0].Service(); err != nil || svc.Name != "a" {
		t.Errorf("Doc.Service: %v %v", svc, err)
	}
	if _, err := docs[1].Service(); err == nil {
		t.Error("Doc.Service of a ConfigMap: no error")
	}
	if got := docs[1].String(); got != "stdin: document 2" {
		t.Errorf("String: %q", got)
	}
}

func TestReadJSONAndLists(t *testing.T) {
	set, err := Read("testdata/golden/json-list.in.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !set.Files[0].JSON || len(set.Docs()) != 1 || !set.Docs()[0].IsList() {
		t.Fatalf("want one JSON List document: %+v", set.Files[0])
	}
	svcs := set.Services()
	if len(svcs) != 2 || svcs[0].Item != 0 || svcs[1].Item != 1 || svcs[1].Service.Namespace != "other" {
		t.Fatalf("services: %+v", svcs)
	}
	if got := svcs[1].String(); got != "testdata/golden/json-list.in.json: document 1: items[1]: Service other/two" {
		t.Errorf("String: %q", got)
	}
	// A stream of JSON objects.
	set = readString(t, `{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}} {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b"}}`)
	if len(set.Docs()) != 2 || set.Docs()[1].Kind != "Namespace" {
		t.Errorf("JSON stream: %+v", set.Docs())
	}
	// YAML in flow style that is not JSON.
	set = readString(t, "{apiVersion: v1, kind: Service, metadata: {name: flow}}\n")
	if set.Files[0].JSON || set.Services()[0].Service.Name != "flow" {
		t.Errorf("flow YAML: %+v", set.Files[0])
	}
	// Objects lists List items in place of the List.
	set = readString(t, "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Node\n  metadata: {name: n1}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n")
	objs := set.Objects()
	if len(objs) != 2 || objs[0].Kind != "Node" || objs[0].Line != 4 {
		t.Fatalf("objects: %+v", objs)
	}
	var node corev1.Node
	if err := objs[0].Decode(&node); err != nil || node.Name != "n1" {
		t.Errorf("Decode: %v %v", node.Name, err)
	}
}

func TestNamespaceDefault(t *testing.T) {
	const in = "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n  namespace: given\n"
	set, err := Read("-", strings.NewReader(in), "team")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := set.Services()[0].Service.Namespace, set.Services()[1].Service.Namespace; a != "team" || b != "given" {
		t.Errorf("namespaces %q %q", a, b)
	}
	set.SetDefaultNamespace("later")
	if a, b := set.Services()[0].Service.Namespace, set.Services()[1].Service.Namespace; a != "later" || b != "given" {
		t.Errorf("after SetDefaultNamespace: %q %q", a, b)
	}
	// A patch keeps the default; the manifest still names no namespace.
	if err := set.Services()[0].ApplyPatch([]byte(cluster)); err != nil {
		t.Fatal(err)
	}
	if ns := set.Services()[0].Service.Namespace; ns != "later" {
		t.Errorf("after patch: %q", ns)
	}
	if strings.Contains(writeString(t, set), "later") {
		t.Error("the default namespace was written into the manifest")
	}
	if set, _ := Read("-", strings.NewReader(in), ""); set.Services()[0].Service.Namespace != "default" {
		t.Error("empty namespace argument: want default")
	}
}

func TestReadDirectory(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"b.yaml":       "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\n",
		"a.json":       `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a"}}` + "\n",
		"c.yml":        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: c\n",
		"notes.txt":    "not a manifest",
		"d.yaml.orig":  "nope",
		"sub/e.yaml":   "apiVersion: v1\nkind: Service\nmetadata:\n  name: e\n",
		"z-multi.json": `{"apiVersion":"v1","kind":"Service","metadata":{"name":"z1"}}` + "\n" + `{"apiVersion":"v1","kind":"Service","metadata":{"name":"z2"}}` + "\n",
	}
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := Read(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range set.Services() {
		names = append(names, r.Service.Name)
	}
	if got := strings.Join(names, ","); got != "a,b,c,z1,z2" {
		t.Fatalf("services %s, want a,b,c,z1,z2 (sorted, not recursive, manifests only)", got)
	}
	for _, r := range set.Services() {
		if err := r.ApplyPatch([]byte(passThrough)); err != nil {
			t.Fatal(err)
		}
	}
	out := writeString(t, set)
	want := `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "a", "annotations": {"kubernetes.io/elb.pass-through": "true"}}}
---
apiVersion: v1
kind: Service
metadata:
  name: b
  annotations:
    kubernetes.io/elb.pass-through: "true"
---
apiVersion: v1
kind: Service
metadata:
  name: c
  annotations:
    kubernetes.io/elb.pass-through: "true"
---
{"apiVersion":"v1","kind":"Service","metadata":{"name":"z1","annotations":{"kubernetes.io/elb.pass-through":"true"}}}
---
{"apiVersion":"v1","kind":"Service","metadata":{"name":"z2","annotations":{"kubernetes.io/elb.pass-through":"true"}}}
`
	if out != want {
		t.Errorf("stream:\n%s", lineDiff(want, out))
	}
	// The stream reads back as the same objects, JSON documents still JSON.
	again := readString(t, out)
	if len(again.Services()) != 5 || !again.Docs()[0].JSON || again.Docs()[1].JSON {
		t.Fatalf("read back: %d services", len(again.Services()))
	}
	for i, r := range again.Services() {
		if mustJSON(t, r.Service) != mustJSON(t, set.Services()[i].Service) {
			t.Errorf("service %d differs after reading back", i)
		}
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	write("empty/readme.md", "# nothing")
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: ok\n"
	for _, tc := range []struct {
		name, path, stdin string
		want              string
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), "", "nope.yaml: no such file or directory"},
		{"dir without manifests", empty, "", "empty: no .yaml, .yml or .json files in the directory"},
		{"no stdin", "-", "\x00nil", "-f -: no standard input to read"},
		{"yaml syntax", write("m.yaml", svc+"---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x: y\n"), "",
			"m.yaml: document 2: yaml: line 9: mapping values are not allowed in this context"},
		{"bad indentation", "-", svc + "---\napiVersion: v1\n kind: Service\n", "stdin: document 2: yaml: line 7: "},
		{"scalar document", "-", "hello world\n", `stdin: document 1 (line 1): not a Kubernetes object: want a mapping with apiVersion and kind, found a string ("hello world")`},
		{"list document", "-", "- a\n- b\n", "stdin: document 1 (line 1): not a Kubernetes object: want a mapping with apiVersion and kind, found a list"},
		{"json array", "-", "[1, 2]", "stdin: document 1 (line 1): not a Kubernetes object: want a mapping with apiVersion and kind, found a list"},
		{"number document", "-", svc + "---\n42\n", "stdin: document 2 (line 6): not a Kubernetes object: want a mapping with apiVersion and kind, found a number (42)"},
		{"no kind", "-", svc + "---\napiVersion: v1\nmetadata:\n  name: web\n", `stdin: document 2 (line 6): object (name "web") has no "kind": every manifest object needs apiVersion and kind`},
		{"no apiVersion and kind", "-", "metadata: {}\n", `stdin: document 1 (line 1): object has no "apiVersion" or "kind": every manifest object needs apiVersion and kind`},
		{"kind not a string", "-", "apiVersion: v1\nkind: [Service]\n", "stdin: document 1 (line 1): kind must be a string, found a list"},
		{"list item without kind", "-", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  metadata: {name: x}\n", `stdin: document 1: items[0] (line 4): object (name "x") has no "kind"`},
		{"list item scalar", "-", "apiVersion: v1\nkind: List\nitems:\n- 3\n", "stdin: document 1: items[0] (line 4): not a Kubernetes object"},
		{"list items not a list", "-", "apiVersion: v1\nkind: List\nitems: {a: b}\n", "stdin: document 1 (line 1): List items must be a list, found a mapping"},
		{"duplicate key", "-", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  name: b\n", `stdin: document 1: line 5: mapping key "name" already defined at line 4`},
		{"service type error", "-", svc + "spec:\n  ports:\n  - port: \"abc\"\n", "stdin: document 1: Service ok: invalid Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32"},
		{"service yaml 1.1 bool annotation", "-", svc + "  annotations:\n    kubernetes.io/elb.health-check-flag: on\n", "stdin: document 1: Service ok: invalid Service: json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.annotations of type string (quote the value)"},
		{"service in list type error", "-", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n  spec: {ports: [{port: x}]}\n", "stdin: document 1: items[0]: Service s: invalid Service: json: cannot unmarshal string"},
		{"event type error", "-", "apiVersion: v1\nkind: Event\nmetadata:\n  name: e\n  namespace: shop\ncount: many\n", "stdin: document 1: Event shop/e: invalid Event: json: cannot unmarshal string into Go struct field Event.count of type int32"},
		{"event in list type error", "-", "apiVersion: v1\nkind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(svc, "\n"), "\n", "\n  ") + "\n- apiVersion: v1\n  kind: Event\n  metadata: {name: e}\n  involvedObject: {name: [web]}\n", "stdin: document 1: items[1]: Event e: invalid Event: json: cannot unmarshal array into Go struct field ObjectReference.involvedObject.name of type string"},
		{"binary", "-", "\x00\x01\x02\xff", "stdin: document 1 (line 1): yaml: "},
		{"invalid utf8", "-", "apiVersion: v1\nkind: \xff\n", "stdin: document 1 (line 1): yaml: invalid"},
		{"tab indentation", "-", "apiVersion: v1\nkind: Service\nmetadata:\n\tname: x\n", "stdin: document 1: yaml: line 4: found character that cannot start any token"},
		{"broken json file", write("bad.json", "{\"apiVersion\": \"v1\",\n \"kind\": }\n"), "", "bad.json: document 1: json: line 2, column 10: invalid character '}' looking for beginning of value"},
		{"second json value broken", "-", "{\"a\": 1}\n{\"b\": tru}", "stdin: document 2: json: line 2, column 7: invalid character"},
		{"json duplicate key", write("dup.json", `{"apiVersion":"v1","kind":"Service","kind":"Pod"}`), "", `dup.json: document 1: json: line 1, column 37: duplicate key "kind"`},
		{"json not object in stream", "-", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}} "str"`, `stdin: document 2 (line 1): not a Kubernetes object: want a mapping with apiVersion and kind, found a string ("str")`},
		{"unclosed quote", "-", "apiVersion: v1\nkind: 'Service\n", "stdin: document 1: yaml: line 2: found unexpected end of stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdin *strings.Reader
			if tc.stdin != "\x00nil" {
				stdin = strings.NewReader(tc.stdin)
			}
			var err error
			if stdin == nil {
				_, err = Read(tc.path, nil)
			} else {
				_, err = Read(tc.path, stdin)
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error\n  %q\nwant it to contain\n  %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
}

func TestApplyPatchErrors(t *testing.T) {
	const in = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  labels: &l\n    app: s\nspec:\n  selector: *l\n  ports:\n  - port: 80\n"
	for _, tc := range []struct{ patch, want string }{
		{`not json`, "invalid patch: invalid character 'n' looking for beginning of value at offset 0"},
		{`[]`, "invalid patch: want a JSON object, found a list"},
		{`"x"`, "invalid patch: want a JSON object"},
		{`{"a":1} x`, "invalid patch: unexpected data after the JSON object"},
		{`{"spec":{"ports":[{"port":81}]}}`, "unsupported patch: spec.ports is a list"},
		{`{"$patch":"replace"}`, `unsupported patch: the directive "$patch" (at the patch) is not supported`},
		{`{"spec":{"$retainKeys":["a"]}}`, `the directive "$retainKeys" (at spec) is not supported`},
		{`{"$setElementOrder/ports":[{"port":80}]}`, `the directive "$setElementOrder/ports"`},
		{`{"kind":"Pod"}`, "unsupported patch: it would change the object's kind"},
		{`{"apiVersion":null}`, "it would change the object's apiVersion"},
		{`{"metadata":{"labels":{"x":"y"}}}`, "cannot patch metadata.labels: it is a YAML anchor (&l)"},
		{`{"spec":{"selector":{"x":"y"}}}`, "cannot patch spec.selector: it is a YAML alias (*l)"},
		{`{"spec":{"ports":"x"}}`, "the patched object is not a valid Service: json: cannot unmarshal string into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort"},
		{`{"spec":{"type":{"a":"b"}}}`, "the patched object is not a valid Service"},
	} {
		set := readString(t, in)
		r := set.Services()[0]
		before := mustJSON(t, r.Service)
		err := r.ApplyPatch([]byte(tc.patch))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.patch, err, tc.want)
		}
		// Nothing changed.
		if got := writeString(t, set); got != in {
			t.Errorf("%s: the text changed after an error:\n%s", tc.patch, got)
		}
		if mustJSON(t, r.Service) != before || r.Changed() || set.Changed() {
			t.Errorf("%s: the Service changed after an error", tc.patch)
		}
		// And the document still takes a good patch.
		if err := r.ApplyPatch([]byte(cluster)); err != nil || r.Service.Spec.ExternalTrafficPolicy != "Cluster" {
			t.Errorf("%s: a good patch after the error: %v", tc.patch, err)
		}
	}
	// Merge keys: the merged mapping can't be patched safely.
	set := readString(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations:\n    <<: {a: b}\n")
	if err := set.Services()[0].ApplyPatch([]byte(passThrough)); err == nil || !strings.Contains(err.Error(), "merge key") {
		t.Errorf("merge key: %v", err)
	}
}

func TestApplyPatchRefreshes(t *testing.T) {
	set := readString(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  externalTrafficPolicy: Local\n")
	r := set.Services()[0]
	if r.Changed() || set.Changed() {
		t.Fatal("changed before any patch")
	}
	if err := r.ApplyPatch([]byte(passThrough)); err != nil {
		t.Fatal(err)
	}
	if r.Service.Annotations["kubernetes.io/elb.pass-through"] != "true" || !r.Changed() || !set.Changed() || !r.Doc.Changed() {
		t.Errorf("after patch: %+v", r.Service.ObjectMeta)
	}
	if svc, _ := r.Doc.Service(); svc != r.Service {
		t.Error("Doc.Service is not the refreshed Service")
	}
	// Patches apply one after another on the edited text, each with fresh positions.
	for _, p := range []string{cluster, `{"metadata":{"annotations":{"b":"2","a":"1"}}}`, `{"metadata":{"annotations":{"b":null}}}`} {
		if err := r.ApplyPatch([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	want := "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations:\n    kubernetes.io/elb.pass-through: \"true\"\n    a: \"1\"\nspec:\n  externalTrafficPolicy: Cluster\n"
	if got := writeString(t, set); got != want {
		t.Errorf("got\n%s", lineDiff(want, got))
	}
	if !bytes.Equal(r.Doc.Bytes(), []byte(want)) || string(r.Doc.Original()) == want {
		t.Error("Bytes/Original")
	}
	// A no-op patch changes nothing and reports no change.
	set = readString(t, want)
	r = set.Services()[0]
	if err := r.ApplyPatch([]byte(`{"metadata":{"annotations":{"a":"1","zzz":null}}}`)); err != nil || r.Changed() || set.Changed() {
		t.Errorf("no-op patch: %v changed=%v", err, r.Changed())
	}
}

// New values are written so that they read back as the same type, in YAML 1.2 and 1.1 alike.
func TestApplyPatchScalarTypes(t *testing.T) {
	set := readString(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n  - port: 80\n")
	r := set.Services()[0]
	strs := []string{"true", "on", "1", "null", "", "1.5", "0x1F", "~", "y", "2001-12-14", "a: b", "#x", " lead", "it's", "multi\nline", "tab\there", `quote"d`, "é", "kubernetes.io/x"}
	ann := map[string]interface{}{}
	for i, s := range strs {
		ann[string(rune('a'+i))] = s
	}
	patch := mustJSON(t, map[string]interface{}{
		"metadata": map[string]interface{}{"annotations": ann},
		"spec":     map[string]interface{}{"healthCheckNodePort": 30000, "publishNotReadyAddresses": true, "sessionAffinityConfig": map[string]interface{}{"clientIP": map[string]interface{}{"timeoutSeconds": 60}}},
	})
	if err := r.ApplyPatch([]byte(patch)); err != nil {
		t.Fatal(err)
	}
	again := readString(t, writeString(t, set)).Services()[0].Service
	for i, s := range strs {
		if got := again.Annotations[string(rune('a'+i))]; got != s {
			t.Errorf("annotation %q read back as %q", s, got)
		}
	}
	if again.Spec.HealthCheckNodePort != 30000 || !again.Spec.PublishNotReadyAddresses || *again.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds != 60 {
		t.Errorf("spec: %+v", again.Spec)
	}
}

// New keys of a nested mapping and of its parent land at one offset: the nested ones go first.
func TestNestedInsertions(t *testing.T) {
	const in = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations:\n    a: \"1\"\n    text: |\n      x\n"
	set := readString(t, in)
	r := set.Services()[0]
	if err := r.ApplyPatch([]byte(`{"metadata":{"labels":{"app":"s"},"annotations":{"b":"2"}},"spec":{"type":"ClusterIP"}}`)); err != nil {
		t.Fatal(err)
	}
	want := in + "    b: \"2\"\n  labels:\n    app: s\nspec:\n  type: ClusterIP\n"
	if got := writeString(t, set); got != want {
		t.Errorf("got\n%s", lineDiff(want, got))
	}
	// The same with a scalar turned into a mapping at the end of its parent.
	set = readString(t, "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations: ~   # c\n")
	if err := set.Services()[0].ApplyPatch([]byte(`{"metadata":{"labels":{"app":"s"},"annotations":{"b":"2"}}}`)); err != nil {
		t.Fatal(err)
	}
	want = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations:   # c\n    b: \"2\"\n  labels:\n    app: s\n"
	if got := writeString(t, set); got != want {
		t.Errorf("got\n%s", lineDiff(want, got))
	}
}

// v1 Events are read from manifests (also inside a List) for what they say about Services: their
// namespaces defaulted as Services' are, never changed or written differently.
func TestReadEvents(t *testing.T) {
	set, err := Read("testdata/examples/event-member-quota.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := set.Events()
	if len(evs) != 1 || len(set.Services()) != 0 {
		t.Fatalf("%d events, %d services; want 1 and 0", len(evs), len(set.Services()))
	}
	e := evs[0]
	inv := e.InvolvedObject
	if e.Name != "nginx.quota-example" || e.Namespace != "default" || e.Reason != "UpdateLoadBalancerFailed" ||
		e.Type != corev1.EventTypeWarning || e.Count != 12 || e.Source.Component != "hws-cloudprovider" ||
		inv.APIVersion != "v1" || inv.Kind != "Service" || inv.Name != "nginx" || inv.Namespace != "default" ||
		!strings.Contains(e.Message, `"Quota exceeded for resources: members_per_pool","error_code":"ELB.8905"`) {
		t.Errorf("event: %+v", e)
	}

	const list = `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web}
- apiVersion: v1
  kind: Event
  metadata: {name: web.1}
  involvedObject: {kind: Service, name: web}
  message: first
- apiVersion: events.k8s.io/v1
  kind: Event
  metadata: {name: web.2}
  note: not a core v1 Event
- apiVersion: v1
  kind: Event
  metadata: {name: web.3, namespace: shop}
  involvedObject: {kind: Service, name: web}
  series: {count: 3}
- apiVersion: v1
  kind: Event
  metadata: {name: web.4, namespace: shop}
  involvedObject: {kind: Service, name: web, namespace: other}
`
	set, err = Read("-", strings.NewReader(list), "team")
	if err != nil {
		t.Fatal(err)
	}
	type ns struct{ name, ns, involved string }
	var got []ns
	for _, e := range set.Events() {
		got = append(got, ns{e.Name, e.Namespace, e.InvolvedObject.Namespace})
	}
	want := []ns{{"web.1", "team", "team"}, {"web.3", "shop", "shop"}, {"web.4", "shop", "other"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events (name, namespace, involvedObject.namespace):\n  %v\nwant\n  %v", got, want)
	}
	if evs := set.Events(); evs[0].Message != "first" || evs[1].Series == nil || evs[1].Series.Count != 3 {
		t.Errorf("decoded: %+v", evs)
	}
	set.SetDefaultNamespace("later")
	if e := set.Events()[0]; e.Namespace != "later" || e.InvolvedObject.Namespace != "later" {
		t.Errorf("after SetDefaultNamespace: %q %q", e.Namespace, e.InvolvedObject.Namespace)
	}
	// What a caller does to the Events it got changes neither the Set nor the manifest.
	evs = set.Events()
	evs[0].Message, evs[1].Series.Count = "changed", 99
	if again := set.Events(); again[0].Message != "first" || again[1].Series.Count != 3 {
		t.Errorf("Events returned the stored Events: message %q, series count %d", again[0].Message, again[1].Series.Count)
	}
	// Patching the Service leaves the Events' text as it was.
	if err := set.Services()[0].ApplyPatch([]byte(cluster)); err != nil {
		t.Fatal(err)
	}
	out := writeString(t, set)
	if want := strings.Replace(list, "  metadata: {name: web}\n", "  metadata: {name: web}\n  spec:\n    externalTrafficPolicy: Cluster\n", 1); out != want {
		t.Errorf("written:\n%s", lineDiff(want, out))
	}
	if len(set.Events()) != 3 {
		t.Errorf("after a patch: %d events", len(set.Events()))
	}
}
