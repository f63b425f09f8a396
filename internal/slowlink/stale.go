//go:build linux

package slowlink

import (
	"os"
	"strconv"
	"strings"
)

// CleanStale deletes the links of processes that are gone: a test killed
// before its cleanup ran leaves its namespace behind, and with it the
// veth pair and its address, until this runs. Errors are ignored: another
// process may be cleaning the same one.
func CleanStale() {
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return
	}
	for _, e := range entries {
		if pid, ok := ownerOf(e.Name()); ok && !alive(pid) {
			deleteNamespace(e.Name())
		}
	}
}

// ownerOf is the pid in a namespace name this package made.
func ownerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	pid, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(pid)
	return n, err == nil && n > 0
}

// alive reports whether process pid exists.
func alive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}
