package subscribe

import "golang.org/x/sys/unix"

// What the writer asks of a client's TCP socket below the Go runtime
// (outbound.go): how much it may hold unsent, whether it would take a write
// now, and how much it holds that the peer has not acknowledged.

// setNotsentLowat sets fd's TCP_NOTSENT_LOWAT: past n bytes written but
// not yet sent, a write takes no more and the socket does not poll
// writable until they fall under n/2. The send buffer may be far larger
// (it grows with the link); what is sent but unacknowledged is the
// congestion window's, not the application's.
func setNotsentLowat(fd uintptr, n int) error {
	return unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, n)
}

// writable reports whether fd's socket would take a write now, polling
// without waiting. A socket found full is marked by the poll itself
// (tcp_poll sets SOCK_NOSPACE), so the kernel wakes the runtime's poller
// once it drains: the wait that follows ends. An error reports true, so
// the write that follows meets it.
func writable(fd uintptr) bool {
	p := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	var zero unix.Timespec
	n, err := unix.Ppoll(p[:], &zero, nil)
	return err != nil || n != 0
}

// outstanding is the bytes fd's socket holds that the peer has not
// acknowledged, sent or not (SIOCOUTQ); 0 if it cannot tell.
func outstanding(fd uintptr) int64 {
	n, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return int64(n)
}
