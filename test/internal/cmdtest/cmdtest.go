// Package cmdtest runs commands for the end-to-end tests: the result of one command (stdout,
// stderr, exit code) and a runner that fails the test only when the command can't run at all.
package cmdtest

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// Result is one command's outcome.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Run runs cmd with stdin (none when empty) and returns its outcome; a non-zero exit is a
// result, not a failure. The test fails when the command can't be started or is killed.
func Run(t testing.TB, cmd *exec.Cmd, stdin string) Result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		r.Code = exitErr.ExitCode()
	default:
		t.Fatalf("running %v: %v", cmd.Args, err)
	}
	return r
}
