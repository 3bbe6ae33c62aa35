package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// objectVersions is every object a run could write, by kind/namespace/name → resourceVersion:
// the Services of every namespace (a fix may patch Services of other namespaces on the same
// ELB), and everything else in the test's namespaces.
func objectVersions(t *testing.T, namespaces ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	svcs, err := kc.Client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range svcs.Items {
		out["Service/"+s.Namespace+"/"+s.Name] = s.ResourceVersion
	}
	for _, ns := range namespaces {
		pods, err := kc.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range pods.Items {
			out["Pod/"+ns+"/"+o.Name] = o.ResourceVersion
		}
		evs, err := kc.Client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range evs.Items {
			out["Event/"+ns+"/"+o.Name] = o.ResourceVersion
		}
		cms, err := kc.Client.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range cms.Items {
			out["ConfigMap/"+ns+"/"+o.Name] = o.ResourceVersion
		}
		eps, err := kc.Client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range eps.Items {
			out["EndpointSlice/"+ns+"/"+o.Name] = o.ResourceVersion
		}
		n, err := kc.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out["Namespace/"+ns] = n.ResourceVersion
	}
	return out
}

func diffVersions(before, after map[string]string) []string {
	var d []string
	for k, v := range before {
		if after[k] != v {
			d = append(d, fmt.Sprintf("%s: %s -> %q", k, v, after[k]))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			d = append(d, k+": created")
		}
	}
	sort.Strings(d)
	return d
}

// TestNeverWrites: scan and every --dry-run leave every object as it was: the resourceVersion of
// every Service in the cluster and of every object in the test's namespaces is compared before
// and after each run, not one field. The Services need fixes of both strategies and a shared ELB
// across two namespaces (IPVS: the fix would patch the other namespace's Service too).
func TestNeverWrites(t *testing.T) {
	nsA, nsB := namespace(t), namespace(t)
	elbID := "5b0c7f3e-9a2d-4e61-8c4f-2d1e0b9a7c35"
	createService(t, elbService(nsA, "front", elbID, "", "192.168.10.60"))
	createService(t, elbService(nsB, "back", elbID, "", "192.168.10.60"))
	createService(t, ownELB(loadService(t, "dedicated-elb-local.yaml", nsA)))
	createService(t, loadService(t, "nginx-shared-local.yaml", nsA))
	backendPod("front", false)(t, nsA, nil)
	quotaEvent("nginx", "Quota exceeded for resources: members_per_pool, ELB.8905")(t, nsA, nil)

	ipvs := []string{"--network-model", "tunnel", "--proxy-mode", "ipvs", "--cluster-version", "v1.25.5-r0"}
	runs := [][]string{
		{"scan", "-n", nsA},
		{"scan", "-A"},
		{"scan", "-A", "-o", "json"},
		{"svc", "front", "nginx", "orders", "-n", nsA, "--dry-run"},
		{"svc", "front", "nginx", "orders", "-n", nsA, "--dry-run=client", "-o", "json"},
		{"svc", "front", "nginx", "orders", "-n", nsA, "--dry-run=server"},
		{"svc", "front", "-n", nsA, "--dry-run=server", "-o", "patch"},
		{"svc", "-l", "app=front", "-n", nsA, "--dry-run=server", "-o", "yaml"},
		{"svc", "orders", "-n", nsA, "--strategy", "cluster", "--dry-run=server"},
		{"detect"},
	}
	for _, args := range runs {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			before := objectVersions(t, nsA, nsB)
			full := append(append([]string{}, args...), ipvs...)
			if args[0] == "detect" {
				full = args
			}
			r := elbfix(t, full...)
			if r.Code != 0 && r.Code != 1 {
				t.Fatalf("want a report (exit 0 or 1), got %s", r)
			}
			if d := diffVersions(before, objectVersions(t, nsA, nsB)); len(d) > 0 {
				t.Errorf("the run wrote:\n  %s\n%s", strings.Join(d, "\n  "), r)
			}
		})
	}
	// The check itself sees a write: a real fix changes resourceVersions.
	before := objectVersions(t, nsA, nsB)
	r := elbfix(t, append([]string{"svc", "front", "-n", nsA}, ipvs...)...)
	wantCode(t, r, 0)
	d := diffVersions(before, objectVersions(t, nsA, nsB))
	if len(d) != 2 {
		t.Errorf("a real fix of a two-Service ELB should change exactly two Services, changed: %v", d)
	}
}
