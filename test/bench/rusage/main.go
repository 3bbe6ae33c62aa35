// Command rusage runs a command and writes its wall time, CPU time, peak RSS and exit code as
// JSON to a file: the launcher of the scan benchmark (test/bench/scan).
//
//	rusage OUT.json COMMAND [ARG...]
//
// It exists because a child's ru_maxrss counts the memory of the process that started it: Go's
// os/exec starts children with vfork (CLONE_VM), and at execve Linux keeps the high-water RSS
// of the address space being replaced, which is the parent's. The benchmark's own process holds
// thousands of Services, so every child would report at least that; this launcher only imports
// the standard library, so the floor it adds is a couple of MiB. The command's stdin, stdout
// and stderr are this process's; the launcher itself exits 0 once the JSON is written (the
// command's exit code is in it), or 125 if it could not run the command.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Result is what the launcher writes.
type Result struct {
	WallNs    int64 `json:"wallNs"`
	UserNs    int64 `json:"userNs"`
	SysNs     int64 `json:"sysNs"`
	MaxRSSKiB int64 `json:"maxRSSKiB"`
	ExitCode  int   `json:"exitCode"`
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: rusage OUT.json COMMAND [ARG...]")
		os.Exit(125)
	}
	cmd := exec.Command(os.Args[2], os.Args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(125)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "rusage: no resource usage for the command on this platform")
		os.Exit(125)
	}
	b, err := json.Marshal(Result{
		WallNs:    wall.Nanoseconds(),
		UserNs:    ru.Utime.Nano(),
		SysNs:     ru.Stime.Nano(),
		MaxRSSKiB: ru.Maxrss, // KiB on Linux
		ExitCode:  cmd.ProcessState.ExitCode(),
	})
	if err == nil {
		err = os.WriteFile(os.Args[1], b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(125)
	}
}
