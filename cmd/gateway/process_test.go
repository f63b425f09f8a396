package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/internal/logtest"
	"github.com/tickgate/tickgate/internal/poll"
)

// listenAddr matches the address in the "tickgate listening" log line; the
// gateway listens on port 0 and the test reads the port it got.
var listenAddr = regexp.MustCompile(`msg="tickgate listening" addr=(\S+)`)

// waitListening polls a gateway's log for its listening address.
func waitListening(t *testing.T, log *logtest.Buffer) string {
	t.Helper()
	var addr string
	poll.Until(t, 10*time.Second, func() error {
		m := listenAddr.FindStringSubmatch(log.String())
		if m == nil {
			return fmt.Errorf("no listening line in log:\n%s", log.String())
		}
		addr = m[1]
		return nil
	})
	return addr
}

// TestRun runs the whole command in-process, as main does, until its
// context ends.
func TestRun(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, yamlOf(map[string]string{
		"listen": `"127.0.0.1:0"`, "server.drain_window": "100ms", "server.shutdown_timeout": "5s",
	}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log logtest.Buffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--config", path}, &log) }()

	tg := &testGateway{url: "http://" + waitListening(t, &log)}
	tg.waitReady(t)
	if want := "\nopen " + tg.url + "/\n"; !strings.Contains(log.String(), want) {
		t.Errorf("output does not say %q:\n%s", strings.TrimSpace(want), log.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v, want nil after ctx is done", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("run did not return within server.shutdown_timeout")
	}
}

func TestRunListenFails(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "listen: \"256.0.0.1:0\"\n")
	var log logtest.Buffer
	if err := run(context.Background(), []string{"--config", path}, &log); err == nil {
		t.Error("run with an address it cannot listen on = nil, want an error")
	}
}

// TestSIGTERM builds the binary and checks the drain as an orchestrator
// sees it: SIGTERM, clients closed with 1001, exit code 0. SIGHUP drains
// the same way: nothing reloads, and a hang-up never ends the gateway
// without a close.
func TestSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the gateway binary")
	}
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "gateway")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP} {
		t.Run(sig.String(), func(t *testing.T) { t.Parallel(); testDrainOnSignal(t, bin, sig) })
	}
}

// testDrainOnSignal runs bin, connects a client and sends sig: the client
// must be closed with 1001 and the gateway exit 0.
func testDrainOnSignal(t *testing.T, bin string, sig syscall.Signal) {
	const shutdownTimeout = 5 * time.Second
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"TICKGATE_LISTEN=127.0.0.1:0",
		"TICKGATE_SERVER_DRAIN_WINDOW=200ms",
		"TICKGATE_SERVER_SHUTDOWN_TIMEOUT="+shutdownTimeout.String(),
		"TICKGATE_FEED_SIM_RATE=2000",
	)
	var log logtest.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed once Wait has set waitErr
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
	})

	addr := waitListening(t, &log)
	tg := &testGateway{url: "http://" + addr, ws: "ws://" + addr + "/ws"}
	tg.waitReady(t)
	c := connect(t, tg, "?symbols=AAPL")
	if m := c.Next(); m.Type != "subscribed" {
		t.Fatalf("first message %s, want subscribed", m.Raw)
	}
	closed := make(chan error, 1)
	go func() { closed <- c.ReadUntilError(15 * time.Second) }()

	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(shutdownTimeout)
	select {
	case err := <-closed:
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Errorf("client closed with %v, want status 1001 (going away)", err)
		}
	case <-timeout:
		t.Fatalf("client not closed within server.shutdown_timeout of %v", sig)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("gateway exited with %v, want code 0; log:\n%s", waitErr, log.String())
		}
	case <-timeout:
		t.Fatalf("gateway still running %s after %v; log:\n%s", shutdownTimeout, sig, log.String())
	}
	if code, _ := get(tg.url + "/healthz"); code == http.StatusOK {
		t.Error("/healthz still answers after exit")
	}
}
