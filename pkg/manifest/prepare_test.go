package manifest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// patchRun reads data, applies each patch in turn to every Service (after PreparePatches of the
// round's patches when prepare is set) and tells what came out: the errors, the Services and the
// text written.
func patchRun(t *testing.T, data []byte, patches []string, prepare bool) string {
	t.Helper()
	set, err := Read("-", bytes.NewReader(data))
	if err != nil {
		return "read: " + err.Error()
	}
	var b strings.Builder
	for _, p := range patches {
		if prepare {
			var pre []Patch
			for _, r := range set.Services() {
				pre = append(pre, Patch{Ref: r, Patch: []byte(p)})
			}
			set.PreparePatches(pre)
		}
		for _, r := range set.Services() {
			err := r.ApplyPatch([]byte(p))
			fmt.Fprintf(&b, "%s: %v changed=%v\n%s\n", r, err, r.Changed(), mustJSON(t, r.Service))
		}
	}
	var out bytes.Buffer
	if err := set.Write(&out); err != nil {
		t.Fatalf("Write: %v", err)
	}
	b.Write(out.Bytes())
	for _, d := range set.Docs() {
		fmt.Fprintf(&b, "\n%s: %s %s %s/%s line %d changed=%v", d, d.APIVersion, d.Kind, d.Namespace, d.Name, d.Line, d.Changed())
	}
	return b.String()
}

// TestPreparePatches: patches worked out ahead give what ApplyPatch alone gives (text, Services,
// errors), on every golden input with its patches, and when a document changes in between (a
// List's second item) or the patch applied is another one than prepared.
func TestPreparePatches(t *testing.T) {
	files, err := filepath.Glob("testdata/golden/*.patch")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden patches: %v", err)
	}
	for _, pf := range files {
		name := strings.TrimSuffix(filepath.Base(pf), ".patch")
		in, _ := goldenInput(t, name)
		data, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		patches := patchLines(t, pf)
		if got, want := patchRun(t, data, patches, true), patchRun(t, data, patches, false); got != want {
			t.Errorf("%s: prepared\n%s\nwant\n%s", name, got, want)
		}
	}
	list := `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Service","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Service","metadata":{"name":"b"}}]}`
	for _, data := range []string{list, fuzzService, fuzzServiceJSON} {
		patches := []string{passThrough, cluster, `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}`, `{"spec":{"ports":[]}}`, `{}`}
		if got, want := patchRun(t, []byte(data), patches, true), patchRun(t, []byte(data), patches, false); got != want {
			t.Errorf("prepared\n%s\nwant\n%s", got, want)
		}
	}
	// Prepared and taken.
	set, err := Read("-", strings.NewReader(fuzzService))
	if err != nil {
		t.Fatal(err)
	}
	r := set.Services()[0]
	set.PreparePatches([]Patch{{Ref: r, Patch: []byte(passThrough)}})
	p := r.Doc.prepared
	if p == nil || !p.changed {
		t.Fatalf("nothing prepared: %+v", p)
	}
	if err := r.ApplyPatch([]byte(passThrough)); err != nil {
		t.Fatal(err)
	}
	if r.Doc.node != p.result.node || r.Service != p.svc || r.Doc.prepared != nil {
		t.Error("ApplyPatch did not take the patch prepared")
	}
	// Prepared with one patch, applied with another.
	if set, err = Read("-", strings.NewReader(fuzzService)); err != nil {
		t.Fatal(err)
	}
	r = set.Services()[0]
	set.PreparePatches([]Patch{{Ref: r, Patch: []byte(passThrough)}})
	if err := r.ApplyPatch([]byte(cluster)); err != nil {
		t.Fatal(err)
	}
	if r.Service.Spec.ExternalTrafficPolicy != "Cluster" || r.Service.Annotations["kubernetes.io/elb.pass-through"] != "" {
		t.Errorf("applied the prepared patch instead of the one given: %s", mustJSON(t, r.Service))
	}
}

// FuzzPreparePatches: on any input, patches worked out ahead give what ApplyPatch alone gives.
func FuzzPreparePatches(f *testing.F) {
	addSeeds(f, "testdata/examples/*.yaml", "testdata/golden/*.in.*")
	f.Add([]byte(fuzzService))
	f.Fuzz(func(t *testing.T, data []byte) {
		patches := []string{passThrough, cluster, `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}`}
		if got, want := patchRun(t, data, patches, true), patchRun(t, data, patches, false); got != want {
			t.Fatalf("prepared\n%s\nwant\n%s", got, want)
		}
	})
}
