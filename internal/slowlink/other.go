//go:build !linux

package slowlink

import (
	"context"
	"errors"
	"net"
	"syscall"
)

// There are no shaped links but on Linux: Open fails, and New skips.
var errNotLinux = errors.New("slowlink: network namespaces need Linux")

func Open(Config) (*Link, error) { return nil, errNotLinux }
func (l *Link) Close() error     { return errNotLinux }
func (l *Link) DialContext(context.Context, string, string) (net.Conn, error) {
	return nil, errNotLinux
}
func CleanStale()                           {}
func Unsent(syscall.Conn) (int, error)      { return 0, errNotLinux }
func Outstanding(syscall.Conn) (int, error) { return 0, errNotLinux }
