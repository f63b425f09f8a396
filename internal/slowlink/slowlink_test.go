//go:build linux

package slowlink

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestLinkShapesWhatTheHostSends dials the host from inside the namespace:
// the host sees the peer's address, what it sends goes through the tbf
// qdisc on the host end, and Close deletes the namespace.
func TestLinkShapesWhatTheHostSends(t *testing.T) {
	t.Parallel()
	l := New(t, Config{Rate: "2mbit", Loss: 0.01})
	ln, err := net.Listen("tcp", netip.AddrPortFrom(l.Host, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	const size = 64 << 10
	sent := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		if got := netip.MustParseAddrPort(c.RemoteAddr().String()).Addr(); got != l.Peer {
			sent <- fmt.Errorf("accepted from %v, want the peer %v", got, l.Peer)
			return
		}
		_, err = c.Write(make([]byte, size))
		sent <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := l.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if n, err := io.Copy(io.Discard, io.LimitReader(c, size)); n != size {
		t.Fatalf("read %d of %d bytes: %v", n, size, err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if out := tcStats(t, l); !strings.Contains(out, "qdisc tbf") || !strings.Contains(out, "rate 2Mbit") {
		t.Fatalf("no tbf at 2 Mbit/s on the host end: %s", out)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + l.Name); !os.IsNotExist(err) {
		t.Fatalf("namespace %s still there after Close (%v)", l.Name, err)
	}
}

// tcStats is tc's account of the qdisc on l's host end.
func tcStats(t *testing.T, l *Link) string {
	t.Helper()
	out, err := exec.Command("ip", "-o", "route", "get", l.Peer.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("ip route get: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	dev := ""
	for i := range f {
		if f[i] == "dev" && i+1 < len(f) {
			dev = f[i+1]
		}
	}
	out, err = exec.Command("tc", "-s", "qdisc", "show", "dev", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("tc: %v: %s", err, out)
	}
	return string(out)
}

// TestCleanStaleDeletesDeadProcessesLinks: a namespace named for a process
// that is gone is deleted; one of a live process is kept.
func TestCleanStaleDeletesDeadProcessesLinks(t *testing.T) {
	t.Parallel()
	New(t, Config{Rate: "1mbit"})                      // skips where links cannot be made
	dead := fmt.Sprintf("%s%d-1", namePrefix, 1<<22+1) // past any pid_max
	if err := run("ip", "netns", "add", dead); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNamespace(dead) })
	live := New(t, Config{Rate: "1mbit"})
	CleanStale()
	if _, err := os.Stat("/run/netns/" + dead); !os.IsNotExist(err) {
		t.Fatalf("stale namespace %s kept (%v)", dead, err)
	}
	if _, err := os.Stat("/run/netns/" + live.Name); err != nil {
		t.Fatalf("live namespace %s deleted: %v", live.Name, err)
	}
}
