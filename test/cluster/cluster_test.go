package cluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// shared is the cluster most tests use; starting one takes a few seconds once the binaries
// are cached.
var shared *cluster.Cluster

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	c, err := cluster.Start(ctx, cluster.Options{})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the shared test cluster:", err)
		os.Exit(1)
	}
	shared = c
	code := m.Run()
	if code != 0 {
		for _, p := range c.LogPaths() {
			b, _ := os.ReadFile(p)
			lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			if len(lines) > 40 {
				lines = lines[len(lines)-40:]
			}
			fmt.Fprintf(os.Stderr, "--- last lines of %s:\n%s\n", p, strings.Join(lines, "\n"))
		}
	}
	c.Stop()
	os.Exit(code)
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func kubectl(t *testing.T, c *cluster.Cluster, kubeconfig string, args ...string) (string, string, error) {
	t.Helper()
	cmd := exec.CommandContext(testContext(t), c.Kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=") // only the given kubeconfig
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// nodeProxyGet GETs /api/v1/nodes/NODE:PORT/proxy/PATH.
func nodeProxyGet(ctx context.Context, client kubernetes.Interface, node, port, path string) ([]byte, error) {
	return client.CoreV1().RESTClient().Get().Resource("nodes").Name(node + ":" + port).
		SubResource("proxy").Suffix(path).DoRaw(ctx)
}

func TestVersion(t *testing.T) {
	t.Parallel()
	v, err := shared.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != cluster.KubernetesVersion || v.Major != "1" || v.Minor != "37" {
		t.Errorf("server version = %q (major %q, minor %q), want %s (1, 37)", v.GitVersion, v.Major, v.Minor, cluster.KubernetesVersion)
	}
	if shared.GitVersion != cluster.KubernetesVersion {
		t.Errorf("Cluster.GitVersion = %q", shared.GitVersion)
	}

	// kubectl works with the admin kubeconfig (verifying the server against the CA).
	out, stderr, err := kubectl(t, shared, shared.AdminKubeconfig, "version", "-o", "json")
	if err != nil {
		t.Fatalf("kubectl version: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, `"gitVersion": "v1.37.2"`) {
		t.Errorf("kubectl version output lacks v1.37.2:\n%s", out)
	}
	if !strings.HasPrefix(shared.Server, "https://127.0.0.1:") {
		t.Errorf("Server = %q", shared.Server)
	}
}

func TestRelinkedVersion(t *testing.T) {
	t.Parallel()
	const cce = "v1.37.2-r0-37.0.1"
	c := cluster.StartT(t, cluster.Options{GitVersion: cce})
	v, err := c.Client.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != cce || v.Major != "1" || v.Minor != "37" {
		t.Errorf("server version = %q (major %q, minor %q), want %s (1, 37)", v.GitVersion, v.Major, v.Minor, cce)
	}
	if c.GitVersion != cce {
		t.Errorf("Cluster.GitVersion = %q, want %q", c.GitVersion, cce)
	}

	// Stop is idempotent and really stops the server.
	host := strings.TrimPrefix(c.Server, "https://")
	c.Stop()
	c.Stop()
	if conn, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		conn.Close()
		t.Errorf("API server still accepts connections at %s after Stop", host)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Errorf("Dir %s not removed after Stop: %v", c.Dir, err)
	}
}

func TestObjectHelpers(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := shared

	ns, err := c.CreateNamespace(ctx, "helpers")
	if err != nil {
		t.Fatal(err)
	}

	labels := map[string]string{"cce.cloud.com/cce-nodepool": "pool-a", "topology.kubernetes.io/zone": "ap-southeast-1a"}
	addrs := []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.7.10"}}
	if _, err := c.CreateNode(ctx, "192.168.7.10", labels, addrs, []string{"10.7.0.0/25"}); err != nil {
		t.Fatal(err)
	}
	node, err := c.Client.CoreV1().Nodes().Get(ctx, "192.168.7.10", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Labels["cce.cloud.com/cce-nodepool"] != "pool-a" || node.Spec.PodCIDR != "10.7.0.0/25" ||
		len(node.Spec.PodCIDRs) != 1 || len(node.Status.Addresses) != 1 || node.Status.Addresses[0].Address != "192.168.7.10" {
		t.Errorf("node read back wrong: labels %v podCIDR %q podCIDRs %v addresses %v",
			node.Labels, node.Spec.PodCIDR, node.Spec.PodCIDRs, node.Status.Addresses)
	}

	svc, err := c.CreateService(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.Name},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector:              map[string]string{"app": "web"},
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.168.7.200"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.Ports[0].NodePort == 0 || svc.Spec.HealthCheckNodePort == 0 {
		t.Errorf("service not allocated: clusterIP %q nodePort %d healthCheckNodePort %d",
			svc.Spec.ClusterIP, svc.Spec.Ports[0].NodePort, svc.Spec.HealthCheckNodePort)
	}
	got, err := c.Client.CoreV1().Services(ns.Name).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ing := got.Status.LoadBalancer.Ingress; len(ing) != 1 || ing[0].IP != "192.168.7.200" {
		t.Errorf("service ingress = %+v, want 192.168.7.200", ing)
	}

	pod, err := c.CreatePod(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: ns.Name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   node.Name,
			Containers: []corev1.Container{{Name: "web", Image: "nginx"}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.7.0.5", PodIPs: []corev1.PodIP{{IP: "10.7.0.5"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if pod.Spec.NodeName != node.Name || pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP != "10.7.0.5" {
		t.Errorf("pod: node %q phase %q IP %q", pod.Spec.NodeName, pod.Status.Phase, pod.Status.PodIP)
	}

	if _, err := c.CreateEndpointSlice(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-abc", Namespace: ns.Name, Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.7.0.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			NodeName:   ptr.To(node.Name),
		}},
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}},
	}); err != nil {
		t.Fatal(err)
	}
	slices, err := c.Client.DiscoveryV1().EndpointSlices(ns.Name).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(slices.Items) != 1 || slices.Items[0].Endpoints[0].Addresses[0] != "10.7.0.5" {
		t.Errorf("endpointslices = %+v", slices.Items)
	}

	// The CCE Turbo default network: a CRD, then a custom object, readable by the viewer.
	crd, err := c.CreateCRD(ctx, cluster.NewCRD("k8s.cni.cncf.io", "NetworkAttachmentDefinition", "network-attachment-definitions", true, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	if crd.GetName() != "network-attachment-definitions.k8s.cni.cncf.io" {
		t.Errorf("CRD name = %q", crd.GetName())
	}
	gvr := schema.GroupVersionResource{Group: "k8s.cni.cncf.io", Version: "v1", Resource: "network-attachment-definitions"}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "k8s.cni.cncf.io/v1",
		"kind":       "NetworkAttachmentDefinition",
		"metadata":   map[string]any{"name": "default-network", "namespace": "kube-system"},
		"spec":       map[string]any{"config": `{"cniVersion":"0.3.1","name":"default-network","type":"eni-neutron"}`},
	}}
	if _, err := c.CreateObject(ctx, gvr, obj); err != nil {
		t.Fatal(err)
	}
	got2, err := c.Dynamic.Resource(gvr).Namespace("kube-system").Get(ctx, "default-network", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, _, _ := unstructured.NestedString(got2.Object, "spec", "config"); !strings.Contains(cfg, "eni-neutron") {
		t.Errorf("custom object spec.config = %q", cfg)
	}
	out, stderr, err := kubectl(t, c, c.ReadOnlyKubeconfig, "get", "network-attachment-definitions", "-A", "-o", "name")
	if err != nil || !strings.Contains(out, "default-network") {
		t.Errorf("viewer kubectl get network-attachment-definitions: %v\n%s%s", err, out, stderr)
	}
}

func TestReadOnlyUser(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	ro := shared.ReadOnlyClient

	if _, err := ro.CoreV1().Services("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("viewer list services: %v", err)
	}
	if _, err := ro.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("viewer list nodes: %v", err)
	}
	if _, err := ro.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("viewer list endpointslices: %v", err)
	}
	if _, err := ro.EventsV1().Events("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("viewer list events.k8s.io events: %v", err)
	}

	_, err := ro.CoreV1().Services("default").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "nope"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("viewer create service: err = %v, want Forbidden", err)
	}

	// nodes/proxy is refused (authorization comes before the node lookup).
	_, err = nodeProxyGet(ctx, ro, "any-node", "10249", "proxyMode")
	if !apierrors.IsForbidden(err) {
		t.Errorf("viewer GET nodes/proxy: err = %v, want Forbidden", err)
	}
	for _, sub := range []string{"proxy", "log"} {
		res := "nodes"
		if sub == "log" {
			res = "pods"
		}
		ssar, err := ro.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: "get", Resource: res, Subresource: sub,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ssar.Status.Allowed {
			t.Errorf("viewer may get %s/%s", res, sub)
		}
	}

	// The same through kubectl and the read-only kubeconfig.
	out, _, err := kubectl(t, shared, shared.ReadOnlyKubeconfig, "auth", "can-i", "get", "nodes", "--subresource=proxy")
	if err == nil || strings.TrimSpace(out) != "no" {
		t.Errorf("kubectl auth can-i get nodes/proxy as viewer = %q, %v; want no", out, err)
	}
	out, stderr, err := kubectl(t, shared, shared.ReadOnlyKubeconfig, "get", "services", "-A")
	if err != nil || !strings.Contains(out, "kubernetes") {
		t.Errorf("viewer kubectl get services -A: %v\n%s%s", err, out, stderr)
	}
}

func TestNodeProxyThroughNetns(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)

	mux := http.NewServeMux()
	mux.HandleFunc("/proxyMode", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ipvs") })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream exploded", http.StatusBadGateway)
	})
	srv, err := cluster.NetnsHTTPServer(ctx, 10249, mux)
	if errors.Is(err, cluster.ErrNetnsUnavailable) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing netns server: %v", err)
		}
	})
	if srv.Port != 10249 {
		t.Errorf("port = %d", srv.Port)
	}

	const node = "netns-node"
	if _, err := shared.CreateNode(ctx, node, nil, []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: srv.IP}}, nil); err != nil {
		t.Fatal(err)
	}
	body, err := nodeProxyGet(ctx, shared.Client, node, "10249", "proxyMode")
	if err != nil {
		t.Fatalf("admin GET nodes/%s:10249/proxy/proxyMode: %v", node, err)
	}
	if string(body) != "ipvs" {
		t.Errorf("proxyMode through the node proxy = %q, want ipvs", body)
	}

	_, err = nodeProxyGet(ctx, shared.Client, node, "10249", "broken")
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Code != http.StatusBadGateway {
		t.Errorf("proxied 502: err = %v, want a 502 status error", err)
	}

	_, err = nodeProxyGet(ctx, shared.ReadOnlyClient, node, "10249", "proxyMode")
	if !apierrors.IsForbidden(err) {
		t.Errorf("viewer GET nodes/proxy: err = %v, want Forbidden", err)
	}
}

func TestBrokenStartReportsLog(t *testing.T) {
	t.Parallel()
	c, err := cluster.Start(testContext(t), cluster.Options{ExtraAPIServerArgs: []string{"--no-such-flag"}, Log: io.Discard})
	if err == nil {
		c.Stop()
		t.Fatal("Start with an invalid flag succeeded")
	}
	t.Logf("error (as expected):\n%v", err)
	for _, want := range []string{"kube-apiserver exited", "unknown flag: --no-such-flag", "kube-apiserver.log"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestLoadDemo(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if err := shared.LoadDemo(ctx); err != nil {
		t.Fatal(err)
	}
	svc, err := shared.Client.CoreV1().Services("default").Get(ctx, cluster.DemoSharedService, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) == 0 || svc.Annotations["kubernetes.io/elb.class"] != "union" ||
		svc.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("demo service nginx: %+v", svc)
	}
	node, err := shared.Client.CoreV1().Nodes().Get(ctx, cluster.DemoNodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if node.Spec.PodCIDR != "10.0.0.0/25" || node.Status.NodeInfo.KubeletVersion != "v1.28.3-r10-28.0.9" || len(node.Status.Addresses) != 2 {
		t.Errorf("demo node: podCIDR %q kubelet %q addresses %v", node.Spec.PodCIDR, node.Status.NodeInfo.KubeletVersion, node.Status.Addresses)
	}
	if _, err := shared.Client.CoreV1().Services(cluster.DemoDedicatedNS).Get(ctx, cluster.DemoDedicatedSvc, metav1.GetOptions{}); err != nil {
		t.Error(err)
	}
	// The demo's quota Event, bound to the Service. The API server may add Events of its own
	// about the Service (its ClusterIP repair loop can race the create: "is not allocated;
	// repairing"), so the demo's is looked up by its reason, not counted.
	evs, err := shared.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=nginx"})
	if err != nil {
		t.Fatal(err)
	}
	var demo []corev1.Event
	for _, e := range evs.Items {
		if e.Reason == "UpdateLoadBalancerFailed" {
			demo = append(demo, e)
		}
	}
	if len(demo) != 1 || demo[0].InvolvedObject.UID != svc.UID {
		t.Errorf("demo event: want one UpdateLoadBalancerFailed Event about service nginx (uid %s), got %+v", svc.UID, evs.Items)
	}
}

func TestBinariesCachedAndKubectlOverride(t *testing.T) {
	ctx := testContext(t)
	p1, err := cluster.Binaries(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p2, err := cluster.Binaries(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p1 != p2 {
		t.Errorf("Binaries changed between calls: %+v vs %+v", p1, p2)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("cached Binaries took %s", d)
	}
	t.Setenv(cluster.KubectlEnv, os.Args[0])
	p3, err := cluster.Binaries(ctx, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p3.Kubectl != os.Args[0] || p3.APIServer != p1.APIServer {
		t.Errorf("with %s set: %+v", cluster.KubectlEnv, p3)
	}
}

// TestEgressGuardRefusesOtherAddresses: the API server's node proxy to an address outside the
// harness's network namespaces is refused by the egress guard, without dialling it.
func TestEgressGuardRefusesOtherAddresses(t *testing.T) {
	ctx := context.Background()
	// 192.0.2.0/24 is TEST-NET-1 (documentation): never reached, the guard answers first.
	node, err := shared.CreateNode(ctx, "egress-guard-node", nil, []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.0.2.10"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = shared.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes/" + node.Name + ":10249/proxy/proxyMode").DoRaw(ctx)
	if err == nil {
		t.Fatal("the node proxy reached an address outside the harness")
	}
	denied := strings.Join(shared.EgressDenied(), " ")
	if !strings.Contains(denied, "192.0.2.10:10249") {
		t.Fatalf("the egress guard did not refuse 192.0.2.10:10249 (denied: %q; error: %v)", denied, err)
	}
}
