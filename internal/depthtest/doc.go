// Package depthtest is the test kit of the book and status streams as a
// client sees them: Gen makes random valid book sequences (a snapshot, then updates that keep
// the book uncrossed and within its depth, removals explicit), Book is a
// client's copy that applies every message of the book stream and checks
// its seq and checksum as docs/protocol.md tells a client to, and Source
// is a feed.Source whose Run hands a test's ticks, books and status to a
// feed.DepthSink, as a real feed does. The tests of fanout and subscribe
// use it; a Gen or Book belongs to one goroutine.
package depthtest
