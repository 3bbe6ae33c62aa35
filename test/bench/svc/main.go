// Command svc is the benchmark of `kubectl elbfix svc NAME` (`make bench`): its reads must not
// grow with the size of the Service's namespace. It starts the test cluster of package
// test/cluster (a real kube-apiserver + etcd on 127.0.0.1) and loads two namespaces:
//
//	one   exactly one Service, web
//	big   the same web plus 9,999 other LoadBalancer Services (-services 10000 in all; the
//	      mix of ELB classes, traffic policies and pass-through values of test/bench/scan)
//
// Every other Service of big also has an EndpointSlice (three ready endpoints) and an Event of
// the ELB controller, as a real namespace holds them: svc web must read its own only (by label
// and field selector), not the namespace's.
//
// Then it times, as child processes with the plugin on PATH next to the harness's kubectl:
//
//	kubectl elbfix svc web -n one --dry-run --network-model vpc --proxy-mode ipvs --cluster-version v1.25.5-r0
//	kubectl elbfix svc web -n big (the same flags)
//	kubectl get svc web -n big -o yaml     the baseline
//	kubectl get svc web -n one -o yaml     for reference
//
// each once to warm up (its output checked), then -runs times round-robin, and prints the
// medians, the run-to-run spread and the targets of the issue: svc in big within 1.2x svc in
// one, and within 1.5x kubectl get. A MISS is reported, not an error: the exit code is non-zero
// only when something fails to run.
//
// That is the common web, without kubernetes.io/elb.id. It then gives both webs an elb.id (an
// ELB of their own) and times the same commands again: svc then lists the Services of every
// namespace to find the others on that ELB, so its cost follows the cluster's size in both
// namespaces; that line is reported separately, against no target.
//
//	go run ./test/bench/svc [-runs 7] [-services 10000] [-keep]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/bench/internal/benchkit"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
)

const (
	nsOne, nsBig = "one", "big"
	web          = "web"
	// webELBID is the elb.id given to web in the second phase: an ELB of its own (no other
	// Service names it).
	webELBID = "0b5e7c1d-2a3f-4e6b-8c9d-0a1b2c3d4e5f"
	// workers create the Services concurrently, as test/bench/scan does.
	workers = 16
	// localPercent of the other Services have externalTrafficPolicy Local (benchkit's mix).
	localPercent = 40
)

// The targets of the issue.
const (
	targetBigVsOne = 1.2 // svc in big at most this times svc in one
	targetVsGet    = 1.5 // svc in big at most this times kubectl get svc NAME -o yaml
)

// svcFlags are the facts svc is given, so that no detection request varies between runs.
var svcFlags = []string{"--dry-run", "--network-model", "vpc", "--proxy-mode", "ipvs", "--cluster-version", "v1.25.5-r0"}

func main() {
	runs := flag.Int("runs", 7, "measured runs of each command (after one warm-up run)")
	services := flag.Int("services", 10000, "Services in namespace big, web included")
	keep := flag.Bool("keep", false, "keep the cluster running at the end (until interrupted) and print its KUBECONFIG")
	flag.Parse()
	if flag.NArg() > 0 {
		benchkit.Fail(fmt.Errorf("unexpected arguments: %v", flag.Args()))
	}
	if *runs < 1 || *services < 1 {
		benchkit.Fail(errors.New("-runs and -services must be positive"))
	}
	b := &bench{services: *services, runs: *runs, keep: *keep}
	benchkit.Main(b.run)
}

type bench struct {
	services, runs int
	keep           bool

	c      *cluster.Cluster
	binDir string // kubectl (a link to the harness's), kubectl-elbfix
	home   string // HOME of the children (kubectl's discovery cache)
}

func (b *bench) run(ctx context.Context) error {
	root, err := benchkit.ModuleRoot("./test/bench/svc")
	if err != nil {
		return err
	}
	var cleanup func()
	if b.binDir, b.home, cleanup, err = benchkit.Workdir("elbfix-bench-svc-"); err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(os.Stderr, "bench: building kubectl-elbfix (CGO_ENABLED=0, -trimpath -ldflags '-s -w', as the release)\n")
	if err := benchkit.Build(ctx, root, "./cmd/kubectl-elbfix", filepath.Join(b.binDir, "kubectl-elbfix")); err != nil {
		return err
	}

	if b.c, err = benchkit.StartCluster(ctx); err != nil {
		return err
	}
	defer b.c.Stop()
	if err := os.Symlink(b.c.Kubectl, filepath.Join(b.binDir, "kubectl")); err != nil {
		return err
	}
	loadTime, err := b.load(ctx)
	if err != nil {
		return err
	}
	nOne, err := b.count(ctx, nsOne)
	if err != nil {
		return err
	}
	nBig, err := b.count(ctx, nsBig)
	if err != nil {
		return err
	}
	nAll, err := b.count(ctx, "")
	if err != nil {
		return err
	}
	if nOne != 1 || nBig != b.services {
		return fmt.Errorf("namespace %s holds %d Services, %s %d; want 1 and %d", nsOne, nOne, nsBig, nBig, b.services)
	}

	kubectl := filepath.Join(b.binDir, "kubectl")
	svcCmd := func(ns string) *command {
		return &command{name: "kubectl elbfix svc web -n " + ns + " --dry-run ...", short: "svc-" + ns, path: kubectl,
			args: append([]string{"elbfix", "svc", web, "-n", ns}, svcFlags...), codes: []int{0, 1}, check: "service/" + web}
	}
	getCmd := func(ns string) *command {
		return &command{name: "kubectl get svc web -n " + ns + " -o yaml", short: "get-" + ns, path: kubectl,
			args: []string{"get", "svc", web, "-n", ns, "-o", "yaml"}, check: "name: " + web}
	}

	// kubectl's read of web's Events, by the field selector svc uses: the API server keeps no
	// watch cache for Events by default, so it reads the namespace's Events from etcd and filters
	// them, whoever asks.
	eventsCmd := func(ns string) *command {
		return &command{name: "kubectl get events -n " + ns + " --field-selector involvedObject.name=web,...", short: "events-" + ns, path: kubectl,
			args: []string{"get", "events", "-n", ns, "--field-selector", "involvedObject.kind=Service,involvedObject.name=" + web, "-o", "yaml"}, check: "kind: List"}
	}

	// Phase 1: web without elb.id, the common case and the target.
	plain := []*command{svcCmd(nsOne), svcCmd(nsBig), getCmd(nsBig), getCmd(nsOne), eventsCmd(nsBig), eventsCmd(nsOne)}
	fmt.Fprintf(os.Stderr, "bench: web without %s\n", "kubernetes.io/elb.id")
	load0 := benchkit.LoadAvg()
	if err := b.measure(ctx, plain); err != nil {
		return err
	}
	// Phase 2: web on an ELB named by elb.id; svc lists every namespace's Services.
	for _, ns := range []string{nsOne, nsBig} {
		p := fmt.Appendf(nil, `{"metadata":{"annotations":{"kubernetes.io/elb.id":%q}}}`, webELBID)
		if _, err := b.c.Client.CoreV1().Services(ns).Patch(ctx, web, types.MergePatchType, p, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("setting the elb.id of %s/%s: %w", ns, web, err)
		}
	}
	withID := []*command{svcCmd(nsOne), svcCmd(nsBig), getCmd(nsBig)}
	fmt.Fprintf(os.Stderr, "bench: web with kubernetes.io/elb.id %s\n", webELBID)
	if err := b.measure(ctx, withID); err != nil {
		return err
	}

	fmt.Printf("\nsvc benchmark: namespace %s holds %d Service, namespace %s %d (web and %d LoadBalancer Services; an EndpointSlice and an Event for every other one), %d Services in the cluster, loaded in %s;\n",
		nsOne, nOne, nsBig, nBig, nBig-1, nAll, loadTime.Round(time.Second))
	fmt.Printf("kube-apiserver %s on 127.0.0.1; %d CPUs, load average %s at the start of the runs, %s at the end; median of %d runs after one warm-up\n",
		cluster.KubernetesVersion, runtime.NumCPU(), load0, benchkit.LoadAvg(), b.runs)
	fmt.Printf("svc flags: %s\n\n", strings.Join(svcFlags, " "))
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "web\tcommand\twall\tmin-max\tspread\tCPU user+sys\t")
	for _, phase := range []struct {
		label string
		cmds  []*command
	}{{"no elb.id", plain}, {"elb.id", withID}} {
		for _, c := range phase.cmds {
			m := c.median()
			lo, hi := c.wallRange()
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s-%s\t%.0f%%\t%s\t\n", phase.label, c.name, ms(m.wall), ms(lo), ms(hi),
				100*float64(hi-lo)/float64(m.wall), ms(m.cpu))
		}
	}
	tw.Flush()
	fmt.Println("(spread: (max-min)/median of the wall times)")
	fmt.Println()

	verdict := func(ok bool, what string) {
		v := "MISS"
		if ok {
			v = "ok  "
		}
		fmt.Printf("%s  %s\n", v, what)
	}
	one, big, get := plain[0].median().wall, plain[1].median().wall, plain[2].median().wall
	verdict(ratio(big, one) <= targetBigVsOne, fmt.Sprintf("svc web: big/one %.2fx (target <= %.1fx): %s in %d Services vs %s in 1",
		ratio(big, one), targetBigVsOne, ms(big), nBig, ms(one)))
	verdict(ratio(big, get) <= targetVsGet, fmt.Sprintf("svc web in big vs kubectl get svc web -o yaml: %.2fx (target <= %.1fx): %s vs %s",
		ratio(big, get), targetVsGet, ms(big), ms(get)))
	fmt.Printf("      (kubectl get svc web: big/one %.2fx)\n", ratio(get, plain[3].median().wall))
	evBig, evOne := plain[4].median().wall, plain[5].median().wall
	fmt.Printf("info  kubectl get events of web alone (the field selector svc uses): big/one %.2fx (%s vs %s); svc web in big vs it %.2fx:\n"+
		"      the part of svc's time that grows with the namespace is the API server's answer to that read\n",
		ratio(evBig, evOne), ms(evBig), ms(evOne), ratio(big, evBig))
	oneID, bigID, getID := withID[0].median().wall, withID[1].median().wall, withID[2].median().wall
	fmt.Printf("info  svc web with elb.id (lists the Services of all namespaces, %d: O(cluster), no target): big/one %.2fx (%s vs %s); vs kubectl get %.2fx in big (%s vs %s), %.2fx in one\n",
		nAll, ratio(bigID, oneID), ms(bigID), ms(oneID), ratio(bigID, getID), ms(bigID), ms(getID), ratio(oneID, getID))
	fmt.Println("(targets of the issue; timings are measurements, not assertions: a MISS does not fail the run)")

	if b.keep {
		fmt.Fprintf(os.Stderr, "\nbench: the cluster keeps running until interrupted (web has elb.id %s now):\n  export KUBECONFIG=%s PATH=%s:$PATH\n",
			webELBID, b.c.AdminKubeconfig, b.binDir)
		<-ctx.Done()
	}
	return nil
}

// measure runs each command once to warm up (checking its output), then b.runs times,
// round-robin, keeping the measurements in the commands.
func (b *bench) measure(ctx context.Context, cmds []*command) error {
	for _, c := range cmds {
		var out bytes.Buffer
		m, err := b.exec(ctx, c, &out)
		if err != nil {
			return err
		}
		if !strings.Contains(out.String(), c.check) {
			return fmt.Errorf("%s: %q not in its output:\n%s", c.name, c.check, out.String())
		}
		fmt.Fprintf(os.Stderr, "bench:   warm-up %-45s %s, %d bytes of output\n", c.name, ms(m.wall), out.Len())
	}
	for r := 1; r <= b.runs; r++ {
		fmt.Fprintf(os.Stderr, "bench: run %d/%d:", r, b.runs)
		for _, c := range cmds {
			m, err := b.exec(ctx, c, nil)
			if err != nil {
				return err
			}
			c.runs = append(c.runs, m)
			fmt.Fprintf(os.Stderr, " %s %s", c.short, ms(m.wall))
		}
		fmt.Fprintln(os.Stderr)
	}
	return nil
}

// count is the number of Services in ns ("" for all) from one small LIST (limit 1 and
// remainingItemCount).
func (b *bench) count(ctx context.Context, ns string) (int, error) {
	list, err := b.c.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return 0, fmt.Errorf("counting the Services of namespace %q: %w", ns, err)
	}
	n := len(list.Items)
	if list.RemainingItemCount != nil {
		n += int(*list.RemainingItemCount)
	}
	return n, nil
}

// load creates the namespaces, web in both, and the other Services of big, with their ELB
// status, on 16 workers.
func (b *bench) load(ctx context.Context) (time.Duration, error) {
	cs, err := benchkit.FastClient(b.c.Config)
	if err != nil {
		return 0, err
	}
	for _, ns := range []string{nsOne, nsBig} {
		if _, err := b.c.CreateNamespace(ctx, ns); err != nil {
			return 0, err
		}
	}
	started := time.Now()
	for _, ns := range []string{nsOne, nsBig} {
		if _, err := benchkit.CreateService(ctx, cs, webService(ns)); err != nil {
			return 0, err
		}
	}
	others := b.services - 1
	fmt.Fprintf(os.Stderr, "bench: loading %d other LoadBalancer Services into namespace %s (%d workers)\n", others, nsBig, workers)
	var done atomic.Int64
	err = benchkit.Parallel(ctx, workers, others, func(i int) error {
		svc := b.mix().Service(i)
		if _, err := benchkit.CreateService(ctx, cs, svc); err != nil {
			return err
		}
		// As a real namespace holds them: every other Service has an EndpointSlice and an
		// Event, which svc web must not read (it selects its own by label and field).
		if i%2 == 0 {
			if err := related(ctx, cs, svc.Namespace, svc.Name, i); err != nil {
				return err
			}
		}
		if n := done.Add(1); n%1000 == 0 || int(n) == others {
			fmt.Fprintf(os.Stderr, "bench: %6d/%d Services (%.0f/s)\n", n, others, float64(n)/time.Since(started).Seconds())
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	d := time.Since(started)
	fmt.Fprintf(os.Stderr, "bench: loaded in %s\n", d.Round(100*time.Millisecond))
	return d, nil
}

// related creates an EndpointSlice (three ready endpoints) and an Event of the ELB controller
// for the Service name in ns.
func related(ctx context.Context, cs kubernetes.Interface, ns, name string, i int) error {
	ready := true
	port, proto, portName := int32(8080), corev1.ProtocolTCP, "http"
	var eps []discoveryv1.Endpoint
	for k := 0; k < 3; k++ {
		eps = append(eps, discoveryv1.Endpoint{Addresses: []string{fmt.Sprintf("172.16.%d.%d", (3*i+k)/250%250, 1+(3*i+k)%250)},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready}})
	}
	es := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: name + "-abcde", Labels: map[string]string{discoveryv1.LabelServiceName: name}},
		AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps,
		Ports: []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, es, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating endpointslice %s/%s: %w", ns, es.Name, err)
	}
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name + ".elb"},
		InvolvedObject: corev1.ObjectReference{APIVersion: "v1", Kind: "Service", Namespace: ns, Name: name},
		Reason:         "EnsuredLoadBalancer", Type: corev1.EventTypeNormal, Message: "Ensured load balancer",
		Source: corev1.EventSource{Component: "hws-cloudprovider"}, Count: 1, FirstTimestamp: now, LastTimestamp: now,
	}
	if _, err := cs.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating event %s/%s: %w", ns, ev.Name, err)
	}
	return nil
}

// mix is the population of big's other Services: test/bench/scan's (benchkit).
func (b *bench) mix() benchkit.Mix {
	return benchkit.Mix{Services: b.services, LocalPercent: localPercent, Namespace: func(int) string { return nsBig }}
}

// webService is the Service svc is asked about: the README's example (a shared ELB created by
// CCE, externalTrafficPolicy Local), without elb.id.
func webService(ns string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns,
			Name:      web,
			Labels:    map[string]string{"app": web},
			Annotations: map[string]string{
				"kubernetes.io/elb.class":      "union",
				"kubernetes.io/elb.autocreate": `{"type":"public","bandwidth_name":"cce-bandwidth","bandwidth_chargemode":"traffic","bandwidth_size":5,"bandwidth_sharetype":"PER","eip_type":"5_bgp","name":"web"}`,
			},
		},
		Spec: corev1.ServiceSpec{
			Type:                  corev1.ServiceTypeLoadBalancer,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyLocal,
			Selector:              map[string]string{"app": web},
			Ports:                 []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080), Protocol: corev1.ProtocolTCP}},
		},
		Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "192.168.10.36"}}}},
	}
}

// command is one measured command line.
type command struct {
	name  string
	short string // in the progress lines
	path  string
	args  []string
	codes []int  // exit codes that mean success besides 0
	check string // in the warm-up run's output
	runs  []measurement
}

type measurement struct {
	wall, cpu time.Duration // cpu: user + sys of the command and its children (kubectl runs the plugin)
}

// median is the median of each measure on its own.
func (c *command) median() measurement {
	med := func(get func(measurement) time.Duration) time.Duration {
		v := make([]time.Duration, len(c.runs))
		for i, m := range c.runs {
			v[i] = get(m)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return measurement{
		wall: med(func(m measurement) time.Duration { return m.wall }),
		cpu:  med(func(m measurement) time.Duration { return m.cpu }),
	}
}

func (c *command) wallRange() (time.Duration, time.Duration) {
	lo, hi := c.runs[0].wall, c.runs[0].wall
	for _, m := range c.runs {
		lo, hi = min(lo, m.wall), max(hi, m.wall)
	}
	return lo, hi
}

// exec runs c with the plugin on PATH and the admin kubeconfig, stdout to out (nil: discarded),
// and returns its wall time and CPU time.
func (b *bench) exec(ctx context.Context, c *command, out *bytes.Buffer) (measurement, error) {
	cmd := exec.CommandContext(ctx, c.path, c.args...)
	cmd.Env = []string{
		"PATH=" + b.binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + b.home,
		"KUBECONFIG=" + b.c.AdminKubeconfig,
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out != nil {
		cmd.Stdout = out
	} else {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return measurement{}, err
		}
		defer null.Close()
		cmd.Stdout = null // an *os.File: the command writes to it directly, no copying here
	}
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !(errors.As(err, &exitErr) && slices.Contains(c.codes, exitErr.ExitCode())) {
		return measurement{}, fmt.Errorf("%s: %v\n%s", c.name, err, strings.TrimSpace(stderr.String()))
	}
	return measurement{wall: wall, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}, nil
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func ms(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }
