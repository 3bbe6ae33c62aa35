package doccheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// allowed are the words of the repository that look like citations but are not.
var allowed = map[string]string{
	"shared/dedicated": "the elb.class values (shared|dedicated) of the open-source cloud-provider-huaweicloud dialect",
	"pkg/manifest/manifest_test.go: empty/readme.md": "a file the test writes into its temporary folder",
}

// TestRepository: no comment, string, YAML or document of the repository cites a file that is
// not in it, a missing section or anchor, or a section without its document.
func TestRepository(t *testing.T) {
	problems, err := Check("../..", Options{Skip: []string{"hack/doccheck"}, Allowed: allowed})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// write lays out a small repository: name → content.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const domainDoc = "# Domain\n\n## 1. The problem\n\n## 2. The matrix\n\n### 2.1 From the table to a verdict\n\nAs " +
	"§2.1 says.\n"

// TestCatches: each kind of broken citation is found, at its line; the good ones are not.
func TestCatches(t *testing.T) {
	root := write(t, map[string]string{
		"docs/domain.md":       domainDoc,
		"README.md":            "# x\n\n## Exit codes\n\nSee [the domain](docs/domain.md#1-the-problem) and [codes](#exit-codes).\n",
		"examples/node-a.yaml": "# node\n",
		"pkg/a/a.go": strings.Join([]string{
			"package a",
			"// Good: docs/domain.md §2.1, docs/domain.md §1–§2, ../../README.md, examples/node-*.yaml.",
			"// Missing file: domain.md §2.",
			"// Missing section: docs/domain.md §9.",
			"// Outside: ../../../elsewhere/domain.md.",
			"// Shared: shared/examples/node-a.yaml; elb.class shared/dedicated is fine.",
			"// Contract: SPEC \"Exit codes\".",
			"// Bare section: the §2.1 derivation.",
			"// Missing anchor: README.md#usage.",
			"// Absolute: /work/shared/domain.md.",
		}, "\n"),
		"pkg/a/testdata/fuzz/FuzzX/1":    "domain.md",
		"pkg/a/testdata/fuzz/FuzzX/x.go": "// domain.md",
		"bin/x.md":                       "missing.md",
		"dist/notes.md":                  "missing.md",
		"pkg/a/matrix.yaml":              "rule: \"the client reaches its own node (domain §2.1)\"\n",
		"docs/bad.md":                    "# Bad\n\nSee §3 and [contract](contract.md).\n",
		"hack/dist/main.go":              "package main // see dist.md\n",
		"pkg/a/b.go":                     "package a // x/y.md is allowed here, not in c.go\n",
		"pkg/a/c.go":                     "package a // x/y.md\n",
	})
	problems, err := Check(root, Options{Allowed: map[string]string{"shared/dedicated": "not a path", "pkg/a/b.go: x/y.md": "a test's file"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		`docs/bad.md:3: "§3": this file has no section 3`,
		`docs/bad.md:3: "contract.md": no such file`,
		`hack/dist/main.go:1: "dist.md": no such file`,
		`pkg/a/a.go:3: "domain.md §2": no such file`,
		`pkg/a/a.go:4: "docs/domain.md §9": docs/domain.md has no section §9`,
		`pkg/a/a.go:5: "../../../elsewhere/domain.md": points outside the repository`,
		`pkg/a/a.go:6: "shared/examples/node-a.yaml": no such file`,
		`pkg/a/a.go:7: "SPEC": names a document that is not in the repository`,
		`pkg/a/a.go:8: "§2.1": a section with no document`,
		`pkg/a/a.go:9: "README.md#usage": README.md has no heading #usage`,
		`pkg/a/a.go:10: "/work/shared/domain.md": an absolute path`,
		`pkg/a/c.go:1: "x/y.md": no such file`,
		`pkg/a/matrix.yaml:1: "§2.1": a section with no document`,
	}
	joined := strings.Join(got, "\n")
	for _, w := range want {
		if !strings.Contains(joined, w) {
			t.Errorf("missing problem %s", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d problems, want %d:\n%s", len(got), len(want), joined)
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Exit codes":                             "exit-codes",
		"Cluster facts: `detect`":                "cluster-facts-detect",
		"2.1 From the table to a verdict":        "21-from-the-table-to-a-verdict",
		"Reports over many Services: `scan`":     "reports-over-many-services-scan",
		"1. The problem":                         "1-the-problem",
		"3. The fixes the vendor documents, etc": "3-the-fixes-the-vendor-documents-etc",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}
