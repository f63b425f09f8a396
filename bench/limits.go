package main

import (
	"fmt"
	"syscall"
)

// fdHeadroom is the descriptors a process needs besides one per client:
// listeners, metrics scrapes, pipes, the binary itself.
const fdHeadroom = 100

// checkFileLimit raises the soft RLIMIT_NOFILE to the hard limit and fails
// early, with the numbers, if the harness (or the spawned server, which
// inherits the hard limit) could not hold every connection open.
func checkFileLimit(o *options) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return fmt.Errorf("getrlimit: %w", err)
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			rl = raised
		}
	}
	need := uint64(o.clients) + fdHeadroom
	if need > rl.Cur {
		return fmt.Errorf("-clients %d needs %d open files; this process may open %d (ulimit -n)", o.clients, need, rl.Cur)
	}
	if o.spawn && need > rl.Max {
		return fmt.Errorf("-clients %d needs %d open files in the spawned server; it may open %d (ulimit -Hn)", o.clients, need, rl.Max)
	}
	return nil
}
