// Package natstest runs embedded nats-servers on loopback for tests: one
// server, or a cluster whose nodes all route to each other. Test code of
// feed/nats and cmd/gateway uses it. Each server is shut down when the
// test ends; Stop may be called earlier and again.
package natstest
