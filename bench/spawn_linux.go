package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel kill the server if the harness dies without
// stopping it (SIGKILL, panic).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
