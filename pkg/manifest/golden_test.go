package manifest

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden reads testdata/golden/NAME.patch (one JSON patch a line, "#" lines are comments),
// applies each patch in turn to every Service of the input BASE.in.{yaml,json} (BASE is NAME, or
// NAME without its last "-suffix"), and compares what Write gives with NAME.out.{yaml,json}.
func TestGolden(t *testing.T) {
	patches, err := filepath.Glob("testdata/golden/*.patch")
	if err != nil || len(patches) == 0 {
		t.Fatalf("no golden patches: %v", err)
	}
	for _, pf := range patches {
		name := strings.TrimSuffix(filepath.Base(pf), ".patch")
		t.Run(name, func(t *testing.T) {
			in, ext := goldenInput(t, name)
			set, err := Read(in, nil)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			for _, p := range patchLines(t, pf) {
				for _, r := range set.Services() {
					if err := r.ApplyPatch([]byte(p)); err != nil {
						t.Fatalf("ApplyPatch %s to %s: %v", p, r, err)
					}
				}
			}
			var out bytes.Buffer
			if err := set.Write(&out); err != nil {
				t.Fatalf("Write: %v", err)
			}
			golden := filepath.Join("testdata/golden", name+".out"+ext)
			if *update {
				if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("output differs from %s:\n%s", golden, lineDiff(string(want), out.String()))
			}
			// The output reads back, with the Services as patched.
			again, err := Read("-", bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatalf("output does not read back: %v", err)
			}
			if len(again.Services()) != len(set.Services()) {
				t.Fatalf("read back %d Services, want %d", len(again.Services()), len(set.Services()))
			}
			for i, r := range again.Services() {
				if got, want := mustJSON(t, r.Service), mustJSON(t, set.Services()[i].Service); got != want {
					t.Errorf("Service %d reads back as\n%s\nwant\n%s", i, got, want)
				}
			}
			// Documents no patch changed come back byte for byte.
			for _, d := range set.Docs() {
				if !d.Changed() && !bytes.Contains(out.Bytes(), d.Original()) {
					t.Errorf("%s was not changed but is not in the output as read", d)
				}
			}
		})
	}
}

func goldenInput(t *testing.T, name string) (path, ext string) {
	t.Helper()
	for base := name; ; {
		for _, ext := range []string{".yaml", ".json"} {
			p := filepath.Join("testdata/golden", base+".in"+ext)
			if _, err := os.Stat(p); err == nil {
				return p, ext
			}
		}
		i := strings.LastIndex(base, "-")
		if i < 0 {
			t.Fatalf("no input for golden %s", name)
		}
		base = base[:i]
	}
}

func patchLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// lineDiff is a small LCS line diff for test failures and for counting changed lines.
func lineDiff(a, b string) string {
	var out strings.Builder
	for _, l := range diffLines(a, b) {
		out.WriteString(l)
		out.WriteString("\n")
	}
	return out.String()
}

// diffLines returns the lines of an edit script from a to b: "-x", "+y" (unchanged lines left out).
func diffLines(a, b string) []string {
	x, y := strings.SplitAfter(a, "\n"), strings.SplitAfter(b, "\n")
	n, m := len(x), len(y)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, "+"+strings.TrimRight(y[j], "\r\n"))
			j++
		default:
			out = append(out, "-"+strings.TrimRight(x[i], "\r\n"))
			i++
		}
	}
	return out
}
