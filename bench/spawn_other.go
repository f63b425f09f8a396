//go:build !linux

package main

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal;
// the harness still stops its child on every normal exit path.
func dieWithParent(*exec.Cmd) {}
