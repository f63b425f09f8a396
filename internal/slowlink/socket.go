//go:build linux

package slowlink

import (
	"fmt"
	"syscall"
	"unsafe"
)

// siocOutqNSD is SIOCOUTQNSD (linux/sockios.h): the bytes a TCP socket
// holds that it has not sent yet.
const siocOutqNSD = 0x894B

// Unsent is the bytes c's socket holds written but not yet sent: what sits
// in the kernel, on the sending side, beyond anything's reach to merge.
func Unsent(c syscall.Conn) (int, error) {
	return ioctlInt(c, siocOutqNSD)
}

// Outstanding is the bytes c's socket holds that the peer has not
// acknowledged, sent or not (SIOCOUTQ).
func Outstanding(c syscall.Conn) (int, error) {
	return ioctlInt(c, syscall.TIOCOUTQ)
}

func ioctlInt(c syscall.Conn, req uintptr) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int32
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, req, uintptr(unsafe.Pointer(&n)))
	}); err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, fmt.Errorf("slowlink: ioctl %#x: %w", req, errno)
	}
	return int(n), nil
}
