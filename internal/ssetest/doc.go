// Package ssetest is the Server-Sent Events test client for tickgate's
// /sse: it opens a stream with net/http over loopback, parses
// text/event-stream as the HTML standard's EventSource does (fields,
// comments, the last event ID), and decodes each data line of an event as
// one protocol message through wstest.Decode. The tests of subscribe and
// cmd/gateway use it. A Client is read by one goroutine at a time; it
// starts none of its own.
package ssetest
