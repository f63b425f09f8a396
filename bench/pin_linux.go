package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// setAffinity applies cpus to every thread of this process
// (sched_setaffinity acts on one thread; /proc/self/task lists them all).
func setAffinity(cpus []int) error {
	var mask [16]uint64 // 1024 CPUs
	for _, c := range cpus {
		mask[c/64] |= 1 << (c % 64)
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		_, _, e := syscall.RawSyscall(syscall.SYS_SCHED_SETAFFINITY, uintptr(tid), unsafe.Sizeof(mask), uintptr(unsafe.Pointer(&mask)))
		if e != 0 && e != syscall.ESRCH { // ESRCH: the thread has exited
			return fmt.Errorf("sched_setaffinity(%d): %w", tid, e)
		}
	}
	return nil
}
