package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/internal/cmdtest"
)

// groupFacts are the facts of an IPVS cluster on which a pass-through fix patches every Service
// of the ELB (alsoPatch); the version is stated so that detection reads no /version.
var groupFacts = []string{"--network-model", "tunnel", "--proxy-mode", "ipvs", "--cluster-version", "v1.25.5-r0"}

// revertCommand matches one revert command of partialError (pkg/apply).
var revertCommand = regexp.MustCompile(`kubectl patch service (\S+) -n (\S+) --type strategic -p '([^']*)'`)

// sharedGroup creates three Services on one ELB, front and back in one namespace and api in
// another, and returns the two namespaces and the stored objects by namespace/name.
func sharedGroup(t *testing.T) (nsA, nsB string, before map[string]*corev1.Service) {
	t.Helper()
	nsA = namespace(t)
	nsB = nsA + "-b"
	if _, err := kc.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsB}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	elbID := "elb-of-" + nsA
	before = map[string]*corev1.Service{}
	for _, s := range []*corev1.Service{
		elbService(nsA, "front", elbID, "", "192.168.10.80"),
		elbService(nsA, "back", elbID, "", "192.168.10.80"),
		elbService(nsB, "api", elbID, "", "192.168.10.80"),
	} {
		before[s.Namespace+"/"+s.Name] = createService(t, s)
	}
	return nsA, nsB, before
}

// shell runs a command line as printed for a user, with sh, the real kubectl on PATH and the
// admin kubeconfig of the real API server (no proxy).
func shell(t *testing.T, command string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.Env = []string{
		"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"KUBECONFIG=" + kc.AdminKubeconfig,
	}
	return cmdtest.Run(t, cmd, "")
}

func isWrite(r faultRequest) bool { return r.Verb == "patch" && r.Resource == "services" && !r.DryRun }

// TestFaultServerGoneDuringGroupWrite: an IPVS group of three Services on one ELB, fixed with
// pass-through for front and alsoPatch for the two others. The proxy passes the reads, the
// server dry runs and the first k real PATCHes, then the API server "goes away": every later
// request gets its connection closed without an answer (the server never sees it). elbfix must
// exit 2 with one line that names exactly the Services already patched, each with the command
// that reverts it; the live objects must agree (those named are patched, the others untouched);
// the printed commands, run as printed through the real kubectl, must restore each object as it
// was. Then the server comes back and a second run fixes the whole group.
//
// It fails if the product stops naming a Service it patched (e.g. partialError dropped, or
// `done` appended only for the primary Service and not for companions), names one it did not
// patch (`done` appended before the write succeeds), prints a revert command that does not
// restore the object (patch.Revert producing the forward patch, or unquoted JSON), prints more
// than one line, or writes at all before every server dry run has passed (k=0: a write would be
// the first real PATCH and must be the dropped one).
func TestFaultServerGoneDuringGroupWrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes int // real PATCHes that pass before the server goes away
	}{
		{"gone before the first write", 0},
		{"gone after the first write", 1},
		{"gone after the second write", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nsA, _, before := sharedGroup(t)
			gone := false // the rule runs under the proxy's lock
			p := newFaultProxy(t, func(r faultRequest) faultAction {
				if gone || isWrite(r) && r.N > tc.writes {
					gone = true
					return drop
				}
				return pass
			})
			r := kubectl(t, p.Env(), "", append([]string{"elbfix", "svc", "front", "-n", nsA}, groupFacts...)...)
			recs := p.Records()
			t.Logf("the proxy saw: %s", p.Summary())
			wantCode(t, r, 2)

			// What reached the server, from the proxy's own records.
			var written []string
			var firstDropped *faultRecord
			dryRuns, writeSeen := 0, false // server dry runs before the first real PATCH
			for i, rec := range recs {
				writeSeen = writeSeen || isWrite(rec.faultRequest)
				switch {
				case rec.Action.kind == actDrop && firstDropped == nil:
					firstDropped = &recs[i]
				case rec.Action.kind == actDrop:
				case isWrite(rec.faultRequest) && rec.Forwarded:
					written = append(written, rec.Object())
				case rec.Verb == "patch" && rec.DryRun && !writeSeen:
					dryRuns++
				}
			}
			if len(written) != tc.writes || firstDropped == nil || !isWrite(firstDropped.faultRequest) {
				t.Fatalf("want %d real PATCHes through, then a dropped real PATCH; the proxy saw:\n%s%s", tc.writes, p.Log(), r)
			}
			if dryRuns != 3 {
				t.Errorf("want the 3 server dry runs (one per Service) before the first write, got %d:\n%s", dryRuns, p.Log())
			}

			// One line: the failed write, then exactly the Services already patched, then the one
			// whose request was sent when the connection broke: elbfix cannot know whether the
			// server got it, so it is named as possibly patched, with its revert command.
			wantOneLineError(t, r, "service "+firstDropped.Object()+": patch")
			wantOneLineError(t, r, "; possibly patched (the request was sent but its answer was lost; check with kubectl get): "+firstDropped.Object()+"; to revert if it was: ")
			certain, _, _ := strings.Cut(r.Stderr, "; possibly patched")
			if tc.writes == 0 {
				if strings.Contains(certain, "already patched") || strings.Contains(certain, "to revert") {
					t.Errorf("nothing was written, yet the error speaks of patched Services: %s", r)
				}
			} else {
				wantOneLineError(t, r, "; already patched before this failure: "+strings.Join(written, ", ")+"; to revert: ")
			}

			// The live objects, read directly from the API server, agree with the message.
			named := map[string]bool{}
			for _, w := range written {
				named[w] = true
			}
			for key, b := range before {
				live := getService(t, b.Namespace, b.Name)
				pt, has := live.Annotations["kubernetes.io/elb.pass-through"]
				switch {
				case named[key] && pt != "true":
					t.Errorf("%s is named as patched but has pass-through %q", key, pt)
				case !named[key] && (has || live.ResourceVersion != b.ResourceVersion):
					t.Errorf("%s is not named, yet it changed (pass-through %q, resourceVersion %s → %s)", key, pt, b.ResourceVersion, live.ResourceVersion)
				}
			}

			// Each revert command of the Services already patched, run as printed, restores its
			// Service as it was.
			cmds := revertCommand.FindAllStringSubmatch(certain, -1)
			if len(cmds) != len(written) {
				t.Fatalf("want %d revert commands, got %d: %s", len(written), len(cmds), r)
			}
			for i, c := range cmds {
				key := c[2] + "/" + c[1]
				if key != written[i] {
					t.Errorf("revert command %d is for %s, want %s", i+1, key, written[i])
				}
				rr := shell(t, c[0])
				wantCode(t, rr, 0)
				b := before[key]
				if b == nil {
					t.Fatalf("a revert command for a Service of no group member: %s", c[0])
				}
				if after := getService(t, b.Namespace, b.Name); !reflect.DeepEqual(stripped(after), stripped(b)) {
					x, _ := yaml.Marshal(stripped(b))
					y, _ := yaml.Marshal(stripped(after))
					t.Errorf("%q did not restore %s:\nbefore:\n%s\nafter the revert:\n%s", c[0], key, x, y)
				}
			}

			// The server comes back: a second run fixes the whole group.
			p.SetRule(nil)
			r = kubectl(t, p.Env(), "", append([]string{"elbfix", "svc", "front", "-n", nsA}, groupFacts...)...)
			wantCode(t, r, 0)
			for key, b := range before {
				if v := getService(t, b.Namespace, b.Name).Annotations["kubernetes.io/elb.pass-through"]; v != "true" {
					t.Errorf("after the server came back, %s has pass-through %q", key, v)
				}
			}
		})
	}

	// The answer to a write is lost: the server stores back's patch, then the connection closes
	// before the answer reaches elbfix (a proxy or load balancer in front of the API server that
	// dies at that moment, an idle timeout). The invariant is the same: every Service the server
	// shows patched must be named in the error line with its revert command, here as possibly
	// patched, since elbfix cannot know.
	//
	// Before the fix this test drove, the Service whose write reached the server but whose answer
	// was lost was named only as the one that failed, with no revert command.
	//
	// The same with the answer replaced by 504 Timeout, which kube-apiserver sends when a
	// request outlives its timeout while the write may still complete: a Status answer, yet not
	// a refusal.
	for _, lost := range []faultAction{dropAnswer, timeoutAnswer} {
		t.Run("the answer to a write is lost/"+lost.String(), func(t *testing.T) { testLostAnswer(t, lost) })
	}
}

// testLostAnswer: the second write of the group reaches the server and its answer is lost
// (lost); then the server is gone.
func testLostAnswer(t *testing.T, lost faultAction) {
	nsA, _, before := sharedGroup(t)
	gone := false
	p := newFaultProxy(t, func(r faultRequest) faultAction {
		switch {
		case gone:
			return drop
		case isWrite(r) && r.N == 2:
			gone = true
			return lost
		}
		return pass
	})
	r := kubectl(t, p.Env(), "", append([]string{"elbfix", "svc", "front", "-n", nsA}, groupFacts...)...)
	t.Logf("the proxy saw:\n%s", p.Log())
	wantCode(t, r, 2)
	wantOneLineError(t, r, "already patched before this failure: ")
	for key, b := range before {
		live := getService(t, b.Namespace, b.Name)
		if live.Annotations["kubernetes.io/elb.pass-through"] != "true" {
			continue
		}
		// The revert command is what tells the user that this Service was (or may have been)
		// written; merely naming it as the one whose write failed does not.
		if !strings.Contains(r.Stderr, "kubectl patch service "+b.Name+" -n "+b.Namespace+" ") {
			t.Errorf("%s is patched on the server (its write's answer was lost), but the error gives no revert command for it:\n%s", key, r.Stderr)
		}
	}
}

// TestFault429RetryAfter: the API server throttles (429 with Retry-After: 1, as priority and
// fairness does). A few throttled requests are retried by client-go after the delay asked, and
// the run succeeds; a server that never stops throttling the writes ends the run with exit 2
// and one line, after a bounded number of attempts (client-go's 10 retries), writing nothing.
//
// It fails if the product turns off client-go's retries (MaxRetries(0) on the reads or
// writes: the transient run then fails), wraps the writes in a retry loop of its own on 429
// (more than 11 attempts), or retries without bound (the command hangs until kubectl()'s
// 2-minute safety net kills it, which fails the test).
func TestFault429RetryAfter(t *testing.T) {
	ns := namespace(t)
	throttled := answer(429, "Retry-After", "1")

	t.Run("transient: retried, then applied", func(t *testing.T) {
		web := elbService(ns, "web", "elb-of-"+ns, "", "192.168.10.70")
		web.Labels = map[string]string{"tier": "web"}
		createService(t, web)
		p := newFaultProxy(t, func(r faultRequest) faultAction {
			switch {
			case r.Verb == "list" && r.Resource == "services" && r.N <= 2:
				return throttled
			case isWrite(r) && r.N <= 2:
				return throttled
			}
			return pass
		})
		r := kubectl(t, p.Env(), "", append([]string{"elbfix", "svc", "-l", "tier=web", "-n", ns}, groupFacts...)...)
		t.Logf("the proxy saw: %s", p.Summary())
		wantCode(t, r, 0)
		if !strings.Contains(r.Stdout, "service/web patched\n") {
			t.Errorf("want the fix applied:\n%s", r)
		}
		if v := getService(t, ns, "web").Annotations["kubernetes.io/elb.pass-through"]; v != "true" {
			t.Errorf("pass-through = %q after the run", v)
		}
		var lists, writes []faultRecord
		for _, rec := range p.Records() {
			switch {
			case rec.Verb == "list" && rec.Resource == "services":
				lists = append(lists, rec)
			case isWrite(rec.faultRequest):
				writes = append(writes, rec)
			}
		}
		// Each throttled request was sent again: 2 answers 429, then one that passes.
		if len(lists) < 3 || lists[0].Code != 429 || lists[1].Code != 429 || !lists[2].Forwarded {
			t.Errorf("want the Service LIST retried after two 429s:\n%s", p.Log())
		}
		for _, rs := range [][]faultRecord{lists, writes} {
			for i := 1; i < len(rs) && rs[i-1].Code == 429; i++ {
				t.Logf("%s sent again %s after a 429 with Retry-After: 1", rs[i].faultRequest, rs[i].Arrived.Sub(rs[i-1].Arrived).Round(time.Millisecond))
			}
		}
		if p.Count("patch services") != 3 || len(writes) != 3 || writes[0].Code != 429 || writes[1].Code != 429 || !writes[2].Forwarded || writes[2].Code != 200 {
			t.Errorf("want exactly 3 real PATCHes, 429, 429, then 200:\n%s", p.Log())
		}
	})

	for _, tc := range []struct {
		name, svc string
		throttle  func(faultRequest) bool
		phase     string
	}{
		{"persistent: every real PATCH", "steady-writes", isWrite, "the API server refused the patch"},
		// Before the fix this test drove: 22 attempts, as the 429 client-go gives up on was taken
		// for an admission refusal and a second server dry run (the Cluster fallback) followed.
		{"persistent: every PATCH, server dry runs too", "steady-all", func(r faultRequest) bool { return r.Verb == "patch" }, "the API server refused the server dry run"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.svc
			before := createService(t, elbService(ns, name, "", "", "192.168.10.71"))
			p := newFaultProxy(t, func(r faultRequest) faultAction {
				if tc.throttle(r) {
					return throttled
				}
				return pass
			})
			start := time.Now()
			r := kubectl(t, p.Env(), "", append([]string{"elbfix", "svc", name, "-n", ns}, groupFacts...)...)
			t.Logf("ended after %s; the proxy saw: %s; stderr: %s", time.Since(start).Round(time.Millisecond), p.Summary(), r.Stderr)
			wantCode(t, r, 2)
			wantOneLineError(t, r, "service "+ns+"/"+name+": "+tc.phase)
			if !strings.Contains(r.Stderr, "429") {
				t.Errorf("the error line does not say the server throttled (429): %s", r)
			}
			attempts := 0
			for _, rec := range p.Records() {
				if rec.Verb == "patch" && tc.throttle(rec.faultRequest) {
					attempts++
				}
			}
			// client-go: the first attempt and at most 10 retries (rest.Request's maxRetries).
			t.Logf("PATCH attempts on a server that always answers 429: %d", attempts)
			if attempts < 2 || attempts > 11 {
				t.Errorf("want between 2 (the 429 was retried) and 11 (client-go's bound) PATCH attempts, got %d:\n%s", attempts, p.Log())
			}
			if after := getService(t, ns, name); after.ResourceVersion != before.ResourceVersion {
				t.Errorf("a throttled run wrote: resourceVersion %s → %s", before.ResourceVersion, after.ResourceVersion)
			}
		})
	}
}

// wantEveryHoldCancelled checks that the proxy saw requests, and that the client gave up every
// request the proxy held before the proxy's own hold ended: none was forwarded late, none
// outlived the client's --request-timeout.
func wantEveryHoldCancelled(t *testing.T, p *faultProxy) {
	t.Helper()
	held := 0
	for _, rec := range p.Records() {
		if rec.Action.kind != actHold {
			continue
		}
		held++
		if !rec.Cancelled || rec.Forwarded {
			t.Errorf("the client did not give up %s within its --request-timeout (the proxy's hold ended first)", &rec)
		}
	}
	if held == 0 {
		t.Errorf("the proxy held no request:\n%s", p.Log())
	}
}

// TestFaultSlowServer: a server that takes longer than --request-timeout to answer. The proxy
// holds requests until the client goes away or 30 s pass. Every request the commands make, the
// detection's included, must be given up by the client (its context done) before the proxy's
// hold ends: --request-timeout is honoured by each request. When nothing answers, the command
// ends with exit 2 and one line; when only one detection signal is slow, detection records the
// timeout as evidence and goes on. No wall-clock assertion: the elapsed time is only logged.
//
// It fails if a request is made without the flag's timeout (e.g. detection building its client
// from a rest.Config without ConfigFlags' Timeout, or a context.Background() request with a
// client whose Timeout was cleared): that request outlives the 2 s, the proxy's 30 s hold ends
// first and it is forwarded (or kubectl() kills a hang after 2 minutes). It also fails if a
// timed-out detection signal became an error (the detect subtest expects exit 0), or if the
// error of the failed runs spans several lines.
func TestFaultSlowServer(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	const proxyHold = 30 * time.Second
	timeout := "--request-timeout=2s"
	run := func(t *testing.T, p *faultProxy, args ...string) result {
		t.Helper()
		p.Reset()
		start := time.Now()
		r := kubectl(t, p.Env(), "", append(append([]string{"elbfix"}, args...), timeout)...)
		t.Logf("%v ended after %s (exit %d); the proxy saw: %s; stderr: %s", args, time.Since(start).Round(time.Millisecond), r.Code, p.Summary(), r.Stderr)
		return r
	}

	t.Run("every request", func(t *testing.T) {
		p := newFaultProxy(t, func(faultRequest) faultAction { return hold(proxyHold) })
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"svc --dry-run", []string{"svc", "nginx", "-n", ns, "--dry-run"}},
			{"detect", []string{"detect"}},
			{"scan", []string{"scan", "-n", ns}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := run(t, p, tc.args...)
				wantEveryHoldCancelled(t, p)
				wantCode(t, r, 2)
				wantOneLineError(t, r, "")
				if r.Stdout != "" {
					t.Errorf("a failed run printed data: %s", r)
				}
			})
		}
	})

	t.Run("one detection signal", func(t *testing.T) {
		p := newFaultProxy(t, func(r faultRequest) faultAction {
			if r.Resource == "yangtseconfigurations" {
				return hold(proxyHold)
			}
			return pass
		})
		r := run(t, p, "detect", "-o", "json")
		wantCode(t, r, 0)
		var c plan.Cluster
		if err := json.Unmarshal([]byte(r.Stdout), &c); err != nil {
			t.Fatalf("detect -o json: %v\n%s", err, r)
		}
		said := false
		for _, e := range c.Evidence {
			said = said || e.Signal == "yangtse-configuration" && strings.Contains(e.Source, "not readable: timed out")
		}
		if !said {
			t.Errorf("detect does not report the slow signal as timed out:\n%s", r)
		}
		wantEveryHoldCancelled(t, p)
		if r.Stderr != "" {
			t.Errorf("a timed-out signal is evidence, not an error: %s", r)
		}
	})

	t.Run("the Service read", func(t *testing.T) {
		p := newFaultProxy(t, func(r faultRequest) faultAction {
			if r.Verb == "get" && r.Resource == "services" {
				return hold(proxyHold)
			}
			return pass
		})
		r := run(t, p, "svc", "nginx", "-n", ns, "--dry-run")
		wantCode(t, r, 2)
		wantOneLineError(t, r, "reading service "+ns+"/nginx")
		wantEveryHoldCancelled(t, p)
	})
}

// TestFaultDryRunGlitchIsNotARefusal: the server dry run of a pass-through fix meets a transport
// fault, not an answer from admission: a dropped connection, or 429s until client-go gives up.
// The fallback to externalTrafficPolicy: Cluster is for a refusal of the change (CCE's webhook
// refusing elb.* annotations, TestWebhookRefusalFallsBack); a glitch must not change which fix
// is applied. Either outcome is right: the run retries and applies pass-through (exit 0), or it
// stops with one line and writes nothing (exit 2).
//
// Before the fix this test drove, serverDryRun fell back whenever isAdmissionDenial(err) was
// true, which it was for every error but an RBAC denial, EOF and 429 included: the run applied
// externalTrafficPolicy: Cluster after a glitch. Now only an API status from admission (400, a
// 403 that is not RBAC, 422) is a refusal.
func TestFaultDryRunGlitchIsNotARefusal(t *testing.T) {
	ns := namespace(t)
	for i, tc := range []struct {
		name  string
		fault faultAction
		times int // server dry runs that meet the fault
	}{
		{"a dropped connection", drop, 1},
		{"429 until client-go gives up", answer(429, "Retry-After", "1"), 11},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("glitch-%d", i)
			before := createService(t, elbService(ns, name, "", "", "192.168.10.73"))
			p := newFaultProxy(t, func(r faultRequest) faultAction {
				if r.Verb == "patch" && r.DryRun && r.N <= tc.times {
					return tc.fault
				}
				return pass
			})
			r := kubectl(t, p.Env(), "", append([]string{"elbfix", "svc", name, "-n", ns}, groupFacts...)...)
			t.Logf("the proxy saw: %s", p.Summary())
			after := getService(t, ns, name)
			if after.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal || strings.Contains(r.Stdout, "falling back") {
				t.Errorf("a transport fault in the server dry run was taken for a refusal: policy %s → %s\n%s",
					before.Spec.ExternalTrafficPolicy, after.Spec.ExternalTrafficPolicy, r)
			}
			switch r.Code {
			case 0:
				if v := after.Annotations["kubernetes.io/elb.pass-through"]; v != "true" {
					t.Errorf("exit 0, but pass-through = %q", v)
				}
			case 2:
				wantOneLineError(t, r, "service "+ns+"/"+name)
				if after.ResourceVersion != before.ResourceVersion {
					t.Errorf("exit 2, but the Service was written: resourceVersion %s → %s", before.ResourceVersion, after.ResourceVersion)
				}
			default:
				t.Errorf("want exit 0 (retried and applied) or 2 (stopped, nothing written), got %s", r)
			}
		})
	}
}

// TestFaultDetectionErrorComesFirst: svc detects the cluster facts while it reads the Services.
// When both fail, the error is detection's, as when the two ran one after the other: here the
// server refuses the credentials for the version request (401) and the Service does not exist.
// It fails if the Services' read error is reported first.
func TestFaultDetectionErrorComesFirst(t *testing.T) {
	ns := namespace(t)
	p := newFaultProxy(t, func(r faultRequest) faultAction {
		if r.Path == "/version" {
			return answer(401)
		}
		return pass
	})
	r := kubectl(t, p.Env(), "", "elbfix", "svc", "no-such-service", "-n", ns, "--dry-run")
	wantCode(t, r, 2)
	wantOneLineError(t, r, "detecting the cluster facts: the API server rejected the credentials (401 Unauthorized)")
	// The Service was read too (at the same time), and its error is not the one reported.
	seen := false
	for _, rec := range p.Records() {
		seen = seen || (rec.Resource == "services" && rec.Name == "no-such-service")
	}
	if !seen {
		t.Errorf("the Service was not read at the same time as detection:\n%s", p.Log())
	}
}
