package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"p"}`,
		`{"Action":"run","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"=== RUN   TestA\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"    a_test.go:9: no netns: not root\n"}`,
		`{"Action":"output","Package":"p","Test":"TestA","Output":"--- SKIP: TestA (0.00s)\n"}`,
		`{"Action":"skip","Package":"p","Test":"TestA"}`,
		`{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:3: got 1, want 2\n"}`,
		`{"Action":"fail","Package":"p","Test":"TestB"}`,
		`{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: noise\n"}`,
		`{"Action":"pass","Package":"p","Test":"TestC"}`,
		`{"Action":"output","Package":"p","Output":"FAIL\tp\t0.1s\n"}`,
		`# p [build failed]`,
	}, "\n")
	var out strings.Builder
	skips := report(strings.NewReader(in), &out)
	got := out.String()
	for _, want := range []string{"SKIP TestA (p):\n    a_test.go:9: no netns: not root\n", "FAIL TestB (p):\n    b_test.go:3: got 1, want 2\n",
		"FAIL\tp\t0.1s\n", "# p [build failed]\n", "1 tests skipped\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "noise") {
		t.Errorf("a passing test's output was printed:\n%s", got)
	}
	if len(skips) != 1 || skips[0] != (skipped{"p", "TestA"}) {
		t.Errorf("skips = %v, want [{p TestA}]", skips)
	}
}

// skipEvents is go test -json for the given skipped tests ("PACKAGE TEST" each) and one
// passing test.
func skipEvents(skips ...string) string {
	lines := []string{`{"Action":"pass","Package":"example.com/m/pkg/a","Test":"TestPass"}`}
	for _, s := range skips {
		pkg, test, _ := strings.Cut(s, " ")
		lines = append(lines,
			`{"Action":"output","Package":"`+pkg+`","Test":"`+test+`","Output":"    x_test.go:1: not here\n"}`,
			`{"Action":"skip","Package":"`+pkg+`","Test":"`+test+`"}`)
	}
	return strings.Join(lines, "\n") + "\n"
}

func TestAllow(t *testing.T) {
	const header = "# skips allowed, with why\n\n"
	for _, tc := range []struct {
		name     string
		allow    string // the allow-list's content; "-" for no -allow flag, "missing" for no file
		skips    []string
		wantCode int
		want     []string // in the output, in this order
		dontWant []string
	}{
		{
			name: "no -allow: a skip is reported and the status is 0", allow: "-",
			skips: []string{"example.com/m/pkg/a TestX"}, wantCode: 0,
			want: []string{"SKIP TestX (example.com/m/pkg/a)", "1 tests skipped"}, dontWant: []string{"allowed skips", "FAIL"},
		},
		{
			name: "no skips, empty list: the list is printed as none", allow: header,
			wantCode: 0, want: []string{"0 tests skipped\n", "allowed skips (ALLOW):\n    none\n"}, dontWant: []string{"FAIL"},
		},
		{
			name: "an unlisted skip fails", allow: header,
			skips: []string{"example.com/m/pkg/a TestX"}, wantCode: 1,
			want: []string{"SKIP TestX (example.com/m/pkg/a)", "allowed skips (ALLOW):\n    none\n",
				"FAIL: 1 skipped test(s) not on the allow-list: example.com/m/pkg/a TestX\n"},
		},
		{
			name: "a listed skip passes and the list is printed", allow: header + "example.com/m/pkg/a TestX: needs a GPU\n",
			skips: []string{"example.com/m/pkg/a TestX"}, wantCode: 0,
			want:     []string{"1 tests skipped\n", "allowed skips (ALLOW):\n    example.com/m/pkg/a TestX: needs a GPU\n"},
			dontWant: []string{"FAIL", "none"},
		},
		{
			name: "a skipped subtest is allowed by its own entry", allow: "example.com/m/pkg/a TestX/case_1: needs a GPU\n",
			skips: []string{"example.com/m/pkg/a TestX/case_1"}, wantCode: 0, dontWant: []string{"FAIL"},
		},
		{
			name: "a skipped subtest is allowed by its parent's entry", allow: "example.com/m/pkg/a TestX: needs a GPU\n",
			skips: []string{"example.com/m/pkg/a TestX/case_1", "example.com/m/pkg/a TestX/case_2/deeper"}, wantCode: 0, dontWant: []string{"FAIL"},
		},
		{
			name: "a subtest's entry does not allow its parent or siblings", allow: "example.com/m/pkg/a TestX/case_1: needs a GPU\n",
			skips: []string{"example.com/m/pkg/a TestX", "example.com/m/pkg/a TestX/case_2"}, wantCode: 1,
			want: []string{"FAIL: 2 skipped test(s) not on the allow-list: example.com/m/pkg/a TestX, example.com/m/pkg/a TestX/case_2\n"},
		},
		{
			name: "an entry allows only its test, not one whose name it prefixes", allow: "example.com/m/pkg/a TestX: needs a GPU\n",
			skips: []string{"example.com/m/pkg/a TestXY"}, wantCode: 1,
			want: []string{"FAIL: 1 skipped test(s) not on the allow-list: example.com/m/pkg/a TestXY\n"},
		},
		{
			name: "the wrong package fails", allow: "example.com/m/pkg/a TestX: needs a GPU\n",
			skips: []string{"example.com/m/pkg/b TestX"}, wantCode: 1,
			want: []string{"FAIL: 1 skipped test(s) not on the allow-list: example.com/m/pkg/b TestX\n"},
		},
		{
			name: "only the unlisted skips are named", allow: "example.com/m/pkg/a TestX: needs a GPU\n",
			skips: []string{"example.com/m/pkg/a TestX", "example.com/m/pkg/a TestY"}, wantCode: 1,
			want: []string{"FAIL: 1 skipped test(s) not on the allow-list: example.com/m/pkg/a TestY\n"},
		},
		{
			name: "a line without a reason fails, naming its line", allow: header + "example.com/m/pkg/a TestX:\n",
			skips: []string{"example.com/m/pkg/a TestX"}, wantCode: 1,
			want: []string{"FAIL: malformed allow-list line: ALLOW:3: the entry for example.com/m/pkg/a TestX has no reason"},
		},
		{
			name: "a line with only white space as the reason fails", allow: "example.com/m/pkg/a TestX:   \t\n",
			wantCode: 1, want: []string{"FAIL: malformed allow-list line: ALLOW:1: the entry for example.com/m/pkg/a TestX has no reason"},
		},
		{
			name: "a line without the colon fails", allow: header + "example.com/m/pkg/a TestX needs a GPU\n",
			wantCode: 1, want: []string{"FAIL: malformed allow-list line: ALLOW:3: no \": reason\" after the test name"},
		},
		{
			name: "a line without the package fails", allow: "TestX: needs a GPU\n",
			wantCode: 1, want: []string{"FAIL: malformed allow-list line: ALLOW:1: no package import path"},
		},
		{
			name: "a line whose name is not a test fails", allow: "example.com/m/pkg/a helper: needs a GPU\n",
			wantCode: 1, want: []string{"FAIL: malformed allow-list line: ALLOW:1: \"helper\" is not a test name"},
		},
		{
			name:  "a malformed line fails even when every skip is listed",
			allow: "example.com/m/pkg/a TestX: needs a GPU\n# fine\nexample.com/m/pkg/a TestY\n",
			skips: []string{"example.com/m/pkg/a TestX"}, wantCode: 1,
			want:     []string{"allowed skips (ALLOW):\n    example.com/m/pkg/a TestX: needs a GPU\n", "FAIL: malformed allow-list line: ALLOW:3: "},
			dontWant: []string{"not on the allow-list"},
		},
		{
			name: "a colon inside a subtest name is part of the name", allow: "example.com/m/pkg/a TestX/a:b: needs a GPU\n",
			skips: []string{"example.com/m/pkg/a TestX/a:b"}, wantCode: 0, dontWant: []string{"FAIL"},
		},
		{
			name: "a missing allow-list fails", allow: "missing",
			wantCode: 1, want: []string{"FAIL: reading the allow-list of skipped tests: "},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "skips.allow")
			var args []string
			if tc.allow != "-" {
				args = []string{"-allow", path}
			}
			if tc.allow != "-" && tc.allow != "missing" {
				if err := os.WriteFile(path, []byte(tc.allow), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut strings.Builder
			code := run(args, strings.NewReader(skipEvents(tc.skips...)), &out, &errOut)
			got := strings.ReplaceAll(out.String(), path, "ALLOW")
			if code != tc.wantCode {
				t.Errorf("exit status %d, want %d\n%s%s", code, tc.wantCode, got, errOut.String())
			}
			rest := got
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Errorf("output lacks %q (after the previous ones):\n%s", w, got)
					continue
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tc.dontWant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestRepoAllowList: the repository's own allow-list is well-formed.
func TestRepoAllowList(t *testing.T) {
	const path = "../../test/skips.allow"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, errs := parseAllow(path, f); len(errs) > 0 {
		t.Errorf("%v", errs)
	}
}
