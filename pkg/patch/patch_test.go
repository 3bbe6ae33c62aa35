package patch

import (
	"flag"
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

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func readService(t *testing.T, name string) *corev1.Service {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	if err := yaml.UnmarshalStrict(b, svc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return svc
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/patch -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

func TestBuildTouchesOnlyTheFixedField(t *testing.T) {
	noAnnotations := readService(t, "service-shared-elb-local.yaml")
	noAnnotations.Annotations = nil
	alreadyPassThrough := readService(t, "service-shared-elb-local.yaml")
	alreadyPassThrough.Annotations[PassThroughAnnotation] = "true"
	alreadyCluster := readService(t, "service-dedicated-elb.yaml")
	alreadyCluster.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	alreadyCluster.Spec.HealthCheckNodePort = 0
	onlyLocal := readService(t, "service-shared-elb-local.yaml")
	onlyLocal.Annotations[PassThroughAnnotation] = "onlyLocal"
	withHealthCheckPort := readService(t, "service-dedicated-elb.yaml")
	withHealthCheckPort.Spec.HealthCheckNodePort = 31234

	for _, tc := range []struct {
		name     string
		svc      *corev1.Service
		strategy string
		want     string
	}{
		{"shared ELB, pass-through", readService(t, "service-shared-elb-local.yaml"), plan.StrategyPassThrough,
			`{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}`},
		{"shared ELB, cluster", readService(t, "service-shared-elb-local.yaml"), plan.StrategyCluster,
			`{"spec":{"externalTrafficPolicy":"Cluster"}}`},
		{"dedicated ELB, cluster", readService(t, "service-dedicated-elb.yaml"), plan.StrategyCluster,
			`{"spec":{"externalTrafficPolicy":"Cluster"}}`},
		{"no annotations at all, pass-through", noAnnotations, plan.StrategyPassThrough,
			`{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}`},
		{"pass-through already on", alreadyPassThrough, plan.StrategyPassThrough, `{}`},
		{"pass-through onlyLocal set by CCE", onlyLocal, plan.StrategyPassThrough,
			`{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":"true"}}}`},
		{"pass-through onlyLocal, cluster", onlyLocal.DeepCopy(), plan.StrategyCluster,
			`{"spec":{"externalTrafficPolicy":"Cluster"}}`},
		{"policy already Cluster", alreadyCluster, plan.StrategyCluster, `{}`},
		// The API server frees healthCheckNodePort itself on Local→Cluster: the patch must not touch it.
		{"healthCheckNodePort left to the server", withHealthCheckPort, plan.StrategyCluster,
			`{"spec":{"externalTrafficPolicy":"Cluster"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.svc.DeepCopy()
			fixed := mustFixed(t, tc.svc, tc.strategy)
			p, _, err := FixPatch(tc.svc, tc.strategy)
			if err != nil {
				t.Fatal(err)
			}
			if string(p) != tc.want {
				t.Errorf("patch = %s, want %s", p, tc.want)
			}
			// The same patch as CreateTwoWayMergePatch on the whole objects.
			whole, err := Build(tc.svc, fixed)
			if err != nil || string(whole) != string(p) {
				t.Errorf("Build on the whole objects = %s (%v), FixPatch = %s", whole, err, p)
			}
			if IsEmpty(p) != (tc.want == "{}") {
				t.Errorf("IsEmpty(%s) = %v", p, IsEmpty(p))
			}
			// FixPatch, remembered: the same patch, and its emptiness, twice.
			for range 2 {
				if fp, empty, err := FixPatch(tc.svc, tc.strategy); err != nil || string(fp) != tc.want || empty != (tc.want == "{}") {
					t.Errorf("FixPatch = %s, %v, %v; want %s", fp, empty, err, tc.want)
				}
			}
			if !reflect.DeepEqual(before, tc.svc) {
				t.Error("Fixed or FixPatch modified its input")
			}
			// The patch applied to the original gives exactly the fixed object.
			merged, err := mergeService(tc.svc, p)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(merged, fixed) {
				t.Errorf("original + patch != fixed object")
			}
		})
	}
}

func TestFixedKeepsOtherELBAnnotations(t *testing.T) {
	svc := readService(t, "service-dedicated-elb.yaml")
	fixed, err := Fixed(svc, plan.StrategyPassThrough)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range svc.Annotations {
		if fixed.Annotations[k] != v {
			t.Errorf("annotation %s changed from %q to %q", k, v, fixed.Annotations[k])
		}
	}
	if len(fixed.Annotations) != len(svc.Annotations)+1 {
		t.Errorf("fixed has %d annotations, want %d", len(fixed.Annotations), len(svc.Annotations)+1)
	}
}

func TestFixedUnknownStrategy(t *testing.T) {
	if _, err := Fixed(readService(t, "service-dedicated-elb.yaml"), "auto"); err == nil {
		t.Fatal("want an error for a strategy that is not a fix")
	}
}

func TestWithPrecondition(t *testing.T) {
	for _, tc := range []struct{ patch, rv, want string }{
		{`{"spec":{"externalTrafficPolicy":"Cluster"}}`, "42", `{"metadata":{"resourceVersion":"42"},"spec":{"externalTrafficPolicy":"Cluster"}}`},
		{`{"metadata":{"annotations":{"a":"b"}}}`, "7", `{"metadata":{"annotations":{"a":"b"},"resourceVersion":"7"}}`},
		{`{"spec":{}}`, "", `{"spec":{}}`},
	} {
		got, err := WithPrecondition([]byte(tc.patch), tc.rv)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("WithPrecondition(%s, %q) = %s, want %s", tc.patch, tc.rv, got, tc.want)
		}
	}
	if _, err := WithPrecondition([]byte(`not json`), "1"); err == nil {
		t.Error("want an error for a patch that is not JSON")
	}
}

func TestUnifiedDiffGolden(t *testing.T) {
	svc := readService(t, "service-dedicated-elb.yaml")
	for _, strategy := range []string{plan.StrategyPassThrough, plan.StrategyCluster} {
		fixed := mustFixed(t, svc, strategy)
		live, merged := toYAML(t, svc), toYAML(t, fixed)
		text, err := Unified(DiffName(svc.Namespace, svc.Name), live, merged)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, "diff-"+strategy+".golden", []byte(text))
	}
	same, err := Unified("x", []byte("a: 1\n"), []byte("a: 1\n"))
	if err != nil || same != "" {
		t.Errorf("equal inputs: diff %q, err %v", same, err)
	}
}

func TestCleanYAMLDropsManagedFields(t *testing.T) {
	in := `{"metadata":{"name":"x","managedFields":[{"manager":"kubectl"}],"resourceVersion":"5"}}`
	out, err := CleanYAML([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "managedFields") || !strings.Contains(string(out), "resourceVersion") {
		t.Errorf("CleanYAML = %s", out)
	}
}

func TestDifferExternal(t *testing.T) {
	if _, err := exec.LookPath("diff"); err != nil {
		t.Skip("no diff(1) on this machine: the KUBECTL_EXTERNAL_DIFF path needs one")
	}
	var out strings.Builder
	d := &Differ{Out: &out, ErrOut: &out, External: "diff -u -N --ignored;arg"}
	changed, err := d.Diff("v1.Service.default.x", []byte("a: 1\n"), []byte("a: 2\n"))
	if err != nil || !changed {
		t.Fatalf("changed=%v err=%v out=%s", changed, err, out.String())
	}
	if !strings.Contains(out.String(), "-a: 1") || !strings.Contains(out.String(), "+a: 2") {
		t.Errorf("external diff output: %s", out.String())
	}
	out.Reset()
	changed, err = d.Diff("v1.Service.default.x", []byte("a: 1\n"), []byte("a: 1\n"))
	if err != nil || changed || out.Len() != 0 {
		t.Errorf("no change: changed=%v err=%v out=%q", changed, err, out.String())
	}
	d.External = "/nonexistent/differ"
	if _, err := d.Diff("x", []byte("a"), []byte("b")); err == nil {
		t.Error("want an error when the external diff can't run")
	}
}

func TestColorize(t *testing.T) {
	got := colorize("--- a\n+++ b\n@@ -1 +1 @@\n-x\n+y\n z\n")
	for _, want := range []string{"\x1b[31m-x\x1b[0m\n", "\x1b[32m+y\x1b[0m\n", " z\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("colorize output lacks %q:\n%q", want, got)
		}
	}
}

func toYAML(t *testing.T, svc *corev1.Service) []byte {
	t.Helper()
	b, err := yaml.Marshal(svc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mergeService(svc *corev1.Service, p []byte) (*corev1.Service, error) {
	j, err := yaml.Marshal(svc)
	if err != nil {
		return nil, err
	}
	j, err = yaml.YAMLToJSON(j)
	if err != nil {
		return nil, err
	}
	m, err := Merge(j, p)
	if err != nil {
		return nil, err
	}
	out := &corev1.Service{}
	return out, yaml.Unmarshal(m, out)
}

func TestRevert(t *testing.T) {
	svc := readService(t, "service-dedicated-elb.yaml")
	bare := svc.DeepCopy()
	bare.Annotations = nil
	got, err := Revert(bare, mustFixed(t, bare, plan.StrategyPassThrough))
	if err != nil || string(got) != `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}` {
		// Even on a Service that had no annotations, the revert names the one annotation the fix
		// added: "annotations": null would delete every annotation written since the fix.
		t.Errorf("Revert on a Service without annotations = %s (%v)", got, err)
	}
	for _, tc := range []struct{ strategy, want string }{
		{plan.StrategyPassThrough, `{"metadata":{"annotations":{"kubernetes.io/elb.pass-through":null}}}`},
		{plan.StrategyCluster, `{"spec":{"externalTrafficPolicy":"Local"}}`},
	} {
		fixed := mustFixed(t, svc, tc.strategy)
		got, err := Revert(svc, fixed)
		if err != nil || string(got) != tc.want {
			t.Errorf("Revert(%s) = %s (%v), want %s", tc.strategy, got, err, tc.want)
		}
		back, err := mergeService(fixed, got)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, svc) {
			t.Errorf("%s: fixed + revert != original", tc.strategy)
		}
	}
}

func mustFixed(t *testing.T, svc *corev1.Service, strategy string) *corev1.Service {
	t.Helper()
	fixed, err := Fixed(svc, strategy)
	if err != nil {
		t.Fatal(err)
	}
	return fixed
}
