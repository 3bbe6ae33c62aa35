package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const repoRoot = "../.."

// The functions krew-release-bot gives a template, with its output format: addURIAndSha
// renders its URL as a template and writes uri and sha256 at 4 spaces; indent pads lines.
func TestRenderLikeReleaseBot(t *testing.T) {
	tmpl := `version: {{ .TagName }} ({{ .Version }})
  - selector: {}
    {{ addURIAndSha "https://example.com/{{ .TagName }}/a_{{ .Version }}.tar.gz" .TagName }}
x: {{ indent 2 "a\nb" }}
`
	var asked []string
	got, err := Render("t", tmpl, "v1.2.3", func(uri string) (string, error) {
		asked = append(asked, uri)
		return "abc", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `version: v1.2.3 (1.2.3)
  - selector: {}
    uri: https://example.com/v1.2.3/a_1.2.3.tar.gz
    sha256: abc
x: a
  b
`
	if string(got) != want {
		t.Errorf("rendered:\n%s\nwant:\n%s", got, want)
	}
	if len(asked) != 1 || asked[0] != "https://example.com/v1.2.3/a_1.2.3.tar.gz" {
		t.Errorf("sha asked for %q", asked)
	}
}

func TestRenderFailsOnMissingArchive(t *testing.T) {
	err := runKrew([]string{"-dir", t.TempDir(), "-version", "v1.0.0", "-template", filepath.Join(repoRoot, ".krew.yaml"), "-o", filepath.Join(t.TempDir(), "k.yaml")})
	if err == nil || !strings.Contains(err.Error(), "kubectl-elbfix_v1.0.0_linux_amd64.tar.gz") {
		t.Fatalf("want an error naming the missing archive, got %v", err)
	}
}

// The template has one platform per archive `make dist` builds, each URI naming its own
// platform, and passes Check.
func TestTemplatePlatforms(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, ".krew.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	b, err := Render(".krew.yaml", string(src), "v9.8.7", func(uri string) (string, error) {
		uris = append(uris, uri)
		return PlaceholderSHA256, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(b); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range strings.Fields(makeVar(t, "DIST_PLATFORMS")) {
		goos, goarch, _ := strings.Cut(p, "/")
		want = append(want, "https://github.com/kubectl-elbfix/kubectl-elbfix/releases/download/v9.8.7/"+ArchiveName("v9.8.7", goos, goarch))
	}
	if strings.Join(uris, "\n") != strings.Join(want, "\n") {
		t.Errorf("template URIs:\n%s\nwant (Makefile DIST_PLATFORMS):\n%s", strings.Join(uris, "\n"), strings.Join(want, "\n"))
	}
	var m Manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, p := range m.Spec.Platforms {
		var from []string
		for _, f := range p.Files {
			from = append(from, f.From)
		}
		exe := ""
		shim := "kubectl_complete-elbfix"
		if p.Selector.MatchLabels["os"] == "windows" {
			exe, shim = ".exe", shim+".cmd"
		}
		if p.Bin != Binary+exe || strings.Join(from, " ") != Binary+exe+" "+shim+" LICENSE" {
			t.Errorf("platform %v: bin %s, files %v", p.Selector.MatchLabels, p.Bin, from)
		}
	}
	if !strings.Contains(m.Spec.Caveats, "kubectl_complete-elbfix") || !strings.Contains(m.Spec.Caveats, "store/elbfix/v9.8.7\"") {
		t.Errorf("caveats do not explain the completion shim:\n%s", m.Spec.Caveats)
	}
	if strings.Contains(m.Spec.Description, "kubectl elbfix ") {
		t.Errorf("description lists commands; krew-index wants what the plugin does:\n%s", m.Spec.Description)
	}
}

// krew.yaml at the root is the template rendered with placeholder checksums: regenerate it
// with the command in its header when .krew.yaml changes.
func TestCommittedManifestIsRendered(t *testing.T) {
	committed, err := os.ReadFile(filepath.Join(repoRoot, "krew.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := yaml.Unmarshal(committed, &m); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "krew.yaml")
	if err := runKrew([]string{"-placeholder-sha", "-version", m.Spec.Version, "-template", filepath.Join(repoRoot, ".krew.yaml"), "-o", out}); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, want) {
		t.Fatalf("krew.yaml is stale; regenerate it:\n  go run ./hack/dist krew -placeholder-sha -version %s -template .krew.yaml -o krew.yaml", m.Spec.Version)
	}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		yaml string
		want string
	}{
		{"ok", "spec:\n  version: v1.0.0\n  shortDescription: short\n  description: fine\n  platforms:\n  - selector: {matchLabels: {os: linux, arch: amd64}}\n    uri: https://x/kubectl-elbfix_v1.0.0_linux_amd64.tar.gz\n", ""},
		{"long short description", "spec:\n  shortDescription: " + strings.Repeat("x", 51) + "\n", "shortDescription has 51 characters"},
		{"no short description", "spec:\n  description: x\n", "shortDescription has 0 characters"},
		{"wide description", "spec:\n  shortDescription: s\n  description: |\n    ok\n    " + strings.Repeat("y", 81) + "\n", "description line 2 has 81 characters"},
		{"uri for another platform", "spec:\n  version: v1.0.0\n  shortDescription: s\n  platforms:\n  - selector: {matchLabels: {os: linux, arch: arm64}}\n    uri: https://x/kubectl-elbfix_v1.0.0_linux_amd64.tar.gz\n", "does not name kubectl-elbfix_v1.0.0_linux_arm64.tar.gz"},
		{"unknown field", "spec:\n  shortDescription: s\n  shortDescripton: s\n", "unknown field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.yaml))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want error containing %q, got %v", tc.want, err)
			}
		})
	}
}

// package writes one archive per platform with the binary, the shim and LICENSE, and
// checksums.txt; the same inputs give the same bytes.
func TestPackage(t *testing.T) {
	var first map[string][]byte
	for run := 0; run < 2; run++ {
		dir := t.TempDir()
		for _, p := range []string{"linux_amd64/kubectl-elbfix", "windows_amd64/kubectl-elbfix.exe"} {
			writeFile(t, filepath.Join(dir, "build", p), "binary "+p)
		}
		writeFile(t, filepath.Join(dir, "LICENSE"), "license text")
		writeFile(t, filepath.Join(dir, "shim"), "#!/usr/bin/env sh\n")
		writeFile(t, filepath.Join(dir, "shim.cmd"), "@rem\r\n")
		err := runPackage([]string{"-dir", dir, "-version", "v1.0.0", "-platforms", "windows/amd64 linux/amd64", "-mtime", "1700000000",
			"-license", filepath.Join(dir, "LICENSE"), "-shim", filepath.Join(dir, "shim"), "-shim-windows", filepath.Join(dir, "shim.cmd")})
		if err != nil {
			t.Fatal(err)
		}
		files := map[string][]byte{}
		for _, name := range []string{"kubectl-elbfix_v1.0.0_linux_amd64.tar.gz", "kubectl-elbfix_v1.0.0_windows_amd64.zip", "checksums.txt"} {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			files[name] = b
		}
		if run == 0 {
			first = files
			sumTar, _ := fileSHA256(filepath.Join(dir, "kubectl-elbfix_v1.0.0_linux_amd64.tar.gz"))
			sumZip, _ := fileSHA256(filepath.Join(dir, "kubectl-elbfix_v1.0.0_windows_amd64.zip"))
			want := sumTar + "  kubectl-elbfix_v1.0.0_linux_amd64.tar.gz\n" + sumZip + "  kubectl-elbfix_v1.0.0_windows_amd64.zip\n"
			if string(files["checksums.txt"]) != want {
				t.Errorf("checksums.txt:\n%s\nwant:\n%s", files["checksums.txt"], want)
			}
			if got := tarEntries(t, files["kubectl-elbfix_v1.0.0_linux_amd64.tar.gz"]); got != "kubectl-elbfix 755 binary linux_amd64/kubectl-elbfix|shim 755 #!/usr/bin/env sh\n|LICENSE 644 license text" {
				t.Errorf("tar.gz entries: %q", got)
			}
			if got := zipEntries(t, files["kubectl-elbfix_v1.0.0_windows_amd64.zip"]); got != "kubectl-elbfix.exe 755 binary windows_amd64/kubectl-elbfix.exe|shim.cmd 755 @rem\r\n|LICENSE 644 license text" {
				t.Errorf("zip entries: %q", got)
			}
			continue
		}
		for name, b := range files {
			if !bytes.Equal(b, first[name]) {
				t.Errorf("%s differs between two runs with the same inputs", name)
			}
		}
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tarEntries(t *testing.T, b []byte) string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out []string
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		out = append(out, hdr.Name+" "+strings.TrimPrefix(os.FileMode(hdr.Mode).Perm().String(), "-")+" "+string(data))
	}
	return octal(strings.Join(out, "|"))
}

func zipEntries(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		out = append(out, f.Name+" "+strings.TrimPrefix(f.Mode().Perm().String(), "-")+" "+string(data))
	}
	return octal(strings.Join(out, "|"))
}

// octal turns the rwx strings of tarEntries/zipEntries into 755/644 for readable wants.
func octal(s string) string {
	return strings.NewReplacer("rwxr-xr-x", "755", "rw-r--r--", "644").Replace(s)
}

// makeVar reads a variable's value from the Makefile (a simple `NAME := value` line).
func makeVar(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" := "); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("Makefile has no %s := line", name)
	return ""
}
