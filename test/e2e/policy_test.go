package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/policy"
)

// The differential tests of issue #15: the admission policies `kubectl elbfix policy` installs
// must report, Service by Service, exactly the per-object finding ids (policy.Expressible) that
// `kubectl elbfix svc -f` reports on the same manifests for the same facts.

// corpusService is one generated Service.
type corpusService struct {
	name string
	svc  *corev1.Service
}

// Dimensions of the corpus. Each value is a set of annotations (or a class, a policy, a
// pass-through value); "" means the annotation is absent.
var (
	corpusClasses  = []string{"", "union", "performance", "dnat", "shared", "dedicated", "bogus"}
	corpusPolicies = []corev1.ServiceExternalTrafficPolicy{corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal}
	corpusPT       = []string{"", "true", "onlyLocal", "false", "bogus", "TRUE", " true"}
	// Annotation validity: valid and broken JSON and values, and the exception annotation.
	corpusAnnotations = []map[string]string{
		{},
		{"kubernetes.io/elb.autocreate": `{"type":"public","bandwidth_size":5,"name":"web","available_zone":[]}`},
		{"kubernetes.io/elb.autocreate": `{"type":"public"`},
		{"kubernetes.io/elb.autocreate": `{"type":"internet","bandwidth_size":"5"}`},
		{"kubernetes.io/elb.autocreate": `{"type":"inner","l4_flavor_name":"L4_flavor.elb.s1.small","available_zone":["cn-north-4a"]}`},
		{"kubernetes.io/elb.autocreate": `{"Type":"inner","bandwidth_size":"5.5"}`},
		{"kubernetes.io/elb.autocreate": `{"type":"public","name":7}`},
		{"kubernetes.io/elb.transparent-client-ip": "true"},
		{"kubernetes.io/elb.transparent-client-ip": "maybe"},
		{"kubernetes.io/hws-hostNetwork": "true"},
		{"kubernetes.io/hws-hostNetwork": "no"},
		{"elbfix.io/ignore": "incluster-elb-shortcut,dedicated-elb-hairpin,nodeport-local-unreachable: in-cluster callers use the DNS name"},
		{"elbfix.io/ignore": "annotation-invalid"},
		{"elbfix.io/ignore": "no-such-finding: reason"},
		{"elbfix.io/ignore": "incluster-elb-shortcut: "},
	}
	// Health check values: in and out of the ELB's ranges, broken, mismatched, ignored.
	corpusHealth = []map[string]string{
		{},
		{"kubernetes.io/elb.health-check-option": `{"protocol":"TCP","delay":"5","timeout":"10","max_retries":"3"}`},
		{"kubernetes.io/elb.health-check-option": `{"protocol":"TCP","delay":"0","max_retries":"11"}`},
		{"kubernetes.io/elb.health-check-option": `{"protocol":"HTTP","timeout":51,"path":"/healthz"}`},
		{"kubernetes.io/elb.health-check-option": `{"protocol":"TCP",`},
		{"kubernetes.io/elb.health-check-option": `{"protocol":"UDP"}`},
		{"kubernetes.io/elb.health-check-option": `{"protocol":"ICMP"}`},
		{"kubernetes.io/elb.health-check-option": `{"delay":"5s"}`},
		{"kubernetes.io/elb.health-check-options": `[{"protocol":"TCP","target_service_port":"TCP:80","delay":"5"}]`},
		{"kubernetes.io/elb.health-check-options": `[{"protocol":"TCP","target_service_port":"TCP:81"}]`},
		{"kubernetes.io/elb.health-check-options": `[{"protocol":"UDP","target_service_port":"TCP:80"}]`},
		{"kubernetes.io/elb.health-check-options": `[{"protocol":"TCP","delay":"5"}]`},
		{"kubernetes.io/elb.health-check-options": `[{"target_service_port":"TCP:80"},{"target_service_port":"TCP:80","max_retries":0}]`},
		{"kubernetes.io/elb.health-check-options": `{"target_service_port":"tcp:80","monitor_port":"70000"}`},
		{"kubernetes.io/elb.health-check-flag": "off", "kubernetes.io/elb.health-check-option": `{"protocol":"TCP"}`},
		{"kubernetes.io/elb.health-check-flag": "maybe"},
		{"kubernetes.io/elb.health-check-option": `{"protocol":"TCP"}`, "kubernetes.io/elb.health-check-options": `[{"target_service_port":"TCP:80"}]`},
	}
)

// generateCorpus is the cartesian product class × policy × pass-through × annotation validity,
// class × policy × pass-through × health check values (LoadBalancer), and policy × pass-through
// × annotation validity × a few health check values (NodePort), in namespace ns.
func generateCorpus(ns string) []corpusService {
	var out []corpusService
	add := func(t corev1.ServiceType, class string, etp corev1.ServiceExternalTrafficPolicy, pt string, extra ...map[string]string) {
		ann := map[string]string{}
		if class != "" {
			ann["kubernetes.io/elb.class"] = class
		}
		if pt != "" {
			ann["kubernetes.io/elb.pass-through"] = pt
		}
		for _, e := range extra {
			for k, v := range e {
				ann[k] = v
			}
		}
		name := fmt.Sprintf("s-%04d", len(out))
		svc := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: ann},
			Spec: corev1.ServiceSpec{Type: t, ExternalTrafficPolicy: etp, Selector: map[string]string{"app": name},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
		}
		out = append(out, corpusService{name: name, svc: svc})
	}
	for _, class := range corpusClasses {
		for _, etp := range corpusPolicies {
			for _, pt := range corpusPT {
				for _, a := range corpusAnnotations {
					add(corev1.ServiceTypeLoadBalancer, class, etp, pt, a)
				}
				for _, h := range corpusHealth[1:] {
					add(corev1.ServiceTypeLoadBalancer, class, etp, pt, h)
				}
			}
		}
	}
	for _, etp := range corpusPolicies {
		for _, pt := range corpusPT {
			for _, a := range corpusAnnotations {
				for _, h := range corpusHealth[:3] {
					add(corev1.ServiceTypeNodePort, "", etp, pt, a, h)
				}
			}
		}
	}
	return out
}

func writeCorpus(t *testing.T, corpus []corpusService) string {
	t.Helper()
	var b bytes.Buffer
	for _, c := range corpus {
		y, err := yaml.Marshal(c.svc)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(y)
	}
	f := filepath.Join(t.TempDir(), "corpus.yaml")
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// facts are the cluster facts of one run: flags for policy and svc ("" = detected / unknown).
type facts struct{ network, proxy string }

func (f facts) flags() []string {
	var out []string
	if f.network != "" {
		out = append(out, "--network-model", f.network)
	}
	if f.proxy != "" {
		out = append(out, "--proxy-mode", f.proxy)
	}
	return out
}

// svcFindings is what `svc -f` reports on the corpus: per Service, the ids of policy.Expressible
// that are not ignored, with their severity.
func svcFindings(t *testing.T, file string, f facts) map[string]map[string]string {
	t.Helper()
	args := append([]string{"svc", "-f", file, "-o", "json", "--cluster-version", kc.GitVersion}, f.flags()...)
	r := elbfix(t, args...)
	if r.Code != 0 && r.Code != 1 {
		t.Fatalf("svc -f: %s", r)
	}
	var doc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("svc -f -o json: %v", err)
	}
	expressible := policy.Expressible()
	out := map[string]map[string]string{}
	for _, sp := range doc.Services {
		ids := map[string]string{}
		for _, fd := range sp.Findings {
			if fd.Ignored == "" && slices.Contains(expressible, fd.ID) {
				ids[fd.ID] = fd.Severity
			}
		}
		out[sp.Name] = ids
	}
	return out
}

// policyMessage matches the policies' messages: "ID (SEVERITY) on service NS/NAME[ (ANNOTATIONS)]: ...".
var policyMessage = regexp.MustCompile(`([a-z-]+) \((error|warning|info)\) on service ([^/\s]+)/([^:\s]+)[: ]`)

// serverFindings creates every Service of file with a server-side dry run through kubectl and
// returns, per Service, the finding ids in the warnings and errors the server returned, and the
// Services it refused.
func serverFindings(t *testing.T, file string) (ids map[string]map[string]bool, denied map[string]bool, r result) {
	t.Helper()
	r = kubectl(t, nil, "", "create", "--dry-run=server", "-f", file, "-o", "name")
	ids, denied = map[string]map[string]bool{}, map[string]bool{}
	for _, line := range strings.Split(r.Stderr, "\n") {
		for _, m := range policyMessage.FindAllStringSubmatch(line, -1) {
			if ids[m[4]] == nil {
				ids[m[4]] = map[string]bool{}
			}
			ids[m[4]][m[1]] = true
			if strings.Contains(line, "denied request: "+m[0]) {
				denied[m[4]] = true
			}
		}
	}
	return ids, denied, r
}

// idList and keysOf are the sorted keys of a set of ids and of ids with their severity.
func idList(m map[string]bool) []string { return sortedKeys(m) }

func keysOf(m map[string]string) []string { return sortedKeys(m) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// installPolicy runs `kubectl elbfix policy --apply ARGS`; the caller removes the objects
// (removePolicies) when its test ends.
func installPolicy(t *testing.T, args ...string) result {
	t.Helper()
	r := elbfix(t, append([]string{"policy", "--apply"}, args...)...)
	wantCode(t, r, 0)
	return r
}

func removePolicies(t *testing.T) {
	t.Helper()
	for _, kind := range []string{"validatingadmissionpolicybindings", "validatingadmissionpolicies",
		"mutatingadmissionpolicybindings", "mutatingadmissionpolicies"} {
		kubectl(t, nil, "", "delete", kind, "-l", "app.kubernetes.io/managed-by=kubectl-elbfix", "--ignore-not-found")
	}
	kubectl(t, nil, "", "delete", "configmap", "-n", policy.ParamsNamespace, policy.ParamsName, "--ignore-not-found")
}

// waitForNoPolicies waits until the server, which drops deleted policies and bindings
// asynchronously, neither warns about nor changes the Services of probe (a sample of corpus):
// the tests that run next share the server and must not see the policies. It fails the test if
// the server still applies them after a bounded number of tries.
func waitForNoPolicies(t *testing.T, corpus []corpusService, probe string) {
	t.Helper()
	var r result
	for range 60 {
		r = kubectl(t, nil, "", "create", "--dry-run=server", "-f", probe, "-o", "json")
		stored := decodeServices(t, []byte(r.Stdout), true)
		clean := r.Code == 0 && !policyMessage.MatchString(r.Stderr)
		for _, c := range sampleOf(corpus) {
			clean = clean && slices.Equal(annList(c.svc), annList(stored[c.name]))
		}
		if clean {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("the server still applies the deleted policies:\n%.2000s", r)
}

// waitForPolicies dry-runs the first Services of the corpus until the server's answer for them
// matches want: the API server loads policies, bindings and parameters asynchronously after
// they are written. It gives up after a bounded number of tries (the comparison that follows
// then reports the difference).
func waitForPolicies(t *testing.T, corpus []corpusService, want func(name string, got map[string]bool) bool) {
	t.Helper()
	sample := sampleOf(corpus)
	probe := writeCorpus(t, sample)
	for range 60 {
		got, _, _ := serverFindings(t, probe)
		ok := true
		for _, c := range sample {
			ok = ok && want(c.name, got[c.name])
		}
		if ok {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// sampleOf is every 37th Service of the corpus (all kinds, policies and annotations).
func sampleOf(corpus []corpusService) []corpusService {
	var out []corpusService
	for i := 0; i < len(corpus); i += 37 {
		out = append(out, corpus[i])
	}
	return out
}

// compare reports every Service whose ids differ (at most 30 lines).
func compare(t *testing.T, what string, corpus []corpusService, want func(string) []string, got func(string) []string) {
	t.Helper()
	var diffs []string
	for _, c := range corpus {
		w, g := want(c.name), got(c.name)
		if !slices.Equal(w, g) {
			ann, _ := json.Marshal(c.svc.Annotations)
			diffs = append(diffs, fmt.Sprintf("%s (%s, %s, %s): svc -f %v, server %v", c.name, c.svc.Spec.Type, c.svc.Spec.ExternalTrafficPolicy, ann, w, g))
		}
	}
	if len(diffs) > 0 {
		if len(diffs) > 30 {
			diffs = append(diffs[:30], fmt.Sprintf("... and %d more", len(diffs)-30))
		}
		t.Errorf("%s: %d of %d Services differ:\n%s", what, len(diffs), len(corpus), strings.Join(diffs, "\n"))
	}
}

// TestPolicy runs the differential tests in one sequence on one installation: the policies are
// re-applied in place between the steps and removed only at the end. kube-apiserver stops
// watching the ConfigMap parameters for good once no binding names a ConfigMap-param policy
// (kubernetes/kubernetes#130887, still in v1.37), so removing them between steps would leave the
// server with stale facts for the rest of its life.
func TestPolicy(t *testing.T) {
	ns := namespace(t)
	corpus := generateCorpus(ns)
	file := writeCorpus(t, corpus)
	probe := writeCorpus(t, sampleOf(corpus))
	t.Cleanup(func() {
		removePolicies(t)
		waitForNoPolicies(t, corpus, probe)
	})
	// A user who may not write admission policies: the server dry run refuses, nothing is written.
	t.Run("apply-forbidden", func(t *testing.T) {
		r := kubectl(t, []string{"KUBECONFIG=" + kc.ReadOnlyKubeconfig}, "", "elbfix", "policy", "--apply")
		wantCode(t, r, 2)
		if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) != 1 || !strings.Contains(r.Stderr, "forbidden") || !strings.Contains(r.Stderr, "nothing was written") {
			t.Errorf("want one line saying forbidden and nothing was written: %s", r)
		}
		if _, err := kc.Client.CoreV1().ConfigMaps(policy.ParamsNamespace).Get(context.Background(), policy.ParamsName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the ConfigMap was written (or not readable): %v", err)
		}
	})
	// Warn mode: the detected facts first (this cluster: network and proxy mode unknown), then
	// two sets given by flags: only the ConfigMap changes between them, the policies stay.
	installed := false // by an earlier step of this run
	for _, f := range []facts{{}, {"vpc", "ipvs"}, {"turbo", "iptables"}} {
		t.Run(fmt.Sprintf("warn/%s+%s", orUnknown(f.network), orUnknown(f.proxy)), func(t *testing.T) {
			r := installPolicy(t, f.flags()...)
			if installed && !strings.Contains(r.Stdout, "validatingadmissionpolicy.admissionregistration.k8s.io/"+policy.ErrorsName+" unchanged") {
				t.Errorf("changing the facts should leave the policies as they are:\n%s", r)
			}
			installed = true
			want := svcFindings(t, file, f)
			wantIDs := func(name string) []string { return keysOf(want[name]) }
			waitForPolicies(t, corpus, func(name string, got map[string]bool) bool { return slices.Equal(wantIDs(name), idList(got)) })
			got, denied, res := serverFindings(t, file)
			if res.Code != 0 || len(denied) > 0 {
				t.Fatalf("warn mode refused Services: %s", res)
			}
			compare(t, "warn mode", corpus, wantIDs, func(name string) []string { return idList(got[name]) })
			// The message names the Service, and for annotation-invalid the annotation.
			msgs := []string{"annotation-invalid (error) on service " + ns + "/s-0002 (kubernetes.io/elb.autocreate): "}
			// A dedicated ELB's hairpin is a warning with the Service's DNS name.
			for _, c := range corpus {
				if _, ok := want[c.name][plan.FindingDedicatedELBHairpin]; ok {
					msgs = append(msgs, "dedicated-elb-hairpin (warning) on service "+ns+"/"+c.name+": ",
						"Inside the cluster, call "+c.name+"."+ns+".svc (the DNS name of the Service)")
					break
				}
			}
			for _, msg := range msgs {
				if !strings.Contains(res.Stderr, msg) {
					t.Errorf("no warning %q in:\n%.2000s", msg, res.Stderr)
				}
			}
		})
	}
	t.Run("deny", func(t *testing.T) { testPolicyDeny(t, corpus, file) })
	t.Run("update", func(t *testing.T) { testPolicyUpdate(t, ns) })
	t.Run("cost", func(t *testing.T) { testPolicyCost(t, ns) })
	t.Run("mutate", func(t *testing.T) { testPolicyMutate(t, corpus, file) })
}

func orUnknown(s string) string {
	if s == "" {
		return "detected"
	}
	return s
}

// testPolicyDeny: in deny mode the server refuses exactly the Services with an error finding.
func testPolicyDeny(t *testing.T, corpus []corpusService, file string) {
	f := facts{"vpc", "ipvs"}
	installPolicy(t, append([]string{"--mode", "deny"}, f.flags()...)...)
	want := svcFindings(t, file, f)
	// Refused: an error finding, as the policies grade it (policy.Severity: dedicated-elb-hairpin
	// is a warning there).
	wantDenied := func(name string) []string {
		for id := range want[name] {
			if policy.Severity(id) == plan.SeverityError {
				return []string{"denied"}
			}
		}
		return nil
	}
	waitForPolicies(t, corpus, func(name string, got map[string]bool) bool {
		errs := false
		for id := range got {
			errs = errs || policy.Severity(id) == plan.SeverityError
		}
		return slices.Equal(wantDenied(name), map[bool][]string{true: {"denied"}}[errs])
	})
	_, denied, res := serverFindings(t, file)
	if len(denied) == 0 {
		t.Fatalf("deny mode refused nothing: %s", res)
	}
	compare(t, "deny mode", corpus, wantDenied, func(name string) []string {
		if denied[name] {
			return []string{"denied"}
		}
		return nil
	})
}

// testPolicyUpdate: on UPDATE the object carries its status; an ELB address with ipMode Proxy
// is not short-cut by kube-proxy, so a switch to Local is refused (deny mode) only for the VIP
// address, as svc -f decides on the same object.
func testPolicyUpdate(t *testing.T, ns string) {
	for _, mode := range []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy} {
		name := "upd-" + strings.ToLower(string(mode))
		svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Annotations: map[string]string{"kubernetes.io/elb.class": "union"}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
				Selector: map[string]string{"app": name}, Ports: []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.168.7.20", IPMode: &mode}}}},
		}
		createService(t, svc.DeepCopy())
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
		file := writeCorpus(t, []corpusService{{name: name, svc: svc}})
		want := svcFindings(t, file, facts{"vpc", "ipvs"})[name]
		r := kubectl(t, nil, "", "patch", "svc", name, "-n", ns, "--type", "merge", "--dry-run=server",
			"-p", `{"spec":{"externalTrafficPolicy":"Local"}}`)
		_, shortcut := want[plan.FindingInClusterELBShortcut]
		if shortcut != (mode == corev1.LoadBalancerIPModeVIP) {
			t.Fatalf("%s: svc -f says %v", name, keysOf(want))
		}
		refused := r.Code != 0 && strings.Contains(r.Stderr, "denied request: incluster-elb-shortcut (error) on service "+ns+"/"+name)
		if refused != shortcut {
			t.Errorf("%s: svc -f %v; the server's answer to Local:\n%s", name, keysOf(want), r)
		}
	}
}

// testPolicyMutate: with --mutate, the object the server would store has the annotations svc
// -o manifest writes, Service by Service.
func testPolicyMutate(t *testing.T, corpus []corpusService, file string) {
	f := facts{"vpc", "ipvs"}
	installPolicy(t, append([]string{"--mutate"}, f.flags()...)...)
	r := elbfix(t, append([]string{"svc", "-f", file, "-o", "manifest", "--cluster-version", kc.GitVersion}, f.flags()...)...)
	if r.Code != 0 && r.Code != 1 {
		t.Fatalf("svc -o manifest: %s", r)
	}
	want := decodeServices(t, []byte(r.Stdout), false)
	changed := 0
	for _, c := range corpus {
		if want[c.name].Annotations["kubernetes.io/elb.pass-through"] != c.svc.Annotations["kubernetes.io/elb.pass-through"] {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("svc -o manifest set pass-through nowhere: the corpus does not test the mutation")
	}
	var stored map[string]*corev1.Service
	for range 60 { // until the mutating policy is loaded
		res := kubectl(t, nil, "", "create", "--dry-run=server", "-f", file, "-o", "json")
		stored = decodeServices(t, []byte(res.Stdout), true)
		if allEqual(sampleOf(corpus), want, stored) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	compare(t, fmt.Sprintf("mutate (%d Services get pass-through from svc)", changed), corpus,
		func(name string) []string { return annList(want[name]) }, func(name string) []string { return annList(stored[name]) })
}

func allEqual(cs []corpusService, a, b map[string]*corev1.Service) bool {
	for _, c := range cs {
		if !slices.Equal(annList(a[c.name]), annList(b[c.name])) {
			return false
		}
	}
	return true
}

func annList(s *corev1.Service) []string {
	if s == nil {
		return []string{"<missing>"}
	}
	var out []string
	for k, v := range s.Annotations {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// decodeServices reads Services from a YAML stream (svc -o manifest) or a stream of JSON
// objects (kubectl create -o json), by name.
func decodeServices(t *testing.T, b []byte, isJSON bool) map[string]*corev1.Service {
	t.Helper()
	out := map[string]*corev1.Service{}
	if isJSON {
		dec := json.NewDecoder(bytes.NewReader(b))
		for {
			var s corev1.Service
			if err := dec.Decode(&s); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("decoding kubectl's output: %v", err)
			}
			out[s.Name] = &s
		}
		return out
	}
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var s corev1.Service
		if err := yaml.Unmarshal([]byte(doc), &s); err != nil {
			t.Fatalf("decoding svc -o manifest: %v", err)
		}
		if s.Name != "" {
			out[s.Name] = &s
		}
	}
	return out
}

// testPolicyCost: the policies evaluate within the API server's CEL cost limits (per expression
// and per binding) for a Service with 100 ports and 50 annotations, among them a per-port
// health check for each port. The policies are in deny mode with failurePolicy Fail here, so an
// expression over its limit refuses the Service with the server's cost error.
func testPolicyCost(t *testing.T, ns string) {
	ports := make([]corev1.ServicePort, 100)
	var checks []string
	for i := range ports {
		proto := corev1.ProtocolTCP
		if i%4 == 3 {
			proto = corev1.ProtocolUDP
		}
		ports[i] = corev1.ServicePort{Name: fmt.Sprintf("p%d", i), Port: int32(8000 + i), Protocol: proto}
		checks = append(checks, fmt.Sprintf(`{"protocol":"%s","target_service_port":"%s:%d","delay":"5","timeout":"10","max_retries":"3","monitor_port":"%d"}`,
			map[corev1.Protocol]string{corev1.ProtocolTCP: "HTTP", corev1.ProtocolUDP: "UDP"}[proto], proto, 8000+i, 9000+i))
	}
	ann := map[string]string{
		"kubernetes.io/elb.class":                 "union",
		"kubernetes.io/elb.autocreate":            `{"type":"public","bandwidth_name":"cce-bandwidth","bandwidth_chargemode":"traffic","bandwidth_size":5,"bandwidth_sharetype":"PER","eip_type":"5_bgp","name":"big"}`,
		"kubernetes.io/elb.pass-through":          "true",
		"kubernetes.io/elb.transparent-client-ip": "false",
		"kubernetes.io/hws-hostNetwork":           "false",
		"kubernetes.io/elb.health-check-flag":     "on",
		"kubernetes.io/elb.health-check-options":  "[" + strings.Join(checks, ",") + "]",
		"elbfix.io/ignore":                        "elb-member-quota-exceeded: the quota was raised",
	}
	for i := len(ann); i < 50; i++ {
		ann[fmt.Sprintf("example.com/note-%02d", i)] = strings.Repeat("x", 200)
	}
	var big []corpusService
	for _, c := range []struct {
		name string
		etp  corev1.ServiceExternalTrafficPolicy
		pt   string
	}{{"big-ok", corev1.ServiceExternalTrafficPolicyCluster, "true"}, {"big-bad", corev1.ServiceExternalTrafficPolicyLocal, "false"}} {
		a := map[string]string{}
		for k, v := range ann {
			a[k] = v
		}
		a["kubernetes.io/elb.pass-through"] = c.pt
		svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: c.name, Namespace: ns, Annotations: a},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: c.etp,
				Selector: map[string]string{"app": "big"}, Ports: ports}}
		big = append(big, corpusService{name: c.name, svc: svc})
		if len(svc.Spec.Ports) != 100 || len(svc.Annotations) != 50 {
			t.Fatalf("%s: %d ports, %d annotations", c.name, len(svc.Spec.Ports), len(svc.Annotations))
		}
	}
	file := writeCorpus(t, big)
	want := svcFindings(t, file, facts{"vpc", "ipvs"})
	if len(want["big-ok"]) != 0 || want["big-bad"][plan.FindingInClusterELBShortcut] != plan.SeverityError {
		t.Fatalf("svc -f on the big Services: %v", want)
	}
	got, denied, r := serverFindings(t, file)
	if strings.Contains(strings.ToLower(r.Stderr), "cost") {
		t.Fatalf("the server reports a CEL cost limit:\n%s", r)
	}
	if denied["big-ok"] || !denied["big-bad"] || len(got["big-ok"]) != 0 ||
		!slices.Equal(idList(got["big-bad"]), keysOf(want["big-bad"])) {
		t.Fatalf("want big-ok admitted without findings and big-bad denied with %v; got %v, denied %v:\n%s", keysOf(want["big-bad"]), got, denied, r)
	}
}
