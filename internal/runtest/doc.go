// Package runtest runs a component's Run-like function on its own
// goroutine for the length of a test, then cancels it and checks it
// returned nil promptly. Tests of cmd/gateway and feed/* call it; a Task
// is used by the test's goroutine and its cleanups only.
package runtest
