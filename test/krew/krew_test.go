// Package krew_test checks the release as a user meets it: the archives and checksums that
// `make dist` writes (GoReleaser), the krew manifest against krew's own validate-krew-manifest, and a real
// `kubectl krew install --manifest --archive`, `kubectl elbfix ...` through kubectl from krew's
// bin directory, and `kubectl krew uninstall`, all offline.
//
// `make krew-test` runs it on the dist/ that `make dist` just wrote (ELBFIX_DIST_DIR). Without
// ELBFIX_DIST_DIR (go test ./test/...) it runs `make dist` into a temporary directory first, so
// it never tests a stale dist/. krew v0.4.3 is built once from the Go module proxy and cached
// next to the test cluster's binaries; kubectl is the one the test cluster harness builds.
package krew_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-elbfix/kubectl-elbfix/test/cluster"
	"github.com/kubectl-elbfix/kubectl-elbfix/test/internal/cmdtest"
)

const (
	// KrewVersion is the krew release whose tools validate and install the manifest.
	KrewVersion = "v0.4.3"
	// DistDirEnv names the dist directory to test; `make krew-test` sets it.
	DistDirEnv = "ELBFIX_DIST_DIR"

	pluginName = "elbfix"
	binary     = "kubectl-elbfix"
	shim       = "kubectl_complete-elbfix"
	releaseURL = "https://github.com/kubectl-elbfix/kubectl-elbfix/releases/download/"
)

// platforms are the ones `make dist` builds, as os/arch.
var platforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64"}

// manifest is the part of a krew Plugin manifest the tests read.
type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		ShortDescription string `json:"shortDescription"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// dist is what `make dist` produced.
type dist struct {
	dir       string
	manifest  manifest
	checksums map[string]string // archive name → sha256
}

func (d dist) version() string { return d.manifest.Spec.Version }

func (d dist) archive(goos, goarch string) string {
	ext := ".tar.gz"
	if goos == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", binary, d.version(), goos, goarch, ext)
}

var (
	distOnce sync.Once
	distVal  dist
	distErr  error
	distTmp  string // the temporary directory `make dist` wrote to, removed after the tests
)

func TestMain(m *testing.M) {
	code := m.Run()
	if distTmp != "" {
		os.RemoveAll(distTmp)
	}
	os.Exit(code)
}

// getDist returns the dist directory under test, building it when ELBFIX_DIST_DIR is unset.
// A missing or incomplete ELBFIX_DIST_DIR fails the test: it is never skipped.
func getDist(t *testing.T) dist {
	t.Helper()
	distOnce.Do(func() {
		dir := os.Getenv(DistDirEnv)
		if dir == "" {
			tmp, err := os.MkdirTemp("", "elbfix-dist-")
			if err != nil {
				distErr = err
				return
			}
			distTmp = tmp
			dir = filepath.Join(tmp, "dist")
			fmt.Fprintf(os.Stderr, "%s is not set: building the release with `make dist DIST=%s`\n", DistDirEnv, dir)
			cmd := exec.Command("make", "-C", repoRoot(), "dist", "DIST="+dir)
			if out, err := cmd.CombinedOutput(); err != nil {
				distErr = fmt.Errorf("make dist: %v\n%s", err, out)
				return
			}
		}
		distVal, distErr = readDist(dir)
	})
	if distErr != nil {
		t.Fatal(distErr)
	}
	return distVal
}

func readDist(dir string) (dist, error) {
	d := dist{dir: dir, checksums: map[string]string{}}
	b, err := os.ReadFile(filepath.Join(dir, "krew.yaml"))
	if err != nil {
		return d, fmt.Errorf("%v: run `make dist` first (or unset %s to let the test build it)", err, DistDirEnv)
	}
	if err := yaml.Unmarshal(b, &d.manifest); err != nil {
		return d, fmt.Errorf("%s/krew.yaml: %v", dir, err)
	}
	f, err := os.Open(filepath.Join(dir, "checksums.txt"))
	if err != nil {
		return d, fmt.Errorf("%v: run `make dist` first", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			return d, fmt.Errorf("checksums.txt: line %q is not \"SHA256  NAME\"", sc.Text())
		}
		d.checksums[name] = sum
	}
	return d, sc.Err()
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// TestDistArchives: one archive per platform, listed in checksums.txt with its sha256, each
// holding exactly the binary (built for its platform, CGO off, version stamped), the
// completion shim and LICENSE.
func TestDistArchives(t *testing.T) {
	d := getDist(t)
	var names []string
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		names = append(names, d.archive(goos, goarch))
	}
	var listed []string
	for name := range d.checksums {
		listed = append(listed, name)
	}
	slices.Sort(listed)
	if want := slices.Sorted(slices.Values(names)); !slices.Equal(listed, want) {
		t.Fatalf("checksums.txt lists %v, want %v", listed, want)
	}
	license, err := os.ReadFile(filepath.Join(repoRoot(), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range platforms {
		goos, goarch, _ := strings.Cut(p, "/")
		name := d.archive(goos, goarch)
		t.Run(p, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join(d.dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != d.checksums[name] {
				t.Errorf("%s: sha256 %x, checksums.txt says %s", name, sum, d.checksums[name])
			}
			files := readArchive(t, name, b)
			exe, shimName := binary, shim
			if goos == "windows" {
				exe, shimName = binary+".exe", shim+".cmd"
			}
			var got []string
			for n, f := range files {
				got = append(got, fmt.Sprintf("%s %o", n, f.mode))
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values([]string{exe + " 755", shimName + " 755", "LICENSE 644"}))
			if !slices.Equal(got, want) {
				t.Fatalf("%s holds %v, want %v", name, got, want)
			}
			if !bytes.Equal(files["LICENSE"].data, license) {
				t.Errorf("%s: LICENSE differs from the repository's", name)
			}
			wantShim, err := os.ReadFile(filepath.Join(repoRoot(), "hack", shimName))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(files[shimName].data, wantShim) {
				t.Errorf("%s: %s differs from hack/%s", name, shimName, shimName)
			}
			bi, err := buildinfo.Read(bytes.NewReader(files[exe].data))
			if err != nil {
				t.Fatalf("%s: %s: %v", name, exe, err)
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			for k, v := range map[string]string{"GOOS": goos, "GOARCH": goarch, "CGO_ENABLED": "0", "-trimpath": "true"} {
				if settings[k] != v {
					t.Errorf("%s: %s built with %s=%q, want %q", name, exe, k, settings[k], v)
				}
			}
			// -trimpath keeps -ldflags out of the build info; the stamped string is in the data.
			if !bytes.Contains(files[exe].data, []byte(d.version())) {
				t.Errorf("%s: %s is not stamped with the version %s", name, exe, d.version())
			}
		})
	}
}

type archiveFile struct {
	mode int64
	data []byte
}

// TestManifest: dist/krew.yaml names every archive at its release URL with the sha256 of the
// file `make dist` wrote, and krew's validate-krew-manifest accepts it, as it accepts the
// committed krew.yaml (placeholder checksums) and refuses a broken checksum.
func TestManifest(t *testing.T) {
	d := getDist(t)
	m := d.manifest
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" || m.Metadata.Name != pluginName {
		t.Errorf("manifest is %s %s %q, want a krew v1alpha2 Plugin named %q", m.APIVersion, m.Kind, m.Metadata.Name, pluginName)
	}
	if n := len(m.Spec.ShortDescription); n > 50 {
		t.Errorf("shortDescription has %d characters, want at most 50", n)
	}
	if !strings.Contains(m.Spec.Caveats, shim) {
		t.Errorf("caveats do not explain the completion shim:\n%s", m.Spec.Caveats)
	}
	if len(m.Spec.Platforms) != len(platforms) {
		t.Errorf("%d platforms, want %d", len(m.Spec.Platforms), len(platforms))
	}
	for _, p := range m.Spec.Platforms {
		name := d.archive(p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"])
		if want := releaseURL + d.version() + "/" + name; p.URI != want {
			t.Errorf("uri %s, want %s", p.URI, want)
		}
		if p.SHA256 != d.checksums[path.Base(p.URI)] {
			t.Errorf("%s: sha256 %s, checksums.txt says %s", name, p.SHA256, d.checksums[path.Base(p.URI)])
		}
	}

	tools := krewTools(t)
	t.Run("dist/krew.yaml", func(t *testing.T) {
		validate(t, tools, filepath.Join(d.dir, "krew.yaml"), "")
	})
	t.Run("krew.yaml", func(t *testing.T) {
		validate(t, tools, filepath.Join(repoRoot(), "krew.yaml"), "")
	})
	t.Run("broken sha256 is refused", func(t *testing.T) {
		b, err := os.ReadFile(filepath.Join(d.dir, "krew.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		sum := m.Spec.Platforms[0].SHA256
		broken := filepath.Join(t.TempDir(), "broken.yaml")
		if err := os.WriteFile(broken, bytes.Replace(b, []byte(sum), []byte(sum[:63]), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		validate(t, tools, broken, "is not valid, must match pattern")
	})
}

// validate runs validate-krew-manifest -skip-install on a copy of file named elbfix.yaml (the
// tool requires the file to be named after the plugin, as in krew-index), and wants success,
// or a failure whose output contains wantErr.
func validate(t *testing.T, tools krewBins, file, wantErr string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), pluginName+".yaml")
	if err := os.WriteFile(copied, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := run(t, nil, tools.validate, "-manifest", copied, "-skip-install")
	switch {
	case wantErr == "" && r.Code != 0:
		t.Fatalf("validate-krew-manifest refuses %s:\n%s", file, r)
	case wantErr != "" && (r.Code == 0 || !strings.Contains(r.Stderr, wantErr)):
		t.Fatalf("validate-krew-manifest should refuse %s with %q:\n%s", file, wantErr, r)
	}
}

// TestKrewInstall installs the plugin with the real krew from the local manifest and archive,
// runs it through kubectl from krew's bin directory (also its shell completion, through the
// shim the way the caveats say), and uninstalls it.
func TestKrewInstall(t *testing.T) {
	d := getDist(t)
	tools := krewTools(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	bins, err := cluster.Binaries(ctx, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "windows" {
		t.Fatal("this test drives a Unix krew install")
	}

	tmp := t.TempDir()
	krewRoot := filepath.Join(tmp, "krew")
	toolDir := filepath.Join(tmp, "tools") // kubectl and kubectl-krew
	shimDir := filepath.Join(tmp, "shim")  // where the user copies kubectl_complete-elbfix
	home := filepath.Join(tmp, "home")     // nothing reads or writes the real ~/.krew or ~/.kube
	for _, dir := range []string{toolDir, shimDir, home} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"kubectl": bins.Kubectl, "kubectl-krew": tools.krew} {
		if err := os.Symlink(target, filepath.Join(toolDir, link)); err != nil {
			t.Fatal(err)
		}
	}
	index := localIndex(t, filepath.Join(tmp, "krew-index"), filepath.Join(d.dir, "krew.yaml"))
	env := []string{
		"KREW_ROOT=" + krewRoot,
		"KREW_DEFAULT_INDEX_URI=" + index,
		"KREW_NO_UPGRADE_CHECK=1",
		"HOME=" + home,
		"PATH=" + strings.Join([]string{filepath.Join(krewRoot, "bin"), shimDir, toolDir, os.Getenv("PATH")}, string(os.PathListSeparator)),
	}
	kubectl := func(t *testing.T, args ...string) result {
		t.Helper()
		return run(t, env, filepath.Join(toolDir, "kubectl"), args...)
	}
	want := func(t *testing.T, r result, code int, stdout ...string) {
		t.Helper()
		if r.Code != code {
			t.Fatalf("want exit %d:\n%s", code, r)
		}
		for _, s := range stdout {
			if !strings.Contains(r.Stdout, s) {
				t.Fatalf("stdout lacks %q:\n%s", s, r)
			}
		}
	}
	version := d.version()
	store := filepath.Join(krewRoot, "store", pluginName, version)
	link := filepath.Join(krewRoot, "bin", binary)
	archive := filepath.Join(d.dir, d.archive(runtime.GOOS, runtime.GOARCH))

	steps := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"index", func(t *testing.T) {
			// krew wants a plugin index (a git repository) for list and uninstall; a local one
			// holding our manifest, as krew-index would, stands in for GitHub's.
			r := kubectl(t, "krew", "update")
			want(t, r, 0)
			if !strings.Contains(r.Stderr, "Updated the local copy of plugin index") {
				t.Errorf("krew update did not update the index:\n%s", r)
			}
			want(t, kubectl(t, "krew", "search", pluginName), 0, pluginName, d.manifest.Spec.ShortDescription)
			want(t, kubectl(t, "krew", "info", pluginName), 0, "VERSION: "+version, "CAVEATS:", shim)
		}},
		{"install", func(t *testing.T) {
			r := kubectl(t, "krew", "install", "--manifest="+filepath.Join(d.dir, "krew.yaml"), "--archive="+archive)
			want(t, r, 0)
			for _, s := range []string{"Installed plugin: " + pluginName, shim} {
				if !strings.Contains(r.Stderr, s) {
					t.Errorf("install output lacks %q:\n%s", s, r)
				}
			}
			for _, f := range []struct {
				name string
				mode os.FileMode
			}{{binary, 0o755}, {shim, 0o755}, {"LICENSE", 0o644}} {
				fi, err := os.Stat(filepath.Join(store, f.name))
				if err != nil {
					t.Errorf("not installed: %v", err)
					continue
				}
				if fi.Mode().Perm()&f.mode != f.mode {
					t.Errorf("%s has mode %v, want at least %v", f.name, fi.Mode(), f.mode)
				}
			}
			target, err := os.Readlink(link)
			if err != nil {
				t.Fatalf("krew did not link the plugin into its bin directory: %v", err)
			}
			if target != filepath.Join(store, binary) {
				t.Errorf("%s links to %s, want %s", link, target, filepath.Join(store, binary))
			}
			if _, err := os.Stat(filepath.Join(krewRoot, "receipts", pluginName+".yaml")); err != nil {
				t.Errorf("no install receipt: %v", err)
			}
			want(t, kubectl(t, "krew", "list"), 0, pluginName)
		}},
		{"kubectl finds the plugin in krew's bin", func(t *testing.T) {
			want(t, kubectl(t, "plugin", "list"), 0, link)
		}},
		{"version", func(t *testing.T) {
			want(t, kubectl(t, pluginName, "version"), 0, binary+" "+version+" (commit ")
			r := kubectl(t, pluginName, "version", "-o", "json")
			want(t, r, 0)
			var v struct{ Version, Commit, GoVersion, Platform string }
			if err := json.Unmarshal([]byte(r.Stdout), &v); err != nil {
				t.Fatalf("version -o json: %v\n%s", err, r)
			}
			if v.Version != version || v.Platform != runtime.GOOS+"/"+runtime.GOARCH || !strings.HasPrefix(v.GoVersion, "go") || v.Commit == "" {
				t.Errorf("version -o json = %+v, want version %s, platform %s/%s", v, version, runtime.GOOS, runtime.GOARCH)
			}
		}},
		{"completion scripts", func(t *testing.T) {
			for shell, marker := range map[string]string{
				"bash":       "__start_" + binary,
				"zsh":        "#compdef " + binary,
				"fish":       "complete -c " + binary,
				"powershell": "Register-ArgumentCompleter",
			} {
				want(t, kubectl(t, pluginName, "completion", shell), 0, marker)
			}
		}},
		{"kubectl completes through the shim", func(t *testing.T) {
			// Without the shim kubectl has no way to ask the plugin.
			r := kubectl(t, "__complete", pluginName, "svc", "--strategy", "")
			want(t, r, 0)
			if strings.Contains(r.Stdout, "pass-through") {
				t.Fatalf("kubectl completed plugin flags without a shim on PATH:\n%s", r)
			}
			// What the caveats say: copy the shim from the install directory onto PATH.
			b, err := os.ReadFile(filepath.Join(store, shim))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(shimDir, shim), b, 0o755); err != nil {
				t.Fatal(err)
			}
			r = kubectl(t, "__complete", pluginName, "svc", "--strategy", "")
			want(t, r, 0)
			if got := completions(r.Stdout); got != "auto pass-through cluster :4" {
				t.Errorf("kubectl __complete elbfix svc --strategy '' = %q, want the strategies and :4 (no file completion)\n%s", got, r)
			}
			r = kubectl(t, "__complete", pluginName, "")
			want(t, r, 0, "svc\t", "version\t", "completion\t")
		}},
		{"uninstall", func(t *testing.T) {
			r := kubectl(t, "krew", "uninstall", pluginName)
			want(t, r, 0)
			if !strings.Contains(r.Stderr, "Uninstalled plugin: "+pluginName) {
				t.Errorf("uninstall output lacks the plugin:\n%s", r)
			}
			for _, p := range []string{link, filepath.Join(krewRoot, "store", pluginName), filepath.Join(krewRoot, "receipts", pluginName+".yaml")} {
				if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s is still there after uninstall (%v)", p, err)
				}
			}
			r = kubectl(t, pluginName, "version")
			if r.Code == 0 {
				t.Errorf("kubectl still runs the plugin after uninstall:\n%s", r)
			}
		}},
	}
	for _, s := range steps {
		if !t.Run(s.name, s.fn) {
			t.Fatalf("step %q failed; the later steps depend on it", s.name)
		}
	}
}

// localIndex makes a krew plugin index at dir, a git repository with manifest as
// plugins/elbfix.yaml, the layout of krew-index.
func localIndex(t *testing.T, dir, manifest string) string {
	t.Helper()
	b, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "plugins"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plugins", pluginName+".yaml"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "plugins"},
		{"-c", "user.name=krew-test", "-c", "user.email=krew-test@localhost", "commit", "-q", "-m", "index"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// completions joins the lines of cobra's __complete output, descriptions dropped.
func completions(out string) string {
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		c, _, _ := strings.Cut(line, "\t")
		got = append(got, c)
	}
	return strings.Join(got, " ")
}

// krewBins are the krew tools the tests run.
type krewBins struct{ krew, validate string }

var (
	krewOnce sync.Once
	krewVal  krewBins
	krewErr  error
)

// krewTools builds krew and validate-krew-manifest once (go install from the Go module proxy,
// outside this module) into the harness cache directory, and returns their paths.
func krewTools(t *testing.T) krewBins {
	t.Helper()
	krewOnce.Do(func() { krewVal, krewErr = buildKrew() })
	if krewErr != nil {
		t.Fatal(krewErr)
	}
	return krewVal
}

func buildKrew() (krewBins, error) {
	cache, err := cluster.CacheDir()
	if err != nil {
		return krewBins{}, err
	}
	dir := filepath.Join(cache, "krew-"+KrewVersion)
	bins := krewBins{krew: filepath.Join(dir, "krew"), validate: filepath.Join(dir, "validate-krew-manifest")}
	if isExecutable(bins.krew) && isExecutable(bins.validate) {
		return bins, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return bins, err
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return bins, err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "building krew %s (once; cached in %s)\n", KrewVersion, dir)
	start := time.Now()
	cmd := exec.Command("go", "install",
		"sigs.k8s.io/krew/cmd/krew@"+KrewVersion,
		"sigs.k8s.io/krew/cmd/validate-krew-manifest@"+KrewVersion)
	cmd.Dir = tmp // outside any module: go install pkg@version never touches ours
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GO111MODULE=on", "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return bins, fmt.Errorf("building krew %s: go %s: %v\n%s", KrewVersion, strings.Join(cmd.Args[1:], " "), err, out)
	}
	for _, b := range []string{bins.krew, bins.validate} {
		if err := os.Rename(filepath.Join(tmp, filepath.Base(b)), b); err != nil {
			return bins, err
		}
	}
	fmt.Fprintf(os.Stderr, "built krew %s in %s\n", KrewVersion, time.Since(start).Round(time.Second))
	return bins, nil
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// result is one command's outcome.
type result = cmdtest.Result

// run runs a command with env (nil: the test's environment) and no stdin, for at most two
// minutes.
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	return cmdtest.Run(t, cmd, "")
}

// readArchive returns the regular files of a .tar.gz or .zip by name.
func readArchive(t *testing.T, name string, b []byte) map[string]archiveFile {
	t.Helper()
	files := map[string]archiveFile{}
	if strings.HasSuffix(name, ".zip") {
		zr, err := zipFiles(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, f := range zr {
			files[f.name] = archiveFile{f.mode, f.data}
		}
		return files
	}
	entries, err := tarGzFiles(b)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, f := range entries {
		files[f.name] = archiveFile{f.mode, f.data}
	}
	return files
}
