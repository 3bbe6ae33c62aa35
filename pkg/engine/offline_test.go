package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/detect"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/elb"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/manifest"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// serviceDoc is a LoadBalancer Service's YAML document in namespace team-NS, with annotations
// ann (indented lines, each after a newline), the policy, selector app=aAPP and address ip.
func serviceDoc(name string, ns int, ann, policy string, app int, ip string) string {
	return fmt.Sprintf(`---
apiVersion: v1
kind: Service
metadata:
  name: %s
  namespace: team-%d
  annotations:%s
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
    - ip: %s
`, name, ns, ann, policy, app, ip)
}

// leanInput is a stream of Services in every combination of ELB class, traffic policy and
// pass-through, several sharing ELB ids (so that some fixes carry companions), a List of three
// more, and an Event naming one of them.
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
		ann := fmt.Sprintf("\n    kubernetes.io/elb.class: %s\n    kubernetes.io/elb.id: 0b5e7c1d-2a3f-4e6b-8c9d-%012d%s", classes[(i/8)%len(classes)], i%7, pt)
		b.WriteString(serviceDoc(fmt.Sprintf("svc-%02d", i), i%3, ann, policy, i, fmt.Sprintf("192.168.0.%d", i%7+1)))
	}
	// A List whose Services are fixed (and one a companion) in one edit of it, in a lean run.
	b.WriteString(`---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: list-0, namespace: team-0, annotations: {kubernetes.io/elb.class: union}}
  spec: {type: LoadBalancer, externalTrafficPolicy: Local}
- apiVersion: v1
  kind: Service
  metadata:
    name: list-1
    namespace: team-1
    annotations:
      kubernetes.io/elb.class: union
      kubernetes.io/elb.id: 0b5e7c1d-2a3f-4e6b-8c9d-000000000001
  spec:
    type: LoadBalancer
    externalTrafficPolicy: Cluster
- apiVersion: v1
  kind: Service
  metadata: {name: list-2, namespace: team-2}
  spec: {type: LoadBalancer, externalTrafficPolicy: Local}
`)
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

// ipvsFacts are the cluster facts the offline tests plan with.
var ipvsFacts = detect.Overrides{NetworkModel: "vpc", ProxyMode: "ipvs", ClusterVersion: "v1.25.5-r0"}

// runOffline runs svc -f name (input on stdin) with strategy auto and ipvsFacts, Lean as -o
// manifest sets it, and returns the result and the manifests it writes.
func runOffline(t *testing.T, name, input string, lean bool) (*OfflineResult, string) {
	t.Helper()
	o := &Offline{Filename: name, In: strings.NewReader(input), Namespace: "default", Strategy: "auto", Lean: lean, Overrides: ipvsFacts}
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

// TestOfflineLean: a lean run (-o manifest) writes the same manifests, with the same changes and
// companions, as a full one, and keeps no finding.
func TestOfflineLean(t *testing.T) {
	full, fullText := runOffline(t, "-", leanInput(), false)
	lean, leanText := runOffline(t, "-", leanInput(), true) // planned as the stream comes
	if fullText != leanText {
		t.Errorf("the lean run wrote other manifests:\n--- full\n%s\n--- lean\n%s", fullText, leanText)
	}
	if len(full.Plans) != 67 || len(lean.Plans) != len(full.Plans) {
		t.Fatalf("want 67 plans in both runs, got %d and %d", len(full.Plans), len(lean.Plans))
	}
	var findings, changed, companions, listed int
	for i, f := range full.Plans {
		l := lean.Plans[i]
		// A Service of a List shows its object's diff (Live, Result), not the whole List's text.
		if inList := strings.HasPrefix(f.Plan.Name, "list-"); f.Plan.Changed && (inList != (f.Before == nil) || (inList && (f.Live == nil || f.Result == f.Live))) {
			t.Errorf("%s: in a List %v, with the document's text %v, objects %v and %v", f.Plan.Name, inList, f.Before != nil, f.Live != nil, f.Result != nil)
		} else if inList && f.Plan.Changed {
			listed++
		}
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
	if findings == 0 || changed == 0 || companions == 0 || listed == 0 {
		t.Errorf("the input has %d findings, %d changed Services, %d companions and %d changed in a List; want some of each", findings, changed, companions, listed)
	}
	if !strings.Contains(fullText, elb.AnnPassThrough+`: "true"`) {
		t.Errorf("no fix wrote pass-through:\n%s", fullText)
	}
}

// streamInput is a stream of n Services over several of ReadStream's blocks: some without an
// elb.id (planned as their block is read), some on ELB ids shared from the first block to the
// last (planned at the end), two on one, some alone on theirs, a List of Services, a JSON
// document, documents ended by "...", and Events before and after the Services they name.
func streamInput(n int) string {
	classes := []string{"union", "performance", "shared", "dedicated"}
	passThroughs := []string{"", "true", "false", "onlyLocal"}
	var b strings.Builder
	b.WriteString("# a stream\n")
	for i := range n {
		policy := "Cluster"
		if i%2 == 0 {
			policy = "Local"
		}
		ann := fmt.Sprintf("\n    kubernetes.io/elb.class: %s", classes[(i/8)%len(classes)])
		if v := passThroughs[(i/2)%len(passThroughs)]; v != "" {
			ann += fmt.Sprintf("\n    %s: %q", elb.AnnPassThrough, v)
		}
		if i%3 == 0 {
			id := i % 11 // shared from the first block to the last
			switch {
			case i == 3 || i == n-24:
				id = 999 // a pair, in the first block and the last
			case i%9 == 0:
				id = 1000 + i // alone on its ELB
			}
			ann += fmt.Sprintf("\n    kubernetes.io/elb.id: 0b5e7c1d-2a3f-4e6b-8c9d-%012d", id)
		}
		switch {
		case i == n/2:
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: list-a, annotations: {kubernetes.io/elb.class: union, kubernetes.io/elb.id: 0b5e7c1d-2a3f-4e6b-8c9d-%012d}}\n  spec: {type: LoadBalancer, externalTrafficPolicy: Local}\n- apiVersion: v1\n  kind: Service\n  metadata: {name: list-b, namespace: team-1}\n  spec: {type: LoadBalancer, externalTrafficPolicy: Local}\n", i%11)
		case i == n/3:
			fmt.Fprintf(&b, "---\n{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"json-%d\", \"annotations\": {\"kubernetes.io/elb.class\": \"union\"}}, \"spec\": {\"type\": \"LoadBalancer\", \"externalTrafficPolicy\": \"Local\"}}\n", i)
		case i == n/4:
			b.WriteString("---\napiVersion: v1\nkind: Event\nmetadata: {name: early, namespace: team-2}\ninvolvedObject: {kind: Service, name: svc-late}\nreason: UpdateLoadBalancerFailed\nmessage: \"Quota exceeded for resources: members_per_pool, ELB.8905\"\ntype: Warning\n")
		}
		end := ""
		if i%17 == 0 {
			end = "...\n"
		}
		b.WriteString(serviceDoc(fmt.Sprintf("svc-%04d", i), i%3, ann, policy, i, fmt.Sprintf("192.168.%d.%d", i/250, i%250+1)) + end)
	}
	b.WriteString("---\napiVersion: v1\nkind: Service\nmetadata: {name: svc-late, namespace: team-2}\nspec: {type: LoadBalancer, externalTrafficPolicy: Local}\n")
	b.WriteString("---\napiVersion: v1\nkind: Event\nmetadata: {name: late, namespace: team-1}\ninvolvedObject: {kind: Service, name: svc-0001}\nreason: UpdateLoadBalancerFailed\nmessage: \"Quota exceeded for resources: members_per_pool, ELB.8905\"\ntype: Warning\n")
	return b.String()
}

// TestOfflineStreamMatchesFile: svc -f - -o manifest, planned as the stream comes, writes the
// manifests and makes the plans that the same input gives read whole from a file, and keeps no
// decoded Service.
func TestOfflineStreamMatchesFile(t *testing.T) {
	input := streamInput(3000)
	if len(input) < 4*256<<10 {
		t.Fatalf("the input (%d bytes) must span several blocks", len(input))
	}
	path := t.TempDir() + "/in.yaml"
	if err := os.WriteFile(path, []byte(input), 0o600); err != nil {
		t.Fatal(err)
	}
	file, fileText := runOffline(t, path, input, true)
	stream, streamText := runOffline(t, "-", input, true)
	if fileText != streamText {
		t.Errorf("the stream wrote other manifests than the file")
	}
	if len(file.Plans) != len(stream.Plans) {
		t.Fatalf("%d plans from the file, %d from the stream", len(file.Plans), len(stream.Plans))
	}
	var changed, companions int
	for i, f := range file.Plans {
		s := stream.Plans[i]
		fj, _ := json.Marshal(f.Plan)
		sj, _ := json.Marshal(s.Plan)
		if !bytes.Equal(fj, sj) || !bytes.Equal(f.Patch, s.Patch) || len(f.Also) != len(s.Also) {
			t.Errorf("plan %d: stream %s also=%d; file %s also=%d", i, sj, len(s.Also), fj, len(f.Also))
		}
		if f.Plan.Changed {
			changed++
		}
		companions += len(f.Also)
	}
	if changed == 0 || companions == 0 || fileText == input {
		t.Errorf("%d changed Services and %d companions; want some of each", changed, companions)
	}
	for _, r := range stream.Manifests.Services() {
		if r.Service != nil {
			t.Fatalf("the stream kept %s decoded", r.Object)
		}
	}
}

// TestStreamPlansAgain: of a stream, the Services planned again at the end are those on an
// elb.id that another Service of the stream has (their group is known only then) and those
// named by an Event that came after them.
func TestStreamPlansAgain(t *testing.T) {
	sp := &streamPlan{o: &Offline{Strategy: "auto", Lean: true}, events: map[string][]corev1.Event{}, cache: plan.NewELBCache(),
		onELB: map[string]int{}, cluster: detect.Offline(ipvsFacts)}
	set, err := manifest.ReadStream(strings.NewReader(streamInput(3000)), "default", sp.visit)
	if err != nil {
		t.Fatal(err)
	}
	svcs := make([]*corev1.Service, len(set.Services()))
	if err := manifest.LoadEach(set.Services(), func(i int, svc *corev1.Service) error {
		svcs[i] = svc
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	onELB := map[string]int{}
	for _, svc := range svcs {
		if id := svc.Annotations[elb.AnnID]; id != "" {
			onELB[id]++
		}
	}
	var early, late, alone, pair bool
	for i, svc := range svcs {
		key := svc.Namespace + "/" + svc.Name
		id := svc.Annotations[elb.AnnID]
		want := onELB[id] > 1 || key == "team-1/svc-0001"
		alone, pair = alone || onELB[id] == 1, pair || onELB[id] == 2
		if got := sp.again(i); got != want {
			t.Errorf("%s: planned again %v, want %v", key, got, want)
		}
		if sp.seen[i] >= 0 && sp.all[i] == nil {
			t.Errorf("%s: no plan as it came", key)
		}
		early = early || (key == "team-2/svc-late" && sp.seen[i] == 1)
		late = late || (key == "team-1/svc-0001" && sp.seen[i] == 0)
	}
	if !early || !late || !alone || !pair {
		t.Errorf("the input must hold an Event before the Service it names (%v), one after (%v), a Service alone on its elb.id (%v) and two on one (%v)", early, late, alone, pair)
	}
}
