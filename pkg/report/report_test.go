package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func decide(t *testing.T, file string, cluster plan.Cluster) plan.ServicePlan {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{}
	if err := yaml.UnmarshalStrict(b, svc); err != nil {
		t.Fatal(err)
	}
	if svc.Namespace == "" {
		svc.Namespace = "default"
	}
	sp, err := plan.Decide(plan.Input{Cluster: cluster, Service: svc, Strategy: plan.StrategyAuto}, matrix.MustDefault())
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func TestHumanGolden(t *testing.T) {
	cluster := plan.Cluster{NetworkModel: "vpc", ProxyMode: "ipvs", Version: "v1.25.5-r0",
		Evidence: []plan.Evidence{{Fact: "proxyMode", Value: "ipvs", Source: "set by --proxy-mode", Confidence: "override"}}}
	for _, file := range []string{"service-shared-elb-local.yaml", "service-dedicated-elb.yaml"} {
		t.Run(file, func(t *testing.T) {
			var buf bytes.Buffer
			WriteCluster(&buf, cluster)
			WriteService(&buf, decide(t, file, cluster))
			golden(t, strings.TrimSuffix(file, ".yaml")+".human.golden", buf.Bytes())
		})
	}
}

func TestPlanJSONAndYAML(t *testing.T) {
	doc := plan.Plan{APIVersion: plan.APIVersion, Kind: plan.Kind, Cluster: plan.Cluster{NetworkModel: "tunnel", ProxyMode: "unknown", Evidence: []plan.Evidence{}},
		Services: []plan.ServicePlan{{Namespace: "default", Name: "nginx", Findings: []plan.Finding{{ID: "x", Severity: "info", Message: "a <b> & c"}}}}}
	var j, y bytes.Buffer
	if err := WritePlan(&j, doc, "json"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(j.String(), `"message": "a <b> & c"`) {
		t.Errorf("JSON must not HTML-escape messages:\n%s", j.String())
	}
	if !strings.Contains(j.String(), `"fix": null`) {
		t.Errorf("fix must be null when nothing is to be done:\n%s", j.String())
	}
	if err := WritePlan(&y, doc, "yaml"); err != nil {
		t.Fatal(err)
	}
	var back plan.Plan
	if err := yaml.Unmarshal(y.Bytes(), &back); err != nil || back.Services[0].Findings[0].Message != "a <b> & c" {
		t.Errorf("YAML round trip: %v %+v", err, back)
	}
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
		t.Fatalf("%v (run go test ./pkg/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got:\n%s\n--- want:\n%s", name, got, want)
	}
}

// TestWritePlanStreamsTheSameBytes: the streamed JSON is exactly the indented encoding of the
// whole document, with 0, 1 and several Services, across the encoding batches.
func TestWritePlanStreamsTheSameBytes(t *testing.T) {
	cluster := plan.Cluster{NetworkModel: "vpc", ProxyMode: "ipvs", Version: "v1.25.5-r0", Evidence: []plan.Evidence{{Fact: "proxyMode", Value: "ipvs", Source: "set by --proxy-mode", Confidence: "override"}}}
	sp := decide(t, "service-dedicated-elb.yaml", cluster)
	for _, n := range []int{0, 1, 2, 3, 255, 256, 257, 600} {
		doc := plan.Plan{APIVersion: plan.APIVersion, Kind: plan.Kind, Cluster: cluster, Services: []plan.ServicePlan{}}
		for i := 0; i < n; i++ {
			doc.Services = append(doc.Services, sp)
		}
		var got bytes.Buffer
		if err := WritePlan(&got, doc, "json"); err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("%d services: streamed JSON differs from the whole encoding:\n--- got:\n%s\n--- want:\n%s", n, got.String(), want.String())
		}
		// Each Service encoded beforehand (EncodeService), every other one or all: the same bytes.
		for _, every := range []int{2, 1} {
			encoded := make([][]byte, n)
			for i := 0; i < n; i += every {
				b, err := EncodeService(doc.Services[i])
				if err != nil {
					t.Fatal(err)
				}
				encoded[i] = b
			}
			got.Reset()
			if err := WritePlanJSON(&got, doc, encoded); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("%d services, encoded beforehand (every %d): JSON differs from the whole encoding", n, every)
			}
		}
	}
}

// TestIndentMatchesJSONIndent: indent gives exactly json.Indent's bytes, on tricky documents
// and on real plans.
func TestIndentMatchesJSONIndent(t *testing.T) {
	cluster := plan.Cluster{NetworkModel: "vpc", ProxyMode: "ipvs", Version: "v1.25.5-r0", Evidence: []plan.Evidence{}}
	real, err := json.Marshal(decide(t, "service-dedicated-elb.yaml", cluster))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{
		`{}`, `[]`, `{"a":{}}`, `{"a":[]}`, `[{},[],{"b":[1,2,{}]}]`, `"x"`, `3`, `null`,
		`{"s":"with \"quotes\", {braces}, [brackets], commas, colons: and \\ backslashes"}`,
		`{"u":"\u003cfinding-id\u003e","e":"","n":[null,true,false,-1.5e3]}`,
		`{"k":"\\"}`, `{"k":"\\\""}`, `{"a":[{"b":{"c":[]}},{"d":"]"}]}`,
		string(real),
	} {
		for _, prefix := range []string{"", "    "} {
			var want bytes.Buffer
			if err := json.Indent(&want, []byte(src), prefix, "  "); err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			if got := indent([]byte(src), prefix); string(got) != want.String() {
				t.Errorf("indent(%s, %q):\n got: %s\nwant: %s", src, prefix, got, want.String())
			}
		}
	}
}

func FuzzIndent(f *testing.F) {
	f.Add(`{"a":[1,{"b":"c,d:{e}"}],"f":{}}`)
	f.Fuzz(func(t *testing.T, s string) {
		var compact bytes.Buffer
		if json.Compact(&compact, []byte(s)) != nil {
			return
		}
		var want bytes.Buffer
		if err := json.Indent(&want, compact.Bytes(), "  ", "  "); err != nil {
			return
		}
		if got := indent(compact.Bytes(), "  "); string(got) != want.String() {
			t.Fatalf("indent(%s):\n got: %s\nwant: %s", compact.Bytes(), got, want.String())
		}
	})
}

// TestScanTableGolden: scan's table for a person, with and without -A, -o wide and
// --no-headers, as golden files reviewed by eye.
func TestScanTableGolden(t *testing.T) {
	cluster := plan.Cluster{NetworkModel: "vpc", ProxyMode: "unknown", Version: "v1.25.5-r0",
		Evidence: []plan.Evidence{{Fact: "networkModel", Value: "vpc", Source: "set by --network-model", Confidence: "override"}}}
	var svcs []plan.ServicePlan
	for _, file := range []string{"service-shared-elb-local.yaml", "service-dedicated-elb.yaml"} {
		svcs = append(svcs, decide(t, file, cluster))
	}
	for _, tc := range []struct {
		name string
		opts TableOptions
	}{
		{"scan-n.golden", TableOptions{}},
		{"scan-A-wide.golden", TableOptions{AllNamespaces: true, Wide: true}},
		{"scan-no-headers.golden", TableOptions{NoHeaders: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			WriteScanTable(&buf, cluster, svcs, tc.opts)
			golden(t, tc.name, buf.Bytes())
		})
	}
}
