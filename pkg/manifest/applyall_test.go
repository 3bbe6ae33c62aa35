package manifest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestApplyPatchesTogether: the patches of a List's Services are made in one edit of the List
// (not one after another), and give the text that one after another gives, in YAML and JSON.
func TestApplyPatchesTogether(t *testing.T) {
	var y, j strings.Builder
	y.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	j.WriteString(`{"apiVersion": "v1", "kind": "List", "items": [`)
	for i := range 50 {
		ann := ""
		if i%3 == 0 {
			ann = "\n    annotations:\n      kubernetes.io/elb.class: 'union'"
		}
		fmt.Fprintf(&y, "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s%d%s\n  spec:\n    type: LoadBalancer\n    externalTrafficPolicy: Local\n", i, ann)
		if i > 0 {
			j.WriteString(",")
		}
		fmt.Fprintf(&j, "\n  {\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"s%d\"}, \"spec\": {\"externalTrafficPolicy\": \"Local\"}}", i)
	}
	j.WriteString("\n]}\n")
	for _, input := range []string{y.String(), j.String()} {
		a, err := Read("-", strings.NewReader(input))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := Read("-", strings.NewReader(input))
		refs := a.Services()
		var patches [][]byte
		for i, r := range b.Services() {
			p := []byte(fuzzPatches[i%2])
			patches = append(patches, p)
			if err := r.ApplyPatch(p); err != nil {
				t.Fatal(err)
			}
		}
		if !refs[0].Doc.applyTogether(refs, patches) {
			t.Fatalf("the List's patches were not made together:\n%s", input)
		}
		var outA, outB bytes.Buffer
		_, _ = a.Write(&outA), b.Write(&outB)
		if outA.String() != outB.String() || outA.String() == input {
			t.Errorf("together:\n%s\none after another:\n%s", outA.String(), outB.String())
		}
		for i, r := range refs {
			if !r.Changed() || r.Service.Spec.ExternalTrafficPolicy != b.Services()[i].Service.Spec.ExternalTrafficPolicy {
				t.Errorf("Service %d: changed %v, policy %q; one after another %q", i, r.Changed(), r.Service.Spec.ExternalTrafficPolicy, b.Services()[i].Service.Spec.ExternalTrafficPolicy)
			}
		}
	}
}
