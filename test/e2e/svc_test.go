package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

const passThroughPatch = `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}`

func TestPluginIsFoundByKubectl(t *testing.T) {
	r := kubectl(t, nil, "", "plugin", "list")
	wantCode(t, r, 0)
	if !strings.Contains(r.Stdout, filepath.Join(binDir, "kubectl-elbfix")) {
		t.Fatalf("kubectl plugin list does not list kubectl-elbfix:\n%s", r)
	}
}

func TestVersion(t *testing.T) {
	r := elbfix(t, "version")
	wantCode(t, r, 0)
	if !strings.HasPrefix(r.Stdout, "kubectl-elbfix ") {
		t.Fatalf("unexpected version output:\n%s", r)
	}
	r = elbfix(t, "version", "-o", "json")
	wantCode(t, r, 0)
	var v map[string]string
	if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
		t.Fatalf("version -o json: %v\n%s", err, r)
	}
	for _, k := range []string{"version", "commit", "goVersion", "platform"} {
		if v[k] == "" {
			t.Errorf("version -o json lacks %q: %s", k, r.Stdout)
		}
	}
}

// TestDryRunLeavesObjectUntouched: both dry runs show the fix and its diff, exit 1 (a change is
// needed), and the stored object keeps its resourceVersion.
func TestDryRunLeavesObjectUntouched(t *testing.T) {
	ns := namespace(t)
	before := createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	for _, tc := range []struct {
		args   []string
		suffix string
	}{
		{[]string{"--dry-run"}, "(dry run)"},
		{[]string{"--dry-run=client"}, "(dry run)"},
		{[]string{"--dry-run=server"}, "(server dry run)"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := elbfix(t, append([]string{"svc", "nginx", "-n", ns}, tc.args...)...)
			wantCode(t, r, 1)
			for _, want := range []string{
				"incluster-elb-shortcut",
				"--- LIVE/v1.Service." + ns + ".nginx",
				"+++ MERGED/v1.Service." + ns + ".nginx",
				`+    kubernetes.io/elb.pass-through: "true"`,
				"service/nginx patched " + tc.suffix,
			} {
				if !strings.Contains(r.Stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r)
				}
			}
			after := getService(t, ns, "nginx")
			if after.ResourceVersion != before.ResourceVersion || !reflect.DeepEqual(after, before) {
				t.Fatalf("dry run changed the object: resourceVersion %s → %s", before.ResourceVersion, after.ResourceVersion)
			}
		})
	}
}

// stripped removes what an apply may legitimately change besides the fixed field.
func stripped(svc *corev1.Service) *corev1.Service {
	s := svc.DeepCopy()
	s.ResourceVersion = ""
	s.ManagedFields = nil
	return s
}

func TestApplyChangesExactlyTheFixedField(t *testing.T) {
	ns := namespace(t)
	for _, tc := range []struct {
		name, file, svc string
		args            []string
		wantPatch       string
		unfix           func(*corev1.Service)
	}{
		{
			name: "auto on a shared ELB sets pass-through", file: "nginx-shared-local.yaml", svc: "nginx",
			wantPatch: passThroughPatch,
			unfix:     func(s *corev1.Service) { delete(s.Annotations, "kubernetes.io/elb.pass-through") },
		},
		{
			name: "auto on a dedicated ELB sets policy Cluster", file: "dedicated-elb-local.yaml", svc: "orders",
			wantPatch: `{"spec":{"externalTrafficPolicy":"Cluster"}}`,
			unfix: func(s *corev1.Service) {
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := createService(t, loadService(t, tc.file, ns))
			r := elbfix(t, "svc", tc.svc, "-n", ns, "-o", "patch", "--dry-run")
			wantCode(t, r, 1)
			if strings.TrimSpace(r.Stdout) != tc.wantPatch {
				t.Fatalf("-o patch = %q, want %q", r.Stdout, tc.wantPatch)
			}

			r = elbfix(t, "svc", tc.svc, "-n", ns)
			wantCode(t, r, 0)
			if !strings.Contains(r.Stdout, "service/"+tc.svc+" patched\n") {
				t.Errorf("output lacks the patched line:\n%s", r)
			}
			after := getService(t, ns, tc.svc)
			if after.ResourceVersion == before.ResourceVersion {
				t.Fatal("apply did not write")
			}
			if !hasManager(after, "kubectl-elbfix") {
				t.Errorf("managedFields lack manager kubectl-elbfix: %+v", after.ManagedFields)
			}
			unfixed := stripped(after)
			tc.unfix(unfixed)
			if tc.svc == "orders" {
				// Local→Cluster: the API server frees healthCheckNodePort itself.
				if after.Spec.HealthCheckNodePort != 0 {
					t.Errorf("healthCheckNodePort still %d after the policy change", after.Spec.HealthCheckNodePort)
				}
				unfixed.Spec.HealthCheckNodePort = before.Spec.HealthCheckNodePort
			}
			if !reflect.DeepEqual(unfixed, stripped(before)) {
				a, _ := yaml.Marshal(unfixed)
				b, _ := yaml.Marshal(stripped(before))
				t.Fatalf("apply changed more than the fixed field:\nbefore:\n%s\nafter (fix undone):\n%s", b, a)
			}

			// A second run finds nothing to do and writes nothing.
			r = elbfix(t, "svc", tc.svc, "-n", ns)
			wantCode(t, r, 0)
			if !strings.Contains(r.Stdout, "service/"+tc.svc+" unchanged") {
				t.Errorf("second run: want unchanged:\n%s", r)
			}
			if again := getService(t, ns, tc.svc); again.ResourceVersion != after.ResourceVersion {
				t.Errorf("second run wrote: resourceVersion %s → %s", after.ResourceVersion, again.ResourceVersion)
			}
			r = elbfix(t, "svc", tc.svc, "-n", ns, "--dry-run")
			wantCode(t, r, 0)
		})
	}
}

func hasManager(svc *corev1.Service, manager string) bool {
	for _, m := range svc.ManagedFields {
		if m.Manager == manager {
			return true
		}
	}
	return false
}

// TestPatchOutputFeedsKubectlPatch: -o patch is ready for kubectl patch --type strategic.
func TestPatchOutputFeedsKubectlPatch(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	r := elbfix(t, "svc", "nginx", "-n", ns, "-o", "patch", "--dry-run")
	wantCode(t, r, 1)
	r = kubectl(t, nil, "", "patch", "svc", "nginx", "-n", ns, "--type", "strategic", "-p", strings.TrimSpace(r.Stdout))
	wantCode(t, r, 0)
	if got := getService(t, ns, "nginx").Annotations["kubernetes.io/elb.pass-through"]; got != "true" {
		t.Fatalf("after kubectl patch, pass-through = %q", got)
	}
}

func TestJSONPlan(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	createService(t, loadService(t, "clusterip.yaml", ns))
	r := elbfix(t, "svc", "nginx", "internal", "-n", ns, "-o", "json", "--dry-run", "--proxy-mode", "ipvs")
	wantCode(t, r, 1)
	var doc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("-o json is not a Plan: %v\n%s", err, r)
	}
	if doc.APIVersion != "elbfix/v1alpha1" || doc.Kind != "Plan" || len(doc.Services) != 2 {
		t.Fatalf("unexpected plan header or service count:\n%s", r.Stdout)
	}
	if doc.Cluster.ProxyMode != "ipvs" || doc.Cluster.Version != kc.GitVersion {
		t.Errorf("cluster facts: %+v", doc.Cluster)
	}
	nginx, internal := doc.Services[0], doc.Services[1]
	if nginx.Name != "nginx" || nginx.Fix == nil || nginx.Fix.Strategy != "pass-through" || !nginx.Changed || nginx.Applied {
		t.Errorf("nginx plan: %+v", nginx)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, nginx.Fix.Patch); err != nil || compact.String() != passThroughPatch {
		t.Errorf("nginx patch = %s", nginx.Fix.Patch)
	}
	if !hasFinding(nginx.Findings, "incluster-elb-shortcut") {
		t.Errorf("nginx findings lack incluster-elb-shortcut: %+v", nginx.Findings)
	}
	if internal.Name != "internal" || internal.Fix != nil || internal.Changed || len(internal.Findings) != 0 {
		t.Errorf("ClusterIP plan: %+v", internal)
	}
	// The same document as YAML.
	r = elbfix(t, "svc", "nginx", "-n", ns, "-o", "yaml", "--dry-run")
	wantCode(t, r, 1)
	var fromYAML plan.Plan
	if err := yaml.Unmarshal([]byte(r.Stdout), &fromYAML); err != nil || fromYAML.Kind != "Plan" {
		t.Fatalf("-o yaml: %v\n%s", err, r)
	}
}

func hasFinding(fs []plan.Finding, id string) bool {
	for _, f := range fs {
		if f.ID == id {
			return true
		}
	}
	return false
}

func TestSelectorAndNamespace(t *testing.T) {
	ns := namespace(t)
	a := loadService(t, "nginx-shared-local.yaml", ns)
	a.Name, a.Labels = "web-a", map[string]string{"tier": "web"}
	b := loadService(t, "nginx-shared-local.yaml", ns)
	b.Name, b.Labels = "web-b", map[string]string{"tier": "web"}
	c := loadService(t, "nginx-shared-local.yaml", ns)
	c.Name, c.Labels = "other", map[string]string{"tier": "db"}
	for _, s := range []*corev1.Service{a, b, c} {
		createService(t, s)
	}
	r := elbfix(t, "svc", "-l", "tier=web", "-n", ns, "-o", "json", "--dry-run")
	wantCode(t, r, 1)
	var doc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range doc.Services {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "web-a,web-b" {
		t.Errorf("-l tier=web planned %v", names)
	}
	// Several names, one missing: exit 2, nothing written.
	r = elbfix(t, "svc", "web-a", "missing", "-n", ns)
	wantCode(t, r, 2)
	if getService(t, ns, "web-a").Annotations["kubernetes.io/elb.pass-through"] != "" {
		t.Error("a run with a missing name wrote to another Service")
	}
	wantOneLineError(t, r, `service "missing" not found in namespace "`+ns+`"`)
}

func wantOneLineError(t *testing.T, r result, contains string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], contains) || !strings.HasPrefix(lines[0], "error: ") {
		t.Errorf("want one error line containing %q, got %s", contains, r)
	}
	if strings.Contains(r.Stderr, "panic") || strings.Contains(r.Stderr, "goroutine ") {
		t.Errorf("panic: %s", r)
	}
}

func TestBadInput(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	createService(t, loadService(t, "clusterip.yaml", ns))
	notYAML := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(notYAML, []byte("kind: [Service\n\tthis is: not yaml: at all\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badToken, unreachable := brokenKubeconfigs(t)
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		contains string
	}{
		{"not found", nil, []string{"svc", "nope", "-n", ns}, `service "nope" not found`},
		{"bad dry-run value", nil, []string{"svc", "nginx", "-n", ns, "--dry-run=maybe"}, `invalid value "maybe" for --dry-run`},
		{"bad strategy", nil, []string{"svc", "nginx", "-n", ns, "--strategy", "magic"}, `invalid value "magic" for --strategy`},
		{"bad output", nil, []string{"svc", "nginx", "-n", ns, "-o", "wide"}, `invalid value "wide" for --output`},
		{"bad network model", nil, []string{"svc", "nginx", "-n", ns, "--network-model", "flannel"}, `invalid value "flannel" for --network-model`},
		{"bad proxy mode in env", []string{"ELBFIX_PROXY_MODE=userspace"}, []string{"svc", "nginx", "-n", ns}, `invalid value "userspace" for environment variable ELBFIX_PROXY_MODE`},
		{"bad cluster version", nil, []string{"svc", "nginx", "-n", ns, "--cluster-version", "latest"}, `--cluster-version`},
		{"unknown flag", nil, []string{"svc", "nginx", "--frobnicate"}, "unknown flag: --frobnicate"},
		{"no names", nil, []string{"svc"}, "name the Services"},
		{"names and -f", nil, []string{"svc", "nginx", "-f", notYAML}, "not several"},
		{"server dry run offline", nil, []string{"svc", "-f", "testdata/offline-bundle.yaml", "--dry-run=server"}, "--dry-run=server needs a cluster"},
		{"not yaml", nil, []string{"svc", "-f", notYAML}, "bad.yaml"},
		{"missing file", nil, []string{"svc", "-f", "testdata/nope.yaml"}, "nope.yaml"},
		{"token rejected", []string{"KUBECONFIG=" + badToken}, []string{"svc", "nginx", "-n", ns, "--dry-run"}, "Unauthorized"},
		{"server unreachable", []string{"KUBECONFIG=" + unreachable}, []string{"svc", "nginx", "-n", ns, "--dry-run", "--request-timeout=5s"}, "cannot reach the API server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kubectl(t, tc.env, "", append([]string{"elbfix"}, tc.args...)...)
			wantCode(t, r, 2)
			wantOneLineError(t, r, tc.contains)
			if r.Stdout != "" {
				t.Errorf("errors must not print data on stdout: %s", r)
			}
		})
	}
	if got := getService(t, ns, "nginx").Annotations["kubernetes.io/elb.pass-through"]; got != "" {
		t.Errorf("a failed run wrote pass-through=%q", got)
	}
}

// brokenKubeconfigs returns two kubeconfigs that must fail: one whose token the server rejects,
// one whose server nothing listens on.
func brokenKubeconfigs(t *testing.T) (badToken, unreachable string) {
	t.Helper()
	dir := t.TempDir()
	return writeKubeconfig(t, dir, "bad-token", kc.Server, "not-a-valid-token"),
		writeKubeconfig(t, dir, "unreachable", "https://127.0.0.1:1", kc.AdminToken)
}

func writeKubeconfig(t *testing.T, dir, name, server, token string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	cfg := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " + server +
		"\n    certificate-authority: " + kc.CAFile + "\nusers:\n- name: u\n  user:\n    token: " + token +
		"\ncontexts:\n- name: x\n  context: {cluster: c, user: u, namespace: default}\ncurrent-context: x\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestClusterIPNeedsNothing(t *testing.T) {
	ns := namespace(t)
	createService(t, loadService(t, "clusterip.yaml", ns))
	r := elbfix(t, "svc", "internal", "-n", ns, "--dry-run")
	wantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "ClusterIP") || !strings.Contains(r.Stdout, "service/internal unchanged") {
		t.Errorf("ClusterIP: want an explanation and unchanged:\n%s", r)
	}
}

func TestReadOnlyUser(t *testing.T) {
	ns := namespace(t)
	before := createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	viewer := []string{"KUBECONFIG=" + kc.ReadOnlyKubeconfig}
	r := kubectl(t, viewer, "", "elbfix", "svc", "nginx", "-n", ns, "--dry-run")
	wantCode(t, r, 1)
	r = kubectl(t, viewer, "", "elbfix", "svc", "nginx", "-n", ns)
	wantCode(t, r, 2)
	wantOneLineError(t, r, "forbidden")
	if !strings.Contains(r.Stderr, "service "+ns+"/nginx") {
		t.Errorf("the refusal must name the Service: %s", r)
	}
	if after := getService(t, ns, "nginx"); after.ResourceVersion != before.ResourceVersion {
		t.Error("a forbidden apply wrote")
	}
}

func TestOffline(t *testing.T) {
	in, err := os.ReadFile("testdata/offline-bundle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// Offline never contacts a cluster: point KUBECONFIG at nothing.
	env := []string{"KUBECONFIG=/nonexistent"}
	r := kubectl(t, env, "", "elbfix", "svc", "-f", "testdata/offline-bundle.yaml", "--cluster-version", "v1.25.5-r0", "-o", "manifest")
	wantCode(t, r, 0)
	want := strings.Replace(string(in), "    kubernetes.io/elb.autocreate: '{\"type\":\"inner\",\"name\":\"web\"}'\n",
		"    kubernetes.io/elb.autocreate: '{\"type\":\"inner\",\"name\":\"web\"}'\n    kubernetes.io/elb.pass-through: \"true\"\n", 1)
	if r.Stdout != want {
		t.Errorf("-o manifest: want the bundle with only the annotation added.\n--- got:\n%s\n--- want:\n%s", r.Stdout, want)
	}
	// The same from stdin with -o manifest, planned as the stream comes: the same bytes. A
	// document that does not read, at the end of the stream, is exit 2 and nothing written,
	// though the documents before it were planned as they came.
	r = kubectl(t, env, string(in), "elbfix", "svc", "-f", "-", "--cluster-version", "v1.25.5-r0", "-o", "manifest")
	wantCode(t, r, 0)
	if r.Stdout != want {
		t.Errorf("-f - -o manifest: want the bundle with only the annotation added.\n--- got:\n%s\n--- want:\n%s", r.Stdout, want)
	}
	for _, broken := range []string{
		"kind: Service\nmetadata: {name: broken}\n",                                        // no apiVersion: refused as it is read
		"apiVersion: v1\nkind: Service\nmetadata: {name: broken, annotations: {x: yes}}\n", // not a Service (a bool annotation): refused at the end
	} {
		r = kubectl(t, env, string(in)+"---\n"+broken, "elbfix", "svc", "-f", "-", "--cluster-version", "v1.25.5-r0", "-o", "manifest")
		wantCode(t, r, 2)
		if r.Stdout != "" || strings.Count(strings.TrimSpace(r.Stderr), "\n") != 0 || !strings.Contains(r.Stderr, "stdin: document") {
			t.Errorf("a broken last document: want one line naming it and no output, got %s", r)
		}
	}
	// The same from stdin, as a dry run: exit 1 (a change is needed).
	r = kubectl(t, env, string(in), "elbfix", "svc", "-f", "-", "--cluster-version", "v1.25.5-r0", "--dry-run")
	wantCode(t, r, 1)
	if !strings.Contains(r.Stdout, `+    kubernetes.io/elb.pass-through: "true"`) {
		t.Errorf("offline dry run lacks the diff:\n%s", r)
	}
	// Without a version, pass-through can't be proven supported: the policy fix instead.
	r = kubectl(t, env, "", "elbfix", "svc", "-f", "testdata/offline-bundle.yaml", "-o", "patch")
	wantCode(t, r, 0)
	if strings.TrimSpace(r.Stdout) != `{"spec":{"externalTrafficPolicy":"Cluster"}}` {
		t.Errorf("offline without --cluster-version: patch %q", r.Stdout)
	}
}

// TestOfflineList: the Services of a List (what kubectl get -o yaml writes) are fixed together,
// and each one's diff is its own object's, not the whole List with every fix so far.
func TestOfflineList(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for _, name := range []string{"web", "api", "shop"} {
		fmt.Fprintf(&b, "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: %s\n    annotations:\n      kubernetes.io/elb.class: union\n  spec:\n    type: LoadBalancer\n    externalTrafficPolicy: Local\n", name)
	}
	env := []string{"KUBECONFIG=/nonexistent"}
	r := kubectl(t, env, b.String(), "elbfix", "svc", "-f", "-", "--cluster-version", "v1.25.5-r0")
	wantCode(t, r, 0)
	if n := strings.Count(r.Stdout, "\n+    kubernetes.io/elb.pass-through: \"true\""); n != 3 || strings.Count(r.Stdout, "\n--- ") != 3 {
		t.Errorf("want three diffs of one added line each, got %d added lines:\n%s", n, r.Stdout)
	}
	r = kubectl(t, env, b.String(), "elbfix", "svc", "-f", "-", "--cluster-version", "v1.25.5-r0", "-o", "manifest")
	wantCode(t, r, 0)
	if want := strings.ReplaceAll(b.String(), "elb.class: union\n", "elb.class: union\n      kubernetes.io/elb.pass-through: \"true\"\n"); r.Stdout != want {
		t.Errorf("-o manifest:\n%s\nwant:\n%s", r.Stdout, want)
	}
}

func TestOfflineInvalidAnnotationIsAFinding(t *testing.T) {
	r := kubectl(t, []string{"KUBECONFIG=/nonexistent"}, "", "elbfix", "svc", "-f", "testdata/invalid-autocreate.yaml", "-o", "json", "--dry-run", "--cluster-version", "v1.25.5")
	if r.Code != 0 && r.Code != 1 {
		t.Fatalf("want a plan (exit 0 or 1), got %s", r)
	}
	var doc plan.Plan
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if len(doc.Services) != 1 || !hasFinding(doc.Services[0].Findings, "annotation-invalid") {
		t.Fatalf("want an annotation-invalid finding: %s", r.Stdout)
	}
}

// TestExternalDiff: KUBECTL_EXTERNAL_DIFF is honoured as kubectl diff does: the program gets two
// directories, LIVE-* and MERGED-*, holding one file named after the object.
func TestExternalDiff(t *testing.T) {
	if _, err := exec.LookPath("diff"); err != nil {
		t.Skip("no diff(1) on this machine; KUBECTL_EXTERNAL_DIFF needs a diff program to run")
	}
	ns := namespace(t)
	createService(t, loadService(t, "nginx-shared-local.yaml", ns))
	r := kubectl(t, []string{"KUBECTL_EXTERNAL_DIFF=diff -r -u"}, "", "elbfix", "svc", "nginx", "-n", ns, "--dry-run")
	wantCode(t, r, 1)
	for _, want := range []string{"diff -r -u ", "/LIVE-", "/MERGED-", "v1.Service." + ns + ".nginx", `+    kubernetes.io/elb.pass-through: "true"`} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("external diff output lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.Stdout, "\x1b[") {
		t.Error("colour codes in output that is not a terminal")
	}
}
