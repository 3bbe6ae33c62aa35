package cluster

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// KubernetesVersion is the version of kube-apiserver and kubectl the harness builds.
const KubernetesVersion = "v1.37.2"

// EtcdVersion is the version of etcd the harness builds.
const EtcdVersion = "v3.6.16"

// KubectlEnv names the environment variable that, when set, overrides the path of the
// kubectl binary returned by Binaries (the harness then does not build kubectl).
const KubectlEnv = "ELBFIX_TEST_KUBECTL"

// heartbeatInterval is how often a long build prints a "still building" line.
const heartbeatInterval = 30 * time.Second

// Paths holds the absolute paths of the server and client binaries used by the harness.
type Paths struct {
	APIServer string
	Etcd      string
	Kubectl   string
}

// Binaries builds (on first use) and returns kube-apiserver, etcd and kubectl. The binaries
// are cached outside the repository in $XDG_CACHE_HOME/kubectl-elbfix-test (or
// ~/.cache/kubectl-elbfix-test), keyed by the wrapper modules' sources, the Go version and
// the link flags, so a change to any of them rebuilds. Concurrent callers, also in other
// processes, build each binary only once. Progress is written to log (may be nil).
func Binaries(ctx context.Context, log io.Writer) (Paths, error) {
	return binaries(ctx, log, KubernetesVersion)
}

// binaries is Binaries with a kube-apiserver reporting gitVersion.
func binaries(ctx context.Context, log io.Writer, gitVersion string) (Paths, error) {
	var p Paths
	var err error
	if p.APIServer, err = APIServerWithVersion(ctx, log, gitVersion); err != nil {
		return Paths{}, err
	}
	if p.Etcd, err = buildCached(ctx, log, buildSpec{
		name:    "etcd",
		version: EtcdVersion,
		module:  "etcd",
		pkg:     ".",
	}); err != nil {
		return Paths{}, err
	}
	if env := os.Getenv(KubectlEnv); env != "" {
		path, err := exec.LookPath(env) // a bare name is looked up in PATH
		if err == nil {
			path, err = filepath.Abs(path)
		}
		if err != nil {
			return Paths{}, fmt.Errorf("%s=%q: %w", KubectlEnv, env, err)
		}
		p.Kubectl = path
		return p, nil
	}
	if p.Kubectl, err = buildCached(ctx, log, buildSpec{
		name:    "kubectl",
		version: KubernetesVersion,
		module:  "k8s",
		pkg:     "./cmd/kubectl",
		ldflags: versionLDFlags(KubernetesVersion, "1", "37"),
	}); err != nil {
		return Paths{}, err
	}
	return p, nil
}

var gitVersionRE = regexp.MustCompile(`^v(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$`)

// APIServerWithVersion returns a kube-apiserver binary that reports gitVersion from /version
// (for example "v1.37.2-r0-37.0.1", the way CCE reports itself). gitMajor and gitMinor are
// derived from gitVersion. Each version is linked once and cached; relinking reuses the Go
// build cache, so only the first build of the server is slow. The server refuses to emulate
// older minors, so only v1.37.x strings give a working server.
func APIServerWithVersion(ctx context.Context, log io.Writer, gitVersion string) (string, error) {
	m := gitVersionRE.FindStringSubmatch(gitVersion)
	if m == nil {
		return "", fmt.Errorf("invalid kube-apiserver gitVersion %q: want vMAJOR.MINOR.PATCH[-suffix]", gitVersion)
	}
	return buildCached(ctx, log, buildSpec{
		name:    "kube-apiserver",
		version: gitVersion,
		module:  "k8s",
		pkg:     "./cmd/kube-apiserver",
		ldflags: versionLDFlags(gitVersion, m[1], m[2]),
	})
}

func versionLDFlags(gitVersion, major, minor string) string {
	const p = "k8s.io/component-base/version."
	return fmt.Sprintf("-X %sgitVersion=%s -X %sgitMajor=%s -X %sgitMinor=%s", p, gitVersion, p, major, p, minor)
}

// buildSpec describes one binary built from a wrapper module under servers/.
type buildSpec struct {
	name    string // binary name, e.g. "kube-apiserver"
	version string // for messages and the cached file name
	module  string // directory under servers/
	pkg     string // package to build, relative to the module
	ldflags string
}

// serversDir returns the directory holding the wrapper modules, found next to this file.
func serversDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || file == "" {
		return "", errors.New("cannot locate test/cluster sources (runtime.Caller failed)")
	}
	dir := filepath.Join(filepath.Dir(file), "servers")
	if _, err := os.Stat(filepath.Join(dir, "k8s", "go.mod")); err != nil {
		return "", fmt.Errorf("wrapper modules not found next to %s (built with -trimpath?): %w", file, err)
	}
	return dir, nil
}

// CacheDir returns the directory where the harness caches binaries.
func CacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("cannot find a cache directory (XDG_CACHE_HOME and HOME unset): %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	return filepath.Join(base, "kubectl-elbfix-test"), nil
}

// goTool returns the go command to build with.
func goTool() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go") //nolint:staticcheck // SA1019: the last fallback, after PATH and the known install paths
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", errors.New("the go command is needed to build the test servers but was not found in PATH or $GOROOT/bin")
}

var (
	goVersionOnce sync.Once
	goVersionOut  string
	goVersionErr  error
)

func goVersion(goBin string) (string, error) {
	goVersionOnce.Do(func() {
		out, err := exec.Command(goBin, "version").Output()
		if err != nil {
			goVersionErr = fmt.Errorf("%s version: %w", goBin, err)
			return
		}
		goVersionOut = strings.TrimSpace(string(out))
	})
	return goVersionOut, goVersionErr
}

// sourceHash hashes the files of a wrapper module that determine what gets built.
func sourceHash(moduleDir string) (string, error) {
	var files []string
	err := filepath.WalkDir(moduleDir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch name := d.Name(); {
		case name == "go.mod", name == "go.sum", strings.HasSuffix(name, ".go"):
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(moduleDir, f)
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

var safeNameRE = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// buildCached returns the cached binary for spec, building it if needed.
func buildCached(ctx context.Context, log io.Writer, spec buildSpec) (string, error) {
	if log == nil {
		log = io.Discard
	}
	servers, err := serversDir()
	if err != nil {
		return "", err
	}
	moduleDir := filepath.Join(servers, spec.module)
	goBin, err := goTool()
	if err != nil {
		return "", err
	}
	gv, err := goVersion(goBin)
	if err != nil {
		return "", err
	}
	src, err := sourceHash(moduleDir)
	if err != nil {
		return "", fmt.Errorf("hashing %s: %w", moduleDir, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "src=%s\ngo=%s\npkg=%s\nldflags=%s\nos=%s/%s\n", src, gv, spec.pkg, spec.ldflags, runtime.GOOS, runtime.GOARCH)
	key := hex.EncodeToString(h.Sum(nil))[:16]

	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", fmt.Errorf("creating cache directory: %w", err)
	}
	target := filepath.Join(cache, fmt.Sprintf("%s-%s-%s", spec.name, safeNameRE.ReplaceAllString(spec.version, "_"), key))
	if isExecutable(target) {
		return target, nil
	}

	// Serialize builders of this binary across processes (go test ./... runs packages in
	// parallel, and each may start a cluster).
	unlock, err := lockFile(ctx, target+".lock", log, spec.name)
	if err != nil {
		return "", err
	}
	defer unlock()
	if isExecutable(target) { // built by someone else while we waited
		return target, nil
	}

	msg := "this takes a while on a cold Go build cache"
	if spec.name == "kube-apiserver" {
		msg = "first run takes ~5 minutes"
	}
	fmt.Fprintf(log, "building %s %s (%s, cached in %s)\n", spec.name, spec.version, msg, cache)
	start := time.Now()

	tmp, err := os.CreateTemp(cache, "."+spec.name+"-*.tmp")
	if err != nil {
		return "", err
	}
	tmpName := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpName) // no-op after a successful rename

	args := []string{"build", "-C", moduleDir, "-o", tmpName}
	if spec.ldflags != "" {
		args = append(args, "-ldflags", spec.ldflags)
	}
	args = append(args, spec.pkg)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-buildvcs=false", "GO111MODULE=on")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out

	done := make(chan struct{})
	go func() {
		t := time.NewTicker(heartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(log, "  still building %s %s (%s elapsed)\n", spec.name, spec.version, time.Since(start).Round(time.Second))
			}
		}
	}()
	err = cmd.Run()
	close(done)
	if err != nil {
		if ctx.Err() != nil {
			return "", fmt.Errorf("building %s: %w", spec.name, ctx.Err())
		}
		return "", fmt.Errorf("building %s %s failed: go %s: %w\n%s", spec.name, spec.version, strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	if err := os.Chmod(tmpName, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmpName, target); err != nil {
		return "", fmt.Errorf("installing %s into the cache: %w", spec.name, err)
	}
	fmt.Fprintf(log, "built %s %s in %s\n", spec.name, spec.version, time.Since(start).Round(time.Second))
	return target, nil
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// lockFile takes an exclusive flock on path, waiting (and telling log) if another process
// holds it. The lock is released by the returned function or when the process exits.
func lockFile(ctx context.Context, path string, log io.Writer, what string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	unlock := func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) // closing the file unlocks it anyway
		f.Close()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return unlock, nil
	}
	fmt.Fprintf(log, "waiting for another process building %s (lock %s)\n", what, path)
	start := time.Now()
	lastNote := start
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return unlock, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if time.Since(lastNote) >= heartbeatInterval {
			fmt.Fprintf(log, "  still waiting for %s build by another process (%s elapsed)\n", what, time.Since(start).Round(time.Second))
			lastNote = time.Now()
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the %s build lock: %w", what, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}
