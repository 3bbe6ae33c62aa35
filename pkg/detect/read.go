package detect

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"path"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

// Where the signals are read (docs/domain.md §5).
const (
	pathVersion        = "/version"
	pathNodes          = "/api/v1/nodes"
	pathDefaultNetwork = "/apis/k8s.cni.cncf.io/v1/namespaces/kube-system/network-attachment-definitions/default-network"
	// YangtseConfiguration is cluster-scoped ("kubectl patch yc default" in the CCE docs names
	// no namespace) and served as crd.yangtse.cni/v1 [inferred from the vendor's documents].
	pathYangtse        = "/apis/crd.yangtse.cni/v1/yangtseconfigurations/default"
	pathKubeProxyCM    = "/api/v1/namespaces/kube-system/configmaps/kube-proxy"
	yangtseObjectName  = "default"
	kubeProxyCMName    = "kube-system/kube-proxy"
	defaultNetworkName = "kube-system/default-network"
)

// limits are the bounds of one detection (tests shorten the probe timeout).
type limits struct {
	maxRequests  int
	nodeSample   int
	maxProbes    int
	probeTimeout time.Duration
}

var defaultLimits = limits{maxRequests: MaxRequests, nodeSample: NodeSample, maxProbes: MaxProbes, probeTimeout: ProbeTimeout}

// read is the outcome of one GET; a nil *read means the signal was not tried.
type read[T any] struct {
	obj T
	err error
}

// probe is one node's kube-proxy asked for its mode through the API server's node proxy.
type probe struct {
	node    string
	path    string
	body    string
	err     error
	timeout time.Duration
}

// reads holds everything detection read; inference works from it alone.
type reads struct {
	version *read[*version.Info]
	nodes   *read[*corev1.NodeList]
	nad     *read[map[string]any]
	yangtse *read[map[string]any]
	proxyCM *read[*corev1.ConfigMap]
	probes  []probe
	// probeSkipped says why no node was probed although the proxy mode was to be detected.
	probeSkipped string
	// nodeSample is the limit the nodes were listed with.
	nodeSample int
	// extra is the evidence from outside the Kubernetes API (DetectWithCloud).
	extra []planapi.Evidence
}

// nodeRegion is the first LabelRegion of the nodes read ("" when none has it).
func (r *reads) nodeRegion() string {
	if r.nodes == nil || r.nodes.err != nil || r.nodes.obj == nil {
		return ""
	}
	for _, n := range r.nodes.obj.Items {
		if v := n.Labels[LabelRegion]; v != "" {
			return v
		}
	}
	return ""
}

// fetch reads the signals the facts not overridden need: /version, a sample of nodes, the two
// Turbo objects and, for the proxy mode, the kube-proxy ConfigMap at once; then kube-proxy's
// /proxyMode on one or two of the nodes read, as the remaining budget allows.
func fetch(ctx context.Context, cfg *rest.Config, o Overrides, l limits) (*reads, error) {
	cfg = rest.CopyConfig(cfg)
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, err
	}
	rc := cs.CoreV1().RESTClient()

	r := &reads{nodeSample: l.nodeSample}
	wantProxy := !set(o.ProxyMode)
	planned := 3 // nodes, default-network, yangtse
	if o.ClusterVersion == "" {
		planned++
	}
	if wantProxy {
		planned++
	}
	probes := 0
	if wantProxy {
		probes = min(l.maxProbes, l.maxRequests-planned)
	}

	var wg sync.WaitGroup
	getJSON := func(p string, params url.Values, into any) error {
		req := rc.Get().AbsPath(p).MaxRetries(0).SetHeader("Accept", "application/json")
		for k, vs := range params {
			for _, v := range vs {
				req.Param(k, v)
			}
		}
		body, err := result(req.Do(ctx))
		if err != nil {
			return err
		}
		return json.Unmarshal(body, into)
	}

	if o.ClusterVersion == "" {
		r.version = &read[*version.Info]{}
		wg.Go(func() {
			info := &version.Info{}
			if r.version.err = getJSON(pathVersion, nil, info); r.version.err == nil {
				r.version.obj = info
			}
		})
	}
	r.nodes = &read[*corev1.NodeList]{}
	wg.Go(func() {
		list := &corev1.NodeList{}
		r.nodes.err = getJSON(pathNodes, url.Values{"limit": {strconv.Itoa(l.nodeSample)}}, list)
		if r.nodes.err != nil {
			if probes > 0 {
				r.probeSkipped = "the nodes could not be read"
			}
			return
		}
		r.nodes.obj = list
		if probes == 0 {
			return
		}
		targets := probeTargets(list.Items, probes)
		switch {
		case len(list.Items) == 0:
			r.probeSkipped = "there are no nodes"
			return
		case len(targets) == 0:
			r.probeSkipped = "no node read has an address to ask"
			return
		}
		r.probes = make([]probe, len(targets))
		for i, node := range targets {
			wg.Go(func() {
				r.probes[i] = askProxyMode(ctx, rc, node, l.probeTimeout)
			})
		}
	})
	r.nad = &read[map[string]any]{}
	wg.Go(func() {
		obj := map[string]any{}
		if r.nad.err = getJSON(pathDefaultNetwork, nil, &obj); r.nad.err == nil {
			r.nad.obj = obj
		}
	})
	r.yangtse = &read[map[string]any]{}
	wg.Go(func() {
		obj := map[string]any{}
		if r.yangtse.err = getJSON(pathYangtse, nil, &obj); r.yangtse.err == nil {
			r.yangtse.obj = obj
		}
	})
	if wantProxy {
		r.proxyCM = &read[*corev1.ConfigMap]{}
		wg.Go(func() {
			cm := &corev1.ConfigMap{}
			if r.proxyCM.err = getJSON(pathKubeProxyCM, nil, cm); r.proxyCM.err == nil {
				r.proxyCM.obj = cm
			}
		})
	}
	wg.Wait()
	return r, fatal(ctx, r)
}

// askProxyMode asks one node's kube-proxy for its mode, within timeout.
func askProxyMode(ctx context.Context, rc rest.Interface, node string, timeout time.Duration) probe {
	p := probe{node: node, timeout: timeout}
	target := node + ":" + strconv.Itoa(KubeProxyMetricsPort)
	p.path = path.Join(pathNodes, target, "proxy", "proxyMode")
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, err := result(rc.Get().AbsPath(pathNodes, target, "proxy", "proxyMode").MaxRetries(0).Do(ctx))
	p.body, p.err = string(body), err
	return p
}

// result returns the body and the error of a response, the error decoded from the Status the
// API server sent when it sent one (Result.Raw alone leaves it undecoded).
func result(res rest.Result) ([]byte, error) {
	body, _ := res.Raw()
	return body, res.Error()
}

// probeTargets picks up to n nodes to ask, Ready ones with an address first, in list order.
func probeTargets(nodes []corev1.Node, n int) []string {
	var ready, other []string
	for _, node := range nodes {
		if len(node.Status.Addresses) == 0 {
			continue
		}
		if isReady(&node) {
			ready = append(ready, node.Name)
		} else {
			other = append(other, node.Name)
		}
	}
	all := append(ready, other...)
	if len(all) > n {
		all = all[:n]
	}
	return all
}

func isReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// fatal returns the error that stops detection: the caller's context ended, the API server
// rejected the credentials, or no request reached the server at all. Anything else (forbidden,
// not found, a node proxy that fails or times out) is evidence.
func fatal(ctx context.Context, r *reads) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	errs := []error{errOf(r.version), errOf(r.nodes), errOf(r.nad), errOf(r.yangtse), errOf(r.proxyCM)}
	for _, p := range r.probes {
		errs = append(errs, p.err)
	}
	reached := false
	var firstTransport error
	for _, err := range errs {
		if apierrors.IsUnauthorized(err) {
			return err
		}
		var st apierrors.APIStatus
		switch {
		case err == nil:
		case errors.As(err, &st):
			reached = true
		case firstTransport == nil:
			firstTransport = err
		}
	}
	for _, rd := range []bool{ok(r.version), ok(r.nodes), ok(r.nad), ok(r.yangtse), ok(r.proxyCM)} {
		reached = reached || rd
	}
	if !reached && firstTransport != nil {
		return firstTransport
	}
	return nil
}

func errOf[T any](r *read[T]) error {
	if r == nil {
		return nil
	}
	return r.err
}

func ok[T any](r *read[T]) bool { return r != nil && r.err == nil }
