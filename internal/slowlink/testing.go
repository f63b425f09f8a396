package slowlink

import (
	"os"
	"os/exec"
	"testing"
)

// New opens a link for tb and closes it when tb ends. Where a link cannot
// be made (not root, no iproute2, no namespaces, no iptables for loss) it
// skips tb, saying why.
func New(tb testing.TB, cfg Config) *Link {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("slowlink: making a network namespace needs root")
	}
	for _, cmd := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(cmd); err != nil {
			tb.Skipf("slowlink: no %s: install iproute2", cmd)
		}
	}
	l, err := Open(cfg)
	if err != nil {
		tb.Skipf("slowlink: cannot make a shaped link here: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("slowlink: %v", err)
		}
	})
	return l
}
