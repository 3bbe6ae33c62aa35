package e2e

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/plan"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
)

// detectJSON runs `kubectl elbfix detect -o json ARGS...` and decodes the cluster object.
func detectJSON(t *testing.T, env []string, args ...string) (plan.Cluster, result) {
	t.Helper()
	r := kubectl(t, env, "", append([]string{"elbfix", "detect", "-o", "json"}, args...)...)
	wantCode(t, r, 0)
	var c plan.Cluster
	if err := json.Unmarshal([]byte(r.Stdout), &c); err != nil {
		t.Fatalf("detect -o json is not a cluster object: %v\n%s", err, r)
	}
	return c, r
}

func evidenceFor(c plan.Cluster, fact, sourceContains string) (plan.Evidence, bool) {
	for _, e := range c.Evidence {
		if e.Fact == fact && strings.Contains(e.Source, sourceContains) {
			return e, true
		}
	}
	return plan.Evidence{}, false
}

// TestDetect runs detect against the shared test cluster, whose shape other tests may change
// (nodes, CRDs): it checks what holds for any shape.
func TestDetect(t *testing.T) {
	clear := []string{"ELBFIX_NETWORK_MODE=", "ELBFIX_PROXY_MODE="}
	t.Run("human", func(t *testing.T) {
		r := kubectl(t, clear, "", "elbfix", "detect")
		wantCode(t, r, 0)
		for _, want := range []string{"FACT", "CONFIDENCE", "EVIDENCE", "version", "flavor", "networkModel", "proxyMode", "ipMode",
			kc.GitVersion, "GET /version: gitVersion " + kc.GitVersion} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("detect output lacks %q:\n%s", want, r)
			}
		}
		if r.Stderr != "" {
			t.Errorf("detect wrote to stderr:\n%s", r)
		}
		if strings.Contains(r.Stdout, "Signals tried:") {
			t.Errorf("every signal is for -v only:\n%s", r)
		}
	})
	t.Run("verbose", func(t *testing.T) {
		r := kubectl(t, clear, "", "elbfix", "detect", "--verbose")
		wantCode(t, r, 0)
		for _, want := range []string{"Signals tried:", "server-version", "kube-proxy-configmap", "default-network", "yangtse-configuration", "ConfigMap kube-system/kube-proxy"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("detect -v lacks %q:\n%s", want, r)
			}
		}
		if r2 := kubectl(t, clear, "", "elbfix", "detect", "--verbose"); r2.Stdout != r.Stdout {
			t.Errorf("--verbose and -v differ:\n%s\n%s", r, r2)
		}
	})
	t.Run("json and yaml", func(t *testing.T) {
		c, _ := detectJSON(t, clear)
		if c.Version != kc.GitVersion || c.IPMode != plan.IPModeAvailable {
			t.Errorf("version %q ipMode %q, want %s, available", c.Version, c.IPMode, kc.GitVersion)
		}
		if c.NetworkModel == "" || c.ProxyMode == "" || c.Flavor == "" || len(c.Evidence) == 0 {
			t.Errorf("incomplete cluster object: %+v", c)
		}
		for _, e := range c.Evidence {
			if e.Fact == "" || e.Value == "" || e.Source == "" || e.Confidence == "" || e.Signal == "" {
				t.Errorf("incomplete evidence %+v", e)
			}
		}
		r := kubectl(t, clear, "", "elbfix", "detect", "-o", "yaml")
		wantCode(t, r, 0)
		var y plan.Cluster
		if err := yaml.UnmarshalStrict([]byte(r.Stdout), &y); err != nil {
			t.Fatalf("detect -o yaml: %v\n%s", err, r)
		}
		if y.Version != c.Version || y.NetworkModel != c.NetworkModel || y.ProxyMode != c.ProxyMode || len(y.Evidence) != len(c.Evidence) {
			t.Errorf("yaml and json disagree:\n%+v\n%+v", y, c)
		}
	})
	t.Run("overrides", func(t *testing.T) {
		c, _ := detectJSON(t, clear, "--proxy-mode", "ipvs", "--network-model", "vpc", "--cluster-version", "v1.25.5-r0")
		if c.ProxyMode != "ipvs" || c.NetworkModel != "vpc" || c.Version != "v1.25.5-r0" || c.Flavor != plan.FlavorCCEStandard || c.IPMode != plan.IPModeUnavailable {
			t.Errorf("overridden facts: %+v", c)
		}
		for fact, flag := range map[string]string{"proxyMode": "--proxy-mode", "networkModel": "--network-model", "version": "--cluster-version"} {
			if e, ok := evidenceFor(c, fact, "set by "+flag); !ok || e.Confidence != plan.ConfidenceOverride {
				t.Errorf("no override evidence for %s: %+v", fact, c.Evidence)
			}
		}
		// The environment stands in for the flags; the flag beats it.
		c, _ = detectJSON(t, []string{"ELBFIX_NETWORK_MODE=tunnel", "ELBFIX_PROXY_MODE=iptables"}, "--proxy-mode", "ipvs")
		if c.NetworkModel != "tunnel" || c.ProxyMode != "ipvs" {
			t.Errorf("env tunnel/iptables with --proxy-mode ipvs: network %s, proxy %s", c.NetworkModel, c.ProxyMode)
		}
		if _, ok := evidenceFor(c, "networkModel", "set by environment variable ELBFIX_NETWORK_MODE"); !ok {
			t.Errorf("no env evidence: %+v", c.Evidence)
		}
	})
	t.Run("read-only user", func(t *testing.T) {
		c, _ := detectJSON(t, append(clear, "KUBECONFIG="+kc.ReadOnlyKubeconfig))
		if c.Version != kc.GitVersion {
			t.Errorf("viewer: version %q", c.Version)
		}
	})
}

func TestDetectErrors(t *testing.T) {
	badToken, unreachable := brokenKubeconfigs(t)
	for _, tc := range []struct {
		name     string
		env      []string
		args     []string
		contains string
	}{
		{"server unreachable", []string{"KUBECONFIG=" + unreachable}, []string{"--request-timeout=5s"}, "cannot reach the API server"},
		{"token rejected", []string{"KUBECONFIG=" + badToken}, nil, "Unauthorized"},
		{"bad proxy mode", nil, []string{"--proxy-mode", "userspace"}, `invalid value "userspace" for --proxy-mode`},
		{"bad env", []string{"ELBFIX_NETWORK_MODE=bgp"}, nil, `invalid value "bgp" for environment variable ELBFIX_NETWORK_MODE`},
		{"bad version", nil, []string{"--cluster-version", "latest"}, "--cluster-version"},
		{"bad output", nil, []string{"-o", "wide"}, `invalid value "wide" for --output`},
		{"argument", nil, []string{"nginx"}, "nginx"},
		{"bad verbosity level", nil, []string{"-v=x"}, "-v"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kubectl(t, tc.env, "", append([]string{"elbfix", "detect"}, tc.args...)...)
			wantCode(t, r, 2)
			wantOneLineError(t, r, tc.contains)
			if r.Stdout != "" {
				t.Errorf("errors must not print data on stdout: %s", r)
			}
		})
	}
}

// TestDetectCCETurbo: a cluster of its own, shaped as CCE Turbo (CRDs, default-network,
// YangtseConfiguration, a CCE node) and reporting a CCE version, read through the real kubectl.
func TestDetectCCETurbo(t *testing.T) {
	const gitVersion = "v1.37.2-r0-37.0.1"
	c := cluster.StartT(t, cluster.Options{GitVersion: gitVersion})
	ctx := context.Background()
	if _, err := c.CreateCRD(ctx, cluster.NewCRD("k8s.cni.cncf.io", "NetworkAttachmentDefinition", "network-attachment-definitions", true, "v1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateCRD(ctx, cluster.NewCRD("crd.yangtse.cni", "YangtseConfiguration", "yangtseconfigurations", false, "v1")); err != nil {
		t.Fatal(err)
	}
	admin := []string{"KUBECONFIG=" + c.AdminKubeconfig, "ELBFIX_NETWORK_MODE=", "ELBFIX_PROXY_MODE="}
	r := kubectl(t, admin, "", "apply", "-f", filepath.Join("testdata", "detect-turbo.yaml"))
	wantCode(t, r, 0)

	got, _ := detectJSON(t, admin)
	if got.Flavor != plan.FlavorCCETurbo || got.NetworkModel != plan.NetworkTurbo || got.ProxyMode != plan.Unknown || got.Version != gitVersion {
		t.Errorf("CCE Turbo: %+v", got)
	}
	if e, ok := evidenceFor(got, "networkModel", "NetworkAttachmentDefinition kube-system/default-network: CNI type eni-neutron"); !ok || e.Confidence != plan.ConfidenceHigh {
		t.Errorf("no high default-network evidence: %+v", got.Evidence)
	}
	if _, ok := evidenceFor(got, "version", "CCE revision r0"); !ok {
		t.Errorf("version evidence lacks the CCE revision: %+v", got.Evidence)
	}

	r = kubectl(t, admin, "", "elbfix", "detect")
	wantCode(t, r, 0)
	for _, want := range []string{"cce-turbo", "turbo", "CNI type eni-neutron", "pass --proxy-mode iptables|ipvs"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("detect output lacks %q:\n%s", want, r)
		}
	}

	// A read-only user may not ask kube-proxy (no nodes/proxy), which is evidence, not an error.
	r = kubectl(t, []string{"KUBECONFIG=" + c.ReadOnlyKubeconfig, "ELBFIX_NETWORK_MODE=", "ELBFIX_PROXY_MODE="}, "", "elbfix", "detect", "--verbose")
	wantCode(t, r, 0)
	if !strings.Contains(r.Stdout, "cce-turbo") {
		t.Errorf("viewer: not detected as CCE Turbo:\n%s", r)
	}
}
