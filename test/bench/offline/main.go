// Command offline compares the offline speed of `kubectl-elbfix svc -f` with kube-score
// v1.20.0 on the same input, in one process: one YAML file holding N LoadBalancer Services
// (documents separated by ---) and a directory of N files holding one Service each.
//
//	go run ./test/bench/offline [-services 5000] [-runs 5] [-stream 50000] [-profile DIR]
//
// kube-score is built once with `go install github.com/zegl/kube-score/cmd/kube-score@v1.20.0`
// into $XDG_CACHE_HOME (or ~/.cache)/kubectl-elbfix-tools/kube-score-v1.20.0 and reused; the
// plugin is built as the release builds it (benchkit.Build). Each of the four commands runs
// once as a warm-up (its output checked), then -runs rounds run the four in turn, so that drift
// in the machine's load falls on all of them alike. The table gives the median wall time and
// the median user+sys CPU time of each; the ratios elbfix/kube-score are printed against the
// issue's goal (no slower: <= 1.0x), never asserted.
//
// Then the memory of a stream: -stream Services (the same mix, one YAML stream) piped to
// `kubectl-elbfix svc -f - -o manifest` on stdin, run twice through the launcher
// test/bench/rusage (whose peak RSS is the child's own); the larger peak RSS is printed, with
// its share a Service, against streamBound.
//
// With -profile DIR, the plugin's two runs are also made in-process (the same cobra command,
// output discarded), three times each under the CPU profiler: DIR/file.cpu.pprof and
// DIR/dir.cpu.pprof, and their allocation profiles DIR/file.allocs.pprof and DIR/dir.allocs.pprof,
// for `go tool pprof -top DIR/file.cpu.pprof`. Process start-up is not in them.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	elbfixcmd "github.com/kubectl-elbfix/kubectl-elbfix/pkg/cmd"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/bench/internal/benchkit"
)

const (
	kubeScoreVersion = "v1.20.0"
	kubeScorePkg     = "github.com/zegl/kube-score/cmd/kube-score"
	self             = "./test/bench/offline"
)

// The plugin's offline flags: the cluster facts it cannot detect without a cluster.
var elbfixFlags = []string{"--cluster-version", "v1.25.5-r0", "--network-model", "vpc", "--proxy-mode", "ipvs", "-o", "manifest"}

// kube-score's flags: the ci format (one line per finding, no colour or terminal detection).
var kubeScoreFlags = []string{"--output-format", "ci"}

func main() {
	services := flag.Int("services", 5000, "number of Services (documents in the file, files in the directory)")
	runs := flag.Int("runs", 5, "timed runs of each command after one warm-up (the median is reported)")
	stream := flag.Int("stream", 50000, "Services in the stdin stream whose peak memory is measured (0: skip)")
	profileDir := flag.String("profile", "", "also profile the plugin's runs in-process: write FILE.cpu.pprof and FILE.allocs.pprof (file, dir) to this directory")
	flag.Parse()
	if *services < 1 || *runs < 1 || *stream < 0 {
		fmt.Fprintln(os.Stderr, "offline: -services and -runs must be at least 1, -stream at least 0")
		os.Exit(2)
	}
	if err := run(context.Background(), *services, *runs, *stream, *profileDir); err != nil {
		fmt.Fprintln(os.Stderr, "offline:", err)
		os.Exit(1)
	}
}

// bench is one command under measurement.
type bench struct {
	input, tool string
	path        string   // the binary
	args        []string // its arguments
	dir         string   // its working directory ("" for this process's)
	okExit      []int    // the exit codes that mean it ran through
	shown       string   // the command as the report prints it
	check       func(stdout []byte) error
	wall, cpu   []time.Duration
}

func run(ctx context.Context, n, runs, stream int, profileDir string) error {
	root, err := benchkit.ModuleRoot(self)
	if err != nil {
		return err
	}
	kubeScore, built, err := kubeScoreBinary(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "elbfix-offline-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	elbfix := filepath.Join(tmp, "kubectl-elbfix")
	if err := benchkit.Build(ctx, root, "./cmd/kubectl-elbfix", elbfix); err != nil {
		return err
	}
	file, dir, names, err := writeInputs(tmp, n)
	if err != nil {
		return err
	}

	// kube-score takes files, not directories: the directory case passes every file as an
	// argument, relative to the directory (run there) to keep the argument list short.
	argBytes := 0
	for _, a := range names {
		argBytes += len(a) + 1
	}
	elbfixCheck := func(out []byte) error { return countServices(out, n) }
	ksCheck := func(out []byte) error { return countKubeScoreObjects(out, n) }
	benches := []*bench{
		{input: "file", tool: "kubectl-elbfix", path: elbfix, okExit: []int{0}, check: elbfixCheck,
			args:  append([]string{"svc", "-f", file}, elbfixFlags...),
			shown: fmt.Sprintf("%s svc -f %s %s > /dev/null", elbfix, file, strings.Join(elbfixFlags, " "))},
		{input: "file", tool: "kube-score", path: kubeScore, okExit: []int{0, 1}, check: ksCheck,
			args:  append(append([]string{"score"}, kubeScoreFlags...), file),
			shown: fmt.Sprintf("%s score %s %s > /dev/null", kubeScore, strings.Join(kubeScoreFlags, " "), file)},
		{input: "dir", tool: "kubectl-elbfix", path: elbfix, okExit: []int{0}, check: elbfixCheck,
			args:  append([]string{"svc", "-f", dir}, elbfixFlags...),
			shown: fmt.Sprintf("%s svc -f %s %s > /dev/null", elbfix, dir, strings.Join(elbfixFlags, " "))},
		{input: "dir", tool: "kube-score", path: kubeScore, okExit: []int{0, 1}, check: ksCheck, dir: dir,
			args: append(append([]string{"score"}, kubeScoreFlags...), names...),
			shown: fmt.Sprintf("(cd %s && %s score %s %s ... %s > /dev/null)   # %d file arguments, %d bytes",
				dir, kubeScore, strings.Join(kubeScoreFlags, " "), names[0], names[len(names)-1], len(names), argBytes)},
	}

	loadStart := benchkit.LoadAvg() // after the builds, before the first run
	// One warm-up each, its output checked: every Service planned / scored.
	for _, b := range benches {
		out, _, _, err := b.once(true)
		if err != nil {
			return err
		}
		if err := b.check(out); err != nil {
			return fmt.Errorf("%s on the %s: %w", b.tool, b.input, err)
		}
	}
	for r := 0; r < runs; r++ {
		for _, b := range benches {
			_, wall, cpu, err := b.once(false)
			if err != nil {
				return err
			}
			b.wall, b.cpu = append(b.wall, wall), append(b.cpu, cpu)
		}
	}
	loadEnd := benchkit.LoadAvg()

	fmt.Printf("offline speed: %d Services, median of %d runs after one warm-up each (rounds interleaved)\n", n, runs)
	fmt.Printf("go %s %s/%s, %d CPUs; load average (1 min) %s at start, %s at end\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), loadStart, loadEnd)
	how := "reused from the cache"
	if built {
		how = "built now"
	}
	fmt.Printf("kube-score %s: %s (%s)\n\n", kubeScoreVersion, kubeScore, how)
	fmt.Println("commands:")
	for _, b := range benches {
		fmt.Printf("  %-4s %-14s %s\n", b.input, b.tool, b.shown)
	}
	fmt.Println()
	fmt.Printf("%-5s %-15s %12s %12s %12s %12s\n", "input", "tool", "wall median", "wall min", "wall max", "cpu median")
	for _, b := range benches {
		fmt.Printf("%-5s %-15s %12s %12s %12s %12s\n", b.input, b.tool,
			ms(median(b.wall)), ms(slices.Min(b.wall)), ms(slices.Max(b.wall)), ms(median(b.cpu)))
	}
	fmt.Println()
	fmt.Println("ratio kubectl-elbfix / kube-score (goal: <= 1.0x)")
	for i := 0; i < len(benches); i += 2 {
		e, k := benches[i], benches[i+1]
		rw := ratio(median(e.wall), median(k.wall))
		rc := ratio(median(e.cpu), median(k.cpu))
		fmt.Printf("  %-4s  wall %6.2fx %-4s   cpu %6.2fx %s\n", e.input, rw, verdict(rw), rc, verdict(rc))
	}
	if stream > 0 {
		if err := measureStream(ctx, root, tmp, elbfix, stream); err != nil {
			return err
		}
	}
	if profileDir == "" {
		return nil
	}
	for _, b := range benches {
		if b.tool == "kubectl-elbfix" {
			if err := b.profile(profileDir); err != nil {
				return err
			}
		}
	}
	return nil
}

// profile runs the plugin's code in-process (pkg/cmd.Execute with the same arguments, output
// discarded) three times under the CPU profiler, then writes the allocation profile.
func (b *bench) profile(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	cpuPath := filepath.Join(dir, b.input+".cpu.pprof")
	allocsPath := filepath.Join(dir, b.input+".allocs.pprof")
	f, err := os.Create(cpuPath)
	if err != nil {
		return err
	}
	defer f.Close()
	var stderr bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: io.Discard, ErrOut: &stderr}
	const n = 3
	fmt.Printf("\nin-process %s (pkg/cmd.Execute, output discarded), %d runs:\n", b.input, n)
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		runtime.GC()
		start := time.Now()
		code := elbfixcmd.Execute(streams, b.args)
		wall := time.Since(start)
		if code != elbfixcmd.ExitOK && code != elbfixcmd.ExitChanges {
			pprof.StopCPUProfile()
			return fmt.Errorf("in-process run on the %s exited %d: %s", b.input, code, tail(stderr.String()))
		}
		fmt.Printf("  run %d: %.1f ms wall\n", i+1, float64(wall)/float64(time.Millisecond))
	}
	pprof.StopCPUProfile()
	if err := writeAllocs(allocsPath); err != nil {
		return err
	}
	fmt.Printf("profiles: go tool pprof -top %s\n          go tool pprof -sample_index=alloc_space -top %s\n", cpuPath, allocsPath)
	return nil
}

// writeAllocs writes the allocation profile (since the process started) to path.
func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// once runs the command; with capture its stdout is returned, otherwise it goes to /dev/null.
func (b *bench) once(capture bool) (stdout []byte, wall, cpu time.Duration, err error) {
	cmd := exec.Command(b.path, b.args...)
	cmd.Dir = b.dir
	var out, errOut bytes.Buffer
	cmd.Stderr = &errOut
	if capture {
		cmd.Stdout = &out
	} else {
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, 0, 0, err
		}
		defer null.Close()
		cmd.Stdout = null
	}
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return nil, 0, 0, fmt.Errorf("%s on the %s: %w", b.tool, b.input, err)
	}
	if code := cmd.ProcessState.ExitCode(); !slices.Contains(b.okExit, code) {
		return nil, 0, 0, fmt.Errorf("%s on the %s: exit %d (want one of %v): %s", b.tool, b.input, code, b.okExit, tail(errOut.String()))
	}
	cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return out.Bytes(), wall, cpu, nil
}

// kubeScoreBinary returns kube-score's path in the tools cache, installing it there first
// unless it is present; built tells whether it was installed now.
func kubeScoreBinary(ctx context.Context) (path string, built bool, err error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", false, fmt.Errorf("no cache directory for kube-score: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	bin := filepath.Join(cache, "kubectl-elbfix-tools", "kube-score-"+kubeScoreVersion)
	path = filepath.Join(bin, "kube-score")
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
		return path, false, nil
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", false, err
	}
	fmt.Fprintf(os.Stderr, "offline: installing %s@%s into %s\n", kubeScorePkg, kubeScoreVersion, bin)
	install := exec.CommandContext(ctx, "go", "install", kubeScorePkg+"@"+kubeScoreVersion)
	install.Dir = bin // outside this module: go install pkg@version ignores it anyway
	install.Env = append(os.Environ(), "GOBIN="+bin)
	if b, err := install.CombinedOutput(); err != nil {
		return "", false, fmt.Errorf("go install %s@%s: %v: %s", kubeScorePkg, kubeScoreVersion, err, b)
	}
	return path, true, nil
}

// writeInputs writes the N Services into tmp/services.yaml (one document each) and into
// tmp/services/svc-NNNNN.yaml (one file each); names are the latter's base names.
func writeInputs(tmp string, n int) (file, dir string, names []string, err error) {
	mix := newMix(n)
	file = filepath.Join(tmp, "services.yaml")
	dir = filepath.Join(tmp, "services")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", "", nil, err
	}
	var all bytes.Buffer
	for i := 0; i < n; i++ {
		b, err := serviceYAML(mix, i)
		if err != nil {
			return "", "", nil, err
		}
		if i > 0 {
			all.WriteString("---\n")
		}
		all.Write(b)
		name := fmt.Sprintf("svc-%05d.yaml", i)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", "", nil, err
		}
		names = append(names, name)
	}
	return file, dir, names, os.WriteFile(file, all.Bytes(), 0o644)
}

// newMix is the mix of n Services of the inputs: test/bench/scan's, over 20 namespaces.
func newMix(n int) benchkit.Mix {
	return benchkit.Mix{Services: n, LocalPercent: 40, Namespace: func(i int) string { return fmt.Sprintf("team-%02d", i%20) }}
}

// serviceYAML is the i-th Service of mix as a YAML document.
func serviceYAML(mix benchkit.Mix, i int) ([]byte, error) {
	svc := mix.Service(i)
	svc.APIVersion, svc.Kind = "v1", "Service"
	return yaml.Marshal(svc)
}

// countServices checks that the plugin's -o manifest output holds the n Services.
func countServices(out []byte, n int) error {
	got := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "kind: Service" {
			got++
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if got != n {
		return fmt.Errorf("-o manifest wrote %d Services, want %d", got, n)
	}
	return nil
}

// countKubeScoreObjects checks that kube-score's ci output names the n Services: its lines read
// "[LEVEL] NAME/NAMESPACE v1/Service: ...".
func countKubeScoreObjects(out []byte, n int) error {
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 3 && strings.HasPrefix(f[2], "v1/Service") {
			seen[f[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(seen) != n {
		return fmt.Errorf("the ci output names %d Services, want %d", len(seen), n)
	}
	return nil
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ratio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func verdict(r float64) string {
	if r > 0 && r <= 1.0 {
		return "ok"
	}
	return "MISS"
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// tail is the end of a command's stderr, for an error message.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 2000 {
		s = "..." + s[len(s)-2000:]
	}
	return s
}

// streamBound is the stated memory bound of svc -f - -o manifest on a stream: peak RSS at most
// streamBaseMiB plus streamPerServiceKiB a Service of the stream. It grows with the stream:
// the manifests are written in the stream's order once it has ended (a later document may
// change an earlier one: a companion on its ELB), so the text, a record of each document and
// each Service's patch are kept, and what the shared-ELB rule reads of each Service with an
// elb.id; the decoded Services and their trees are not (manifest.ReadStream).
const (
	streamBaseMiB       = 64
	streamPerServiceKiB = 10
)

// measureStream writes n Services as one YAML stream and runs `svc -f - -o manifest` on it from
// stdin twice, through the rusage launcher, and prints the peak RSS against streamBound.
func measureStream(ctx context.Context, root, tmp, elbfix string, n int) error {
	launcher := filepath.Join(tmp, "rusage")
	if err := benchkit.Build(ctx, root, "./test/bench/rusage", launcher); err != nil {
		return err
	}
	mix := newMix(n)
	path := filepath.Join(tmp, "stream.yaml")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i := 0; i < n; i++ {
		b, err := serviceYAML(mix, i)
		if err != nil {
			return err
		}
		if i > 0 {
			_, _ = w.WriteString("---\n")
		}
		_, _ = w.Write(b)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	args := append([]string{"svc", "-f", "-"}, elbfixFlags...)
	var peak int64
	var walls []time.Duration
	for range 2 {
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		result := filepath.Join(tmp, "stream-rusage.json")
		cmd := exec.CommandContext(ctx, launcher, append([]string{result, elbfix}, args...)...)
		var out, stderr bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = in, &out, &stderr
		err = cmd.Run()
		in.Close()
		if err != nil {
			return fmt.Errorf("svc -f - on the stream: %v\n%s", err, stderr.String())
		}
		var ru struct {
			WallNs    int64 `json:"wallNs"`
			MaxRSSKiB int64 `json:"maxRSSKiB"`
			ExitCode  int   `json:"exitCode"`
		}
		b, err := os.ReadFile(result)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &ru); err != nil {
			return err
		}
		if ru.ExitCode != 0 {
			return fmt.Errorf("svc -f - on the stream exited %d:\n%s", ru.ExitCode, stderr.String())
		}
		if err := countServices(out.Bytes(), n); err != nil {
			return fmt.Errorf("svc -f - on the stream: %w", err)
		}
		peak = max(peak, ru.MaxRSSKiB)
		walls = append(walls, time.Duration(ru.WallNs))
	}
	bound := int64(streamBaseMiB*1024 + streamPerServiceKiB*n)
	fmt.Printf("\nmemory on a stream: %d Services (%.1f MB of YAML) from stdin: %s svc -f - %s < stream.yaml\n",
		n, float64(st.Size())/1e6, elbfix, strings.Join(elbfixFlags, " "))
	fmt.Printf("  peak RSS %.0f MiB (the larger of 2 runs; %.1f KiB a Service), wall %s and %s\n",
		float64(peak)/1024, float64(peak)/float64(n), ms(walls[0]), ms(walls[1]))
	v := "MISS"
	if peak <= bound {
		v = "ok"
	}
	fmt.Printf("  bound %d MiB + %d KiB a Service = %.0f MiB: %s\n", streamBaseMiB, streamPerServiceKiB, float64(bound)/1024, v)
	return nil
}
