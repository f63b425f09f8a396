// Package subscribe owns the client side of tickgate: the JSON protocol
// (decode, validate, reply) and the session around each client, over a
// WebSocket or a Server-Sent Events stream (its transport, transport.go).
// cmd/gateway mounts a Server as the /ws handler and ServeSSE at /sse, and
// calls Drain on shutdown. Each session has one reader goroutine for its
// life; its writer runs only while its fanout.Client queue has something
// to write, on one of the server's write lanes (a worker per lane writes
// the ready sessions in turn) or, while its socket blocks, on a goroutine
// of its own that waits for the socket before each frame and decides when
// a lagging client's queue conflates (lag.go). The writer is the only
// goroutine that writes data frames or events to the socket, and the
// queue is all reader and writer share.
package subscribe
