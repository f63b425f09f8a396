// Package wstest is a test WebSocket client for tickgate's protocol: it
// dials over loopback, splits each frame on '\n' and decodes one message
// at a time. Test code of cmd/gateway uses it (subscribe's tests are to
// follow). A Client is used by one goroutine at a time: the test's, with
// Next and Send, or a goroutine of its own, with Read.
package wstest
