package subscribe

import (
	"syscall"
	"unsafe"
)

// What the writer asks of a client's TCP socket below the Go runtime
// (outbound.go): how much it may hold unsent, whether it would take a write
// now, and how much it holds that the peer has not acknowledged.

// tcpNotsentLowat is TCP_NOTSENT_LOWAT (linux/tcp.h), which package
// syscall does not name.
const tcpNotsentLowat = 25

// setNotsentLowat sets fd's TCP_NOTSENT_LOWAT: past n bytes written but
// not yet sent, a write takes no more and the socket does not poll
// writable until they fall under n/2. The send buffer may be far larger
// (it grows with the link); what is sent but unacknowledged is the
// congestion window's, not the application's.
func setNotsentLowat(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpNotsentLowat, n)
}

// pollOut is POLLOUT (poll.h).
const pollOut = 0x4

// pollFd is struct pollfd (poll.h).
type pollFd struct {
	fd      int32
	events  int16
	revents int16
}

// writable reports whether fd's socket would take a write now, polling
// without waiting. A socket found full is marked by the poll itself
// (tcp_poll sets SOCK_NOSPACE), so the kernel wakes the runtime's poller
// once it drains: the wait that follows ends. An error reports true, so
// the write that follows meets it.
func writable(fd uintptr) bool {
	p := pollFd{fd: int32(fd), events: pollOut}
	var zero syscall.Timespec
	n, _, errno := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&p)), 1, uintptr(unsafe.Pointer(&zero)), 0, 0, 0)
	return errno != 0 || n != 0
}

// outstanding is the bytes fd's socket holds that the peer has not
// acknowledged, sent or not (SIOCOUTQ); 0 if it cannot tell.
func outstanding(fd uintptr) int64 {
	var n int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
		return 0
	}
	return int64(n)
}
