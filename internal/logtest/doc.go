// Package logtest holds what tests need to read a log that something else
// is writing: Buffer, a bytes.Buffer safe for a logger (or a child
// process's output copier) and a test polling it at once. Test code of
// feed/nats, subscribe and cmd/gateway uses it.
package logtest
