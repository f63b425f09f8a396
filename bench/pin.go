package main

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

// cpuSets splits the machine's CPUs for -pin: the server gets the first
// half (at least one), the harness the rest. On the 2-core box that is one
// core each, so the server's CPU per frame is measured on a core of its own.
func cpuSets() (server, harness []int, err error) {
	n := runtime.NumCPU()
	if n < 2 {
		return nil, nil, fmt.Errorf("-pin needs at least 2 CPUs, this process may use %d", n)
	}
	for i := range n {
		if i < n/2 {
			server = append(server, i)
		} else {
			harness = append(harness, i)
		}
	}
	return server, harness, nil
}

// cpuList formats CPUs as taskset's -c list.
func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// pinnedCommand runs bin under taskset on the server's CPU set; taskset
// execs bin, so the child's pid is the server's.
func pinnedCommand(bin string, args []string) (*exec.Cmd, error) {
	server, _, err := cpuSets()
	if err != nil {
		return nil, err
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return nil, errors.New("-pin: taskset not on PATH (Debian: apt-get install util-linux)")
	}
	return exec.Command(ts, append([]string{"-c", cpuList(server), bin}, args...)...), nil
}

// pinHarness moves every thread of this process onto the harness's CPU
// set and sizes GOMAXPROCS to it. Threads started later inherit the mask.
func pinHarness(stderr io.Writer) error {
	server, harness, err := cpuSets()
	if err != nil {
		return err
	}
	if err := setAffinity(harness); err != nil {
		return fmt.Errorf("-pin: %w", err)
	}
	runtime.GOMAXPROCS(len(harness))
	fmt.Fprintf(stderr, "pinned: server on CPUs %s, harness on CPUs %s\n", cpuList(server), cpuList(harness))
	return nil
}
