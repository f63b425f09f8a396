package main

import (
	"bytes"
	"os"
	"strconv"
)

// userHZ is the unit of /proc/stat's counters on every Linux platform Go
// supports.
const userHZ = 100

// hostBusyCPU is the CPU time, in seconds, every CPU of the machine has
// spent not idle since boot (user, nice, system, irq, softirq, steal from
// /proc/stat). ok is false where /proc/stat does not exist. Compared with
// the server's and the harness's own CPU it shows how much else ran on the
// machine during the window.
func hostBusyCPU() (secs float64, ok bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil || !bytes.HasPrefix(b, []byte("cpu ")) {
		return 0, false
	}
	line, _ := nextLine(b)
	f := bytes.Fields(line)
	var busy uint64
	for i, idx := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		if idx >= len(f) {
			return 0, i > 0
		}
		v, err := strconv.ParseUint(string(f[idx]), 10, 64)
		if err != nil {
			return 0, false
		}
		busy += v
	}
	return float64(busy) / userHZ, true
}
