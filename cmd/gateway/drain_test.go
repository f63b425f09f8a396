package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tickgate/tickgate/internal/logtest"
	"github.com/tickgate/tickgate/internal/wstest"
)

// checkDraining checks what a draining gateway serves: probes and metrics
// over HTTP as usual, with readiness off, and 503 to a new WebSocket. The
// dial comes first: it is the check a short drain may outlast.
func checkDraining(t *testing.T, tg *testGateway) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := wstest.DialRaw(ctx, tg.ws, nil)
	if err == nil {
		conn.CloseNow()
		t.Error("WebSocket dial while draining succeeded, want 503")
	} else if resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("WebSocket dial while draining: %v (response %v), want HTTP 503", err, resp)
	}
	if tg.gw.clients.Ready() {
		t.Error("gateway ready while draining")
	}
	if code, body := get(tg.url + "/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining = %d %q, want 503", code, body)
	}
	if code, body := get(tg.url + "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining = %d %q, want 200", code, body)
	}
	if code, body := get(tg.url + "/metrics"); code != http.StatusOK || !strings.Contains(body, "tickgate_ready 0") {
		t.Errorf("/metrics while draining = %d, want 200 with tickgate_ready 0:\n%.300s", code, body)
	}
}

// TestDrainManyClientsInsideWindow drains 500 clients. The gateway must
// send the last close a tenth of server.drain_window before its end (so
// the handshakes end inside it), however many clients it closes: closes
// stepped one after another added up their lateness, and overran the window
// by 0.6 s with 500 clients. The check allows this process's own wake-up
// lateness, measured meanwhile (twice over), for the machine is shared. It is not
// parallel, so it runs before the package's parallel tests start.
func TestDrainManyClientsInsideWindow(t *testing.T) {
	if testing.Short() {
		t.Skip("500 connections")
	}
	const clients = 500
	window := 4 * time.Second
	var log logtest.Buffer
	tg := startGatewayLog(t, map[string]string{
		"server.drain_window": window.String(), "server.shutdown_timeout": "30s",
	}, slog.New(slog.NewJSONHandler(&log, nil)))
	tg.waitReady(t)
	cs := make([]*wstest.Client, clients)
	for i := range cs {
		cs[i] = wstest.Dial(t, tg.ws)
	}
	var (
		mu     sync.Mutex
		closed []time.Duration // since the signal, as each client saw its close
		wg     sync.WaitGroup
		start  time.Time
	)
	ready := make(chan struct{})
	for _, c := range cs {
		wg.Go(func() {
			<-ready
			err := c.ReadUntilError(30 * time.Second)
			at := time.Since(start)
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Errorf("client closed with %v, want status 1001 (going away)", err)
			}
			mu.Lock()
			closed = append(closed, at)
			mu.Unlock()
		})
	}
	start = time.Now()
	close(ready)
	stopProbe := probeLateness()
	tg.stop()
	wg.Wait()
	if err := tg.wait(); err != nil {
		t.Errorf("serve = %v, want nil after a clean drain", err)
	}
	late := stopProbe()

	d := drainedLine(t, log.String())
	slices.Sort(closed)
	median, last := closed[len(closed)/2], closed[len(closed)-1]
	t.Logf("window %v: last close sent after %v, drain took %v; clients saw closes at %v (median), %v (last); wake-ups up to %v late",
		window, d.LastClose, d.Took, median, last, late)
	if d.Sessions != clients {
		t.Errorf("drained %d sessions, want %d", d.Sessions, clients)
	}
	if limit := window - window/10 + 2*late; d.LastClose > limit {
		t.Errorf("last close sent %v after the drain began, want at most %v: nine tenths of the window plus twice the wake-up lateness measured", d.LastClose, limit)
	}
	if median < window/4 || d.LastClose < window/2 {
		t.Errorf("closes not spread over the window: clients' median %v, last sent %v of %v", median, d.LastClose, window)
	}
}

// drained is the drain's summary log line.
type drained struct {
	Sessions  int           `json:"sessions"`
	LastClose time.Duration `json:"last_close_after"`
	Took      time.Duration `json:"took"`
}

// drainedLine finds the "drained" line in a JSON log.
func drainedLine(t *testing.T, log string) drained {
	t.Helper()
	for line := range strings.Lines(log) {
		var d struct {
			Msg string `json:"msg"`
			drained
		}
		if json.Unmarshal([]byte(line), &d) == nil && d.Msg == "drained" {
			return d.drained
		}
	}
	t.Fatalf("no drained line in the log:\n%s", log)
	return drained{}
}

// probeLateness measures how late a goroutine of this process wakes from a
// short sleep, the scheduling noise a timing check must allow for on a
// shared machine. The function it returns stops it and reports the worst.
func probeLateness() (stop func() time.Duration) {
	done := make(chan struct{})
	worst := make(chan time.Duration)
	go func() {
		var max time.Duration
		for {
			select {
			case <-done:
				worst <- max
				return
			default:
			}
			before := time.Now()
			time.Sleep(5 * time.Millisecond)
			if late := time.Since(before) - 5*time.Millisecond; late > max {
				max = late
			}
		}
	}()
	return func() time.Duration { close(done); return <-worst }
}
