package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestRandomPatches applies random patches (nested objects, tricky strings, numbers, booleans,
// deletions) to every Service of every golden input and checks each result against the reference
// merge, read back as kubectl would read it.
func TestRandomPatches(t *testing.T) {
	n := 300
	if s := os.Getenv("RANDOM_PATCHES"); s != "" {
		_ = json.Unmarshal([]byte(s), &n)
	}
	inputs, _ := filepath.Glob("testdata/golden/*.in.*")
	keys := []string{"metadata", "annotations", "labels", "spec", "externalTrafficPolicy", "selector", "app",
		"kubernetes.io/elb.class", "kubernetes.io/elb.pass-through", "new", "a: b", "", "x y", "on", "#c", "-", "é"}
	values := []interface{}{"true", "on", "Cluster", "", "1", "a: b", "#x", " lead", "it's", `q"d`, "line\nbreak",
		"{\"type\":\"public\"}", "[x]", "a,b", "null", "~", 1, 2.5, true, false, nil, nil}
	rng := rand.New(rand.NewSource(42))
	var gen func(depth int) map[string]interface{}
	gen = func(depth int) map[string]interface{} {
		m := map[string]interface{}{}
		for i := rng.Intn(3); i >= 0; i-- {
			k := keys[rng.Intn(len(keys))]
			if depth < 3 && rng.Intn(2) == 0 {
				m[k] = gen(depth + 1)
			} else {
				m[k] = values[rng.Intn(len(values))]
			}
		}
		return m
	}
	applied := 0
	defer func() { t.Logf("%d of %d patches applied", applied, n) }()
	for i := 0; i < n; i++ {
		in := inputs[rng.Intn(len(inputs))]
		data, _ := os.ReadFile(in)
		isJSON := strings.HasSuffix(in, ".json")
		set, err := Read(in, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Keep the patch on metadata/spec mostly, as the plugin's are.
		p := gen(0)
		if rng.Intn(3) > 0 {
			p = map[string]interface{}{[]string{"metadata", "spec"}[rng.Intn(2)]: p}
		}
		patch, _ := json.Marshal(p)
		refs := set.Services()
		if len(refs) == 0 {
			continue
		}
		pick := rng.Intn(len(refs))
		r := refs[pick]
		docBefore := string(r.Doc.Bytes())
		err = r.ApplyPatch(patch)
		// The same patch on the same input read as a large input is (leanInputBytes: no tree
		// kept, parsed again to edit) gives the same outcome, byte for byte.
		lean, lerr := Read(in, nil)
		if lerr != nil {
			t.Fatal(lerr)
		}
		for _, d := range lean.Docs() {
			d.dropTree()
		}
		lr := lean.Services()[pick]
		if lerr = lr.ApplyPatch(patch); fmt.Sprint(lerr) != fmt.Sprint(err) || !bytes.Equal(lr.Doc.Bytes(), r.Doc.Bytes()) {
			t.Fatalf("%s %s: without the kept tree: error %v, want %v; text:\n%s\nwant:\n%s", in, patch, lerr, err, lr.Doc.Bytes(), r.Doc.Bytes())
		}
		if err != nil {
			if string(r.Doc.Bytes()) != docBefore {
				t.Fatalf("%s %s: a failed patch changed the document: %v", in, patch, err)
			}
			continue
		}
		applied++
		var out bytes.Buffer
		if err := set.Write(&out); err != nil {
			t.Fatal(err)
		}
		again, err := Read("-", bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("%s %s: does not read back: %v\n%s", in, patch, err, out.Bytes())
		}
		sameSets(t, set, again)
		// The patched object equals the reference merge of the original one.
		orig := docObject(t, data, r.Doc.Index, r.Item, isJSON)
		want, _ := mergeRef(orig, mustUnmarshal(t, patch))
		got := docObject(t, r.Doc.Bytes(), 0, r.Item, isJSON)
		if !reflect.DeepEqual(got, want) {
			gj, _ := json.Marshal(got)
			wj, _ := json.Marshal(want)
			t.Fatalf("%s %s:\ngot  %s\nwant %s\ntext:\n%s", in, patch, gj, wj, r.Doc.Bytes())
		}
		// Unchanged documents are as they were.
		for _, d := range set.Docs() {
			if d != r.Doc && d.Changed() {
				t.Fatalf("%s: %s changed", in, d)
			}
		}
	}
}

func mustUnmarshal(t *testing.T, b []byte) interface{} {
	t.Helper()
	var v interface{}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// docObject reads document index (or a List item of it) as generic values, the way kubectl would.
func docObject(t *testing.T, text []byte, index, item int, isJSON bool) interface{} {
	t.Helper()
	set, err := Read("-", bytes.NewReader(text))
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	d := set.Docs()[index]
	v := generic(t, d.Bytes()[d.valueOff:], isJSON || d.JSON)
	if item >= 0 {
		v = v.(map[string]interface{})["items"].([]interface{})[item]
	}
	return v
}

// An input of leanInputBytes or more keeps no document tree after Read; a smaller one keeps
// them. Either way a patch edits the document.
func TestLeanRead(t *testing.T) {
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n"
	for _, tc := range []struct {
		name    string
		padding int
		lean    bool
	}{{"small", 0, false}, {"large", leanInputBytes, true}} {
		t.Run(tc.name, func(t *testing.T) {
			text := svc + "# " + strings.Repeat("x", tc.padding) + "\n"
			set, err := Read("-", strings.NewReader(text))
			if err != nil {
				t.Fatal(err)
			}
			d := set.Docs()[0]
			if lean := d.node == nil; lean != tc.lean {
				t.Fatalf("tree dropped: %v, want %v", lean, tc.lean)
			}
			if err := set.Services()[0].ApplyPatch([]byte(`{"spec":{"externalTrafficPolicy":"Cluster"}}`)); err != nil {
				t.Fatal(err)
			}
			if want := strings.Replace(text, "Local", "Cluster", 1); string(d.Bytes()) != want {
				t.Fatalf("patched text differs from the input by more than the field (%d bytes, want %d)", len(d.Bytes()), len(want))
			}
			if lean := d.node == nil; lean != tc.lean {
				t.Fatalf("tree dropped after the patch: %v, want %v", lean, tc.lean)
			}
			// A second patch of the same document parses the patched text again.
			if err := set.Services()[0].ApplyPatch([]byte(`{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}`)); err != nil {
				t.Fatal(err)
			}
			if got := string(d.Bytes()); !strings.Contains(got, "externalTrafficPolicy: Cluster") || !strings.Contains(got, `kubernetes.io/elb.pass-through: "true"`) {
				t.Fatalf("second patch:\n%.300s", got)
			}
		})
	}
}
