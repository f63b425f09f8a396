// Package checktest is the stream-integrity checker of the tests: a Truth
// records every tick published (from NATS, or from a recorder), a Session
// is one client across the connections it makes, recording every message
// it gets, and Check classifies that record against the truth: false
// "recovered" answers, seq regressions, gaps with no notice, ticks of a
// replaced run, bars unlike their bucket. cmd/gateway's integrity tests
// use it. Truth and Session are safe for concurrent use; a Session reads
// its connection on one goroutine of its own, ended by Close or the test.
package checktest
