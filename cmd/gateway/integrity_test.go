package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickgate/tickgate/feed"
	"github.com/tickgate/tickgate/internal/checktest"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
	"github.com/tickgate/tickgate/internal/wstest"
)

// The integrity tests (issue 18) run each scenario of a publisher or a
// gateway going away with a checker (internal/checktest) that records
// every tick published and judges every message each client got: no
// false "recovered", no seq regression or jump without its notice, and no
// symbol silent for more than a second after a publisher restart.

// integritySyms are the symbols the scenarios publish: few, at a low
// rate, so that every tick of each is judged.
var integritySyms = []string{"AAPL", "MSFT", "NVDA"}

// maxSilence is how long a symbol may be silent after a publisher restart.
const maxSilence = time.Second

// integrityConfig is a gateway or publisher on the NATS servers at urls
// with the integrity symbols at 150 ticks/s, heartbeats every 100ms and a
// stall after 1s.
func integrityConfig(urls ...string) map[string]string {
	cfg := natsGateway(urls...)
	cfg["feed.sim.symbols"] = yamlList(integritySyms...)
	cfg["feed.nats.symbols"] = yamlList(integritySyms...)
	cfg["feed.sim.rate"] = "150"
	cfg["publish.heartbeat"] = "100ms"
	cfg["feed.nats.stall_after"] = "1s"
	return cfg
}

// watchTruth records every tick published on ns from now on.
func watchTruth(t *testing.T, url string) *checktest.Truth {
	t.Helper()
	tr := checktest.NewTruth()
	tr.Subscribe(t, url, "ticks")
	return tr
}

// integrityFleet starts, on the NATS server at url, the truth, a publisher
// with cfg (its stop returned) and n gateways with cfg, each ready.
func integrityFleet(t *testing.T, url string, cfg map[string]string, n int) (*checktest.Truth, func(), []*testGateway) {
	t.Helper()
	tr := watchTruth(t, url)
	stop := runPublisher(t, cfg)
	gws := make([]*testGateway, n)
	for i := range gws {
		gws[i] = startGateway(t, cfg)
	}
	for _, g := range gws {
		g.waitReady(t)
	}
	return tr, stop, gws
}

// tickSession is a session on tg subscribed to the integrity symbols'
// ticks, once tg has had a tick of each (waitTicking).
func tickSession(t *testing.T, name string, tg *testGateway) *checktest.Session {
	t.Helper()
	waitTicking(t, tg)
	s := checktest.NewSession(t, name)
	s.Connect(tg.ws + "?symbols=" + strings.Join(integritySyms, ","))
	return s
}

// waitTicking waits until tg has had a tick of every integrity symbol,
// by a client of its own that reads until it has one of each. A session
// subscribes after it: subscribed names the epoch only of a symbol that
// has ticked, and a symbol's first epoch comes with no notice, so a
// client that subscribed before it would know no epoch to send with since.
func waitTicking(t *testing.T, tg *testGateway) {
	t.Helper()
	c := wstest.Dial(t, tg.ws+"?symbols="+strings.Join(integritySyms, ","))
	defer c.Conn.CloseNow()
	seen := map[string]bool{}
	for len(seen) < len(integritySyms) {
		if m := c.Next(); m.Type == "tick" {
			seen[m.Sym] = true
		}
	}
}

// move takes s to tg and subscribes again to stream, with since.
func move(s *checktest.Session, tg *testGateway, stream string) {
	s.Connect(tg.ws)
	s.Subscribe(stream, integritySyms, true)
}

// waitCount waits until every session has n more ticks (or final bars of
// stream) of every integrity symbol than it has now, for at most
// timeout; a scenario whose clients starve is reported by the checks
// that follow, so this does not fail the test.
func waitCount(t *testing.T, stream string, n int, timeout time.Duration, sessions ...*checktest.Session) {
	t.Helper()
	from := map[*checktest.Session]map[string]int{}
	for _, s := range sessions {
		from[s] = map[string]int{}
		for _, sym := range integritySyms {
			from[s][sym] = s.Count(stream, sym)
		}
	}
	if err := within(timeout, func() error {
		for _, s := range sessions {
			for _, sym := range integritySyms {
				if got := s.Count(stream, sym) - from[s][sym]; got < n {
					return fmt.Errorf("%s: %d more of %s, want %d", stream, got, sym, n)
				}
			}
		}
		return nil
	}); err != nil {
		t.Logf("waited %v: %v", timeout, err)
	}
}

// within polls f until it returns nil or timeout passes, and returns its
// last error; the scenario goes on either way, to report all it found.
func within(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(poll.Interval)
	}
}

// checkSessions fails the test for every fault the checker finds in each
// session's record, and logs each report: the counts the scenario asserts.
func checkSessions(t *testing.T, tr *checktest.Truth, sessions ...*checktest.Session) map[*checktest.Session]checktest.Report {
	t.Helper()
	return checkSessionsUnknown(t, tr, false, sessions...)
}

// checkSessionsUnknown is checkSessions that, with unknownOK, takes ticks
// the truth never saw for no fault: a server shutting down may deliver
// its last tick to a gateway and not to the truth.
func checkSessionsUnknown(t *testing.T, tr *checktest.Truth, unknownOK bool, sessions ...*checktest.Session) map[*checktest.Session]checktest.Report {
	t.Helper()
	tr.Sync(t)
	reports := map[*checktest.Session]checktest.Report{}
	for _, s := range sessions {
		r := s.Check(tr)
		reports[s] = r
		faults := r.Faults()
		if unknownOK {
			faults -= r.Unknown
		}
		if faults > 0 {
			t.Errorf("%s", r)
			if lost := tr.Lost(); len(lost) > 0 {
				t.Errorf("the truth's NATS connection meanwhile: %s", strings.Join(lost, "; "))
			}
		} else {
			t.Logf("%s", r)
		}
	}
	return reports
}

// checkSilence fails the test if a session had a symbol silent for more
// than maxSilence after a publisher restart at restart.
func checkSilence(t *testing.T, tr *checktest.Truth, restart time.Time, sessions ...*checktest.Session) {
	t.Helper()
	tr.Sync(t)
	for _, s := range sessions {
		if worst, desc := s.Lag(tr, restart, integritySyms); worst > maxSilence {
			t.Errorf("silent after the publisher restart: %s", desc)
		} else {
			t.Logf("longest silence after the restart: %s", desc)
		}
	}
}

// restartPublisher stops a publisher with stop and starts another with
// cfg, returning the new one's stop and the time between the two: every
// tick the truth sees after it is of the new publisher.
func restartPublisher(t *testing.T, stop func(), cfg map[string]string) (func(), time.Time) {
	t.Helper()
	stop()
	at := time.Now()
	return runPublisher(t, cfg), at
}

// TestIntegrityPublisherRestart restarts "gateway publish" on core NATS
// under two gateways: a client staying on A must get the new run within a
// second, announced; a client that left A before the restart and one that
// moves after it come back on B with since, and neither may be told
// "recovered" untruly.
func TestIntegrityPublisherRestart(t *testing.T) {
	ns := natstest.Run(t, natstest.Options(-1))
	cfg := integrityConfig(ns.ClientURL())
	tr, stop, gws := integrityFleet(t, ns.ClientURL(), cfg, 2)
	a, b := gws[0], gws[1]
	stay, left, moved := tickSession(t, "staying on A", a), tickSession(t, "left A before", a), tickSession(t, "moved A to B after", a)
	waitCount(t, "ticks", 60, 5*time.Second, stay, left, moved)
	left.Close()

	_, restart := restartPublisher(t, stop, cfg)
	waitCount(t, "ticks", 10, 3*time.Second, stay, moved)
	move(moved, b, "ticks")
	move(left, b, "ticks")
	waitCount(t, "ticks", 10, 3*time.Second, stay, moved, left)
	checkSilence(t, tr, restart, stay)
	checkSessions(t, tr, stay, left, moved)
}

// TestIntegrityLateGateway starts gateway L after a publisher restart
// that gateway A lived through; a client moves from A to L and one from
// L to A, with since: exact or snapshot, never the other run's ticks as
// recovered.
func TestIntegrityLateGateway(t *testing.T) {
	ns := natstest.Run(t, natstest.Options(-1))
	cfg := integrityConfig(ns.ClientURL())
	tr, stop, gws := integrityFleet(t, ns.ClientURL(), cfg, 1)
	a := gws[0]
	toL := tickSession(t, "A to L", a)
	waitCount(t, "ticks", 60, 5*time.Second, toL)

	_, restart := restartPublisher(t, stop, cfg)
	l := startGateway(t, cfg)
	l.waitReady(t)
	// L to A moves at once: while A, without epochs, would still be
	// dropping the new run's seqs as stale.
	toA := tickSession(t, "L to A", l)
	waitCount(t, "ticks", 5, 3*time.Second, toA)
	move(toA, a, "ticks")
	waitCount(t, "ticks", 20, 3*time.Second, toL, toA)
	checkSilence(t, tr, restart, toL)
	move(toL, l, "ticks")
	waitCount(t, "ticks", 10, 3*time.Second, toL, toA)
	checkSessions(t, tr, toL, toA)
}

// recorder is a client of a sim gateway whose ticks are the truth of that
// gateway's run: a sim gateway publishes on no NATS.
type recorder struct {
	mu  sync.Mutex
	max map[string]uint64 // newest seq per symbol
}

// recordRun subscribes to the integrity symbols on tg and adds every tick
// it gets to tr as of the run named run, until the test ends.
func recordRun(t *testing.T, tr *checktest.Truth, tg *testGateway, run string) *recorder {
	t.Helper()
	rec := &recorder{max: map[string]uint64{}}
	c := wstest.Dial(t, tg.ws+"?symbols="+strings.Join(integritySyms, ","))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := c.ReadWithin(time.Minute)
			if err != nil {
				return
			}
			tk, err := feed.DecodeJSON(m.Raw)
			if m.Type != "tick" || err != nil {
				continue
			}
			tk.Epoch = run
			tr.Add(tk)
			rec.mu.Lock()
			rec.max[tk.Symbol] = max(rec.max[tk.Symbol], tk.Seq)
			rec.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Conn.CloseNow(); <-done })
	return rec
}

// seq returns the newest seq of sym the recorder got.
func (r *recorder) seq(sym string) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.max[sym]
}

// TestIntegritySimRestart restarts a sim gateway with the same seed: its
// seqs and prices repeat. A client that comes back with since once the
// new run's seqs pass its own must get snapshots, never "recovered".
func TestIntegritySimRestart(t *testing.T) {
	cfg := map[string]string{"feed.sim.symbols": yamlList(integritySyms...), "feed.sim.rate": "150"}
	tr := checktest.NewTruth()
	g1 := startGateway(t, cfg)
	recordRun(t, tr, g1, "run1")
	s := tickSession(t, "back on the restarted gateway", g1)
	waitCount(t, "ticks", 20, 5*time.Second, s)
	s.Close() // before the drain, which may close the recorder first
	if err := g1.shutdown(); err != nil {
		t.Fatal(err)
	}

	g2 := startGateway(t, cfg)
	rec := recordRun(t, tr, g2, "run2")
	poll.Until(t, 10*time.Second, func() error {
		for _, sym := range integritySyms {
			if rec.seq(sym) <= s.Seq("ticks", sym)+5 {
				return fmt.Errorf("%s: the new run at seq %d, the client's at %d", sym, rec.seq(sym), s.Seq("ticks", sym))
			}
		}
		return nil
	})
	move(s, g2, "ticks")
	waitCount(t, "ticks", 5, 3*time.Second, s)
	s.Close()
	poll.Until(t, 5*time.Second, func() error { // the truth has what s got
		for _, sym := range integritySyms {
			if rec.seq(sym) < s.Seq("ticks", sym) {
				return fmt.Errorf("%s: the recorder at seq %d, the client at %d", sym, rec.seq(sym), s.Seq("ticks", sym))
			}
		}
		return nil
	})
	r := checkSessions(t, tr, s)[s]
	if r.Recovered != 0 || r.Snapshots != len(integritySyms) {
		t.Errorf("%d recovered and %d snapshot answers after the restart, want 0 and %d", r.Recovered, r.Snapshots, len(integritySyms))
	}
}

// TestIntegrityNATSOutage stops NATS for a second while the publisher
// runs, dropping what it cannot send: a client staying on A must be told
// the hole in-band as a gap notice; one that left A before the outage and
// comes back on B after it must get snapshots, since B's history has the
// hole. It moves once a client on B has ticks from after the outage: a
// gateway whose feed is still down when asked can only recover to what it
// has, and tells the hole when its feed brings it (checktest's
// judgeSince).
func TestIntegrityNATSOutage(t *testing.T) {
	port := natstest.FreePort(t)
	ns := natstest.Run(t, natstest.Options(port))
	cfg := integrityConfig(ns.ClientURL())
	tr, stop, gws := integrityFleet(t, ns.ClientURL(), cfg, 2)
	a, b := gws[0], gws[1]
	stay, left := tickSession(t, "staying on A", a), tickSession(t, "left A before the outage", a)
	onB := tickSession(t, "on B", b)
	waitCount(t, "ticks", 20, 5*time.Second, stay, left)
	left.Close()

	natstest.Stop(ns)
	time.Sleep(time.Second) // the outage: the publisher drops ~150 ticks
	natstest.Run(t, natstest.Options(port))
	waitCount(t, "ticks", 20, 5*time.Second, stay, onB)
	move(left, b, "ticks")
	waitCount(t, "ticks", 10, 3*time.Second, stay, left)
	stop() // before the second server's cleanup, which would make it wait on a flush
	reports := checkSessionsUnknown(t, tr, true, stay, left, onB)
	if n := reports[stay].GapNotices; n == 0 {
		t.Errorf("the staying client got no gap notice for the ticks dropped in the outage")
	}
	if n := reports[left].Recovered; n != 0 {
		t.Errorf("%d recovered answers across the outage's hole, want 0", n)
	}
}

// TestIntegrityNATSBackPublisherDown brings NATS back while the publisher
// is still dead: no feed_up, and /readyz stays 503, until ticks flow
// again; then the new publisher's run reaches the client within a second.
func TestIntegrityNATSBackPublisherDown(t *testing.T) {
	port := natstest.FreePort(t)
	ns := natstest.Run(t, natstest.Options(port))
	cfg := integrityConfig(ns.ClientURL())
	tr, stop, gws := integrityFleet(t, ns.ClientURL(), cfg, 1)
	a := gws[0]
	s := tickSession(t, "on A", a)
	waitCount(t, "ticks", 20, 5*time.Second, s)

	stop()
	poll.Until(t, 5*time.Second, func() error {
		if s.Notices("feed_down") == 0 {
			return errors.New("no feed_down after the publisher stopped")
		}
		return nil
	})
	ups := s.Notices("feed_up")
	natstest.Stop(ns)
	natstest.Run(t, natstest.Options(port))
	poll.Until(t, 5*time.Second, func() error {
		if n, _ := metricValue(t, a.gw.reg, "tickgate_feed_nats_reconnects_total"); n < 1 {
			return errors.New("gateway not reconnected to NATS")
		}
		return nil
	})
	if err := holds(1500*time.Millisecond, func() error {
		if n := s.Notices("feed_up"); n != ups {
			return fmt.Errorf("%d feed_up notices with NATS back and no publisher, want 0", n-ups)
		}
		if code, _ := get(a.url + "/readyz"); code != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz = %d with NATS back and no publisher, want 503", code)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}

	_, restart := restartPublisher(t, func() {}, cfg)
	if err := within(3*time.Second, func() error {
		if s.Notices("feed_up") == ups {
			return errors.New("no feed_up once the publisher is back")
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	waitCount(t, "ticks", 10, 3*time.Second, s)
	checkSilence(t, tr, restart, s)
	checkSessions(t, tr, s)
}

// holds calls f every poll.Interval for d and returns its first error.
func holds(d time.Duration, f func() error) error {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(poll.Interval) {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// TestIntegrityTwoPublishers starts a second publisher by mistake beside
// the first: the gateway must detect the two epochs interleaving and
// count the conflict, and its client see one consistent run, announced.
func TestIntegrityTwoPublishers(t *testing.T) {
	ns := natstest.Run(t, natstest.Options(-1))
	cfg := integrityConfig(ns.ClientURL())
	tr, _, gws := integrityFleet(t, ns.ClientURL(), cfg, 1)
	a := gws[0]
	s := tickSession(t, "on A", a)
	waitCount(t, "ticks", 20, 5*time.Second, s)

	runPublisher(t, cfg)
	waitCount(t, "ticks", 40, 5*time.Second, s)
	if err := within(3*time.Second, func() error {
		if n, _ := metricValue(t, a.gw.reg, "tickgate_feed_dropped_ticks_total", "reason", "epoch_conflict"); n == 0 {
			return errors.New(`tickgate_feed_dropped_ticks_total{reason="epoch_conflict"} is 0 with two publishers`)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	r := checkSessions(t, tr, s)[s]
	if r.Resets > len(integritySyms) {
		t.Errorf("%d reset notices for %d symbols: the client was switched between the runs", r.Resets, len(integritySyms))
	}
	rules, err := os.ReadFile("../../deploy/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rules), "alert: TickgateEpochConflict") {
		t.Error("deploy/prometheus/rules.yml has no TickgateEpochConflict alert")
	}
}
