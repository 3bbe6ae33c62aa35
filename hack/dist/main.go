// Command dist renders the krew manifest of a release. `make dist` has GoReleaser
// (.goreleaser.yaml) write the archives and checksums.txt, then runs
//
//	go run ./hack/dist krew -dir dist -version VERSION -template .krew.yaml -o dist/krew.yaml
//
// which renders the krew-release-bot template .krew.yaml into a krew Plugin manifest, the way
// the bot does on a release: the template sees .TagName and .Version and the functions
// addURIAndSha and indent; addURIAndSha hashes the local archive named like the URL instead of
// downloading it. With -placeholder-sha instead of -dir it writes a placeholder sha256
// (deadbeef...), which is how the committed krew.yaml at the repository root is made:
//
//	go run ./hack/dist krew -placeholder-sha -version v0.1.0 -template .krew.yaml -o krew.yaml
package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"sigs.k8s.io/yaml"
)

// Binary is the plugin's executable name (kubectl finds plugins by it).
const Binary = "kubectl-elbfix"

// PlaceholderSHA256 stands in for a checksum in a manifest rendered before a release exists.
// Not all digits: YAML would read that as a number, which krew rejects.
var PlaceholderSHA256 = strings.Repeat("deadbeef", 8)

// PlaceholderHeader starts a manifest rendered with placeholder checksums.
const PlaceholderHeader = `# The krew manifest of kubectl-elbfix, rendered from .krew.yaml (the krew-release-bot
# template) with placeholder checksums (deadbeef...) by
#   go run ./hack/dist krew -placeholder-sha -version TAG -template .krew.yaml -o krew.yaml
# 'make dist' writes dist/krew.yaml with the real sha256 of the archives it builds; a release
# submits that one (or krew-release-bot renders .krew.yaml) to krew-index.
`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dist: "+err.Error())
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 || args[0] != "krew" {
		return errors.New("usage: dist krew [flags]")
	}
	return runKrew(args[1:])
}

// ArchiveName is the release asset name for one platform, as .krew.yaml spells it.
func ArchiveName(version, goos, goarch string) string {
	ext := ".tar.gz"
	if goos == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", Binary, version, goos, goarch, ext)
}

func fileSHA256(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func runKrew(args []string) error {
	fs := flag.NewFlagSet("krew", flag.ContinueOnError)
	dir := fs.String("dir", "", "directory holding the archives the template names; their sha256 goes into the manifest")
	placeholder := fs.Bool("placeholder-sha", false, "write a placeholder sha256 (deadbeef...) instead of hashing archives")
	version := fs.String("version", "", "the release tag (.TagName)")
	tmpl := fs.String("template", ".krew.yaml", "krew-release-bot template")
	out := fs.String("o", "", "output file (default stdout)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" || (*dir == "") == !*placeholder {
		return errors.New("krew: -version and exactly one of -dir and -placeholder-sha are required")
	}
	sha := func(uri string) (string, error) {
		if *placeholder {
			return PlaceholderSHA256, nil
		}
		return fileSHA256(filepath.Join(*dir, path.Base(uri)))
	}
	src, err := os.ReadFile(*tmpl)
	if err != nil {
		return err
	}
	b, err := Render(filepath.Base(*tmpl), string(src), *version, sha)
	if err != nil {
		return err
	}
	if err := Check(b); err != nil {
		return fmt.Errorf("%s rendered for %s: %w", *tmpl, *version, err)
	}
	if *placeholder {
		b = append([]byte(PlaceholderHeader), b...)
	}
	if *out == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

// Render executes a krew-release-bot template (.krew.yaml) for the release tag, as the bot
// does: the data are .TagName and .Version (the tag's dotted numbers, without "v"), the
// functions addURIAndSha (which renders its URL argument as a template with the same data and
// writes "uri: URL\n    sha256: SUM") and indent. sha returns the checksum of the asset the
// rendered URL names.
func Render(name, text, tag string, sha func(uri string) (string, error)) ([]byte, error) {
	data := struct{ TagName, Version string }{tag, versionFromTag(tag)}
	funcs := template.FuncMap{
		"indent": indent,
		"addURIAndSha": func(url, tag string) (string, error) {
			u, err := template.New("url").Parse(url)
			if err != nil {
				return "", err
			}
			var buf bytes.Buffer
			if err := u.Execute(&buf, struct{ TagName, Version string }{tag, versionFromTag(tag)}); err != nil {
				return "", err
			}
			sum, err := sha(buf.String())
			if err != nil {
				return "", fmt.Errorf("sha256 of %s: %w", buf.String(), err)
			}
			return fmt.Sprintf("uri: %s\n    sha256: %s", buf.String(), sum), nil
		},
	}
	t, err := template.New(name).Funcs(funcs).Parse(text)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var versionRE = regexp.MustCompile(`\d+(\.\d+)+`)

func versionFromTag(tag string) string {
	if v := versionRE.FindString(tag); v != "" {
		return v
	}
	return tag
}

// indent is krew-release-bot's: pad every line by spaces, trimmed at both ends.
func indent(spaces int, v string) string {
	v = strings.ReplaceAll(v, "    sha256:", "sha256:")
	pad := strings.Repeat(" ", spaces)
	return strings.TrimSpace(pad + strings.ReplaceAll(v, "\n", "\n"+pad))
}

// Manifest is the part of a krew Plugin manifest that Check reads.
type Manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			SHA256 string `json:"sha256"`
			Bin    string `json:"bin"`
			Files  []struct {
				From string `json:"from"`
				To   string `json:"to"`
			} `json:"files"`
		} `json:"platforms"`
	} `json:"spec"`
}

// Check enforces what krew-index reviewers ask beyond what validate-krew-manifest checks: a
// short description of at most 50 characters, a description wrapped at 80 columns, and each
// platform's URI naming its own OS and architecture.
func Check(b []byte) error {
	var m Manifest
	if err := yaml.UnmarshalStrict(b, &m); err != nil {
		return err
	}
	if n := len([]rune(m.Spec.ShortDescription)); n == 0 || n > 50 {
		return fmt.Errorf("shortDescription has %d characters, want 1 to 50", n)
	}
	for i, line := range strings.Split(m.Spec.Description, "\n") {
		if n := len([]rune(line)); n > 80 {
			return fmt.Errorf("description line %d has %d characters, want at most 80", i+1, n)
		}
	}
	for _, p := range m.Spec.Platforms {
		goos, goarch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		if want := ArchiveName(m.Spec.Version, goos, goarch); path.Base(p.URI) != want {
			return fmt.Errorf("platform %s/%s: uri %s does not name %s", goos, goarch, p.URI, want)
		}
	}
	return nil
}
