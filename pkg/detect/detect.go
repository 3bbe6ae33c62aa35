// Package detect establishes the cluster facts a verdict stands on (flavor, network model,
// kube-proxy mode, server version, whether ipMode exists), each with the evidence behind it: an
// explicit override first (flag, then environment), then what the Kubernetes API shows, else
// "unknown". Signals that disagree are reported as conflicts, never silently resolved; a signal
// that can't be read (forbidden, missing, timed out) is evidence too, and never an error.
//
// Detection is cheap and bounded: at most MaxRequests API requests, independent ones
// concurrently, a fixed sample of NodeSample nodes, and nothing proportional to cluster size.
package detect

import (
	"context"
	"fmt"
	"os"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/kubeversion"
	"github.com/kubectl-elbfix/kubectl-elbfix/pkg/planapi"
)

// Environment variables that stand in for the override flags.
const (
	EnvNetworkModel = "ELBFIX_NETWORK_MODE"
	EnvProxyMode    = "ELBFIX_PROXY_MODE"
)

// Auto is the flag value that asks for detection.
const Auto = "auto"

// The flags that override detection.
const (
	FlagNetworkModel   = "--network-model"
	FlagProxyMode      = "--proxy-mode"
	FlagClusterVersion = "--cluster-version"
)

// Facts, as named in Evidence.Fact and Conflict.Fact.
const (
	FactVersion      = "version"
	FactIPMode       = "ipMode"
	FactFlavor       = "flavor"
	FactNetworkModel = "networkModel"
	FactProxyMode    = "proxyMode"
)

// Facts lists the facts in the order they are reported.
var Facts = []string{FactVersion, FactIPMode, FactFlavor, FactNetworkModel, FactProxyMode}

// Signals, as named in Evidence.Signal.
const (
	SignalOverride       = "override"
	SignalServerVersion  = "server-version"        // GET /version
	SignalVersionGate    = "version-gate"          // a feature's version gate, from the version fact
	SignalNodeLabels     = "node-labels"           // CCE node labels, Huawei Cloud providerID
	SignalNodePodCIDR    = "node-pod-cidr"         // spec.podCIDR(s) of the nodes read
	SignalDefaultNetwork = "default-network"       // NetworkAttachmentDefinition kube-system/default-network
	SignalYangtse        = "yangtse-configuration" // YangtseConfiguration default (crd.yangtse.cni)
	SignalNetworkModel   = "network-model"         // the flavor implied by the network model
	SignalProxyConfigMap = "kube-proxy-configmap"  // ConfigMap kube-system/kube-proxy
	SignalProxyMode      = "kube-proxy-proxymode"  // GET /api/v1/nodes/NODE:10249/proxy/proxyMode
	SignalCCEAPI         = planapi.SignalCloud     // the cloud's own cluster API (--cloud, pkg/cloud)
)

// LabelRegion is the nodes' region label, which --cloud uses when no region is given.
const LabelRegion = "topology.kubernetes.io/region"

// Bounds of detection.
const (
	// MaxRequests is the most API requests one detection makes.
	MaxRequests = 6
	// NodeSample is how many nodes are read (one list request with limit=NodeSample).
	NodeSample = 5
	// MaxProbes is the most nodes whose kube-proxy is asked for its mode.
	MaxProbes = 2
	// ProbeTimeout bounds each /proxyMode request through the node proxy.
	ProbeTimeout = 3 * time.Second
	// KubeProxyMetricsPort is kube-proxy's metrics port, which serves /proxyMode.
	KubeProxyMetricsPort = 10249
)

// NetworkModels and ProxyModes are the values the override flags take, besides "auto".
var (
	NetworkModels = []string{planapi.NetworkTurbo, planapi.NetworkTunnel, planapi.NetworkVPC}
	ProxyModes    = []string{planapi.ProxyIPTables, planapi.ProxyIPVS}
)

// Overrides are the user's statements about the cluster; "" or "auto" means detect.
type Overrides struct {
	NetworkModel   string
	ProxyMode      string
	ClusterVersion string

	// Set by WithEnv when the value came from the environment, not from the flag.
	networkFromEnv, proxyFromEnv bool
}

func set(v string) bool { return v != "" && v != Auto }

// Validate checks the override values, including those WithEnv took from the environment.
func (o Overrides) Validate() error {
	if err := oneOf(o.networkOrigin(), o.NetworkModel, NetworkModels); err != nil {
		return err
	}
	if err := oneOf(o.proxyOrigin(), o.ProxyMode, ProxyModes); err != nil {
		return err
	}
	if o.ClusterVersion != "" {
		if _, err := kubeversion.Parse(o.ClusterVersion); err != nil {
			return fmt.Errorf("invalid value %q for %s: %v", o.ClusterVersion, FlagClusterVersion, err)
		}
	}
	return nil
}

func (o Overrides) networkOrigin() string {
	if o.networkFromEnv {
		return "environment variable " + EnvNetworkModel
	}
	return FlagNetworkModel
}

func (o Overrides) proxyOrigin() string {
	if o.proxyFromEnv {
		return "environment variable " + EnvProxyMode
	}
	return FlagProxyMode
}

func oneOf(origin, v string, allowed []string) error {
	if !set(v) {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("invalid value %q for %s: must be auto, or one of %v", v, origin, allowed)
}

// WithEnv returns o with the environment's values filled in where no flag was given, so that
// they can be validated like flags (flag beats environment).
func (o Overrides) WithEnv() Overrides {
	if !set(o.NetworkModel) {
		if v := os.Getenv(EnvNetworkModel); set(v) {
			o.NetworkModel, o.networkFromEnv = v, true
		}
	}
	if !set(o.ProxyMode) {
		if v := os.Getenv(EnvProxyMode); set(v) {
			o.ProxyMode, o.proxyFromEnv = v, true
		}
	}
	return o
}

// Offline returns the facts from the overrides alone; anything not stated is unknown.
func Offline(o Overrides) planapi.Cluster {
	return infer(&reads{}, o.WithEnv())
}

// Detect returns the facts: overrides first, then what the API server shows. It makes at most
// MaxRequests requests. Signals that can't be read become evidence; only an unreachable API
// server or rejected credentials (401) are errors, returned as client-go returned them.
func Detect(ctx context.Context, cfg *rest.Config, o Overrides) (planapi.Cluster, error) {
	return detect(ctx, cfg, o, defaultLimits)
}

// CloudFacts reads cluster facts from outside the Kubernetes API: the cloud's own API (--cloud,
// pkg/cloud). nodeRegion is the LabelRegion of the nodes detection read ("" when none had it).
// Its evidence enters the inference like any other signal, and conflicts with the Kubernetes
// API's signals are reported as such; evidence of facts not in Facts is dropped.
type CloudFacts func(ctx context.Context, nodeRegion string) []planapi.Evidence

// DetectWithCloud is Detect with the evidence of cloud added (nil: Detect). cloud is asked only
// when the API server answered.
func DetectWithCloud(ctx context.Context, cfg *rest.Config, o Overrides, cloud CloudFacts) (planapi.Cluster, error) {
	return detectWith(ctx, cfg, o, defaultLimits, cloud)
}

func detect(ctx context.Context, cfg *rest.Config, o Overrides, l limits) (planapi.Cluster, error) {
	return detectWith(ctx, cfg, o, l, nil)
}

func detectWith(ctx context.Context, cfg *rest.Config, o Overrides, l limits, cloud CloudFacts) (planapi.Cluster, error) {
	o = o.WithEnv()
	r, err := fetch(ctx, cfg, o, l)
	if err != nil {
		return Offline(o), err
	}
	if cloud != nil {
		r.extra = cloud(ctx, r.nodeRegion())
	}
	return infer(r, o), nil
}

// Strongest returns the evidence that decided a fact: the strongest one for the fact's value,
// else (the fact is unknown) the strongest one tried. ok is false when nothing was tried.
func Strongest(c planapi.Cluster, fact string) (e planapi.Evidence, ok bool) {
	value := FactValue(c, fact)
	for _, ev := range c.Evidence {
		if ev.Fact != fact {
			continue
		}
		if ev.Value == value && value != planapi.Unknown {
			return ev, true
		}
		if !ok {
			e, ok = ev, true
		}
	}
	return e, ok
}

// FactValue returns the value of a fact of c; "unknown" for an empty one.
func FactValue(c planapi.Cluster, fact string) string {
	v := ""
	switch fact {
	case FactVersion:
		v = c.Version
	case FactIPMode:
		v = c.IPMode
	case FactFlavor:
		v = c.Flavor
	case FactNetworkModel:
		v = c.NetworkModel
	case FactProxyMode:
		v = c.ProxyMode
	}
	if v == "" {
		return planapi.Unknown
	}
	return v
}

// Remedy tells what to pass to settle a fact that is unknown.
func Remedy(fact string) string {
	switch fact {
	case FactNetworkModel:
		return "pass --network-model turbo|tunnel|vpc (or set " + EnvNetworkModel + ")"
	case FactProxyMode:
		return "pass --proxy-mode iptables|ipvs (or set " + EnvProxyMode + ")"
	case FactVersion:
		return "pass --cluster-version, e.g. v1.25.5-r0"
	case FactIPMode:
		return "follows from the version: pass --cluster-version"
	case FactFlavor:
		return "follows from the network model: pass --network-model (turbo: CCE Turbo; tunnel or vpc: CCE Standard)"
	}
	return ""
}

// Rank orders confidences: override > high > medium > low > none (0).
func Rank(confidence string) int {
	switch confidence {
	case planapi.ConfidenceOverride:
		return 4
	case planapi.ConfidenceHigh:
		return 3
	case planapi.ConfidenceMedium:
		return 2
	case planapi.ConfidenceLow:
		return 1
	}
	return 0
}
