package detect

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/version"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

// Errors as client-go returns them.
var (
	errForbidden    = apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))
	errUnauthorized = apierrors.NewUnauthorized("Unauthorized")
	// errNoObject: the resource is served, the object is missing (the Status names it).
	errNoObject = apierrors.NewNotFound(schema.GroupResource{Group: "x", Resource: "y"}, "default")
	// errNoResource: the resource is not served at all (CRD not installed).
	errNoResource = &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound, Message: "the server could not find the requested resource"}}
	errBadGateway = &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusBadGateway, Message: "upstream exploded"}}
	errRefused    = &url.Error{Op: "Get", URL: "https://127.0.0.1:1/version", Err: syscall.ECONNREFUSED}
	errTimeout    = &url.Error{Op: "Get", URL: "https://x/api/v1/nodes/n:10249/proxy/proxyMode", Err: context.DeadlineExceeded}
)

var (
	cceStandardLabels = map[string]string{
		"cce.cloud.com/cce-nodepool":          "pool-general",
		"node.kubernetes.io/subnetid":         "0d9e6b3a-7c51-4f2e-a8b4-1e2f3a4b5c6d",
		"node.kubernetes.io/container-engine": "containerd",
		"os.name":                             "EulerOS_2.0_SP9x86_64",
		"kubernetes.io/hostname":              "192.168.0.212",
	}
	kindLabels = map[string]string{"kubernetes.io/hostname": "kind-control-plane", "node-role.kubernetes.io/control-plane": ""}
)

func node(name string, labels map[string]string, providerID string, podCIDRs ...string) corev1.Node {
	n := corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	n.Spec.ProviderID = providerID
	n.Spec.PodCIDRs = podCIDRs
	if len(podCIDRs) > 0 {
		n.Spec.PodCIDR = podCIDRs[0]
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.1"}}
	return n
}

func nodes(ns ...corev1.Node) *read[*corev1.NodeList] {
	return &read[*corev1.NodeList]{obj: &corev1.NodeList{Items: ns}}
}

func nad(cniType string) *read[map[string]any] {
	return &read[map[string]any]{obj: map[string]any{"spec": map[string]any{"config": `{"cniVersion":"0.3.1","name":"default-network","type":"` + cniType + `"}`}}}
}

func yangtse(spec map[string]any) *read[map[string]any] {
	return &read[map[string]any]{obj: map[string]any{"spec": spec}}
}

func failed[T any](err error) *read[T] { return &read[T]{err: err} }

func proxyCM(config string) *read[*corev1.ConfigMap] {
	return &read[*corev1.ConfigMap]{obj: &corev1.ConfigMap{Data: map[string]string{"config.conf": config, "kubeconfig.conf": "apiVersion: v1\nkind: Config\n"}}}
}

func serverVersion(git string) *read[*version.Info] {
	return &read[*version.Info]{obj: &version.Info{GitVersion: git}}
}

// absent: the reads of a CCE Standard cluster's Turbo and kube-proxy signals (nothing there).
func absent(r reads) *reads {
	if r.nad == nil {
		r.nad = failed[map[string]any](errNoResource)
	}
	if r.yangtse == nil {
		r.yangtse = failed[map[string]any](errNoResource)
	}
	if r.proxyCM == nil {
		r.proxyCM = failed[*corev1.ConfigMap](errNoObject)
	}
	return &r
}

func TestDetectClassifyNode(t *testing.T) {
	for _, tc := range []struct {
		name       string
		node       corev1.Node
		confidence string
		labels     int
		providerID bool
		nameIsIP   bool
	}{
		{"CCE standard node (examples/node-cce-standard.yaml)", node("192.168.0.212", cceStandardLabels, ""), planapi.ConfidenceHigh, 4, false, true},
		{"only a subnet id", node("192.168.0.9", map[string]string{"node.kubernetes.io/subnetid": "x"}, ""), planapi.ConfidenceMedium, 1, false, true},
		{"only os.name", node("n1", map[string]string{"os.name": "HCE_OS_2.0"}, ""), planapi.ConfidenceLow, 1, false, false},
		{"kind node", node("kind-control-plane", kindLabels, "kind://docker/kind/kind-control-plane"), "", 0, false, false},
		{"open-source CCM node", node("ecs-1", map[string]string{"node.kubernetes.io/instance-type": "s6.large.2"}, "huaweicloud://5a6b7c8d"), "", 0, true, false},
		{"named by IP, nothing else", node("10.0.0.5", nil, ""), "", 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classifyNode(&tc.node)
			if got.cceConfidence != tc.confidence || len(got.cceLabels) != tc.labels || (got.huaweiProviderID != "") != tc.providerID || got.nameIsIP != tc.nameIsIP {
				t.Errorf("classifyNode = %+v; want confidence %q, %d labels, providerID %v, nameIsIP %v", got, tc.confidence, tc.labels, tc.providerID, tc.nameIsIP)
			}
		})
	}
}

func TestDetectKubeProxyMode(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    map[string]string
		mode    string
		key     string
		wantErr string
	}{
		{"kubeadm ipvs", map[string]string{"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  scheduler: rr\n"}, "ipvs", "config.conf", ""},
		{"kubeadm default mode", map[string]string{"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: \"\"\n"}, "", "config.conf", ""},
		{"nftables", map[string]string{"config.conf": "kind: KubeProxyConfiguration\nmode: nftables\n"}, "nftables", "config.conf", ""},
		{"another key", map[string]string{"kube-proxy-config.yaml": "kind: KubeProxyConfiguration\nmode: iptables\n", "other": "x: 1"}, "iptables", "kube-proxy-config.yaml", ""},
		{"not YAML", map[string]string{"config.conf": "mode: [ipvs\n"}, "", "config.conf", "does not parse"},
		{"no configuration", map[string]string{"foo": "bar"}, "", "", "no KubeProxyConfiguration under its keys (foo)"},
		{"empty", nil, "", "", "no data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, key, err := kubeProxyMode(&corev1.ConfigMap{Data: tc.data})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || mode != tc.mode || key != tc.key {
				t.Errorf("kubeProxyMode = %q, %q, %v; want %q, %q", mode, key, err, tc.mode, tc.key)
			}
		})
	}
}

func TestDetectCNITypes(t *testing.T) {
	for _, tc := range []struct {
		config string
		want   string
	}{
		{`{"cniVersion":"0.3.1","name":"default-network","type":"eni-neutron","args":{}}`, "eni-neutron"},
		{`{"cniVersion":"0.4.0","name":"x","plugins":[{"type":"calico"},{"type":"portmap"}]}`, "calico,portmap"},
		{`not json`, ""},
		{``, ""},
	} {
		got := strings.Join(cniTypes(map[string]any{"spec": map[string]any{"config": tc.config}}), ",")
		if got != tc.want {
			t.Errorf("cniTypes(%s) = %q, want %q", tc.config, got, tc.want)
		}
	}
}

// facts is the expected outcome of inference; "" fields are not checked.
type facts struct {
	flavor, network, proxy, version, ipMode string
	conflicts                               []string // facts with a conflict
	evidence                                []string // substrings some evidence source must contain
}

func checkFacts(t *testing.T, got planapi.Cluster, want facts) {
	t.Helper()
	t.Log(dump(got))
	for _, f := range []struct{ name, got, want string }{
		{"flavor", got.Flavor, want.flavor},
		{"networkModel", got.NetworkModel, want.network},
		{"proxyMode", got.ProxyMode, want.proxy},
		{"version", got.Version, want.version},
		{"ipMode", got.IPMode, want.ipMode},
	} {
		if f.want != "" && f.got != f.want {
			t.Errorf("%s = %q, want %q\n%s", f.name, f.got, f.want, dump(got))
		}
	}
	var conflicts []string
	for _, c := range got.Conflicts {
		conflicts = append(conflicts, c.Fact)
	}
	if strings.Join(conflicts, ",") != strings.Join(want.conflicts, ",") {
		t.Errorf("conflicts on %v, want %v\n%s", conflicts, want.conflicts, dump(got))
	}
	for _, s := range want.evidence {
		found := false
		for _, e := range got.Evidence {
			found = found || strings.Contains(e.Source, s)
		}
		if !found {
			t.Errorf("no evidence mentions %q\n%s", s, dump(got))
		}
	}
	for _, e := range got.Evidence {
		if e.Fact == "" || e.Value == "" || e.Source == "" || e.Confidence == "" || e.Signal == "" {
			t.Errorf("incomplete evidence %+v", e)
		}
	}
}

func dump(c planapi.Cluster) string {
	var b strings.Builder
	b.WriteString("facts: flavor=" + c.Flavor + " network=" + c.NetworkModel + " proxy=" + c.ProxyMode + " version=" + c.Version + " ipMode=" + c.IPMode + "\n")
	for _, e := range c.Evidence {
		b.WriteString("  " + e.Fact + "=" + e.Value + " (" + e.Confidence + ", " + e.Signal + "): " + e.Source + "\n")
	}
	for _, cf := range c.Conflicts {
		b.WriteString("  conflict " + cf.Fact + " " + strings.Join(cf.Values, "|") + ": " + cf.Resolution + "\n")
	}
	return b.String()
}

// TestInfer: one row per cluster shape and per signal combination, from docs/domain.md §5.
func TestDetectInfer(t *testing.T) {
	turboNode := node("192.168.1.87", map[string]string{"cce.cloud.com/cce-nodepool": "turbo-pool", "node.kubernetes.io/subnetid": "s", "os.name": "HCE_OS_2.0"}, "")
	vpcNode := func(name, cidr string) corev1.Node { return node(name, cceStandardLabels, "", cidr) }
	tunnelNode := func(name string) corev1.Node { return node(name, cceStandardLabels, "") }
	for _, tc := range []struct {
		name string
		r    *reads
		o    Overrides
		want facts
	}{
		{"CCE Turbo: default-network eni-neutron and yangtse spec.eni", &reads{
			version: serverVersion("v1.25.5-r0-25.2.5"),
			nodes:   nodes(turboNode),
			nad:     nad("eni-neutron"),
			yangtse: yangtse(map[string]any{"eni": map[string]any{"enablePodNetworkStatus": true}}),
			proxyCM: failed[*corev1.ConfigMap](errNoObject),
		}, Overrides{}, facts{flavor: planapi.FlavorCCETurbo, network: planapi.NetworkTurbo, proxy: planapi.Unknown, version: "v1.25.5-r0-25.2.5", ipMode: planapi.IPModeUnavailable,
			evidence: []string{"CNI type eni-neutron", "spec.eni is set", "CCE revision r0", "normal on CCE"}}},
		{"CCE Turbo with the default-network only readable", &reads{
			nodes: nodes(turboNode), nad: nad("eni-neutron"), yangtse: failed[map[string]any](errForbidden),
		}, Overrides{}, facts{flavor: planapi.FlavorCCETurbo, network: planapi.NetworkTurbo, evidence: []string{"YangtseConfiguration default: not readable: forbidden"}}},
		{"CCE Standard VPC: fixed pod CIDR per node", absent(reads{
			nodes: nodes(vpcNode("192.168.0.212", "10.0.0.0/25"), vpcNode("192.168.0.213", "10.0.0.128/25")),
		}), Overrides{}, facts{flavor: planapi.FlavorCCEStandard, network: planapi.NetworkVPC, proxy: planapi.Unknown,
			evidence: []string{"192.168.0.212 (10.0.0.0/25)", "is not served: its CRD is not installed"}}},
		{"CCE tunnel: no pod CIDR, Turbo excluded", absent(reads{nodes: nodes(tunnelNode("192.168.0.12"), tunnelNode("192.168.0.13"))}),
			Overrides{}, facts{flavor: planapi.FlavorCCEStandard, network: planapi.NetworkTunnel, evidence: []string{"no CCE Turbo sign"}}},
		{"CCE tunnel with the yangtse API served but no eni", absent(reads{
			nodes: nodes(tunnelNode("192.168.0.12")), nad: failed[map[string]any](errNoObject), yangtse: yangtse(map[string]any{"other": true}),
		}), Overrides{}, facts{flavor: planapi.FlavorCCEStandard, network: planapi.NetworkTunnel, evidence: []string{"no spec.eni"}}},
		{"no pod CIDR and Turbo signals forbidden: tunnel or Turbo", &reads{
			nodes: nodes(tunnelNode("192.168.0.12")), nad: failed[map[string]any](errForbidden), yangtse: failed[map[string]any](errForbidden),
		}, Overrides{}, facts{flavor: planapi.Unknown, network: planapi.Unknown, evidence: []string{"fits the tunnel network and CCE Turbo alike", "Standard or Turbo follows from the network model"}}},
		{"mixed pod CIDRs", absent(reads{nodes: nodes(vpcNode("192.168.0.212", "10.0.0.0/25"), tunnelNode("192.168.0.13"))}),
			Overrides{}, facts{network: planapi.Unknown, flavor: planapi.Unknown, evidence: []string{"neither the VPC nor the tunnel pattern"}}},
		{"Turbo signal and pod CIDRs disagree: Turbo outweighs", absent(reads{nodes: nodes(vpcNode("192.168.0.212", "10.0.0.0/25")), nad: nad("eni-neutron")}),
			Overrides{}, facts{network: planapi.NetworkTurbo, flavor: planapi.FlavorCCETurbo, conflicts: []string{"networkModel"}}},
		{"yangtse eni (medium) and pod CIDRs (medium) disagree: unknown", absent(reads{
			nodes: nodes(vpcNode("192.168.0.212", "10.0.0.0/25")), nad: failed[map[string]any](errForbidden), yangtse: yangtse(map[string]any{"eni": map[string]any{}}),
		}), Overrides{}, facts{network: planapi.Unknown, flavor: planapi.Unknown, conflicts: []string{"networkModel"}}},
		{"open-source CCM: Huawei Cloud providerID, no CCE labels", absent(reads{
			nodes: nodes(node("ecs-a", map[string]string{"topology.kubernetes.io/zone": "ap-southeast-1a"}, "huaweicloud://0f1e2d3c", "10.244.0.0/24")),
		}), Overrides{}, facts{flavor: planapi.FlavorOpenSourceCCM, network: planapi.Unknown, evidence: []string{"spec.providerID huaweicloud://0f1e2d3c", "tell VPC from tunnel on CCE only"}}},
		{"kubeadm: kube-proxy ConfigMap mode ipvs", absent(reads{
			nodes:   nodes(node("kubeadm-cp", kindLabels, "", "10.244.0.0/24")),
			proxyCM: proxyCM("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\n"),
		}), Overrides{}, facts{flavor: planapi.FlavorGeneric, network: planapi.Unknown, proxy: planapi.ProxyIPVS, evidence: []string{"config.conf sets mode: ipvs"}}},
		{"kubeadm default mode reads iptables (low)", absent(reads{
			nodes: nodes(node("kubeadm-cp", kindLabels, "")), proxyCM: proxyCM("kind: KubeProxyConfiguration\nmode: \"\"\n"),
		}), Overrides{}, facts{proxy: planapi.ProxyIPTables, evidence: []string{"leaves mode empty"}}},
		{"bare: no nodes, nothing installed", absent(reads{version: serverVersion("v1.37.2"), nodes: nodes()}),
			Overrides{}, facts{flavor: planapi.Unknown, network: planapi.Unknown, proxy: planapi.Unknown, version: "v1.37.2", ipMode: planapi.IPModeAvailable,
				evidence: []string{"no nodes, so no node labels", "GA (KEP-1860)"}}},
		{"everything forbidden", &reads{
			version: serverVersion("v1.28.3-r10-28.0.9"), nodes: failed[*corev1.NodeList](errForbidden), nad: failed[map[string]any](errForbidden),
			yangtse: failed[map[string]any](errForbidden), proxyCM: failed[*corev1.ConfigMap](errForbidden), probeSkipped: "the nodes could not be read",
		}, Overrides{}, facts{flavor: planapi.Unknown, network: planapi.Unknown, proxy: planapi.Unknown, ipMode: planapi.IPModeUnavailable,
			evidence: []string{"?limit=5: not readable: forbidden", "not asked, the nodes could not be read"}}},
		{"probe answers ipvs: high", absent(reads{nodes: nodes(tunnelNode("192.168.0.12")), probes: []probe{{node: "192.168.0.12", path: "/api/v1/nodes/192.168.0.12:10249/proxy/proxyMode", body: "ipvs"}}}),
			Overrides{}, facts{proxy: planapi.ProxyIPVS, evidence: []string{"kube-proxy on node 192.168.0.12 answers ipvs"}}},
		{"probe and ConfigMap disagree: the running kube-proxy outweighs its configuration", absent(reads{
			nodes: nodes(node("cp", nil, "")), proxyCM: proxyCM("kind: KubeProxyConfiguration\nmode: iptables\n"),
			probes: []probe{{node: "cp", path: "/api/v1/nodes/cp:10249/proxy/proxyMode", body: "ipvs"}},
		}), Overrides{}, facts{proxy: planapi.ProxyIPVS, conflicts: []string{"proxyMode"}}},
		{"two nodes answer differently: unknown", absent(reads{
			nodes: nodes(node("a", nil, ""), node("b", nil, "")),
			probes: []probe{{node: "a", path: "/api/v1/nodes/a:10249/proxy/proxyMode", body: "ipvs"},
				{node: "b", path: "/api/v1/nodes/b:10249/proxy/proxyMode", body: "iptables\n"}},
		}), Overrides{}, facts{proxy: planapi.Unknown, conflicts: []string{"proxyMode"}}},
		{"probe forbidden, timed out, 502, odd answer", absent(reads{
			nodes: nodes(node("a", nil, "")),
			probes: []probe{{node: "a", path: "p1", err: errForbidden}, {node: "b", path: "p2", err: errTimeout, timeout: 3 * time.Second},
				{node: "c", path: "p3", err: errBadGateway}, {node: "d", path: "p4", body: "<html>"}},
		}), Overrides{}, facts{proxy: planapi.Unknown, evidence: []string{"p1: not readable: forbidden (asking kube-proxy through the API server needs get on nodes/proxy)",
			"p2: not readable: no answer within 3s", "p3: not readable: the API server's node proxy answered 502 Bad Gateway: upstream exploded", `p4: answered "<html>"`}}},
		{"version does not parse", absent(reads{version: serverVersion("latest"), nodes: nodes()}),
			Overrides{}, facts{version: "latest", ipMode: planapi.Unknown, evidence: []string{`gitVersion "latest" does not parse`}}},
		{"version v1.30: ipMode on by default (medium)", absent(reads{version: serverVersion("v1.30.14-r0-30.0.1"), nodes: nodes()}),
			Overrides{}, facts{ipMode: planapi.IPModeAvailable, evidence: []string{"beta, on by default"}}},
		{"version v1.29: ipMode alpha", absent(reads{version: serverVersion("v1.29.15-r0"), nodes: nodes()}),
			Overrides{}, facts{ipMode: planapi.IPModeAlpha}},
		{"overrides beat detection, and disagreeing detection is a conflict", &reads{
			version: nil, nodes: nodes(vpcNode("192.168.0.212", "10.0.0.0/25")), nad: failed[map[string]any](errNoObject), yangtse: failed[map[string]any](errNoResource),
		}, Overrides{NetworkModel: "tunnel", ProxyMode: "ipvs", ClusterVersion: "v1.17.9-r0"}, facts{network: planapi.NetworkTunnel, proxy: planapi.ProxyIPVS, version: "v1.17.9-r0",
			flavor: planapi.FlavorCCEStandard, ipMode: planapi.IPModeUnavailable, conflicts: []string{"networkModel"}, evidence: []string{"set by --network-model", "set by --proxy-mode", "set by --cluster-version"}}},
		{"a turbo override on a cluster with plain nodes: flavor follows, conflict reported", absent(reads{nodes: nodes(node("worker-1", nil, ""))}),
			Overrides{NetworkModel: "turbo"}, facts{network: planapi.NetworkTurbo, flavor: planapi.FlavorCCETurbo, conflicts: []string{"flavor"}}},
		{"offline: only overrides, nothing tried", &reads{}, Overrides{NetworkModel: "vpc"},
			facts{network: planapi.NetworkVPC, flavor: planapi.FlavorCCEStandard, proxy: planapi.Unknown, version: "", ipMode: planapi.Unknown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvNetworkModel, "")
			t.Setenv(EnvProxyMode, "")
			checkFacts(t, infer(tc.r, tc.o.WithEnv()), tc.want)
		})
	}
}

// TestPrecedence: flag > environment > detection > unknown, and each override is evidence.
func TestDetectPrecedence(t *testing.T) {
	detected := func() *reads {
		return absent(reads{
			nodes:   nodes(node("192.168.0.212", cceStandardLabels, "", "10.0.0.0/25")),
			proxyCM: proxyCM("kind: KubeProxyConfiguration\nmode: iptables\n"),
		})
	}
	for _, tc := range []struct {
		name               string
		flagNet, flagProxy string
		envNet, envProxy   string
		network, proxy     string
		netSource          string
		proxySource        string
	}{
		{"detection", "", "", "", "", planapi.NetworkVPC, planapi.ProxyIPTables, "fixed pod CIDR block", "sets mode: iptables"},
		{"auto is detection", "auto", "auto", "auto", "auto", planapi.NetworkVPC, planapi.ProxyIPTables, "fixed pod CIDR block", "sets mode: iptables"},
		{"env beats detection", "", "", "tunnel", "ipvs", planapi.NetworkTunnel, planapi.ProxyIPVS, "set by environment variable ELBFIX_NETWORK_MODE", "set by environment variable ELBFIX_PROXY_MODE"},
		{"flag beats detection", "turbo", "ipvs", "", "", planapi.NetworkTurbo, planapi.ProxyIPVS, "set by --network-model", "set by --proxy-mode"},
		{"flag beats env", "vpc", "iptables", "tunnel", "ipvs", planapi.NetworkVPC, planapi.ProxyIPTables, "set by --network-model", "set by --proxy-mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvNetworkModel, tc.envNet)
			t.Setenv(EnvProxyMode, tc.envProxy)
			o := Overrides{NetworkModel: tc.flagNet, ProxyMode: tc.flagProxy}.WithEnv()
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			c := infer(detected(), o)
			if c.NetworkModel != tc.network || c.ProxyMode != tc.proxy {
				t.Fatalf("network %s, proxy %s; want %s, %s\n%s", c.NetworkModel, c.ProxyMode, tc.network, tc.proxy, dump(c))
			}
			for fact, want := range map[string]string{FactNetworkModel: tc.netSource, FactProxyMode: tc.proxySource} {
				if e, _ := Strongest(c, fact); !strings.Contains(e.Source, want) {
					t.Errorf("strongest %s evidence %q, want it to mention %q\n%s", fact, e.Source, want, dump(c))
				}
			}
			// Offline gives the same overrides, and unknown for the rest.
			off := Offline(Overrides{NetworkModel: tc.flagNet, ProxyMode: tc.flagProxy})
			if tc.flagNet == "" && tc.envNet == "" && off.NetworkModel != planapi.Unknown {
				t.Errorf("offline network %s, want unknown", off.NetworkModel)
			}
		})
	}
}

func TestDetectValidate(t *testing.T) {
	t.Setenv(EnvNetworkModel, "overlay")
	t.Setenv(EnvProxyMode, "")
	for _, tc := range []struct {
		o    Overrides
		want string
	}{
		{Overrides{}.WithEnv(), `invalid value "overlay" for environment variable ELBFIX_NETWORK_MODE`},
		{Overrides{NetworkModel: "bgp"}.WithEnv(), `invalid value "bgp" for --network-model`},
		{Overrides{NetworkModel: "vpc", ProxyMode: "nftables"}.WithEnv(), `invalid value "nftables" for --proxy-mode`},
		{Overrides{NetworkModel: "vpc", ClusterVersion: "latest"}.WithEnv(), `invalid value "latest" for --cluster-version`},
		{Overrides{NetworkModel: "vpc", ProxyMode: "auto", ClusterVersion: "v1.25.5-r0"}.WithEnv(), ""},
	} {
		err := tc.o.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.o, err, tc.want)
		}
	}
}

func TestDetectResolve(t *testing.T) {
	ev := func(value, conf string) planapi.Evidence {
		return planapi.Evidence{Fact: "f", Value: value, Confidence: conf, Source: value + "-" + conf}
	}
	for _, tc := range []struct {
		name       string
		evs        []planapi.Evidence
		want       string
		conflict   string // substring of the resolution; "" for no conflict
		conflicted []string
	}{
		{"nothing", nil, planapi.Unknown, "", nil},
		{"only signals that tell nothing", []planapi.Evidence{ev(planapi.Unknown, planapi.ConfidenceNone)}, planapi.Unknown, "", nil},
		{"agreeing", []planapi.Evidence{ev("a", planapi.ConfidenceLow), ev("a", planapi.ConfidenceHigh)}, "a", "", nil},
		{"stronger wins, reported", []planapi.Evidence{ev("b", planapi.ConfidenceLow), ev("a", planapi.ConfidenceHigh)}, "a", "kept a: a-high (high) outweighs b-low (low)", []string{"a", "b"}},
		{"equal strength: unknown", []planapi.Evidence{ev("a", planapi.ConfidenceMedium), ev("b", planapi.ConfidenceMedium), ev("c", planapi.ConfidenceLow)}, planapi.Unknown, "equally strong; pass --x", []string{"a", "b", "c"}},
		{"override wins", []planapi.Evidence{ev("a", planapi.ConfidenceHigh), ev("b", planapi.ConfidenceOverride)}, "b", "the override wins over a-high (high)", []string{"b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cl planapi.Cluster
			got := resolve(&cl, clues{"f": tc.evs}, "f", "pass --x")
			if got != tc.want {
				t.Errorf("resolve = %q, want %q", got, tc.want)
			}
			switch {
			case tc.conflict == "" && len(cl.Conflicts) > 0:
				t.Errorf("unexpected conflict %+v", cl.Conflicts)
			case tc.conflict != "" && (len(cl.Conflicts) != 1 || !strings.Contains(cl.Conflicts[0].Resolution, tc.conflict) || strings.Join(cl.Conflicts[0].Values, ",") != strings.Join(tc.conflicted, ",")):
				t.Errorf("conflicts %+v, want one with %v resolved %q", cl.Conflicts, tc.conflicted, tc.conflict)
			}
		})
	}
}

// TestFatal: only an unreachable server or rejected credentials stop detection.
func TestDetectFatal(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *reads
		want error
	}{
		{"all forbidden", &reads{version: serverVersion("v1.37.2"), nodes: failed[*corev1.NodeList](errForbidden), nad: failed[map[string]any](errForbidden)}, nil},
		{"probe timed out", &reads{nodes: nodes(), probes: []probe{{err: errTimeout}}}, nil},
		{"token rejected", &reads{version: serverVersion("v1.37.2"), nodes: failed[*corev1.NodeList](errUnauthorized)}, errUnauthorized},
		{"unreachable", &reads{version: failed[*version.Info](errRefused), nodes: failed[*corev1.NodeList](errRefused), nad: failed[map[string]any](errRefused)}, errRefused},
		{"one request timed out, others answered", &reads{version: failed[*version.Info](errTimeout), nodes: nodes()}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := fatal(context.Background(), tc.r); got != tc.want {
				t.Errorf("fatal = %v, want %v", got, tc.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := fatal(ctx, &reads{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: fatal = %v", err)
	}
}

func TestDetectProbeTargets(t *testing.T) {
	ready := node("r", nil, "")
	ready.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	noAddr := node("x", nil, "")
	noAddr.Status.Addresses = nil
	got := probeTargets([]corev1.Node{node("a", nil, ""), noAddr, ready, node("b", nil, "")}, 2)
	if strings.Join(got, ",") != "r,a" {
		t.Errorf("probeTargets = %v, want [r a]", got)
	}
}

// TestCloudEvidence: the cloud's evidence (DetectWithCloud, --cloud) is weighed like any other
// signal: it outweighs weaker Kubernetes-API signals, with a conflict; an equally strong one
// (kube-proxy's own answer) leaves the fact unknown, with a conflict; an override still wins;
// evidence that told nothing changes nothing; and the nodes' region label is what it is asked with.
func TestCloudEvidence(t *testing.T) {
	cce := func(fact, value string) planapi.Evidence {
		return planapi.Evidence{Fact: fact, Value: value, Confidence: planapi.ConfidenceHigh, Signal: SignalCCEAPI, Source: "cce-api: ShowCluster c-1: " + value}
	}
	cloud := []planapi.Evidence{cce(FactNetworkModel, planapi.NetworkTunnel), cce(FactProxyMode, planapi.ProxyIPVS), cce(FactFlavor, planapi.FlavorCCEStandard)}
	base := func() reads {
		return reads{nodes: nodes(node("192.168.0.212", cceStandardLabels, "", "10.0.0.0/25")), proxyCM: proxyCM("kind: KubeProxyConfiguration\nmode: iptables\n")}
	}
	for _, tc := range []struct {
		name  string
		r     reads
		o     Overrides
		extra []planapi.Evidence
		want  facts
	}{
		{"cloud outweighs the pod CIDR and the ConfigMap", base(), Overrides{}, cloud,
			facts{network: planapi.NetworkTunnel, proxy: planapi.ProxyIPVS, flavor: planapi.FlavorCCEStandard, conflicts: []string{"networkModel", "proxyMode"}, evidence: []string{"cce-api: ShowCluster c-1"}}},
		{"kube-proxy's own answer is as strong: unknown", func() reads {
			r := base()
			r.probes = []probe{{node: "a", path: "/api/v1/nodes/a:10249/proxy/proxyMode", body: "iptables"}}
			return r
		}(), Overrides{}, cloud, facts{proxy: planapi.Unknown, conflicts: []string{"networkModel", "proxyMode"}}},
		{"an override wins", base(), Overrides{ProxyMode: "iptables"}, cloud, facts{proxy: planapi.ProxyIPTables, conflicts: []string{"networkModel", "proxyMode"}}},
		{"not read: nothing changes", base(), Overrides{}, []planapi.Evidence{{Fact: FactNetworkModel, Value: planapi.Unknown, Confidence: planapi.ConfidenceNone, Signal: SignalCCEAPI, Source: "cce-api: not read: no credentials"}},
			facts{network: planapi.NetworkVPC, proxy: planapi.ProxyIPTables, evidence: []string{"cce-api: not read: no credentials"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvNetworkModel, "")
			t.Setenv(EnvProxyMode, "")
			r := absent(tc.r)
			r.extra = tc.extra
			checkFacts(t, infer(r, tc.o.WithEnv()), tc.want)
		})
	}
	r := reads{nodes: nodes(node("a", map[string]string{LabelRegion: "ap-southeast-3"}, ""))}
	if got := r.nodeRegion(); got != "ap-southeast-3" {
		t.Errorf("nodeRegion %q", got)
	}
}
