package main

import (
	"fmt"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/checktest"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
)

// TestIntegrityJetStreamPublisherRestart restarts "gateway publish" on
// JetStream under gateways A and B, then warm-starts gateway W from the
// stream: a client staying on A gets the ticks after the restart within
// a second (carried on, or announced by a reset), W's snapshots are of the
// current run, a client moving A to W after the restart and one that
// left A before it and comes back on B are never told "recovered" untruly.
func TestIntegrityJetStreamPublisherRestart(t *testing.T) {
	ns := natstest.Run(t, natstest.JetStreamOptions(-1, t.TempDir()))
	tr := watchTruth(t, ns.ClientURL())
	cfg := integrityConfig(ns.ClientURL())
	cfg["feed.nats.stream"] = "TICKS"
	cfg["publish.stream_history"] = "100" // a short replay under -race
	stop := runPublisher(t, cfg)
	streamOf(t, ns.ClientURL(), "TICKS")
	a, b := startGateway(t, cfg), startGateway(t, cfg)
	a.waitReady(t)
	b.waitReady(t)
	stay, left, moved := tickSession(t, "staying on A", a), tickSession(t, "left A before", a), tickSession(t, "moved A to W after", a)
	waitCount(t, "ticks", 60, 5*time.Second, stay, left, moved)
	left.Close()

	_, restart := restartPublisher(t, stop, cfg)
	// W starts once the new publisher has run for Slack, so that a
	// snapshot of the run before is a fault, and soon after: while a
	// gateway without epochs would still drop the new run's seqs.
	poll.Until(t, 5*time.Second, func() error {
		for _, sym := range integritySyms {
			if tr.TicksAfter(sym, restart.Add(checktest.Slack)) == 0 {
				return fmt.Errorf("no tick of %s published %v after the restart", sym, checktest.Slack)
			}
		}
		return nil
	})
	w := startGateway(t, cfg)
	w.waitReady(t)
	warm := tickSession(t, "on W, warm-started after", w)
	waitCount(t, "ticks", 10, 3*time.Second, stay, moved, warm)
	move(moved, w, "ticks")
	move(left, b, "ticks")
	waitCount(t, "ticks", 10, 3*time.Second, stay, moved, left, warm)
	checkSilence(t, tr, restart, stay)
	checkSessions(t, tr, stay, left, moved, warm)
}
