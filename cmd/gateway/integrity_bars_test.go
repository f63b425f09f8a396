package main

import (
	"errors"
	"testing"
	"time"

	"github.com/tickgate/tickgate/internal/checktest"
	"github.com/tickgate/tickgate/internal/natstest"
	"github.com/tickgate/tickgate/internal/poll"
)

// barSession is a session on tg subscribed to the integrity symbols'
// bars.1s.
func barSession(t *testing.T, name string, tg *testGateway) *checktest.Session {
	t.Helper()
	waitTicking(t, tg)
	s := checktest.NewSession(t, name)
	s.Connect(tg.ws)
	s.Subscribe("bars.1s", integritySyms, false)
	return s
}

// TestIntegrityBarsFleet runs an early gateway E, on NATS before the
// first tick, and a late one L, started part-way through a bucket: every
// final bar either sends must be its bucket's bar over every tick
// published, under its bucket's seq, and a client moving bars.1s from L
// to E or from E to L with since gets the bars after its own exactly, or
// a snapshot, never older bars as recovered.
func TestIntegrityBarsFleet(t *testing.T) {
	ns := natstest.Run(t, natstest.Options(-1))
	tr := watchTruth(t, ns.ClientURL())
	cfg := integrityConfig(ns.ClientURL())
	cfg["feed.sim.rate"] = "300" // every symbol trades in every second
	e := startGateway(t, cfg)
	poll.Until(t, 5*time.Second, func() error {
		if ns.NumSubscriptions() < 2 { // the truth's and E's
			return errors.New("gateway E not subscribed to NATS yet")
		}
		return nil
	})
	runPublisher(t, cfg)
	e.waitReady(t)
	toL := barSession(t, "E to L", e)
	waitCount(t, "bars.1s", 2, 5*time.Second, toL)

	l := startGateway(t, cfg)
	l.waitReady(t)
	toE := barSession(t, "L to E", l)
	waitCount(t, "bars.1s", 2, 5*time.Second, toE)
	move(toE, e, "bars.1s")
	move(toL, l, "bars.1s")
	waitCount(t, "bars.1s", 2, 5*time.Second, toE, toL)
	checkSessions(t, tr, toL, toE)
}
