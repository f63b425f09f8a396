package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/ssetest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// TestSSEEndpoint streams from the gateway's /sse: the subscribe's reply
// and ticks, the stream counted as transport sse in /metrics, and the
// shutdown's close event.
func TestSSEEndpoint(t *testing.T) {
	t.Parallel()
	tg := startGateway(t, nil)
	tg.waitReady(t)
	c := ssetest.Dial(t, tg.url+"/sse?symbols=AAPL,MSFT&max_rate=4", ssetest.Options{})
	if m := c.Next(); m.Type != "subscribed" || strings.Join(m.Symbols, ",") != "AAPL,MSFT" || m.MaxRate != 4 {
		t.Fatalf("first message %s, want subscribed to AAPL and MSFT at max_rate 4", m.Raw)
	}
	for range 4 {
		if m := c.Next(); m.Type != "tick" {
			t.Fatalf("got %s, want ticks", m.Raw)
		}
	}
	if _, body := get(tg.url + "/metrics"); !strings.Contains(body, `tickgate_connections{transport="sse"} 1`) || !strings.Contains(body, `tickgate_connections{transport="ws"} 0`) {
		t.Errorf("/metrics does not count the stream under transport sse:\n%s", grepLines(body, "tickgate_connections"))
	}
	tg.stop()
	err := c.ReadUntilClose(15 * time.Second)
	var cl *ssetest.Closed
	if !errors.As(err, &cl) || cl.Code != 1001 {
		t.Fatalf("stream ended with %v, want the close event 1001", err)
	}
	if err := tg.wait(); err != nil {
		t.Errorf("serve = %v", err)
	}
	if v, _ := metricValue(t, tg.gw.reg, "tickgate_disconnects_total", "reason", "shutdown", "transport", "sse"); v != 1 {
		t.Errorf("tickgate_disconnects_total{reason=shutdown,transport=sse} = %g, want 1", v)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for line := range strings.SplitSeq(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// curlCommand matches the curl look at ticks in the docs.
var curlCommand = regexp.MustCompile(`curl -N '[^']+'`)

// TestExampleCurl runs the docs' curl command as written, but for the
// port: the README's first screen and docs/protocol.md show the same one.
// It needs curl, and is skipped where there is none.
func TestExampleCurl(t *testing.T) {
	var command string
	for _, path := range []string{"../../README.md", "../../docs/protocol.md"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got := curlCommand.FindAllString(string(b), -1)
		if len(got) == 0 {
			t.Errorf("%s shows no `curl -N '...'` command", path)
		}
		for _, c := range got {
			if c != "curl -N 'http://localhost:8080/sse?symbols=AAPL'" {
				t.Errorf("%s shows %q: one example everywhere", path, c)
			}
			command = c
		}
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("no curl on PATH: cannot run the example")
	}
	t.Parallel()
	tg := startGateway(t, nil)
	tg.waitReady(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(tg.url, "http://"))
	command = strings.Replace(command, "localhost:8080", "localhost:"+port, 1)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr bytes.Buffer // curl's progress meter, for a failure
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var data []wstest.Msg
	ids := 0
	sc := bufio.NewScanner(stdout)
	for len(data) < 4 && sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "id: ") {
			ids++
		}
		if payload, ok := strings.CutPrefix(line, "data: "); ok {
			m, err := wstest.Decode([]byte(payload))
			if err != nil {
				t.Fatalf("%s printed %q: %v", command, line, err)
			}
			data = append(data, m)
		}
	}
	cancel() // curl streams until it is stopped
	cmd.Wait()
	if len(data) < 4 || ids == 0 {
		t.Fatalf("%s printed %d messages and %d ids, want the welcome, subscribed and ticks; stderr:\n%s", command, len(data), ids, stderr.String())
	}
	if data[0].Type != "welcome" || data[1].Type != "subscribed" || strings.Join(data[1].Symbols, ",") != "AAPL" {
		t.Errorf("%s began with %s and %s, want the welcome and the subscribed reply for AAPL", command, data[0].Raw, data[1].Raw)
	}
	for _, m := range data[2:] {
		if m.Type != "tick" || m.Sym != "AAPL" {
			t.Errorf("%s printed %s, want an AAPL tick", command, m.Raw)
		}
	}
}
