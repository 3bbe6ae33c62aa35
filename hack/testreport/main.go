// Command testreport reads `go test -json` on stdin and prints what a person or CI needs: each
// package's result line (ok / FAIL / no test files), the whole output of every failed test, and
// every skipped test with its reason, since a skipped test is not a passing one. It prints a
// count of skips at the end.
//
// With -allow FILE it then prints the allow-list FILE and exits 1 when a test skipped that the
// list does not name, or when the list has a line it cannot read. Each entry is one line,
//
//	PACKAGE_IMPORT_PATH TestName[/subtest]: reason
//
// with the reason required; blank lines and lines starting with # are ignored. An entry for a
// test allows its subtests' skips too. Otherwise its exit status is 0: the caller keeps go
// test's own.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// skipped is one skipped test: its package's import path and its full name (TestX/sub).
type skipped struct {
	Package, Test string
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, in io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("testreport", flag.ContinueOnError)
	fs.SetOutput(stderr)
	allowPath := fs.String("allow", "", "allow-list `FILE` of skipped tests; exit 1 on a skip it does not name or a malformed line")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "testreport: unexpected arguments %q; it reads go test -json on stdin\n", fs.Args())
		return 2
	}
	skips := report(in, stdout)
	if *allowPath == "" {
		return 0
	}
	return checkAllow(*allowPath, skips, stdout)
}

func report(in io.Reader, w io.Writer) []skipped {
	out := bufio.NewWriter(w)
	defer out.Flush()
	logs := map[string][]string{} // package + test → its output lines
	var skips []skipped
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if json.Unmarshal(line, &e) != nil {
			fmt.Fprintln(out, string(line)) // not JSON: a build error or the like
			continue
		}
		key := e.Package + " " + e.Test
		switch {
		case e.Action == "output" && e.Test == "":
			o := e.Output
			if strings.HasPrefix(o, "ok ") || strings.HasPrefix(o, "FAIL") || strings.HasPrefix(o, "?") ||
				strings.HasPrefix(o, "panic") || strings.Contains(o, "[build failed]") || strings.Contains(o, ".go:") {
				fmt.Fprint(out, o)
			}
		case e.Action == "output":
			if !strings.HasPrefix(strings.TrimSpace(e.Output), "=== ") {
				logs[key] = append(logs[key], e.Output)
			}
		case e.Action == "skip" && e.Test != "":
			skips = append(skips, skipped{e.Package, e.Test})
			fmt.Fprintf(out, "SKIP %s (%s):\n", e.Test, e.Package)
			for _, l := range logs[key] {
				if !strings.Contains(l, "--- SKIP") {
					fmt.Fprint(out, "    "+strings.TrimLeft(l, " \t"))
				}
			}
			delete(logs, key)
		case e.Action == "fail" && e.Test != "":
			fmt.Fprintf(out, "FAIL %s (%s):\n", e.Test, e.Package)
			for _, l := range logs[key] {
				fmt.Fprint(out, l)
			}
			delete(logs, key)
		case e.Action == "pass" && e.Test != "":
			delete(logs, key)
		}
	}
	fmt.Fprintf(out, "%d tests skipped\n", len(skips))
	return skips
}

// allowEntry is one line of the allow-list.
type allowEntry struct {
	Package, Test, Reason string
	Line                  string // as written, for printing
}

// allows reports whether the entry covers s: same package, and the same test or one of its
// ancestors (an entry for TestX allows TestX/case).
func (a allowEntry) allows(s skipped) bool {
	return a.Package == s.Package && (s.Test == a.Test || strings.HasPrefix(s.Test, a.Test+"/"))
}

const allowFormat = "want `PACKAGE_IMPORT_PATH TestName[/subtest]: reason`"

// topLevel is the name of a top-level test, fuzz target or benchmark, the only functions
// go test runs that can skip.
var topLevel = regexp.MustCompile(`^(Test|Fuzz|Benchmark)[\p{L}\p{N}_]*$`)

var (
	importPath = regexp.MustCompile(`^[\p{L}\p{N}_.~+/-]+$`)
	nameEnd    = regexp.MustCompile(`:(\s|$)`)
)

// parseAllow reads an allow-list. Each malformed line is an error naming its line number.
func parseAllow(path string, r io.Reader) ([]allowEntry, []error) {
	var entries []allowEntry
	var errs []error
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(why string) { errs = append(errs, fmt.Errorf("%s:%d: %s: %s", path, n, why, allowFormat)) }
		i := strings.IndexAny(line, " \t")
		if i < 0 || !importPath.MatchString(line[:i]) {
			bad(fmt.Sprintf("no package import path before the test name in %q", line))
			continue
		}
		pkg, rest := line[:i], strings.TrimLeft(line[i:], " \t")
		// go test writes spaces in test names as _, so the first colon followed by white space
		// (or ending the line) ends the name; colons within it are kept.
		end := nameEnd.FindStringIndex(rest)
		if end == nil {
			bad(fmt.Sprintf("no \": reason\" after the test name in %q", line))
			continue
		}
		name, reason := rest[:end[0]], rest[end[0]+1:]
		if top, _, _ := strings.Cut(name, "/"); !topLevel.MatchString(top) || strings.ContainsAny(name, " \t") || strings.HasSuffix(name, "/") {
			bad(fmt.Sprintf("%q is not a test name (TestX, TestX/subtest)", name))
			continue
		}
		reason = strings.TrimSpace(reason)
		if reason == "" {
			bad(fmt.Sprintf("the entry for %s %s has no reason", pkg, name))
			continue
		}
		entries = append(entries, allowEntry{Package: pkg, Test: name, Reason: reason, Line: line})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %v", path, err))
	}
	return entries, errs
}

// checkAllow prints the allow-list and returns 1 when a skip is not on it or the list is
// malformed or unreadable, 0 otherwise.
func checkAllow(path string, skips []skipped, w io.Writer) int {
	f, err := os.Open(path)
	if err != nil {
		fmt.Fprintf(w, "FAIL: reading the allow-list of skipped tests: %v\n", err)
		return 1
	}
	defer f.Close()
	entries, errs := parseAllow(path, f)
	fmt.Fprintf(w, "allowed skips (%s):\n", path)
	if len(entries) == 0 {
		fmt.Fprintln(w, "    none")
	}
	for _, e := range entries {
		fmt.Fprintf(w, "    %s\n", e.Line)
	}
	status := 0
	for _, err := range errs {
		fmt.Fprintf(w, "FAIL: malformed allow-list line: %v\n", err)
		status = 1
	}
	var unlisted []string
	for _, s := range skips {
		allowed := false
		for _, e := range entries {
			if e.allows(s) {
				allowed = true
				break
			}
		}
		if !allowed {
			unlisted = append(unlisted, s.Package+" "+s.Test)
		}
	}
	if len(unlisted) > 0 {
		fmt.Fprintf(w, "FAIL: %d skipped test(s) not on the allow-list: %s\n", len(unlisted), strings.Join(unlisted, ", "))
		fmt.Fprintf(w, "    a skipped test is not a passing one: make it run here, or add `PACKAGE TestName: reason` to %s if it cannot\n", path)
		status = 1
	}
	return status
}
