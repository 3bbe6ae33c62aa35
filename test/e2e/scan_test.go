package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

// Facts given explicitly, so that the expected verdicts don't depend on detection.
var fixedFacts = []string{"--network-model", "tunnel", "--proxy-mode", "ipvs"}

// serviceKinds is one Service of every kind the rules tell apart.
func serviceKinds(ns string) []*corev1.Service {
	type kind struct {
		typ         corev1.ServiceType
		policy      corev1.ServiceExternalTrafficPolicy
		annotations map[string]string
		ingress     string
	}
	kinds := []kind{
		{corev1.ServiceTypeClusterIP, "", nil, ""},
		{corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyLocal, nil, ""},
		{corev1.ServiceTypeNodePort, corev1.ServiceExternalTrafficPolicyCluster, nil, ""},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, map[string]string{"kubernetes.io/elb.class": "union"}, "192.168.10.36"},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyCluster, map[string]string{"kubernetes.io/elb.class": "union"}, "192.168.10.37"},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, map[string]string{"kubernetes.io/elb.class": "union", "kubernetes.io/elb.pass-through": "true"}, "192.168.10.38"},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, map[string]string{"kubernetes.io/elb.class": "union", "kubernetes.io/elb.pass-through": "onlyLocal"}, "192.168.10.39"},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, map[string]string{"kubernetes.io/elb.class": "performance", "kubernetes.io/elb.id": "2f6d3a8e-1b4c-4d2e-9f7a-5c3b1e0d9a24"}, "192.168.0.147"},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, map[string]string{"kubernetes.io/elb.class": "dnat"}, "203.0.113.9"},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, map[string]string{"kubernetes.io/elb.class": "dedicated"}, "192.168.0.148"},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, map[string]string{"kubernetes.io/elb.class": "union", "kubernetes.io/elb.autocreate": `{"type":`}, "192.168.10.40"},
		{corev1.ServiceTypeLoadBalancer, corev1.ServiceExternalTrafficPolicyLocal, map[string]string{"kubernetes.io/elb.class": "union", "kubernetes.io/elb.transparent-client-ip": "true"}, "192.168.10.41"},
	}
	var out []*corev1.Service
	for i, k := range kinds {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("kind-%02d", i), Annotations: k.annotations},
			Spec: corev1.ServiceSpec{
				Type:     k.typ,
				Selector: map[string]string{"app": fmt.Sprintf("kind-%02d", i)},
				Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
			},
		}
		if k.typ != corev1.ServiceTypeClusterIP {
			svc.Spec.ExternalTrafficPolicy = k.policy
		}
		if k.ingress != "" {
			svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: k.ingress}}
		}
		out = append(out, svc)
	}
	return out
}

func scanPlan(t *testing.T, env []string, args ...string) (plan.Plan, result) {
	t.Helper()
	r := kubectl(t, env, "", append([]string{"elbfix", "scan", "-o", "json"}, args...)...)
	var doc plan.Plan
	if r.Code == 0 || r.Code == 1 {
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
			t.Fatalf("scan -o json: %v\n%s", err, r)
		}
	}
	return doc, r
}

// TestScanMatchesSvc: scan's verdict on each Service is svc's verdict on it.
func TestScanMatchesSvc(t *testing.T) {
	ns := namespace(t)
	var names []string
	for _, svc := range serviceKinds(ns) {
		createService(t, svc)
		names = append(names, svc.Name)
	}
	doc, r := scanPlan(t, nil, append([]string{"-n", ns}, fixedFacts...)...)
	wantCode(t, r, 1)
	if len(doc.Services) != len(names) {
		t.Fatalf("scan found %d Services, want %d", len(doc.Services), len(names))
	}
	r = elbfix(t, append(append([]string{"svc", "-n", ns, "-o", "json", "--dry-run"}, names...), fixedFacts...)...)
	wantCode(t, r, 1)
	var fromSvc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &fromSvc); err != nil {
		t.Fatal(err)
	}
	bySvc := map[string]plan.ServicePlan{}
	for _, sp := range fromSvc.Services {
		bySvc[sp.Name] = sp
	}
	for _, sp := range doc.Services {
		want := bySvc[sp.Name]
		// scan -n reads one namespace and says so per Service on a shared ELB (svc reads every
		// namespace's Services for that): the only difference allowed.
		var notes []plan.Note
		for _, n := range sp.Notes {
			if !strings.HasPrefix(n.Message, "not checked: the other Services on ELB") || sp.ELBID == "" {
				notes = append(notes, n)
			}
		}
		sp.Notes = notes
		if !reflect.DeepEqual(sp, want) {
			a, _ := json.MarshalIndent(sp, "", " ")
			b, _ := json.MarshalIndent(want, "", " ")
			t.Errorf("scan and svc disagree on %s:\nscan: %s\nsvc: %s", sp.Name, a, b)
		}
	}
	// Sorted worst first: the first Service has an error, the last none.
	if first := doc.Services[0]; !hasSeverity(first, plan.SeverityError) {
		t.Errorf("scan is not sorted by severity: first is %s", first.Name)
	}
	// scan never writes.
	for _, name := range names {
		if svc := getService(t, ns, name); svc.Annotations["kubernetes.io/elb.pass-through"] == "true" && name != "kind-05" {
			t.Errorf("scan wrote to %s", name)
		}
	}
	// The table and its summary.
	r = elbfix(t, append([]string{"scan", "-n", ns}, fixedFacts...)...)
	wantCode(t, r, 1)
	for _, want := range []string{"NAME", "FINDINGS", fmt.Sprintf("of %d Services need a fix", len(names))} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("scan table lacks %q:\n%s", want, r)
		}
	}
}

func hasSeverity(sp plan.ServicePlan, sev string) bool {
	for _, f := range sp.Findings {
		if f.Severity == sev && f.Ignored == "" {
			return true
		}
	}
	return false
}

func TestScanFailOn(t *testing.T) {
	warnOnly := namespace(t)
	svc := serviceKinds(warnOnly)[1] // NodePort, Local: a warning only
	createService(t, svc)
	for _, tc := range []struct {
		failOn string
		code   int
	}{{"error", 0}, {"warning", 1}, {"info", 1}, {"never", 0}} {
		r := elbfix(t, append([]string{"scan", "-n", warnOnly, "--fail-on", tc.failOn}, fixedFacts...)...)
		if r.Code != tc.code {
			t.Errorf("--fail-on %s with a warning: want exit %d, got %s", tc.failOn, tc.code, r)
		}
	}
	errorNS := namespace(t)
	createService(t, serviceKinds(errorNS)[3]) // shared ELB, Local: an error
	for _, tc := range []struct {
		failOn string
		code   int
	}{{"error", 1}, {"warning", 1}, {"never", 0}} {
		r := elbfix(t, append([]string{"scan", "-n", errorNS, "--fail-on", tc.failOn}, fixedFacts...)...)
		if r.Code != tc.code {
			t.Errorf("--fail-on %s with an error: want exit %d, got %s", tc.failOn, tc.code, r)
		}
	}
	r := elbfix(t, "scan", "-n", errorNS, "--fail-on", "sometimes")
	wantCode(t, r, 2)
	wantOneLineError(t, r, `invalid value "sometimes" for --fail-on`)
}

func TestScanIgnore(t *testing.T) {
	ns := namespace(t)
	withReason := serviceKinds(ns)[3]
	withReason.Name = "ignored"
	withReason.Annotations["elbfix.io/ignore"] = "incluster-elb-shortcut,nodeport-local-unreachable: in-cluster callers use the DNS name"
	createService(t, withReason)
	doc, r := scanPlan(t, nil, append([]string{"-n", ns}, fixedFacts...)...)
	wantCode(t, r, 0)
	for _, f := range doc.Services[0].Findings {
		if (f.ID == "incluster-elb-shortcut" || f.ID == "nodeport-local-unreachable") && f.Ignored != "in-cluster callers use the DNS name" {
			t.Errorf("finding %s not ignored with the reason: %+v", f.ID, f)
		}
	}
	r = elbfix(t, append([]string{"scan", "-n", ns}, fixedFacts...)...)
	if !strings.Contains(r.Stdout, "ignored: in-cluster callers use the DNS name") {
		t.Errorf("the table must show the reason:\n%s", r)
	}

	noReason := namespace(t)
	svc := serviceKinds(noReason)[3]
	svc.Annotations["elbfix.io/ignore"] = "incluster-elb-shortcut"
	createService(t, svc)
	doc, r = scanPlan(t, nil, append([]string{"-n", noReason}, fixedFacts...)...)
	wantCode(t, r, 1)
	if !hasFinding(doc.Services[0].Findings, "annotation-invalid") {
		t.Errorf("an ignore annotation without a reason must be a finding: %+v", doc.Services[0].Findings)
	}
	for _, f := range doc.Services[0].Findings {
		if f.Ignored != "" {
			t.Errorf("an ignore annotation without a reason ignored %s", f.ID)
		}
	}
	// --ignore for pipelines without annotations.
	_, r = scanPlan(t, nil, append([]string{"-n", noReason, "--ignore", "incluster-elb-shortcut,annotation-invalid,nodeport-local-unreachable"}, fixedFacts...)...)
	wantCode(t, r, 0)
	r = elbfix(t, "scan", "-n", noReason, "--ignore", "no-such-finding")
	wantCode(t, r, 2)
}

func TestScanPermissions(t *testing.T) {
	ns := namespace(t)
	createService(t, serviceKinds(ns)[3])
	// The read-only user can scan (exit 1: a finding, not 2: an error).
	_, r := scanPlan(t, []string{"KUBECONFIG=" + kc.ReadOnlyKubeconfig}, append([]string{"-A"}, fixedFacts...)...)
	wantCode(t, r, 1)
	// A user who may list Services in one namespace only.
	kubeconfig := namespaceUser(t, ns)
	r = kubectl(t, []string{"KUBECONFIG=" + kubeconfig}, "", append([]string{"elbfix", "scan", "-A"}, fixedFacts...)...)
	wantCode(t, r, 2)
	wantOneLineError(t, r, "-n NAMESPACE")
	r = kubectl(t, []string{"KUBECONFIG=" + kubeconfig}, "", append([]string{"elbfix", "scan", "-n", ns}, fixedFacts...)...)
	wantCode(t, r, 1)
}

// namespaceUser returns a kubeconfig for a ServiceAccount that may read Services in ns only.
func namespaceUser(t *testing.T, ns string) string {
	t.Helper()
	ctx := context.Background()
	cs := kc.Client
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "reader"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "svc-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"services", "pods"}, Verbs: []string{"get", "list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "svc-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "svc-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tok, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "reader", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return writeKubeconfig(t, t.TempDir(), "reader", kc.Server, tok.Status.Token)
}

// TestScanRequestsDoNotGrowWithServices: the API server's own request counter shows that a scan
// of 5,000 Services makes the same requests as a scan of 500, apart from the extra LIST pages.
func TestScanRequestsDoNotGrowWithServices(t *testing.T) {
	small, large := namespace(t), namespace(t)
	bulkServices(t, small, 500)
	bulkServices(t, large, 5000)
	count := func(ns string) int {
		before := requestTotal(t)
		r := elbfix(t, append([]string{"scan", "-n", ns, "-o", "json", "--fail-on", "never"}, fixedFacts...)...)
		wantCode(t, r, 0)
		return requestTotal(t) - before
	}
	a, b := count(small), count(large)
	// 500 Services: 1 page; 5,000: 10 pages of 500.
	if b-a != 9 {
		t.Fatalf("requests for 500 Services: %d, for 5,000: %d; want a difference of 9 pages", a, b)
	}
	t.Logf("API requests: %d for 500 Services, %d for 5,000", a, b)
}

// bulkServices creates n LoadBalancer Services concurrently, and deletes them when the test
// ends (no namespace controller runs). They use no node ports (no NodePorts, policy Cluster so
// no health check port either), so thousands fit.
func bulkServices(t *testing.T, ns string, n int) {
	t.Helper()
	cfg := *kc.Config
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = parallel(n, func(i int) error {
			return cs.CoreV1().Services(ns).Delete(context.Background(), "svc-"+strconv.Itoa(i), metav1.DeleteOptions{})
		})
	})
	noNodePorts := false
	if err := parallel(n, func(i int) error {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "svc-" + strconv.Itoa(i), Annotations: map[string]string{"kubernetes.io/elb.class": "union"}},
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster,
				AllocateLoadBalancerNodePorts: &noNodePorts,
				Ports:                         []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}},
			},
		}
		// On a loaded machine a create may time out on the client while the server makes it:
		// try again, and take AlreadyExists as made.
		var err error
		for range 3 {
			_, err = cs.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{})
			if err == nil || apierrors.IsAlreadyExists(err) {
				return nil
			}
			var netErr net.Error
			if !errors.As(err, &netErr) || !netErr.Timeout() {
				return err
			}
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// parallel runs f(0..n-1) on 16 workers and returns the first error.
func parallel(n int, f func(i int) error) error {
	work := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	return first
}

// pluginResources are the resources the plugin reads; the API server's own background requests
// (leases, priority and fairness configuration) touch others and are not counted.
var pluginResources = []string{"services", "events", "endpointslices", "nodes", "pods", "configmaps",
	"network-attachment-definitions", "yangtseconfigurations"}

// requestTotal sums apiserver_request_total from the API server's /metrics over pluginResources.
func requestTotal(t *testing.T) int {
	t.Helper()
	return requestMetric(t, func(line string) bool {
		for _, r := range pluginResources {
			if strings.Contains(line, `resource="`+r+`"`) {
				return true
			}
		}
		return false
	})
}

// requestMetric sums the apiserver_request_total series of the API server's /metrics that match.
func requestMetric(t *testing.T, match func(line string) bool) int {
	t.Helper()
	body, err := kc.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !match(line) {
			continue
		}
		fields := strings.Fields(line)
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			t.Fatal(err)
		}
		total += int(v)
	}
	return total
}

// TestScanTable: the table as kubectl users read it, through kubectl on the real API server: the
// cluster line and a fact that holds for every row (detection-incomplete, the proxy mode being
// unknown) once in the header and in no row; a summary line counting fixes by strategy and
// Services by worst finding; --no-headers (rows only); -o wide (more columns); NAMESPACE only
// with -A.
func TestScanTable(t *testing.T) {
	ns := namespace(t)
	var names []string
	for _, svc := range serviceKinds(ns) {
		createService(t, svc)
		names = append(names, svc.Name)
	}
	facts := []string{"--network-model", "vpc", "--cluster-version", "v1.25.5-r0"} // proxy mode unknown
	doc, r := scanPlan(t, nil, append([]string{"-n", ns}, facts...)...)
	wantCode(t, r, 1)
	incomplete, fixes := 0, map[string]int{}
	for _, sp := range doc.Services {
		if hasFinding(sp.Findings, "detection-incomplete") {
			incomplete++
		}
		if sp.Fix != nil && (sp.Changed || len(sp.Fix.AlsoPatch) > 0) {
			fixes[sp.Fix.Strategy]++
		}
	}
	if incomplete == 0 || fixes["pass-through"] == 0 || fixes["cluster"] == 0 {
		t.Fatalf("the fixture needs detection-incomplete and both fixes: %d, %v", incomplete, fixes)
	}

	r = elbfix(t, append([]string{"scan", "-n", ns}, facts...)...)
	wantCode(t, r, 1)
	t.Logf("scan -n:\n%s", r.Stdout)
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "Cluster: network vpc (flag), kube-proxy unknown, version v1.25.5-r0 (flag)") {
		t.Errorf("cluster line: %q", lines[0])
	}
	if want := fmt.Sprintf("detection-incomplete (info, %d Services)", incomplete); !strings.HasPrefix(lines[1], want) {
		t.Errorf("header: %q, want it to start with %q", lines[1], want)
	}
	if strings.Count(r.Stdout, "detection-incomplete") != 1 {
		t.Errorf("detection-incomplete is repeated in the rows:\n%s", r.Stdout)
	}
	header := strings.Fields(lines[3])
	if strings.Join(header, " ") != "NAME TYPE POLICY ELB FINDINGS FIX" {
		t.Errorf("columns with -n: %v", header)
	}
	if got := len(lines) - 4 - 2; got != len(names) {
		t.Errorf("%d rows, want %d:\n%s", got, len(names), r.Stdout)
	}
	need := fixes["pass-through"] + fixes["cluster"]
	summary := lines[len(lines)-1]
	if want := fmt.Sprintf("%d of %d Services need a fix: %d pass-through, %d Cluster", need, len(names), fixes["pass-through"], fixes["cluster"]); !strings.HasPrefix(summary, want) {
		t.Errorf("summary %q, want it to start with %q", summary, want)
	}
	if !strings.Contains(summary, "worst finding per Service: ") {
		t.Errorf("summary without the severities: %q", summary)
	}

	// --no-headers: only the rows.
	r = elbfix(t, append([]string{"scan", "-n", ns, "--no-headers"}, facts...)...)
	wantCode(t, r, 1)
	rows := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if len(rows) != len(names) {
		t.Errorf("--no-headers: %d lines, want %d rows:\n%s", len(rows), len(names), r.Stdout)
	}
	for _, l := range rows {
		if strings.HasPrefix(l, "NAME") || strings.HasPrefix(l, "Cluster:") || strings.Contains(l, "need a fix") {
			t.Errorf("--no-headers printed %q", l)
		}
	}

	// -o wide: more columns, the ELB's addresses among them.
	r = elbfix(t, append([]string{"scan", "-n", ns, "-o", "wide"}, facts...)...)
	wantCode(t, r, 1)
	wide := strings.Split(r.Stdout, "\n")
	if got := strings.Join(strings.Fields(wide[3]), " "); got != "NAME TYPE POLICY ELB ELB-ID PASS-THROUGH ADDRESS FINDINGS UNREACHABLE FIX" {
		t.Errorf("-o wide columns: %s", got)
	}
	if !strings.Contains(r.Stdout, "192.168.0.147") || !strings.Contains(r.Stdout, "pod-other-node") {
		t.Errorf("-o wide lacks the addresses or the clients:\n%s", r.Stdout)
	}

	// -A: the NAMESPACE column first.
	r = elbfix(t, append([]string{"scan", "-A"}, facts...)...)
	if r.Code == 2 {
		t.Fatalf("scan -A: %s", r)
	}
	if l := strings.Split(r.Stdout, "\n"); !strings.HasPrefix(l[3], "NAMESPACE") && !strings.HasPrefix(l[2], "NAMESPACE") {
		t.Errorf("scan -A without the NAMESPACE column:\n%s", strings.Join(l[:min(len(l), 5)], "\n"))
	}
}

// TestScanTurboPlansLocalServicesWithThePods: on CCE Turbo, scan plans the Local Services only
// once the backend pods are read, while it plans the others as soon as their own reads are done
// (a namespace's Services once the EndpointSlice list has moved past it: here, to a slice of
// the namespace after it). With the pod list held a second by the proxy, a Local Service whose
// pods use hostNetwork has no turbo-local-needs-hostnetwork, and one whose pods do not has it,
// as svc says. It fails if a Local Service is planned before the pods are read (hostNetwork is
// then unknown, and the first gets the finding too).
func TestScanTurboPlansLocalServicesWithThePods(t *testing.T) {
	ns := namespace(t)
	want := map[string]bool{"host": false, "plain": true} // the finding, by Service
	for name, finding := range want {
		svc := svcWith(name, lb, local, "192.168.10.36", aClass, "union")
		svc.Namespace = ns
		createService(t, svc)
		backendPod(name, !finding)(t, ns, svc)
	}
	next := ns + "x" // its keys follow ns's: "ns/..." < "nsx/..."
	if _, err := kc.Client.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: next}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createSlices(t, next, "other", 1)
	p := newFaultProxy(t, func(r faultRequest) faultAction {
		if r.Verb == "list" && r.Resource == "pods" {
			return hold(time.Second)
		}
		return pass
	})
	doc, r := scanPlan(t, p.Env(), append([]string{"-A"}, turboIPVS...)...)
	if r.Code != 0 && r.Code != 1 {
		t.Fatalf("%s", r)
	}
	if p.Count("list pods") == 0 {
		t.Fatalf("scan read no pods:\n%s", p.Log())
	}
	seen := 0
	for _, sp := range doc.Services {
		if sp.Namespace != ns {
			continue
		}
		seen++
		got := false
		for _, f := range sp.Findings {
			got = got || f.ID == "turbo-local-needs-hostnetwork"
		}
		if got != want[sp.Name] {
			t.Errorf("%s: turbo-local-needs-hostnetwork present=%v, want %v", sp.Name, got, want[sp.Name])
		}
	}
	if seen != len(want) {
		t.Fatalf("scan found %d Services in %s, want %d", seen, ns, len(want))
	}
}
