package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// TestConcurrentReadsRace runs the plugin built with the race detector through the paths that
// read and plan at the same time: scan (detection, the Service pages, Events, the node count and
// EndpointSlices in parallel, then planning on every core), svc for a few names (each Service's
// reads in parallel with detection), svc -l for more than perServiceLimit Services (the
// namespace's lists), and svc -f (parallel decoding and planning). A data race makes the binary
// print "DATA RACE" and exit 66.
func TestConcurrentReadsRace(t *testing.T) {
	dir := t.TempDir()
	build := exec.Command("go", "build", "-race", "-o", filepath.Join(dir, "kubectl-elbfix"), "./cmd/kubectl-elbfix")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -race: %v\n%s", err, out)
	}
	// The race-enabled plugin comes first on PATH; kubectl is still the harness's.
	env := []string{"PATH=" + dir + string(os.PathListSeparator) + binDir + string(os.PathListSeparator) + os.Getenv("PATH")}

	ns := namespace(t)
	var names []string
	for i := range 30 {
		name := fmt.Sprintf("race-%02d", i)
		elbID := ""
		if i%3 == 0 { // ten Services on two shared ELBs
			elbID = fmt.Sprintf("5a1f0c3e-7b2d-4e8a-9c6f-%012d", i%2)
		}
		svc := elbService(ns, name, elbID, "", fmt.Sprintf("192.168.30.%d", i+1))
		svc.Labels = map[string]string{"race": "yes"}
		createService(t, svc)
		names = append(names, name)
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-x", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.0.0.%d", i+1)}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		}
		if _, err := kc.Client.DiscoveryV1().EndpointSlices(ns).Create(context.Background(), slice, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			quotaEvent(name, "Quota exceeded for resources: members_per_pool, ELB.8905")(t, ns, nil)
		}
	}
	manifest := filepath.Join(t.TempDir(), "corpus.yaml")
	if r := kubectl(t, nil, "", "get", "svc", "-n", ns, "-o", "yaml"); r.Code != 0 {
		t.Fatalf("kubectl get: %s", r)
	} else if err := os.WriteFile(manifest, []byte(r.Stdout), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, args := range [][]string{
		append([]string{"scan", "-A", "-o", "json"}, ipvsFacts...),
		{"scan", "-n", ns, "-o", "wide"}, // the facts detected, at the same time as the reads
		append([]string{"svc", "-n", ns, "--dry-run", "-o", "json"}, names[:5]...),
		{"svc", "-n", ns, "--dry-run=server", "-l", "race=yes", "-o", "json", "--network-model", "vpc", "--proxy-mode", "ipvs"},
		append([]string{"svc", "-f", manifest, "-o", "manifest", "--cluster-version", "v1.25.5-r0"}, ipvsFacts...),
	} {
		r := kubectl(t, env, "", append([]string{"elbfix"}, args...)...)
		if strings.Contains(r.Stderr, "DATA RACE") || (r.Code != 0 && r.Code != 1) {
			t.Errorf("kubectl elbfix %s: %s", strings.Join(args, " "), r)
		}
	}
}
