package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// kubeProxyConfigKey is where kubeadm keeps the KubeProxyConfiguration in the kube-proxy
// ConfigMap.
const kubeProxyConfigKey = "config.conf"

// kubeProxyMode reads the mode from a kube-proxy ConfigMap: the KubeProxyConfiguration under
// config.conf (kubeadm), else under any key that holds one. It returns the mode as written
// ("" when left to kube-proxy's default) and the key it came from.
func kubeProxyMode(cm *corev1.ConfigMap) (mode, key string, err error) {
	type config struct {
		Kind string `json:"kind"`
		Mode string `json:"mode"`
	}
	keys := make([]string, 0, len(cm.Data))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if raw, ok := cm.Data[kubeProxyConfigKey]; ok {
		var c config
		if err := yaml.Unmarshal([]byte(raw), &c); err != nil {
			return "", kubeProxyConfigKey, fmt.Errorf("%s does not parse: %s", kubeProxyConfigKey, truncate(oneLine(err.Error()), 120))
		}
		if c.Kind == "" || c.Kind == "KubeProxyConfiguration" {
			return strings.TrimSpace(c.Mode), kubeProxyConfigKey, nil
		}
	}
	for _, k := range keys {
		var c config
		if yaml.Unmarshal([]byte(cm.Data[k]), &c) == nil && c.Kind == "KubeProxyConfiguration" {
			return strings.TrimSpace(c.Mode), k, nil
		}
	}
	if len(keys) == 0 {
		return "", "", errors.New("no data, so no KubeProxyConfiguration")
	}
	return "", "", fmt.Errorf("no KubeProxyConfiguration under its keys (%s)", strings.Join(keys, ", "))
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func isIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}

// isTimeout tells a request that ran out of time.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}
