package benchkit

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
)

// NodePortRange is the benchmarks' --service-node-port-range: room for the health-check
// NodePorts of thousands of Local Services (the default range, 30000-32767, holds 2,768).
const NodePortRange = "20000-40000"

// StartCluster starts the test cluster (test/cluster) with NodePortRange, logging to stderr.
func StartCluster(ctx context.Context) (*cluster.Cluster, error) {
	fmt.Fprintf(os.Stderr, "bench: starting kube-apiserver + etcd (--service-node-port-range=%s)\n", NodePortRange)
	started := time.Now()
	c, err := cluster.Start(ctx, cluster.Options{Log: os.Stderr, ExtraAPIServerArgs: []string{"--service-node-port-range=" + NodePortRange}})
	if err != nil {
		return nil, fmt.Errorf("starting the test cluster: %w", err)
	}
	fmt.Fprintf(os.Stderr, "bench: cluster ready in %s at %s\n", time.Since(started).Round(100*time.Millisecond), c.Server)
	return c, nil
}
