//go:build !linux

package cluster

import (
	"os/exec"
	"syscall"
)

// childSysProcAttr returns nil: only Linux can kill children when the parent dies.
func childSysProcAttr() *syscall.SysProcAttr { return nil }

func startCmd(cmd *exec.Cmd) error { return cmd.Start() }
