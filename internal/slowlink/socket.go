//go:build linux

package slowlink

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Unsent is the bytes c's socket holds written but not yet sent: what sits
// in the kernel, on the sending side, beyond anything's reach to merge
// (SIOCOUTQNSD).
func Unsent(c syscall.Conn) (int, error) {
	return ioctlInt(c, unix.SIOCOUTQNSD)
}

// Outstanding is the bytes c's socket holds that the peer has not
// acknowledged, sent or not (SIOCOUTQ).
func Outstanding(c syscall.Conn) (int, error) {
	return ioctlInt(c, unix.SIOCOUTQ)
}

func ioctlInt(c syscall.Conn, req uint) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var ioErr error
	if err := raw.Control(func(fd uintptr) { n, ioErr = unix.IoctlGetInt(int(fd), req) }); err != nil {
		return 0, err
	}
	if ioErr != nil {
		return 0, fmt.Errorf("slowlink: ioctl %#x: %w", req, ioErr)
	}
	return n, nil
}
