//go:build linux

package cluster

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// childSysProcAttr makes the kernel kill a server if the process that started it dies (for
// example when an interrupted test binary exits without running its cleanups).
func childSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

// startCmd starts cmd from a goroutine locked to an OS thread that never exits: Pdeathsig
// fires when the thread that forked the child exits, not the process, and Go ends a thread
// when a goroutine locked to it returns.
func startCmd(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for r := range spawnReqs {
				r.done <- r.cmd.Start()
			}
		}()
	})
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, done: done}
	return <-done
}
