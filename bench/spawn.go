package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds on the child's lifecycle, so a run always ends by itself.
const (
	readyTimeout = 30 * time.Second
	stopTimeout  = 20 * time.Second // above the gateway's shutdown_timeout (15 s)
)

// binCache builds each server binary at most once per harness process, into
// a temporary directory removed by cleanup. override, if set, is used for
// every target instead of building.
type binCache struct {
	override string

	mu    sync.Mutex // protects the fields below
	dir   string
	paths map[string]string
}

func newBinCache(override string) *binCache {
	return &binCache{override: override, paths: map[string]string{}}
}

// packages maps a -target to the package built for it.
var packages = map[string]string{"tickgate": "./cmd/gateway", "baseline": "./bench/baseline", "floor": "./bench/floor"}

// path returns the binary for target, building it on first use with
// `go build` run at the module root. Centrifugo is never built: it comes
// from -centrifugo or PATH.
func (b *binCache) path(ctx context.Context, o *options, stderr io.Writer) (string, error) {
	target := o.target
	if target == "centrifugo" {
		return lookCentrifugo(o.centrifugo)
	}
	if b.override != "" {
		return b.override, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p, ok := b.paths[target]; ok {
		return p, nil
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return "", err
	}
	if b.dir == "" {
		if b.dir, err = os.MkdirTemp("", "tickgate-bench-"); err != nil {
			return "", err
		}
	}
	out := filepath.Join(b.dir, target)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, packages[target])
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, stderr, stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w", packages[target], err)
	}
	b.paths[target] = out
	return out, nil
}

func (b *binCache) cleanup() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dir != "" {
		os.RemoveAll(b.dir)
	}
}

// moduleRoot is the directory of the go.mod the go command sees from here.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("-spawn must run inside the tickgate module (or pass -gateway-bin)")
	}
	return filepath.Dir(gomod), nil
}

// child is a spawned server process.
type child struct {
	cmd     *exec.Cmd
	port    int
	ready   string        // path that answers 200 when ready
	cleanup func()        // removes the target's temporary files, if any
	done    chan struct{} // closed when the process has exited
	err     error         // Wait's result; read after done
}

// startServer starts bin on a free port with feed rate ticks/s (its own
// feed, or natsURL's), room for o.clients connections, optionally pinned to
// the server's CPU set, and waits until it answers ready.
func startServer(ctx context.Context, o *options, bin string, rate float64, natsURL string, stderr io.Writer) (*child, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	spec, err := specFor(o, port, rate, natsURL)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, spec.args...)
	if o.pin {
		if cmd, err = pinnedCommand(bin, spec.args); err != nil {
			return nil, err
		}
	}
	cmd.Env = append(os.Environ(), spec.env...)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	c := &child{cmd: cmd, port: port, ready: spec.readyPath, cleanup: spec.cleanup, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := c.waitReady(ctx); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// freePort asks the kernel for a port free on every interface, since the
// server listens on ":port".
func freePort() (int, error) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls /readyz until 200, the child exits, ctx ends or
// readyTimeout passes.
func (c *child) waitReady(ctx context.Context) error {
	url := fmt.Sprintf("http://127.0.0.1:%d%s", c.port, c.ready)
	hc := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer hc.CloseIdleConnections()
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(50 * time.Millisecond)
	defer poll.Stop()
	for {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return fmt.Errorf("server exited before ready: %v", c.err)
		case <-deadline.C:
			return fmt.Errorf("server not ready at %s after %s", url, readyTimeout)
		case <-poll.C:
		}
	}
}

// stop sends SIGTERM, waits up to stopTimeout for the exit, then kills.
func (c *child) stop() {
	if c.cleanup != nil {
		defer c.cleanup()
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(stopTimeout)
	defer t.Stop()
	select {
	case <-c.done:
	case <-t.C:
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}
