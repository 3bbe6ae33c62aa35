package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// racingWebhook is a validating webhook served from this test process that plays a concurrent
// writer: when it sees a real (not dry-run) write of a Service in the namespaces labelled
// elbfix-race=<label> by the field manager kubectl-elbfix, it first writes the Service itself
// with write (through the test's own client, synchronously), then allows elbfix's request. The
// API server then stores elbfix's patch against an object that changed after elbfix read it:
// with the resourceVersion precondition that is a 409 Conflict. times says how many of elbfix's
// writes get a concurrent write first (0: every one). The timing is driven from the test side;
// the plugin has no hook for it.
func racingWebhook(t *testing.T, label string, times int32, write func(*corev1.Service)) (raced *atomic.Int32) {
	t.Helper()
	raced = &atomic.Int32{}
	serveServiceWebhook(t, "elbfix-race-"+label, "elbfix-race", label, func(req *admissionv1.AdmissionRequest) (bool, string) {
		var opts metav1.PatchOptions
		_ = json.Unmarshal(req.Options.Raw, &opts)
		real := req.DryRun == nil || !*req.DryRun
		if real && opts.FieldManager == "kubectl-elbfix" && (times == 0 || raced.Load() < times) {
			raced.Add(1)
			svc, err := kc.Client.CoreV1().Services(req.Namespace).Get(context.Background(), req.Name, metav1.GetOptions{})
			if err == nil {
				write(svc)
				_, err = kc.Client.CoreV1().Services(req.Namespace).Update(context.Background(), svc, metav1.UpdateOptions{FieldManager: "concurrent-writer"})
			}
			if err != nil {
				t.Errorf("the concurrent write failed: %v", err)
			}
		}
		return true, ""
	})
	return raced
}

// raceNamespace creates a namespace the racing webhook watches and waits until the webhook is in
// force there (configurations load asynchronously): a probe write by the field manager
// kubectl-elbfix gets its concurrent write.
func raceNamespace(t *testing.T, label string, raced *atomic.Int32) string {
	t.Helper()
	ns := namespace(t)
	ctx := context.Background()
	nsObj, err := kc.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nsObj.Labels == nil {
		nsObj.Labels = map[string]string{}
	}
	nsObj.Labels["elbfix-race"] = label
	if _, err := kc.Client.CoreV1().Namespaces().Update(ctx, nsObj, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	createService(t, elbService(ns, "probe", "", "", "192.168.10.98"))
	for i := 0; raced.Load() == 0; i++ {
		if i == 300 {
			t.Fatal("the racing webhook never came into force")
		}
		probe := getService(t, ns, "probe")
		probe.Labels = map[string]string{"probe": strconv.Itoa(i)}
		// A 409 here is expected once the webhook is in force (it wrote first).
		_, _ = kc.Client.CoreV1().Services(ns).Update(ctx, probe, metav1.UpdateOptions{FieldManager: "kubectl-elbfix"})
		time.Sleep(50 * time.Millisecond)
	}
	raced.Store(0)
	return ns
}

// conflicts409 is the API server's own count of 409 answers to PATCH requests on Services
// (apiserver_request_total from /metrics).
func conflicts409(t *testing.T) int {
	t.Helper()
	return requestMetric(t, func(line string) bool {
		return strings.Contains(line, `code="409"`) && strings.Contains(line, `resource="services"`) && strings.Contains(line, `verb="PATCH"`)
	})
}

// TestConflictGuard: a concurrent writer changes the very field of the fix between elbfix's
// read (and server dry run) and its write. The patch carries the resourceVersion elbfix read,
// so the server refuses it (409, counted by the server itself); elbfix re-reads, re-plans, finds
// nothing left to do, and writes nothing: the concurrent value survives. Sent without the
// precondition, the patch would be stored on top of the concurrent change and the assertions on
// the annotation and the policy fail.
func TestConflictGuard(t *testing.T) {
	for i, tc := range []struct {
		name, file, svc string
		write           func(*corev1.Service)
		check           func(t *testing.T, after *corev1.Service)
		code            int
	}{
		{
			// elbfix plans pass-through; the writer sets externalTrafficPolicy: Cluster.
			name: "pass-through planned, the writer sets Cluster", file: "nginx-shared-local.yaml", svc: "nginx",
			write: func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster },
			check: func(t *testing.T, after *corev1.Service) {
				if after.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
					t.Errorf("the concurrent policy was lost: %s", after.Spec.ExternalTrafficPolicy)
				}
				if v, ok := after.Annotations["kubernetes.io/elb.pass-through"]; ok {
					t.Errorf("elbfix wrote pass-through %q on top of the concurrent change", v)
				}
			},
			code: 0, // nothing left to do
		},
		{
			// elbfix plans Cluster (dedicated ELB); the writer sets pass-through "true" instead.
			name: "Cluster planned, the writer sets pass-through", file: "dedicated-elb-local.yaml", svc: "orders",
			write: func(s *corev1.Service) { s.Annotations["kubernetes.io/elb.pass-through"] = "true" },
			check: func(t *testing.T, after *corev1.Service) {
				if after.Annotations["kubernetes.io/elb.pass-through"] != "true" {
					t.Errorf("the concurrent annotation was lost: %v", after.Annotations)
				}
				if after.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
					t.Errorf("elbfix wrote policy %s on top of the concurrent change", after.Spec.ExternalTrafficPolicy)
				}
			},
			code: 1, // a dedicated ELB with pass-through "true": no patch clears the hairpin
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			label := fmt.Sprintf("guard-%d", i)
			raced := racingWebhook(t, label, 1, tc.write)
			ns := raceNamespace(t, label, raced)
			createService(t, ownELB(loadService(t, tc.file, ns)))
			before409 := conflicts409(t)
			r := elbfix(t, "svc", tc.svc, "-n", ns, "-o", "json")
			wantCode(t, r, tc.code)
			if raced.Load() != 1 {
				t.Fatalf("the concurrent writer ran %d times, want 1\n%s", raced.Load(), r)
			}
			if got := conflicts409(t) - before409; got < 1 {
				t.Errorf("the API server answered no 409 (delta %d): the patch was not guarded by the resourceVersion", got)
			}
			after := getService(t, ns, tc.svc)
			tc.check(t, after)
			var doc struct {
				Services []struct {
					Changed, Applied bool
					Notes            []struct{ Message, Source string }
				}
			}
			if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || len(doc.Services) != 1 {
				t.Fatalf("plan: %v\n%s", err, r)
			}
			s := doc.Services[0]
			if s.Applied || s.Changed {
				t.Errorf("applied=%v changed=%v after a re-plan that found nothing to do", s.Applied, s.Changed)
			}
			said := false
			for _, n := range s.Notes {
				said = said || (n.Source == "evidence" && strings.Contains(n.Message, "409 Conflict") && strings.Contains(n.Message, "re-planned"))
			}
			if !said {
				t.Errorf("the plan does not say it was re-planned after a conflict: %+v", s.Notes)
			}
		})
	}
}

// TestConflictRetriesExhausted: a writer that changes the Service before each of elbfix's
// writes. elbfix retries a bounded number of times, never overwrites, and ends with exit 2 and
// one line that names the Service and says what to do.
func TestConflictRetriesExhausted(t *testing.T) {
	label := "exhaust"
	n := 0
	raced := racingWebhook(t, label, 0, func(s *corev1.Service) {
		n++
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		s.Labels["writer"] = strconv.Itoa(n)
	})
	ns := raceNamespace(t, label, raced)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	before409 := conflicts409(t)
	r := elbfix(t, "svc", "nginx", "-n", ns)
	wantCode(t, r, 2)
	wantOneLineError(t, r, "service "+ns+"/nginx kept changing while it was being patched (4 conflicts); nothing was overwritten, run the command again")
	if got := raced.Load(); got != 4 {
		t.Errorf("elbfix tried %d writes, want 4 (the first and 3 retries)", got)
	}
	if got := conflicts409(t) - before409; got < 4 {
		t.Errorf("the API server counted %d conflicts, want at least 4", got)
	}
	after := getService(t, ns, "nginx")
	if _, ok := after.Annotations["kubernetes.io/elb.pass-through"]; ok {
		t.Error("a write went through although every attempt conflicted")
	}
}

// TestNoTestHookInBinary: the plugin binary the e2e tests run holds no environment variable
// that exists only for tests: every ELBFIX_* name in it is one the README documents.
func TestNoTestHookInBinary(t *testing.T) {
	bin, err := os.ReadFile(filepath.Join(binDir, "kubectl-elbfix"))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// The README's ELBFIX_ names; the binary packs strings without separators, so each
	// occurrence there must start with one of them.
	var documented []string
	for _, m := range regexp.MustCompile("`(ELBFIX_[A-Z0-9_]+)`").FindAllStringSubmatch(string(readme), -1) {
		documented = append(documented, m[1])
	}
	if len(documented) == 0 {
		t.Fatal("the README documents no ELBFIX_ variable")
	}
	names := map[string]bool{}
	for _, i := range regexp.MustCompile(`ELBFIX_`).FindAllIndex(bin, -1) {
		rest := string(bin[i[0]:min(len(bin), i[0]+64)])
		known := ""
		for _, d := range documented {
			if strings.HasPrefix(rest, d) && len(d) > len(known) {
				known = d
			}
		}
		if known == "" {
			name := regexp.MustCompile(`^ELBFIX_[A-Z0-9_]*`).FindString(rest)
			t.Errorf("the binary holds %s, which the README does not document (a test hook?)", name)
			continue
		}
		names[known] = true
	}
	if bytes.Contains(bin, []byte("ELBFIX_TEST")) {
		t.Error("the binary holds an ELBFIX_TEST variable")
	}
	var found []string
	for n := range names {
		found = append(found, n)
	}
	sort.Strings(found)
	if len(found) == 0 {
		t.Fatal("no ELBFIX_ name at all: the scan does not see the binary's strings")
	}
	t.Logf("ELBFIX_ names in the binary: %v", found)
}

// ownELB gives a Service that names an ELB an id of its own (its namespace's), so that Services
// of other tests loaded from the same file are not on the same ELB.
func ownELB(svc *corev1.Service) *corev1.Service {
	if _, ok := svc.Annotations["kubernetes.io/elb.id"]; ok {
		svc.Annotations["kubernetes.io/elb.id"] = "elb-of-" + svc.Namespace
	}
	return svc
}
