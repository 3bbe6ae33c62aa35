// Package benchkit holds what the benchmark programs share (test/bench/scan, test/bench/svc):
// the deterministic mix of CCE-shaped LoadBalancer Services they load, the worker pool that
// loads them, and the small helpers around the measurements.
package benchkit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Protobuf is the content type the loaders and the floors use: several times cheaper to
// encode and decode than JSON, on both sides.
const Protobuf = "application/vnd.kubernetes.protobuf"

// FastClient is a client for cfg that talks protobuf and has no client-side rate limit (the
// loaders send thousands of requests; client-go's default is 5/s).
func FastClient(cfg *rest.Config) (kubernetes.Interface, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.AcceptContentTypes = Protobuf
	cfg.ContentType = Protobuf
	return kubernetes.NewForConfig(cfg)
}

// CreateService creates svc and then writes its LoadBalancer status, as the cloud controller
// would (a create drops the status); it returns the Service created.
func CreateService(ctx context.Context, cs kubernetes.Interface, svc *corev1.Service) (*corev1.Service, error) {
	status := svc.Status
	out, err := cs.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if len(status.LoadBalancer.Ingress) == 0 {
		return out, nil
	}
	out.Status = status
	if out, err = cs.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
		return nil, fmt.Errorf("setting the status of service %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return out, nil
}

// Of the Services' elb.ids, SharedPercent name one of SharedELBs shared ELBs; the others an ELB
// of their own.
const (
	SharedPercent = 30
	SharedELBs    = 200
)

// ELB classes and their weights (out of 100): mostly CCE shared and dedicated ELBs, some DNAT,
// some of the open-source cloud provider's dialect.
var classes = []weighted{{"union", 50}, {"performance", 30}, {"dnat", 6}, {"shared", 7}, {"dedicated", 7}}

// Pass-through values (out of 100), on the CCE classes.
var passThroughs = []weighted{{"", 55}, {"true", 30}, {"onlyLocal", 5}, {"false", 10}}

type weighted struct {
	value  string
	weight int // out of 100
}

func pick(r *rand.Rand, items []weighted) string {
	n := r.IntN(100)
	for _, it := range items {
		if n -= it.weight; n < 0 {
			return it.value
		}
	}
	return items[len(items)-1].value
}

// Mix is the population of Services a benchmark loads.
type Mix struct {
	// Services is the number of Services (own ELB ids are numbered after it).
	Services int
	// LocalPercent of them have externalTrafficPolicy Local.
	LocalPercent int
	// Namespace is the namespace of the i-th Service.
	Namespace func(i int) string
}

// Service is the i-th Service: deterministic, so runs compare.
func (m Mix) Service(i int) *corev1.Service {
	r := rand.New(rand.NewPCG(uint64(i), 5))
	class := pick(r, classes)
	local := r.IntN(100) < m.LocalPercent
	app := fmt.Sprintf("app-%05d", i)
	ann := map[string]string{"kubernetes.io/elb.class": class}
	switch class {
	case "union", "performance":
		ann["kubernetes.io/elb.id"] = m.elbID(r, i)
		if pt := pick(r, passThroughs); pt != "" {
			ann["kubernetes.io/elb.pass-through"] = pt
		}
		if r.IntN(10) == 0 {
			ann["kubernetes.io/elb.health-check-flag"] = "on"
			ann["kubernetes.io/elb.health-check-option"] = `{"protocol":"TCP","delay":"5","timeout":"10","max_retries":"3"}`
		}
	case "shared", "dedicated":
		ann["kubernetes.io/elb.id"] = m.elbID(r, i)
	}
	if class == "union" && r.IntN(20) == 0 {
		ann["kubernetes.io/elb.transparent-client-ip"] = "true"
	}
	if r.IntN(100) == 0 {
		ann["kubernetes.io/elb.autocreate"] = `{"type":` // does not parse: annotation-invalid
	}
	noNodePorts := false
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace:   m.Namespace(i),
			Name:        fmt.Sprintf("svc-%05d", i),
			Labels:      map[string]string{"app": app, "tier": []string{"web", "api", "worker"}[i%3]},
			Annotations: ann,
		},
		Spec: corev1.ServiceSpec{
			Type:                          corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy:         corev1.ServiceExternalTrafficPolicyCluster,
			AllocateLoadBalancerNodePorts: &noNodePorts,
			Selector:                      map[string]string{"app": app},
			Ports:                         []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
	}
	if local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	if r.IntN(2) == 0 {
		svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443), Protocol: corev1.ProtocolTCP})
	}
	// The cloud controller's status: the ELB's address (a public one for DNAT); 2% pending.
	if r.IntN(50) != 0 {
		ip := fmt.Sprintf("192.168.%d.%d", 1+i/250%250, 1+i%250)
		if class == "dnat" {
			ip = fmt.Sprintf("203.0.113.%d", 1+i%250)
		}
		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
	}
	return svc
}

// elbID is the i-th Service's kubernetes.io/elb.id: a shared ELB's or its own.
func (m Mix) elbID(r *rand.Rand, i int) string {
	n := m.Services + i
	if r.IntN(100) < SharedPercent {
		n = r.IntN(SharedELBs)
	}
	return fmt.Sprintf("%08x-1b4c-4d2e-9f7a-%012x", 0x2f6d3a8e+n, 0x5c3b1e0d9a24+n)
}

// Parallel runs f(0..n-1) on workers goroutines and returns the first error (and stops handing
// out work after it).
func Parallel(ctx context.Context, workers, n int, f func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan int)
	var once sync.Once
	var first error
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Go(func() {
			for i := range work {
				if err := f(i); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		})
	}
feed:
	for i := 0; i < n; i++ {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// ModuleRoot is the directory of this module's go.mod; cmd names the program for the error.
func ModuleRoot(cmd string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run the benchmark from the kubectl-elbfix module (go run " + cmd + ")")
	}
	return filepath.Dir(gomod), nil
}

// LoadAvg is the 1-minute load average (other work on the machine skews the timings).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

// Build builds the package pkg of the module at root into out as the release does
// (CGO_ENABLED=0, -trimpath, -ldflags '-s -w').
func Build(ctx context.Context, root, pkg, out string) error {
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, pkg)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %v: %s", pkg, err, b)
	}
	return nil
}

// Workdir makes a temporary directory with bin/ (the plugin, kubectl) and home/ (the children's
// HOME: kubectl's discovery cache) in it; cleanup removes it all.
func Workdir(prefix string) (bin, home string, cleanup func(), err error) {
	tmp, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(tmp) }
	bin, home = filepath.Join(tmp, "bin"), filepath.Join(tmp, "home")
	for _, d := range []string{bin, home} {
		if err := os.Mkdir(d, 0o755); err != nil {
			cleanup()
			return "", "", nil, err
		}
	}
	return bin, home, cleanup, nil
}

// Fail prints err as the cluster benchmarks do ("bench: error: ...") and exits 2.
func Fail(err error) {
	fmt.Fprintln(os.Stderr, "bench: error:", err)
	os.Exit(2)
}

// Main runs a cluster benchmark's body with a context that Ctrl-C or SIGTERM cancels (its
// deferred clean-up, the cluster's stop first, then runs), and Fails on its error.
func Main(run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		Fail(err)
	}
}
