//go:build !linux

package subscribe

// Elsewhere than Linux the writer does not bound what a socket holds
// unsent (socket_linux.go): a socket always counts as writable, and
// nothing as outstanding, so the staleness rule sees only the queue.

func setNotsentLowat(fd uintptr, n int) error { return nil }

func writable(fd uintptr) bool { return true }

func outstanding(fd uintptr) int64 { return 0 }
