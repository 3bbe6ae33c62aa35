// Command scan is the benchmark of `kubectl elbfix scan` (`make bench`). It starts the test
// cluster of package test/cluster (a real kube-apiserver + etcd on 127.0.0.1), loads
// LoadBalancer Services (10,000 by default: allocateLoadBalancerNodePorts false, a mix of ELB
// classes, traffic policies and pass-through values over 20 namespaces, with their ELB status),
// then times, as child processes measured the same way (wall time, CPU time and peak RSS from
// the child's rusage, taken by the small launcher test/bench/rusage so that this process's own
// memory does not count):
//
//	kubectl elbfix scan -A -o json   the plugin, through the real kubectl, as a user runs it
//	kubectl-elbfix scan -A -o json   the plugin alone (no kubectl in front), for reference
//	kubectl get svc -A -o json       what the plugin is compared with
//	raw protobuf LIST                this program re-executed with --raw-list: a paged
//	                                 (limit 500) protobuf LIST of every Service with client-go,
//	                                 decoded into typed objects and kept, no rate limit: the floor
//
// Each command runs once to warm up (its output is checked: every Service is there), then
// -runs times, round-robin; the table shows the medians, and PASS/MISS for the targets of
// issue #5: scan within 2x the raw LIST's wall time, at least 5x faster than kubectl get, and a
// lower peak memory than kubectl get. A MISS is reported, not an error: the exit code is
// non-zero only when something fails to run.
//
// With -profile DIR it then runs scan's code in-process (pkg/cmd.Execute, output discarded)
// under the CPU profiler, prints where each run's wall time went (API requests, client-side
// rate limiting, the rest) and its Go heap peak, and writes DIR/scan.cpu.pprof and
// DIR/scan.allocs.pprof, for `go tool pprof -top DIR/scan.cpu.pprof`.
//
// Loading 10,000 Services takes minutes: kube-apiserver v1.37 scans every IPAddress object
// twice for each ClusterIP it allocates (ipallocator.Allocator.Used, for its metrics), so the
// load is quadratic. -keep keeps the loaded cluster running, and -kubeconfig benchmarks one
// again without loading.
//
//	go run ./test/bench/scan [-services 10000] [-namespaces 20] [-runs 5] [-local-percent 40]
//	                         [-profile DIR] [-keep | -kubeconfig FILE]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientmetrics "k8s.io/client-go/tools/metrics"
	"k8s.io/client-go/tools/pager"

	elbfixcmd "github.com/kubectl-elbfix/kubectl-elbfix/pkg/cmd"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/bench/internal/benchkit"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
)

const (
	// pageSize is scan's LIST page size (pkg/cmd/scan.go), used by the raw LIST too.
	pageSize = 500
	// workers create the Services concurrently, as test/e2e's bulkServices does.
	workers = 16
	// nodePortRange leaves room for the health-check NodePorts of the Local Services (the
	// default range, 30000-32767, holds 2,768).
	nodePortRange = "20000-40000"
)

// The targets of issue #5, item 5.
const (
	targetVsFloor   = 2.0 // scan's wall time at most this times the raw LIST's
	targetVsKubectl = 5.0 // kubectl get's wall time at least this times scan's
)

func main() {
	rawList := flag.String("raw-list", "", "internal: LIST every Service with this kubeconfig (protobuf, pages of 500), print the count and exit")
	services := flag.Int("services", 10000, "LoadBalancer Services to load")
	namespaces := flag.Int("namespaces", 20, "namespaces to spread them over")
	runs := flag.Int("runs", 5, "measured runs of each command (after one warm-up run)")
	localPercent := flag.Int("local-percent", 40, "percentage of Services with externalTrafficPolicy Local")
	profileDir := flag.String("profile", "", "also profile scan in-process: write scan.cpu.pprof and scan.allocs.pprof to this directory")
	keep := flag.Bool("keep", false, "keep the cluster running at the end (until interrupted), to rerun with -kubeconfig")
	kubeconfig := flag.String("kubeconfig", "", "benchmark the Services already in this cluster (e.g. one kept with -keep) instead of starting and loading one")
	flag.Parse()
	if flag.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments: %v", flag.Args()))
	}
	if *rawList != "" {
		n, err := listAll(context.Background(), *rawList)
		if err != nil {
			fail(err)
		}
		fmt.Println(n)
		return
	}
	if *services < 1 || *namespaces < 1 || *runs < 1 || *localPercent < 0 || *localPercent > 100 {
		fail(errors.New("-services, -namespaces and -runs must be positive, -local-percent within 0..100"))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{services: *services, namespaces: *namespaces, runs: *runs, localPercent: *localPercent, profileDir: *profileDir,
		keep: *keep, kubeconfig: *kubeconfig}
	if err := b.run(ctx); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench: error:", err)
	os.Exit(2)
}

// listAll is the floor: a paged protobuf LIST of every Service, decoded and kept in memory (as
// scan keeps them), with client-side rate limiting off.
func listAll(ctx context.Context, kubeconfig string) (int, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return 0, err
	}
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.QPS, cfg.Burst = -1, 0
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	var all []*corev1.Service
	p := pager.New(func(ctx context.Context, opts metav1.ListOptions) (runtimeapi.Object, error) {
		return cs.CoreV1().Services("").List(ctx, opts)
	})
	p.PageSize = pageSize
	err = p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtimeapi.Object) error {
		all = append(all, obj.(*corev1.Service))
		return nil
	})
	return len(all), err
}

type bench struct {
	services, namespaces, runs, localPercent int
	profileDir                               string
	keep                                     bool
	kubeconfig                               string // reuse this cluster: no start, no load

	c      *cluster.Cluster
	binDir string // kubectl (a link to the harness's), kubectl-elbfix
	home   string // HOME of the children (kubectl's discovery cache)
	total  int    // Services in the cluster after loading (the "kubernetes" Service too)
}

func (b *bench) run(ctx context.Context) error {
	root, err := benchkit.ModuleRoot("./test/bench/scan")
	if err != nil {
		return err
	}
	var cleanup func()
	if b.binDir, b.home, cleanup, err = benchkit.Workdir("elbfix-bench-"); err != nil {
		return err
	}
	defer cleanup()
	fmt.Fprintf(os.Stderr, "bench: building kubectl-elbfix (CGO_ENABLED=0, -trimpath -ldflags '-s -w', as the release) and the rusage launcher\n")
	for name, pkg := range map[string]string{"kubectl-elbfix": "./cmd/kubectl-elbfix", "rusage": "./test/bench/rusage"} {
		if err := benchkit.Build(ctx, root, pkg, filepath.Join(b.binDir, name)); err != nil {
			return err
		}
	}

	if b.kubeconfig != "" {
		if b.c, err = existing(ctx, b.kubeconfig); err != nil {
			return err
		}
		b.services = 0 // none loaded by this run
	} else {
		fmt.Fprintf(os.Stderr, "bench: starting kube-apiserver + etcd (--service-node-port-range=%s)\n", nodePortRange)
		started := time.Now()
		b.c, err = cluster.Start(ctx, cluster.Options{Log: os.Stderr, ExtraAPIServerArgs: []string{"--service-node-port-range=" + nodePortRange}})
		if err != nil {
			return fmt.Errorf("starting the test cluster: %w", err)
		}
		defer b.c.Stop()
		fmt.Fprintf(os.Stderr, "bench: cluster ready in %s at %s\n", time.Since(started).Round(100*time.Millisecond), b.c.Server)
		if err := b.load(ctx); err != nil {
			return err
		}
	}
	if err := os.Symlink(b.c.Kubectl, filepath.Join(b.binDir, "kubectl")); err != nil {
		return err
	}
	if b.total, err = listAll(ctx, b.c.AdminKubeconfig); err != nil {
		return fmt.Errorf("counting the Services: %w", err)
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmds := []*command{
		{name: "raw protobuf LIST (floor)", short: "list", path: self, args: []string{"--raw-list", b.c.AdminKubeconfig}, count: countLine},
		{name: "kubectl elbfix scan -A -o json", short: "scan", path: filepath.Join(b.binDir, "kubectl"), args: []string{"elbfix", "scan", "-A", "-o", "json"}, codes: []int{0, 1}, count: countPlan},
		{name: "kubectl-elbfix scan -A -o json", short: "plugin", path: filepath.Join(b.binDir, "kubectl-elbfix"), args: []string{"scan", "-A", "-o", "json"}, codes: []int{0, 1}, count: countPlan, note: "plugin alone"},
		{name: "kubectl get svc -A -o json", short: "get", path: filepath.Join(b.binDir, "kubectl"), args: []string{"get", "svc", "-A", "-o", "json"}, count: countList},
	}
	floor, scan, direct, get := cmds[0], cmds[1], cmds[2], cmds[3]

	fmt.Fprintf(os.Stderr, "bench: warm-up run of each command (output checked: %d Services)\n", b.total)
	for _, c := range cmds {
		if err := b.warmUp(ctx, c); err != nil {
			return err
		}
	}
	load0 := benchkit.LoadAvg()
	for r := 1; r <= b.runs; r++ {
		fmt.Fprintf(os.Stderr, "bench: run %d/%d:", r, b.runs)
		for _, c := range cmds {
			m, err := b.exec(ctx, c, nil)
			if err != nil {
				return err
			}
			c.runs = append(c.runs, m)
			fmt.Fprintf(os.Stderr, " %s %.2fs", c.short, m.wall.Seconds())
		}
		fmt.Fprintln(os.Stderr)
	}

	f, s, d, g := floor.median(), scan.median(), direct.median(), get.median()
	what := fmt.Sprintf("%d LoadBalancer loaded, %d%% Local, in %d namespaces", b.services, b.localPercent, b.namespaces)
	if b.kubeconfig != "" {
		what = "already in the cluster of " + b.kubeconfig
	}
	fmt.Printf("\nscan benchmark: %d Services (%s); kube-apiserver %s on 127.0.0.1;\n%d CPUs, load average %s at the start of the runs, %s at the end; median of %d runs\n\n",
		b.total, what, cluster.KubernetesVersion, runtime.NumCPU(), load0, benchkit.LoadAvg(), b.runs)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "command\twall\tmin-max\tCPU user+sys\tpeak RSS\tvs floor\tvs kubectl get\t")
	for _, c := range cmds {
		m := c.median()
		name := c.name
		if c.note != "" {
			name += " (" + c.note + ")"
		}
		lo, hi := c.wallRange()
		fmt.Fprintf(tw, "%s\t%.2fs\t%.2f-%.2fs\t%.2fs\t%s\t%.2fx\t%.2fx\t\n", name, m.wall.Seconds(), lo.Seconds(), hi.Seconds(),
			m.cpu.Seconds(), mib(m.maxRSS), ratio(m.wall, f.wall), ratio(m.wall, g.wall))
	}
	tw.Flush()
	fmt.Println()
	verdict := func(ok bool, what string) {
		v := "MISS"
		if ok {
			v = "PASS"
		}
		fmt.Printf("%s  %s\n", v, what)
	}
	verdict(ratio(s.wall, f.wall) <= targetVsFloor, fmt.Sprintf("scan within %.0fx the raw LIST's wall time: %.2fx (%.2fs vs %.2fs; plugin alone %.2fx)",
		targetVsFloor, ratio(s.wall, f.wall), s.wall.Seconds(), f.wall.Seconds(), ratio(d.wall, f.wall)))
	verdict(ratio(g.wall, s.wall) >= targetVsKubectl, fmt.Sprintf("scan at least %.0fx faster than kubectl get svc -A -o json: %.2fx (%.2fs vs %.2fs; plugin alone %.2fx)",
		targetVsKubectl, ratio(g.wall, s.wall), s.wall.Seconds(), g.wall.Seconds(), ratio(g.wall, d.wall)))
	verdict(s.maxRSS < g.maxRSS, fmt.Sprintf("scan's peak memory below kubectl get's: %s vs %s (plugin alone %s)",
		mib(s.maxRSS), mib(g.maxRSS), mib(d.maxRSS)))
	fmt.Println("(targets of issue #5; timings are measurements, not assertions: a MISS does not fail the run)")

	if b.profileDir != "" {
		if err := b.profile(); err != nil {
			return err
		}
	}
	if b.keep && b.kubeconfig == "" {
		kc := filepath.Join(os.TempDir(), "elbfix-bench.kubeconfig")
		raw, err := os.ReadFile(b.c.AdminKubeconfig)
		if err == nil {
			err = os.WriteFile(kc, raw, 0o600)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "\nbench: the cluster keeps running until interrupted; rerun with\n  go run ./test/bench/scan -kubeconfig %s\n", kc)
		<-ctx.Done()
		os.Remove(kc)
	}
	return nil
}

// existing is a running cluster given by its admin kubeconfig, with the harness's kubectl.
func existing(ctx context.Context, kubeconfig string) (*cluster.Cluster, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	bins, err := cluster.Binaries(ctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	return &cluster.Cluster{AdminKubeconfig: kubeconfig, Kubectl: bins.Kubectl, Config: cfg, Server: cfg.Host}, nil
}

// load creates the namespaces and the Services, with their ELB status, on 16 workers.
func (b *bench) load(ctx context.Context) error {
	cfg := rest.CopyConfig(b.c.Config)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for i := 0; i < b.namespaces; i++ {
		if _, err := b.c.CreateNamespace(ctx, nsName(i)); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "bench: loading %d LoadBalancer Services into %d namespaces (%d workers)\n", b.services, b.namespaces, workers)
	started := time.Now()
	var done atomic.Int64
	var mix sync.Map // what was loaded, by kind, for the summary line
	err = benchkit.Parallel(ctx, workers, b.services, func(i int) error {
		svc := b.mix().Service(i)
		status := svc.Status
		out, err := cs.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating service %s/%s: %w", svc.Namespace, svc.Name, err)
		}
		if len(status.LoadBalancer.Ingress) > 0 {
			out.Status = status
			if _, err := cs.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, out, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("setting the status of service %s/%s: %w", svc.Namespace, svc.Name, err)
			}
		}
		key := svc.Annotations["kubernetes.io/elb.class"] + "/" + string(svc.Spec.ExternalTrafficPolicy)
		v, _ := mix.LoadOrStore(key, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
		if n := done.Add(1); n%1000 == 0 || int(n) == b.services {
			fmt.Fprintf(os.Stderr, "bench: %6d/%d Services (%.0f/s)\n", n, b.services, float64(n)/time.Since(started).Seconds())
		}
		return nil
	})
	if err != nil {
		return err
	}
	var kinds []string
	mix.Range(func(k, v any) bool {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(kinds)
	fmt.Fprintf(os.Stderr, "bench: loaded in %s; class/policy: %s\n", time.Since(started).Round(100*time.Millisecond), strings.Join(kinds, ", "))
	return nil
}

func nsName(i int) string { return fmt.Sprintf("bench-%02d", i) }

// mix is the population of Services loaded: benchkit's (the svc benchmark loads the same),
// benchkit.SharedPercent of those with an ELB id on one of benchkit.SharedELBs shared ELBs
// (about a dozen Services each), spread over the namespaces.
func (b *bench) mix() benchkit.Mix {
	return benchkit.Mix{Services: b.services, LocalPercent: b.localPercent, Namespace: func(i int) string { return nsName(i % b.namespaces) }}
}

// command is one measured command line.
type command struct {
	name  string
	short string // in the progress lines
	note  string
	path  string
	args  []string
	codes []int                            // exit codes that mean success (default 0)
	count func(stdout []byte) (int, error) // how many Services the output holds
	runs  []measurement
}

type measurement struct {
	wall   time.Duration
	cpu    time.Duration // user + sys
	maxRSS int64         // KiB
}

// median is the median of each measure on its own.
func (c *command) median() measurement {
	med := func(get func(measurement) int64) int64 {
		v := make([]int64, len(c.runs))
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
		wall:   time.Duration(med(func(m measurement) int64 { return int64(m.wall) })),
		cpu:    time.Duration(med(func(m measurement) int64 { return int64(m.cpu) })),
		maxRSS: med(func(m measurement) int64 { return m.maxRSS }),
	}
}

func (c *command) wallRange() (time.Duration, time.Duration) {
	lo, hi := c.runs[0].wall, c.runs[0].wall
	for _, m := range c.runs {
		lo, hi = min(lo, m.wall), max(hi, m.wall)
	}
	return lo, hi
}

// warmUp runs c once, capturing its output, and checks that every Service is in it.
func (b *bench) warmUp(ctx context.Context, c *command) error {
	var out bytes.Buffer
	m, err := b.exec(ctx, c, &out)
	if err != nil {
		return err
	}
	n, err := c.count(out.Bytes())
	if err != nil {
		return fmt.Errorf("%s: reading its output: %w", c.name, err)
	}
	if n != b.total {
		return fmt.Errorf("%s: %d Services in its output, want %d", c.name, n, b.total)
	}
	fmt.Fprintf(os.Stderr, "bench:   %-32s %.2fs, %s, %d Services, %s of output\n", c.name, m.wall.Seconds(), mib(m.maxRSS), n, mib(int64(out.Len()/1024)))
	return nil
}

// exec runs c through the rusage launcher (test/bench/rusage) with the plugin on PATH and the
// admin kubeconfig, stdout to out (nil: /dev/null), and returns what the launcher measured.
func (b *bench) exec(ctx context.Context, c *command, out io.Writer) (measurement, error) {
	resultFile := filepath.Join(b.home, "rusage.json")
	os.Remove(resultFile)
	cmd := exec.CommandContext(ctx, filepath.Join(b.binDir, "rusage"), append([]string{resultFile, c.path}, c.args...)...)
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
	if err := cmd.Run(); err != nil {
		return measurement{}, fmt.Errorf("%s: %v\n%s", c.name, err, strings.TrimSpace(stderr.String()))
	}
	raw, err := os.ReadFile(resultFile)
	if err != nil {
		return measurement{}, err
	}
	var r struct {
		WallNs, UserNs, SysNs, MaxRSSKiB int64
		ExitCode                         int
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return measurement{}, fmt.Errorf("reading %s: %w", resultFile, err)
	}
	if r.ExitCode != 0 && !slices.Contains(c.codes, r.ExitCode) {
		return measurement{}, fmt.Errorf("%s: exit status %d\n%s", c.name, r.ExitCode, strings.TrimSpace(stderr.String()))
	}
	return measurement{wall: time.Duration(r.WallNs), cpu: time.Duration(r.UserNs + r.SysNs), maxRSS: r.MaxRSSKiB}, nil
}

func countLine(out []byte) (int, error) { return strconv.Atoi(strings.TrimSpace(string(out))) }

func countPlan(out []byte) (int, error) {
	var doc struct {
		Kind     string            `json:"kind"`
		Services []json.RawMessage `json:"services"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return 0, err
	}
	if doc.Kind != "Plan" {
		return 0, fmt.Errorf("kind %q, want Plan", doc.Kind)
	}
	return len(doc.Services), nil
}

func countList(out []byte) (int, error) {
	var doc struct {
		Items []json.RawMessage `json:"items"`
	}
	err := json.Unmarshal(out, &doc)
	return len(doc.Items), err
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// profile runs scan's code in-process (the same cobra command the plugin runs, output
// discarded) under the CPU profiler, then writes the allocation profile. For each run it shows
// where the wall time went: client-go's own metrics give the time of each API request and the
// part of it spent waiting for the client-side rate limiter (QPS/Burst), and a sampler the
// peak of the Go heap.
func (b *bench) profile() error {
	if err := os.MkdirAll(b.profileDir, 0o755); err != nil {
		return err
	}
	cpuPath := filepath.Join(b.profileDir, "scan.cpu.pprof")
	allocsPath := filepath.Join(b.profileDir, "scan.allocs.pprof")
	f, err := os.Create(cpuPath)
	if err != nil {
		return err
	}
	defer f.Close()
	reqs := &requestTimes{}
	clientmetrics.Register(clientmetrics.RegisterOpts{RequestLatency: reqs.observer(false), RateLimiterLatency: reqs.observer(true)})

	args := []string{"scan", "-A", "-o", "json", "--kubeconfig", b.c.AdminKubeconfig}
	var stderr bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: &stderr}
	const n = 3
	fmt.Printf("\nin-process scan (pkg/cmd.Execute %s, output discarded), %d runs:\n", strings.Join(args[:4], " "), n)
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		reqs.reset()
		runtime.GC()
		peak := heapPeak()
		start := time.Now()
		code := elbfixcmd.Execute(streams, args)
		wall := time.Since(start)
		heap := peak()
		if code != elbfixcmd.ExitOK && code != elbfixcmd.ExitChanges {
			pprof.StopCPUProfile()
			return fmt.Errorf("in-process scan exited %d: %s", code, strings.TrimSpace(stderr.String()))
		}
		fmt.Printf("  run %d: %.2fs wall, Go heap peak %s; %s\n", i+1, wall.Seconds(), mib(int64(heap/1024)), reqs.summary(wall))
	}
	pprof.StopCPUProfile()
	a, err := os.Create(allocsPath)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := pprof.Lookup("allocs").WriteTo(a, 0); err != nil {
		return err
	}
	fmt.Printf("  requests of the last run (time in request, of it waiting for the client-side rate limiter):\n%s", reqs.table())
	fmt.Printf("profiles: go tool pprof -top %s\n          go tool pprof -sample_index=alloc_space -top %s\n", cpuPath, allocsPath)
	return nil
}

// heapPeak samples the Go heap (live and not yet swept objects) every millisecond until the
// returned func is called, which returns the highest value seen.
func heapPeak() func() uint64 {
	done := make(chan struct{})
	result := make(chan uint64)
	go func() {
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var peak uint64
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				result <- peak
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); return <-result }
}

// requestTimes collects client-go's request and rate limiter latencies, by verb and path.
type requestTimes struct {
	mu    sync.Mutex
	byKey map[string]*requestTime
	keys  []string
}

type requestTime struct {
	n               int
	total, throttle time.Duration
}

type latencyFunc func(ctx context.Context, verb string, u url.URL, latency time.Duration)

func (f latencyFunc) Observe(ctx context.Context, verb string, u url.URL, latency time.Duration) {
	f(ctx, verb, u, latency)
}

func (r *requestTimes) observer(throttle bool) clientmetrics.LatencyMetric {
	return latencyFunc(func(_ context.Context, verb string, u url.URL, latency time.Duration) {
		r.mu.Lock()
		defer r.mu.Unlock()
		key := verb + " " + u.Path
		t := r.byKey[key]
		if t == nil {
			t = &requestTime{}
			r.byKey[key] = t
			r.keys = append(r.keys, key)
		}
		if throttle {
			t.throttle += latency
		} else {
			t.n++
			t.total += latency
		}
	})
}

func (r *requestTimes) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byKey, r.keys = map[string]*requestTime{}, nil
}

func (r *requestTimes) summary(wall time.Duration) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n int
	var total, throttle time.Duration
	for _, t := range r.byKey {
		n, total, throttle = n+t.n, total+t.total, throttle+t.throttle
	}
	return fmt.Sprintf("%d API requests: %.2fs in requests, of it %.2fs waiting for the client-side rate limiter; %.2fs outside requests (decide, patch, JSON)",
		n, total.Seconds(), throttle.Seconds(), (wall - total).Seconds())
}

func (r *requestTimes) table() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	for _, k := range r.keys {
		t := r.byKey[k]
		fmt.Fprintf(tw, "    %s\t%d\t%.2fs\t%.2fs\n", k, t.n, t.total.Seconds(), t.throttle.Seconds())
	}
	tw.Flush()
	return sb.String()
}
