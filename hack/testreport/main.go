// Command testreport reads `go test -json` on stdin and prints what a person or CI needs: each
// package's result line (ok / FAIL / no test files), the whole output of every failed test, and
// every skipped test with its reason, since a skipped test is not a passing one. It prints a
// count of skips at the end. Its exit status is 0; the caller keeps go test's.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

func main() {
	report(os.Stdin, os.Stdout)
}

func report(in io.Reader, w io.Writer) {
	out := bufio.NewWriter(w)
	defer out.Flush()
	logs := map[string][]string{} // package + test → its output lines
	var skips []string
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
			skips = append(skips, e.Test)
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
}
