package main

import (
	"bytes"
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
	for _, p := range goreleaserPlatforms(t) {
		goos, goarch, _ := strings.Cut(p, "/")
		want = append(want, "https://github.com/kubectl-elbfix/kubectl-elbfix/releases/download/v9.8.7/"+ArchiveName("v9.8.7", goos, goarch))
	}
	if strings.Join(uris, "\n") != strings.Join(want, "\n") {
		t.Errorf("template URIs:\n%s\nwant (.goreleaser.yaml builds):\n%s", strings.Join(uris, "\n"), strings.Join(want, "\n"))
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

// goreleaserPlatforms lists the OS/ARCH pairs .goreleaser.yaml builds, in its order.
func goreleaserPlatforms(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Builds []struct {
			Goos   []string `json:"goos"`
			Goarch []string `json:"goarch"`
		} `json:"builds"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, b := range cfg.Builds {
		for _, goos := range b.Goos {
			for _, goarch := range b.Goarch {
				out = append(out, goos+"/"+goarch)
			}
		}
	}
	return out
}
