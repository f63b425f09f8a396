package main

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/wstest"
)

func TestOpenURL(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080/",
		"0.0.0.0:8080":   "http://localhost:8080/",
		"127.0.0.1:9090": "http://127.0.0.1:9090/",
		"[::1]:8080":     "http://[::1]:8080/",
		"10.1.2.3:80":    "http://10.1.2.3:80/",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := openURL(tcp); got != want {
			t.Errorf("openURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

// wscatCommand matches the example client command in the docs.
var wscatCommand = regexp.MustCompile(`npx --yes wscat -c '[^']+'`)

// exampleClient returns the example client command the README gives, and
// checks the other docs that show one give the same, and none another tool.
func exampleClient(t *testing.T) string {
	t.Helper()
	var cmd string
	for _, path := range []string{"../../README.md", "../../docs/protocol.md", "../../docs/deploy.md", "../../deploy/k8s/README.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "websocat") {
			t.Errorf("%s mentions websocat, which is not packaged; the example client is npx wscat", path)
		}
		got := wscatCommand.FindAllString(string(b), -1)
		if len(got) == 0 {
			t.Errorf("%s shows no `npx --yes wscat -c '...'` command", path)
		}
		for _, c := range got {
			if cmd == "" {
				cmd = c
			} else if c != cmd {
				t.Errorf("%s shows %q, the README %q: one example everywhere", path, c, cmd)
			}
		}
	}
	if cmd != "npx --yes wscat -c 'ws://localhost:8080/ws?symbols=AAPL'" {
		t.Fatalf("README example client is %q", cmd)
	}
	return cmd
}

// TestExampleClient runs the docs' example client command as written, but
// for the port: a gateway here listens on a free one. It needs npx (Node.js
// with npm), which fetches wscat from the npm registry on first use, and is
// skipped where there is none.
func TestExampleClient(t *testing.T) {
	command := exampleClient(t)
	if testing.Short() {
		t.Skip("runs npx")
	}
	if _, err := exec.LookPath("npx"); err != nil {
		t.Skip("no npx on PATH (Node.js with npm): cannot run the example client")
	}
	t.Parallel()
	tg := startGateway(t, nil)
	tg.waitReady(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(tg.url, "http://"))
	command = strings.Replace(command, "localhost:8080", "localhost:"+port, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // the first npx fetches wscat
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) } // npx and node too
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe() // held open: wscat quits when its input ends
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(stdout)
	for len(lines) < 3 && sc.Scan() {
		if m, err := wstest.Decode([]byte(sc.Text())); err == nil && len(lines) == 0 && wstest.IsWelcome(m) {
			continue // the welcome comes first; the test is about what follows
		}
		lines = append(lines, sc.Text())
	}
	stdin.Close()
	for sc.Scan() { // let wscat exit on its own, pipes drained
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("%s: %v", command, err)
	}
	if len(lines) < 3 {
		t.Fatalf("%s printed %q, want the subscribed reply and ticks", command, lines)
	}
	if m, err := wstest.Decode([]byte(lines[0])); err != nil || m.Type != "subscribed" || strings.Join(m.Symbols, ",") != "AAPL" {
		t.Errorf("first line %q, want the subscribed reply for AAPL", lines[0])
	}
	for _, l := range lines[1:] {
		if m, err := wstest.Decode([]byte(l)); err != nil || m.Type != "tick" || m.Sym != "AAPL" {
			t.Errorf("line %q, want an AAPL tick", l)
		}
	}
}
