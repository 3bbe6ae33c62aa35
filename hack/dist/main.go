// Command dist packages the release: `make dist` builds one binary per platform and then runs
//
//	go run ./hack/dist package -dir dist -version VERSION -platforms "linux/amd64 ..." ...
//	go run ./hack/dist krew -dir dist -version VERSION -template .krew.yaml -o dist/krew.yaml
//
// package writes one archive per platform (kubectl-elbfix_VERSION_OS_ARCH.tar.gz, .zip for
// Windows, holding the binary, LICENSE and the kubectl_complete-elbfix shim) and checksums.txt
// (sha256sum format). krew renders the krew-release-bot template .krew.yaml into a krew Plugin
// manifest, the way the bot does on a release: the template sees .TagName and .Version and the
// functions addURIAndSha and indent; addURIAndSha hashes the local archive named like the URL
// instead of downloading it. With -placeholder-sha instead of -dir it writes a placeholder
// sha256 (deadbeef...), which is how the committed krew.yaml at the repository root is made:
//
//	go run ./hack/dist krew -placeholder-sha -version v0.1.0 -template .krew.yaml -o krew.yaml
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
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
	"slices"
	"strings"
	"text/template"
	"time"

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
	if len(args) == 0 {
		return errors.New("usage: dist package|krew [flags]")
	}
	switch args[0] {
	case "package":
		return runPackage(args[1:])
	case "krew":
		return runKrew(args[1:])
	}
	return fmt.Errorf("unknown subcommand %q: want package or krew", args[0])
}

func runPackage(args []string) error {
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	dir := fs.String("dir", "dist", "directory holding build/OS_ARCH/"+Binary+"[.exe]; archives and checksums.txt are written here")
	version := fs.String("version", "", "version (tag) in the archive names")
	platforms := fs.String("platforms", "", "space-separated OS/ARCH list")
	license := fs.String("license", "LICENSE", "license file to ship in every archive")
	shim := fs.String("shim", "hack/kubectl_complete-elbfix", "completion shim for Unix archives")
	shimWindows := fs.String("shim-windows", "hack/kubectl_complete-elbfix.cmd", "completion shim for Windows archives")
	mtime := fs.Int64("mtime", 0, "modification time (Unix seconds) of every archive entry, for reproducible archives; 0: 2020-01-01")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" || *platforms == "" {
		return errors.New("package: -version and -platforms are required")
	}
	t := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	if *mtime > 0 {
		t = time.Unix(*mtime, 0).UTC()
	}
	var sums []string // sha256sum's format: "SUM  NAME"
	for _, p := range strings.Fields(*platforms) {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("platform %q: want OS/ARCH", p)
		}
		name, err := writeArchive(*dir, *version, goos, goarch, *license, *shim, *shimWindows, t)
		if err != nil {
			return err
		}
		sum, err := fileSHA256(filepath.Join(*dir, name))
		if err != nil {
			return err
		}
		sums = append(sums, sum+"  "+name+"\n")
		fmt.Println(filepath.Join(*dir, name))
	}
	slices.SortFunc(sums, func(a, b string) int {
		return strings.Compare(strings.Fields(a)[1], strings.Fields(b)[1])
	})
	return os.WriteFile(filepath.Join(*dir, "checksums.txt"), []byte(strings.Join(sums, "")), 0o644)
}

// ArchiveName is the release asset name for one platform, as .krew.yaml spells it.
func ArchiveName(version, goos, goarch string) string {
	ext := ".tar.gz"
	if goos == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", Binary, version, goos, goarch, ext)
}

// entry is one file of an archive.
type entry struct {
	name string
	mode int64
	data []byte
}

func writeArchive(dir, version, goos, goarch, license, shim, shimWindows string, mtime time.Time) (string, error) {
	bin, shimFile := Binary, shim
	if goos == "windows" {
		bin, shimFile = Binary+".exe", shimWindows
	}
	var entries []entry
	for _, f := range []struct {
		name, src string
		mode      int64
	}{
		{bin, filepath.Join(dir, "build", goos+"_"+goarch, bin), 0o755},
		{filepath.Base(shimFile), shimFile, 0o755},
		{"LICENSE", license, 0o644},
	} {
		b, err := os.ReadFile(f.src)
		if err != nil {
			return "", err
		}
		entries = append(entries, entry{f.name, f.mode, b})
	}
	name := ArchiveName(version, goos, goarch)
	var buf bytes.Buffer
	var err error
	if goos == "windows" {
		err = writeZip(&buf, entries, mtime)
	} else {
		err = writeTarGz(&buf, entries, mtime)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return name, os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644)
}

func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode, Size: int64(len(e.data)), ModTime: mtime, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(os.FileMode(e.mode))
		f, err := zw.CreateHeader(hdr)
		if err != nil {
			return err
		}
		if _, err := f.Write(e.data); err != nil {
			return err
		}
	}
	return zw.Close()
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
