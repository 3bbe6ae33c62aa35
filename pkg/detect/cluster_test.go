package detect

// Detection against a real kube-apiserver (test/cluster), one cluster shape at a time. Nodes,
// CRDs and the kube-proxy ConfigMap are cluster-wide, so the shapes run one after another on two
// shared servers: "plain" (upstream version string, no CRDs ever) and "cce" (a CCE version
// string and the CCE Turbo CRDs installed); each shape starts from reset().

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
)

const cceGitVersion = "v1.37.2-r0-37.0.1"

var (
	nadGVR     = schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}
	yangtseGVR = schema.GroupVersionResource{Group: "crd.yangtse.cni", Version: "v1", Resource: "yangtseconfigurations"}
)

// testLimits: the default bounds with a shorter probe timeout (CCE-shaped nodes have addresses
// nothing answers on).
var testLimits = limits{maxRequests: MaxRequests, nodeSample: NodeSample, maxProbes: MaxProbes, probeTimeout: 2 * time.Second}

type lazyCluster struct {
	once sync.Once
	c    *cluster.Cluster
	err  error
}

var plainCluster, cceCluster lazyCluster

func TestMain(m *testing.M) {
	code := m.Run()
	for _, lc := range []*lazyCluster{&plainCluster, &cceCluster} {
		if lc.c != nil {
			lc.c.Stop()
		}
	}
	os.Exit(code)
}

func (lc *lazyCluster) get(t *testing.T, opts cluster.Options, setup func(context.Context, *cluster.Cluster) error) *cluster.Cluster {
	t.Helper()
	lc.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
		defer cancel()
		lc.c, lc.err = cluster.Start(ctx, opts)
		if lc.err == nil && setup != nil {
			lc.err = setup(ctx, lc.c)
		}
	})
	if lc.err != nil {
		t.Fatalf("test cluster: %v", lc.err)
	}
	return lc.c
}

func plain(t *testing.T) *cluster.Cluster {
	c := plainCluster.get(t, cluster.Options{}, nil)
	reset(t, c)
	return c
}

// cce: a server that reports itself as CCE does and serves the CCE Turbo CRDs.
func cce(t *testing.T) *cluster.Cluster {
	c := cceCluster.get(t, cluster.Options{GitVersion: cceGitVersion}, func(ctx context.Context, c *cluster.Cluster) error {
		if _, err := c.CreateCRD(ctx, cluster.NewCRD(nadGVR.Group, "NetworkAttachmentDefinition", nadGVR.Resource, true, "v1")); err != nil {
			return err
		}
		_, err := c.CreateCRD(ctx, cluster.NewCRD(yangtseGVR.Group, "YangtseConfiguration", yangtseGVR.Resource, false, "v1"))
		return err
	})
	reset(t, c)
	return c
}

// reset removes what the shapes create: nodes, the kube-proxy ConfigMap, the Turbo objects.
func reset(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	ctx := context.Background()
	if err := c.Client.CoreV1().Nodes().DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	del := func(err error) {
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	del(c.Client.CoreV1().ConfigMaps("kube-system").Delete(ctx, "kube-proxy", metav1.DeleteOptions{}))
	del(c.Dynamic.Resource(nadGVR).Namespace("kube-system").Delete(ctx, "default-network", metav1.DeleteOptions{}))
	del(c.Dynamic.Resource(yangtseGVR).Delete(ctx, "default", metav1.DeleteOptions{}))
}

// counter counts the HTTP requests made through a rest.Config.
type counter struct {
	mu   sync.Mutex
	reqs []string
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func counted(cfg *rest.Config) (*rest.Config, *counter) {
	cfg = rest.CopyConfig(cfg)
	cnt := &counter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			cnt.mu.Lock()
			cnt.reqs = append(cnt.reqs, r.Method+" "+r.URL.RequestURI())
			cnt.mu.Unlock()
			return rt.RoundTrip(r)
		})
	})
	return cfg, cnt
}

// run detects through a counting config and checks the request bound.
func run(t *testing.T, cfg *rest.Config, o Overrides) planapi.Cluster {
	t.Helper()
	t.Setenv(EnvNetworkModel, "")
	t.Setenv(EnvProxyMode, "")
	return runEnv(t, cfg, o)
}

// runEnv is run without clearing the environment.
func runEnv(t *testing.T, cfg *rest.Config, o Overrides) planapi.Cluster {
	t.Helper()
	cfg, cnt := counted(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := detect(ctx, cfg, o, testLimits)
	if err != nil {
		t.Fatalf("Detect: %v", err)
	}
	t.Logf("%d requests:\n  %s", len(cnt.reqs), strings.Join(cnt.reqs, "\n  "))
	if len(cnt.reqs) > MaxRequests {
		t.Errorf("detection made %d requests, more than %d", len(cnt.reqs), MaxRequests)
	}
	for _, r := range cnt.reqs {
		if strings.HasPrefix(r, "GET /api/v1/nodes?") && !strings.Contains(r, "limit=5") {
			t.Errorf("nodes listed without a limit: %s", r)
		}
		if !strings.HasPrefix(r, "GET ") {
			t.Errorf("detection must only read: %s", r)
		}
	}
	return c
}

func requests(t *testing.T, cfg *rest.Config, o Overrides) []string {
	t.Helper()
	cfg, cnt := counted(cfg)
	if _, err := detect(context.Background(), cfg, o, testLimits); err != nil {
		t.Fatal(err)
	}
	return cnt.reqs
}

// loadExample reads one of the repository's examples/ objects.
func loadExample(t *testing.T, name string, into any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, into); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func createNode(t *testing.T, c *cluster.Cluster, n *corev1.Node) {
	t.Helper()
	if _, err := c.CreateNodeObject(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

func cceNode(name string, podCIDR string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"cce.cloud.com/cce-nodepool":          "pool-general",
		"node.kubernetes.io/subnetid":         "0d9e6b3a-7c51-4f2e-a8b4-1e2f3a4b5c6d",
		"node.kubernetes.io/container-engine": "containerd",
		"os.name":                             "EulerOS_2.0_SP9x86_64",
	}}}
	if podCIDR != "" {
		n.Spec.PodCIDR, n.Spec.PodCIDRs = podCIDR, []string{podCIDR}
	}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: name}}
	return n
}

func createKubeProxyCM(t *testing.T, c *cluster.Cluster, mode string) {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-proxy", Namespace: "kube-system", Labels: map[string]string{"app": "kube-proxy"}},
		Data: map[string]string{
			"config.conf":     "apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nbindAddress: 0.0.0.0\nclusterCIDR: 10.244.0.0/16\nmode: " + mode + "\n",
			"kubeconfig.conf": "apiVersion: v1\nkind: Config\nclusters: []\n",
		},
	}
	if _, err := c.Client.CoreV1().ConfigMaps("kube-system").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestDetectShapeBare(t *testing.T) {
	c := plain(t)
	got := run(t, c.Config, Overrides{})
	checkFacts(t, got, facts{flavor: planapi.Unknown, network: planapi.Unknown, proxy: planapi.Unknown, version: c.GitVersion, ipMode: planapi.IPModeAvailable,
		evidence: []string{"GET /version: gitVersion " + c.GitVersion, "no nodes, so no node labels", "network-attachment-definitions is not served", "ConfigMap kube-system/kube-proxy: not found"}})
	// Every signal tried is there, the decided facts first.
	if e, ok := Strongest(got, FactVersion); !ok || e.Signal != SignalServerVersion || e.Confidence != planapi.ConfidenceHigh {
		t.Errorf("version evidence %+v", e)
	}
}

func TestDetectShapeCCEStandardVPC(t *testing.T) {
	c := plain(t)
	n := &corev1.Node{}
	loadExample(t, "node-cce-standard.yaml", n)
	createNode(t, c, n)
	createNode(t, c, cceNode("192.168.0.213", "10.0.0.128/25"))
	got := run(t, c.Config, Overrides{})
	checkFacts(t, got, facts{flavor: planapi.FlavorCCEStandard, network: planapi.NetworkVPC, proxy: planapi.Unknown,
		evidence: []string{"192.168.0.212 (10.0.0.0/25)", "labels cce.cloud.com/cce-nodepool=pool-general", "GET /api/v1/nodes/192.168.0.212:10249/proxy/proxyMode: "}})
	if e, _ := Strongest(got, FactNetworkModel); e.Confidence != planapi.ConfidenceMedium || e.Signal != SignalNodePodCIDR {
		t.Errorf("networkModel evidence %+v, want medium from the pod CIDRs", e)
	}
}

func TestDetectShapeCCETunnel(t *testing.T) {
	c := plain(t)
	createNode(t, c, cceNode("192.168.0.12", ""))
	createNode(t, c, cceNode("192.168.0.13", ""))
	got := run(t, c.Config, Overrides{})
	checkFacts(t, got, facts{flavor: planapi.FlavorCCEStandard, network: planapi.NetworkTunnel, proxy: planapi.Unknown,
		evidence: []string{"no spec.podCIDR (the tunnel network hands out /28 blocks"}})
	if e, _ := Strongest(got, FactNetworkModel); e.Confidence != planapi.ConfidenceLow {
		t.Errorf("tunnel is an inference from absence: want low confidence, got %+v", e)
	}
}

// TestShapeOpenSourceCCM: nodes registered by the open-source cloud-provider-huaweicloud carry
// spec.providerID huaweicloud://<ECS id> and none of CCE's labels.
func TestDetectShapeOpenSourceCCM(t *testing.T) {
	c := plain(t)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ecs-k8s-worker-1", Labels: map[string]string{
		"kubernetes.io/hostname":           "ecs-k8s-worker-1",
		"node.kubernetes.io/instance-type": "s6.large.2",
		"topology.kubernetes.io/region":    "ap-southeast-1",
		"topology.kubernetes.io/zone":      "ap-southeast-1a",
	}}}
	n.Spec.ProviderID = "huaweicloud://7d3f2c1b-0a9e-4d8c-b7a6-5f4e3d2c1b0a"
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.1.0/24", []string{"10.244.1.0/24"}
	createNode(t, c, n)
	got := run(t, c.Config, Overrides{})
	checkFacts(t, got, facts{flavor: planapi.FlavorOpenSourceCCM, network: planapi.Unknown, proxy: planapi.Unknown,
		evidence: []string{"spec.providerID huaweicloud://7d3f2c1b", "tell VPC from tunnel on CCE only"}})
}

func TestDetectShapeKubeadmIPVS(t *testing.T) {
	c := plain(t)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kubeadm-control-plane", Labels: map[string]string{
		"kubernetes.io/hostname": "kubeadm-control-plane", "node-role.kubernetes.io/control-plane": "",
	}}}
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.0.0/24", []string{"10.244.0.0/24"}
	createNode(t, c, n)
	createKubeProxyCM(t, c, "ipvs")
	got := run(t, c.Config, Overrides{})
	checkFacts(t, got, facts{flavor: planapi.FlavorGeneric, network: planapi.Unknown, proxy: planapi.ProxyIPVS,
		evidence: []string{"ConfigMap kube-system/kube-proxy: config.conf sets mode: ipvs"}})
	if e, _ := Strongest(got, FactProxyMode); e.Confidence != planapi.ConfidenceMedium || e.Signal != SignalProxyConfigMap {
		t.Errorf("proxyMode evidence %+v", e)
	}
}

func TestDetectShapeCCETurbo(t *testing.T) {
	c := cce(t)
	ctx := context.Background()
	n := &corev1.Node{}
	loadExample(t, "node-cce-turbo.yaml", n)
	createNode(t, c, n)
	nad := &unstructured.Unstructured{}
	loadExample(t, "turbo-default-network.yaml", &nad.Object)
	if _, err := c.CreateObject(ctx, nadGVR, nad); err != nil {
		t.Fatal(err)
	}
	yc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "crd.yangtse.cni/v1", "kind": "YangtseConfiguration", "metadata": map[string]any{"name": "default"},
		"spec": map[string]any{"eni": map[string]any{"enablePodNetworkStatus": false}},
	}}
	if _, err := c.CreateObject(ctx, yangtseGVR, yc); err != nil {
		t.Fatal(err)
	}
	got := run(t, c.Config, Overrides{})
	checkFacts(t, got, facts{flavor: planapi.FlavorCCETurbo, network: planapi.NetworkTurbo, proxy: planapi.Unknown, version: cceGitVersion, ipMode: planapi.IPModeAvailable,
		evidence: []string{"CNI type eni-neutron", "spec.eni is set", "(v1.37.2, CCE revision r0)"}})
	if e, _ := Strongest(got, FactNetworkModel); e.Confidence != planapi.ConfidenceHigh || e.Signal != SignalDefaultNetwork {
		t.Errorf("networkModel evidence %+v", e)
	}

	// Overrides beat detection; a disagreeing detection is reported as a conflict.
	got = run(t, c.Config, Overrides{NetworkModel: planapi.NetworkVPC, ProxyMode: planapi.ProxyIPVS})
	checkFacts(t, got, facts{flavor: planapi.FlavorCCEStandard, network: planapi.NetworkVPC, proxy: planapi.ProxyIPVS, conflicts: []string{"networkModel"},
		evidence: []string{"set by --network-model", "set by --proxy-mode"}})
	// With the proxy mode stated, neither the ConfigMap nor kube-proxy is asked.
	for _, r := range requests(t, c.Config, Overrides{ProxyMode: planapi.ProxyIPVS}) {
		if strings.Contains(r, "kube-proxy") || strings.Contains(r, "proxyMode") {
			t.Errorf("asked for the proxy mode although it was given: %s", r)
		}
	}
	// The environment beats detection too.
	t.Setenv(EnvNetworkModel, planapi.NetworkTunnel)
	t.Setenv(EnvProxyMode, planapi.ProxyIPTables)
	got = runEnv(t, c.Config, Overrides{})
	checkFacts(t, got, facts{network: planapi.NetworkTunnel, proxy: planapi.ProxyIPTables, conflicts: []string{"networkModel"},
		evidence: []string{"set by environment variable ELBFIX_NETWORK_MODE", "set by environment variable ELBFIX_PROXY_MODE"}})
	// The flag beats the environment.
	got = runEnv(t, c.Config, Overrides{NetworkModel: planapi.NetworkTurbo})
	checkFacts(t, got, facts{network: planapi.NetworkTurbo, proxy: planapi.ProxyIPTables, flavor: planapi.FlavorCCETurbo, evidence: []string{"set by --network-model"}})
}

// TestShapeCCETunnelWithYangtseAPI: the CCE network API is served but holds no Turbo object.
func TestDetectShapeCCETunnelWithYangtseAPI(t *testing.T) {
	c := cce(t)
	createNode(t, c, cceNode("192.168.0.12", ""))
	got := run(t, c.Config, Overrides{})
	checkFacts(t, got, facts{flavor: planapi.FlavorCCEStandard, network: planapi.NetworkTunnel, version: cceGitVersion,
		evidence: []string{"NetworkAttachmentDefinition kube-system/default-network: not found, and every CCE Turbo cluster has it", "crd.yangtse.cni/v1 yangtseconfigurations is served"}})
}

// TestReadOnlyUser: the viewer reads every object but not nodes/proxy: nothing fails.
func TestDetectReadOnlyUser(t *testing.T) {
	c := plain(t)
	createNode(t, c, cceNode("192.168.0.212", "10.0.0.0/25"))
	got := run(t, c.ReadOnlyConfig, Overrides{})
	checkFacts(t, got, facts{flavor: planapi.FlavorCCEStandard, network: planapi.NetworkVPC, proxy: planapi.Unknown,
		evidence: []string{"192.168.0.212:10249/proxy/proxyMode: not readable: forbidden (asking kube-proxy through the API server needs get on nodes/proxy)"}})
}

func TestDetectRequestBudget(t *testing.T) {
	c := plain(t)
	for i := range 8 {
		createNode(t, c, cceNode(fmt.Sprintf("192.168.0.%d", 20+i), fmt.Sprintf("10.0.%d.0/25", i)))
	}
	for _, tc := range []struct {
		name string
		o    Overrides
		want int
	}{
		{"nothing stated: version, nodes, 2 Turbo objects, ConfigMap, 1 probe", Overrides{}, 6},
		{"version stated: a second probe", Overrides{ClusterVersion: "v1.25.5-r0"}, 6},
		{"proxy mode stated: no ConfigMap, no probe", Overrides{ProxyMode: planapi.ProxyIPVS}, 4},
		{"everything stated", Overrides{ClusterVersion: "v1.25.5-r0", ProxyMode: planapi.ProxyIPVS, NetworkModel: planapi.NetworkVPC}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(EnvNetworkModel, "")
			t.Setenv(EnvProxyMode, "")
			reqs := requests(t, c.Config, tc.o)
			if len(reqs) != tc.want {
				t.Errorf("%d requests, want %d:\n%s", len(reqs), tc.want, strings.Join(reqs, "\n"))
			}
		})
	}
	// The shared, default limits too (the probes may take their full timeout).
	cfg, cnt := counted(c.Config)
	got, err := Detect(context.Background(), cfg, Overrides{})
	if err != nil || len(cnt.reqs) > MaxRequests {
		t.Fatalf("Detect: %v, %d requests", err, len(cnt.reqs))
	}
	if got.NetworkModel != planapi.NetworkVPC {
		t.Errorf("8 VPC nodes: network %s", got.NetworkModel)
	}
	if !strings.Contains(dump(got), "5 nodes read") && !strings.Contains(dump(got), "of 8 nodes") {
		t.Errorf("want the sample size said:\n%s", dump(got))
	}
}

func TestDetectUnreachableAndRejected(t *testing.T) {
	c := plain(t)
	cfg := rest.CopyConfig(c.Config)
	cfg.Host = "https://127.0.0.1:1"
	_, err := Detect(context.Background(), cfg, Overrides{})
	var urlErr *url.Error
	if !errors.As(err, &urlErr) {
		t.Errorf("unreachable server: err = %v, want a *url.Error", err)
	}
	cfg = rest.CopyConfig(c.Config)
	cfg.BearerToken = "not-a-token"
	_, err = Detect(context.Background(), cfg, Overrides{ClusterVersion: "v1.25.5-r0"})
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("rejected token: err = %v, want 401", err)
	}
}

// kubeProxy serves kube-proxy's /proxyMode from a network namespace, as a node's kube-proxy
// would on its metrics port, and registers a node whose InternalIP is that server.
func kubeProxy(t *testing.T, c *cluster.Cluster, name string, handler http.HandlerFunc) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/proxyMode", handler)
	srv, err := cluster.NetnsHTTPServer(context.Background(), KubeProxyMetricsPort, mux)
	if errors.Is(err, cluster.ErrNetnsUnavailable) {
		t.Skipf("skipping: kube-proxy's /proxyMode needs a server in a network namespace: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing the netns server: %v", err)
		}
	})
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: srv.IP}}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	createNode(t, c, n)
}

func answer(mode string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, mode) }
}

func TestDetectProxyModeProbe(t *testing.T) {
	t.Run("answers ipvs", func(t *testing.T) {
		c := plain(t)
		kubeProxy(t, c, "worker-1", answer("ipvs"))
		got := run(t, c.Config, Overrides{})
		checkFacts(t, got, facts{proxy: planapi.ProxyIPVS, flavor: planapi.FlavorGeneric, evidence: []string{"/api/v1/nodes/worker-1:10249/proxy/proxyMode: kube-proxy on node worker-1 answers ipvs"}})
		if e, _ := Strongest(got, FactProxyMode); e.Confidence != planapi.ConfidenceHigh || e.Signal != SignalProxyMode {
			t.Errorf("proxyMode evidence %+v", e)
		}
	})
	t.Run("running kube-proxy outweighs its ConfigMap", func(t *testing.T) {
		c := plain(t)
		kubeProxy(t, c, "worker-1", answer("ipvs"))
		createKubeProxyCM(t, c, "iptables")
		got := run(t, c.Config, Overrides{})
		checkFacts(t, got, facts{proxy: planapi.ProxyIPVS, flavor: planapi.FlavorGeneric, conflicts: []string{"proxyMode"}})
	})
	t.Run("two nodes disagree", func(t *testing.T) {
		c := plain(t)
		kubeProxy(t, c, "worker-1", answer("ipvs"))
		kubeProxy(t, c, "worker-2", answer("iptables"))
		got := run(t, c.Config, Overrides{ClusterVersion: "v1.37.2"}) // leaves room for a second probe
		checkFacts(t, got, facts{proxy: planapi.Unknown, conflicts: []string{"proxyMode"},
			evidence: []string{"kube-proxy on node worker-1 answers ipvs", "kube-proxy on node worker-2 answers iptables"}})
	})
	t.Run("forbidden for a read-only user", func(t *testing.T) {
		c := plain(t)
		kubeProxy(t, c, "worker-1", answer("ipvs"))
		got := run(t, c.ReadOnlyConfig, Overrides{})
		checkFacts(t, got, facts{proxy: planapi.Unknown, flavor: planapi.FlavorGeneric,
			evidence: []string{"worker-1:10249/proxy/proxyMode: not readable: forbidden"}})
	})
	t.Run("502 from the node", func(t *testing.T) {
		c := plain(t)
		kubeProxy(t, c, "worker-1", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "upstream exploded", http.StatusBadGateway)
		})
		got := run(t, c.Config, Overrides{})
		checkFacts(t, got, facts{proxy: planapi.Unknown, evidence: []string{"not readable: the node's address answered 502 Bad Gateway: upstream exploded"}})
	})
	t.Run("no answer: times out", func(t *testing.T) {
		c := plain(t)
		stop := make(chan struct{})
		kubeProxy(t, c, "worker-1", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-stop:
			}
		})
		defer close(stop)
		start := time.Now()
		got := run(t, c.Config, Overrides{})
		if d := time.Since(start); d > testLimits.probeTimeout+5*time.Second {
			t.Errorf("detection took %s with a probe timeout of %s", d, testLimits.probeTimeout)
		}
		checkFacts(t, got, facts{proxy: planapi.Unknown, evidence: []string{"not readable: no answer within 2s"}})
	})
	t.Run("not kube-proxy", func(t *testing.T) {
		c := plain(t)
		kubeProxy(t, c, "worker-1", answer("<html>hello</html>"))
		got := run(t, c.Config, Overrides{})
		checkFacts(t, got, facts{proxy: planapi.Unknown, evidence: []string{`answered "<html>hello</html>", not a proxy mode`}})
	})
}
