package main

import (
	"bytes"
	"os"
	"strconv"
)

// pageSize converts /proc's RSS in pages to bytes.
var pageSize = float64(os.Getpagesize())

// addProc overwrites cpu, rss and fds with pid's own figures from /proc,
// so every spawned target (the floor has no /metrics) is measured the same
// way. Nothing changes where /proc cannot be read.
func (st *serverStats) addProc(pid int) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return
	}
	i := bytes.LastIndexByte(b, ')') // the command name may contain spaces
	if i < 0 {
		return
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return
	}
	utime, err1 := strconv.ParseUint(string(f[11]), 10, 64) // field 14
	stime, err2 := strconv.ParseUint(string(f[12]), 10, 64) // field 15
	rss, err3 := strconv.ParseUint(string(f[21]), 10, 64)   // field 24, pages
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	st.cpu = float64(utime+stime) / userHZ
	st.rss = float64(rss) * pageSize
	if fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd"); err == nil {
		st.fds = float64(len(fds))
	}
	st.procOK = true
}
