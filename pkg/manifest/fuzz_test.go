package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"testing/iotest"

	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

func addSeeds(f *testing.F, globs ...string) {
	for _, g := range globs {
		files, _ := filepath.Glob(g)
		for _, p := range files {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
}

// FuzzRead: any bytes as a manifest never panic; what reads is written back as it was and reads
// again as the same documents; the plugin's two patches apply to every Service or fail cleanly.
func FuzzRead(f *testing.F) {
	addSeeds(f, "testdata/examples/*.yaml", "testdata/golden/*.in.*")
	for _, s := range []string{
		"", "---", "---\n---\n", "# c\n", "...\n", "%YAML 1.2\n---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n", "{}", "[]", "null", `{"apiVersion":"v1","kind":"Service"}`,
		"apiVersion: v1\nkind: Service\nspec:\n  s: |\n    x\n", "apiVersion: v1\r\nkind: Service\r\n",
		"\ufeffapiVersion: v1\nkind: Service\nmetadata: {name: bom}\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations: &a\n    x: y\n  labels: *a\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: !!str a\n  annotations:\n    k: |2+\n      text\n\n...\n",
		"apiVersion: v1\nkind: Service\nmetadata: {name: a, annotations: {\n  k: v }}\nspec:\n  externalTrafficPolicy: 'Local'",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  annotations:\n    k: plain\n      continued\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n- name: a\n",
		"apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  externalTrafficPolicy: \"Lo\\\"cal\"  # c\n",
		`{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}}]}`,
		`{"kind":"List","apiVersion":"v1","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"a","annotations":{}}},{"apiVersion":"v1","kind":"Service","metadata":{"name":"b"},"spec":{"externalTrafficPolicy":"Local"}}]}`,
		"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: b\n    annotations:\n      x: 'y'\n  spec:\n    externalTrafficPolicy: Local\n- {apiVersion: v1, kind: Service, metadata: {name: c}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(checkRead)
}

// checkRead is FuzzRead's property for one input.
func checkRead(t *testing.T, data []byte) {
	{
		set, err := Read("-", bytes.NewReader(data))
		checkStream(t, data, set, err)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := set.Write(&out); err != nil {
			t.Fatalf("Write: %v", err)
		}
		if !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("Write does not reproduce the input:\n%q\n%q", data, out.Bytes())
		}
		again, err := Read("-", bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("the output does not read again: %v", err)
		}
		sameSets(t, set, again)
		checkApplyPatches(t, data)
		for _, r := range set.Services() {
			for _, p := range fuzzPatches {
				before := string(r.Doc.Bytes())
				if err := r.ApplyPatch([]byte(p)); err != nil {
					if string(r.Doc.Bytes()) != before {
						t.Fatalf("a failed patch changed the document: %v", err)
					}
					continue
				}
			}
		}
		out.Reset()
		if err := set.Write(&out); err != nil {
			t.Fatalf("Write after patches: %v", err)
		}
		patched, err := Read("-", bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("the patched output does not read again: %v\n%s", err, out.Bytes())
		}
		sameSets(t, set, patched)
	}
}

// fuzzPatches are the patches FuzzRead applies to every Service.
var fuzzPatches = []string{passThrough, cluster, `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}`}

// checkApplyPatches: ApplyPatches, a patch to each Service of the input, gives what ApplyPatch
// one after another gives: the same error for the same patch, or the same texts, Services and
// changes.
func checkApplyPatches(t *testing.T, data []byte) {
	t.Helper()
	for k := range fuzzPatches {
		a, errA := Read("-", bytes.NewReader(data))
		b, errB := Read("-", bytes.NewReader(data))
		if errA != nil || errB != nil {
			t.Fatalf("the input read once, not again: %v, %v", errA, errB)
		}
		var patches []Patch
		for i, r := range a.Services() {
			patches = append(patches, Patch{Ref: r, Patch: []byte(fuzzPatches[(i+k)%len(fuzzPatches)])})
		}
		gotAt, gotErr := a.ApplyPatches(patches)
		wantAt, wantErr := -1, error(nil)
		for i, r := range b.Services() {
			if err := r.ApplyPatch([]byte(fuzzPatches[(i+k)%len(fuzzPatches)])); err != nil {
				wantAt, wantErr = i, err
				break
			}
		}
		if gotAt != wantAt || (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("patches %d: ApplyPatches failed at %d (%v), one after another at %d (%v)", k, gotAt, gotErr, wantAt, wantErr)
		}
		if gotErr != nil {
			continue
		}
		var outA, outB bytes.Buffer
		_ = a.Write(&outA)
		_ = b.Write(&outB)
		if !bytes.Equal(outA.Bytes(), outB.Bytes()) {
			t.Fatalf("patches %d: ApplyPatches wrote\n%q\none after another\n%q", k, outA.Bytes(), outB.Bytes())
		}
		for i, r := range a.Services() {
			ja, _ := json.Marshal(r.Service)
			jb, _ := json.Marshal(b.Services()[i].Service)
			if r.Changed() != b.Services()[i].Changed() || !bytes.Equal(ja, jb) {
				t.Fatalf("patches %d: Service %d: changed %v %s; one after another %v %s", k, i, r.Changed(), ja, b.Services()[i].Changed(), jb)
			}
		}
	}
}

// checkStream: ReadStream gives what Read gave (set, or err) for the same input, whatever the
// size of its blocks and of the reads, and hands every Service and Event on, in order.
func checkStream(t *testing.T, data []byte, set *Set, err error) {
	t.Helper()
	for _, block := range []int{1, 7, 64, 4096} {
		var svcs []*ServiceRef
		var events int
		visit := func(refs []*ServiceRef, evs []*corev1.Event) error {
			svcs, events = append(svcs, refs...), events+len(evs)
			return nil
		}
		got, gerr := readStream(iotest.HalfReader(bytes.NewReader(data)), "", visit, block)
		if (err == nil) != (gerr == nil) || (err != nil && err.Error() != gerr.Error()) {
			t.Fatalf("block %d: ReadStream's error %v, Read's %v", block, gerr, err)
		}
		if err != nil {
			continue
		}
		sameSets(t, set, got)
		for i, d := range set.Docs() {
			g := got.Docs()[i]
			if g.Index != d.Index || g.Line != d.Line || g.startLine != d.startLine || !bytes.Equal(g.orig, d.orig) {
				t.Fatalf("block %d: document %d: index %d line %d start %d %q, Read's %d %d %d %q",
					block, i, g.Index, g.Line, g.startLine, g.orig, d.Index, d.Line, d.startLine, d.orig)
			}
		}
		if len(svcs) != len(set.Services()) || events != len(set.Events()) {
			t.Fatalf("block %d: visit saw %d Services and %d Events, Read %d and %d", block, len(svcs), events, len(set.Services()), len(set.Events()))
		}
		for i, r := range svcs {
			if r != got.Services()[i] {
				t.Fatalf("block %d: Service %d handed on out of order", block, i)
			}
		}
		var out bytes.Buffer
		if err := got.Write(&out); err != nil || !bytes.Equal(out.Bytes(), data) {
			t.Fatalf("block %d: Write does not reproduce the input (%v):\n%q\n%q", block, err, data, out.Bytes())
		}
	}
}

// sameSets checks that b holds the documents and Services of a.
func sameSets(t *testing.T, a, b *Set) {
	t.Helper()
	da, db := a.Docs(), b.Docs()
	if len(da) != len(db) {
		t.Fatalf("%d documents, then %d", len(da), len(db))
	}
	for i := range da {
		x, y := da[i], db[i]
		if x.APIVersion != y.APIVersion || x.Kind != y.Kind || x.Name != y.Name || x.Namespace != y.Namespace || x.JSON != y.JSON ||
			!sameTree(docRoot(x.Node()), docRoot(y.Node()), 0) {
			t.Fatalf("document %d differs:\n%+v\n%+v", i, x, y)
		}
	}
	sa, sb := a.Services(), b.Services()
	if len(sa) != len(sb) {
		t.Fatalf("%d Services, then %d", len(sa), len(sb))
	}
	for i := range sa {
		ja, _ := json.Marshal(sa[i].Service)
		jb, _ := json.Marshal(sb[i].Service)
		if !bytes.Equal(ja, jb) {
			t.Fatalf("Service %d differs:\n%s\n%s", i, ja, jb)
		}
	}
}

const fuzzService = `# The Service under test.
apiVersion: v1
kind: Service
metadata:
  name: web   # the name
  namespace: shop
  labels: {app: web}
  annotations:
    kubernetes.io/elb.class: union
    kubernetes.io/elb.autocreate: >-
      {"type":"public"}

    note: 'it''s'
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
  sessionAffinity:
status: {}
`

const fuzzServiceJSON = `{
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "annotations": {"a": "b"}, "labels": {}},
    "spec": {
        "type": "LoadBalancer",
        "ports": [{"port": 80}]
    }
}
`

// FuzzApplyPatch: any patch on a fixed Service never panics; a patch either fails leaving the
// document as it was, or gives text that reads back as the merge of the patch into the object.
func FuzzApplyPatch(f *testing.F) {
	for _, s := range []string{
		passThrough, cluster, `{}`, `null`, `[]`, `{"metadata":{"annotations":null}}`,
		`{"metadata":{"annotations":{"kubernetes.io/elb.class":null,"kubernetes.io/elb.autocreate":null,"note":null}}}`,
		`{"metadata":{"labels":{"app":null}}}`, `{"metadata":{"labels":{"x":"1"}}}`, `{"spec":{"sessionAffinity":"ClientIP"}}`,
		`{"spec":{"selector":{"app":"x","tier":"y"}},"status":{"loadBalancer":{}}}`, `{"metadata":{"annotations":{"": "", "a: b": "#", "x": "multi\nline"}}}`,
		`{"spec":{"healthCheckNodePort":1e3}}`, `{"spec":{"publishNotReadyAddresses":true}}`, `{"spec":{"ports":null}}`,
		`{"metadata":{"name":"other","namespace":null}}`, `{"newTop":{"a":{"b":"c"}}}`, `{"$patch":"delete"}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, patch []byte, isJSON bool) {
		in := fuzzService
		if isJSON {
			in = fuzzServiceJSON
		}
		set, err := Read("-", bytes.NewReader([]byte(in)))
		if err != nil {
			t.Fatal(err)
		}
		r := set.Services()[0]
		if err := r.ApplyPatch(patch); err != nil {
			var out bytes.Buffer
			if err := set.Write(&out); err != nil || out.String() != in || r.Changed() {
				t.Fatalf("a failed patch changed the document: %v", err)
			}
			return
		}
		var out bytes.Buffer
		if err := set.Write(&out); err != nil {
			t.Fatal(err)
		}
		again, err := Read("-", bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("the patched document does not read back: %v\n%s", err, out.Bytes())
		}
		sameSets(t, set, again)
		// The result is the merge of the patch into the object.
		want := reference(t, []byte(in), patch, isJSON)
		got := generic(t, out.Bytes(), isJSON)
		if !reflect.DeepEqual(got, want) {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			t.Fatalf("patched object\n%s\nwant\n%s\ntext:\n%s", gj, wj, out.Bytes())
		}
	})
}

// generic reads a manifest as kubectl would (YAML to JSON) into generic values.
func generic(t *testing.T, text []byte, isJSON bool) interface{} {
	t.Helper()
	j := text
	if !isJSON {
		var err error
		if j, err = sigsyaml.YAMLToJSON(text); err != nil {
			t.Fatalf("YAMLToJSON: %v\n%s", err, text)
		}
	}
	var v interface{}
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// reference merges a patch into a manifest the way ApplyPatch means to: objects merge, other
// values replace, null deletes, and a merge that gives an empty object where there was none (or
// null) leaves it so.
func reference(t *testing.T, in, patch []byte, isJSON bool) interface{} {
	t.Helper()
	var p interface{}
	if err := json.Unmarshal(patch, &p); err != nil {
		t.Fatalf("a patch that ApplyPatch took is not JSON: %v", err)
	}
	out, _ := mergeRef(generic(t, in, isJSON), p)
	return out
}

func mergeRef(target, patch interface{}) (interface{}, bool) {
	pm, ok := patch.(map[string]interface{})
	if !ok {
		return patch, true
	}
	tm, ok := target.(map[string]interface{})
	fresh := !ok
	if fresh {
		tm = map[string]interface{}{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
			continue
		}
		if merged, set := mergeRef(tm[k], v); set {
			tm[k] = merged
		}
	}
	if fresh && target == nil && len(tm) == 0 && len(pm) > 0 {
		return nil, false
	}
	return tm, true
}
