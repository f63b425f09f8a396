// Package poll holds the tests' wait-for-a-condition helpers, the way
// nats-server's checkFor does it: retry, never a bare sleep. Until waits
// for a condition to hold, Holds checks that one keeps holding. Test code
// of fanout, feed/nats, subscribe, cmd/gateway and the test kits in
// internal/ uses it; it starts no goroutine.
package poll
