// Package wstest is the WebSocket test client for tickgate's protocol: it
// dials over loopback, splits each frame on '\n' and decodes one message
// at a time. The tests of cmd/gateway and subscribe use it. A Client's
// messages are taken by one goroutine at a time (Next and Send from the
// test's, Read from another); after ReadAhead its own goroutine reads
// the socket and the taker reads a bounded queue.
package wstest
