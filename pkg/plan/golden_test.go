package plan

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/matrix"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// The fixtures named as an example of the repository's examples/ are copies of it, byte for
// byte (the others are this package's own).
func TestExampleFixturesAreCopies(t *testing.T) {
	originals, _ := filepath.Glob("../../examples/*.yaml")
	n := 0
	for _, f := range originals {
		got, err := os.ReadFile(filepath.Join("testdata", filepath.Base(f)))
		if os.IsNotExist(err) {
			continue
		}
		n++
		if want, _ := os.ReadFile(f); err != nil || !bytes.Equal(got, want) {
			t.Errorf("testdata/%s is not a copy of %s (cp it again): %v", filepath.Base(f), f, err)
		}
	}
	if n == 0 {
		t.Fatal("no fixture is a copy of an example")
	}
}

func readService(t testing.TB, name string) *corev1.Service {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	if err := yaml.UnmarshalStrict(b, &svc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &svc
}

func cluster(network, proxy, version string) Cluster {
	return Cluster{NetworkModel: network, ProxyMode: proxy, Version: version}
}

// The golden files are the spec of the behaviour for representative inputs: read them.
func TestGolden(t *testing.T) {
	no := false
	tests := []struct {
		golden   string
		file     string
		cluster  Cluster
		strategy string
		backends *bool
	}{
		{"shared-local-tunnel-ipvs", "service-shared-elb-local.yaml", cluster("tunnel", "ipvs", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"shared-local-vpc-ipvs", "service-shared-elb-local.yaml", cluster("vpc", "ipvs", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"shared-local-tunnel-iptables", "service-shared-elb-local.yaml", cluster("tunnel", "iptables", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"shared-local-vpc-iptables", "service-shared-elb-local.yaml", cluster("vpc", "iptables", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"shared-local-unknown", "service-shared-elb-local.yaml", cluster("unknown", "unknown", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"shared-local-unknown-offline-no-version", "service-shared-elb-local.yaml", cluster("unknown", "unknown", ""), "auto", nil},
		{"shared-local-v1.17-forced-pass-through", "service-shared-elb-local.yaml", cluster("vpc", "iptables", "v1.17.9-r0-CCE20.7.1.B003-17.36.3"), "pass-through", nil},
		{"shared-local-turbo-ipvs", "service-shared-elb-local.yaml", cluster("turbo", "ipvs", "v1.28.3-r10-28.0.9"), "auto", &no},
		{"dedicated-tunnel-ipvs", "service-dedicated-elb.yaml", cluster("tunnel", "ipvs", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"dedicated-vpc-iptables", "service-dedicated-elb.yaml", cluster("vpc", "iptables", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"dedicated-unknown", "service-dedicated-elb.yaml", cluster("unknown", "unknown", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"dedicated-vpc-ipvs-forced-cluster", "service-dedicated-elb.yaml", cluster("vpc", "ipvs", "v1.25.5-r0-25.2.5"), "cluster", nil},
		{"dnat-local-tunnel-iptables", "service-dnat-local.yaml", cluster("tunnel", "iptables", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"nodeport-local-vpc-ipvs", "service-nodeport-local.yaml", cluster("vpc", "ipvs", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"opensource-dedicated-tunnel-iptables", "service-opensource-dedicated.yaml", cluster("tunnel", "iptables", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"shared-local-vpc-ipvs-quota-event", "service-shared-elb-local.yaml", cluster("vpc", "ipvs", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"dedicated-vpc-iptables-520-nodes", "service-dedicated-elb.yaml", cluster("vpc", "iptables", "v1.25.5-r0-25.2.5"), "auto", nil},
		{"healthcheck-bad-vpc-iptables", "service-healthcheck-bad.yaml", cluster("vpc", "iptables", "v1.25.5-r0-25.2.5"), "auto", nil},
	}
	// The issue #6 inputs of some cases: Events (testdata files), node and endpoint counts.
	extras := map[string]struct {
		events           []string
		nodes, endpoints int
	}{
		"shared-local-vpc-ipvs-quota-event": {events: []string{"event-member-quota.yaml"}, endpoints: -1},
		"dedicated-vpc-iptables-520-nodes":  {nodes: 520, endpoints: 3},
		"healthcheck-bad-vpc-iptables":      {endpoints: -1},
	}
	m := matrix.MustDefault()
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			x := extras[tt.golden]
			in := Input{Cluster: tt.cluster, Service: readService(t, tt.file), Strategy: tt.strategy, BackendsHostNetwork: tt.backends,
				NodeCount: x.nodes, EndpointCount: x.endpoints, Now: quotaNow}
			for _, e := range x.events {
				in.Events = append(in.Events, readEvent(t, e))
			}
			sp, err := Decide(in, m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(sp, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", tt.golden+".golden.json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/plan -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test ./pkg/plan -update rewrites it):\n%s", path, got)
			}
		})
	}
}
