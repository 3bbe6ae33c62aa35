package engine

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
)

// leanInput is a stream of Services in every combination of ELB class, traffic policy and
// pass-through, several sharing ELB ids (so that some fixes carry companions), and an Event
// naming one of them.
func leanInput() string {
	classes := []string{"union", "performance", "shared", "dedicated"}
	passThroughs := []string{"", "true", "false", "onlyLocal"}
	var b strings.Builder
	for i := range 64 {
		policy := "Cluster"
		if i%2 == 0 {
			policy = "Local"
		}
		pt := ""
		if v := passThroughs[(i/2)%len(passThroughs)]; v != "" {
			pt = fmt.Sprintf("\n    %s: %q", elb.AnnPassThrough, v)
		}
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Service
metadata:
  name: svc-%02d
  namespace: team-%d
  annotations:
    kubernetes.io/elb.class: %s
    kubernetes.io/elb.id: 0b5e7c1d-2a3f-4e6b-8c9d-%012d%s
spec:
  type: LoadBalancer
  externalTrafficPolicy: %s
  selector:
    app: a%d
  ports:
  - port: 80
    targetPort: 8080
status:
  loadBalancer:
    ingress:
    - ip: 192.168.0.%d
`, i, i%3, classes[(i/8)%len(classes)], i%7, pt, policy, i, i%7+1)
	}
	b.WriteString(`---
apiVersion: v1
kind: Event
metadata:
  name: svc-00.quota
  namespace: team-0
involvedObject:
  kind: Service
  name: svc-00
  namespace: team-0
reason: UpdateLoadBalancerFailed
message: "Quota exceeded for resources: members_per_pool, ELB.8905"
type: Warning
`)
	return b.String()
}

// TestOfflineLean: a lean run (-o manifest) writes the same manifests, with the same changes and
// companions, as a full one, and keeps no finding.
func TestOfflineLean(t *testing.T) {
	run := func(lean bool) (*OfflineResult, string) {
		t.Helper()
		o := &Offline{Filename: "-", In: strings.NewReader(leanInput()), Namespace: "default", Strategy: "auto", Lean: lean,
			Overrides: detect.Overrides{NetworkModel: "vpc", ProxyMode: "ipvs", ClusterVersion: "v1.25.5-r0"}}
		res, err := o.Run()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := res.Manifests.Write(&out); err != nil {
			t.Fatal(err)
		}
		return res, out.String()
	}
	full, fullText := run(false)
	lean, leanText := run(true)
	if fullText != leanText {
		t.Errorf("the lean run wrote other manifests:\n--- full\n%s\n--- lean\n%s", fullText, leanText)
	}
	if len(full.Plans) != 64 || len(lean.Plans) != len(full.Plans) {
		t.Fatalf("want 64 plans in both runs, got %d and %d", len(full.Plans), len(lean.Plans))
	}
	var findings, changed, companions int
	for i, f := range full.Plans {
		l := lean.Plans[i]
		findings += len(f.Plan.Findings)
		if f.Plan.Changed {
			changed++
		}
		companions += len(f.Also)
		if l.Plan.Name != f.Plan.Name || l.Plan.Changed != f.Plan.Changed || len(l.Also) != len(f.Also) || !bytes.Equal(l.Patch, f.Patch) {
			t.Errorf("%s: lean changed=%v also=%d patch=%s; full changed=%v also=%d patch=%s",
				f.Plan.Name, l.Plan.Changed, len(l.Also), l.Patch, f.Plan.Changed, len(f.Also), f.Patch)
		}
		if len(l.Plan.Findings) != 0 || l.Plan.NoFix != nil || len(l.Plan.Notes) != 0 {
			t.Errorf("%s: the lean plan kept its findings, noFix or notes", l.Plan.Name)
		}
	}
	// The input must exercise what the comparison is about.
	if findings == 0 || changed == 0 || companions == 0 {
		t.Errorf("the input has %d findings, %d changed Services and %d companions; want some of each", findings, changed, companions)
	}
	if !strings.Contains(fullText, elb.AnnPassThrough+`: "true"`) {
		t.Errorf("no fix wrote pass-through:\n%s", fullText)
	}
}
