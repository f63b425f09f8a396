//go:build linux

package slowlink

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// namePrefix starts every namespace this package makes: tgsl-<pid>-<n>.
const namePrefix = "tgsl-"

var seq atomic.Uint32

// Open makes a link shaped by cfg.
func Open(cfg Config) (*Link, error) {
	if cfg.Rate == "" {
		return nil, errors.New("slowlink: Config.Rate is required")
	}
	if cfg.Loss < 0 || cfg.Loss >= 1 {
		return nil, fmt.Errorf("slowlink: Loss %g: want [0, 1)", cfg.Loss)
	}
	CleanStale()
	n := seq.Add(1)
	l := &Link{Name: fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), n)}
	hostDev, peerDev := vethNames(os.Getpid(), n)
	prefix, err := freeSubnet()
	if err != nil {
		return nil, err
	}
	l.Host, l.Peer = prefix.Addr().Next(), prefix.Addr().Next().Next()
	steps := [][]string{
		{"ip", "netns", "add", l.Name},
		{"ip", "link", "add", hostDev, "type", "veth", "peer", "name", peerDev, "netns", l.Name},
		{"ip", "addr", "add", l.Host.String() + "/30", "dev", hostDev},
		{"ip", "link", "set", hostDev, "up"},
		{"ip", "-n", l.Name, "addr", "add", l.Peer.String() + "/30", "dev", peerDev},
		{"ip", "-n", l.Name, "link", "set", peerDev, "up"},
		{"ip", "-n", l.Name, "link", "set", "lo", "up"},
		append([]string{"tc", "qdisc", "add", "dev", hostDev, "root"}, tbf(cfg.Rate)...),
	}
	if cfg.Loss > 0 {
		ipt, err := iptables()
		if err != nil {
			return nil, err
		}
		p := strconv.FormatFloat(cfg.Loss, 'f', -1, 64)
		for _, chain := range []string{"INPUT", "OUTPUT"} {
			steps = append(steps, []string{"ip", "netns", "exec", l.Name, ipt, "-A", chain, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"})
		}
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// tbf is the tbf qdisc's arguments for rate: a bucket of two full frames,
// and a queue of up to 100 ms of the rate.
func tbf(rate string) []string {
	return []string{"tbf", "rate", rate, "burst", "3028", "mtu", "1514", "latency", "100ms"}
}

// vethNames are the pair's names: at most 15 bytes (IFNAMSIZ) for any pid.
func vethNames(pid int, n uint32) (host, peer string) {
	id := fmt.Sprintf("tgs%dx%d", pid, n%1000)
	return id + "h", id + "n"
}

// freeSubnet picks a /30 of 198.18.0.0/15 (RFC 2544's benchmarking
// range) that no interface has an address in.
func freeSubnet() (netip.Prefix, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("slowlink: %w", err)
	}
	for range 100 {
		i := rand.Uint32N(1 << 15)
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18 + byte(i>>14), byte(i >> 6), byte(i << 2)}), 30)
		used := false
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(n.IP); ok && p.Contains(ip.Unmap()) {
					used = true
				}
			}
		}
		if !used {
			return p, nil
		}
	}
	return netip.Prefix{}, errors.New("slowlink: no free /30 in 198.18.0.0/15")
}

// iptables is the iptables command to drop packets with: Debian's
// iptables-legacy if there is one, else iptables.
func iptables() (string, error) {
	for _, name := range []string{"iptables-legacy", "iptables"} {
		if _, err := exec.LookPath(name); err == nil {
			return name, nil
		}
	}
	return "", errors.New("slowlink: Loss needs iptables (apt-get install iptables)")
}

// Close deletes the link: the namespace, and the veth pair, tbf and rules
// with it. Later calls return the first call's error.
func (l *Link) Close() error {
	l.closeOnce.Do(func() { l.closeErr = deleteNamespace(l.Name) })
	return l.closeErr
}

// DialContext dials addr from inside the namespace: the connection crosses
// the shaped link. It has net.Dialer.DialContext's signature, for an
// http.Transport. addr must be an IP address and port (no name lookups
// inside).
func (l *Link) DialContext(ctx context.Context, network, addr string) (c net.Conn, err error) {
	if _, perr := netip.ParseAddrPort(addr); perr != nil {
		return nil, fmt.Errorf("slowlink: dial %q: want an IP address and port", addr)
	}
	inErr := l.inside(func() { c, err = (&net.Dialer{}).DialContext(ctx, network, addr) })
	if inErr != nil {
		if c != nil {
			c.Close()
		}
		return nil, inErr
	}
	return c, err
}

// inside runs f on an OS thread moved into the namespace, and moves the
// thread back. A socket belongs to the namespace it was made in, wherever
// it is used later; f must make its sockets on the calling goroutine.
func (l *Link) inside(f func()) error {
	runtime.LockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("slowlink: %w", err)
	}
	defer self.Close()
	ns, err := os.Open("/run/netns/" + l.Name)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("slowlink: %w", err)
	}
	defer ns.Close()
	if err := setns(ns); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	f()
	if err := setns(self); err != nil {
		// The thread stays locked, so it ends with this goroutine
		// instead of serving others from inside the namespace.
		return err
	}
	runtime.UnlockOSThread()
	return nil
}

// setns moves the calling thread into the network namespace f names.
func setns(f *os.File) error {
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("slowlink: setns: %w", err)
	}
	return nil
}

// run runs a setup command, its output in the error if it fails.
func run(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("slowlink: %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// deleteNamespace deletes the namespace name; its veth end goes with it,
// and the pair's host end with that.
func deleteNamespace(name string) error {
	return run("ip", "netns", "del", name)
}
