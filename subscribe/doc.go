// Package subscribe owns the client side of tickgate: the JSON protocol
// (decode, validate, reply) and the WebSocket session around each client.
// cmd/gateway mounts a Server as the /ws handler and calls Drain on
// shutdown. Each session has one reader goroutine for its life, and a
// writer goroutine only while its fanout.Client queue has something to
// write; the writer is the only goroutine that writes data frames to the
// socket, and the queue is all the two share.
package subscribe
