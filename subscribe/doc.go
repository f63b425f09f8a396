// Package subscribe owns the client side of tickgate: the JSON protocol
// (decode, validate, reply) and the WebSocket session around each client.
// cmd/gateway mounts a Server as the /ws handler and calls Drain on
// shutdown. Each session runs a reader (the handler goroutine) and a writer
// goroutine; they share only the session's fanout.Client queue, and the
// writer is the only goroutine that writes data frames to the socket.
package subscribe
